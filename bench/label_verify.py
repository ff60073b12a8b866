"""Benchmark: label (watermark + signed C2PA manifest + registration) and verify, end to end.

Usage::

    .venv/bin/python bench/label_verify.py [--count-1080 8] [--count-attacks 20]
        [--count-forgeries 20] [--sizes 512[,1080]] [--quick] [--json]

One run measures three things, each in its own fresh installation (``ServiceContext`` on SQLite in
a temporary ``$DEEPSHIELD_HOME`` with ``init_signing_keys``), so that no section's registrations
can be found by another section's lookups:

1. **Throughput at 1080p.** ``label_media`` and ``verify_media`` per 1920x1080 JPEG (quality 90,
   4:2:0, built from natural photos by ``bench/watermark.py``'s ``make_inputs``; generated
   stand-ins without ``shared/data/photos``), after one untimed warm-up on a generated image.
   Wall time (``time.perf_counter``) and CPU time (``time.process_time``); thread pools pinned to
   one thread. The label time is split into its parts by timing the functions ``label_media``
   calls (decode, embed, fingerprint, sign, register; the rest is the JPEG encode, the manifest
   definition and the audit record); the JPEG encode is also timed apart, on the same pixels with
   the same options. The verify time is split the same way (fingerprint, C2PA read, watermark
   detection; the rest is repository lookups). A third row verifies the labelled image with its
   metadata removed (decoded and saved as PNG): the watermark path.
2. **Recovery after attacks.** Label M images per size, then, per image, verify: the labelled file
   as it is (must read ``verified``), the labelled JPEG with its APP11 (C2PA JUMBF) segments cut
   out byte for byte (pixels unchanged), and every attack of ``bench/watermark_attacks.py``
   (``ATTACKS``: 17 singles and 24 geometric+compression pairs; ``--quick``: ``QUICK``) applied to
   the decoded labelled pixels and saved as PNG (which drops the metadata, as any re-encode
   does). The attack generators are seeded by (size, image, attack). A copy counts as recovered
   when the verdict is ``verified`` or ``recovered`` *and* it leads to this image's own manifest;
   one that leads to another image's manifest is counted as "wrong". ``invalid`` on a genuine copy
   is a false alarm (the copy is flagged as a copied label).
3. **Forgeries**, K each (none may read ``verified``): (a) labelled by another installation whose
   CA this one does not trust; (b) a genuine manifest (its APP11 segments) transplanted into
   another photo; (c) a genuine labelled image with a block of its pixels replaced, re-encoded
   and its manifest spliced back; (c') the same with one bit of the JPEG scan flipped; (d) a
   genuine label id embedded as a watermark in another photo, no manifest; (e) a random,
   unregistered watermark payload in another photo; (f) labelled with a signing certificate
   from this installation's own, trusted CA that expired after signing (one sleep for all); and
   the control (g): the other photos unlabelled (expected ``unknown``).

Machine, versions, command and date are printed with the figures (Markdown; ``--json`` prints the
JSON instead). Progress goes to stderr. A default run takes about 3 minutes on 2 cores (about
0.15 s per attacked 512x512 copy, 0.6 s at 1080p: ``--sizes 512,1080`` adds about 9 minutes).
Genuine copies whose watermark was read but that read ``invalid`` also get a what-if distance: the
consistency distance had the crop hash set (``signals.repost.hash_set``) been registered too.
"""

from __future__ import annotations

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()  # before numpy or Pillow load

import argparse  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import traceback  # noqa: E402
import zlib  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402
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

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

import watermark_attacks as wa  # noqa: E402
from deepshield.provenance.c2pa_signing import SigningIdentity  # noqa: E402
from deepshield.provenance.certificates import (  # noqa: E402
    CA_CERTIFICATE_FILE,
    CA_KEY_FILE,
    create_ca,
    issue_signing_certificate,
)
from deepshield.services.access import Principal, Role  # noqa: E402
from deepshield.services.context import ServiceContext  # noqa: E402
from deepshield.services.label import labelling  # noqa: E402
from deepshield.services.label.labelling import LabelResult, label_media  # noqa: E402
from deepshield.services.spread.hashing import hash_media  # noqa: E402
from deepshield.services.verify import verification  # noqa: E402
from deepshield.services.verify.verification import CONSISTENCY_MAX_DISTANCE, VerifyReport, verify_media  # noqa: E402
from deepshield.signals.pdq import pdq_distance  # noqa: E402
from deepshield.signals.repost import hash_set  # noqa: E402
from deepshield.watermark import embed  # noqa: E402
from watermark import SIZES, Inputs, generated_image, make_inputs  # noqa: E402

if wa.cv2 is not None:
    wa.cv2.setNumThreads(1)

#: Labels as a provider would; the installation's set-up (signing keys) is the operator's.
ACTOR = Principal("bench:label_verify", Role.PROVIDER)
OPERATOR = Principal("bench:label_verify", Role.ADMIN)
GENERATOR = "BenchGen"
INPUT_JPEG = {"quality": 90, "subsampling": 2}  # the inputs: a typical generator's JPEG
VERDICTS = ("verified", "recovered", "invalid", "unknown", "error")
RECOVERY_TARGET = 99.0


