"""Benchmark: recall of originals from reposts, DeepShield's repost-robust matching against plain PDQ.

Usage::

    .venv/bin/python bench/reposts.py [--images N] [--jobs J] [--subset all|tuning|held-out]
                                      [--cost-photos N] [--json]

For every image of ``shared/data/photos`` and ``shared/data/faces`` (generated images where
those are absent), the bank holds, per method:

* ``plain PDQ`` (the anchor, as HMA and StopNCII match): the image's PDQ hash; queries are
  the repost's PDQ hash alone.
* ``+ dihedral``: the same bank; queries add the repost's 7 other dihedral hashes (what
  DeepShield has matched with since issue 2).
* ``+ derived queries``: the same bank; queries add ``signals.repost.derived_queries``
  (border-trimmed, mirrored, caption-cut, rotated back, overlay-cut).
* ``before: issue 4/15 queries + hash set v1``: the design before issue 17 part 5, run beside
  the current one: ``legacy_derived_queries`` (a frozen copy of the earlier derivations) and
  the hash set's first six crops (version 1).
* ``ours, current queries + hash set v1``: what a bank holding version-1 sets gets now.
* ``ours (+ hash set v2)``: the bank adds ``signals.repost.hash_set`` (version 2: version 1's
  crops and the three overlay cuts); queries as above. This is the full design.

Each transform of ``repost_transforms.py`` is applied to every image (seeded), and a repost
counts as found when any of its query hashes is within 31 bits of any of its original's bank
hashes. A **false match** is a repost matching the bank entry of a different image. Related
pairs are left out of the false-match count, and their number is reported: images whose
originals already match each other through their plain hashes or version-1 hash sets (one
picture in two collections, e.g. a colour and a grey copy; version 1, so that the hashes under
test cannot hide their own false matches), and images from one source (``RELATED_GROUPS``:
frames of one video).
Bank images need PDQ quality ≥ 50 (as banks refuse weaker hashes); query hashes below 50 are
not used (as the matcher does).

Also reported: what each query family alone adds on top of plain + dihedral, the CPU time
per upload to compute the query hashes, the hashes per banked image, and the room left below
a false match (the nearest unrelated pair, and how many unrelated pairs are within 40 bits).

**Held out.** Issue 17's overlaid captions (``repost_transforms.OVERLAY_TRANSFORMS``) were
designed on the *tuning* third of the images (``held_out(name)`` is false: CRC-32 of the name
≡ 0 mod 3) and are reported on the other two thirds, which were not looked at while choosing
the rule; ``--subset tuning`` runs on the tuning third alone.

**Cost per 1080p upload** (``--cost-photos``): natural photos of ``shared/data/photos``
centre-cropped to 16:9 and resized to 1920×1080, each as it is and after every transform (at
1080p); per upload, the CPU time of the earlier derivations (``legacy_derived_queries``) and of
the current ones (``derived_queries``), alternately first, best of three runs each; and, for
scale, that of the upload's own 8 dihedral hashes at full size, which both include.
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
    NATURAL_PHOTO_GLOBS,
    cpu_model,
    interpreter,
    package_version,
    shared_data_dir,
    use_checkout_sources,
)

use_checkout_sources()

THRESHOLD = 31
PDQ_BITS = 256
#: Unrelated pairs this close are counted too: how much room is left below a false match.
NEAR_MISS = 40
MIN_QUALITY = 50
LOAD_MAX_SIDE = 1024
FAMILIES = {  # query families, by the derived-query names they cover
    "trimmed": ("trimmed",),
    "mirrored": ("mirrored",),
    "caption": ("caption10", "caption15", "caption20", "band-top", "band-bottom"),
    "rotated back": ("rotate-2", "rotate-1", "rotate+1", "rotate+2"),
    "overlay cut": ("overlay-top", "overlay-bottom", "overlay-both"),
}
ALL_DERIVED = tuple(n for family in FAMILIES.values() for n in family)
#: The hash set's version-1 crops: the bank of "before" and of a bank that has not re-hashed.
HASH_SET_V1 = ("crop95", "crop90", "corner90-tl", "corner90-tr", "corner90-bl", "corner90-br")


def held_out(name: str) -> bool:
    """Whether an image is in the held-out two thirds (not used to design issue 17's overlay cuts)."""
    return zlib.crc32(name.encode()) % 3 != 0


def _legacy_cut_caption_band(pixels: np.ndarray, from_top: bool) -> np.ndarray | None:
    """``repost.cut_caption_band`` as it was before issue 17 part 5 (every column read)."""
    from deepshield.signals import repost

    height = pixels.shape[0]
    rows = pixels if from_top else pixels[::-1]
    colour = np.median(rows[0], axis=0).astype(np.int16)

    def colour_share(part: np.ndarray) -> np.ndarray:
        return (np.abs(part.astype(np.int16) - colour).max(axis=-1) <= 24).mean(axis=-1)

    if colour_share(rows[:1])[0] < 0.98:
        return None
    limit = int(height * repost.BAND_MAX_SHARE)
    last_flat, start = 0, 0
    while start < limit:
        shares = colour_share(rows[start:min(start + 64, limit)])
        below = np.flatnonzero(shares < 0.3)
        band_rows = shares[:below[0]] if below.size else shares
        flat = np.flatnonzero(band_rows >= 0.98)
        if flat.size:
            last_flat = start + int(flat[-1])
        if below.size:
            band = last_flat + 1
            if band < repost.BAND_MIN_SHARE * height:
                return None
            return pixels[band:] if from_top else pixels[:height - band]
        start += 64
    return None


def legacy_derived_queries(pixels: np.ndarray) -> list[tuple[str, Any]]:
    """The derived queries as they were before issue 17 part 5 (issues 4 and 15), for before/after.

    A frozen copy: shrinks with ``repost.shrink`` (area filter straight to 512 px), re-shrinks a
    band-cut copy from full size, cuts the caption shares and rotates back (bicubic, whole image,
    then cropped) on every upload.
    """
    from deepshield.signals import repost
    from deepshield.signals.pdq import pdq_from_pixels

    def hashed(image: np.ndarray) -> Any:
        return pdq_from_pixels(np.ascontiguousarray(image))

    small = repost.shrink(pixels)
    trimmed = repost.trim_uniform_borders(small)
    hashes = []
    if trimmed is not small:
        hashes.append(("trimmed", hashed(trimmed)))
    hashes.append(("mirrored", hashed(small[:, ::-1])))
    for name, from_top in (("band-top", True), ("band-bottom", False)):
        without_band = _legacy_cut_caption_band(pixels, from_top)
        if without_band is not None and min(without_band.shape[:2]) >= 32:
            hashes.append((name, hashed(repost.shrink(without_band))))
    derivations = {
        "caption10": lambda p: repost.cut_top(p, 0.10),
        "caption15": lambda p: repost.cut_top(p, 0.15),
        "caption20": lambda p: repost.cut_top(p, 0.20),
        **{f"rotate{d:+g}": (lambda p, d=d: repost.rotate_crop(p, d)) for d in (-2.0, -1.0, 1.0, 2.0)},
    }
    for name, derive in derivations.items():
        derived = derive(trimmed)
        if min(derived.shape[:2]) >= 32:
            hashes.append((name, hashed(derived)))
    return hashes


def load_images(limit: int, subset: str = "all") -> tuple[list[str], list[np.ndarray], str]:
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
        name = str(path.relative_to(data))
        if min(image.size) >= 64 and subset in ("all", "held-out" if held_out(name) else "tuning"):
            names.append(name)
            images.append(np.asarray(image))
        if len(images) >= limit:
            break
    if images:
        chosen = "" if subset == "all" else f" ({subset} subset)"
        return names, images, f"{len(images)} images from {data}/photos and {data}/faces{chosen}"
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
        "hash_set": [_packed(h.hex) for _, h in bank_set],
        "hash_set_v1": [_packed(h.hex) for name, h in bank_set if name in HASH_SET_V1],
        "reposts": {}, "query_cpu_ms": [], "legacy_cpu_ms": [],
    }
    for name, (_, transform) in rt.TRANSFORMS.items():
        seed = zlib.crc32(f"{index}:{name}".encode())
        copy = np.ascontiguousarray(transform(pixels, np.random.default_rng(seed)))
        started = time.process_time()
        dihedral = pdq_dihedral_from_pixels(copy)
        dihedral_ms = (time.process_time() - started) * 1e3
        # The two derivation sets run one after the other, in turn first, so drifting load
        # falls on both alike.
        timings: dict[str, float] = {}
        outputs: dict[str, list[tuple[str, Any]]] = {}
        order = (("new", repost.derived_queries), ("legacy", legacy_derived_queries))
        for kind, derive in order if seed % 2 else order[::-1]:
            started = time.process_time()
            outputs[kind] = derive(copy)
            timings[kind] = (time.process_time() - started) * 1e3
        result["query_cpu_ms"].append(dihedral_ms + timings["new"])
        result["legacy_cpu_ms"].append(dihedral_ms + timings["legacy"])
        usable = dihedral[0][1].quality >= MIN_QUALITY
        result["reposts"][name] = {
            "plain": [_packed(dihedral[0][1].hex)] if usable else [],
            "dihedral": [_packed(h.hex) for _, h in dihedral[1:]] if usable else [],
            "derived": {n: _packed(h.hex) for n, h in outputs["new"] if h.quality >= MIN_QUALITY},
            "legacy": {n: _packed(h.hex) for n, h in outputs["legacy"] if h.quality >= MIN_QUALITY},
        }
    return result


