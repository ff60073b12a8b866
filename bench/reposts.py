"""Benchmark: recall of originals from reposts, DeepShield's repost-robust matching against plain PDQ.

Usage::

    .venv/bin/python bench/reposts.py [--images N] [--jobs J] [--json]

For every image of ``shared/data/photos`` and ``shared/data/faces`` (generated images where
those are absent), the bank holds, per method:

* ``plain PDQ`` (the anchor, as HMA and StopNCII match): the image's PDQ hash; queries are
  the repost's PDQ hash alone.
* ``+ dihedral``: the same bank; queries add the repost's 7 other dihedral hashes (what
  DeepShield has matched with since issue 2).
* ``+ derived queries``: the same bank; queries add ``signals.repost.derived_queries``
  (border-trimmed, caption-cut, rotated back).
* ``ours (+ hash set)``: the bank adds ``signals.repost.hash_set`` (crops, version 1);
  queries as above. This is the full design.

Each transform of ``repost_transforms.py`` is applied to every image (seeded), and a repost
counts as found when any of its query hashes is within 31 bits of any of its original's bank
hashes. A **false match** is a repost matching the bank entry of a different image. Related
pairs are left out of the false-match count, and their number is reported: images whose
originals already match each other (one picture in two collections, e.g. a colour and a
grey copy), and images from one source (``RELATED_GROUPS``: frames of one video).
Bank images need PDQ quality ≥ 50 (as banks refuse weaker hashes); query hashes below 50 are
not used (as the matcher does).

Also reported: what each query family alone adds on top of plain + dihedral, the CPU time
per upload to compute the query hashes, and the hashes per banked image.
"""

from __future__ import annotations

import os

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()

import argparse  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from multiprocessing import Pool  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

import repost_transforms as rt  # noqa: E402
from bench_environment import (  # noqa: E402
    cpu_model,
    interpreter,
    package_version,
    shared_data_dir,
    use_checkout_sources,
)

use_checkout_sources()

THRESHOLD = 31
MIN_QUALITY = 50
LOAD_MAX_SIDE = 1024
FAMILIES = {  # query families, by the derived-query names they cover
    "trimmed": ("trimmed",),
    "mirrored": ("mirrored",),
    "caption": ("caption10", "caption15", "caption20", "band-top", "band-bottom"),
    "rotated back": ("rotate-2", "rotate-1", "rotate+1", "rotate+2"),
}


