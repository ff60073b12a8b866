"""Calibration: when does a fingerprint attribute a copy to a labelled output?

Usage::

    .venv/bin/python bench/blend_calibration.py [--count 40] [--json]

A label signs the PDQ fingerprint of the whole output and of 74 region crops
(``signals.repost.region_hashes``). Verification compares them with the file's fingerprint (and its
dihedral and repost variants) in ``services.verification.image_attribution``. This script
measures, on real photos (``shared/data/photos``, natural photos taken round-robin over the
collections by ``bench/watermark.py``'s ``make_inputs``, centre-cropped to 512x512; generated
photo-like stand-ins when the shared data is missing), how often

* **genuine copies** are attributed: every attack of ``bench/watermark_attacks.py`` (17 singles,
  24 geometric+compression pairs: re-encodes, resizes, crops, rotation, screenshot, ...) applied
  to the output and saved as PNG (the metadata is gone);
* **impostors** are wrongly attributed:
  - alpha blends of the output with an unrelated photo, alpha (the output's weight) 0.3-0.7;
  - collages: the output's left or top half beside an unrelated photo's other half;
  - same-source edits: the labelled output is a photo with its centre (40 % or 50 % of each
    side) replaced by one picture, the copy is the same photo with that centre replaced by
    another (two edits of one source, as two face swaps of one photo);
  - a centre replacement: the output with its centre 50 % replaced by an unrelated photo.

The copies are made from the output's pixels without a watermark: what is measured is the
fingerprint evidence alone. Two rules are reported, BEFORE (the rule up to issue 12) and AFTER
(``image_attribution`` as it is now):

* **fingerprint path** (no watermark): the repository finds a manifest only when one of the
  file's query hashes (``manifest_registry.fingerprint_queries``: its own PDQ hash, its dihedral,
  repost and region queries; issue 15) is within 31 bits of one of its registered fingerprints
  (the lookup); then BEFORE any signed fingerprint within 76 bits recovered it; AFTER it must be
  attributed.
* **watermark path consistency** (a watermark was read): BEFORE, any signed fingerprint within
  76 bits made the label "this file's"; AFTER it must be attributed (``inconclusive`` reads
  ``unknown``, beyond 76 bits ``invalid``).

Prints a table of rates and the distance percentiles per kind of copy (Markdown, or JSON with
``--json``). Deterministic: the attacks' random elements are seeded per (image, attack).
"""

from __future__ import annotations

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()  # before numpy or Pillow load

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from bench_environment import cpu_model, use_checkout_sources  # noqa: E402

use_checkout_sources()

import watermark_attacks as wa  # noqa: E402
from deepshield.media import MediaLimits  # noqa: E402
from deepshield.services.label.manifest_registry import fingerprint_queries, nearest_distance  # noqa: E402
from deepshield.services.spread.hashing import hash_media  # noqa: E402
from deepshield.services.verify.verification import (  # noqa: E402
    CONSISTENCY_MAX_DISTANCE,
    CROP_MATCH_MAX_DISTANCE,
    CROP_MIN_GAP,
    NEAR_REGION_MAX_DISTANCE,
    WHOLE_MATCH_MAX_DISTANCE,
    attribution_candidates,
    image_attribution,
)
from deepshield.signals.pdq import pdq_from_pixels  # noqa: E402
from deepshield.signals.repost import region_hashes  # noqa: E402
from watermark import make_inputs  # noqa: E402

LIMITS = MediaLimits()
LOOKUP_MAX_DISTANCE = 31  # the repository's PDQ threshold (DEEPSHIELD_PDQ_THRESHOLD)
MIN_QUALITY = 50  # DEEPSHIELD_PDQ_MIN_QUALITY: weaker query hashes are not looked up
BLEND_ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7)
PARTNERS = 2  # unrelated photos per output for blends and collages


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "PNG")
    return buffer.getvalue()


