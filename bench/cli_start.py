"""Benchmark: what starting the ``deepshield`` command costs, against importing Pillow + pdqhash.

Usage::

    .venv/bin/python bench/cli_start.py [--repeat N] [--check] [--json]
                                        [--deepshield PATH] [--before PATH]

A helpline hashing one photo should not wait for the store, the HTTP API, C2PA or the PDF
stack to load: the CLI imports a command's dependencies only when that command runs
(``deepshield.cli.main.COMMANDS``). Each case below is a fresh process, timed as CPU seconds
(user + system, from ``os.wait4``: the child's own rusage, so the benchmark's load does not
count) and wall seconds:

* ``anchor`` -- ``python -c "import PIL, pdqhash"`` with the same interpreter: the least any
  Python tool that PDQ-hashes a photo pays before it starts.
* ``deepshield --help`` -- target: at most ``HELP_TARGET_S`` CPU above the anchor.
* ``deepshield hash one.jpg`` -- a generated 1024x768 JPEG (quality 90); target: at most
  ``HASH_TARGET_S`` CPU above the anchor. Its exit status must be 0.
* ``deepshield --version`` and ``deepshield bank --help`` -- for information (no target).

Bytecode: each case runs with its compiled bytecode cached, as an installed package runs (pip
compiles it at install): the children get a private ``PYTHONPYCACHEPREFIX`` in a temporary folder,
without ``PYTHONDONTWRITEBYTECODE``, and the untimed warm-up runs fill it. Nothing is written into
the checkout or the environment. ``--no-bytecode-cache`` runs them with this process's environment
as it is instead (under ``PYTHONDONTWRITEBYTECODE=1`` every source module not yet compiled is
compiled on every run, which costs the CLI about 0.05 s more).

``--before PATH`` adds the same cases for another installation's ``deepshield`` (for example
the previous commit's, to show the change), each against that installation's own anchor.

Every repetition runs all cases once, in a freshly shuffled (seeded) order, so load drift on the
machine hits every case alike; the table gives medians over ``--repeat`` repetitions. With
``--check`` the exit status is 1 when a target is missed (medians), else 0.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench_environment import cpu_model, interpreter, package_version, print_results_table

#: CPU seconds above the anchor that each targeted case may cost (median).
HELP_TARGET_S = 0.25
HASH_TARGET_S = 0.35
IMAGE_SIZE = (1024, 768)
JPEG_QUALITY = 90
SHUFFLE_SEED = 5
ANCHOR_CODE = "import PIL, pdqhash"
NOISE_NOTE = ("note: on a busy machine single runs vary by tens of milliseconds; the medians and "
              "the anchor from the same run are what to compare")


@dataclass
class Case:
    name: str
    argv: list[str]
    anchor: str | None  # the case whose median this one is compared with; None for an anchor
    target_s: float | None = None
    cpu_s: list[float] = field(default_factory=list)
    wall_s: list[float] = field(default_factory=list)


def make_photo(path: Path) -> None:
    """A photo-like 1024x768 JPEG: smooth gradients, a few shapes and sensor-like noise."""
    import numpy as np
    from PIL import Image

    width, height = IMAGE_SIZE
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([120 + 80 * np.sin(x / 97.0), 100 + 60 * np.cos(y / 71.0),
                     90 + 50 * np.sin((x + y) / 131.0)], axis=-1)
    for _ in range(12):
        cx, cy, r = rng.uniform(0, width), rng.uniform(0, height), rng.uniform(20, 160)
        inside = (x - cx) ** 2 + (y - cy) ** 2 < r * r
        base[inside] = base[inside] * 0.5 + rng.uniform(0, 255, 3) * 0.5
    pixels = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="JPEG", quality=JPEG_QUALITY)
    path.write_bytes(out.getvalue())


def run_once(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """CPU seconds (user + system of the child alone) and wall seconds of one run of ``argv``.

    Raises ``RuntimeError`` when the command exits non-zero: a failing command is not timed."""
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, env=env, cwd=cwd)
    assert child.stderr is not None
    errors = child.stderr.read()
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    child.stderr.close()
    if child.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)} exited {child.returncode}: "
                           f"{errors.decode(errors='replace')[-2000:]}")
    return usage.ru_utime + usage.ru_stime, wall


def python_beside(deepshield: Path) -> Path:
    """The interpreter of the environment ``deepshield`` was installed into."""
    for name in ("python", "python3"):
        candidate = deepshield.parent / name
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"no python beside {deepshield}")


def build_cases(deepshield: Path, photo: Path, label: str = "") -> list[Case]:
    prefix = f"{label}: " if label else ""
    anchor = f"{prefix}anchor ({ANCHOR_CODE})"
    exe = str(deepshield)
    return [
        Case(anchor, [str(python_beside(deepshield)), "-c", ANCHOR_CODE], None),
        Case(f"{prefix}deepshield --help", [exe, "--help"], anchor, HELP_TARGET_S),
        Case(f"{prefix}deepshield hash one.jpg", [exe, "hash", str(photo)], anchor, HASH_TARGET_S),
        Case(f"{prefix}deepshield --version", [exe, "--version"], anchor),
        Case(f"{prefix}deepshield bank --help", [exe, "bank", "--help"], anchor),
    ]


def measure(cases: list[Case], repeat: int, env: dict[str, str], cwd: Path) -> None:
    order = random.Random(SHUFFLE_SEED)
    for case in cases:  # one untimed run each: the file cache, not the code, is warmed
        run_once(case.argv, env, cwd)
    for _ in range(repeat):
        shuffled = cases[:]
        order.shuffle(shuffled)
        for case in shuffled:
            cpu, wall = run_once(case.argv, env, cwd)
            case.cpu_s.append(cpu)
            case.wall_s.append(wall)


def build_report(args: argparse.Namespace, cases: list[Case], took: float) -> dict[str, object]:
    medians = {case.name: statistics.median(case.cpu_s) for case in cases}
    rows = []
    for case in cases:
        cpu = medians[case.name]
        base = medians[case.anchor] if case.anchor else None
        above = cpu - base if base is not None else None
        rows.append({
            "case": case.name,
            "cpu_median_s": cpu,
            "cpu_min_s": min(case.cpu_s),
            "cpu_max_s": max(case.cpu_s),
            "wall_median_s": statistics.median(case.wall_s),
            "above_anchor_s": above,
            "ratio_to_anchor": cpu / base if base else None,
            "target_above_anchor_s": case.target_s,
            "met": None if case.target_s is None or above is None else above <= case.target_s,
        })
    return {
        "benchmark": "cli_start",
        "command": " ".join(shlex.quote(a) for a in [interpreter(), *sys.argv]),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": {
            "cpu_model": cpu_model(),
            "logical_cpus": os.cpu_count(),
            "python": platform.python_version(),
            "typer": package_version("typer"),
            "rich": package_version("rich"),
            "numpy": package_version("numpy"),
            "pillow": package_version("pillow"),
        },
        "input": f"{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]} generated JPEG, quality {JPEG_QUALITY}",
        "bytecode": ("environment as it is (PYTHONDONTWRITEBYTECODE="
                     f"{os.environ.get('PYTHONDONTWRITEBYTECODE', 'unset')})"
                     if args.no_bytecode_cache else
                     "cached (private PYTHONPYCACHEPREFIX, filled by the warm-up runs)"),
        "repeat": args.repeat,
        "results": rows,
        "targets_met": all(row["met"] is not False for row in rows),
        "elapsed_s": took,
    }


def print_report(report: dict) -> None:
    m = report["machine"]
    head = [
        f"command: {report['command']}",
        f"machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs; Python {m['python']}, "
        f"typer {m['typer']}, rich {m['rich']}, numpy {m['numpy']}, Pillow {m['pillow']}",
        f"date:    {report['date_utc']}",
        f"input:   {report['input']}",
        f"bytecode: {report['bytecode']}",
        f"timing:  {report['repeat']} repetition(s), cases in a seeded shuffled order each time, "
        "one untimed warm-up run each; CPU = user + sys of the child (os.wait4)",
    ]
    cols = [
        ("case", "case", "{}"),
        ("CPU med s", "cpu_median_s", "{:.3f}"),
        ("CPU min s", "cpu_min_s", "{:.3f}"),
        ("CPU max s", "cpu_max_s", "{:.3f}"),
        ("wall med s", "wall_median_s", "{:.3f}"),
        ("above anchor s", "above_anchor_s", "{:+.3f}"),
        ("ratio", "ratio_to_anchor", "{:.2f}"),
        ("target s", "target_above_anchor_s", "<= {:.2f}"),
        ("met", "met", "{}"),
    ]
    verdict = "targets: " + ("all met" if report["targets_met"] else "MISSED")
    print_results_table(head, cols, report["results"],
                        title="deepshield start-up, CPU per run (ratio = case / its anchor)",
                        left=("case",), width=140,
                        footer=[verdict, NOISE_NOTE, f"took {report['elapsed_s']:.1f} s"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10, help="timed runs of each case (10)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--json", action="store_true", help="print JSON results only")
    parser.add_argument("--deepshield", type=Path, default=Path(sys.executable).parent / "deepshield",
                        help="the deepshield executable to time (the one beside this Python)")
    parser.add_argument("--before", type=Path, default=None,
                        help="another installation's deepshield to time alongside, for comparison")
    parser.add_argument("--no-bytecode-cache", action="store_true",
                        help="run with the environment as it is, not with a private bytecode cache")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be >= 1")
    for exe in (args.deepshield, args.before):
        if exe is not None and not exe.exists():
            parser.error(f"{exe} does not exist")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cli-start-") as folder:
        work = Path(folder)
        photo = work / "one.jpg"
        make_photo(photo)
        # An empty home: no configuration or store of the user's is read or written.
        env = {**os.environ, "DEEPSHIELD_HOME": str(work / "home")}
        if not args.no_bytecode_cache:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = str(work / "pycache")
        cases = build_cases(args.deepshield, photo)
        if args.before is not None:
            before = build_cases(args.before, photo, label="before")
            for case in before:  # the previous version's targets are information only
                case.target_s = None
            cases += before
        measure(cases, args.repeat, env, work)
    report = build_report(args, cases, time.perf_counter() - start)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report)
    return 1 if args.check and not report["targets_met"] else 0


if __name__ == "__main__":
    sys.exit(main())
