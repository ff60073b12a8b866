"""Benchmark: vPDQ hashing speed at 720p, and finding a re-encoded 10-second excerpt of a video.

Usage::

    .venv/bin/python bench/video_matching.py [--seconds 120] [--json]

* **Speed.** A ``--seconds``-long 1280×720, 25 fps H.264 video (pans and zooms over the shared
  photos, a new shot every 4 s) is hashed by ``deepshield.signals.vpdq.vpdq_from_video``
  (one frame per second, PyAV + pdqhash). Reported: CPU seconds and the multiple of real time
  on one core. Anchor, when installed: Meta's ``vpdq`` package (``vpdq.computeHash``) on the
  same file, side by side, with the distances between its frame hashes and ours (the two
  decoders' RGB conversions differ slightly, so the hashes can differ by a few bits).
* **Clip matching.** The video is banked (its vPDQ). A 10-second excerpt from its middle is
  re-encoded at CRF 28 and downscaled to 854×480, then matched with DeepShield's matcher at its
  defaults (a query frame matches within 31 bits; a video matches when ≥ 80 % of the query's
  distinct frames do). An excerpt of an unrelated video must not match.
"""

from __future__ import annotations

import os

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()

import argparse  # noqa: E402
import io  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import shlex  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from fractions import Fraction  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from bench_environment import (  # noqa: E402
    cpu_model,
    interpreter,
    package_version,
    shared_data_dir,
    use_checkout_sources,
)

use_checkout_sources()

FPS = 25
SHOT_S = 4
WIDTH, HEIGHT = 1280, 720


def accepted_photos(seed: int, limit: int | None = None) -> Iterator[tuple[Path, Image.Image]]:
    """The shared photos of at least 256 px a side, fitted to 1800 px, in a seeded order (of the
    first ``limit`` files of it): the order ``_photos`` takes its shots in."""
    photos = shared_data_dir() / "photos"
    paths = sorted(p for p in photos.rglob("*") if p.suffix.lower() in (".jpg", ".png"))
    rng = np.random.default_rng(seed)
    for index in rng.permutation(len(paths))[:limit] if paths else []:
        try:
            with Image.open(paths[index]) as raw:
                image = ImageOps.exif_transpose(raw).convert("RGB")
        except Exception:  # a bench skips unreadable samples
            continue
        if min(image.size) >= 256:
            image.thumbnail((1800, 1800))
            yield paths[index], image


def _photos(seed: int, count: int) -> list[Image.Image]:
    images = [image for _, image in itertools.islice(accepted_photos(seed, count * 2), count)]
    if not images:  # no shared data: smooth generated scenes
        from watermark import generated_image

        images = [Image.fromarray(generated_image(1600, 900, seed=seed * 100 + i)) for i in range(count)]
    return images


def _frames(seconds: float, seed: int, width: int = WIDTH, height: int = HEIGHT) -> Iterator[np.ndarray]:
    return frames_over(_photos(seed, int(np.ceil(seconds / SHOT_S))), seconds, seed, width, height)


