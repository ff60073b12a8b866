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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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
    value: Mapped[str] = mapped_column(Text, nullable=False)
    # SHA-256 of value: a fixed-width key for duplicate checks (vPDQ values are long).
    value_digest: Mapped[str] = mapped_column(String(64), nullable=False)
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

    __table_args__ = (
        UniqueConstraint("alg", "value", "manifest_id", name="uq_soft_bindings_alg_value_manifest"),
        Index("ix_soft_bindings_lookup", "alg", "value"),
        Index("ix_soft_bindings_manifest", "manifest_id"),
        {"sqlite_autoincrement": True},
    )