def _rng(*parts: object) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(":".join(str(p) for p in parts).encode()))


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _jpeg(pixels: np.ndarray, **options: Any) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", **(options or INPUT_JPEG))
    return buffer.getvalue()


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()  # compress_level only changes the size and speed, never the pixels
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def _decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


# ---------------------------------------------------------------------------- JPEG segments


def _segments(jpeg: bytes) -> Iterator[tuple[int, int, int]]:
    """``(marker, start, end)`` of each marker segment before the scan (SOS)."""
    position = 2
    while position + 4 <= len(jpeg) and jpeg[position] == 0xFF:
        marker = jpeg[position + 1]
        if marker == 0xDA:
            return
        end = position + 2 + int.from_bytes(jpeg[position + 2 : position + 4], "big")
        yield marker, position, end
        position = end


def app11_segments(jpeg: bytes) -> bytes:
    """The APP11 (JUMBF) segments of a JPEG, where its C2PA manifest store lives."""
    return b"".join(jpeg[s:e] for marker, s, e in _segments(jpeg) if marker == 0xEB)


def strip_app11(jpeg: bytes) -> bytes:
    """The JPEG with its APP11 segments cut out, every other byte kept."""
    cut = [(s, e) for marker, s, e in _segments(jpeg) if marker == 0xEB]
    out, position = bytearray(), 0
    for s, e in cut:
        out += jpeg[position:s]
        position = e
    return bytes(out + jpeg[position:])


def splice_app11(jpeg: bytes, segments: bytes) -> bytes:
    """Insert APP11 segments after the leading APP0..APP10 segments (JFIF, EXIF), as c2pa does."""
    at = 2
    for marker, _, end in _segments(jpeg):
        if not 0xE0 <= marker < 0xEB:
            break
        at = end
    return jpeg[:at] + segments + jpeg[at:]


def flip_scan_bit(jpeg: bytes) -> bytes:
    """One bit flipped in the middle of the entropy-coded scan (no marker byte touched)."""
    out = bytearray(jpeg)
    sos = jpeg.rfind(b"\xff\xda")
    position = sos + (len(jpeg) - sos) // 2
    while out[position] in (0xFF, 0xFE, 0x00) or out[position - 1] == 0xFF:
        position += 1
    out[position] ^= 0x01
    return bytes(out)


# ---------------------------------------------------------------------------- timing parts