def load_images(limit: int) -> tuple[list[str], list[np.ndarray], str]:
    data = shared_data_dir()
    paths = sorted(p for folder in ("photos", "faces") for p in (data / folder).rglob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    names, images = [], []
    for path in paths:
        try:
            with Image.open(path) as raw:
                image = ImageOps.exif_transpose(raw).convert("RGB")
                image.thumbnail((LOAD_MAX_SIDE, LOAD_MAX_SIDE))
        except Exception:  # a bench skips unreadable samples
            continue
        if min(image.size) >= 64:
            names.append(str(path.relative_to(data)))
            images.append(np.asarray(image))
        if len(images) >= limit:
            break
    if images:
        return names, images, f"{len(images)} images from {data}/photos and {data}/faces"
    from watermark import generated_image

    images = [generated_image(640, 480, seed=i) for i in range(min(limit, 200))]
    return [f"generated-{i}" for i in range(len(images))], images, "GENERATED images (shared data not found)"


#: Collections whose files are frames or edits of one source (FaceForensics++ frames of one
#: video in several manipulations; Meta's PDQ test variants): all pairs within are related.
RELATED_GROUPS = ("gend_samples", "pdq_threatexchange")


def source_group(name: str) -> str:
    for group in RELATED_GROUPS:
        if group in name:
            return group
    return name


def _packed(hex_hash: str) -> np.ndarray:
    return np.frombuffer(bytes.fromhex(hex_hash), dtype=np.uint8)


def hash_image(args: tuple[int, np.ndarray]) -> dict[str, Any]:
    """Bank hashes of one image, and query hashes of each of its reposts (in a worker)."""
    import cv2

    cv2.setNumThreads(1)
    from deepshield.signals import repost
    from deepshield.signals.pdq import pdq_dihedral_from_pixels, pdq_from_pixels

    index, pixels = args
    plain = pdq_from_pixels(pixels)
    bank_set = [(name, h) for name, h in repost.hash_set(pixels) if h.quality >= MIN_QUALITY]
    result: dict[str, Any] = {
        "quality": plain.quality, "plain": _packed(plain.hex),
        "hash_set": [_packed(h.hex) for _, h in bank_set], "reposts": {}, "query_cpu_ms": [],
    }
    for name, (_, transform) in rt.TRANSFORMS.items():
        seed = zlib.crc32(f"{index}:{name}".encode())
        copy = np.ascontiguousarray(transform(pixels, np.random.default_rng(seed)))
        started = time.process_time()
        dihedral = pdq_dihedral_from_pixels(copy)
        derived = repost.derived_queries(copy)
        result["query_cpu_ms"].append((time.process_time() - started) * 1e3)
        usable = dihedral[0][1].quality >= MIN_QUALITY
        result["reposts"][name] = {
            "plain": [_packed(dihedral[0][1].hex)] if usable else [],
            "dihedral": [_packed(h.hex) for _, h in dihedral[1:]] if usable else [],
            "derived": {n: _packed(h.hex) for n, h in derived if h.quality >= MIN_QUALITY},
        }
    return result


def _distances(queries: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """Hamming distances, (queries × bank), of packed 32-byte hashes."""
    q = queries.view(np.uint64).reshape(len(queries), 4)
    b = bank.view(np.uint64).reshape(len(bank), 4)
    return np.bitwise_count(q[:, None, :] ^ b[None, :, :]).sum(axis=2)


def evaluate(results: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    good = [i for i, r in enumerate(results) if r["quality"] >= MIN_QUALITY]
    plain_bank = np.stack([results[i]["plain"] for i in good])
    full_bank, owner = [], []
    for position, i in enumerate(good):
        for code in [results[i]["plain"], *results[i]["hash_set"]]:
            full_bank.append(code)
            owner.append(position)
    full_bank_arr, owner_arr = np.stack(full_bank), np.asarray(owner)
    # Related pairs: the originals themselves match (one picture in two files, or crops of
    # one), or they come from one source (frames of one video).
    same_picture = np.zeros((len(good), len(good)), dtype=bool)
    close = _distances(full_bank_arr, full_bank_arr) <= THRESHOLD
    rows, cols = np.nonzero(close)
    same_picture[owner_arr[rows], owner_arr[cols]] = True
    groups = [source_group(names[i]) for i in good]
    for a in range(len(good)):
        for b in range(len(good)):
            if groups[a] == groups[b]:
                same_picture[a, b] = True
    np.fill_diagonal(same_picture, True)
    excluded_pairs = int(same_picture.sum() - len(good))
    methods = {
        "plain PDQ": (False, ("plain",), ()),
        "+ dihedral": (False, ("plain", "dihedral"), ()),
        **{f"+ dihedral + {family}": (False, ("plain", "dihedral"), FAMILIES[family]) for family in FAMILIES},
        "+ derived queries": (False, ("plain", "dihedral"), tuple(n for f in FAMILIES.values() for n in f)),
        "ours (+ hash set)": (True, ("plain", "dihedral"), tuple(n for f in FAMILIES.values() for n in f)),
    }
    report: dict[str, Any] = {"images": len(good), "excluded_same_picture_pairs": excluded_pairs,
                              "methods": {}}
    for method, (with_set, parts, derived_names) in methods.items():
        bank = full_bank_arr if with_set else plain_bank
        bank_owner = owner_arr if with_set else np.arange(len(good))
        recall, false_pairs, examples, pairs = {}, 0, [], 0
        for transform in rt.TRANSFORMS:
            found = 0
            for position, i in enumerate(good):
                reposts = results[i]["reposts"][transform]
                codes = [c for part in parts for c in reposts[part]]
                codes += [reposts["derived"][n] for n in derived_names if n in reposts["derived"]]
                if not codes:
                    continue
                close = (_distances(np.stack(codes), bank) <= THRESHOLD).any(axis=0)
                matched = set(bank_owner[close].tolist())
                found += position in matched
                for other in matched - {position}:
                    if not same_picture[position, other]:
                        false_pairs += 1
                        if len(examples) < 5:
                            examples.append([transform, names[i], names[good[other]]])
            recall[transform] = found / len(good)
            pairs += len(good) * (len(good) - 1) - excluded_pairs
        report["methods"][method] = {
            "recall": recall, "false_matches": false_pairs, "unrelated_pairs": pairs,
            "false_examples": examples,
            "bank_hashes_per_image": len(bank) / len(good),
            "query_hashes": len(parts) + len(derived_names) if "dihedral" not in parts
            else 1 + 7 * ("dihedral" in parts) + len(derived_names),
        }
    cpu = [ms for r in results for ms in r["query_cpu_ms"]]
    report["query_cpu_ms_median"] = float(np.median(cpu))
    report["query_cpu_ms_p99"] = float(np.percentile(cpu, 99))
    return report


def print_report(report: dict[str, Any]) -> None:
    ev = report["evaluation"]
    print(f"# Reposts: recall at ≤{THRESHOLD} ({report['date_utc']}, {report['machine']['cpu']})")
    print(f"{ev['images']} bank images ({report['inputs']}); query hashing "
          f"{ev['query_cpu_ms_median']:.1f} ms median, {ev['query_cpu_ms_p99']:.1f} ms p99 CPU per upload; "
          f"{ev['excluded_same_picture_pairs']} same-picture pairs left out of the false-match count")
    transforms = list(rt.TRANSFORMS)
    print("| method | bank/img | queries | " + " | ".join(rt.TRANSFORMS[t][0] for t in transforms)
          + " | false / unrelated pairs |")
    print("|---|---:|---:|" + "---:|" * len(transforms) + "---:|")
    for method, m in ev["methods"].items():
        cells = " | ".join(f"{100 * m['recall'][t]:.1f}" for t in transforms)
        print(f"| {method} | {m['bank_hashes_per_image']:.1f} | {m['query_hashes']} | {cells} | "
              f"{m['false_matches']} / {m['unrelated_pairs']:,} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="at most this many images (all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names, images, note = load_images(args.images)
    print(f"hashing {len(images)} images x {len(rt.TRANSFORMS)} reposts ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    with Pool(args.jobs) as pool:
        results = pool.map(hash_image, list(enumerate(images)), chunksize=4)
    report = {
        "benchmark": "reposts",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "pdqhash": package_version("pdqhash"),
                    "threads": THREAD_ENV},
        "inputs": note,
        "hashing_s": time.perf_counter() - started,
        "evaluation": evaluate(results, names),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
