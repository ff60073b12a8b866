"""Benchmark: ``forensics.compare`` on an evaluation set built here, and its cost at 1080p (issue 16).

Usage::

    .venv/bin/python bench/forensics.py [--split evaluation|tuning] [--unrelated 1000] [--jobs 2]
        [--timing 12] [--json OUT]

The set is built by this script, from ``shared/data/photos`` and the LFW portraits of
``shared/data/faces/real`` (``$DEEPSHIELD_SHARED_DATA`` or ``../shared/data``); nothing is saved.
Each picture belongs to one split by a hash of its file name: ``tuning`` (the thresholds of
``forensics/difference.py`` and ``comparison.py`` were set on it) or ``evaluation`` (the default:
never looked at while tuning). Per source picture:

* **edits**: a region replaced by an ellipse cut from another picture of the split (photos), or
  the face replaced by the face of another portrait (the LFW portraits are centred, so both faces
  sit at the same place); each feathered (a soft alpha edge) and Poisson-blended (OpenCV's
  ``seamlessClone``). The true region is the ellipse (alpha ≥ 0.5); an edit is *visible* when it
  changes the pixels there by at least 8 levels on average;
* **reposts** of each edit: *typical* (scale 0.5-0.9, a crop keeping 90-100 % of each side, a
  tone change, JPEG 60-85) and *harsh* (scale 0.3-0.5, JPEG 35-55); one in five mirrored;
* **unedited reposts** (typical and harsh) and **global edits** (exposure ±0.4 EV, sharpening, a
  crop keeping 70-85 %, a resize to 0.6 and JPEG 85): these must never show a region;
* **what it cannot see**: the edited picture re-rendered as a whole (down to a quarter and up
  again, sharpened), and bent by a smooth non-rigid warp of up to 4 px; and a subtle local edit
  (the face moved by 2 px, no replacement). These should read ``inconclusive`` or show a region,
  never ``derived_no_difference``;
* **unrelated pairs**: a typical repost of one picture against another picture's original (never
  two variants of one picture: ``identity``).

Reported: outcome rates per group, the share called derived with the true source, the
replaced-region IoU (the suspect's mask against the true region carried through the repost) and
its share ≥ 0.5 over visible edits, spurious regions on unedited and globally edited reposts, and
unrelated pairs called derived. ``--timing N``: N 1080p pairs (the largest photos, fitted to
1920×1080; an edited typical repost of each against its original), one thread, wall time per
``compare``, against the anchor of the issue's prototype: the same pipeline with SIFT at full
resolution (``MATCH_LONG_SIDE`` set to 1920), in the same run. Two worker processes by default.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
import zlib
from collections import Counter, defaultdict
from functools import lru_cache
from multiprocessing import Pool

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2
import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_environment import cpu_model, interpreter, shared_data_dir
from deepshield.forensics import alignment, compare
from deepshield.forensics.comparison import Comparison

cv2.setNumThreads(1)
SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")
#: Photos are fitted to this long side before editing (most are smaller already).
PHOTO_LONG_SIDE = 1280
#: LFW portraits (350 px): where the face sits and how big, as fractions of the side.
FACE_CENTRE = (0.5, 0.52)
FACE_AXES = (0.17, 0.23)
VISIBLE_LEVELS = 8.0


def identity(path: str) -> str:
    """Which picture a file shows: ThreatExchange's PDQ test files hold one bridge photo in 20
    variants (rotations, flips, blurs, crops) and one photo in 4 EXIF rotations."""
    name = os.path.basename(path)
    if "pdq_threatexchange" in path and ("bridge" in path or name.startswith("aaa-")):
        return "pdq-bridge"
    if "exif-rotn" in path:
        return "pdq-exif-rotn"
    return name


def split_of(path: str) -> str:
    """Tuning or evaluation, by picture (all variants of one picture on the same side)."""
    return "tuning" if zlib.crc32(identity(path).encode()) % 2 == 0 else "evaluation"


def pictures(split: str) -> tuple[list[str], list[str]]:
    data = shared_data_dir()
    photos = sorted(f for f in glob.glob(str(data / "photos" / "**" / "*.*"), recursive=True)
                    if f.lower().endswith(SUFFIXES))
    faces = sorted(glob.glob(str(data / "faces" / "real" / "lfw_facial_expressions" / "*.jpg")))
    if not photos or not faces:
        raise SystemExit(f"no photos or faces under {data}: nothing to measure")
    return [p for p in photos if split_of(p) == split], [f for f in faces if split_of(f) == split]


@lru_cache(maxsize=64)
def load(path: str) -> np.ndarray:
    image = np.asarray(Image.open(path).convert("RGB"))
    height, width = image.shape[:2]
    if max(height, width) > PHOTO_LONG_SIDE:
        scale = PHOTO_LONG_SIDE / max(height, width)
        image = cv2.resize(image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


# ------------------------------------------------------------------------------------- edits


def ellipse_mask(shape: tuple[int, int], centre: tuple[float, float],
                 axes: tuple[float, float]) -> np.ndarray:
    mask = np.zeros(shape, np.uint8)
    cv2.ellipse(mask, (round(centre[0]), round(centre[1])), (max(2, round(axes[0])), max(2, round(axes[1]))),
                0, 0, 360, 255, -1)
    return mask


def paste(target: np.ndarray, donor: np.ndarray, mask: np.ndarray, blend: str) -> np.ndarray:
    """``donor`` (same size as ``target``) pasted into ``target`` inside ``mask``."""
    if blend == "poisson":
        ys, xs = np.nonzero(mask)
        box = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
        if box[0] < 2 or box[1] < 2 or box[2] > target.shape[1] - 2 or box[3] > target.shape[0] - 2:
            blend = "feathered"  # seamlessClone needs a margin around the mask
        else:
            centre = ((box[0] + box[2]) // 2, (box[1] + box[3]) // 2)
            patch = np.ascontiguousarray(donor[box[1]:box[3], box[0]:box[2]])
            patch_mask = np.ascontiguousarray(mask[box[1]:box[3], box[0]:box[2]])
            return cv2.seamlessClone(patch, target, patch_mask, centre, cv2.NORMAL_CLONE)
    softness = max(2.0, 0.04 * float(np.sqrt(mask.sum() / 255)))
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), softness)[..., None]
    return np.clip(target * (1 - alpha) + donor * alpha + 0.5, 0, 255).astype(np.uint8)


def region_edit(target: np.ndarray, other: np.ndarray, rng: np.random.Generator,
                blend: str) -> tuple[np.ndarray, np.ndarray]:
    height, width = target.shape[:2]
    axes = (width * rng.uniform(0.07, 0.13), height * rng.uniform(0.08, 0.15))
    centre = (rng.uniform(axes[0] + 4, width - axes[0] - 4), rng.uniform(axes[1] + 4, height - axes[1] - 4))
    mask = ellipse_mask((height, width), centre, axes)
    donor = cv2.resize(other, (width, height), interpolation=cv2.INTER_AREA)
    shift = (int(rng.integers(-width // 4, width // 4 + 1)), int(rng.integers(-height // 4, height // 4 + 1)))
    donor = np.roll(donor, shift, axis=(1, 0))  # another part of the other picture
    return paste(target, donor, mask, blend), mask


def face_edit(target: np.ndarray, other: np.ndarray, rng: np.random.Generator,
              blend: str) -> tuple[np.ndarray, np.ndarray]:
    height, width = target.shape[:2]
    centre = (FACE_CENTRE[0] * width + rng.uniform(-3, 3), FACE_CENTRE[1] * height + rng.uniform(-3, 3))
    axes = (FACE_AXES[0] * width * rng.uniform(0.9, 1.1), FACE_AXES[1] * height * rng.uniform(0.9, 1.1))
    mask = ellipse_mask((height, width), centre, axes)
    donor = cv2.resize(other, (width, height), interpolation=cv2.INTER_AREA)
    return paste(target, donor, mask, blend), mask


# ----------------------------------------------------------------------------------- reposts


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", np.ascontiguousarray(rgb[..., ::-1]),
                               [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])


def repost(rgb: np.ndarray, mask: np.ndarray, rng: np.random.Generator, harsh: bool
           ) -> tuple[np.ndarray, np.ndarray]:
    """A repost of ``rgb``, and ``mask`` carried through the same geometry."""
    height, width = rgb.shape[:2]
    keep = rng.uniform(0.9, 1.0)
    crop_w, crop_h = round(width * keep), round(height * keep)
    x, y = int(rng.integers(0, width - crop_w + 1)), int(rng.integers(0, height - crop_h + 1))
    rgb, mask = rgb[y:y + crop_h, x:x + crop_w], mask[y:y + crop_h, x:x + crop_w]
    scale = rng.uniform(0.3, 0.5) if harsh else rng.uniform(0.5, 0.9)
    size = (max(16, round(crop_w * scale)), max(16, round(crop_h * scale)))
    rgb = cv2.resize(np.ascontiguousarray(rgb), size, interpolation=cv2.INTER_AREA)
    mask = cv2.resize(np.ascontiguousarray(mask), size, interpolation=cv2.INTER_LINEAR)
    gamma, gain = rng.uniform(0.85, 1.15), rng.uniform(0.9, 1.1)
    rgb = np.clip(255 * gain * (rgb / 255.0) ** gamma + 0.5, 0, 255).astype(np.uint8)
    if rng.random() < 0.2:
        rgb, mask = rgb[:, ::-1], mask[:, ::-1]
    quality = int(rng.integers(35, 56)) if harsh else int(rng.integers(60, 86))
    return jpeg(rgb, quality), np.ascontiguousarray(mask) >= 128


def global_edit(rgb: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    if kind == "exposure":
        stops = rng.choice([-0.4, 0.4])
        return jpeg(np.clip(rgb * 2.0 ** stops + 0.5, 0, 255).astype(np.uint8), 90)
    if kind == "sharpen":
        soft = cv2.GaussianBlur(rgb, (0, 0), 1.5)
        return jpeg(cv2.addWeighted(rgb, 2.0, soft, -1.0, 0), 90)
    if kind == "crop":
        height, width = rgb.shape[:2]
        keep = rng.uniform(0.7, 0.85)
        crop_w, crop_h = round(width * keep), round(height * keep)
        x, y = int(rng.integers(0, width - crop_w + 1)), int(rng.integers(0, height - crop_h + 1))
        return jpeg(np.ascontiguousarray(rgb[y:y + crop_h, x:x + crop_w]), 90)
    if kind == "resize":
        height, width = rgb.shape[:2]
        smaller = cv2.resize(rgb, (round(width * 0.6), round(height * 0.6)), interpolation=cv2.INTER_AREA)
        return jpeg(smaller, 85)
    raise ValueError(kind)


def re_rendered(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    small = cv2.resize(rgb, (max(16, width // 4), max(16, height // 4)), interpolation=cv2.INTER_AREA)
    up = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    return jpeg(cv2.addWeighted(up, 1.8, cv2.GaussianBlur(up, (0, 0), 2.0), -0.8, 0), 90)


def bent(rgb: np.ndarray, rng: np.random.Generator, pixels: float = 4.0) -> np.ndarray:
    height, width = rgb.shape[:2]
    field = rng.normal(size=(2, 6, 6)).astype(np.float32)
    dx = cv2.resize(field[0], (width, height), interpolation=cv2.INTER_CUBIC)
    dy = cv2.resize(field[1], (width, height), interpolation=cv2.INTER_CUBIC)
    dx *= pixels / (np.abs(dx).max() + 1e-6)
    dy *= pixels / (np.abs(dy).max() + 1e-6)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    return jpeg(cv2.remap(rgb, xs + dx, ys + dy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT), 90)


def moved_face(rgb: np.ndarray) -> np.ndarray:
    height, width = rgb.shape[:2]
    mask = ellipse_mask((height, width), (FACE_CENTRE[0] * width, FACE_CENTRE[1] * height),
                        (FACE_AXES[0] * width, FACE_AXES[1] * height))
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 6)
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float32), np.arange(height, dtype=np.float32))
    moved = cv2.remap(rgb, xs - 2 * alpha, ys - 1 * alpha, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    return jpeg(moved, 90)


# ------------------------------------------------------------------------------------- pairs


def iou(predicted: np.ndarray, truth: np.ndarray) -> float:
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union) if union else 1.0


def run_pair(job: tuple) -> dict:
    group, family, path, other_path, seed = job
    rng = np.random.default_rng(seed)
    source = load(path)
    record: dict = {"group": group, "family": family}
    truth = None
    visible = None
    if group.startswith("edited") or group in ("re-rendered", "bent"):
        blend = "poisson" if "poisson" in group or (group in ("re-rendered", "bent") and rng.random() < 0.5) \
            else "feathered"
        other = load(other_path)
        edit = face_edit if family == "faces" else region_edit
        edited, mask = edit(source, other, rng, blend)
        inside = mask > 127
        visible = float(np.abs(edited.astype(np.int16) - source)[inside].mean()) >= VISIBLE_LEVELS
        if group in ("re-rendered", "bent"):
            suspect = re_rendered(edited) if group == "re-rendered" else bent(edited, rng)
        else:
            suspect, truth = repost(edited, mask, rng, harsh=group.endswith("harsh"))
    elif group.startswith("unedited"):
        suspect, _ = repost(source, np.zeros(source.shape[:2], np.uint8), rng, harsh=group.endswith("harsh"))
    elif group.startswith("global"):
        suspect = global_edit(source, group.split(" ")[1], rng)
    elif group == "moved face":
        suspect = moved_face(source)
    elif group == "unrelated":
        other = load(other_path)
        suspect, _ = repost(other, np.zeros(other.shape[:2], np.uint8), rng, harsh=False)
    else:
        raise ValueError(group)
    result: Comparison = compare(suspect, source)
    record["outcome"] = result.outcome.value
    record["regions"] = len(result.regions)
    record["inliers"] = result.inliers
    if truth is not None:
        predicted = result.mask() > 0
        record["iou"] = iou(predicted, truth)
        record["visible"] = visible
        found = int(np.logical_and(predicted, truth).sum())
        record["precision"] = found / int(predicted.sum()) if predicted.any() else None
        record["recall"] = found / int(truth.sum()) if truth.any() else None
    return record


def jobs_for(split: str, unrelated: int) -> list[tuple]:
    photos, faces = pictures(split)
    jobs: list[tuple] = []
    for family, paths in (("photos", photos), ("faces", faces)):
        for index, path in enumerate(paths):
            others = [candidate for candidate in paths if identity(candidate) != identity(path)]
            other = others[(index + index % 7) % len(others)]
            seed = zlib.crc32(path.encode())
            for blend in ("feathered", "poisson"):
                for strength in ("typical", "harsh"):
                    jobs.append((f"edited {blend} {strength}", family, path, other, [seed, 1, len(jobs)]))
            for strength in ("typical", "harsh"):
                jobs.append((f"unedited {strength}", family, path, None, [seed, 2, len(jobs)]))
            if index % 2 == 0:
                for kind in ("exposure", "sharpen", "crop", "resize"):
                    jobs.append((f"global {kind}", family, path, None, [seed, 3, len(jobs)]))
            if index % 4 == 0:
                jobs.append(("re-rendered", family, path, other, [seed, 4, len(jobs)]))
                jobs.append(("bent", family, path, other, [seed, 5, len(jobs)]))
                if family == "faces":
                    jobs.append(("moved face", family, path, None, [seed, 6, len(jobs)]))
    everything = [("photos", path) for path in photos] + [("faces", path) for path in faces]
    rng = np.random.default_rng(16)
    for count in range(unrelated):
        first, second = rng.choice(len(everything), 2, replace=False)
        while identity(everything[first][1]) == identity(everything[second][1]):
            first, second = rng.choice(len(everything), 2, replace=False)
        family = everything[first][0] + "/" + everything[second][0]
        jobs.append(("unrelated", family, everything[second][1], everything[first][1], [16, count]))
    return jobs


def timing(count: int) -> list[tuple[float, float, str]]:
    """(ours, anchor) seconds per 1080p compare, one thread, interleaved, and each outcome."""
    photos, _ = pictures("evaluation")
    tuning, _ = pictures("tuning")
    large = sorted(photos + tuning, key=lambda p: -np.prod(Image.open(p).size))[:count]
    rows = []
    for index, path in enumerate(large):
        image = np.asarray(Image.open(path).convert("RGB"))
        source = np.ascontiguousarray(cv2.resize(image, (1920, 1080), interpolation=cv2.INTER_AREA))
        rng = np.random.default_rng(index)
        edited, mask = region_edit(source, source[::-1].copy(), rng, "feathered")
        suspect, _ = repost(edited, mask, rng, harsh=False)
        suspect = np.ascontiguousarray(cv2.resize(suspect, (1920, 1080), interpolation=cv2.INTER_CUBIC))
        times = []
        for long_side in (alignment.MATCH_LONG_SIDE, 1920):
            saved = alignment.MATCH_LONG_SIDE
            alignment.MATCH_LONG_SIDE = long_side
            try:
                best = float("inf")
                for _ in range(2):
                    start = time.perf_counter()
                    outcome = compare(suspect, source).outcome.value
                    best = min(best, time.perf_counter() - start)
                times.append((best, outcome))
            finally:
                alignment.MATCH_LONG_SIDE = saved
        rows.append((times[0][0], times[1][0], f"{times[0][1]} / {times[1][1]}"))
    return rows


def summarise(records: list[dict]) -> dict:
    by_group: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        by_group[record["group"]].append(record)
        by_group[f"{record['group']} [{record['family']}]"].append(record)
    summary = {}
    for group, items in sorted(by_group.items()):
        outcomes = Counter(item["outcome"] for item in items)
        entry = {"pairs": len(items), "outcomes": dict(outcomes),
                 "derived": sum(outcomes[name] for name in ("derived_local_difference",
                                                            "derived_no_difference")) / len(items),
                 "with_region": sum(item["regions"] > 0 for item in items)}
        ious = [item["iou"] for item in items if "iou" in item]
        if ious:
            visible = [item["iou"] for item in items if item.get("visible")]
            entry["iou_median"] = float(np.median(ious))
            entry["iou_at_least_half_of_visible"] = \
                float(np.mean([value >= 0.5 for value in visible])) if visible else None
            entry["visible"] = len(visible)
            for measure in ("precision", "recall"):
                values = [item[measure] for item in items if item.get(measure) is not None]
                entry[f"{measure}_median"] = float(np.median(values)) if values else None
        summary[group] = entry
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=("evaluation", "tuning"), default="evaluation")
    parser.add_argument("--unrelated", type=int, default=1000, help="unrelated pairs (1000)")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timing", type=int, default=12,
                        help="1080p pairs timed against the anchor (12; 0: none)")
    parser.add_argument("--limit", type=int, default=None,
                        help="only the first N pairs of the set (a quick look)")
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()
    print(f"{cpu_model()}, {os.cpu_count()} CPUs; {interpreter()}, OpenCV {cv2.__version__}; "
          f"split {args.split}")
    jobs = jobs_for(args.split, args.unrelated)[:args.limit]
    start = time.perf_counter()
    with Pool(args.jobs) as pool:
        records = pool.map(run_pair, jobs, chunksize=4)
    print(f"{len(records)} pairs in {time.perf_counter() - start:.0f} s")
    summary = summarise(records)
    print(f"{'group':44s} {'pairs':>5s} {'derived':>8s} {'region':>7s} {'IoU med':>8s} {'IoU≥.5':>7s}  "
          "outcomes")
    for group, entry in summary.items():
        iou_median = f"{entry['iou_median']:.2f}" if "iou_median" in entry else "-"
        half = entry.get("iou_at_least_half_of_visible")
        half_text = f"{100 * half:.1f}" if half is not None else "-"
        outcomes = ", ".join(f"{name} {count}" for name, count in sorted(entry["outcomes"].items()))
        print(f"{group:44s} {entry['pairs']:5d} {100 * entry['derived']:7.1f}% {entry['with_region']:7d} "
              f"{iou_median:>8s} {half_text:>7s}  {outcomes}")
        if entry.get("precision_median") is not None:
            print(f"{'':44s} region precision {entry['precision_median']:.2f}, recall "
                  f"{entry['recall_median']:.2f} (medians)")
    report: dict = {"split": args.split, "summary": summary}
    if args.timing:
        rows = timing(args.timing)
        ours, anchor = [row[0] for row in rows], [row[1] for row in rows]
        print(f"1080p pairs, one thread, best of 2: compare median {1000 * np.median(ours):.0f} ms (max "
              f"{1000 * max(ours):.0f}); anchor (SIFT at full resolution) {1000 * np.median(anchor):.0f} ms; "
              f"ratio {np.median(anchor) / np.median(ours):.1f}x; outcomes (ours / anchor): "
              f"{dict(Counter(row[2] for row in rows))}")
        report["timing"] = {"ours_s": ours, "anchor_s": anchor, "outcomes": [row[2] for row in rows]}
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=1)


if __name__ == "__main__":
    main()