class PartClock:
    """Times named functions inside a module while they are called from the code under test."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}
        self.last: dict[str, Any] = {}
        self._restore: list[tuple[Any, str, Any]] = []

    def wrap(self, module: Any, name: str, part: str) -> None:
        original = getattr(module, name, None)
        if original is None:  # not used by this version of the module
            return

        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                result = original(*args, **kwargs)
            finally:
                self.parts[part] = self.parts.get(part, 0.0) + time.perf_counter() - start
            self.last[part] = result
            return result

        self._restore.append((module, name, original))
        setattr(module, name, timed)

    def reset(self) -> None:
        self.parts, self.last = {}, {}

    def restore(self) -> None:
        for module, name, original in reversed(self._restore):
            setattr(module, name, original)
        self._restore.clear()


LABEL_PARTS = (("decode_image", "decode"), ("embed", "embed"), ("hash_media", "fingerprint"),
               ("sign_media", "sign"), ("_register", "register"))
VERIFY_PARTS = (("hash_media", "fingerprint"), ("read_content_credentials", "C2PA read"),
                ("detect_watermark", "watermark"), ("read_manifest_store", "repository manifest read"))


def _stats_ms(samples: list[float]) -> dict[str, float | None]:
    ms = [s * 1000 for s in samples]
    return {"median_ms": statistics.median(ms) if ms else None, "p95_ms": _percentile(ms, 95),
            "mean_ms": statistics.fmean(ms) if ms else None}


def run_throughput(count: int) -> dict[str, Any]:
    _progress(f"[throughput] loading {count} 1080p inputs")
    inputs = make_inputs(count, ["1080"])
    sources = [_jpeg(pixels) for pixels in inputs.images["1080"]]
    rows: dict[str, dict[str, list[float]]] = {
        name: {"wall": [], "cpu": []} for name in ("label", "verify labelled", "verify stripped (PNG)")}
    label_parts: dict[str, list[float]] = {}
    verify_parts: dict[str, list[float]] = {}
    verdicts: dict[str, Counter[str]] = {"verify labelled": Counter(), "verify stripped (PNG)": Counter()}
    encode_apart: list[float] = []
    output_kib: list[float] = []
    clock = PartClock()
    for module, parts in ((labelling, LABEL_PARTS), (verification, VERIFY_PARTS)):
        for name, part in parts:
            clock.wrap(module, name, f"{module.__name__.rsplit('.', 1)[-1]}:{part}")
    try:
        with fresh_installation("throughput", OPERATOR) as ctx:
            warm = _jpeg(generated_image(1920, 1080, seed=99))
            warm_label = label_media(ctx, warm, generator=GENERATOR, model=None, principal=ACTOR)
            verify_media(ctx, warm_label.data, principal=ACTOR)
            verify_media(ctx, _png(_decode(warm_label.data)), principal=ACTOR)
            for i, data in enumerate(sources):
                clock.reset()
                wall, cpu = time.perf_counter(), time.process_time()
                result = label_media(ctx, data, generator=GENERATOR, model="bench", principal=ACTOR)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                rows["label"]["wall"].append(wall)
                rows["label"]["cpu"].append(cpu)
                parts = {k.split(":", 1)[1]: v for k, v in clock.parts.items() if k.startswith("labelling:")}
                parts["other (encode, definition, audit)"] = wall - sum(parts.values())
                for part, seconds in parts.items():
                    label_parts.setdefault(part, []).append(seconds)
                marked = clock.last.get("labelling:embed")
                if marked is not None:
                    _, _, options = labelling._IMAGE_OUTPUT["jpeg"]
                    start = time.perf_counter()
                    Image.fromarray(marked).save(io.BytesIO(), "JPEG", **options)
                    encode_apart.append(time.perf_counter() - start)
                output_kib.append(len(result.data) / 1024)
                for row, payload in (("verify labelled", result.data),
                                     ("verify stripped (PNG)", _png(_decode(result.data)))):
                    clock.reset()
                    wall, cpu = time.perf_counter(), time.process_time()
                    report = verify_media(ctx, payload, principal=ACTOR)
                    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                    rows[row]["wall"].append(wall)
                    rows[row]["cpu"].append(cpu)
                    verdicts[row][report.verdict] += 1
                    parts = {k.split(":", 1)[1]: v for k, v in clock.parts.items()
                             if k.startswith("verification:")}
                    parts["other (lookups, consistency)"] = wall - sum(parts.values())
                    for part, seconds in parts.items():
                        verify_parts.setdefault(f"{row}: {part}", []).append(seconds)
                _progress(f"[throughput] {i + 1}/{count}: label {rows['label']['wall'][-1] * 1000:.0f} ms, "
                          f"verify {rows['verify labelled']['wall'][-1] * 1000:.0f} ms")
    finally:
        clock.restore()
    table = []
    for name, samples in rows.items():
        wall, cpu = _stats_ms(samples["wall"]), _stats_ms(samples["cpu"])
        table.append({"row": name, "wall_median_ms": wall["median_ms"], "wall_p95_ms": wall["p95_ms"],
                      "cpu_median_ms": cpu["median_ms"], "cpu_p95_ms": cpu["p95_ms"],
                      "images_per_s": len(samples["wall"]) / sum(samples["wall"]),
                      "verdicts": dict(verdicts.get(name, {}))})
    return {
        "inputs": _inputs_view(inputs, "1080", len(sources), sources),
        "output_mean_kib": statistics.fmean(output_kib),
        "rows": table,
        "label_parts": {part: _stats_ms(v) for part, v in label_parts.items()},
        "encode_apart": _stats_ms(encode_apart),
        "verify_parts": {part: _stats_ms(v) for part, v in verify_parts.items()},
    }


def _inputs_view(inputs: Inputs, size: str, count: int, files: list[bytes] | None = None) -> dict[str, Any]:
    view: dict[str, Any] = {"source": inputs.source, "note": inputs.note, "count": count,
                            "size": "x".join(map(str, SIZES[size])),
                            "upscaled_sources": inputs.upscaled.get(size),
                            "mirrored": sum("(mirrored)" in n for n in inputs.names[:count])}
    if files:
        view["mean_kib"] = statistics.fmean(len(f) for f in files) / 1024
    return view


# ---------------------------------------------------------------------------- verdicts


def _reason(report: VerifyReport) -> str:
    """The first reason, with the one after it where the first only introduces it ("..., but:")."""
    reasons = list(report.reasons)
    if len(reasons) > 1 and reasons[0].rstrip().endswith(":"):
        return f"{reasons[0]} {reasons[1]}"
    return reasons[0] if reasons else ""


def classify(report: VerifyReport, result: LabelResult) -> dict[str, Any]:
    """One genuine copy's outcome: verdict, which layer found it, the right manifest or not."""
    watermark = report.watermark
    recovered = (report.repository.get("recovered_manifest") or {}).get("manifest_id")
    embedded = report.manifest or {}
    via = None
    right = None
    if report.verdict == "verified":
        via, right = "manifest", embedded.get("manifest_id") == result.manifest_id
    elif report.verdict == "recovered":
        via = "watermark" if watermark.get("found") else "fingerprint"
        right = recovered == result.manifest_id
    fingerprint = report.media.get("pdq")
    return {
        "verdict": report.verdict,
        "via": via,
        "right_manifest": right,
        "watermark_found": bool(watermark.get("found")),
        "watermark_right": watermark.get("label_id") == result.label_id if watermark.get("found") else None,
        "watermark_confidence": watermark.get("confidence"),
        "consistency_distance": (report.consistency or {}).get("distance"),
        # The plain hash the repository lookup uses (None: quality below the minimum).
        "pdq_distance": pdq_distance(fingerprint, result.pdq_hex) if fingerprint and result.pdq_hex else None,
        "reason": _reason(report),
    }


