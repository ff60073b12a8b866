"""Run every parser-fuzzing harness in bench/fuzz/ (atheris) for N executions or a time limit each,
one process at a time, and print executions, time and crashes per target.

Usage::

    .venv/bin/python bench/fuzz/run_all.py [--runs 1000000] [--seconds 600] [--only sniff,jumbf]
                                           [--work DIR] [--json]

Each target starts from its harness's seeds (``--write-seeds``) plus the regression inputs in
tests/fuzz/corpus/<target>/, with the corpus it grows kept under ``--work`` (default
``var/fuzz``), so a later run goes on from there. A crash (any exception that is not a
``DeepShieldError``) stops that target; its input is written under ``--work``/crashes/ and its
traceback is in ``--work``/<target>.log. Check each one into tests/fuzz/corpus/<target>/.
Exit status 1 when any target crashed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TARGETS = ("sniff", "signal_types", "vpdq", "intake", "jumbf", "hash_lists", "image", "video")
_DONE = re.compile(r"Done (\d+) (?:runs )?in (\d+) second")
_PROGRESS = re.compile(r"^#(\d+)\s", re.MULTILINE)


@dataclass
class Result:
    target: str
    executions: int
    seconds: float
    crashes: int
    crash_files: list[str]
    corpus: int


def run_target(name: str, runs: int, seconds: int, work: Path) -> Result:
    corpus = work / "corpus" / name
    crashes = work / "crashes"
    crashes.mkdir(parents=True, exist_ok=True)
    harness = HERE / f"fuzz_{name}.py"
    subprocess.run([sys.executable, str(harness), "--write-seeds", str(corpus)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    before = set(crashes.glob(f"{name}-*"))
    seed_dirs = [str(corpus)]
    regressions = ROOT / "tests" / "fuzz" / "corpus" / name
    if regressions.is_dir():
        seed_dirs.append(str(regressions))  # read only: libFuzzer adds new inputs to the first
    log = work / f"{name}.log"
    started = time.monotonic()
    with log.open("w") as output:
        subprocess.run([sys.executable, str(harness), f"-atheris_runs={runs}", f"-max_total_time={seconds}",
                        "-rss_limit_mb=3072", "-timeout=60", "-max_len=65536",
                        f"-artifact_prefix={crashes}/{name}-", *seed_dirs],
                       stdout=output, stderr=subprocess.STDOUT, check=False)
    elapsed = time.monotonic() - started
    text = log.read_text(errors="replace")
    done = _DONE.findall(text)
    progress = _PROGRESS.findall(text)
    executions = int(done[-1][0]) if done else int(progress[-1]) if progress else 0
    found = sorted(set(crashes.glob(f"{name}-*")) - before)
    return Result(name, executions, round(elapsed, 1), len(found), [str(p) for p in found],
                  len(list(corpus.iterdir())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000, help="executions per target")
    parser.add_argument("--seconds", type=int, default=600, help="time limit per target")
    parser.add_argument("--only", default="", help="comma-separated targets (default: all)")
    parser.add_argument("--work", type=Path, default=ROOT / "var" / "fuzz")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n] or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        parser.error(f"unknown targets {unknown}; known: {', '.join(TARGETS)}")
    results = []
    for name in names:
        result = run_target(name, args.runs, args.seconds, args.work)
        results.append(result)
        if not args.json:
            print(f"{name:<13} {result.executions:>10,} executions {result.seconds:>8.1f} s "
                  f"{result.crashes} crashes  corpus {result.corpus}"
                  + "".join(f"\n    {path}" for path in result.crash_files), flush=True)
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    return 1 if any(r.crashes for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
