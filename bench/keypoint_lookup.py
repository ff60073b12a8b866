"""Benchmark: what a lookup by local features costs, by repository size, beside the PDQ lookup.

Usage::

    .venv/bin/python bench/keypoint_lookup.py [--labels 1000,10000,50000] [--repeats 20] [--json]
    .venv/bin/python bench/keypoint_lookup.py --false-matches 600 [--json]

Issue 15: a copy whose watermark was removed and which the fingerprint rules cannot attribute is
looked up by its local features (``signals.keypoints``): its 400 ORB descriptors are searched
against every registered label's 160 (``index.keypoint_index.KeypointIndex``, a faiss brute-force
binary scan), then the best few sets are fitted. That scan grows with the repository, so this
measures it at several sizes, side by side with the anchor every verification already pays: the
PDQ lookup of the file's 75 query hashes against every label's 95 PDQ bindings
(``index.pdq_multi_index.PdqMultiIndex``, the exact multi-index of the manifest registry).

Stored sets and bindings are random (the scan's cost does not depend on what they show); the
queries are real: the keypoints and PDQ query hashes of a photo from ``shared/data/photos`` (a
generated photo-like image without it). Also timed: taking a file's keypoints (ORB on the image
scaled to 512 px) at 512² and 1080p, and the index's memory. One thread (pinned), medians of
``--repeats`` lookups after one warm-up. ``--flat-max`` moves the point where the index becomes an
inverted file (``FLAT_MAX_DESCRIPTORS``).

``--false-matches N``: the whole decision at scale, without a database. Up to N images of
``shared/data/photos`` and ``shared/data/faces`` (``bench/reposts.py``'s ``load_images``) each
stand for a label: their keypoints in one index, their signed regions (``region_hashes`` and
``placed_region_hashes``). Each image's crops keeping 70 % and 60 % of each side at seeded random
places are looked up as ``verify`` does (candidates, fit, then the regions inside the place within
26 bits over at least 2): for every other image (not of the same source, ``source_group``) that
is an unrelated (copy, label) pair, and none may be confirmed; the image's own label should be.
"""

from __future__ import annotations

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()  # before numpy or faiss load

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

import watermark as wm  # noqa: E402
from deepshield.index.keypoint_index import FLAT_MAX_DESCRIPTORS, KeypointIndex  # noqa: E402
from deepshield.index.pdq_multi_index import PdqMultiIndex  # noqa: E402
from deepshield.signals.keypoints import DESCRIPTOR_BYTES, QUERY_KEYPOINTS, STORED_KEYPOINTS, keypoints  # noqa: E402
from deepshield.signals.repost import REGION_COUNT, derived_queries, region_queries  # noqa: E402

PDQ_BINDINGS_PER_LABEL = 1 + REGION_COUNT + 1  # the whole image, its regions, the label id's row


def _median_ms(function, repeats: int) -> float:  # type: ignore[no-untyped-def]
    function()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return 1000 * statistics.median(times)


