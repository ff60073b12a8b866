"""Benchmark: 1080p JPEG decode + hash throughput, DeepShield against plain Pillow + pdqhash.

Usage::

    .venv/bin/python bench/hashing.py [--images N] [--rounds R] [--warmup W] [--json]

Pipelines, each timed per image on the same in-memory JPEG bytes:

* ``ours hash_media`` -- ``deepshield.services.spread.hashing.hash_media(data, MediaLimits())``:
  sniff, safe decode with EXIF orientation, 8 dihedral PDQ hashes, MD5 and SHA-256.
* ``ours pdq only`` -- ``deepshield.media.decode_image`` +
  ``deepshield.signals.pdq.pdq_from_pixels``, so the cost of the extras (dihedral hashes,
  digests) shows as the gap to ``hash_media``.
* ``anchor Pillow+pdqhash`` -- ``np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))`` then
  ``pdqhash.compute(arr)``, exactly what python-threatexchange's PDQ hasher does.
* ``ours fast pdq dihedral`` -- ``decode_image`` + ``pdq_dihedral_from_pixels``: decode, PDQ and
  its 8 dihedral variants, through the native PDQ (``deepshield.signals._pdq_native``, issue 17)
  when it is built; against ``anchor Pillow+pdqhash dihedral`` (Pillow, then
  ``pdqhash.compute_dihedral``) and, in the JSON, the plain anchor above.
* ``ours decode only`` / ``anchor decode only`` -- the decode halves alone, to show where
  the time goes.
* ``part ...`` -- ``pdqhash.compute``, ``pdqhash.compute_dihedral``, ours (``pdq_from_pixels``,
  ``pdq_dihedral_from_pixels``) and MD5+SHA-256 alone, on the same image's already-decoded
  pixels: the price of PDQ and of the extras without pipeline noise.

Inputs are 1920x1080 JPEGs (quality 90, 4:2:0) made in memory from the real photos in
``shared/data/photos`` (``$DEEPSHIELD_SHARED_DATA`` or ``../shared/data`` next to the project);
where that folder is absent the script falls back to generated photo-like images and says so.

Timing: ``time.process_time`` (CPU) and ``time.perf_counter`` (wall) around each call. For
each image all timed calls run back to back in a freshly shuffled (seeded) order, over
``--rounds`` passes, so load drift on the machine hits every pipeline alike. Thread pools
are pinned to one thread (``OMP_NUM_THREADS=1`` etc., set before numpy/Pillow are imported)
so CPU-seconds are single-core figures. Also checks, for every image without an EXIF
orientation, that our PDQ hash (and quality) is bit-identical to the anchor's, and our 8
dihedral hashes to ``pdqhash.compute_dihedral``'s.
"""

from __future__ import annotations

import os

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()  # before numpy, Pillow, OpenCV or onnxruntime load

import argparse  # noqa: E402
import gc  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pdqhash  # noqa: E402
import PIL  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter, ImageOps, features  # noqa: E402

from bench_environment import (  # noqa: E402
    NATURAL_PHOTO_GLOBS,
    cpu_model,
    interpreter,
    package_version,
    print_results_table,
    shared_data_dir,
)

try:
    from deepshield.media import MediaLimits, decode_image
except ImportError:  # run from a checkout without an installed package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from deepshield.media import MediaLimits, decode_image
from deepshield.services.spread.hashing import hash_media  # noqa: E402
from deepshield.signals.digests import md5_hex, sha256_hex  # noqa: E402
from deepshield.signals.pdq import (  # noqa: E402
    PDQ_IMPLEMENTATION,
    pdq_dihedral_from_pixels,
    pdq_from_pixels,
)

WIDTH, HEIGHT = 1920, 1080
JPEG_QUALITY = 90
EXIF_ORIENTATION = 0x0112
SHUFFLE_SEED = 2
NOISE_NOTE = (
    "note: ratios within about +-5% of 1.00 are inside this benchmark's run-to-run noise "
    "(machine load, and the memory layout PDQ's big float buffers happen to get)"
)



# ---------------------------------------------------------------------------- inputs


@dataclass
class Inputs:
    images: list[bytes]
    names: list[str]
    source: str  # "shared" or "generated"
    note: str
    upscaled: int = 0




