"""The one settings object, read from ``DEEPSHIELD_*`` environment variables at the doors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from deepshield.errors import InvalidRequest
from deepshield.media.limits import MediaLimits

Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class MatchSettings:
    """Thresholds for matching. Defaults follow Meta's recommendations for PDQ and vPDQ."""

    pdq_threshold: int = 31  # match when Hamming distance <= this
    pdq_min_quality: int = 50  # hashes below this quality are refused
    vpdq_query_match_pct: float = 80.0  # share of the query video's unique frames that must match
    vpdq_compared_match_pct: float = 0.0  # share of the banked video's unique frames that must match
    repost_queries: bool = True  # also query border-trimmed, caption-cut and rotated-back forms
    #: How often the matcher checks the store for bank changes made by other processes.
    #: Changes made through this process are seen by the next match at once.
    sync_interval_s: float = 0.5


@dataclass(frozen=True)
class ProvenanceSettings:
    """Signing and trust for Content Credentials. Empty paths mean ``$DEEPSHIELD_HOME/provenance``
    (what ``deepshield keys init`` writes)."""

    signing_certificate: Path | None = None  # PEM chain: the signing certificate first
    signing_key: Path | None = None  # PEM private key (not needed with a signing callback)
    signing_callback: str = ""  # "module:function" taking the bytes to sign, returning a signature
    trust_anchors: Path | None = None  # PEM bundle of trusted roots
    tsa_url: str = ""  # an RFC 3161 timestamp authority; none offline
    repository_url: str = ""  # a remote manifest repository; empty = this installation's store
    repository_key: str = ""  # the API key (provider role) for writes to that repository


@dataclass(frozen=True)
class Settings:
    home: Path = Path("var")
    database_url: str = ""
    match: MatchSettings = field(default_factory=MatchSettings)
    limits: MediaLimits = field(default_factory=MediaLimits)
    seconds_per_video_hash: float = 1.0
    provenance: ProvenanceSettings = field(default_factory=ProvenanceSettings)

    @property
    def provenance_dir(self) -> Path:
        """Where ``keys init`` keeps the development CA, the signer and the trust anchors."""
        return self.home / "provenance"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'deepshield.db').resolve()}"

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]


def _number(env: Mapping[str, str], name: str, default: Number, low: Number, high: Number) -> Number:
    """``env[name]`` parsed like ``default`` (int or float) and range-checked; else ``default``."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    kind = type(default)
    try:
        value = kind(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise InvalidRequest(f"{name} must be {noun}; got {raw!r}") from None
    if not low <= value <= high:
        raise InvalidRequest(f"{name} must be between {low} and {high}; got {value}")
    return value


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build ``Settings`` from the environment. Invalid values raise ``InvalidRequest`` by name.

    Variables: DEEPSHIELD_HOME, DEEPSHIELD_DATABASE_URL, DEEPSHIELD_PDQ_THRESHOLD,
    DEEPSHIELD_PDQ_MIN_QUALITY, DEEPSHIELD_VPDQ_QUERY_MATCH_PCT,
    DEEPSHIELD_VPDQ_COMPARED_MATCH_PCT, DEEPSHIELD_REPOST_QUERIES (1 or 0),
    DEEPSHIELD_MATCH_SYNC_SECONDS (0-5), DEEPSHIELD_MAX_IMAGE_BYTES,
    DEEPSHIELD_MAX_VIDEO_BYTES, DEEPSHIELD_MAX_PIXELS, DEEPSHIELD_MAX_FRAMES,
    DEEPSHIELD_MAX_DURATION_S; for Content Credentials DEEPSHIELD_SIGNING_CERT,
    DEEPSHIELD_SIGNING_KEY, DEEPSHIELD_SIGNING_CALLBACK, DEEPSHIELD_TRUST_ANCHORS,
    DEEPSHIELD_TSA_URL, DEEPSHIELD_MANIFEST_REPOSITORY_URL, DEEPSHIELD_MANIFEST_REPOSITORY_KEY.
    """
    env = os.environ if env is None else env
    defaults = MediaLimits()
    match = MatchSettings(
        pdq_threshold=_number(env, "DEEPSHIELD_PDQ_THRESHOLD", 31, 0, 128),
        pdq_min_quality=_number(env, "DEEPSHIELD_PDQ_MIN_QUALITY", 50, 0, 100),
        vpdq_query_match_pct=_number(env, "DEEPSHIELD_VPDQ_QUERY_MATCH_PCT", 80.0, 0.0, 100.0),
        vpdq_compared_match_pct=_number(env, "DEEPSHIELD_VPDQ_COMPARED_MATCH_PCT", 0.0, 0.0, 100.0),
        repost_queries=bool(_number(env, "DEEPSHIELD_REPOST_QUERIES", 1, 0, 1)),
        sync_interval_s=_number(env, "DEEPSHIELD_MATCH_SYNC_SECONDS", 0.5, 0.0, 5.0),
    )
    limits = MediaLimits(
        max_image_bytes=_number(env, "DEEPSHIELD_MAX_IMAGE_BYTES", defaults.max_image_bytes, 1, 2**40),
        max_video_bytes=_number(env, "DEEPSHIELD_MAX_VIDEO_BYTES", defaults.max_video_bytes, 1, 2**40),
        max_pixels=_number(env, "DEEPSHIELD_MAX_PIXELS", defaults.max_pixels, 1, 2**40),
        max_frames=_number(env, "DEEPSHIELD_MAX_FRAMES", defaults.max_frames, 1, 2**40),
        max_duration_s=_number(env, "DEEPSHIELD_MAX_DURATION_S", defaults.max_duration_s, 1, 1e7),
    )
    provenance = ProvenanceSettings(
        signing_certificate=_path(env, "DEEPSHIELD_SIGNING_CERT"),
        signing_key=_path(env, "DEEPSHIELD_SIGNING_KEY"),
        signing_callback=env.get("DEEPSHIELD_SIGNING_CALLBACK", "").strip(),
        trust_anchors=_path(env, "DEEPSHIELD_TRUST_ANCHORS"),
        tsa_url=env.get("DEEPSHIELD_TSA_URL", "").strip(),
        repository_url=env.get("DEEPSHIELD_MANIFEST_REPOSITORY_URL", "").strip().rstrip("/"),
        repository_key=env.get("DEEPSHIELD_MANIFEST_REPOSITORY_KEY", "").strip(),
    )
    return Settings(
        home=Path(env.get("DEEPSHIELD_HOME") or "var"),
        database_url=env.get("DEEPSHIELD_DATABASE_URL", ""),
        match=match,
        limits=limits,
        provenance=provenance,
    )


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name, "").strip()
    return Path(value) if value else None