def _distances(queries: np.ndarray, bank: np.ndarray) -> np.ndarray:
    """Hamming distances, (queries × bank), of packed 32-byte hashes."""
    q = queries.view(np.uint64).reshape(len(queries), 4)
    b = bank.view(np.uint64).reshape(len(bank), 4)
    return np.bitwise_count(q[:, None, :] ^ b[None, :, :]).sum(axis=2)


def _bank(results: list[dict[str, Any]], good: list[int],
          set_key: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Every banked hash (plain, then the hash set under ``set_key``) and the image it belongs to."""
    codes, owner = [], []
    for position, i in enumerate(good):
        for code in [results[i]["plain"], *(results[i][set_key] if set_key else [])]:
            codes.append(code)
            owner.append(position)
    return np.stack(codes), np.asarray(owner)


def evaluate(results: list[dict[str, Any]], names: list[str]) -> dict[str, Any]:
    good = [i for i, r in enumerate(results) if r["quality"] >= MIN_QUALITY]
    banks = {key: _bank(results, good, key) for key in (None, "hash_set_v1", "hash_set")}
    # Related pairs: the originals themselves match (one picture in two files, or crops of
    # one), or they come from one source (frames of one video). "Match" is judged with the
    # version-1 bank, as before issue 17: were version 2's overlay cuts to join two originals,
    # that pair would be hidden from the false-match count by the very hashes under test. Such
    # pairs are listed instead, to be looked at.
    def related_by(set_key: str) -> np.ndarray:
        bank, owner = banks[set_key]
        related = np.zeros((len(good), len(good)), dtype=bool)
        rows, cols = np.nonzero(_distances(bank, bank) <= THRESHOLD)
        related[owner[rows], owner[cols]] = True
        return related

    same_picture = related_by("hash_set_v1")
    groups = [source_group(names[i]) for i in good]
    for a in range(len(good)):
        for b in range(len(good)):
            if groups[a] == groups[b]:
                same_picture[a, b] = True
    np.fill_diagonal(same_picture, True)
    excluded_pairs = int(same_picture.sum() - len(good))
    joined_by_v2 = np.nonzero(related_by("hash_set") & ~same_picture)
    only_v2 = [(names[good[a]], names[good[b]]) for a, b in zip(*joined_by_v2, strict=True) if a < b]
    # method: (bank's hash set, query parts, derived source, derived names)
    dihedral = ("plain", "dihedral")
    methods: dict[str, tuple[str | None, tuple[str, ...], str, tuple[str, ...]]] = {
        "plain PDQ": (None, ("plain",), "derived", ()),
        "+ dihedral": (None, dihedral, "derived", ()),
        **{f"+ dihedral + {family}": (None, dihedral, "derived", FAMILIES[family]) for family in FAMILIES},
        "+ derived queries": (None, dihedral, "derived", ALL_DERIVED),
        "before: issue 4/15 queries + hash set v1": ("hash_set_v1", dihedral, "legacy", ALL_DERIVED),
        "ours, current queries + hash set v1": ("hash_set_v1", dihedral, "derived", ALL_DERIVED),
        "ours (+ hash set v2)": ("hash_set", dihedral, "derived", ALL_DERIVED),
    }
    held = [position for position, i in enumerate(good) if held_out(names[i])]
    report: dict[str, Any] = {"images": len(good), "held_out_images": len(held),
                              "excluded_same_picture_pairs": excluded_pairs,
                              "related_only_through_v2_cuts": only_v2, "methods": {}}
    for method, (set_key, parts, source, derived_names) in methods.items():
        bank, bank_owner = banks[set_key]
        # Each image's hashes sit together in the bank: the nearest of them per image, at once.
        starts = np.flatnonzero(np.r_[True, bank_owner[1:] != bank_owner[:-1]])
        recall, recall_held, false_pairs, examples, pairs = {}, {}, 0, [], 0
        query_counts, nearest_unrelated, near_misses = [], PDQ_BITS, 0
        for transform in rt.TRANSFORMS:
            found = np.zeros(len(good), dtype=bool)
            for position, i in enumerate(good):
                reposts = results[i]["reposts"][transform]
                codes = [c for part in parts for c in reposts[part]]
                codes += [reposts[source][n] for n in derived_names if n in reposts[source]]
                query_counts.append(len(codes))
                if not codes:
                    continue
                per_image = np.minimum.reduceat(_distances(np.stack(codes), bank).min(axis=0), starts)
                found[position] = per_image[position] <= THRESHOLD
                unrelated = per_image[~same_picture[position]]
                nearest_unrelated = min(nearest_unrelated, int(unrelated.min(initial=PDQ_BITS)))
                near_misses += int((unrelated <= NEAR_MISS).sum())
                for other in np.flatnonzero((per_image <= THRESHOLD) & ~same_picture[position]):
                    false_pairs += 1
                    if len(examples) < 5:
                        examples.append([transform, names[i], names[good[other]]])
            recall[transform] = float(found.mean())
            recall_held[transform] = float(found[held].mean()) if held else None
            pairs += len(good) * (len(good) - 1) - excluded_pairs
        report["methods"][method] = {
            "recall": recall, "recall_held_out": recall_held, "false_matches": false_pairs,
            "unrelated_pairs": pairs, "false_examples": examples,
            "nearest_unrelated_bits": nearest_unrelated, f"unrelated_pairs_within_{NEAR_MISS}": near_misses,
            "bank_hashes_per_image": len(bank) / len(good),
            "query_hashes_max": len(parts) + 6 * (len(parts) > 1) + len(derived_names),
            "query_hashes_mean": float(np.mean(query_counts)),
        }
    for key, label in (("query_cpu_ms", "current"), ("legacy_cpu_ms", "before")):
        cpu = [ms for r in results for ms in r[key]]
        report[f"{label}_query_cpu_ms_median"] = float(np.median(cpu))
        report[f"{label}_query_cpu_ms_p99"] = float(np.percentile(cpu, 99))
    return report


def photos_1080p(count: int) -> tuple[list[str], list[np.ndarray]]:
    """Up to ``count`` natural photos, centre-cropped to 16:9 and resized (Lanczos) to 1920×1080."""
    photos = shared_data_dir() / "photos"
    paths = [path for pattern in NATURAL_PHOTO_GLOBS for path in sorted(photos.glob(pattern))]
    names, images = [], []
    for path in paths[:count]:
        with Image.open(path) as raw:
            image = ImageOps.exif_transpose(raw).convert("RGB")
        width, height = image.size
        if width * 9 > height * 16:  # too wide: trim the sides
            crop_w, crop_h = round(height * 16 / 9), height
        else:
            crop_w, crop_h = width, round(width * 9 / 16)
        left, top = (width - crop_w) // 2, (height - crop_h) // 2
        image = image.crop((left, top, left + crop_w, top + crop_h))
        image = image.resize((1920, 1080), Image.Resampling.LANCZOS)
        names.append(str(path.relative_to(photos)))
        images.append(np.asarray(image))
    if not images:
        from watermark import generated_image

        images = [generated_image(1920, 1080, seed=i) for i in range(min(count, 8))]
        names = [f"generated-{i}" for i in range(len(images))]
    return names, images


def cost_1080p(args: tuple[int, np.ndarray]) -> dict[str, list[float]]:
    """CPU ms per 1080p upload (in a worker): each transform of one photo, and the photo as it is."""
    import cv2

    cv2.setNumThreads(1)
    from deepshield.signals import repost
    from deepshield.signals.pdq import pdq_dihedral_from_pixels

    index, photo = args
    uploads = {"as is": photo}
    for name, (_, transform) in rt.TRANSFORMS.items():
        rng = np.random.default_rng(zlib.crc32(f"{index}:{name}".encode()))
        uploads[name] = np.ascontiguousarray(transform(photo, rng))
    out: dict[str, list[float]] = {"upload": [], "legacy": [], "new": [], "dihedral": []}
    for turn, (name, upload) in enumerate(uploads.items()):
        best = {"legacy": float("inf"), "new": float("inf"), "dihedral": float("inf")}
        for attempt in range(3):
            order = [("legacy", legacy_derived_queries), ("new", repost.derived_queries),
                     ("dihedral", pdq_dihedral_from_pixels)]
            for kind, derive in order if (turn + attempt) % 2 else order[::-1]:
                started = time.process_time()
                derive(upload)
                best[kind] = min(best[kind], (time.process_time() - started) * 1e3)
        out["upload"].append(name)  # type: ignore[arg-type]
        for kind, ms in best.items():
            out[kind].append(ms)
    return out


def summarize_cost(runs: list[dict[str, list[float]]], names: list[str]) -> dict[str, Any]:
    as_is = {kind: [run[kind][0] for run in runs] for kind in ("legacy", "new", "dihedral")}
    every = {kind: [ms for run in runs for ms in run[kind]] for kind in ("legacy", "new", "dihedral")}
    per_upload: dict[str, dict[str, float]] = {}
    for position, upload in enumerate(runs[0]["upload"]):
        per_upload[str(upload)] = {kind: float(np.median([run[kind][position] for run in runs]))
                                   for kind in ("legacy", "new", "dihedral")}
    return {
        "photos": names, "size": "1920x1080", "runs_per_upload": 3,
        "as_is": {kind: {"median": float(np.median(v)), "mean": float(np.mean(v))}
                  for kind, v in as_is.items()},
        "all_uploads": {kind: {"median": float(np.median(v)), "mean": float(np.mean(v)),
                               "p90": float(np.percentile(v, 90))} for kind, v in every.items()},
        "per_upload_median": per_upload,
    }


def print_report(report: dict[str, Any]) -> None:
    ev = report["evaluation"]
    print(f"# Reposts: recall at ≤{THRESHOLD} ({report['date_utc']}, {report['machine']['cpu']}, "
          f"load {report['machine']['load_average']})")
    print(f"{ev['images']} bank images ({report['inputs']}); query hashing per upload "
          f"(≤ {LOAD_MAX_SIDE} px), CPU median / p99: before {ev['before_query_cpu_ms_median']:.1f} / "
          f"{ev['before_query_cpu_ms_p99']:.1f} ms, current {ev['current_query_cpu_ms_median']:.1f} / "
          f"{ev['current_query_cpu_ms_p99']:.1f} ms; "
          f"{ev['excluded_same_picture_pairs']} same-picture pairs left out of the false-match count "
          f"({len(ev['related_only_through_v2_cuts'])} pairs of them only through the overlay cuts: "
          f"{ev['related_only_through_v2_cuts'][:5]})")
    transforms = list(rt.TRANSFORMS)
    print("| method | bank/img | queries (mean / max) | "
          + " | ".join(rt.TRANSFORMS[t][0] for t in transforms)
          + f" | false / unrelated pairs | nearest unrelated (bits) / pairs ≤ {NEAR_MISS} |")
    print("|---|---:|---:|" + "---:|" * len(transforms) + "---:|---:|")
    for method, m in ev["methods"].items():
        cells = " | ".join(f"{100 * m['recall'][t]:.1f}" for t in transforms)
        print(f"| {method} | {m['bank_hashes_per_image']:.1f} | {m['query_hashes_mean']:.1f} / "
              f"{m['query_hashes_max']} | {cells} | {m['false_matches']} / {m['unrelated_pairs']:,} | "
              f"{m['nearest_unrelated_bits']} / {m[f'unrelated_pairs_within_{NEAR_MISS}']} |")
    overlays = list(rt.OVERLAY_TRANSFORMS)
    print(f"\nHeld out ({ev['held_out_images']} images not used to design the overlay cuts), recall %:")
    print("| method | " + " | ".join(rt.TRANSFORMS[t][0] for t in overlays) + " |")
    print("|---|" + "---:|" * len(overlays))
    for method, m in ev["methods"].items():
        cells = " | ".join("-" if m["recall_held_out"][t] is None else f"{100 * m['recall_held_out'][t]:.1f}"
                           for t in overlays)
        print(f"| {method} | {cells} |")
    cost = report.get("cost_1080p")
    if cost:
        print(f"\nCPU ms per 1080p upload ({len(cost['photos'])} photos; best of 3 each), median (mean):")
        print("| uploads | derived, before | derived, current | own 8 dihedral hashes (both) |")
        print("|---|---:|---:|---:|")
        for label, key in (("photos as they are", "as_is"),
                           ("all uploads (as is + every transform)", "all_uploads")):
            row = cost[key]
            print(f"| {label} | " + " | ".join(f"{row[k]['median']:.1f} ({row[k]['mean']:.1f})"
                                               for k in ("legacy", "new", "dihedral")) + " |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=10_000, help="at most this many images (all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--subset", choices=("all", "tuning", "held-out"), default="all",
                        help="images: all, or the tuning third, or the held-out two thirds")
    parser.add_argument("--cost-photos", type=int, default=12,
                        help="1080p photos to time the query-side derivations on (0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names, images, note = load_images(args.images, args.subset)
    print(f"hashing {len(images)} images x {len(rt.TRANSFORMS)} reposts ...", file=sys.stderr, flush=True)
    load_before = os.getloadavg()
    started = time.perf_counter()
    with Pool(args.jobs) as pool:
        results = pool.map(hash_image, list(enumerate(images)), chunksize=4)
        hashing_s = time.perf_counter() - started
        cost = None
        if args.cost_photos:
            photo_names, photos = photos_1080p(args.cost_photos)
            print(f"timing {len(photos)} photos at 1080p ...", file=sys.stderr, flush=True)
            cost = summarize_cost(pool.map(cost_1080p, list(enumerate(photos)), chunksize=1), photo_names)
    load_after = os.getloadavg()
    report = {
        "benchmark": "reposts",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "pdqhash": package_version("pdqhash"),
                    "threads": THREAD_ENV,
                    "load_average": f"{load_before[0]:.2f} at start, {load_after[0]:.2f} at end (1 min)"},
        "inputs": note,
        "hashing_s": hashing_s,
        "evaluation": evaluate(results, names),
        "cost_1080p": cost,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