def registered_with_hash_set(result: LabelResult, labelled_pixels: np.ndarray) -> list[str]:
    """What-if: the label's PDQ binding plus the victim-side crop hash set of the labelled image."""
    return [h for h in [result.pdq_hex] if h] + [h.hex for _, h in hash_set(labelled_pixels)]


def what_if_distance(ctx: ServiceContext, data: bytes, registered: list[str]) -> int | None:
    """The consistency distance if ``registered`` were the label's fingerprints: the minimum over
    the file's plain, dihedral and derived hashes, as ``verification._consistency`` takes it."""
    media = hash_media(data, ctx.settings.limits, derived_queries=True)
    if media.pdq is None or not registered:
        return None
    candidates = [media.pdq.hex, *(h.hex for _, h in media.pdq_variants),
                  *(h.hex for _, h in media.pdq_derived)]
    return min(pdq_distance(a, b) for a in registered for b in candidates)


def _verify_safely(ctx: ServiceContext, data: bytes) -> VerifyReport | str:
    try:
        return verify_media(ctx, data, principal=ACTOR)
    except Exception as exc:  # an exception is a result here: counted and shown
        return f"{type(exc).__name__}: {exc}"


def _error_outcome(message: str) -> dict[str, Any]:
    return {"verdict": "error", "via": None, "right_manifest": None, "watermark_found": False,
            "watermark_right": None, "watermark_confidence": None, "consistency_distance": None,
            "pdq_distance": None, "reason": message}


def _summary(name: str, label: str, outcomes: list[dict[str, Any]]) -> dict[str, Any]:
    n = len(outcomes)

    def share(predicate: Callable[[dict[str, Any]], bool]) -> float:
        return 100.0 * sum(1 for o in outcomes if predicate(o)) / n if n else 0.0

    ok = [o for o in outcomes if o["verdict"] in ("verified", "recovered") and o["right_manifest"]]
    consistency = [o["consistency_distance"] for o in outcomes if o["consistency_distance"] is not None]
    plain = [o["pdq_distance"] for o in outcomes if o["pdq_distance"] is not None]
    return {
        "attack": name, "label": label, "images": n,
        "recovered_pct": 100.0 * len(ok) / n if n else 0.0,
        "manifest_pct": share(lambda o: o["via"] == "manifest" and bool(o["right_manifest"])),
        "watermark_pct": share(lambda o: o["via"] == "watermark" and bool(o["right_manifest"])),
        "fingerprint_pct": share(lambda o: o["via"] == "fingerprint" and bool(o["right_manifest"])),
        "wrong_pct": share(lambda o: o["via"] is not None and not o["right_manifest"]),
        "invalid_pct": share(lambda o: o["verdict"] == "invalid"),
        "unknown_pct": share(lambda o: o["verdict"] == "unknown"),
        "error_pct": share(lambda o: o["verdict"] == "error"),
        "watermark_found_pct": share(lambda o: o["watermark_found"] and o["watermark_right"] is not False),
        "consistency_distance_min": min(consistency) if consistency else None,
        "consistency_distance_max": max(consistency) if consistency else None,
        "consistency_distance_median": statistics.median(consistency) if consistency else None,
        "pdq_distance_median": statistics.median(plain) if plain else None,
        "pdq_distance_max": max(plain) if plain else None,
        "pdq_low_quality": n - len(plain) - sum(1 for o in outcomes if o["verdict"] == "error"),
    }


# ---------------------------------------------------------------------------- attacks


