"""Benchmark: attacks that try to remove a label, against labelled outputs (issue 15).

Usage::

    .venv/bin/python bench/label_attacks.py [--images 100] [--size 512|1080|both] [--collection 200]
        [--sweep-images 30] [--unlabelled 100] [--families LIST] [--anchors dwtDct,rivaGan|none]
        [--rivagan-images 8] [--rivagan-sizes 512|both] [--victim-format png|jpeg] [--public-mark]
        [--jobs 2] [--json OUT]
    .venv/bin/python bench/label_attacks.py --quick [--json OUT]     # 12 photos, 512 px only
    .venv/bin/python bench/label_attacks.py --show OUT

What one size's run does, in a fresh installation (``ServiceContext`` on SQLite in a temporary
``$DEEPSHIELD_HOME``, development signing keys), with ``--jobs`` worker processes over images:

1. **Label.** N photos from ``shared/data/photos`` (``bench/watermark.py``'s ``make_inputs``:
   round-robin over its natural-photo collections, centre-cropped and resized to 512x512 or
   1920x1080; generated photo-like images without ``shared/``), each saved as JPEG 90 and labelled
   with ``label_media`` as a provider would: its mark is made with the provider's secret key (the
   public key with ``--public-mark``). ``label_key`` is the one place that learns which key a label
   used.
2. **The attacker's collection.** ``--collection`` other images (random crops of the same photos,
   so every one is different) marked with the same key and saved as the labeller saves them (JPEG
   95, 4:4:4): their high-pass residuals are averaged for the residual-averaging attack. The
   anchors get their own collection (marked by them).
3. **Sweep.** Every attack family of ``bench/label_attack_suite.py`` at every strength on the first
   ``--sweep-images`` labelled images (30): PSNR and SSIM against the labelled pixels, and whether
   the label's own key still reads the label's payload (exact payload). Two settings are then
   picked per family: **q35**, the one that leaves the fewest exact payloads among those whose mean
   PSNR is >= 35 dB or mean SSIM >= 0.95, and **best**, the one that leaves the fewest over the
   whole sweep whatever the damage (ties, both: the lower mean mark confidence; then, for q35 the
   stronger setting, for best the higher PSNR). A family none of whose settings keeps the quality
   has no q35 row.
4. **Attack and verify.** At the picked settings, each attack alone and followed by a mirror, a
   crop keeping 70 % of each side, and a width x0.9 aspect change. Each attacked image is saved as
   PNG (``--victim-format jpeg``: JPEG 90), which drops every byte of metadata (what a victim
   finds), and given to ``verify_media``: verdict rates (recovered counts only when the verdict
   leads to this image's own manifest; one that leads to another is "wrong"). The anchors
   (invisible-watermark 0.2.0's dwtDct and rivaGan, loaded by ``bench/watermark.py``) mark the same
   source images and face the same attacks at the same settings (exact 32-bit payload only). They
   have no keys: their "oracle" attacks decode the bits and re-embed them, "without the key" is
   the same attack, and "overwrite, another secret key" does not apply. rivaGan costs about 4 s per
   embed or decode at 512x512 and 30 s at 1080p on one core, so it runs on the first
   ``--rivagan-images`` images, at the ``--rivagan-sizes`` sizes only.
5. **Never-labelled images.** ``--unlabelled`` photos this installation never labelled (the
   collections' other photos, screenshots, text, faces; generated images to fill) are verified
   too: none may read ``verified`` or ``recovered``.

PSNR and SSIM (``bench/watermark_attacks.py``'s) are measured on the base attack; a row with a
geometric step after it shows the base attack's figures (a mirrored or cropped image has no
pixel-wise distance to the labelled one). Target, shown beside each row: recovered-or-better
>= 90 % wherever the attack keeps >= 35 dB (or SSIM >= 0.95).

Machine, versions, command and date go with the figures; ``--json OUT`` writes everything
(per-setting sweep figures, per-row counts, timings) to OUT. Thread pools are pinned to one
thread per process. Rough cost on 2 cores (``--jobs 2``, AMD EPYC, 2026-12): ``--quick`` 8-13
minutes; the full default run (100 images at both sizes) about 3 hours on otherwise idle cores,
twice that when other work shares them. At 1080p an image costs about 57 s of sweep (non-local
means: 12 s a call) and 140 s of attacks, readings and verifications (0.6 s each); at 512 px about
6 s and 12 s, plus about 400 s for each image rivaGan marks and 4 s for each image of its
collection. ``--sweep-images``, ``--images``, ``--rivagan-images`` and ``--anchor-collection`` cut it.
"""

from __future__ import annotations

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()  # before numpy, Pillow, OpenCV or onnxruntime load

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import multiprocessing  # noqa: E402
import multiprocessing.util  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import zlib  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from bench_environment import (  # noqa: E402
    NATURAL_PHOTO_GLOBS,
    cpu_model,
    interpreter,
    package_version,
    print_results_table,
    shared_data_dir,
    use_checkout_sources,
)

use_checkout_sources()

