"""Tables. Hash values and case references live here; images never do, and no PII does."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from deepshield.store.hash_sealing import LookupDigest, SealedText


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware ones")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: object) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Bank(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    entries: Mapped[list[BankEntry]] = relationship(back_populates="bank")


class BankEntry(Base):
    """One signal in one bank. Withdrawal is permanent; disabling can be undone."""

    __tablename__ = "bank_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id"), nullable=False)
    signal_type: Mapped[str] = mapped_column(String(16), nullable=False)
    #: Sealed at rest (AES-GCM, store/hash_sealing.py); plain to Python.
    value: Mapped[str] = mapped_column(SealedText("bank_entries.value"), nullable=False)
    #: Bound as the SHA-256 of value, stored as its HMAC under the lookup key: a fixed-width key
    #: for duplicate checks (vPDQ values are long) that names no hash to a reader of the file.
    value_digest: Mapped[str] = mapped_column(LookupDigest(), nullable=False)
    quality: Mapped[int | None] = mapped_column(Integer, nullable=True)
    origin: Mapped[str] = mapped_column(String(16), nullable=False)
    case_ref: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    added_by: Mapped[str] = mapped_column(String(64), nullable=False)

    bank: Mapped[Bank] = relationship(back_populates="entries")

    __table_args__ = (
        Index("ix_bank_entries_lookup", "bank_id", "signal_type", "value_digest"),
        Index("ix_bank_entries_case_ref", "case_ref"),
    )

    @property
    def active(self) -> bool:
        return self.enabled and self.withdrawn_at is None


class EntryChange(Base):
    """Append-only feed of entry writes; matchers replay it to stay current without rebuilds."""

    __tablename__ = "entry_changes"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entries.id"), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)


class ApiKey(Base):
    """An API key. Only a hash of its secret is stored; the key itself is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    label: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEvent(Base):
    """Who did what, when. Holds ids and counts, never hash values or images."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    #: Whether a person decided this (False) or the system did on its own (True).
    automated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: The hash chain (store/audit_chain.py): position, the previous event's hash and this
    #: event's hash over its fields and that previous hash. Editing, deleting or inserting
    #: any event breaks it, and ``deepshield audit verify`` says where.
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    entry_hash: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (
        Index("ux_audit_events_seq", "seq", unique=True),
        Index("ix_audit_events_target", "target"),
    )


class AuditReadEvent(Base):
    """An audit event of a read (a match, a hash, a detection; ``AuditGroupCommit``): the same
    fields and the same hash chain as ``AuditEvent``, in a table of its own.

    Reads are most of the log (every lookup is one) and are written in batches by one writer per
    process, so their table is slim: ``seq`` is its only key (appends land at the end of one
    b-tree), with no id and no index on ``target``. Each read takes its place in the one chain
    (its ``seq`` comes from ``audit_chain_head`` like any event's), so ``deepshield audit
    verify`` checks every read and names an altered one by its ``seq``. Append-only by trigger
    (migration 0011)."""

    __tablename__ = "audit_read_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
                                     autoincrement=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="{}")
    automated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    entry_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class PartnerFeedback(Base):
    """What a partner did with an exchanged hash: Blocked, NotBlocked or PendingReview."""

    __tablename__ = "partner_feedback"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    partner: Mapped[str] = mapped_column(String(64), nullable=False)
    entry_id: Mapped[int] = mapped_column(ForeignKey("bank_entries.id"), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    __table_args__ = (Index("ix_partner_feedback_entry", "entry_id", "partner"),)


#: The largest manifest store the repository keeps (a signed store with a thumbnail is ~50 kB).
MAX_MANIFEST_STORE_BYTES = 2 * 1024 * 1024


class Manifest(Base):
    """A C2PA manifest store registered in the manifest repository, kept byte for byte.

    These label AI output (a provider's own generations), not victims' images; the soft-binding
    values are still never logged.
    """

    __tablename__ = "manifests"

    #: The active manifest's URN (``urn:c2pa:...``), as the Soft Binding Resolution API names it.
    manifest_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    manifest_store: Mapped[bytes] = mapped_column(LargeBinary(MAX_MANIFEST_STORE_BYTES), nullable=False)
    store_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    content_type: Mapped[str] = mapped_column(String(64), nullable=False, default="application/c2pa")
    label_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    generator: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(64), nullable=False)
    #: The watermark key that made the label's mark (``public`` or a provider's 16-hex key id); a
    #: mark read with key K resolves only to manifests of K. None: registered before keys (0009),
    #: read as ``public``.
    watermark_key_id: Mapped[str | None] = mapped_column(String(16), nullable=True)


class SoftBinding(Base):
    """One soft-binding value (a watermark label id, a PDQ hash) pointing at a manifest."""

    __tablename__ = "soft_bindings"

    # AUTOINCREMENT on SQLite too: ids are never reused, so (count, max id) tells a reader
    # that the PDQ bindings changed.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    manifest_id: Mapped[str] = mapped_column(ForeignKey("manifests.manifest_id"), nullable=False)
    alg: Mapped[str] = mapped_column(String(100), nullable=False)
    value: Mapped[str] = mapped_column(String(512), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    added_by: Mapped[str] = mapped_column(String(64), nullable=False)
    #: A binding re-pointed by ``PUT /bindings`` stays as history: when and by whom it was
    #: superseded. Reads resolve to the current rows (``superseded_at IS NULL``) only.
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    superseded_by: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        # One current row per (alg, value, manifest); superseded rows are history and may repeat.
        Index("uq_soft_bindings_current", "alg", "value", "manifest_id", unique=True,
              sqlite_where=text("superseded_at IS NULL"), postgresql_where=text("superseded_at IS NULL")),
        Index("ix_soft_bindings_lookup", "alg", "value"),
        Index("ix_soft_bindings_manifest", "manifest_id"),
        {"sqlite_autoincrement": True},
    )


#: The largest stored keypoint set (``signals.keypoints``: 512 keypoints of 36 bytes, and a header).
MAX_KEYPOINT_SET_BYTES = 10 + 512 * 36


class ManifestKeypoints(Base):
    """A labelled output's local features (``signals.keypoints``), kept by the repository to place
    a copy cropped anywhere whose watermark was removed. Search aids, not evidence: a place they
    give is confirmed by the manifest's signed regions. One set per manifest; never logged."""

    __tablename__ = "manifest_keypoints"

    # AUTOINCREMENT on SQLite too: (count, max id) tells a reader that sets were added.
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    manifest_id: Mapped[str] = mapped_column(ForeignKey("manifests.manifest_id"), unique=True, nullable=False)
    version: Mapped[str] = mapped_column(String(32), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary(MAX_KEYPOINT_SET_BYTES), nullable=False)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)

    __table_args__ = ({"sqlite_autoincrement": True},)


class WatermarkKeyRecord(Base):
    """A provider's secret watermark key (docs/WATERMARK_KEYS.md): only this repository and the
    provider read or make its marks. The secret is sealed at rest like bank hashes
    (``watermark_keys.secret``, docs/HASHES_AT_REST.md); ``key_id`` is its public digest."""

    __tablename__ = "watermark_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key_id: Mapped[str] = mapped_column(String(16), unique=True, nullable=False)
    #: The 32 secret bytes as 64 lowercase hex digits, sealed (AES-GCM) in the database.
    secret: Mapped[str] = mapped_column(SealedText("watermark_keys.secret"), nullable=False)
    owner: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # the provider's actor
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    #: Set when retired: the key then makes and reads no more marks here.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


# --- Takedown cases (issue 6) -----------------------------------------------------------------
# A case holds no image and as little PII as possible. Contact details and the typed signature
# live in ``case_contacts`` alone, apart from hashes (which live in bank entries, linked by
# ``case_ref``) so that erasing a person's details touches one table.


class Case(Base):
    """One takedown request and its handling. ``case_number`` is what the victim is given."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: Public, random, not sequential (``DS-XXXX-XXXX-XXXX``): a number reveals nothing.
    case_number: Mapped[str] = mapped_column(String(32), unique=True, nullable=False)
    #: received, incomplete, valid, actioned, appealed, closed, withdrawn, referred (under 18)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    requester_role: Mapped[str] = mapped_column(String(16), nullable=False)  # victim/representative/helpline
    filed_by: Mapped[str] = mapped_column(String(64), nullable=False)  # actor: key:<id> or public
    #: The non-PII answers of the request form, as JSON (statements ticked, jurisdiction answers,
    #: safety check, content kind). What is missing is recomputed from these.
    #: Sealed at rest (store/hash_sealing.py): an incomplete request's hashes wait here.
    answers: Mapped[str] = mapped_column(SealedText("cases.answers"), nullable=False, default="{}")
    jurisdictions: Mapped[str] = mapped_column(String(64), nullable=False, default="")  # "AU,US"
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    #: When the request became complete: every clock starts here, never earlier.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The earliest open deadline (denormalised from ``case_clocks`` for the due list).
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decision: Mapped[str | None] = mapped_column(String(16), nullable=True)  # removed / declined
    decision_reasons: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision_automated: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    actioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Withdrawal: asked for at ``withdraw_requested_at``, takes effect at ``withdraw_effective_at``
    #: (after the cool-off), done at ``withdrawn_at``.
    withdraw_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    withdraw_effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    legal_hold: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: The victim's PIN, through a slow KDF (``$scrypt$n$r$p$salt$hash``); never the PIN itself.
    pin_hash: Mapped[str | None] = mapped_column(String(200), nullable=True)
    pin_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Idempotency: a client retrying an intake after a lost answer gets the same case.
    request_key: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)

    __table_args__ = (
        Index("ix_cases_state_due", "state", "due_at"),
    )


class CaseContact(Base):
    """The only PII of a case: the typed signature and how to reach the requester."""

    __tablename__ = "case_contacts"

    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), primary_key=True)
    signature_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    contact_email: Mapped[str] = mapped_column(String(254), nullable=False, default="")
    #: Optional: a webhook of the filing helpline for status updates.
    webhook_url: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CaseLocation(Base):
    """Where the content is: a URL or a platform item id, and what was done about it."""

    __tablename__ = "case_locations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)  # url / item
    location: Mapped[str] = mapped_column(String(2048), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    actioned_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class CaseClock(Base):
    """One legal clock of a case: a duty, its deadline, and whether it was met or breached."""

    __tablename__ = "case_clocks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), nullable=False, index=True)
    jurisdiction: Mapped[str] = mapped_column(String(8), nullable=False)  # US, AU, UK, EU, POLICY
    duty: Mapped[str] = mapped_column(String(16), nullable=False)  # remove / acknowledge
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    #: Moves later by the length of each pause, when the pause ends.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    met_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ClockPause(Base):
    """A pause of a case's clocks, with its reason (e.g. waiting for a location that works)."""

    __tablename__ = "clock_pauses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), nullable=False, index=True)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    paused_by: Mapped[str] = mapped_column(String(64), nullable=False)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Appeal(Base):
    """An appeal (by the requester or the uploader) or an uploader's counter-notice."""

    __tablename__ = "appeals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # appeal / counter_notice
    filed_by_party: Mapped[str] = mapped_column(String(16), nullable=False)  # requester / uploader
    filed_by: Mapped[str] = mapped_column(String(64), nullable=False)
    statement: Mapped[str] = mapped_column(Text, nullable=False)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    #: Must differ from the case's ``decided_by``.
    reviewer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)  # upheld / overturned
    outcome_reasons: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class MisuseStrike(Base):
    """A warning or suspension of an uploader or a reporter (DSA Art. 23)."""

    __tablename__ = "misuse_strikes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subject_kind: Mapped[str] = mapped_column(String(16), nullable=False)  # uploader / reporter
    #: An uploader's platform account id, or a reporter's actor (key:<id>) or a SHA-256 of
    #: the contact email for public reporters: never a name.
    subject_ref: Mapped[str] = mapped_column(String(200), nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # warning / suspension
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    by: Mapped[str] = mapped_column(String(64), nullable=False)
    automated: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    #: A suspension ends here (None: until lifted).
    until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_misuse_strikes_subject", "subject_kind", "subject_ref"),)


class ContentItem(Base):
    """One item of the platform's own content, registered by hash only (never the media)."""

    __tablename__ = "content_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[str] = mapped_column(String(200), nullable=False)  # the platform's own id
    signal_type: Mapped[str] = mapped_column(String(16), nullable=False)
    #: Sealed at rest like bank entries' values (store/hash_sealing.py).
    value: Mapped[str] = mapped_column(SealedText("content_items.value"), nullable=False)
    value_digest: Mapped[str] = mapped_column(LookupDigest(), nullable=False)
    uploader_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    #: live, flagged (listed for action by a sweep), removed, blocked (refused at upload)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="live")
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    registered_by: Mapped[str] = mapped_column(String(64), nullable=False)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The case whose sweep listed or removed it.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True)

    __table_args__ = (
        UniqueConstraint("item_id", "signal_type", "value_digest", name="uq_content_items_item_signal"),
        Index("ix_content_items_lookup", "signal_type", "value_digest"),
        Index("ix_content_items_item", "item_id"),
    )