def run_attacks(inputs: Inputs, size: str, count: int, attacks: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    rows: dict[str, list[dict[str, Any]]] = {"as-is": [], "stripped": [], **{a: [] for a in attacks}}
    failures: list[dict[str, Any]] = []
    with fresh_installation(f"attacks-{size}", OPERATOR) as ctx:
        labelled: list[tuple[LabelResult, np.ndarray, list[str]]] = []
        for pixels in inputs.images[size][:count]:
            result = label_media(ctx, _jpeg(pixels), generator=GENERATOR, model=None, principal=ACTOR)
            marked = _decode(result.data)
            labelled.append((result, marked, registered_with_hash_set(result, marked)))
        _progress(f"[attacks {size}] labelled {count} images in {time.perf_counter() - started:.0f} s")
        for i, (result, marked, registered) in enumerate(labelled):
            cases: list[tuple[str, Callable[[], bytes]]] = [
                ("as-is", lambda r=result: r.data),
                ("stripped", lambda r=result: strip_app11(r.data)),
            ]
            for attack in attacks:
                function = wa.ATTACKS[attack][1]
                seed = _rng("attack", size, i, attack)
                cases.append((attack, lambda f=function, m=marked, g=seed: _png(f(m, g))))
            for name, make in cases:
                try:
                    data = make()
                except Exception as exc:  # a broken attack is reported, not fatal
                    outcome = _error_outcome(f"attack failed: {type(exc).__name__}: {exc}")
                else:
                    report = _verify_safely(ctx, data)
                    outcome = _error_outcome(report) if isinstance(report, str) else classify(report, result)
                    if outcome["verdict"] == "invalid" and outcome["watermark_found"]:
                        outcome["what_if_hash_set_distance"] = what_if_distance(ctx, data, registered)
                rows[name].append(outcome)
                good = outcome["verdict"] in ("verified", "recovered") and outcome["right_manifest"]
                if name == "as-is":
                    good = outcome["verdict"] == "verified" and outcome["right_manifest"]
                if not good or (outcome["via"] == "fingerprint"):
                    failures.append({"size": size, "image": i, "source": inputs.names[i], "attack": name,
                                     **outcome})
            _progress(f"[attacks {size}] image {i + 1}/{count} done, {time.perf_counter() - started:.0f} s")
    labels = {"as-is": "Labelled file as is", "stripped": "Metadata stripped only (APP11 cut)",
              **{a: wa.ATTACKS[a][0] + (" (decode + PNG)" if a == "none" else "") for a in attacks}}
    summaries = [_summary(name, labels[name], outcomes) for name, outcomes in rows.items()]
    for s in summaries:
        s["pair"] = wa.is_pair(s["attack"])
    return {"size": size, "inputs": _inputs_view(inputs, size, count), "rows": summaries,
            "failures_and_fingerprint_recoveries": failures, "elapsed_s": time.perf_counter() - started}


# ---------------------------------------------------------------------------- forgeries


FORGERY_CASES = {
    "a": "(a) signed by an untrusted foreign CA",
    "b": "(b) manifest transplanted into another photo",
    "c": "(c) pixels edited under the manifest (block replaced)",
    "c'": "(c') one bit of the JPEG scan flipped",
    "d": "(d) genuine label's watermark copied onto another photo",
    "e": "(e) random unregistered watermark payload",
    "f": "(f) trusted CA, certificate expired after signing",
    "g": "(g) control: the other photos, unlabelled",
}


def _forgery_outcome(report: VerifyReport | str) -> dict[str, Any]:
    if isinstance(report, str):
        return {"verdict": "error", "reason": report}
    manifest = report.manifest or {}
    return {
        "verdict": report.verdict,
        "reason": _reason(report),
        "reasons": report.reasons,
        "manifest": bool(report.manifest),
        "trusted": manifest.get("trusted"), "tampered": manifest.get("tampered"),
        "untrusted": manifest.get("untrusted"), "expired": manifest.get("expired"),
        "failure_codes": manifest.get("failure_codes"),
        "watermark_found": bool(report.watermark.get("found")),
        "consistency_distance": (report.consistency or {}).get("distance"),
        "by_fingerprint": len(report.repository.get("by_fingerprint") or []),
    }


def _pattern(reason: str) -> str:
    """A reason with its ids and numbers replaced, so that like reasons count together."""
    reason = re.sub(r"urn:c2pa:[0-9a-f-]+", "<manifest>", reason)
    reason = re.sub(r"\b[0-9a-f]{16}\b", "<label id>", reason)
    return re.sub(r"\b\d+\b", "N", reason)


def _expiring_identity(ctx: ServiceContext, seconds: float) -> tuple[SigningIdentity, datetime]:
    """A signer issued by this installation's own (trusted) development CA, valid ``seconds`` more."""
    directory = ctx.settings.provenance_dir
    ca_certificate = x509.load_pem_x509_certificate((directory / CA_CERTIFICATE_FILE).read_bytes())
    ca_key = serialization.load_pem_private_key((directory / CA_KEY_FILE).read_bytes(), None)
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=seconds)
    signer = issue_signing_certificate(ca_certificate, ca_key, not_before=now - timedelta(days=1),  # type: ignore[arg-type]
                                       not_after=expires, common_name="Bench short-lived signer")
    chain = signer.certificate_pem() + ca_certificate.public_bytes(serialization.Encoding.PEM)
    return SigningIdentity(chain, signer.private_key_pem()), expires