import label_attack_suite as las  # noqa: E402
import watermark as wm  # noqa: E402
import watermark_attacks as wa  # noqa: E402
from deepshield.services.access import Principal, Role  # noqa: E402
from deepshield.services.context import ServiceContext  # noqa: E402
from deepshield.services.label import labelling  # noqa: E402
from deepshield.services.label.labelling import LabelResult, label_media  # noqa: E402
from deepshield.services.label.signing_keys import init_signing_keys  # noqa: E402
from deepshield.services.verify.verification import verify_media  # noqa: E402
from deepshield.settings import Settings  # noqa: E402
from deepshield.watermark import PUBLIC_KEY, WatermarkKey, detect, embed  # noqa: E402
from deepshield.watermark.keys import PUBLIC_KEY_ID  # noqa: E402
from label_verify import classify  # noqa: E402

if wa.cv2 is not None:
    wa.cv2.setNumThreads(1)

#: Labels as a provider would; the installation's set-up (signing keys) is the operator's.
ACTOR = Principal("bench:label_attacks", Role.PROVIDER)
OPERATOR = Principal("bench:label_attacks", Role.ADMIN)
GENERATOR = "BenchGen"
INPUT_JPEG = {"quality": 90, "subsampling": 2}  # the inputs: a typical generator's JPEG
VERDICTS = ("verified", "recovered", "wrong", "invalid", "unknown", "error")
ANCHORS = ("dwtDct", "rivaGan")
QUALITY_PSNR, QUALITY_SSIM = 35.0, 0.95
TARGET_PCT = 90.0
#: Never-labelled images, after the natural photos that were not labelled: other kinds of image.
UNLABELLED_GLOBS = ("photos/pypi/*/*.jpg", "photos/pypi/*/*.png", "photos/screens_uswds/*.jpg",
                    "photos/screens_uswds/*.png", "photos/text_easyocr/*",
                    "faces/real/*/*.jpg", "faces/fake/*/*.jpg", "faces/real/*/*.png", "faces/fake/*/*.png")


def _seeded(*parts: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(":".join(str(p) for p in parts).encode()))


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _encode(pixels: np.ndarray, fmt: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, fmt, **options)
    return buffer.getvalue()


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _short(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:200]}"


# ---------------------------------------------------------------------------- the label's key


def label_key(ctx: ServiceContext, result: LabelResult) -> WatermarkKey:
    """The key a label's mark was made with: the one place this benchmark learns it.

    ``LabelResult.watermark_key_id`` names it (a ``LabelResult`` without one was marked with the
    public key); a provider's secret key is then found among the keys this repository reads with.
    """
    key_id = getattr(result, "watermark_key_id", None) or PUBLIC_KEY_ID
    if key_id == PUBLIC_KEY_ID:
        return PUBLIC_KEY
    from deepshield.services.label.watermark_keys import reading_keys

    for key in reading_keys(ctx):
        if key.key_id == key_id:
            return key
    raise RuntimeError(f"the label's watermark key {key_id} is not among the repository's keys")


def provider_key(ctx: ServiceContext, public_mark: bool) -> WatermarkKey | None:
    """The key ``label_media`` will mark this provider's labels with, made now if it is the first
    (before the workers start, so that two first labels cannot race to make two keys); None when
    ``labelling`` has no notion of provider keys (every label then uses the public key)."""
    choose = getattr(labelling, "labelling_key", None)
    return None if choose is None else choose(ctx, ACTOR, public_mark=public_mark)


# ---------------------------------------------------------------------------- inputs


def _natural_paths() -> list[Path]:
    """The natural photos, round-robin over their collections (``make_inputs``' order)."""
    photos = shared_data_dir() / "photos"
    if not photos.is_dir():
        return []
    groups = []
    for pattern in NATURAL_PHOTO_GLOBS:
        usable = []
        for path in sorted(photos.glob(pattern)):
            with Image.open(path) as image:
                if image.mode in ("RGB", "RGBA", "P"):
                    usable.append(path)
        if usable:
            groups.append(usable)
    return [g[i] for i in range(max((len(g) for g in groups), default=0)) for g in groups if i < len(g)]


