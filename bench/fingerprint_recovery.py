"""Benchmark: does a labelled output whose watermark was removed still read ``recovered``?

Usage::

    .venv/bin/python bench/fingerprint_recovery.py [--count 40] [--unrelated 40] [--size 512|1080]
        [--pairs N] [--json] [--rows FILE]

Issue 15, item 4: when an attacker removes the watermark, the registered fingerprint must still
find the label. The perfect remover is simulated: each photo is labelled for real
(``label_media`` in a fresh installation: SQLite in a temporary ``$DEEPSHIELD_HOME``, development
keys), and then the *unlabelled original pixels* are transformed and verified
(``verify_media``). They carry no watermark and no manifest, and their fingerprint is within a
few bits of the labelled output's, so only the fingerprint can recover the label.

Copies (every one also after JPEG quality 85, 4:2:0; the others are saved as PNG):

* ``as is``: the original pixels (the control);
* ``mirror``: mirrored left to right;
* ``crop centre K``: the centre keeping K % of each side, K = 90, 80, 70, 60;
* ``crop corner K``: a corner keeping K % of each side (the corner turns with the image);
* ``rotate ±3°``: rotated 3° about the centre, same canvas, corners black (Pillow, bicubic);
* ``caption top`` / ``caption bottom``: a white band of 22 % of the height with two lines of text
  added above (``bench/repost_transforms.caption``) or below the picture;
* ``aspect ±15 %``: the width scaled by 1.15 or 0.85, the height kept (Lanczos).

A genuine copy counts as recovered when the verdict is ``recovered`` with the image's own
manifest. Impostors, none of which may read ``recovered``: ``--unrelated`` photos that were never
labelled (as they are, mirrored, their centre 80 %), and each output's unlabelled pixels blended
with an unrelated photo (alpha 0.3-0.7, the labelled picture's weight) or put beside one
(collages: the left or top half of each).

``--pairs N`` also counts false matches at scale, without labelling: for N images of
``shared/data/photos`` and ``shared/data/faces`` (``bench/reposts.py``'s ``load_images``), what a
label would sign (the whole image's PDQ hash and ``signals.repost.region_hashes``) against the
lookup's query hashes (``manifest_registry.fingerprint_queries``) of four copies of every other
image (as is, mirrored, its centre 70 %, a caption band above): every (copy, unrelated image)
pair whose nearest hashes are within the repository's 31 bits is a false lookup, and one that
``image_attribution`` also attributes would read ``recovered``. Pairs of one picture (in two
collections: whole hashes within 31 bits) or of one source (``bench/reposts.py``'s
``RELATED_GROUPS``) are left out, and counted.

Inputs: natural photos of ``shared/data/photos`` (``bench/watermark.py``'s ``make_inputs``,
centre-cropped to 512x512 or 1920x1080), generated photo-like images where it is missing. The
labelled and the unrelated photos are distinct files. Progress goes to stderr; the figures, the
machine and the command go to stdout (Markdown, or JSON with ``--json``). About 0.3-0.5 s per
verified 512x512 copy on one core.
"""

from __future__ import annotations

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()  # before numpy or Pillow load

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from bench_environment import (  # noqa: E402
    cpu_model,
    fresh_installation,
    interpreter,
    package_version,
    use_checkout_sources,
)

use_checkout_sources()

import repost_transforms as rt  # noqa: E402
from deepshield.services.access import Principal, Role  # noqa: E402
from deepshield.services.context import ServiceContext  # noqa: E402
from deepshield.services.label.labelling import label_media  # noqa: E402
from deepshield.services.verify.verification import VerifyReport, verify_media  # noqa: E402
from watermark import make_inputs  # noqa: E402

LOOKUP_MAX_DISTANCE = 31  # the repository's PDQ threshold (DEEPSHIELD_PDQ_THRESHOLD)
MIN_QUALITY = 50  # DEEPSHIELD_PDQ_MIN_QUALITY

PROVIDER = Principal("bench:fingerprint_recovery", Role.PROVIDER)
OPERATOR = Principal("bench:fingerprint_recovery", Role.ADMIN)
VERIFIER = None  # the public, as POST /v1/verify
TARGET = 95.0
JPEG_QUALITY = 85
BLEND_ALPHAS = (0.3, 0.4, 0.5, 0.6, 0.7)
CORNERS = ((0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0))