def run_forgeries(inputs: Inputs, first: int, count: int) -> dict[str, Any]:
    started = time.perf_counter()
    originals = inputs.images["512"][first : first + count]
    others = inputs.images["512"][first + count : first + 2 * count]
    outcomes: dict[str, list[dict[str, Any]]] = {case: [] for case in FORGERY_CASES}
    with (fresh_installation("forgeries", OPERATOR) as ctx,
          fresh_installation("forger", OPERATOR) as forger_ctx):
        # (f) first: sign while the certificate is valid, verify after it has expired.
        window = 3.0 + 0.3 * count
        identity, expires = _expiring_identity(ctx, window)
        expiring: list[LabelResult | str] = []
        for pixels in originals:
            try:
                expiring.append(label_media(ctx, _jpeg(pixels), generator="Shortlived", model=None,
                                            principal=ACTOR, identity=identity))
            except Exception as exc:
                expiring.append(f"signing failed: {type(exc).__name__}: {exc}")
        signed_before = datetime.now(UTC)
        _progress(f"[forgeries] (f) signed {count} with a certificate expiring at {expires:%H:%M:%S} "
                  f"(last signature {(expires - signed_before).total_seconds():.1f} s before)")
        foreign_ca = create_ca(common_name="Someone else's CA", organization="Elsewhere")
        foreign_signer = issue_signing_certificate(foreign_ca.certificate, foreign_ca.private_key,
                                                   common_name="Foreign signer", organization="Elsewhere")
        foreign = SigningIdentity(foreign_signer.certificate_pem() + foreign_ca.certificate_pem(),
                                  foreign_signer.private_key_pem())
        for k, (pixels, other) in enumerate(zip(originals, others, strict=True)):
            source, other_jpeg = _jpeg(pixels), _jpeg(other)
            forged = label_media(forger_ctx, source, generator="Forger", model=None, principal=ACTOR,
                                 identity=foreign)
            outcomes["a"].append(_forgery_outcome(_verify_safely(ctx, forged.data)))
            genuine = label_media(ctx, source, generator=GENERATOR, model=None, principal=ACTOR)
            manifest = app11_segments(genuine.data)
            outcomes["b"].append(_forgery_outcome(_verify_safely(ctx, splice_app11(other_jpeg, manifest))))
            edited = _decode(genuine.data).copy()
            h, w = edited.shape[:2]
            edited[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4] = other[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]
            _, _, options = labelling._IMAGE_OUTPUT["jpeg"]
            tampered = splice_app11(_jpeg(edited, **options), manifest)
            outcomes["c"].append(_forgery_outcome(_verify_safely(ctx, tampered)))
            outcomes["c'"].append(_forgery_outcome(_verify_safely(ctx, flip_scan_bit(genuine.data))))
            copied = _png(embed(other, int(genuine.label_id, 16)))
            copy_outcome = _forgery_outcome(_verify_safely(ctx, copied))
            copy_outcome["what_if_hash_set_distance"] = what_if_distance(
                ctx, copied, registered_with_hash_set(genuine, _decode(genuine.data)))
            outcomes["d"].append(copy_outcome)
            payload = int.from_bytes(_rng("random-payload", k).bytes(8), "big")
            outcomes["e"].append(_forgery_outcome(_verify_safely(ctx, _png(embed(other, payload)))))
            outcomes["g"].append(_forgery_outcome(_verify_safely(ctx, other_jpeg)))
        wait = (expires - datetime.now(UTC)).total_seconds() + 1.5
        if wait > 0:
            _progress(f"[forgeries] waiting {wait:.1f} s for the short-lived certificate to expire")
            time.sleep(wait)
        for item in expiring:
            report = item if isinstance(item, str) else _verify_safely(ctx, item.data)
            outcomes["f"].append(_forgery_outcome(report))
    rows = []
    for case, title in FORGERY_CASES.items():
        items = outcomes[case]
        verdicts = Counter(o["verdict"] for o in items)
        reasons = Counter(_pattern(o.get("reason", "")) for o in items)
        distances = [o["consistency_distance"] for o in items if o.get("consistency_distance") is not None]
        what_if = sorted(o["what_if_hash_set_distance"] for o in items
                         if o.get("what_if_hash_set_distance") is not None)
        rows.append({"case": case, "title": title, "count": len(items),
                     **{v: verdicts.get(v, 0) for v in VERDICTS},
                     "watermark_found": sum(1 for o in items if o.get("watermark_found")),
                     "tampered": sum(1 for o in items if o.get("tampered")),
                     "untrusted": sum(1 for o in items if o.get("untrusted")),
                     "expired": sum(1 for o in items if o.get("expired")),
                     "fingerprint_hits": sum(1 for o in items if o.get("by_fingerprint")),
                     "consistency_distance_min": min(distances) if distances else None,
                     "consistency_distance_median": statistics.median(distances) if distances else None,
                     "consistency_distance_max": max(distances) if distances else None,
                     "what_if_hash_set_distances": what_if,
                     "reasons": reasons.most_common(3)})
    return {"count": count, "inputs": _inputs_view(inputs, "512", first + 2 * count),
            "expiry_window_s": window, "rows": rows, "elapsed_s": time.perf_counter() - started}


# ---------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    return {
        "cpu_model": cpu_model(), "logical_cpus": os.cpu_count(), "python": platform.python_version(),
        "c2pa_python": package_version("c2pa-python"), "pillow": package_version("pillow"),
        "numpy": package_version("numpy"), "pdqhash": package_version("pdqhash"),
        "thread_env": THREAD_ENV, "load_average": os.getloadavg(),
    }