def to_1080p_jpeg(image: Image.Image, *, mirror: bool = False) -> bytes:
    """Center-crop to 16:9, resize to 1920x1080 and encode as quality-90 4:2:0 JPEG, no EXIF."""
    image = ImageOps.exif_transpose(image).convert("RGB")
    if mirror:
        image = ImageOps.mirror(image)
    w, h = image.size
    if w * HEIGHT > h * WIDTH:  # too wide: trim the sides
        crop_w, crop_h = round(h * WIDTH / HEIGHT), h
    else:  # too tall: trim top and bottom
        crop_w, crop_h = w, round(w * HEIGHT / WIDTH)
    left, top = (w - crop_w) // 2, (h - crop_h) // 2
    image = image.crop((left, top, left + crop_w, top + crop_h))
    image = image.resize((WIDTH, HEIGHT), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=JPEG_QUALITY, subsampling="4:2:0")
    return out.getvalue()


def photo_inputs(photos: Path, count: int) -> Inputs:
    paths: list[Path] = []
    for pattern in NATURAL_PHOTO_GLOBS:
        paths.extend(sorted(photos.glob(pattern)))
    usable: list[tuple[Path, tuple[int, int]]] = []
    for path in paths:
        with Image.open(path) as image:
            if image.mode in ("RGB", "RGBA", "P"):  # colour photos only
                usable.append((path, image.size))
    if not usable:
        raise FileNotFoundError(f"no usable photos under {photos}")
    images: list[bytes] = []
    names: list[str] = []
    upscaled = 0
    for i in range(count):
        path, (w, h) = usable[i % len(usable)]
        mirror = (i // len(usable)) % 2 == 1  # past one pass, reuse photos mirrored
        with Image.open(path) as image:
            images.append(to_1080p_jpeg(image, mirror=mirror))
        names.append(str(path.relative_to(photos)) + (" (mirrored)" if mirror else ""))
        if min(w, h * WIDTH / HEIGHT) < WIDTH:  # the 16:9 crop is narrower than 1920
            upscaled += 1
    return Inputs(
        images,
        names,
        "shared",
        f"{count} photos from {photos} ({len(usable)} usable), center-cropped to 16:9",
        upscaled,
    )


def generated_inputs(count: int, seed: int = 2) -> Inputs:
    """Photo-like stand-ins: smooth gradients, blurred shapes, mild sensor noise."""
    rng = np.random.default_rng(seed)
    images: list[bytes] = []
    ys, xs = np.mgrid[0:HEIGHT, 0:WIDTH].astype(np.float32)
    for _ in range(count):
        base = np.empty((HEIGHT, WIDTH, 3), np.float32)
        for c in range(3):
            a, b, d = rng.uniform(-0.12, 0.12, 3)
            base[..., c] = rng.uniform(40, 200) + a * xs + b * ys + d * 40 * np.sin(xs / 97 + c)
        image = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(12, 30))):
            x0, y0 = rng.uniform(-200, WIDTH), rng.uniform(-200, HEIGHT)
            x1, y1 = x0 + rng.uniform(40, 700), y0 + rng.uniform(40, 500)
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            if rng.random() < 0.5:
                draw.ellipse((x0, y0, x1, y1), fill=fill)
            else:
                draw.polygon([(x0, y0), (x1, y0 + rng.uniform(0, 300)), (x0 + 100, y1)], fill=fill)
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(1.0, 3.0)))
        pixels = np.asarray(image, dtype=np.float32) + rng.normal(0, 4, (HEIGHT, WIDTH, 3))
        out = io.BytesIO()
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(
            out, format="JPEG", quality=JPEG_QUALITY, subsampling="4:2:0"
        )
        images.append(out.getvalue())
    names = [f"generated-{i:03d}" for i in range(count)]
    return Inputs(images, names, "generated", "GENERATED photo-like images (shared data absent)")


def make_inputs(count: int) -> Inputs:
    photos = shared_data_dir() / "photos"
    if photos.is_dir():
        try:
            return photo_inputs(photos, count)
        except (OSError, FileNotFoundError) as exc:
            print(f"warning: cannot use {photos}: {exc}; generating images", file=sys.stderr)
    else:
        print(f"warning: {photos} not found; generating photo-like images", file=sys.stderr)
    return generated_inputs(count)


