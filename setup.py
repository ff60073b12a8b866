"""Build of DeepShield's optional C extensions; all package metadata lives in pyproject.toml.

- ``deepshield.signals._pdq_native`` is PDQ bit-identical to ``pdqhash`` but several times faster
  (docs/BENCHMARKS.md, "Faster PDQ"); without it ``deepshield.signals.pdq`` uses ``pdqhash``.
- ``deepshield.index._pdq_search_native`` is the multi-index PDQ range search over the index's
  arrays (docs/BENCHMARKS.md, "Match API cost"); without it ``deepshield.index.pdq_multi_index``
  searches with numpy, with the same answers.

Both are optional: where no C compiler is available the install still succeeds without them.

The flags keep IEEE float semantics, which bit-identity depends on: no fast-math, no fused
multiply-add contraction, and no ``-march=native`` (the extension must run on any machine of the
architecture, and needs nothing beyond the baseline: SSE2 on x86-64).
"""

from __future__ import annotations

import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

GCC_LIKE_FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math"]
MSVC_FLAGS = ["/O2", "/fp:precise"]


class BuildExt(build_ext):
    """Picks the float-safe optimisation flags for the compiler actually used."""

    def build_extensions(self) -> None:
        flags = MSVC_FLAGS if self.compiler.compiler_type == "msvc" else GCC_LIKE_FLAGS
        for extension in self.extensions:
            extension.extra_compile_args = [*extension.extra_compile_args, *flags]
        super().build_extensions()


setup(
    ext_modules=[
        Extension(
            "deepshield.signals._pdq_native",
            sources=["src/deepshield/signals/_pdq_native.c"],
            libraries=[] if sys.platform == "win32" else ["m"],  # cos and sqrt for the DCT table
            optional=True,  # no compiler: install anyway, and hash through pdqhash
        ),
        Extension(
            "deepshield.index._pdq_search_native",
            sources=["src/deepshield/index/_pdq_search_native.c"],
            optional=True,  # no compiler: install anyway, and search with numpy
        ),
    ],
    cmdclass={"build_ext": BuildExt},
)
