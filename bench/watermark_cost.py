"""Benchmark: what the watermark costs per image (embed, detect marked, detect unmarked), one thread.

Usage::

    .venv/bin/python bench/watermark_cost.py [--size 512|1080] [--images 12] [--rounds 2]
        [--baseline DIR]

Marks ``--images`` photos of ``shared/data/photos`` (``bench/watermark_geometry.py``'s pick,
generated images without it) with a fixed provider key and times, per image, the best of 3 wall
times of ``embed``, of ``detect`` on the marked image and on the unmarked one, reading with the
public key and the provider key as ``verify`` does (the public key's search then runs in full on
a provider-marked image). Prints the medians (and the unmarked maximum).

``--baseline DIR`` also runs the same measurement on another checkout's ``src`` (for example a git
worktree of an earlier commit: ``git worktree add /tmp/old COMMIT``, then ``--baseline /tmp/old``),
alternating with this one ``--rounds`` times in one session, and prints the ratios: timings are
only comparable within one run on one machine. Each measurement runs in a fresh process with one
thread (OpenCV and BLAS pinned).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

_CHILD = r"""
import json, os, sys, time
sys.path.insert(0, os.environ["BENCH_DIR"])
import cv2
cv2.setNumThreads(1)
import numpy as np
import watermark_geometry as geometry
from deepshield.watermark import PUBLIC_KEY, detect, embed, key_from_secret

key = key_from_secret(bytes.fromhex("11" * 32))
images = geometry.load(int(os.environ["IMAGES"]), int(os.environ["SIZE"]))

def best(function, repeat=3):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)

embeds, marked_reads, unmarked_reads = [], [], []
for index, image in enumerate(images):
    marked = embed(image, index + 1, key=key)
    embeds.append(best(lambda: embed(image, index + 1, key=key)))
    marked_reads.append(best(lambda: detect(marked, [PUBLIC_KEY, key])))
    unmarked_reads.append(best(lambda: detect(image, [PUBLIC_KEY, key])))
print(json.dumps({"embed": float(np.median(embeds)) * 1e3, "marked": float(np.median(marked_reads)) * 1e3,
                  "unmarked": float(np.median(unmarked_reads)) * 1e3,
                  "unmarked_max": float(np.max(unmarked_reads)) * 1e3}))
"""


def measure(source: Path, size: int, images: int) -> dict[str, float]:
    environment = {**os.environ, "PYTHONPATH": str(source), "BENCH_DIR": str(HERE), "SIZE": str(size),
                   "IMAGES": str(images), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", _CHILD], env=environment, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise SystemExit(f"the measurement failed on {source}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, choices=(512, 1080), default=1080)
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline", type=Path, help="another checkout whose src/ to compare with")
    args = parser.parse_args()
    trees = {"this checkout": HERE.parent / "src"}
    if args.baseline is not None:
        trees = {f"baseline ({args.baseline})": args.baseline / "src", **trees}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for round_number in range(args.rounds if args.baseline is not None else 1):
        for name, source in trees.items():
            print(f"  round {round_number + 1}: {name}", file=sys.stderr)
            results[name].append(measure(source, args.size, args.images))
    print(f"{args.size}: {args.images} photos, best of 3 per image, medians in ms "
          f"(each figure: the best round)")
    print("| code | embed | detect marked | detect unmarked (max) |")
    print("|---|---:|---:|---:|")
    best = {name: {field: min(run[field] for run in runs) for field in runs[0]}
            for name, runs in results.items()}
    for name, figures in best.items():
        print(f"| {name} | {figures['embed']:.1f} | {figures['marked']:.1f} | "
              f"{figures['unmarked']:.1f} ({figures['unmarked_max']:.0f}) |")
    if args.baseline is not None:
        old, new = best[next(iter(trees))], best["this checkout"]
        print("| ratio, this / baseline | " + " | ".join(f"{new[field] / old[field]:.2f}"
                                                        for field in ("embed", "marked", "unmarked")) + " |")


if __name__ == "__main__":
    main()
