"""Verify: turn what a file carries (manifest, watermark, fingerprint) into a verdict with
reasons; a missing label is "unknown", never "authentic"."""
