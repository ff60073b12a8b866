"""Every input that crashed a parser fuzzer (bench/fuzz/) stays fixed.

tests/fuzz/corpus/<target>/ holds the crashing inputs as small files; each is fed to the same
harness function that found it (``bench/fuzz/fuzz_<target>.py``'s ``target``). The contract: the
parser returns, or raises one of the project's documented errors (``DeepShieldError``); anything
else is a crash.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from deepshield.errors import DeepShieldError

ROOT = Path(__file__).resolve().parents[2]
CORPUS = Path(__file__).resolve().parent / "corpus"
sys.path.insert(0, str(ROOT / "bench" / "fuzz"))

# corpus/open_findings/ holds inputs of findings not fixed yet (tests/fuzz/FINDINGS.md); their
# tests are in test_api_findings.py, where a hang cannot stop the test run.
CASES = sorted(path for path in CORPUS.glob("*/*")
               if path.is_file() and (ROOT / "bench" / "fuzz" / f"fuzz_{path.parent.name}.py").is_file())


@pytest.mark.parametrize("path", CASES, ids=[f"{p.parent.name}/{p.name}" for p in CASES])
def test_a_crashing_input_now_gives_a_documented_error_or_a_result(path: Path) -> None:
    harness = importlib.import_module(f"fuzz_{path.parent.name}")
    try:
        harness.target(path.read_bytes())
    except DeepShieldError as error:
        assert error.detail  # a documented error, with a message for the caller
