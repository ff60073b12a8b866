"""DeepShield's invisible watermark: 64 payload bits in luma, blind detection, CPU only.

``embed(image, payload)`` and ``detect(image)`` work on H×W×3 uint8 RGB arrays with a
short side of at least 256 pixels. See docs/WATERMARK.md for the design.
"""

from deepshield.watermark.detection import Detection, detect
from deepshield.watermark.embedding import DEFAULT_STRENGTH, embed

__all__ = ["DEFAULT_STRENGTH", "Detection", "detect", "embed"]