Transform = Callable[[np.ndarray, int], np.ndarray]


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _encode(pixels: np.ndarray, jpeg: bool) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(np.ascontiguousarray(pixels))
    if jpeg:
        image.save(buffer, "JPEG", quality=JPEG_QUALITY, subsampling=2)
    else:
        image.save(buffer, "PNG")
    return buffer.getvalue()


def _crop(pixels: np.ndarray, keep: float, anchor_y: float, anchor_x: float) -> np.ndarray:
    height, width = pixels.shape[:2]
    kept_h, kept_w = round(height * keep), round(width * keep)
    top, left = round((height - kept_h) * anchor_y), round((width - kept_w) * anchor_x)
    return pixels[top:top + kept_h, left:left + kept_w]


def _rotate(degrees: float) -> Transform:
    def transform(pixels: np.ndarray, _index: int) -> np.ndarray:
        rotated = Image.fromarray(pixels).rotate(degrees, resample=Image.Resampling.BICUBIC,
                                                 fillcolor=(0, 0, 0))
        return np.asarray(rotated)

    return transform


def _aspect(factor: float) -> Transform:
    def transform(pixels: np.ndarray, _index: int) -> np.ndarray:
        height, width = pixels.shape[:2]
        resized = Image.fromarray(pixels).resize((round(width * factor), height), Image.Resampling.LANCZOS)
        return np.asarray(resized)

    return transform


def _caption(bottom: bool) -> Transform:
    def transform(pixels: np.ndarray, index: int) -> np.ndarray:
        rng = np.random.default_rng(zlib.crc32(f"caption:{index}".encode()))
        if not bottom:
            return rt.caption(pixels, rng)
        # The band below: caption the upside-down picture, turn it back (the text is upside down).
        return np.ascontiguousarray(rt.caption(np.ascontiguousarray(pixels[::-1]), rng)[::-1])

    return transform


def _centre(keep: float) -> Transform:
    return lambda pixels, _index: _crop(pixels, keep, 0.5, 0.5)


def _corner(keep: float) -> Transform:
    return lambda pixels, index: _crop(pixels, keep, *CORNERS[index % len(CORNERS)])


TRANSFORMS: dict[str, tuple[str, Transform]] = {
    "none": ("as is (control)", lambda pixels, _index: pixels),
    "mirror": ("mirror", lambda pixels, _index: pixels[:, ::-1]),
    **{f"centre{k}": (f"crop centre {k} %", _centre(k / 100)) for k in (90, 80, 70, 60)},
    **{f"corner{k}": (f"crop corner {k} %", _corner(k / 100)) for k in (90, 80, 70, 60)},
    "rotate+3": ("rotate +3°", _rotate(3.0)),
    "rotate-3": ("rotate −3°", _rotate(-3.0)),
    "caption-top": ("caption band above", _caption(bottom=False)),
    "caption-bottom": ("caption band below", _caption(bottom=True)),
    "aspect+15": ("aspect: width ×1.15", _aspect(1.15)),
    "aspect-15": ("aspect: width ×0.85", _aspect(0.85)),
}
UNRELATED_TRANSFORMS: dict[str, Transform] = {
    "unrelated as is": TRANSFORMS["none"][1],
    "unrelated mirrored": TRANSFORMS["mirror"][1],
    "unrelated centre 80 %": _centre(0.8),
}


