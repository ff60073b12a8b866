"""What every parser-fuzzing harness in bench/fuzz/ shares.

A harness defines ``target(data: bytes) -> None`` (feed the bytes to the parser under test) and
``seeds() -> list[bytes]`` (valid inputs to start from), and ends with ``main(...)``. The contract
checked: the parser either returns or raises one of the project's documented errors (a
``deepshield.errors.DeepShieldError`` subclass); any other exception is a crash. atheris writes
the crashing input to ``crash-<sha1>`` (see ``-artifact_prefix``); tests/fuzz/corpus/ keeps each
one found as a regression input for tests/fuzz/test_parser_regressions.py.

Run one harness: ``.venv/bin/python bench/fuzz/fuzz_sniff.py -atheris_runs=100000 [CORPUS_DIR]``;
``--write-seeds DIR`` writes its seeds into DIR and exits. bench/fuzz/run_all.py runs them all.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext, suppress
from pathlib import Path

from deepshield.errors import DeepShieldError

#: True when a harness runs as the fuzzer (``python bench/fuzz/fuzz_X.py``), not when a test
#: imports it to replay a corpus.
FUZZING = Path(sys.argv[0]).name.startswith("fuzz_")


def instrumented(*also: str) -> AbstractContextManager[object]:
    """Around a harness's imports: atheris's coverage instrumentation of ``deepshield``'s modules
    (and of the packages named in ``also``) when fuzzing; nothing when a test imports the harness."""
    if not FUZZING:
        return nullcontext()
    import atheris

    return atheris.instrument_imports(include=["deepshield", *also])  # type: ignore[no-any-return]


def checked(target: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """``target`` wrapped so that the project's documented errors are not crashes."""

    def test_one_input(data: bytes) -> None:
        with suppress(DeepShieldError):
            target(data)

    return test_one_input


def text_of(data: bytes) -> str:
    """The bytes as text, the way a door reads an upload (UTF-8, bad bytes replaced)."""
    return data.decode("utf-8", errors="replace")


def main(target: Callable[[bytes], None], seeds: Callable[[], list[bytes]]) -> None:
    args = sys.argv
    if "--write-seeds" in args:
        folder = Path(args[args.index("--write-seeds") + 1])
        folder.mkdir(parents=True, exist_ok=True)
        for number, seed in enumerate(seeds()):
            (folder / f"seed-{number:03d}").write_bytes(seed)
        return
    import atheris

    atheris.Setup(args, checked(target))
    atheris.Fuzz()