def frames_over(images: list[Image.Image], seconds: float, seed: int, width: int = WIDTH,
                height: int = HEIGHT) -> Iterator[np.ndarray]:
    """Footage over ``images``: a new shot every ``SHOT_S``, each panning and zooming (seeded)."""
    rng = np.random.default_rng(seed)
    per_shot = SHOT_S * FPS
    for i in range(int(seconds * FPS)):
        image = images[(i // per_shot) % len(images)]
        if i % per_shot == 0:
            z0, z1 = rng.uniform(1.0, 1.3, 2)
            p0, p1 = rng.uniform(0, 1, 2), rng.uniform(0, 1, 2)
        t = (i % per_shot) / per_shot
        zoom, pos = z0 + (z1 - z0) * t, p0 + (p1 - p0) * t
        w, h = image.size
        cw, ch = min(w, h * width / height) / zoom, min(h, w * height / width) / zoom
        x, y = (w - cw) * pos[0], (h - ch) * pos[1]
        yield np.asarray(image.resize((width, height), Image.Resampling.BILINEAR, box=(x, y, x + cw, y + ch)))


def _encode(frames: Iterator[np.ndarray], width: int, height: int, crf: int, fps: int = FPS) -> bytes:
    import av

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "preset": "veryfast"}
        for pixels in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


def _excerpt(data: bytes, start_s: float, seconds: float, width: int, height: int, crf: int) -> bytes:
    import av

    def frames() -> Iterator[np.ndarray]:
        with av.open(io.BytesIO(data)) as container:
            for number, frame in enumerate(container.decode(video=0)):
                if number / FPS >= start_s + seconds:
                    return
                if number / FPS >= start_s:
                    yield frame.to_ndarray(format="rgb24", width=width, height=height)

    return _encode(frames(), width, height, crf)


def _time_cpu(fn: Any, *args: Any) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    return result, time.process_time() - cpu, time.perf_counter() - wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from deepshield.media import MediaLimits
    from deepshield.services.access import Principal, Role
    from deepshield.services.context import ServiceContext
    from deepshield.services.spread import banks
    from deepshield.services.spread.matching import match_media
    from deepshield.settings import Settings
    from deepshield.signals.vpdq import vpdq_from_video

    print(f"making a {args.seconds:.0f}-s 720p video ...", file=sys.stderr, flush=True)
    video = _encode(_frames(args.seconds, seed=1), WIDTH, HEIGHT, crf=20)
    limits = MediaLimits()
    features, cpu_s, wall_s = _time_cpu(lambda: vpdq_from_video(video, limits))
    report: dict[str, Any] = {
        "benchmark": "video-matching",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "av": package_version("av"),
                    "pdqhash": package_version("pdqhash"), "vpdq": package_version("vpdq"),
                    "threads": THREAD_ENV},
        "video": {"seconds": args.seconds, "size": f"{WIDTH}x{HEIGHT}", "fps": FPS, "bytes": len(video)},
        "ours": {"frames_hashed": len(features), "cpu_s": cpu_s, "wall_s": wall_s,
                 "x_real_time_cpu": args.seconds / cpu_s},
    }
    try:
        import vpdq  # Meta's reference, bench-only (builds from source with FFmpeg dev libraries)
    except ImportError:
        report["anchor"] = {"skipped": "Meta's vpdq is not installed"}
    else:
        with tempfile.NamedTemporaryFile(suffix=".mp4") as handle:
            handle.write(video)
            handle.flush()
            reference, ref_cpu, ref_wall = _time_cpu(
                lambda: vpdq.computeHash(handle.name, seconds_per_hash=1))
        from deepshield.signals.pdq import pdq_distance

        reference = sorted(reference, key=lambda f: f.frame_number)
        distances = [pdq_distance(f.pdq_hex, r.hex) for f, r in zip(features, reference, strict=False)]
        report["anchor"] = {
            "frames_hashed": len(reference), "cpu_s": ref_cpu, "wall_s": ref_wall,
            "x_real_time_cpu": args.seconds / ref_cpu, "ours_over_anchor_speed": ref_cpu / cpu_s,
            "same_frame_numbers": [f.frame_number for f in features] == [r.frame_number for r in reference],
            "identical_frame_hashes": sum(d == 0 for d in distances),
            "frame_hash_distance_median": float(np.median(distances)) if distances else None,
            "frame_hash_distance_max": max(distances, default=None),
        }

    print("banking it, cutting and matching excerpts ...", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as home:
        ctx = ServiceContext.open(Settings(home=Path(home)))
        try:
            operator = Principal("bench", Role.ADMIN)
            banks.create_bank(ctx, "videos", "", operator)
            banks.add_media(ctx, "videos", video, "helpline", "CASE-1", operator)
            start = max(0.0, args.seconds / 2 - 5)
            excerpt = _excerpt(video, start, 10, 854, 480, crf=28)
            _, outcome = match_media(ctx, excerpt, operator)
            found = [m for m in outcome.matches if m.signal_type == "vpdq"]
            other = _encode(_frames(12, seed=2), WIDTH, HEIGHT, crf=20)
            unrelated = _excerpt(other, 1, 10, 854, 480, crf=28)
            _, other_outcome = match_media(ctx, unrelated, operator)
        finally:
            ctx.close()
    report["excerpt"] = {
        "start_s": start, "seconds": 10, "reencode": "H.264 CRF 28, 854x480",
        "matched": bool(found),
        "query_match_pct": found[0].query_match_pct if found else None,
        "compared_match_pct": found[0].compared_match_pct if found else None,
        "unrelated_matched": any(m.signal_type == "vpdq" for m in other_outcome.matches),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        ours = report["ours"]
        print(f"vPDQ of a {args.seconds:.0f}-s 720p video: {ours['frames_hashed']} frames in "
              f"{ours['cpu_s']:.1f} CPU s = {ours['x_real_time_cpu']:.1f}x real time on one core")
        print(f"anchor: {report['anchor']}")
        print(f"excerpt: {report['excerpt']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
