"""Benchmark: how fast a decompression bomb is refused. A PNG of under 100 bytes whose header
claims 100,000 × 100,000 RGB (30 GB of pixels) must be refused from its header, before any
pixel is allocated. The unit test (tests/media/test_image_rejection.py) checks that it is
refused with ``MediaTooLarge``; this script keeps the speed target it used to assert: under 1 s.

Usage::

    .venv/bin/python bench/media_rejection.py [--runs 50] [--json] [--strict]

Exit status: 0, or 1 with ``--strict`` when the target is missed (a bomb that is not refused is
always 1).
"""

from __future__ import annotations

from bench_environment import pin_one_thread

THREAD_ENV = pin_one_thread()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shlex  # noqa: E402
import statistics  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

from bench_environment import cpu_model, interpreter, use_checkout_sources  # noqa: E402

use_checkout_sources()

TARGET_S = 1.0


def _chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
            + _chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + _chunk(b"IEND", b""))


def run(runs: int) -> dict[str, Any]:
    from deepshield.media import MediaLimits, MediaTooLarge, decode_image

    limits, bomb = MediaLimits(), bomb_png()
    times: list[float] = []
    refused = True
    for _ in range(runs):
        started = time.perf_counter()
        try:
            decode_image(bomb, limits)
            refused = False
        except MediaTooLarge:
            pass
        times.append(time.perf_counter() - started)
    return {"scenario": f"decompression bomb PNG ({len(bomb)} bytes, 100,000 × 100,000) refused",
            "correct": refused, "runs": runs, "median_ms": round(statistics.median(times) * 1000, 3),
            "max_ms": round(max(times) * 1000, 3), "target_s": TARGET_S, "met": max(times) < TARGET_S}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit 1 when the target is missed")
    args = parser.parse_args()
    row = run(args.runs)
    report = {
        "benchmark": "media_rejection",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "rows": [row],
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"# {report['benchmark']} · {report['date_utc']} · {report['machine']['cpu']}, "
              f"{report['machine']['cores']} cores\n# {report['command']}\n")
        print(f"{row['scenario']}: correct={row['correct']}, median {row['median_ms']} ms, max "
              f"{row['max_ms']} ms over {row['runs']} (target < {row['target_s']} s: "
              f"{'met' if row['met'] else 'MISSED'})")
    if not row["correct"]:
        print("the bomb was decoded instead of refused", file=sys.stderr)
        return 1
    return 1 if args.strict and not row["met"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