class Notification(Base):
    """The outbox: a message to deliver by email or webhook, written in the same transaction as
    the change it reports, so that none is lost and none is sent for a change rolled back."""

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), nullable=True, index=True)
    #: receipt, decision, statement_of_reasons, partner_status
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)  # email / webhook
    recipient: Mapped[str] = mapped_column(String(500), nullable=False)  # address or URL
    subject: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    body: Mapped[str] = mapped_column(Text, nullable=False)  # text, or JSON for webhooks
    status: Mapped[str] = mapped_column(String(8), nullable=False, default="pending")  # pending/sent/failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_notifications_due", "status", "next_attempt_at"),)


class AuditChainHead(Base):
    """One row: the sequence number and hash of the audit log's newest event. Appends lock it,
    so events from every process join one chain in one order."""

    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    entry_hash: Mapped[str] = mapped_column(String(64), nullable=False)


class PublicFilingCount(Base):
    """New cases filed through the public (keyless) door per address and UTC day, for the daily
    cap. The address is never stored: only HMAC-SHA256(installation key, day + address). Days
    before today are pruned (migration 0006)."""

    __tablename__ = "public_filing_counts"

    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD (UTC)
    address_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class WebSession(Base):
    """A signed-in session of the web door (issue 14): a staff member who signed in with an API key,
    or a victim who signed in with her case number and PIN. Only a SHA-256 of the cookie's token is
    stored, so a copy of the database cannot be replayed as a cookie. A session ends at
    ``expires_at`` or when ``ended_at`` is set (sign-out, or its key revoked)."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The API key's public id (staff sessions), else None.
    key_id: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    #: The case number (victim sessions), else None.
    case_number: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor: Mapped[str] = mapped_column(String(64), nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