# ---------------------------------------------------------------------------- pipelines

LIMITS = MediaLimits()


def ours_hash_media(data: bytes) -> tuple[str, int]:
    signals = hash_media(data, LIMITS)
    assert signals.pdq is not None
    return signals.pdq.hex, signals.pdq.quality


def ours_pdq_only(data: bytes) -> tuple[str, int]:
    pdq = pdq_from_pixels(decode_image(data, LIMITS).pixels)
    return pdq.hex, pdq.quality


def anchor_pillow_pdqhash(data: bytes) -> tuple[str, int]:
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    bits, quality = pdqhash.compute(arr)
    return np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)


def ours_fast_pdq_dihedral(data: bytes) -> list[tuple[str, int]]:
    variants = pdq_dihedral_from_pixels(decode_image(data, LIMITS).pixels)
    return [(pdq.hex, pdq.quality) for _name, pdq in variants]


def anchor_pillow_pdqhash_dihedral(data: bytes) -> list[tuple[str, int]]:
    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    hashes, quality = pdqhash.compute_dihedral(arr)
    return [(np.packbits(bits.astype(np.uint8)).tobytes().hex(), int(quality)) for bits in hashes]


def ours_decode_only(data: bytes) -> None:
    decode_image(data, LIMITS)


def anchor_decode_only(data: bytes) -> None:
    np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def digests(data: bytes) -> None:
    md5_hex(data)
    sha256_hex(data)


ANCHOR = "anchor Pillow+pdqhash"
ANCHOR_DIHEDRAL = "anchor Pillow+pdqhash dihedral"
OURS_DIHEDRAL = "ours fast pdq dihedral"
PDQ_DIHEDRAL = "part compute_dihedral"
ANCHOR_DECODE = "anchor decode only"
PDQ_ONE = "part pdqhash.compute"
# Whole pipelines, called with the JPEG bytes.
PIPELINES: dict[str, Callable[[bytes], object]] = {
    "ours hash_media": ours_hash_media,
    "ours pdq only": ours_pdq_only,
    ANCHOR: anchor_pillow_pdqhash,
    OURS_DIHEDRAL: ours_fast_pdq_dihedral,
    ANCHOR_DIHEDRAL: anchor_pillow_pdqhash_dihedral,
    "ours decode only": ours_decode_only,
    ANCHOR_DECODE: anchor_decode_only,
}
# Parts, timed on the same image's already-decoded pixels (or bytes, for the digests), so the
# price of the extras in hash_media shows without the noise of a whole pipeline around it.
PARTS: dict[str, Callable[[bytes, np.ndarray], object]] = {
    PDQ_ONE: lambda _data, pixels: pdqhash.compute(pixels),
    PDQ_DIHEDRAL: lambda _data, pixels: pdqhash.compute_dihedral(pixels),
    "part ours pdq": lambda _data, pixels: pdq_from_pixels(pixels),
    "part ours pdq dihedral": lambda _data, pixels: pdq_dihedral_from_pixels(pixels),
    "part md5+sha256": lambda data, _pixels: digests(data),
}
# Each ratio row compares a pipeline against the one doing the same job in the anchor.
RATIO_BASE: dict[str, str | None] = {
    "ours hash_media": ANCHOR,
    "ours pdq only": ANCHOR,
    ANCHOR: ANCHOR,
    OURS_DIHEDRAL: ANCHOR_DIHEDRAL,
    ANCHOR_DIHEDRAL: ANCHOR_DIHEDRAL,
    "ours decode only": ANCHOR_DECODE,
    ANCHOR_DECODE: ANCHOR_DECODE,
    PDQ_ONE: PDQ_ONE,
    PDQ_DIHEDRAL: PDQ_ONE,
    "part ours pdq": PDQ_ONE,
    "part ours pdq dihedral": PDQ_DIHEDRAL,
    "part md5+sha256": None,
}


# ---------------------------------------------------------------------------- measuring