def false_matches(limit: int, flat_max: int) -> dict[str, object]:
    """Unrelated (copy, label) pairs confirmed by local features and the regions (see the module)."""
    from deepshield.signals.keypoints import locate
    from deepshield.signals.pdq import pdq_distance, pdq_from_pixels
    from deepshield.signals.placed_regions import placed_queries, placed_region_hashes
    from deepshield.signals.repost import region_hashes
    from reposts import load_images, source_group

    names, images, note = load_images(limit)
    groups = [source_group(name) for name in names]
    # One picture in two collections is not an unrelated pair (as in bench/fingerprint_recovery.py):
    # whole-image PDQ hashes within the lookup's 31 bits count as related, like one source.
    whole = [int(pdq_from_pixels(image).hex, 16) for image in images]

    def related(one: int, other: int) -> bool:
        return one == other or groups[one] == groups[other] or (whole[one] ^ whole[other]).bit_count() <= 31

    stored = [keypoints(image) for image in images]
    regions = [region_hashes(image) + placed_region_hashes(image) for image in images]
    index = KeypointIndex(flat_max)
    index.add((number, found.descriptors) for number, found in enumerate(stored))
    inverted = index.inverted
    rng = np.random.default_rng(15)
    counts = {"copies": 0, "unrelated pairs": 0, "unrelated candidates": 0, "unrelated placed": 0,
              "unrelated confirmed": 0, "own confirmed": 0}
    strongest = 0
    examples: list[list[object]] = []
    for number, image in enumerate(images):
        height, width = image.shape[:2]
        for keep in (0.7, 0.6):
            kept_h, kept_w = round(height * keep), round(width * keep)
            top, left = int(rng.integers(0, height - kept_h + 1)), int(rng.integers(0, width - kept_w + 1))
            copy = np.ascontiguousarray(image[top:top + kept_h, left:left + kept_w])
            query = keypoints(copy, QUERY_KEYPOINTS)
            counts["copies"] += 1
            counts["unrelated pairs"] += sum(1 for other in range(len(images)) if not related(number, other))
            for other, _votes in index.candidates(query.descriptors, 4, 8):
                unrelated = not related(number, other)
                if unrelated:
                    counts["unrelated candidates"] += 1
                located = locate(query, stored[other])
                if located is None:
                    continue
                if unrelated:
                    counts["unrelated placed"] += 1
                    strongest = max(strongest, located.inliers)
                cuts = placed_queries(copy, located.box, images[other].shape[:2],
                                      [region for region, _ in regions[other]])
                distances = sorted(pdq_distance(value.hex, regions[other][i][1].hex) for i, value in cuts
                                   if value.quality >= 50)
                if len(distances) < 2 or distances[(len(distances) - 1) // 2] > 26:
                    continue
                if other == number:
                    counts["own confirmed"] += 1
                elif unrelated:
                    counts["unrelated confirmed"] += 1
                    examples.append([names[number], names[other], located.inliers])
        if (number + 1) % 100 == 0:
            print(f"  false matches: {number + 1}/{len(images)}", flush=True)
    return {"inputs": note, "images": len(images), "index": "inverted file" if inverted else "flat", **counts,
            "strongest unrelated fit (keypoints)": strongest, "confirmed unrelated pairs": examples}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", default="1000,10000,50000")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--false-matches", type=int, default=0, metavar="N")
    parser.add_argument("--flat-max", type=int, default=FLAT_MAX_DESCRIPTORS,
                        help="descriptors scanned exhaustively before the index becomes an inverted file")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.false_matches:
        found = false_matches(args.false_matches, args.flat_max)
        print(json.dumps(found, indent=2))
        return
    inputs = wm.make_inputs(1, ["512", "1080"])
    photo, photo_1080 = inputs.images["512"][0], inputs.images["1080"][0]
    query = keypoints(photo, QUERY_KEYPOINTS)
    pdq_queries = [value.hex for _, value in derived_queries(photo) + region_queries(photo)][:75]
    rng = np.random.default_rng(15)
    rows = []
    for labels in (int(part) for part in args.labels.split(",")):
        features = KeypointIndex(args.flat_max)
        started = time.perf_counter()
        features.add((label, rng.integers(0, 256, (STORED_KEYPOINTS, DESCRIPTOR_BYTES), np.uint8))
                     for label in range(labels))
        kind = "inverted file" if features.inverted else "flat"  # (builds it)
        build_s = time.perf_counter() - started
        bindings = PdqMultiIndex()
        count = labels * PDQ_BINDINGS_PER_LABEL
        raw = rng.integers(0, 256, (count, 32), np.uint8)
        bindings.add((item, raw[item].tobytes().hex()) for item in range(count))
        bindings.compact()
        keypoint_ms = _median_ms(lambda index=features: index.candidates(query.descriptors, 4, 8),
                                 args.repeats)
        pdq_ms = _median_ms(lambda index=bindings: index.search(pdq_queries, 31), args.repeats)
        rows.append({"labels": labels, "descriptors": labels * STORED_KEYPOINTS, "index": kind,
                     "build s": round(build_s, 1),
                     "keypoint scan ms": round(keypoint_ms, 2), "PDQ lookup ms (anchor)": round(pdq_ms, 2),
                     "ratio": round(keypoint_ms / pdq_ms, 2),
                     "keypoint index MB": round(labels * STORED_KEYPOINTS * (DESCRIPTOR_BYTES + 8) / 1e6, 1)})
        print(f"  {labels} labels done", flush=True)
    small = cv2.resize(photo_1080, (1920, 1080))
    extraction = {"512x512": round(_median_ms(lambda: keypoints(photo, QUERY_KEYPOINTS), args.repeats), 1),
                  "1920x1080": round(_median_ms(lambda: keypoints(small, QUERY_KEYPOINTS), args.repeats), 1)}
    report = {"machine": f"{platform.processor() or platform.machine()}", "inputs": inputs.note,
              "query keypoints": len(query), "pdq query hashes": len(pdq_queries), "rows": rows,
              "keypoints of a file, ms": extraction, "threads": THREAD_ENV}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"query: {len(query)} keypoints, {len(pdq_queries)} PDQ hashes ({inputs.note})")
    print("| labels | descriptors | index (build, s) | keypoint scan, ms | PDQ lookup (anchor), ms | ratio "
          "| keypoint index, MB |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['labels']:,} | {row['descriptors']:,} | {row['index']} ({row['build s']}) | "
              f"{row['keypoint scan ms']} | "
              f"{row['PDQ lookup ms (anchor)']} | {row['ratio']} | {row['keypoint index MB']} |")
    print(f"keypoints of a file (ORB at 512 px): {extraction}")


if __name__ == "__main__":
    main()