def _f(value: Any, fmt: str = "{:.1f}") -> str:
    if value is None:
        return "–"
    return fmt.format(value) if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list[str]], right_from: int = 1) -> list[str]:
    align = ["---" if i < right_from else "---:" for i in range(len(header))]
    return ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|",
            *("| " + " | ".join(row) + " |" for row in rows)]


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    out = [
        "# Label and verify benchmark", "",
        f"- command: `{report['command']}`",
        f"- date: {report['date_utc']}; took {report['elapsed_s']:.0f} s",
        f"- machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, load average at start "
        + ", ".join(f"{x:.2f}" for x in m["load_average"]),
        f"- software: Python {m['python']}, c2pa-python {m['c2pa_python']}, Pillow {m['pillow']}, "
        f"numpy {m['numpy']}, pdqhash {m['pdqhash']}; thread pools pinned to 1 thread",
        f"- consistency threshold: CONSISTENCY_MAX_DISTANCE = {report['consistency_max_distance']} bits",
    ]
    t = report.get("throughput")
    if t:
        inp = t["inputs"]
        out += ["", "## Throughput at 1080p", "",
                f"{inp['count']} JPEGs {inp['size']} (quality 90, 4:2:0, mean {inp['mean_kib']:.0f} KiB; "
                f"{inp['source']}: {inp['note']}); labelled output JPEG quality 95 4:4:4, mean "
                f"{t['output_mean_kib']:.0f} KiB. One untimed warm-up image.", ""]
        out += _table(["step", "wall median ms", "wall p95 ms", "CPU median ms", "CPU p95 ms",
                       "images/s (wall)", "verdicts"],
                      [[r["row"], _f(r["wall_median_ms"]), _f(r["wall_p95_ms"]), _f(r["cpu_median_ms"]),
                        _f(r["cpu_p95_ms"]), _f(r["images_per_s"], "{:.2f}"),
                        ", ".join(f"{k} {v}" for k, v in r["verdicts"].items()) or "–"] for r in t["rows"]])
        parts = [["label: " + k, _f(v["median_ms"]), _f(v["p95_ms"])] for k, v in t["label_parts"].items()]
        parts.append(["label: JPEG encode (timed apart)", _f(t["encode_apart"]["median_ms"]),
                      _f(t["encode_apart"]["p95_ms"])])
        parts += [[k, _f(v["median_ms"]), _f(v["p95_ms"])] for k, v in t["verify_parts"].items()]
        out += ["", "Parts (wall ms):", "", *_table(["part", "median ms", "p95 ms"], parts)]
    for a in report.get("attacks", []):
        inp = a["inputs"]
        out += ["", f"## Recovery after attacks, {inp['size']}", "",
                f"{inp['count']} images ({inp['source']}: {inp['note']}); every copy but 'as is' and "
                f"'stripped' is the attacked labelled pixels saved as PNG. Took {a['elapsed_s']:.0f} s. "
                "recovered = verified or recovered with this image's own manifest; wm found = the "
                "right label id read from the watermark; cons. dist = consistency distance (min over "
                "the file's dihedral and derived hashes) where a watermark was found; PDQ dist = plain "
                "hash distance used by the repository lookup (threshold 31).", ""]
        header = ["attack", "recovered %", "by manifest %", "by watermark %", "by fingerprint %",
                  "invalid %", "unknown %", "wrong %", "wm found %", "cons. dist min/med/max",
                  "PDQ dist med/max"]
        rows = []
        for r in a["rows"]:
            mark = "" if r["recovered_pct"] >= RECOVERY_TARGET else " **<99**"
            rows.append([f"{r['label']}", f"{r['recovered_pct']:.0f}{mark}", f"{r['manifest_pct']:.0f}",
                         f"{r['watermark_pct']:.0f}", f"{r['fingerprint_pct']:.0f}",
                         f"{r['invalid_pct']:.0f}",
                         f"{r['unknown_pct']:.0f}", f"{r['wrong_pct']:.0f}" + (
                             f" (err {r['error_pct']:.0f})" if r["error_pct"] else ""),
                         f"{r['watermark_found_pct']:.0f}",
                         f"{_f(r['consistency_distance_min'])}/"
                         f"{_f(r['consistency_distance_median'], '{:.0f}')}/"
                         f"{_f(r['consistency_distance_max'])}",
                         f"{_f(r['pdq_distance_median'], '{:.0f}')}/{_f(r['pdq_distance_max'])}"])
        out += _table(header, rows)
        attack_rows = [r for r in a["rows"] if r["attack"] not in ("as-is",)]
        below = [r for r in attack_rows if r["recovered_pct"] < RECOVERY_TARGET]
        out += ["", f"Rows below {RECOVERY_TARGET:.0f} %: "
                + (", ".join(f"{r['label']} ({r['recovered_pct']:.0f} %)" for r in below) or "none")]
        fails = a["failures_and_fingerprint_recoveries"]
        others = [f for f in fails if not (f["verdict"] == "invalid" and f["watermark_found"])]
        if others:
            out += ["", "Genuine copies not recovered through the watermark (other than false alarms):", ""]
            out += _table(["attack", "image", "source", "verdict", "via", "wm found", "PDQ dist", "reason"],
                          [[f["attack"], str(f["image"]), f["source"], f["verdict"], str(f["via"] or "–"),
                            str(f["watermark_found"]), _f(f["pdq_distance"]), f["reason"][:100]]
                           for f in others[:40]], right_from=8)
            if len(others) > 40:
                out.append(f"... and {len(others) - 40} more (see --json)")
        alarms: dict[str, list[int]] = {}
        what_if: dict[str, list[int]] = {}
        for f in fails:
            if f["verdict"] == "invalid" and f["watermark_found"]:
                alarms.setdefault(f["attack"], []).append(f["consistency_distance"])
                if f.get("what_if_hash_set_distance") is not None:
                    what_if.setdefault(f["attack"], []).append(f["what_if_hash_set_distance"])
        if alarms:
            out += ["", "False alarms (genuine copies whose watermark was read but whose fingerprint is "
                    f"beyond {report['consistency_max_distance']} bits, so they read as a copied label):", ""]
            out += [f"- {name}: {len(d)} of {a['inputs']['count']}, distances {sorted(d)}; what-if with "
                    f"the registered crop hash set: {sorted(what_if.get(name, []))}"
                    for name, d in alarms.items()]
    fg = report.get("forgeries")
    if fg:
        out += ["", f"## Forgeries, {fg['count']} each (512x512)", "",
                f"Took {fg['elapsed_s']:.0f} s; certificate window for (f): "
                f"{fg['expiry_window_s']:.0f} s.", ""]
        out += _table(["case", "verified", "recovered", "invalid", "unknown", "error", "wm found",
                       "tampered", "untrusted", "expired", "cons. dist min/med/max"],
                      [[r["title"], *(str(r[v]) for v in VERDICTS), str(r["watermark_found"]),
                        str(r["tampered"]), str(r["untrusted"]), str(r["expired"]),
                        f"{_f(r['consistency_distance_min'])}/"
                        f"{_f(r['consistency_distance_median'], '{:.0f}')}/"
                        f"{_f(r['consistency_distance_max'])}"] for r in fg["rows"]])
        out += ["", "Most common first reason per case:", ""]
        for r in fg["rows"]:
            for reason, n in r["reasons"][:2]:
                out.append(f"- {r['case']} ({n}): {reason[:200]}")
        verified = sum(r["verified"] for r in fg["rows"] if r["case"] != "g")
        copies = next((r for r in fg["rows"] if r["case"] == "d"), None)
        if copies and copies["what_if_hash_set_distances"]:
            out += ["", "What-if for (d): consistency distances of the copied labels had the crop hash set "
                    f"(signals.repost.hash_set) been registered too: {copies['what_if_hash_set_distances']}"]
        out += ["", f"Forgeries read as verified: {verified} (target 0)."]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count-1080", type=int, default=8,
                        help="1080p images for throughput (8; 0 skips)")
    parser.add_argument("--count-attacks", type=int, default=20,
                        help="images per size for attacks (20; 0 skips)")
    parser.add_argument("--count-forgeries", type=int, default=20,
                        help="images per forgery case (20; 0 skips)")
    parser.add_argument("--sizes", default="512", help="attack image sizes, comma list of 512,1080 (512)")
    parser.add_argument("--quick", action="store_true", help="the QUICK attack set of watermark_attacks")
    parser.add_argument("--json", action="store_true", help="print JSON results only")
    args = parser.parse_args(argv)
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    if any(s not in SIZES for s in sizes) or not sizes:
        parser.error(f"--sizes takes a comma list of {', '.join(SIZES)}")
    if min(args.count_1080, args.count_attacks, args.count_forgeries) < 0:
        parser.error("counts must be >= 0")
    attacks = list(wa.QUICK if args.quick else wa.ATTACKS)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": shlex.join([interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine_info(), "consistency_max_distance": CONSISTENCY_MAX_DISTANCE,
        "attack_set": "quick" if args.quick else "all",
    }
    status = 0
    try:
        if args.count_1080:
            report["throughput"] = run_throughput(args.count_1080)
        need = args.count_attacks + 2 * args.count_forgeries
        if need:
            load = sorted(set(sizes if args.count_attacks else [])
                          | ({"512"} if args.count_forgeries else set()))
            _progress(f"[inputs] loading {need} photos at {', '.join(load)}")
            inputs = make_inputs(need, load)
            if args.count_attacks:
                report["attacks"] = [run_attacks(inputs, s, args.count_attacks, attacks) for s in sizes]
            if args.count_forgeries:
                report["forgeries"] = run_forgeries(inputs, args.count_attacks, args.count_forgeries)
    except Exception:
        traceback.print_exc()
        status = 2
    report["elapsed_s"] = time.perf_counter() - started
    print(json.dumps(report, indent=2, default=str) if args.json else markdown(report))
    return status


if __name__ == "__main__":
    sys.exit(main())