def collection_image(k: int, size: str, paths: list[Path]) -> np.ndarray:
    """The attacker's k-th other image: a random crop (60-100 % of each side) of a photo, fitted
    to the size (mirrored every other pass), so that no two are the same; generated without photos."""
    width, height = wm.SIZES[size]
    if not paths:
        return wm.generated_image(width, height, seed=50_000 + k)
    image = wm._load(paths[k % len(paths)])
    rng = _seeded("collection", k)
    w, h = image.size
    frac = rng.uniform(0.6, 1.0)
    cw, ch = max(1, round(w * frac)), max(1, round(h * frac))
    x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    image = image.crop((x, y, x + cw, y + ch))
    if (k // len(paths)) % 2:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return wm.fit(image, width, height)


def unlabelled_images(count: int, size: str, skip: int, paths: list[Path]) -> tuple[list[np.ndarray], str]:
    """Images this installation never labelled: the natural photos after the first ``skip`` (the
    labelled ones), then screenshots, text, sample and face images, then generated ones."""
    width, height = wm.SIZES[size]
    data = shared_data_dir()
    sources = list(paths[skip:])
    if data.is_dir():
        for pattern in UNLABELLED_GLOBS:
            sources += sorted(data.glob(pattern))
    sources = list(dict.fromkeys(sources))
    images: list[np.ndarray] = []
    used = Counter[str]()
    for path in sources:
        if len(images) >= count:
            break
        try:
            images.append(wm.fit(wm._load(path), width, height))
        except OSError:
            continue
        used[path.relative_to(data).parts[0] if data in path.parents else "other"] += 1
    generated = 0
    while len(images) < count:
        images.append(wm.generated_image(width, height, seed=70_000 + generated))
        generated += 1
    note = ", ".join(f"{n} from {where}" for where, n in used.items()) or "no shared images"
    return images, f"{note}; {generated} generated"


# ---------------------------------------------------------------------------- anchors


def anchor_tools(method: wm.Method, estimate: np.ndarray | None) -> las.AttackerTools:
    """The key-aware attacks for a keyless anchor: re-marking decodes the bits and embeds them
    again (the public code is all it takes, so "without the key" is the same); overwriting embeds
    other random bits, scaled; no "other secret key" exists."""

    def remark(rgb: np.ndarray) -> np.ndarray | None:
        decoded = method.detect(rgb)
        if decoded.bits is None:
            return None
        return method.embed(rgb, wm.Payload(decoded.bits, wm.bits_to_int(decoded.bits)))

    def mark_other(rgb: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
        bits = rng.integers(0, 2, method.bits).astype(np.uint8)
        return las.scaled_mark(rgb, method.embed(rgb, wm.Payload(bits, wm.bits_to_int(bits))), strength)

    return las.AttackerTools(remark_with_key=remark, remark_without_key=remark, overwrite_public=mark_other,
                             overwrite_other_key=None, residual_estimate=estimate)


# ---------------------------------------------------------------------------- worker state


@dataclass
class Plan:
    """One size's run, shared with the worker processes (they are forked after it is filled)."""

    size: str
    home: Path
    sources: list[np.ndarray]  # the photos, as decoded from their input JPEG
    inputs: list[bytes]  # the JPEGs given to label_media
    paths: list[Path]
    families: list[str]
    victim_format: str
    public_mark: bool
    anchors: list[wm.Method]
    rivagan_images: int
    anchor_collection: int
    labels: list[LabelResult] = field(default_factory=list)
    key: WatermarkKey | None = None
    estimates: dict[str, np.ndarray] = field(default_factory=dict)  # scheme -> residual estimate
    picks: list[tuple[str, float]] = field(default_factory=list)  # (family, strength)
    unlabelled: list[np.ndarray] = field(default_factory=list)

    def anchors_for(self, index: int) -> list[wm.Method]:
        return [m for m in self.anchors if m.name != "rivaGan" or index < self.rivagan_images]


_PLAN: dict[str, Plan] = {}
_WORKER: dict[str, Any] = {}


def _init_worker(open_store: bool) -> None:
    plan = _PLAN["plan"]
    if open_store:
        ctx = ServiceContext.open(Settings(home=plan.home))
        _WORKER["ctx"] = ctx
        multiprocessing.util.Finalize(ctx, ctx.close, exitpriority=10)
    for method in plan.anchors:
        method.prepare()


def _ctx() -> ServiceContext:
    return _WORKER["ctx"]


def _victim_file(pixels: np.ndarray, victim_format: str) -> bytes:
    if victim_format == "jpeg":
        return _encode(pixels, "JPEG", quality=90, subsampling=2)
    return _encode(pixels, "PNG", compress_level=1)


# ---------------------------------------------------------------------------- tasks


def task_label(index: int) -> tuple[int, LabelResult | None, WatermarkKey | None, str | None, float]:
    plan = _PLAN["plan"]
    started = time.perf_counter()
    options: dict[str, Any] = {"public_mark": True} if plan.public_mark else {}
    try:
        result = label_media(_ctx(), plan.inputs[index], generator=GENERATOR, model="bench",
                             principal=ACTOR, **options)
        return index, result, label_key(_ctx(), result), None, time.perf_counter() - started
    except Exception as exc:
        return index, None, None, _short(exc), time.perf_counter() - started


def task_collection(ks: list[int]) -> tuple[dict[str, las.ResidualAverage], float]:
    """Part of the attacker's collection: each image loaded once, then marked by every scheme (ours
    with the label's key, saved as the labeller saves; each anchor by itself), residuals summed."""
    plan = _PLAN["plan"]
    assert plan.key is not None
    started = time.perf_counter()
    averages = {"ours": las.ResidualAverage(), **{m.name: las.ResidualAverage() for m in plan.anchors}}
    for k in ks:
        pixels = collection_image(k, plan.size, plan.paths)
        payload = int.from_bytes(_seeded("collection payload", k).bytes(8), "big")
        labelled = _encode(embed(pixels, payload, key=plan.key), "JPEG", **labelling._IMAGE_OUTPUT["jpeg"][2])
        averages["ours"].add(_decode(labelled))
        for method in plan.anchors if k < plan.anchor_collection else ():
            averages[method.name].add(method.embed(pixels, wm.make_payload(method.bits, "collection", k)))
    return averages, time.perf_counter() - started


def _ours_read(pixels: np.ndarray, key: WatermarkKey, payload: int) -> dict[str, Any]:
    detection = detect(pixels, keys=[key])
    mine = [m for m in detection.marks if m.key_id == key.key_id]
    right = [m for m in mine if m.payload == payload]
    return {"exact": bool(right), "wrong": bool(mine) and not right,
            "confidence": right[0].confidence if right else 0.0}


def task_sweep(index: int) -> list[dict[str, Any]]:
    plan = _PLAN["plan"]
    result = plan.labels[index]
    assert plan.key is not None
    labelled = _decode(result.data)
    payload = int(result.label_id, 16)
    tools = las.ours_tools(plan.key, payload, plan.estimates.get("ours"))
    records = []
    for name in plan.families:
        family = las.FAMILIES[name]
        for strength in family.strengths:
            started = time.perf_counter()
            row: dict[str, Any] = {"image": index, "family": name, "strength": strength}
            try:
                attack = family.build(strength, tools)
                assert attack is not None
                attacked = attack(labelled, _seeded(plan.size, index, name, strength))
                row.update(psnr=wa.psnr(labelled, attacked), ssim=wa.ssim(labelled, attacked),
                           **_ours_read(attacked, plan.key, payload))
            except Exception as exc:
                row.update(error=_short(exc), exact=False, wrong=False, confidence=0.0)
            row["seconds"] = time.perf_counter() - started
            records.append(row)
    return records


def _verify(pixels: np.ndarray, result: LabelResult, victim_format: str) -> dict[str, Any]:
    try:
        report = verify_media(_ctx(), _victim_file(pixels, victim_format), principal=ACTOR)
    except Exception as exc:
        return {"verdict": "error", "reason": _short(exc)}
    outcome = classify(report, result)
    verdict = outcome["verdict"]
    if verdict in ("verified", "recovered") and not outcome["right_manifest"]:
        verdict = "wrong"
    return {"verdict": verdict, "via": outcome["via"], "watermark_found": outcome["watermark_found"],
            "reason": outcome["reason"]}


def task_attack(index: int) -> list[dict[str, Any]]:
    """The picked settings on one labelled image (and its anchors' versions), each alone and
    followed by every geometric step: exact payload, and the victim's verdict for ours."""
    plan = _PLAN["plan"]
    result = plan.labels[index]
    assert plan.key is not None
    labelled = _decode(result.data)
    payload = int(result.label_id, 16)
    key = plan.key
    schemes: list[tuple[str, np.ndarray, las.AttackerTools, Callable[[np.ndarray], bool]]] = [
        ("ours", labelled, las.ours_tools(key, payload, plan.estimates.get("ours")),
         lambda pixels: _ours_read(pixels, key, payload)["exact"])]
    for method in plan.anchors_for(index):
        mark = wm.make_payload(method.bits, plan.size, index, method.name)
        try:
            marked = method.embed(plan.sources[index], mark)
        except Exception as exc:
            _progress(f"  {method.name} cannot mark image {index}: {_short(exc)}")
            continue
        schemes.append((method.name, marked, anchor_tools(method, plan.estimates.get(method.name)),
                        lambda pixels, m=method, p=mark: m.detect(pixels).payload == p.value))
    records = []
    for name, strength in plan.picks:
        family = las.FAMILIES[name]
        for scheme, marked, tools, exact in schemes:
            attack = family.build(strength, tools)
            if attack is None:
                continue
            started = time.perf_counter()
            try:
                base = attack(marked, _seeded(plan.size, index, name, strength))
            except Exception as exc:
                records += [{"image": index, "family": name, "strength": strength, "post": post,
                             "scheme": scheme, "exact": False, "error": _short(exc)}
                            for post in las.POST_STEPS]
                continue
            for post, (_, step) in las.POST_STEPS.items():
                row: dict[str, Any] = {"image": index, "family": name, "strength": strength, "post": post,
                                       "scheme": scheme}
                try:
                    pixels = step(base, _seeded(plan.size, index, name, strength, post))
                    row["exact"] = bool(exact(pixels))
                    if scheme == "ours":
                        row.update(_verify(pixels, result, plan.victim_format))
                except Exception as exc:
                    row.update(exact=False, error=_short(exc))
                records.append(row)
            records[-1]["setting_seconds"] = time.perf_counter() - started  # the base and its steps
    return records


def task_unlabelled(index: int) -> dict[str, Any]:
    plan = _PLAN["plan"]
    pixels = plan.unlabelled[index]
    assert plan.key is not None
    found = bool(detect(pixels, keys=[plan.key]).found)
    try:
        report = verify_media(_ctx(), _victim_file(pixels, plan.victim_format), principal=ACTOR)
        return {"verdict": report.verdict, "key_found": found, "reason": report.reasons[0] if report.reasons
                else ""}
    except Exception as exc:
        return {"verdict": "error", "key_found": found, "reason": _short(exc)}


def _pool_map(function: Callable[[Any], Any], items: Iterable[Any], jobs: int, what: str,
              open_store: bool = True) -> list[Any]:
    """``function`` over ``items`` in ``jobs`` forked workers (in order of completion), with progress."""
    items = list(items)
    started = time.perf_counter()
    out: list[Any] = []
    step = max(1, len(items) // 10)

    def note(done: int) -> None:
        if done % step == 0 or done == len(items):
            took = time.perf_counter() - started
            left = took / done * (len(items) - done)
            _progress(f"  [{what}] {done}/{len(items)}, {took:.0f} s, ~{left:.0f} s left")

    if jobs <= 1 or len(items) <= 1:
        _init_worker(open_store)
        try:
            for done, item in enumerate(items, 1):
                out.append(function(item))
                note(done)
        finally:
            ctx = _WORKER.pop("ctx", None)
            if ctx is not None:
                ctx.close()
        return out
    pool = multiprocessing.get_context("fork").Pool(jobs, initializer=_init_worker, initargs=(open_store,))
    try:
        for done, value in enumerate(pool.imap_unordered(function, items, chunksize=1), 1):
            out.append(value)
            note(done)
    finally:
        pool.close()
        pool.join()
    return out


# ---------------------------------------------------------------------------- choosing settings


def sweep_table(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (family, strength): images, exact %, mean PSNR/SSIM/confidence, errors, seconds."""
    cells: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in records:
        cells.setdefault((r["family"], r["strength"]), []).append(r)
    table = []
    for (name, strength), rows in cells.items():
        measured = [r for r in rows if "psnr" in r]
        table.append({
            "family": name, "strength": strength, "images": len(rows),
            "exact_pct": 100.0 * sum(r["exact"] for r in rows) / len(rows),
            "wrong_pct": 100.0 * sum(r["wrong"] for r in rows) / len(rows),
            "psnr": float(np.mean([r["psnr"] for r in measured])) if measured else None,
            "ssim": float(np.mean([r["ssim"] for r in measured])) if measured else None,
            "confidence": float(np.mean([r["confidence"] for r in rows])),
            "errors": sum(1 for r in rows if "error" in r),
            "seconds": float(np.mean([r["seconds"] for r in rows])),
        })
    order = {name: i for i, name in enumerate(las.FAMILIES)}
    return sorted(table, key=lambda c: (order[c["family"]],
                                        las.FAMILIES[c["family"]].strengths.index(c["strength"])))


def keeps_quality(cell: dict[str, Any]) -> bool:
    return (cell["psnr"] or 0) >= QUALITY_PSNR or (cell["ssim"] or 0) >= QUALITY_SSIM


def pick_settings(sweep: list[dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """Per family: ``q35`` (fewest exact payloads among the settings that keep the quality; ties:
    the stronger) and ``best`` (fewest over the sweep; ties: weaker mark, then higher PSNR)."""
    picks: dict[str, dict[str, float | None]] = {}
    for name in dict.fromkeys(c["family"] for c in sweep):
        cells = [c for c in sweep if c["family"] == name]
        kept = [c for c in cells if keeps_quality(c)]
        q35 = min(kept, key=lambda c: (c["exact_pct"], c["confidence"], c["psnr"] or 0)) if kept else None
        best = min(cells, key=lambda c: (c["exact_pct"], c["confidence"], -(c["psnr"] or 0)))
        picks[name] = {"q35": None if q35 is None else q35["strength"], "best": best["strength"]}
    return picks


# ---------------------------------------------------------------------------- one size


def _pct(part: int, whole: int) -> float | None:
    return 100.0 * part / whole if whole else None


def summarise(records: list[dict[str, Any]], sweep: list[dict[str, Any]],
              picks: dict[str, dict[str, float | None]], anchors: list[str]) -> list[dict[str, Any]]:
    by_cell = {(c["family"], c["strength"]): c for c in sweep}
    rows = []
    for name, pick in picks.items():
        strengths = list(dict.fromkeys(s for s in (pick["q35"], pick["best"]) if s is not None))
        for strength in strengths:
            tags = [t for t in ("q35", "best") if pick[t] == strength]
            cell = by_cell[(name, strength)]
            for post, (post_label, _) in las.POST_STEPS.items():
                here = [r for r in records if r["family"] == name and r["strength"] == strength
                        and r["post"] == post]
                ours = [r for r in here if r["scheme"] == "ours"]
                n = len(ours)
                verdicts = Counter(r.get("verdict", "error") for r in ours)
                good = verdicts["verified"] + verdicts["recovered"]
                exact = sum(r["exact"] for r in ours)
                quality = keeps_quality(cell)
                row: dict[str, Any] = {
                    "family": name, "attack": las.FAMILIES[name].label + (f" {post_label}" if post else ""),
                    "post": post, "strength": strength, "unit": las.FAMILIES[name].unit,
                    "pick": "+".join(tags), "psnr": cell["psnr"], "ssim": cell["ssim"], "images": n,
                    "exact": exact, "exact_pct": _pct(exact, n),
                    **{f"{v}_pct": _pct(verdicts[v], n) for v in VERDICTS},
                    "verdict_counts": dict(verdicts),
                    "recovered_or_better_pct": _pct(good, n),
                    "by_watermark_pct": _pct(sum(1 for r in ours if r.get("via") == "watermark"
                                                 and r.get("verdict") == "recovered"), n),
                    "errors": [r["error"] for r in ours if "error" in r][:3],
                    "keeps_quality": quality,
                    "meets_target": None if not quality or not n else 100.0 * good / n >= TARGET_PCT,
                }
                for anchor in anchors:
                    mine = [r for r in here if r["scheme"] == anchor]
                    row[f"{anchor}_images"] = len(mine)
                    row[f"{anchor}_exact_pct"] = _pct(sum(r["exact"] for r in mine), len(mine))
                rows.append(row)
    return rows


def run_size(size: str, args: argparse.Namespace, anchors: list[wm.Method], inputs: wm.Inputs,
             paths: list[Path]) -> dict[str, Any]:
    started = time.perf_counter()
    phases: dict[str, float] = {}
    report: dict[str, Any] = {"size": "x".join(map(str, wm.SIZES[size]))}
    sizes_anchors = [m for m in anchors if m.name != "rivaGan" or size in args.rivagan_sizes]
    with tempfile.TemporaryDirectory(prefix=f"ds-bench-attacks-{size}-") as home:
        ctx = ServiceContext.open(Settings(home=Path(home)))
        try:
            init_signing_keys(ctx, force=False, principal=OPERATOR)
            expected = provider_key(ctx, args.public_mark)
        finally:
            ctx.close()
        jpegs = [_encode(p, "JPEG", **INPUT_JPEG) for p in inputs.images[size][: args.images]]
        plan = Plan(size=size, home=Path(home), sources=[_decode(j) for j in jpegs], inputs=jpegs,
                    paths=paths, families=args.families, victim_format=args.victim_format,
                    public_mark=args.public_mark, anchors=sizes_anchors, rivagan_images=args.rivagan_images,
                    anchor_collection=args.anchor_collection)
        _PLAN["plan"] = plan

        mark = time.perf_counter()
        labelled = sorted(_pool_map(task_label, range(len(jpegs)), args.jobs, f"{size} label"))
        failed = [(i, why) for i, result, _, why, _ in labelled if result is None]
        if failed:
            raise RuntimeError(f"labelling failed for {len(failed)} image(s), first: {failed[0][1]}")
        plan.labels = [result for _, result, _, _, _ in labelled]  # type: ignore[misc]
        keys = {key.key_id: key for _, _, key, _, _ in labelled if key is not None}
        if len(keys) != 1 or (expected is not None and expected.key_id not in keys):
            raise RuntimeError(f"the labels were made with the keys {sorted(keys)}; expected one: "
                               f"{expected.key_id if expected else 'public'}")
        plan.key = next(iter(keys.values()))
        phases["label"] = time.perf_counter() - mark
        report["key_id"] = plan.key.key_id
        report["label_seconds_median"] = float(np.median([t for *_, t in labelled]))

        mark = time.perf_counter()
        if args.collection and "average" in args.families:
            chunks = max(1, args.jobs * 2)
            parts = [list(range(args.collection))[c::chunks] for c in range(chunks)]
            totals: dict[str, las.ResidualAverage] = {}
            for averages, _ in _pool_map(task_collection, [p for p in parts if p], args.jobs,
                                         f"{size} collection", open_store=False):
                for scheme, part in averages.items():
                    totals.setdefault(scheme, las.ResidualAverage()).merge(part)
            plan.estimates = {s: a.mean() for s, a in totals.items() if a.count}
        phases["collection"] = time.perf_counter() - mark

        mark = time.perf_counter()
        swept = min(len(jpegs), args.sweep_images)
        sweep_records = [r for rs in _pool_map(task_sweep, range(swept), args.jobs, f"{size} sweep",
                                               open_store=False) for r in rs]
        sweep = sweep_table(sweep_records)
        picks = pick_settings(sweep)
        plan.picks = [(name, s) for name, pick in picks.items()
                      for s in dict.fromkeys(v for v in (pick["q35"], pick["best"]) if v is not None)]
        phases["sweep"] = time.perf_counter() - mark

        mark = time.perf_counter()
        # The heaviest images (those rivaGan marks) first, so the workers finish together.
        order = sorted(range(len(jpegs)), key=lambda i: -len(plan.anchors_for(i)))
        attack_records = [r for rs in _pool_map(task_attack, order, args.jobs, f"{size} attack+verify")
                          for r in rs]
        phases["attack_verify"] = time.perf_counter() - mark

        mark = time.perf_counter()
        plan.unlabelled, unlabelled_note = unlabelled_images(args.unlabelled, size, args.images, paths)
        unlabelled = _pool_map(task_unlabelled, range(len(plan.unlabelled)), args.jobs, f"{size} unlabelled")
        phases["unlabelled"] = time.perf_counter() - mark
        _PLAN.pop("plan", None)

    anchor_names = [m.name for m in sizes_anchors]
    collection = args.collection if "average" in args.families else 0
    verdicts = Counter(u["verdict"] for u in unlabelled)
    report.update({
        "inputs": {"source": inputs.source, "note": inputs.note, "count": len(jpegs),
                   "names": inputs.names[: len(jpegs)], "upscaled": inputs.upscaled.get(size)},
        "collection": collection,
        "anchor_collection": min(collection, args.anchor_collection),
        "anchors": {m.name: {"images": sum(1 for i in range(len(jpegs)) if m in plan.anchors_for(i)),
                             "note": m.note} for m in sizes_anchors},
        "picks": picks,
        "sweep_images": swept,
        "sweep": sweep,
        "rows": summarise(attack_records, sweep, picks, anchor_names),
        "unlabelled": {"count": len(unlabelled), "note": unlabelled_note, "verdicts": dict(verdicts),
                       "key_found": sum(u["key_found"] for u in unlabelled),
                       "verified_or_recovered": verdicts["verified"] + verdicts["recovered"],
                       "reasons_of_hits": [u["reason"] for u in unlabelled
                                           if u["verdict"] in ("verified", "recovered")][:5]},
        "phases_s": phases,
        "seconds_per_image": {k: v * args.jobs / max(1, len(jpegs)) for k, v in phases.items()
                              if k in ("label", "sweep", "attack_verify")},
        # One picked setting on one image: the base attack, its four geometric steps, the readings
        # (and, for ours, the four verifications).
        "seconds_per_setting": {scheme: float(np.mean(times)) for scheme, times in _setting_times(
            attack_records).items()},
        "elapsed_s": time.perf_counter() - started,
    })
    return report


def _setting_times(records: list[dict[str, Any]]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {}
    for r in records:
        if "setting_seconds" in r:
            times.setdefault(r["scheme"], []).append(r["setting_seconds"])
    return times


# ---------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    return {"cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), "python": platform.python_version(),
            "numpy": package_version("numpy"), "opencv": package_version("opencv-python-headless"),
            "pillow": package_version("pillow"),
            "invisible_watermark": package_version("invisible-watermark"),
            "onnxruntime": package_version("onnxruntime"), "thread_env": THREAD_ENV,
            "load_average": os.getloadavg()}


def _strength(row: dict[str, Any]) -> str:
    return "-" if row["family"] == "none" else f"{row['strength']:g} {row['unit']}"


def print_report(report: dict[str, Any]) -> None:
    m = report["machine"]
    for size in report["sizes"]:
        anchors = list(size["anchors"])
        inputs = size["inputs"]
        head = [
            f"command: {report['command']}",
            f"date: {report['date_utc']}; machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, "
            f"--jobs {report['jobs']}; size {size['size']} took {size['elapsed_s']:.0f} s "
            f"({', '.join(f'{k} {v:.0f} s' for k, v in size['phases_s'].items())})",
            f"inputs: {inputs['count']} {inputs['source']} images ({inputs['note']}); "
            f"labels marked with key {size['key_id']}; victim file: {report['victim_format'].upper()} "
            f"(metadata stripped); residual averaging over {size['collection']} other marked images "
            f"(anchors: {size.get('anchor_collection', size['collection'])})",
            "anchors: " + (", ".join(f"{k} on {v['images']} images ({v['note']})"
                                     for k, v in size["anchors"].items()) or "none"),
        ]
        cols = [("attack", "attack", "{}"), ("strength", "strength_text", "{}"), ("pick", "pick", "{}"),
                ("PSNR", "psnr", "{:.1f}"), ("SSIM", "ssim", "{:.3f}"), ("n", "images", "{}"),
                ("exact %", "exact_pct", "{:.0f}"), ("verified %", "verified_pct", "{:.0f}"),
                ("recovered %", "recovered_pct", "{:.0f}"), ("of it by wm %", "by_watermark_pct", "{:.0f}"),
                ("invalid %", "invalid_pct", "{:.0f}"),
                ("unknown %", "unknown_pct", "{:.0f}"), ("wrong+err %", "wrong_err_pct", "{:.0f}"),
                ("target ≥90 %", "target", "{}")]
        cols += [(f"{a} exact %", f"{a}_exact_pct", "{:.0f}") for a in anchors]
        rows = []
        for r in size["rows"]:
            target = "n/a (<35 dB)" if not r["keeps_quality"] else (
                "-" if r["meets_target"] is None else ("meets" if r["meets_target"] else "MISSES"))
            rows.append({**r, "strength_text": _strength(r),
                         "wrong_err_pct": (r["wrong_pct"] or 0) + (r["error_pct"] or 0),
                         "target": f"{r['recovered_or_better_pct']:.0f} {target}"
                         if r["recovered_or_better_pct"] is not None else target})
        u = size["unlabelled"]
        misses = [r for r in size["rows"] if r["meets_target"] is False]
        no_q35 = [las.FAMILIES[name].label for name, pick in size["picks"].items() if pick["q35"] is None]
        footer = [
            "pick: q35 = the attacker's best setting that keeps >= 35 dB PSNR or SSIM >= 0.95; best = the "
            "attacker's best over the sweep; PSNR/SSIM of the base attack against the labelled image "
            "(rows with a geometric step show the base attack's)",
            "of it by wm = recovered through the watermark (the rest: through the fingerprint)",
            "exact = the label's payload read with the label's key; verdicts from verify_media on the "
            "attacked pixels; target = recovered-or-better %, required >= 90 % where the attack keeps the "
            "quality",
            "no setting keeps >= 35 dB or SSIM >= 0.95 (only the 'best' row): "
            + (", ".join(no_q35) or "none"),
            "rows missing the target: "
            + (", ".join(f"{r['attack']} @ {_strength(r)}" for r in misses) or "none"),
            f"never-labelled images: {u['count']} ({u['note']}): verdicts {u['verdicts']}; verified or "
            f"recovered: {u['verified_or_recovered']} (target 0); the label key's detector found a mark in "
            f"{u['key_found']}",
        ]
        print_results_table(head, cols, rows, title=f"Label attacks, {size['size']}", left=("attack", "pick"),
                            width=230, footer=footer)
    for note in report.get("notes", []):
        print(f"note: {note}")
    print(f"took {report['elapsed_s']:.0f} s")


def _parse_list(value: str, allowed: Iterable[str], what: str) -> list[str]:
    allowed = list(allowed)
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in allowed]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown {what}: {', '.join(bad)} "
                                         f"(choose from {', '.join(allowed)})")
    return list(dict.fromkeys(names))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=None, help="labelled images per size (100; --quick 12)")
    parser.add_argument("--size", choices=("512", "1080", "both"), default=None, help="both (--quick: 512)")
    parser.add_argument("--collection", type=int, default=200,
                        help="other marked images averaged for the residual attack (200)")
    parser.add_argument("--anchor-collection", type=int, default=None,
                        help="the anchors' own collection (--collection; --quick 40)")
    parser.add_argument("--sweep-images", type=int, default=30,
                        help="images the strength sweep runs on, to pick the settings (30; the picked "
                        "settings then run on every image)")
    parser.add_argument("--unlabelled", type=int, default=None,
                        help="never-labelled images verified (100; --quick 12)")
    parser.add_argument("--families", default=None,
                        help="comma list of attack families (all): " + ", ".join(las.FAMILIES))
    parser.add_argument("--anchors", default=",".join(ANCHORS), help="comma list of dwtDct, rivaGan, or none")
    parser.add_argument("--rivagan-images", type=int, default=None,
                        help="images rivaGan marks, per size (8; --quick 1)")
    parser.add_argument("--rivagan-sizes", default="512",
                        help="sizes rivaGan runs at: 512 (default) or 512,1080")
    parser.add_argument("--victim-format", choices=("png", "jpeg"), default="png",
                        help="how the attacked pixels are saved for verify (png)")
    parser.add_argument("--public-mark", action="store_true", help="label with the public key instead")
    parser.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (2)")
    parser.add_argument("--quick", action="store_true",
                        help="12 photos, 512 px, rivaGan on 1, anchors' collection 40")
    parser.add_argument("--json", metavar="OUT", help="also write the full results as JSON to OUT")
    parser.add_argument("--show", metavar="FILE", help="print the tables of a saved --json report and exit")
    args = parser.parse_args(argv)
    if args.show:
        print_report(json.loads(Path(args.show).read_text()))
        return 0
    args.images = args.images if args.images is not None else (12 if args.quick else 100)
    args.unlabelled = args.unlabelled if args.unlabelled is not None else (12 if args.quick else 100)
    args.rivagan_images = args.rivagan_images if args.rivagan_images is not None else (1 if args.quick else 8)
    if args.anchor_collection is None:
        args.anchor_collection = min(args.collection, 40) if args.quick else args.collection
    size = args.size or ("512" if args.quick else "both")
    sizes = ["512", "1080"] if size == "both" else [size]
    try:
        args.families = (_parse_list(args.families, las.FAMILIES, "family") if args.families
                         else list(las.FAMILIES))
        anchor_names = [] if args.anchors == "none" else _parse_list(args.anchors, ANCHORS, "anchor")
        args.rivagan_sizes = _parse_list(args.rivagan_sizes, wm.SIZES, "size")
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    counts = (args.collection, args.anchor_collection, args.unlabelled, args.rivagan_images)
    if min(args.images, args.jobs, args.sweep_images) < 1 or min(counts) < 0:
        parser.error("--images, --sweep-images and --jobs must be >= 1, the other counts >= 0")

    started = time.perf_counter()
    anchors, skipped = wm.load_methods(anchor_names)
    notes = [f"anchor {name} skipped: {why}" for name, why in skipped.items()]
    notes.append("oracle subtraction without the key: the public key reads nothing in a secret-key mark, so "
                 "the attacker subtracts the public-key mark of the label id the manifest names (a guess "
                 "that the mark is a public one); its other blind options are the fold, averaging, "
                 "denoising and resizing rows. Anchors have no key: both oracle rows are the same attack")
    for note in notes:
        _progress(f"note: {note}")
    if "none" in args.families:
        args.families.remove("none")
    args.families.insert(0, "none")  # the control always runs
    inputs = wm.make_inputs(args.images, sizes)
    paths = _natural_paths()
    _progress(f"{args.images} {inputs.source} image(s) at {', '.join(sizes)}; families "
              f"{', '.join(args.families)}; anchors {', '.join(m.name for m in anchors) or 'none'}")
    report: dict[str, Any] = {
        "benchmark": "label-attacks",
        "command": shlex.join([interpreter(), *sys.argv]) if argv is None else shlex.join(argv),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(), "jobs": args.jobs, "victim_format": args.victim_format,
        "public_mark": args.public_mark, "families": args.families,
        "thresholds": {"psnr": QUALITY_PSNR, "ssim": QUALITY_SSIM, "target_pct": TARGET_PCT},
        "sizes": [], "notes": notes,
    }
    status = 0
    try:
        for s in sizes:
            report["sizes"].append(run_size(s, args, anchors, inputs, paths))
    except Exception:
        traceback.print_exc()
        status = 2
    report["elapsed_s"] = time.perf_counter() - started
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
        _progress(f"wrote {args.json}")
    print_report(report)
    return status


if __name__ == "__main__":
    sys.exit(main())
