"""DeepShield's invisible watermark: 64 payload bits in luma, keyed, blind detection, CPU only.

``embed(image, payload, key=...)`` and ``detect(image, keys=...)`` work on H×W×3 uint8 RGB
arrays with a short side of at least 256 pixels. See docs/WATERMARK.md for the design.
"""

from deepshield.watermark.detection import Detection, Mark, Placement, detect
from deepshield.watermark.embedding import DEFAULT_STRENGTH, SlotsFull, embed
from deepshield.watermark.keys import PUBLIC_KEY, WatermarkKey, key_from_secret, new_key

__all__ = ["DEFAULT_STRENGTH", "PUBLIC_KEY", "Detection", "Mark", "Placement", "SlotsFull", "WatermarkKey",
           "detect", "embed", "key_from_secret", "new_key"]
