"""The one settings object, read from ``DEEPSHIELD_*`` environment variables at the doors."""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal, TypeVar

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
class HashKeySettings:
    """The key that seals hash values at rest (docs/HASHES_AT_REST.md). The key file is
    ``$DEEPSHIELD_HOME/keys/hash-key`` (mode 0600; made on first start)."""

    #: "module:function" taking a KMS-wrapped data key (bytes) and returning the 32-byte data key
    callback: str = ""


@dataclass(frozen=True)
class CaseSettings:
    """Takedown cases: banks, clocks, victims' PINs, withdrawal and misuse policy."""

    #: Hashes of a complete request go here at once (matchable for review, not yet verified).
    reports_bank: str = "case-reports"
    #: On removal the content's hashes go here: re-uploads match and are blocked.
    block_bank: str = "takedown-blocked"
    #: Hours before a deadline at which a clock escalates (and at most half the clock's span).
    escalate_before_hours: float = 6.0
    #: The UK has no fixed number: "prompt" acknowledgement is taken as this many hours.
    uk_acknowledge_hours: float = 24.0
    #: EU DSA Art. 16 asks for "timely" handling: acknowledge within this many hours.
    eu_acknowledge_hours: float = 24.0
    #: A complete request answering no jurisdiction with a clock still gets this one.
    policy_remove_hours: float = 48.0
    #: A victim's withdrawal takes effect after this many hours (abusers coerce withdrawals);
    #: a helpline or an admin can confirm it sooner. 0 makes withdrawal immediate.
    withdrawal_cool_off_hours: float = 24.0
    pin_max_failures: int = 5
    pin_lockout_minutes: float = 15.0
    #: scrypt's cost (2**n): 15 is about 50-100 ms and 32 MiB on one core.
    pin_kdf_log2_n: int = 15
    #: Strikes (warnings) before a suspension, and how long a suspension lasts.
    strikes_before_suspension: int = 2
    suspension_days: float = 30.0
    #: New cases one address may file a day through the public, keyless door (0: no cap).
    public_cases_per_address_per_day: int = 5
    #: An incomplete public request that nobody has completed is erased after this many hours.
    draft_expiry_hours: float = 72.0


@dataclass(frozen=True)
class NotificationSettings:
    """How the outbox delivers: SMTP for email, HTTPS (or HTTP on loopback) for webhooks."""

    smtp_host: str = ""  # empty: email stays in the outbox (status pending) until configured
    smtp_port: int = 25
    smtp_from: str = "DeepShield <no-reply@deepshield.invalid>"
    smtp_starttls: bool = False
    smtp_user: str = ""
    smtp_password: str = ""
    #: Webhook bodies are signed with HMAC-SHA256 of this secret (header X-DeepShield-Signature).
    webhook_secret: str = ""
    #: Where uploaders' statements of reasons go: the platform forwards them to its user.
    platform_webhook_url: str = ""
    #: Hash-sharing partners told of status changes (withdrawals above all).
    partner_webhook_urls: tuple[str, ...] = ()
    max_attempts: int = 8


@dataclass(frozen=True)
class ServerSettings:
    """What the HTTP door trusts and how much heavy work one process takes on at once."""

    #: Proxies (addresses or CIDR networks) whose ``X-Forwarded-For`` is believed. Empty: the
    #: client is always the connection's peer, whatever the headers say.
    trusted_proxies: tuple[str, ...] = ()
    #: Requests decoding or analysing media (verify, label, hash, match of a file, ...) that one
    #: process runs at once; the excess is answered 503 with ``Retry-After`` instead of queued.
    max_heavy_requests: int = 2
    #: The ``Retry-After`` (seconds) sent with such a 503.
    heavy_retry_after_s: int = 2
    #: The public (keyless) routes' token bucket per address: refill rate and burst (0: no limit).
    public_rate_per_minute: int = 60
    public_burst: int = 20
    #: How long a staff member stays signed in to the web door after signing in with a key.
    staff_session_minutes: float = 480.0
    #: How long a victim's "check my case" session lasts after her case number and PIN.
    victim_session_minutes: float = 15.0
    #: Mark the web pages' cookies ``Secure`` on every request, not only those that reached this
    #: process over HTTPS: set it behind a proxy that ends TLS (the app then sees plain HTTP).
    secure_cookies: bool = False