def _blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    mixed = alpha * a.astype(np.float32) + (1 - alpha) * b.astype(np.float32)
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _centre(base: np.ndarray, other: np.ndarray, keep: float) -> np.ndarray:
    out = base.copy()
    h, w = base.shape[:2]
    ch, cw = round(h * keep), round(w * keep)
    top, left = (h - ch) // 2, (w - cw) // 2
    out[top:top + ch, left:left + cw] = other[top:top + ch, left:left + cw]
    return out


def _halves(a: np.ndarray, b: np.ndarray, vertical: bool) -> np.ndarray:
    out = b.copy()
    h, w = a.shape[:2]
    if vertical:
        out[:, : w // 2] = a[:, : w // 2]
    else:
        out[: h // 2] = a[: h // 2]
    return out


def signed_fingerprints(pixels: np.ndarray) -> list[str]:
    """What a label signs: the whole output's PDQ, then its 74 regions' (as ``label_media``)."""
    return [pdq_from_pixels(pixels).hex] + [value.hex for _, value in region_hashes(pixels)]


def judge(signed: list[str], copy: np.ndarray) -> dict[str, Any]:
    media = hash_media(_png(copy), LIMITS, derived_queries=True, region_queries=True)
    assert media.pdq is not None
    after = image_attribution(signed, *attribution_candidates(media))  # as verification compares
    lookup = nearest_distance(fingerprint_queries(media, MIN_QUALITY), signed)  # as the repository finds
    return {"whole": after["whole_distance"], "region": after["region_distance"],
            "distance": after["distance"],
            "found": lookup <= LOOKUP_MAX_DISTANCE,
            "before_consistent": after["distance"] <= CONSISTENCY_MAX_DISTANCE,
            "after_consistent": after["consistent"] is True,
            "after_attribution": after["attribution"]}


def _seed(*parts: object) -> int:
    return zlib.crc32(":".join(str(p) for p in parts).encode())


def copies(images: list[np.ndarray], index: int) -> list[tuple[str, str, list[str], np.ndarray]]:
    """(group, kind, the signed fingerprints, the copy) for one output."""
    output = images[index]
    signed = signed_fingerprints(output)
    found: list[tuple[str, str, list[str], np.ndarray]] = []
    for name, (_, attack) in wa.ATTACKS.items():
        rng = np.random.default_rng(_seed(index, name))
        found.append(("genuine", name, signed, attack(output, rng)))
    count = len(images)
    partners = []
    for k in range(PARTNERS):
        j = (index + 1 + k * 7) % count
        partners.append(images[(j + 1) % count if j == index else j])  # never the output itself
    for k, other in enumerate(partners):
        for alpha in BLEND_ALPHAS:
            found.append(("blend", f"blend{alpha:.1f}", signed, _blend(output, other, alpha)))
        found.append(("collage", "collage-left-half" if k == 0 else "collage-top-half", signed,
                      _halves(output, other, vertical=k == 0)))
        found.append(("edit", "centre50-replaced", signed, _centre(output, other, 0.5)))
    # Two edits of one source: the label is on source+X, the copy is source+Y.
    first, second = partners
    for keep in (0.4, 0.5):
        labelled = _centre(output, first, keep)
        found.append(("same-source", f"same-source-centre{round(keep * 100)}", signed_fingerprints(labelled),
                      _centre(output, second, keep)))
    return found


def _pct(values: list[int], q: float) -> int | None:
    return int(np.percentile(values, q)) if values else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def rates(subset: list[dict[str, Any]]) -> dict[str, Any]:
        n = len(subset)
        return {
            "n": n,
            "fingerprint_before": sum(r["found"] and r["before_consistent"] for r in subset) / n,
            "fingerprint_after": sum(r["found"] and r["after_consistent"] for r in subset) / n,
            "watermark_before": sum(r["before_consistent"] for r in subset) / n,
            "watermark_after": sum(r["after_consistent"] for r in subset) / n,
            "whole_p50": _pct([r["whole"] for r in subset], 50),
            "whole_min_max": (min(r["whole"] for r in subset), max(r["whole"] for r in subset)),
            "region_p50": _pct([r["region"] for r in subset], 50),
            "region_min_max": (min(r["region"] for r in subset), max(r["region"] for r in subset)),
            "gap_min_max": (min(r["whole"] - r["region"] for r in subset),
                            max(r["whole"] - r["region"] for r in subset)),
        }

    groups: dict[str, list[dict[str, Any]]] = {}
    kinds: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
        kinds.setdefault(row["kind"], []).append(row)
    return {"groups": {name: rates(subset) for name, subset in groups.items()},
            "kinds": {name: rates(subset) for name, subset in kinds.items()}}


def _table(title: str, stats: dict[str, dict[str, Any]]) -> list[str]:
    lines = [f"### {title}", "",
             "| copies | n | fingerprint path: recovered before → after "
             "| watermark path: consistent before → after | whole-image distance p50 (min–max) "
             "| best region p50 (min–max) | whole − region (min–max) |",
             "|---|---:|---|---|---|---|---|"]
    for name, s in stats.items():
        lines.append(
            f"| {name} | {s['n']} | {s['fingerprint_before']:.1%} → {s['fingerprint_after']:.1%} "
            f"| {s['watermark_before']:.1%} → {s['watermark_after']:.1%} "
            f"| {s['whole_p50']} ({s['whole_min_max'][0]}–{s['whole_min_max'][1]}) "
            f"| {s['region_p50']} ({s['region_min_max'][0]}–{s['region_min_max'][1]}) "
            f"| {s['gap_min_max'][0]}–{s['gap_min_max'][1]} |")
    return [*lines, ""]


def main() -> int:
    parser = argparse.ArgumentParser(description="Calibrate fingerprint attribution on real photos.")
    parser.add_argument("--count", type=int, default=40, help="labelled outputs (photos)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rows", type=Path, help="also write every copy's distances here (JSON)")
    args = parser.parse_args()
    if args.count < 2:
        parser.error("--count must be at least 2 (blends need an unrelated photo)")
    started = time.perf_counter()
    inputs = make_inputs(args.count, ["512"])
    images = inputs.images["512"]
    rows: list[dict[str, Any]] = []
    progress: Callable[[str], None] = lambda message: print(message, file=sys.stderr, flush=True)  # noqa: E731
    for index in range(len(images)):
        for group, kind, signed, copy in copies(images, index):
            rows.append({"image": inputs.names[index], "group": group, "kind": kind, **judge(signed, copy)})
        progress(f"{index + 1}/{len(images)} outputs")
    summary = summarise(rows)
    if args.rows is not None:
        args.rows.write_text(json.dumps(rows))
    report = {
        "inputs": inputs.note, "source": inputs.source, "count": len(images),
        "thresholds": {"WHOLE_MATCH_MAX_DISTANCE": WHOLE_MATCH_MAX_DISTANCE,
                       "CROP_MATCH_MAX_DISTANCE": CROP_MATCH_MAX_DISTANCE, "CROP_MIN_GAP": CROP_MIN_GAP,
                       "NEAR_REGION_MAX_DISTANCE": NEAR_REGION_MAX_DISTANCE,
                       "CONSISTENCY_MAX_DISTANCE": CONSISTENCY_MAX_DISTANCE,
                       "lookup": LOOKUP_MAX_DISTANCE},
        "seconds": round(time.perf_counter() - started, 1), "cpu": cpu_model(),
        "command": "python bench/blend_calibration.py " + " ".join(sys.argv[1:]),
        **summary,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    lines = ["## Fingerprint attribution: genuine copies and impostors", "",
             f"- inputs: {report['inputs']}", f"- thresholds: {report['thresholds']}",
             f"- {report['seconds']} s on {report['cpu']}; command: `{report['command']}`", ""]
    if inputs.source != "shared":
        lines.insert(2, "**NOTE: shared/data/photos was not usable; figures are on GENERATED images.**")
    lines += _table("By group", summary["groups"]) + _table("By kind of copy", summary["kinds"])
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
