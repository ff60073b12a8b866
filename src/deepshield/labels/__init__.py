"""Visible AI labels: an "AI" badge (EU AI Act Art. 50(4)) or "AI生成" (China, GB 45438-2025).

``apply_visible_label(pixels, spec)`` draws the badge into a corner of an H×W×3 uint8 RGB
image and returns a new array; ``label_frame_at(time_s, pixels, spec)`` does the same for
the first seconds of a video. See docs/VISIBLE_LABELS.md.
"""

from deepshield.labels.visible import (
    CN_MIN_SIZE,
    MIN_SHORT_SIDE,
    BadgeBox,
    VisibleLabelSpec,
    apply_visible_label,
    badge_box,
    label_frame_at,
)

__all__ = [
    "CN_MIN_SIZE",
    "MIN_SHORT_SIDE",
    "BadgeBox",
    "VisibleLabelSpec",
    "apply_visible_label",
    "badge_box",
    "label_frame_at",
]