@dataclass
class Samples:
    cpu_s: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        cpu_ms = np.asarray(self.cpu_s) * 1e3
        wall_ms = np.asarray(self.wall_s) * 1e3
        return {
            "n": len(self.cpu_s),
            "cpu_median_ms": float(np.median(cpu_ms)),
            "cpu_p95_ms": float(np.percentile(cpu_ms, 95)),
            "wall_median_ms": float(np.median(wall_ms)),
            "wall_p95_ms": float(np.percentile(wall_ms, 95)),
            "images_per_cpu_s": len(self.cpu_s) / float(np.sum(self.cpu_s)),
            "images_per_wall_s": len(self.wall_s) / float(np.sum(self.wall_s)),
        }


def run(inputs: Inputs, rounds: int, warmup: int) -> dict[str, Samples]:
    calls: dict[str, Callable[[bytes, np.ndarray], object]] = {
        name: (lambda data, _pixels, fn=fn: fn(data)) for name, fn in PIPELINES.items()
    }
    calls.update(PARTS)
    names = list(calls)
    for data in inputs.images[: max(warmup, 1)]:
        pixels = decode_image(data, LIMITS).pixels
        for name in names:
            calls[name](data, pixels)
    samples = {name: Samples() for name in names}
    process_time, perf_counter = time.process_time, time.perf_counter
    # A fresh, seeded order for every image. A fixed or merely rotated order gives each
    # pipeline the same predecessor every time, hence the same heap/mmap layout and share of
    # huge pages for its big float buffers, which PDQ's column passes are very sensitive to
    # (a steady +-10% bias between identical calls); shuffling turns that into noise.
    rng = random.Random(SHUFFLE_SEED)
    for _ in range(rounds):
        for data in inputs.images:
            pixels = decode_image(data, LIMITS).pixels  # untimed: input of the parts
            gc.collect()
            order = names[:]
            rng.shuffle(order)
            for name in order:
                fn = calls[name]
                c0, w0 = process_time(), perf_counter()
                fn(data, pixels)
                w1, c1 = perf_counter(), process_time()
                samples[name].cpu_s.append(c1 - c0)
                samples[name].wall_s.append(w1 - w0)
    return samples


def check_hashes(inputs: Inputs) -> dict[str, object]:
    """Our PDQ (hash_media, pdq only, the 8 dihedral hashes) against pdqhash's, for images with no
    EXIF rotation."""
    compared = skipped = 0
    mismatches: list[dict[str, object]] = []
    for name, data in zip(inputs.names, inputs.images, strict=True):
        with Image.open(io.BytesIO(data)) as image:
            orientation = image.getexif().get(EXIF_ORIENTATION)
        if orientation not in (None, 1):
            skipped += 1
            continue
        compared += 1
        anchor = anchor_pillow_pdqhash(data)
        for label, fn in (("hash_media", ours_hash_media), ("pdq only", ours_pdq_only)):
            ours = fn(data)
            if ours != anchor:
                mismatch = {"image": name, "pipeline": label, "ours": ours, "anchor": anchor}
                mismatches.append(mismatch)
        ours_dihedral, anchor_dihedral = ours_fast_pdq_dihedral(data), anchor_pillow_pdqhash_dihedral(data)
        if ours_dihedral != anchor_dihedral:
            mismatches.append(
                {"image": name, "pipeline": "dihedral", "ours": ours_dihedral, "anchor": anchor_dihedral}
            )
    return {
        "compared": compared,
        "skipped_exif_orientation": skipped,
        "mismatches": len(mismatches),
        "mismatch_details": mismatches,
    }


# ---------------------------------------------------------------------------- reporting




def build_report(
    args: argparse.Namespace, inputs: Inputs, samples: dict[str, Samples], check: dict, took: float
) -> dict[str, object]:
    summaries = {name: s.summary() for name, s in samples.items()}
    rows = []
    for name, summ in summaries.items():
        base_name = RATIO_BASE[name]
        base = summaries[base_name] if base_name else None
        rows.append(
            {
                "pipeline": name,
                **summ,
                "vs": base_name,
                "ratio_cpu_ms": summ["cpu_median_ms"] / base["cpu_median_ms"] if base else None,
                "ratio_images_per_cpu_s": (
                    summ["images_per_cpu_s"] / base["images_per_cpu_s"] if base else None
                ),
            }
        )
    sizes = [len(b) for b in inputs.images]
    return {
        "benchmark": "hashing",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpu_model": cpu_model(),
            "logical_cpus": os.cpu_count(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "pillow": PIL.__version__,
            "libjpeg_turbo": features.version("libjpeg_turbo"),
            "pdqhash": package_version("pdqhash"),
            "pdq_implementation": PDQ_IMPLEMENTATION,
            "thread_env": THREAD_ENV,
        },
        "inputs": {
            "source": inputs.source,
            "note": inputs.note,
            "count": len(inputs.images),
            "size": f"{WIDTH}x{HEIGHT}",
            "jpeg": f"quality {JPEG_QUALITY}, 4:2:0, no EXIF",
            "mean_kib": sum(sizes) / len(sizes) / 1024,
            "upscaled_sources": inputs.upscaled,
        },
        "rounds": args.rounds,
        "warmup_images": args.warmup,
        "results": rows,
        "hash_check": check,
        "elapsed_s": took,
    }






