"""What every benchmark reports about where it ran, and where the shared data lives."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                     "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")


def pin_one_thread() -> dict[str, str]:
    """Pin native thread pools to one thread (unless set); call before numpy is imported."""
    return {name: os.environ.setdefault(name, "1") for name in _THREAD_VARIABLES}


#: Natural photographs under ``shared/data/photos`` (no screenshots, text, faces or PDQ test
#: variants), larger sources first, so 1080p inputs keep real photo detail.
NATURAL_PHOTO_GLOBS = (
    "jpeg_test_images/*.jpg",
    "imagecompression_info/rgb8bit/*.png",
    "pdq_threatexchange/bridge-mods/aaa-orig.jpg",
    "wikimedia_commons/*.png",
    "kodak/*.png",
    "coco2017_cc/*.jpg",
    "wesaturate_cc0/*.png",
    "usc_sipi/4.2.*.png",
)


def use_checkout_sources() -> None:
    """Import ``deepshield`` from this checkout's ``src/`` when it is not installed."""
    source = Path(__file__).resolve().parents[1] / "src"
    if importlib.util.find_spec("deepshield") is None and source.is_dir():
        sys.path.insert(0, str(source))


@contextmanager
def fresh_installation(name: str, operator: Any) -> Iterator[Any]:
    """A fresh DeepShield installation (a ``ServiceContext`` on SQLite in a temporary
    ``$DEEPSHIELD_HOME`` named after ``name``) with development signing keys made by ``operator``
    (an administrator's ``Principal``); closed, and its home removed, at the end."""
    from deepshield.services.context import ServiceContext
    from deepshield.services.label.signing_keys import init_signing_keys
    from deepshield.settings import Settings

    with tempfile.TemporaryDirectory(prefix=f"ds-bench-{name}-") as home:
        ctx = ServiceContext.open(Settings(home=Path(home)))
        try:
            init_signing_keys(ctx, force=False, principal=operator)
            yield ctx
        finally:
            ctx.close()


def import_random_pdq_bank(ctx: Any, bank: str, codes: Any, operator: Any) -> None:
    """Create ``bank`` and fill it with ``codes`` ((n, 32) uint8 PDQ hashes) through the bulk
    importer, as an operator would (a CSV of ``signal_type,signal_value`` rows, then removed)."""
    from deepshield.services.spread import banks, bulk_import

    with tempfile.TemporaryDirectory(dir=ctx.settings.home) as tmp:
        csv_path = Path(tmp) / f"{bank}.csv"
        with open(csv_path, "w") as handle:
            handle.write("signal_type,signal_value\n")
            for row in codes:
                handle.write("pdq," + row.tobytes().hex() + "\n")
        banks.create_bank(ctx, bank, "", operator)
        bulk_import.import_file(ctx, bank, csv_path, operator)


def shared_data_dir() -> Path:
    """``$DEEPSHIELD_SHARED_DATA``, else ``../shared/data`` beside the checkout."""
    env = os.environ.get("DEEPSHIELD_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "data"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def interpreter() -> str:
    """The Python running the benchmark, relative to the working folder when inside it."""
    relative = os.path.relpath(sys.executable)
    return sys.executable if relative.startswith("..") else relative


def package_version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def print_results_table(head: list[str], cols: list[tuple[str, str, str]], rows: list[dict[str, Any]], *,
                        title: str, left: tuple[str, ...], width: int, footer: list[str]) -> None:
    """Print a benchmark's header lines, its results as a table and its footer lines.

    ``cols`` holds (title, key in each row, format); a None value prints as "-". Columns named in
    ``left`` are left-aligned, the rest right-aligned. Rich draws the table when it is installed
    (it is a dependency of the CLI); plain aligned text is the fallback.
    """
    cells = [["-" if row[key] is None else fmt.format(row[key]) for _, key, fmt in cols] for row in rows]
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print("\n".join(head))
        widths = [max(len(c[0]), *(len(r[i]) for r in cells)) for i, c in enumerate(cols)]
        print("  ".join(c[0].ljust(w) for c, w in zip(cols, widths, strict=True)))
        for r in cells:
            print("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)))
        print("\n".join(footer))
        return
    console = Console(width=max(Console().width, width))
    for line in head:
        console.print(line, highlight=False, markup=False)
    table = Table(title=title)
    for column_title, _, _ in cols:
        table.add_column(column_title, justify="left" if column_title in left else "right")
    for r in cells:
        table.add_row(*r)
    console.print(table)
    for line in footer:
        console.print(line, highlight=False, markup=False)


def free_port() -> int:
    """A loopback port free right now, for a server a benchmark starts."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(url: str, server: Any, *, timeout_s: float, log_tail: Any = None) -> float:
    """Poll ``url`` until it answers 200; seconds it took. Raises ``RuntimeError`` when the server
    process (a ``subprocess.Popen``) exits or ``timeout_s`` passes, with ``log_tail()`` (the end of
    the server's output) in the message when given."""
    import time

    import httpx

    started = time.monotonic()
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        if server.poll() is not None or time.monotonic() - started > timeout_s:
            raise RuntimeError("the server did not start" + (f": {log_tail()}" if log_tail else ""))
        time.sleep(0.1)
