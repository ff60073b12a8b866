"""Request bodies of the case routes (intake and review actions), with hard limits.

Every model forbids unknown fields and is strict about types (a number where text is expected is
refused, not coerced), so a malformed or hostile body is a clear 422 before any service runs.
Free text (statements, reasons) is capped and refuses embedded images: the victim's image must
never reach the store, not even pasted into a field as base64.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from starlette.requests import Request

from deepshield.api.bodies import BodyLimit, BodyTooLarge
from deepshield.cases import intake
from deepshield.errors import InvalidRequest
from deepshield.services.takedown import intake as case_intake
from deepshield.services.takedown import review as case_review

#: The case routes' body limits, set by their services: a review action is small, an intake form
#: may hold a long video's vPDQ hash. Over them: 413 ``body_too_large``, the body not read on.
INTAKE_BODY = BodyLimit(case_intake.MAX_INTAKE_BODY_BYTES, BodyTooLarge)
ACTION_BODY = BodyLimit(case_review.MAX_ACTION_BODY_BYTES, BodyTooLarge)

MAX_TEXT_CHARS = 5000
MAX_REASON_CHARS = 500
MAX_REF_CHARS = 200
MAX_IDEMPOTENCY_KEY_CHARS = 64

# An image pasted as a data URI, or a long unbroken run of base64 (no prose has one).
_DATA_URI = re.compile(r"data:[^,;]{0,100}(;[^,]{0,100})?;base64,", re.IGNORECASE)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{400,}={0,2}")
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def _no_embedded_image(text: str) -> str:
    if _DATA_URI.search(text) or _BASE64_RUN.search(text):
        raise ValueError("looks like an embedded file (base64); never send the image itself, only "
                         "where it is and, optionally, its hashes made on your device")
    return text


def _no_control_characters(text: str) -> str:
    if any(ord(char) < 32 and char not in "\t\r\n" for char in text):
        raise ValueError("contains control characters")
    return text


#: Free text from people: capped, no embedded files, no control characters.
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT_CHARS),
                 AfterValidator(_no_control_characters), AfterValidator(_no_embedded_image)]
Reason = Annotated[str, Field(min_length=1, max_length=MAX_REASON_CHARS),
                   AfterValidator(_no_control_characters), AfterValidator(_no_embedded_image)]
#: A short identifier-like value (a party, a decision, a platform's reference).
Word = Annotated[str, Field(min_length=1, max_length=32)]
Ref = Annotated[str, Field(min_length=1, max_length=MAX_REF_CHARS), AfterValidator(_no_control_characters),
                AfterValidator(_no_embedded_image)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


# --- The request form (``deepshield.cases.intake`` checks it in full) ---------------------------
#
# Every field is optional: an incomplete request is kept, with ``missing`` saying what it lacks.
# These models fix the shape, the types and the sizes; the intake checks the rest (URL schemes,
# hex digits, country codes, e-mail form) and answers 400 naming the field.


class SignatureIn(_Body):
    name: str | None = Field(default=None, max_length=intake.MAX_NAME_CHARS,
                             description="The requester's typed name, as a signature.")
    statement_ticked: bool | None = Field(default=None, description=intake.SIGNATURE_STATEMENT)


class LocationIn(_Body):
    """Exactly one of ``url`` and ``item_id``."""

    url: str | None = Field(default=None, max_length=intake.MAX_URL_CHARS, examples=["https://example.org/p/1"])
    item_id: str | None = Field(default=None, max_length=intake.MAX_ITEM_ID_CHARS,
                                description="The platform's own id of the item.")


class HashIn(_Body):
    type: str = Field(max_length=16, description=", ".join(intake.HASH_TYPES), examples=["pdq"])
    value: str = Field(max_length=intake.MAX_VPDQ_CHARS, description="Hex digits (vPDQ: its lines).")
    quality: int | None = Field(default=None, ge=0, le=100)


class ContactIn(_Body):
    email: str | None = Field(default=None, max_length=intake.MAX_EMAIL_CHARS,
                              description="Where to reach the requester; an anonymous address is fine.")
    webhook_url: str | None = Field(default=None, max_length=intake.MAX_WEBHOOK_CHARS,
                                    description="https:// address for status updates (helplines).")


class JurisdictionIn(_Body):
    depicted_person_country: str | None = Field(default=None, max_length=8, examples=["GB"])
    platform_countries: list[str] | None = Field(default=None, max_length=intake.MAX_PLATFORM_COUNTRIES,
                                                 examples=[["US", "AU"]])


class AgeCheckIn(_Body):
    depicted_under_18: bool | None = Field(default=None, description="Under 18: the request is referred "
                                                                     "to NCMEC's Take It Down instead.")


class SafetyCheckIn(_Body):
    in_immediate_danger: bool | None = None


class IntakeIn(_Body):
    """A takedown request. Never the image: where it is, and optionally hashes made on the device."""

    requester_role: str | None = Field(default=None, max_length=32,
                                       description=", ".join(intake.REQUESTER_ROLES))
    signature: SignatureIn | None = None
    locations: list[LocationIn] | None = Field(default=None, max_length=intake.MAX_LOCATIONS)
    hashes: list[HashIn] | None = Field(default=None, max_length=intake.MAX_HASHES)
    good_faith: bool | None = Field(default=None, description=intake.GOOD_FAITH_STATEMENT)
    contact: ContactIn | None = None
    jurisdiction: JurisdictionIn | None = None
    age_check: AgeCheckIn | None = None
    safety_check: SafetyCheckIn | None = None

    def form(self) -> dict[str, Any]:
        """The form as the service takes it: only the fields the caller sent."""
        return self.model_dump(exclude_unset=True)


class IntakeUpdateIn(IntakeIn):
    """What an incomplete request lacked: the same fields, each optional. Locations and hashes
    are added to those already given; other values replace."""


# --- Review actions ---------------------------------------------------------------------------


class PauseIn(_Body):
    reason: Reason = Field(description="Why the clocks stop, e.g. waiting for the requester's answer.")


class CloseIn(_Body):
    reason: Reason


class DecisionIn(_Body):
    decision: Word = Field(description="removed or declined.", examples=["removed"])
    reasons: Text = Field(description="The reasons; the requester gets them, and the uploader a "
                                      "statement of reasons that never identifies the requester.")
    automated: bool = Field(default=False, description="True when no person made this decision.")
    uploader_ref: Ref | None = Field(default=None, description=(
        "The platform's opaque reference to the uploader (for the statement of reasons; a removal "
        "strikes the uploader: warn, then suspend)."))
    baseless: bool = Field(default=False, description="A declined request found baseless: strikes the "
                                                      "reporter (warn, then suspend).")


class AppealIn(_Body):
    statement: Text
    party: Word = Field(default="requester", description="requester or uploader.")
    kind: Word = Field(default="appeal", description="appeal or counter_notice.")


class AppealDecisionIn(_Body):
    outcome: Word = Field(description="upheld or overturned.", examples=["upheld"])
    reasons: Text


class WithdrawIn(_Body):
    confirm_now: bool = Field(default=False, description="Required (true) from a helpline or the operator, "
                                                         "whose withdrawal takes effect at once; refused "
                                                         "from a victim, whose waits for the cool-off.")


class LegalHoldIn(_Body):
    hold: bool


class StrikeIn(_Body):
    subject_kind: Word = Field(description="uploader or reporter.", examples=["uploader"])
    subject_ref: Ref = Field(description="The platform's opaque reference (never a name or email).")
    reason: Reason
    case_number: Word | None = None


#: Keyless filers share one scope, where a retry answers with the first filing's case: a
#: guessable key there would show someone else's case, so it must be long (a random UUID).
MIN_PUBLIC_IDEMPOTENCY_KEY_CHARS = 16


def idempotency_key(request: Request, *, public: bool = False) -> str | None:
    """The ``Idempotency-Key`` header: a retry with the same key files nothing twice."""
    value = request.headers.get("idempotency-key")
    if value is None:
        return None
    shortest = MIN_PUBLIC_IDEMPOTENCY_KEY_CHARS if public else 1
    if not _IDEMPOTENCY_KEY.fullmatch(value) or len(value) < shortest:
        raise InvalidRequest(f"the Idempotency-Key header must be {shortest} to {MAX_IDEMPOTENCY_KEY_CHARS} "
                             "letters, digits or . _ : - (use a random UUID)")
    return value
