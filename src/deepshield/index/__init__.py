"""In-memory search over signals: exact PDQ at a threshold, exact digests, vPDQ frames."""

from deepshield.index.exact_index import ExactIndex
from deepshield.index.pdq_index import PdqHit, PdqIndex
from deepshield.index.pdq_multi_index import PdqMultiIndex

__all__ = ["ExactIndex", "PdqHit", "PdqIndex", "PdqMultiIndex"]