def _blend(a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    return np.clip(np.rint(alpha * a.astype(np.float32) + (1 - alpha) * b.astype(np.float32)), 0,
                   255).astype(np.uint8)


def _half(a: np.ndarray, b: np.ndarray, vertical: bool) -> np.ndarray:
    out = b.copy()
    height, width = a.shape[:2]
    if vertical:
        out[:, : width // 2] = a[:, : width // 2]
    else:
        out[: height // 2] = a[: height // 2]
    return out


def _row(report: VerifyReport, seconds: float, own_manifest: str | None) -> dict[str, Any]:
    recovered = report.repository.get("recovered_manifest") or {}
    consistency = report.consistency or {}
    found = [match["manifest_id"] for match in report.repository.get("by_fingerprint", [])]
    return {
        "verdict": report.verdict,
        "manifest": recovered.get("manifest_id"),
        "own": own_manifest is not None and recovered.get("manifest_id") == own_manifest,
        "looked_up": own_manifest in found if own_manifest else bool(found),
        "watermark": bool(report.watermark.get("found")),
        "attribution": consistency.get("attribution"),
        "whole": consistency.get("whole_distance"),
        "region": consistency.get("region_distance"),
        "distance": consistency.get("distance"),
        "seconds": seconds,
        "summary": report.summary,
    }


def _verify(ctx: ServiceContext, data: bytes, own_manifest: str | None) -> dict[str, Any]:
    started = time.perf_counter()
    report = verify_media(ctx, data, principal=VERIFIER)
    return _row(report, time.perf_counter() - started, own_manifest)


def _distinct_photos(names: list[str]) -> None:
    """Refuse inputs where an unrelated photo is a labelled one (``make_inputs`` reuses photos,
    mirrored, past one pass over the collection)."""
    bare = [name.removesuffix(" (mirrored)") for name in names]
    if len(set(bare)) < len(bare):
        raise SystemExit(f"only {len(set(bare))} distinct photos for {len(names)} inputs: lower --count "
                         "or --unrelated (labelled and unrelated photos must be different pictures)")


def run(count: int, unrelated: int, size: str) -> dict[str, Any]:
    inputs = make_inputs(count + unrelated, [size])
    _distinct_photos(inputs.names)
    images = inputs.images[size]
    outputs, others = images[:count], images[count:]
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with fresh_installation("fingerprint", OPERATOR) as ctx:
        manifests = []
        for pixels in outputs:
            result = label_media(ctx, _encode(pixels, jpeg=False), generator="BenchGen", model=None,
                                 principal=PROVIDER)
            manifests.append(result.manifest_id)
        _progress(f"labelled {count} outputs")
        for index, pixels in enumerate(outputs):
            for name, (_, transform) in TRANSFORMS.items():
                copy = np.ascontiguousarray(transform(pixels, index))
                for jpeg in (False, True):
                    row = _verify(ctx, _encode(copy, jpeg), manifests[index])
                    rows.append({"group": "genuine", "kind": name, "jpeg": jpeg, "image": inputs.names[index],
                                 **row})
            partner = others[index % len(others)] if others else outputs[(index + 1) % count]
            for alpha in BLEND_ALPHAS:
                row = _verify(ctx, _encode(_blend(pixels, partner, alpha), False), manifests[index])
                rows.append({"group": "impostor", "kind": f"blend {alpha:.1f}", "jpeg": False,
                             "image": inputs.names[index], **row})
            for vertical, kind in ((True, "collage left half"), (False, "collage top half")):
                row = _verify(ctx, _encode(_half(pixels, partner, vertical), False), manifests[index])
                rows.append({"group": "impostor", "kind": kind, "jpeg": False, "image": inputs.names[index],
                             **row})
            _progress(f"{index + 1}/{count} outputs verified")
        for index, pixels in enumerate(others):
            for kind, transform in UNRELATED_TRANSFORMS.items():
                copy = np.ascontiguousarray(transform(pixels, index))
                row = _verify(ctx, _encode(copy, False), None)
                rows.append({"group": "impostor", "kind": kind, "jpeg": False,
                             "image": inputs.names[count + index], **row})
        _progress(f"{len(others)} unrelated photos verified")
    return {"rows": rows, "inputs": inputs.note, "source": inputs.source, "count": count,
            "unrelated": len(others), "size": size, "seconds": round(time.perf_counter() - started, 1)}


def false_matches(limit: int) -> dict[str, Any]:
    """Unrelated (copy, label) pairs the lookup finds, and those attribution would recover (``--pairs``).

    Imported here, not at the top: this part needs the lookup of issue 15, which the code before
    it (run for the "before" figures of the labelled part) does not have.
    """
    import faiss

    from deepshield.media import MediaKind
    from deepshield.services.label.manifest_registry import fingerprint_queries
    from deepshield.services.spread.hashing import MediaSignals
    from deepshield.services.verify.verification import attribution_candidates, image_attribution
    from deepshield.signals import repost
    from deepshield.signals.pdq import pdq_dihedral_from_pixels, pdq_from_pixels
    from reposts import load_images, source_group

    names, images, note = load_images(limit)
    copies: dict[str, Transform] = {"as is": TRANSFORMS["none"][1], "mirrored": TRANSFORMS["mirror"][1],
                                    "centre 70 %": _centre(0.7), "caption above": _caption(bottom=False)}
    signed: list[list[str]] = []
    # (image, copy, its lookup hashes, its attribution candidates: whole forms, region queries)
    queries: list[tuple[int, str, list[str], tuple[list[str], list[str]]]] = []
    for index, pixels in enumerate(images):
        signed.append([pdq_from_pixels(pixels).hex] + [h.hex for _, h in repost.region_hashes(pixels)])
        for kind, transform in copies.items():
            copy = np.ascontiguousarray(transform(pixels, index))
            variants = pdq_dihedral_from_pixels(copy)
            media = MediaSignals(kind=MediaKind.IMAGE, format="PNG", width=copy.shape[1],
                                 height=copy.shape[0], md5="", sha256="", pdq=variants[0][1],
                                 pdq_variants=tuple(variants),
                                 pdq_derived=tuple(repost.derived_queries(copy)),
                                 pdq_region_queries=tuple(repost.region_queries(copy)))
            lookup = fingerprint_queries(media, MIN_QUALITY)
            if lookup:
                queries.append((index, kind, lookup, attribution_candidates(media)))
        if (index + 1) % 50 == 0:
            _progress(f"false matches: {index + 1}/{len(images)} images hashed")
    groups = [source_group(name) for name in names]
    whole = [values[0] for values in signed]
    bank_codes = np.frombuffer(b"".join(bytes.fromhex(v) for values in signed for v in values), np.uint8)
    owners = np.repeat(np.arange(len(signed)), [len(values) for values in signed])
    index = faiss.IndexBinaryFlat(256)
    index.add(bank_codes.reshape(-1, 32))
    lookups = attributed = pairs = related = 0
    examples: list[list[str]] = []
    for image, kind, lookup, candidates in queries:
        codes = np.frombuffer(b"".join(bytes.fromhex(v) for v in lookup), np.uint8).reshape(-1, 32)
        _, _, labels = index.range_search(codes, LOOKUP_MAX_DISTANCE + 1)  # radius: strictly below
        found = set(owners[labels].tolist()) - {image}
        for other in range(len(signed)):
            if other == image:
                continue
            if groups[other] == groups[image] or \
                    (int(whole[other], 16) ^ int(whole[image], 16)).bit_count() <= LOOKUP_MAX_DISTANCE:
                related += 1
                continue
            pairs += 1
            if other in found:
                lookups += 1
                if image_attribution(signed[other], *candidates)["consistent"] is True:
                    attributed += 1
                    if len(examples) < 5:
                        examples.append([kind, names[image], names[other]])
    return {"inputs": note, "images": len(images), "copies": list(copies), "unrelated_pairs": pairs,
            "related_pairs_left_out": related, "found_by_the_lookup": lookups, "recovered": attributed,
            "examples": examples}


def _percent(part: int, whole: int) -> float:
    return 100.0 * part / whole if whole else 0.0


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    genuine: dict[str, dict[str, Any]] = {}
    for name, (label, _) in TRANSFORMS.items():
        for jpeg in (False, True):
            subset = [r for r in rows if r["group"] == "genuine" and r["kind"] == name and r["jpeg"] == jpeg]
            if not subset:
                continue
            distances = [r["distance"] for r in subset if r["distance"] is not None]
            genuine[label + (f" + JPEG {JPEG_QUALITY}" if jpeg else "")] = {
                "n": len(subset),
                "recovered": _percent(sum(r["verdict"] == "recovered" and r["own"] for r in subset),
                                      len(subset)),
                "looked_up": _percent(sum(r["looked_up"] for r in subset), len(subset)),
                "verdicts": dict(Counter(r["verdict"] for r in subset)),
                "wrong": sum(r["verdict"] == "recovered" and not r["own"] for r in subset),
                "watermark": sum(r["watermark"] for r in subset),
                "distance_median": statistics.median(distances) if distances else None,
                "distance_max": max(distances) if distances else None,
            }
    impostors: dict[str, dict[str, Any]] = {}
    for kind in dict.fromkeys(r["kind"] for r in rows if r["group"] == "impostor"):
        subset = [r for r in rows if r["group"] == "impostor" and r["kind"] == kind]
        impostors[kind] = {
            "n": len(subset),
            "recovered": sum(r["verdict"] == "recovered" for r in subset),
            "looked_up": sum(r["looked_up"] for r in subset),
            "verdicts": dict(Counter(r["verdict"] for r in subset)),
        }
    seconds = [r["seconds"] for r in rows]
    return {"genuine": genuine, "impostors": impostors,
            "verify_seconds_median": statistics.median(seconds) if seconds else None,
            "verify_seconds_p95": float(np.percentile(seconds, 95)) if seconds else None}


def _markdown(report: dict[str, Any]) -> str:
    summary = report["summary"]
    lines = [f"## Fingerprint recovery without the watermark ({report['date_utc']})", "",
             f"- command: `{report['command']}`",
             f"- machine: {report['machine']}",
             f"- software: {report['software']}", ""]
    pairs = report.get("false_matches")
    if pairs is not None:
        lines += [f"False matches ({pairs['inputs']}; copies: {', '.join(pairs['copies'])}; took "
                  f"{pairs['seconds']} s): {pairs['found_by_the_lookup']} found by the lookup and "
                  f"{pairs['recovered']} recovered over {pairs['unrelated_pairs']:,} unrelated (copy, label) "
                  f"pairs; {pairs['related_pairs_left_out']:,} pairs of one picture or source left out"
                  + (f"; examples: {pairs['examples']}" if pairs["examples"] else ""), ""]
    if not summary["genuine"]:
        return "\n".join(lines)
    lines += [f"- took {report['seconds']} s; verify {summary['verify_seconds_median']:.2f} s median, "
              f"{summary['verify_seconds_p95']:.2f} s p95 per copy (wall)",
              f"- inputs: {report['inputs']}; {report['count']} labelled outputs at {report['size']}, "
              f"{report['unrelated']} unrelated photos", ""]
    if report["source"] != "shared":
        lines.insert(2, "**NOTE: shared/data/photos was not usable; the figures are on GENERATED images.**")
    lines += ["| copy of a labelled output, watermark removed | n | recovered % | found by the lookup % "
              "| verdicts | nearest signed fingerprint, bits: median / max |",
              "|---|---:|---:|---:|---|---|"]
    short: list[str] = []
    for label, s in summary["genuine"].items():
        flag = "" if s["recovered"] >= TARGET else f" **<{TARGET:g}**"
        verdicts = ", ".join(f"{verdict} {n}" for verdict, n in sorted(s["verdicts"].items()))
        nearest = "–" if s["distance_median"] is None else f"{s['distance_median']:g} / {s['distance_max']}"
        lines.append(f"| {label} | {s['n']} | {s['recovered']:.1f}{flag} | {s['looked_up']:.1f} | {verdicts} "
                     f"| {nearest} |")
        if s["recovered"] < TARGET:
            short.append(label)
        if s["wrong"] or s["watermark"]:
            short.append(f"{label}: {s['wrong']} recovered another output's manifest, {s['watermark']} "
                         "read a watermark")
    lines += ["", "| impostor (must never read recovered) | n | recovered | found by the lookup | verdicts |",
              "|---|---:|---:|---:|---|"]
    for kind, s in summary["impostors"].items():
        verdicts = ", ".join(f"{verdict} {n}" for verdict, n in sorted(s["verdicts"].items()))
        lines.append(f"| {kind} | {s['n']} | {s['recovered']} | {s['looked_up']} | {verdicts} |")
    lines += ["", "Below the target: " + ("; ".join(short) if short else "none")]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=40, help="labelled outputs (photos)")
    parser.add_argument("--unrelated", type=int, default=40, help="photos never labelled")
    parser.add_argument("--size", choices=("512", "1080"), default="512")
    parser.add_argument("--pairs", type=int, default=0,
                        help="also count false matches over every unrelated pair of this many images")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--rows", type=Path, help="also write every copy's verdict and distances here (JSON)")
    args = parser.parse_args()
    if args.count < 0 or args.unrelated < 0 or args.pairs < 0:
        parser.error("--count, --unrelated and --pairs are counts (0 or more)")
    result = run(args.count, args.unrelated, args.size) if args.count else {"rows": []}
    if args.pairs:
        started = time.perf_counter()
        found = false_matches(args.pairs)
        result["false_matches"] = {**found, "seconds": round(time.perf_counter() - started)}
    rows = result.pop("rows")
    if args.rows is not None:
        args.rows.write_text(json.dumps(rows))
    report = {
        **result,
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": shlex.join([interpreter(), "bench/fingerprint_recovery.py", *sys.argv[1:]]),
        "machine": f"{cpu_model()}, {os.cpu_count()} logical CPUs",
        "software": f"Python {platform.python_version()}, pdqhash {package_version('pdqhash')}, "
                    f"numpy {np.__version__}, Pillow {package_version('pillow')}; thread pools pinned to "
                    f"{THREAD_ENV['OMP_NUM_THREADS']} thread",
        "summary": summarise(rows),
    }
    print(json.dumps(report, indent=2) if args.json else _markdown(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