def print_report(report: dict) -> None:
    m, inp, check = report["machine"], report["inputs"], report["hash_check"]
    head = [
        f"command: {report['command']}",
        f"machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs; Python {m['python']}, "
        f"Pillow {m['pillow']} (libjpeg-turbo {m['libjpeg_turbo']}), numpy {m['numpy']}, "
        f"pdqhash {m['pdqhash']}; our PDQ: {m['pdq_implementation']}",
        "threads: " + ", ".join(f"{k}={v}" for k, v in m["thread_env"].items()),
        f"date:    {report['date_utc']}",
        f"inputs:  {inp['count']} x {inp['size']} JPEG ({inp['jpeg']}), "
        f"mean {inp['mean_kib']:.0f} KiB; {inp['note']}; "
        f"{inp['upscaled_sources']} upscaled from smaller sources",
        f"timing:  {report['rounds']} round(s) over all images, pipelines alternated per "
        f"image (seeded shuffled order), {report['warmup_images']} warm-up image(s); "
        "CPU = time.process_time",
    ]
    if inp["source"] != "shared":
        head.append("NOTE:    shared/data/photos was not found -- figures are on GENERATED images")
    cols = [
        ("pipeline", "pipeline", "{}"),
        ("CPU med ms", "cpu_median_ms", "{:.1f}"),
        ("CPU p95 ms", "cpu_p95_ms", "{:.1f}"),
        ("wall med ms", "wall_median_ms", "{:.1f}"),
        ("wall p95 ms", "wall_p95_ms", "{:.1f}"),
        ("img/CPU-s", "images_per_cpu_s", "{:.1f}"),
        ("ms ratio", "ratio_cpu_ms", "{:.2f}"),
        ("img/CPU-s ratio", "ratio_images_per_cpu_s", "{:.2f}"),
        ("vs", "vs", "{}"),
    ]
    verdict = (
        f"PDQ check (EXIF orientation absent): {check['compared']} images compared, "
        f"{check['skipped_exif_orientation']} skipped, {check['mismatches']} mismatches "
        "(hash_media, pdq only and the 8 dihedral hashes vs pdqhash: hashes and quality bit-identical"
        + (")" if not check["mismatches"] else " -- NOT all identical)")
    )
    footer = [verdict, NOISE_NOTE, *(f"  mismatch: {mm}" for mm in check["mismatch_details"][:5]),
              f"took {report['elapsed_s']:.1f} s"]
    print_results_table(head, cols, report["results"],
                        title="1080p JPEG decode + hash, per image (ratio = pipeline / its anchor)",
                        left=("pipeline", "vs"), width=150, footer=footer)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=40, help="number of 1080p images (40)")
    parser.add_argument("--rounds", type=int, default=3, help="passes over all images (3)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed warm-up images (3)")
    parser.add_argument("--json", action="store_true", help="print JSON results only")
    args = parser.parse_args(argv)
    if args.images < 1 or args.rounds < 1 or args.warmup < 0:
        parser.error("--images and --rounds must be >= 1, --warmup >= 0")
    start = time.perf_counter()
    inputs = make_inputs(args.images)
    check = check_hashes(inputs)
    samples = run(inputs, args.rounds, args.warmup)
    report = build_report(args, inputs, samples, check, time.perf_counter() - start)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 1 if check["mismatches"] else 0


if __name__ == "__main__":
    sys.exit(main())
