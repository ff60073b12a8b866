"""Benchmark: how much payload an attack leaves room for, photo by photo (issue 15).

Usage::

    .venv/bin/python bench/watermark_capacity.py [--images 96] [--size 512] [--attacks A,B]
        [--strength 1.95]

Marks photos from ``../shared/data/photos`` exactly as ``bench/watermark_geometry.py`` does (same
pick, same crops), but with a fixed secret key so runs repeat, attacks each copy, and despreads
the payload at the untouched geometry. Per photo it measures the soft coded bits' signal-to-noise
ratio (mean over standard deviation of the despread values times the true bit signs) and turns it
into the capacity of a binary-input Gaussian channel at that ratio: the most message bits per
coded bit any code could carry. The payload code carries 96 message bits (64 of payload and a
32-bit CRC) in 204 coded bits, a rate of 0.47; a photo whose capacity is below that cannot be
read by any decoder, however good, without more mark energy or fewer bits.

Only attacks that keep the geometry are meaningful here (compression, resizing, filters): the
despreading is done at the untouched tile grid. Reports, per attack: the exact-payload rate of the
real detector, the median SNR, the share of photos below the code rate, and the detector's rate
on each side of that line. ``--strength`` marks at another RMS strength (the default is the
embedder's, 42 dB on a typical photo) to show what closing the gap would cost in PSNR. Two worker
processes (``PROCS`` to change). Without the photos it says so and stops.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import zlib
from multiprocessing import Pool

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cv2

import watermark_geometry as geometry
from bench_environment import cpu_model, interpreter, package_version
from deepshield.watermark import detect, embed
from deepshield.watermark.analysis import cells_per_tile
from deepshield.watermark.detection import analysis_plane
from deepshield.watermark.embedding import DEFAULT_STRENGTH
from deepshield.watermark.keys import key_from_secret
from deepshield.watermark.layout import layout_for
from deepshield.watermark.payload import CODED_BITS, MESSAGE_BITS, encode

KEY = key_from_secret(hashlib.sha256(b"bench/watermark_capacity.py").digest())
CODE_RATE = MESSAGE_BITS / CODED_BITS
DEFAULT_ATTACKS = ("none", "jpeg50", "resize0.5+webp75")
#: Attacks that move the tile grid: despreading at the untouched geometry says nothing about them.
GEOMETRIC = ("crop", "aspect", "rotate")


def capacity(snr: float) -> float:
    """Capacity (bits per use) of a binary-input Gaussian channel whose received values have mean
    ``snr`` and unit deviation: 1 - E[log2(1 + exp(-2·snr·y))], by numerical integration."""
    y = np.linspace(snr - 12.0, snr + 12.0, 4001)
    density = np.exp(-0.5 * (y - snr) ** 2) / np.sqrt(2 * np.pi)
    loss = np.logaddexp(0.0, -2.0 * snr * y) / np.log(2.0)
    return float(1.0 - np.trapezoid(density * loss, y))


def soft_snr(image: np.ndarray, payload: int) -> float:
    """The despread coded bits' SNR at the untouched geometry (slot 0, tiles from the origin)."""
    layout = layout_for(KEY)
    soft = layout.coherent_bits(layout.despread_tiles(cells_per_tile(analysis_plane(image)), 0), 0)
    signed = soft * (encode(payload).astype(np.float64) * 2 - 1)
    return float(signed.mean() / (signed.std() + 1e-12))


def run_one(job: tuple[int, np.ndarray, list[str], int, float]
            ) -> tuple[float, dict[str, tuple[bool, float]]]:
    index, image, names, size, strength = job
    payload = (index * 0x9E3779B97F4A7C15 + 12345) & ((1 << 64) - 1)
    marked = embed(image, payload, key=KEY, strength=strength)
    results = {}
    for name in names:
        rng = np.random.default_rng([size, index, zlib.crc32(name.encode())])
        attacked = geometry.ATTACKS[name](marked, rng)
        results[name] = (detect(attacked, [KEY]).payload == payload, soft_snr(attacked, payload))
    return cv2.PSNR(image, marked), results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--size", type=int, choices=(512, 1080), default=512)
    parser.add_argument("--attacks", default=",".join(DEFAULT_ATTACKS),
                        help=f"comma list from bench/watermark_geometry.py ({','.join(DEFAULT_ATTACKS)})")
    parser.add_argument("--strength", type=float, default=DEFAULT_STRENGTH,
                        help=f"RMS mark strength in levels ({DEFAULT_STRENGTH}, the embedder's default)")
    args = parser.parse_args()
    names = args.attacks.split(",")
    unknown = [name for name in names if name not in geometry.ATTACKS]
    if unknown:
        raise SystemExit(f"unknown attacks {unknown}; known: {', '.join(geometry.ATTACKS)}")
    moving = [name for name in names if any(word in name for word in GEOMETRIC)]
    if moving:
        raise SystemExit(f"{moving} move the tile grid; this bench reads at the untouched geometry only")
    images = geometry.load(args.images, args.size)
    with Pool(int(os.environ.get("PROCS", "2"))) as pool:
        marked = pool.map(run_one, [(i, image, names, args.size, args.strength)
                                    for i, image in enumerate(images)])
    rows = [results for _, results in marked]
    print(f"{cpu_model()}, {os.cpu_count()} CPUs; {interpreter()}, numpy {np.__version__}, "
          f"opencv {cv2.__version__}, Pillow {package_version('pillow')}")
    print(f"size {args.size}, {len(images)} photos, strength {args.strength} (PSNR "
          f"{np.mean([psnr for psnr, _ in marked]):.2f} dB), code rate {CODE_RATE:.3f} "
          f"({MESSAGE_BITS} message bits in {CODED_BITS} coded bits)")
    print("attack                 exact %   median SNR   below rate %   exact below / above %")
    for name in names:
        read = np.array([row[name][0] for row in rows])
        snr = np.array([row[name][1] for row in rows])
        below = np.array([capacity(value) < CODE_RATE for value in snr])
        under = f"{100 * read[below].mean():5.1f}" if below.any() else "    -"
        over = f"{100 * read[~below].mean():5.1f}" if (~below).any() else "    -"
        print(f"{name:22s} {100 * read.mean():6.1f}   {np.median(snr):10.2f}   {100 * below.mean():12.1f}"
              f"   {under} / {over}")


if __name__ == "__main__":
    main()
