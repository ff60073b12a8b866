"""Label: mark generated media with a signed C2PA manifest, an invisible watermark and a
fingerprint in the manifest repository, and keep the keys that sign them."""
