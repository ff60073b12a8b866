"""Evidence about unlabelled media: comparison with a suspected source.

Pure functions over decoded pixel arrays (``comparison.compare``); the wording of verdicts and any
storage belong to ``services``.
"""

from deepshield.forensics.comparison import METHOD_VERSION, Comparison, Outcome, Region, compare

__all__ = ["METHOD_VERSION", "Comparison", "Outcome", "Region", "compare"]
