"""Use case: fingerprint a piece of media. Runs offline; nothing is stored."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from deepshield.media import (
    DecodedImage,
    MediaKind,
    MediaLimits,
    decode_image,
    read_media_file,
    sniff_media_type,
)
from deepshield.services.access import Action, Principal, authorize
from deepshield.signals import repost
from deepshield.signals.digests import md5_hex, sha256_hex
from deepshield.signals.pdq import PdqHash, pdq_dihedral_from_pixels
from deepshield.signals.types import SignalType
from deepshield.signals.vpdq import VpdqFeature, serialize_vpdq, vpdq_from_video

if TYPE_CHECKING:
    from deepshield.services.context import ServiceContext


@dataclass(frozen=True)
class MediaSignals:
    """Every signal of one file. ``pdq_variants`` holds the eight dihedral hashes of an image."""

    kind: MediaKind
    format: str
    width: int
    height: int
    md5: str
    sha256: str
    pdq: PdqHash | None = None
    pdq_variants: tuple[tuple[str, PdqHash], ...] = ()
    #: Repost-robust extras (signals.repost), computed only when asked for: the query side's
    #: derived hashes, the victim side's hash set, and the queries that meet a label's signed
    #: region fingerprints (``repost.region_queries``).
    pdq_derived: tuple[tuple[str, PdqHash], ...] = ()
    pdq_hash_set: tuple[tuple[str, PdqHash], ...] = ()
    pdq_region_queries: tuple[tuple[str, PdqHash], ...] = ()
    vpdq: tuple[VpdqFeature, ...] = ()
    duration_s: float | None = None

    def as_signals(self) -> list[tuple[SignalType, str, int | None]]:
        """The storable signals: ``(type, value, quality)`` in a stable order."""
        signals: list[tuple[SignalType, str, int | None]] = []
        if self.pdq is not None:
            signals.append((SignalType.PDQ, self.pdq.hex, self.pdq.quality))
        if self.vpdq:
            # A video's quality is per frame; the bank records the best frame's when it checks them.
            signals.append((SignalType.VPDQ, serialize_vpdq(self.vpdq), None))
        signals.append((SignalType.MD5, self.md5, None))
        signals.append((SignalType.SHA256, self.sha256, None))
        return signals


def hash_media(data: bytes, limits: MediaLimits, *, seconds_per_video_hash: float = 1.0,
               derived_queries: bool = False, hash_set: bool = False,
               region_queries: bool = False) -> MediaSignals:
    """Fingerprint image or video bytes. Raises a ``MediaError`` for anything unreadable.

    ``derived_queries`` adds the repost-robust query hashes (for matching an upload);
    ``hash_set`` adds the victim-side hash set (for banking an original); ``region_queries``
    the queries for a label's region fingerprints (for finding a label). Images only.
    """
    media_type = sniff_media_type(data[:64])
    if media_type.kind is MediaKind.IMAGE:
        return hash_image(data, decode_image(data, limits, for_analysis=True),
                          derived_queries=derived_queries, hash_set=hash_set,
                          region_queries=region_queries)
    from deepshield.media.video import probe_video  # PyAV (~0.1 s to load) only for a video

    info = probe_video(data, limits)
    features = vpdq_from_video(data, limits, seconds_per_hash=seconds_per_video_hash)
    return MediaSignals(
        kind=MediaKind.VIDEO,
        format=media_type.name,
        width=info.width,
        height=info.height,
        md5=md5_hex(data),
        sha256=sha256_hex(data),
        vpdq=tuple(features),
        duration_s=info.duration_s,
    )


def hash_image(data: bytes, decoded: DecodedImage, *, derived_queries: bool = False,
               hash_set: bool = False, region_queries: bool = False) -> MediaSignals:
    """The signals of an image already decoded from ``data`` (``decode_image(..., for_analysis=True)``).

    An image over ``MediaLimits.max_analysis_pixels`` arrives reduced; its PDQ hashes are those of
    the reduction, within a few bits of the full-size ones (PDQ itself reduces to 64 × 64), and
    the same whoever hashes the same file. Width and height are the image's own.
    """
    variants = pdq_dihedral_from_pixels(decoded.pixels)
    return MediaSignals(
        pdq_derived=tuple(repost.derived_queries(decoded.pixels)) if derived_queries else (),
        pdq_hash_set=tuple(repost.hash_set(decoded.pixels)) if hash_set else (),
        pdq_region_queries=tuple(repost.region_queries(decoded.pixels)) if region_queries else (),
        kind=MediaKind.IMAGE,
        format=decoded.media_type.name,
        width=decoded.width,
        height=decoded.height,
        md5=md5_hex(data),
        sha256=sha256_hex(data),
        pdq=variants[0][1],
        pdq_variants=tuple(variants),
    )


def hash_file(path: Path, limits: MediaLimits, *, seconds_per_video_hash: float = 1.0,
              hash_set: bool = False) -> MediaSignals:
    """Fingerprint the file at ``path``; the file is read once and never written anywhere."""
    data = read_media_file(path, limits.max_bytes)
    return hash_media(data, limits, seconds_per_video_hash=seconds_per_video_hash, hash_set=hash_set)


def hash_upload(ctx: ServiceContext, data: bytes, principal: Principal) -> MediaSignals:
    """Fingerprint uploaded bytes for a caller; the action (not the hashes) is audit-logged.
    ``Forbidden`` before any work unless ``principal`` may hash (``Action.HASH``)."""
    authorize(principal, Action.HASH)
    media = hash_media(data, ctx.settings.limits,
                       seconds_per_video_hash=ctx.settings.seconds_per_video_hash)
    ctx.read_audit.record(principal.actor, "hash", "", kind=media.kind.value)
    return media