@dataclass(frozen=True)
class SourceSettings:
    """Finding the source of a suspect file (docs/FORENSICS.md, "Finding the source")."""

    #: Banks that hold a reference library: known source footage, each entry naming its reference
    #: by its case reference (a path under ``library``, or a title).
    reference_banks: tuple[str, ...] = ("reference-library",)
    #: The folder the references' files sit in; None: no reference file is reachable (their
    #: hashes are still searched).
    library: Path | None = None


@dataclass(frozen=True)
class Settings:
    home: Path = Path("var")
    database_url: str = ""
    match: MatchSettings = field(default_factory=MatchSettings)
    limits: MediaLimits = field(default_factory=MediaLimits)
    seconds_per_video_hash: float = 1.0
    provenance: ProvenanceSettings = field(default_factory=ProvenanceSettings)
    hash_keys: HashKeySettings = field(default_factory=HashKeySettings)
    cases: CaseSettings = field(default_factory=CaseSettings)
    notifications: NotificationSettings = field(default_factory=NotificationSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    sources: SourceSettings = field(default_factory=SourceSettings)

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

    The variables read here are the ones ``ENV_VARS`` (below) declares with their kinds, defaults
    and bounds; a variable read here needs a row there (tests/test_settings.py checks both ways),
    and docs/CONFIGURATION.md is generated from that table.
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
    cases = CaseSettings(
        escalate_before_hours=_number(env, "DEEPSHIELD_ESCALATE_BEFORE_HOURS", 6.0, 0.0, 48.0),
        uk_acknowledge_hours=_number(env, "DEEPSHIELD_UK_ACKNOWLEDGE_HOURS", 24.0, 0.1, 168.0),
        eu_acknowledge_hours=_number(env, "DEEPSHIELD_EU_ACKNOWLEDGE_HOURS", 24.0, 0.1, 168.0),
        policy_remove_hours=_number(env, "DEEPSHIELD_POLICY_REMOVE_HOURS", 48.0, 1.0, 720.0),
        withdrawal_cool_off_hours=_number(env, "DEEPSHIELD_WITHDRAWAL_COOL_OFF_HOURS", 24.0, 0.0, 720.0),
        pin_max_failures=_number(env, "DEEPSHIELD_PIN_MAX_FAILURES", 5, 1, 100),
        pin_lockout_minutes=_number(env, "DEEPSHIELD_PIN_LOCKOUT_MINUTES", 15.0, 0.0, 10080.0),
        pin_kdf_log2_n=_number(env, "DEEPSHIELD_PIN_KDF_LOG2_N", 15, 10, 20),
        strikes_before_suspension=_number(env, "DEEPSHIELD_STRIKES_BEFORE_SUSPENSION", 2, 1, 100),
        suspension_days=_number(env, "DEEPSHIELD_SUSPENSION_DAYS", 30.0, 0.0, 3650.0),
        public_cases_per_address_per_day=_number(
            env, "DEEPSHIELD_PUBLIC_CASES_PER_ADDRESS_PER_DAY", 5, 0, 100_000),
        draft_expiry_hours=_number(env, "DEEPSHIELD_DRAFT_EXPIRY_HOURS", 72.0, 1.0, 8760.0),
    )
    server = ServerSettings(
        trusted_proxies=tuple(p.strip() for p in env.get("DEEPSHIELD_TRUSTED_PROXIES", "")
                              .split(",") if p.strip()),
        max_heavy_requests=_number(env, "DEEPSHIELD_MAX_HEAVY_REQUESTS", 2, 1, 1024),
        heavy_retry_after_s=_number(env, "DEEPSHIELD_HEAVY_RETRY_AFTER_S", 2, 1, 3600),
        public_rate_per_minute=_number(env, "DEEPSHIELD_PUBLIC_RATE_PER_MINUTE", 60, 0, 10**6),
        public_burst=_number(env, "DEEPSHIELD_PUBLIC_BURST", 20, 1, 10**6),
        staff_session_minutes=_number(env, "DEEPSHIELD_STAFF_SESSION_MINUTES", 480.0, 1.0, 7 * 24 * 60.0),
        victim_session_minutes=_number(env, "DEEPSHIELD_VICTIM_SESSION_MINUTES", 15.0, 1.0, 24 * 60.0),
        secure_cookies=bool(_number(env, "DEEPSHIELD_SECURE_COOKIES", 0, 0, 1)),
    )
    notifications = NotificationSettings(
        smtp_host=env.get("DEEPSHIELD_SMTP_HOST", "").strip(),
        smtp_port=_number(env, "DEEPSHIELD_SMTP_PORT", 25, 1, 65535),
        smtp_from=env.get("DEEPSHIELD_SMTP_FROM", "").strip() or NotificationSettings.smtp_from,
        smtp_starttls=bool(_number(env, "DEEPSHIELD_SMTP_STARTTLS", 0, 0, 1)),
        smtp_user=env.get("DEEPSHIELD_SMTP_USER", "").strip(),
        smtp_password=env.get("DEEPSHIELD_SMTP_PASSWORD", ""),
        webhook_secret=env.get("DEEPSHIELD_WEBHOOK_SECRET", ""),
        platform_webhook_url=env.get("DEEPSHIELD_PLATFORM_WEBHOOK_URL", "").strip(),
        partner_webhook_urls=tuple(u.strip() for u in env.get("DEEPSHIELD_PARTNER_WEBHOOK_URLS", "")
                                   .split(",") if u.strip()),
        max_attempts=_number(env, "DEEPSHIELD_NOTIFY_MAX_ATTEMPTS", 8, 1, 100),
    )
    sources = SourceSettings(
        reference_banks=tuple(name.strip() for name in env.get("DEEPSHIELD_REFERENCE_BANKS", "").split(",")
                              if name.strip()) or SourceSettings.reference_banks,
        library=_path(env, "DEEPSHIELD_REFERENCE_LIBRARY"),
    )
    return Settings(
        home=Path(env.get("DEEPSHIELD_HOME") or "var"),
        database_url=env.get("DEEPSHIELD_DATABASE_URL", ""),
        match=match,
        limits=limits,
        provenance=provenance,
        hash_keys=HashKeySettings(callback=env.get("DEEPSHIELD_HASH_KEY_CALLBACK", "").strip()),
        cases=cases,
        notifications=notifications,
        server=server,
        sources=sources,
    )


def import_callback(spec: str, variable: str) -> Callable[[bytes], bytes]:
    """The function a ``module:function`` setting names (a KMS's signing or unwrap call), or
    ``InvalidRequest`` naming ``variable`` when it cannot be imported or called."""
    module_name, _, attribute = spec.partition(":")
    try:
        function = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as exc:
        raise InvalidRequest(f"{variable}={spec!r} is not an importable 'module:function': {exc}") from None
    if not callable(function):
        raise InvalidRequest(f"{variable}={spec!r} is not callable")
    return function  # type: ignore[no-any-return]


def _path(env: Mapping[str, str], name: str) -> Path | None:
    value = env.get(name, "").strip()
    return Path(value) if value else None


#: How a variable's value is read: "list" is comma-separated, "secret" is text never to be logged.
EnvKind = Literal["whole number", "number", "0 or 1", "text", "secret", "path", "URL", "list",
                  "module:function"]
#: The kinds ``load_settings`` parses as numbers and range-checks (``EnvVar.low``/``high`` are set).
NUMERIC_KINDS: frozenset[EnvKind] = frozenset({"whole number", "number", "0 or 1"})


@dataclass(frozen=True)
class EnvVar:
    """One environment variable that ``load_settings`` reads, as the documentation states it.

    ``ENV_VARS`` holds every one, and docs/CONFIGURATION.md is generated from it (``make docs``).
    tests/test_settings.py holds the table to ``load_settings`` itself: the set of names it reads,
    that ``default`` behaves exactly like leaving the variable unset, and that ``low``/``high`` are
    the bounds it enforces. So a variable added to ``load_settings`` without a row here, or a
    changed default or range, fails the tests instead of leaving the documentation wrong.
    """

    name: str
    kind: EnvKind
    #: The value that behaves like leaving the variable unset ("" when unset has its own meaning).
    default: str
    #: One line for the reference: what it controls, and what unset means when that is not obvious.
    meaning: str
    low: float | None = None  # numeric kinds only: the smallest value accepted
    high: float | None = None  # numeric kinds only: the largest value accepted


#: Every variable ``load_settings`` reads, in sections for the reference.
ENV_VAR_SECTIONS: dict[str, tuple[EnvVar, ...]] = {
    "Storage": (
        EnvVar("DEEPSHIELD_HOME", "path", "var",
               "Where DeepShield keeps its files: the SQLite database, keys, provenance and index "
               "snapshots (relative paths are from the working directory)."),
        EnvVar("DEEPSHIELD_DATABASE_URL", "URL", "",
               "The database, e.g. `postgresql://user@host/db`; unset: SQLite at "
               "`$DEEPSHIELD_HOME/deepshield.db`."),
    ),
    "Matching": (
        EnvVar("DEEPSHIELD_PDQ_THRESHOLD", "whole number", "31",
               "PDQ hashes match at a Hamming distance up to this (Meta's recommendation).", 0, 128),
        EnvVar("DEEPSHIELD_PDQ_MIN_QUALITY", "whole number", "50",
               "PDQ hashes (and vPDQ frames) below this quality are refused or ignored.", 0, 100),
        EnvVar("DEEPSHIELD_VPDQ_QUERY_MATCH_PCT", "number", "80",
               "Share (%) of the query video's unique frames that must match a banked video.", 0, 100),
        EnvVar("DEEPSHIELD_VPDQ_COMPARED_MATCH_PCT", "number", "0",
               "Share (%) of the banked video's unique frames that must match the query.", 0, 100),
        EnvVar("DEEPSHIELD_REPOST_QUERIES", "0 or 1", "1",
               "1: also query border-trimmed, caption-cut and rotated-back forms of an image "
               "(docs/MATCHING.md); 0: the plain and dihedral hashes only.", 0, 1),
        EnvVar("DEEPSHIELD_MATCH_SYNC_SECONDS", "number", "0.5",
               "How often (s) a matcher looks for bank changes made by other processes; 0: before "
               "every match.", 0, 5),
    ),
    "Media limits": (
        EnvVar("DEEPSHIELD_MAX_IMAGE_BYTES", "whole number", "52428800",
               "Largest image accepted, in bytes (50 MiB).", 1, 2**40),
        EnvVar("DEEPSHIELD_MAX_VIDEO_BYTES", "whole number", "524288000",
               "Largest video accepted, in bytes (500 MiB).", 1, 2**40),
        EnvVar("DEEPSHIELD_MAX_PIXELS", "whole number", "100000000",
               "Largest image in pixels, read from the header before any pixel is decoded (stops "
               "decompression bombs).", 1, 2**40),
        EnvVar("DEEPSHIELD_MAX_FRAMES", "whole number", "250000",
               "Most video frames decoded.", 1, 2**40),
        EnvVar("DEEPSHIELD_MAX_DURATION_S", "number", "10800",
               "Longest video accepted, in seconds (3 hours).", 1, 1e7),
    ),
    "Content Credentials (docs/PROVENANCE.md)": (
        EnvVar("DEEPSHIELD_SIGNING_CERT", "path", "",
               "PEM certificate chain, signing certificate first; unset (with no callback): the "
               "signer `deepshield keys init` made under `$DEEPSHIELD_HOME/provenance`."),
        EnvVar("DEEPSHIELD_SIGNING_KEY", "path", "",
               "PEM private key of that certificate (not needed with a signing callback)."),
        EnvVar("DEEPSHIELD_SIGNING_CALLBACK", "module:function", "",
               "A KMS's signing call: takes the bytes to sign, returns the signature (also signs "
               "evidence packs); needs `DEEPSHIELD_SIGNING_CERT`."),
        EnvVar("DEEPSHIELD_TRUST_ANCHORS", "path", "",
               "PEM bundle of trusted roots; unset: `$DEEPSHIELD_HOME/provenance/trust-anchors.pem`."),
        EnvVar("DEEPSHIELD_TSA_URL", "URL", "",
               "An RFC 3161 timestamp authority for signatures; unset: no timestamp (offline)."),
        EnvVar("DEEPSHIELD_MANIFEST_REPOSITORY_URL", "URL", "",
               "A remote manifest repository that labelling registers in and verification "
               "resolves against; unset: this installation's store."),
        EnvVar("DEEPSHIELD_MANIFEST_REPOSITORY_KEY", "secret", "",
               "The API key (provider role) for writes to that remote repository."),
    ),
    "Hashes at rest (docs/HASHES_AT_REST.md)": (
        EnvVar("DEEPSHIELD_HASH_KEY_CALLBACK", "module:function", "",
               "A KMS's unwrap call: takes a wrapped data key, returns the 32-byte key; unset: the "
               "key file `$DEEPSHIELD_HOME/keys/hash-key`."),
    ),
    "Finding the source (docs/FORENSICS.md)": (
        EnvVar("DEEPSHIELD_REFERENCE_BANKS", "list", "reference-library",
               "Banks (comma-separated) that hold a reference library of known source footage, "
               "searched by `forensics sources` and `POST /v1/forensics/sources`."),
        EnvVar("DEEPSHIELD_REFERENCE_LIBRARY", "path", "",
               "The folder of the reference library's files (an entry's case reference is the path "
               "below it): searched by local features and compared; unset: by hashes only, none compared."),
    ),
    "Takedown cases (docs/CASES.md)": (
        EnvVar("DEEPSHIELD_ESCALATE_BEFORE_HOURS", "number", "6",
               "A case's clock escalates this many hours before its deadline (at most half-way).",
               0, 48),
        EnvVar("DEEPSHIELD_UK_ACKNOWLEDGE_HOURS", "number", "24",
               "Hours taken as the UK's \"prompt\" acknowledgement.", 0.1, 168),
        EnvVar("DEEPSHIELD_EU_ACKNOWLEDGE_HOURS", "number", "24",
               "Hours taken as the EU DSA's \"timely\" acknowledgement (Art. 16).", 0.1, 168),
        EnvVar("DEEPSHIELD_POLICY_REMOVE_HOURS", "number", "48",
               "The removal deadline (hours) of a complete request that no law gives a clock.", 1, 720),
        EnvVar("DEEPSHIELD_WITHDRAWAL_COOL_OFF_HOURS", "number", "24",
               "Hours before a victim's withdrawal takes effect (a helpline or admin can confirm it "
               "sooner); 0: at once.", 0, 720),
        EnvVar("DEEPSHIELD_PIN_MAX_FAILURES", "whole number", "5",
               "Wrong PINs before a victim's access to the case is locked.", 1, 100),
        EnvVar("DEEPSHIELD_PIN_LOCKOUT_MINUTES", "number", "15",
               "How long (minutes) such a lock lasts.", 0, 10080),
        EnvVar("DEEPSHIELD_PIN_KDF_LOG2_N", "whole number", "15",
               "scrypt's cost for PINs as a power of two (15: about 50-100 ms and 32 MiB).", 10, 20),
        EnvVar("DEEPSHIELD_STRIKES_BEFORE_SUSPENSION", "whole number", "2",
               "Misuse strikes (warnings) before a suspension.", 1, 100),
        EnvVar("DEEPSHIELD_SUSPENSION_DAYS", "number", "30",
               "How long (days) a suspension lasts.", 0, 3650),
        EnvVar("DEEPSHIELD_PUBLIC_CASES_PER_ADDRESS_PER_DAY", "whole number", "5",
               "New cases one address may file per UTC day through the public, keyless door; 0: no "
               "cap.", 0, 100_000),
        EnvVar("DEEPSHIELD_DRAFT_EXPIRY_HOURS", "number", "72",
               "An incomplete public request nobody completed is erased after this many hours.",
               1, 8760),
    ),
    "HTTP server (docs/DEPLOY.md)": (
        EnvVar("DEEPSHIELD_TRUSTED_PROXIES", "list", "",
               "Proxies (addresses or CIDR networks, comma-separated) whose `X-Forwarded-For` is "
               "believed; unset: the client is always the connection's peer."),
        EnvVar("DEEPSHIELD_MAX_HEAVY_REQUESTS", "whole number", "2",
               "Media-decoding requests one process runs at once; the excess is answered 503 "
               "with `Retry-After`, not queued.", 1, 1024),
        EnvVar("DEEPSHIELD_HEAVY_RETRY_AFTER_S", "whole number", "2",
               "The `Retry-After` (seconds) sent with that 503.", 1, 3600),
        EnvVar("DEEPSHIELD_PUBLIC_RATE_PER_MINUTE", "whole number", "60",
               "The public (keyless) routes' tokens refilled per minute per client address; 0: no "
               "limit.", 0, 10**6),
        EnvVar("DEEPSHIELD_PUBLIC_BURST", "whole number", "20",
               "Public requests an address may make at once.", 1, 10**6),
        EnvVar("DEEPSHIELD_STAFF_SESSION_MINUTES", "number", "480",
               "How long a staff sign-in to the web pages lasts (minutes) before the key is asked "
               "for again.", 1.0, 7 * 24 * 60.0),
        EnvVar("DEEPSHIELD_VICTIM_SESSION_MINUTES", "number", "15",
               "How long a victim's \"check my case\" session lasts (minutes) before the case number "
               "and PIN are asked for again.", 1.0, 24 * 60.0),
        EnvVar("DEEPSHIELD_SECURE_COOKIES", "0 or 1", "0",
               "1: the web pages' cookies are always marked Secure (set it behind a proxy that ends "
               "TLS); 0: only when the request came over HTTPS.", 0, 1),
    ),
    "Notifications (docs/CASES.md)": (
        EnvVar("DEEPSHIELD_SMTP_HOST", "text", "",
               "The SMTP server for email; unset: email waits in the outbox (pending)."),
        EnvVar("DEEPSHIELD_SMTP_PORT", "whole number", "25", "The SMTP server's port.", 1, 65535),
        EnvVar("DEEPSHIELD_SMTP_FROM", "text", "DeepShield <no-reply@deepshield.invalid>",
               "The sender of DeepShield's email."),
        EnvVar("DEEPSHIELD_SMTP_STARTTLS", "0 or 1", "0", "1: upgrade SMTP with STARTTLS.", 0, 1),
        EnvVar("DEEPSHIELD_SMTP_USER", "text", "", "SMTP login; unset: no login."),
        EnvVar("DEEPSHIELD_SMTP_PASSWORD", "secret", "", "SMTP password."),
        EnvVar("DEEPSHIELD_WEBHOOK_SECRET", "secret", "",
               "Webhook bodies are signed with HMAC-SHA256 of this (`X-DeepShield-Signature`); "
               "unset: unsigned."),
        EnvVar("DEEPSHIELD_PLATFORM_WEBHOOK_URL", "URL", "",
               "Where uploaders' statements of reasons and escalations go (the platform forwards "
               "them)."),
        EnvVar("DEEPSHIELD_PARTNER_WEBHOOK_URLS", "list", "",
               "Hash-sharing partners' webhooks (comma-separated), told of status changes such as "
               "withdrawals."),
        EnvVar("DEEPSHIELD_NOTIFY_MAX_ATTEMPTS", "whole number", "8",
               "Delivery attempts before a message is marked failed.", 1, 100),
    ),
}

#: The same variables in one tuple.
ENV_VARS: tuple[EnvVar, ...] = tuple(var for section in ENV_VAR_SECTIONS.values() for var in section)
