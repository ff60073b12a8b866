"""What every benchmark reports about where it ran, and where the shared data lives."""

from __future__ import annotations

import importlib.util
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

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
