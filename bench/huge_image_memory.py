"""Benchmark: a real ``deepshield serve`` process's peak memory and time on huge images (issue 12,
Fix 2). One 88 Mpx PNG (9400 × 9400, about 0.6 MB; or ``--format WEBP``) sent to the public
``POST /v1/verify``, then ``--parallel`` of them at once. The server's peak resident memory is
its ``VmHWM`` in /proc (Linux only); it is also polled, and the server is killed if it passes
``--kill-mb`` so that a run of an unbounded version cannot take the machine down.

Targets (tests/media/test_memory_bounds.py asserts them): one request under 1.5 GB, 20 at once
under 3 GB (``max_heavy_requests`` = 2: the others get 503 ``busy`` at once).

Usage::

    .venv/bin/python bench/huge_image_memory.py [--shape 9400x9400] [--format PNG] [--parallel 20] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench_environment import cpu_model, use_checkout_sources

use_checkout_sources()

import httpx  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from live_server import ServerProcess  # noqa: E402


def _image(height: int, width: int, image_format: str) -> bytes:
    """Random 40 × 40 px blocks: compresses to about a megabyte, like the reported attack."""
    blocks = np.random.default_rng(1).integers(0, 256, (-(-height // 40), -(-width // 40), 3), dtype=np.uint8)
    pixels = np.repeat(np.repeat(blocks, 40, axis=0), 40, axis=1)[:height, :width]
    buffer = io.BytesIO()
    options = {"quality": 50, "method": 0} if image_format == "WEBP" else {}
    Image.fromarray(pixels).save(buffer, image_format, **options)
    return buffer.getvalue()


def _memory_mb(pid: int) -> dict[str, int]:
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmHWM", "VmRSS"):
            found[name] = int(value.split()[0]) // 1024
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", default="9400x9400", help="HEIGHTxWIDTH of the PNG")
    parser.add_argument("--format", default="PNG", choices=["PNG", "WEBP", "JPEG"])
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--kill-mb", type=int, default=6000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    height, width = (int(side) for side in args.shape.split("x"))
    data = _image(height, width, args.format)
    home = Path(tempfile.mkdtemp(prefix="deepshield-bench-"))
    env = {name: value for name, value in os.environ.items() if not name.startswith("DEEPSHIELD_")}
    env.update({"DEEPSHIELD_HOME": str(home), "DEEPSHIELD_PUBLIC_BURST": "1000"})
    server = ServerProcess(env, home / "server.log").start()
    assert server.process is not None
    pid = server.process.pid
    polled, stop, killed = [0], threading.Event(), threading.Event()

    def watch() -> None:
        while not stop.is_set() and Path(f"/proc/{pid}").exists():
            rss = _memory_mb(pid)["VmRSS"]
            polled[0] = max(polled[0], rss)
            if rss > args.kill_mb:
                killed.set()
                server.kill9()
                return
            time.sleep(0.05)

    def verify(_: int) -> tuple[Any, float]:
        started = time.monotonic()
        try:
            response = httpx.post(f"{server.url}/v1/verify", timeout=900,
                                  files={"file": ("huge", data, "application/octet-stream")})
            return response.status_code, time.monotonic() - started
        except httpx.HTTPError as error:
            return type(error).__name__, time.monotonic() - started

    result: dict[str, Any] = {"shape": args.shape, "format": args.format, "bytes": len(data),
                              "cpu": cpu_model(), "idle_mb": _memory_mb(pid)["VmRSS"]}
    threading.Thread(target=watch, daemon=True).start()
    try:
        status, seconds = verify(0)
        result["single"] = {"status": status, "seconds": round(seconds, 1), **_memory_mb(pid)}
        if args.parallel:
            started = time.monotonic()
            with ThreadPoolExecutor(args.parallel) as pool:
                outcomes = list(pool.map(verify, range(args.parallel)))
            statuses: dict[str, int] = {}
            for status, _ in outcomes:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
            result["parallel"] = {
                "requests": args.parallel, "wall_seconds": round(time.monotonic() - started, 1),
                "statuses": statuses, "seconds": sorted(round(s, 1) for _, s in outcomes),
                "killed_over_mb": args.kill_mb if killed.is_set() else None}
            if not killed.is_set():
                time.sleep(2)
                result["parallel"].update(_memory_mb(pid))
        result["polled_peak_mb"] = polled[0]
    finally:
        stop.set()
        server.stop()
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
