"""Request and response bodies, so /docs (OpenAPI) describes the API exactly."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

#: The largest whole number any request may carry: SQL's BIGINT maximum, which is also SQLite's
#: INTEGER maximum. A bigger one would overflow the database driver (``OverflowError``), so every
#: integer a route takes (query, path or JSON body) is range-checked against this bound: use
#: ``RowId``/``Count`` below, or ``Query(..., le=MAX_INT)`` / ``Path(..., le=MAX_INT)``.
MAX_INT = 2**63 - 1
#: A row id (bank entry, appeal, exchanged entry ...): 1 to ``MAX_INT``.
RowId = Annotated[int, Field(ge=1, le=MAX_INT)]
#: A position or count that may be 0 (a feed checkpoint): 0 to ``MAX_INT``.
Count = Annotated[int, Field(ge=0, le=MAX_INT)]


class ErrorBody(BaseModel):
    error: str = Field(description="Stable machine-readable code, e.g. corrupt_media.")
    detail: str = Field(description="What is wrong, in plain words.")


class HashSignalIn(BaseModel):
    """One hash as a caller sends it (checked by the service, which names what is wrong)."""

    model_config = ConfigDict(extra="forbid")
    type: str = Field(description="pdq, md5, sha256 or vpdq.", examples=["pdq"])
    value: str = Field(description="Hex digits (pdq 64, md5 32, sha256 64) or vPDQ lines.",
                       max_length=10_000_000)
    quality: int | None = Field(default=None, ge=0, le=100,
                                description="PDQ quality if known; below the minimum is refused.")


class SignalIn(HashSignalIn):
    case_ref: str | None = Field(default=None, description="Overrides the request's case_ref.")


class MatchSignalsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signals: list[SignalIn] = Field(min_length=1, max_length=1000)


class AddEntriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    signals: list[SignalIn] = Field(min_length=1, max_length=100_000)
    origin: str = Field(default="helpline",
                        description="victim_device, helpline, platform or import.")
    case_ref: str | None = Field(default=None, description="Opaque case reference; never PII.")


class BankIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(examples=["ncii-helpline"])
    description: str = ""


class EntryPatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool


class BankOut(BaseModel):
    name: str
    description: str
    created_at: str
    active_entries: int


class EntryOut(BaseModel):
    id: int
    bank: str
    signal_type: str
    quality: int | None
    origin: str
    case_ref: str | None
    created_at: str
    withdrawn_at: str | None
    enabled: bool
    created: bool = Field(description="False when the value was already in the bank.")


class EntriesOut(BaseModel):
    entries: list[EntryOut]


class MatchOut(BaseModel):
    bank: str
    entry_id: int
    signal_type: str
    distance: int
    variant: str = Field(description="Which form of the query matched: a dihedral variant "
                                     "(original, rotate90, ..., flip_minus1), exact, or frames.")
    query_match_pct: float | None = None
    compared_match_pct: float | None = None


class MatchResultOut(BaseModel):
    matches: list[MatchOut]
    warnings: list[str] = []


class VpdqFrameOut(BaseModel):
    frame_number: int
    quality: int
    pdq_hex: str
    timestamp: float


class HashOut(BaseModel):
    kind: str
    format: str
    width: int
    height: int
    pdq: str | None
    quality: int | None
    md5: str
    sha256: str
    duration_s: float | None = None
    vpdq: list[VpdqFrameOut] | None = None
    warnings: list[str] = []


class HealthOut(BaseModel):
    status: str
    store: str
    version: str


class MarkOut(BaseModel):
    payload: str = Field(description="16 hex digits: the label id the mark carries.")
    key_id: str = Field(description="The watermark key it was read with: 'public' or a provider's key id.")
    slot: int
    confidence: float


class WatermarkOut(BaseModel):
    found: bool
    payload: str | None = Field(description="16 hex digits (the first mark's), or null when no mark "
                                            "was read.")
    confidence: float = Field(description="0 when not found; else how cleanly the bits agree (0-1).")
    scale: float | None = Field(default=None, description="Tile scale found (crops enlarge it).")
    rotation_deg: float | None = None
    key_id: str | None = Field(default=None, description="The first mark's key: 'public' or a provider's "
                                                         "key id.")
    marks: list[MarkOut] = Field(default_factory=list, description="Every mark read (an image marked "
                                 "again carries several), each with the key it was read with.")


class WatermarkKeyOut(BaseModel):
    format: str = Field(description="deepshield-watermark-key/1")
    key_id: str
    secret: str = Field(description="The 32-byte secret, base64. Keep it as secret as an API key.")
    owner: str
    created_at: str
    retired_at: str | None = None
