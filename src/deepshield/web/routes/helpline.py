"""The helpline's pages: its own cases with their live clocks, filing a request on someone's
behalf (the files are hashed in the helpline worker's browser, never sent), and a case with
the status the victim sees.

These pages are for those who file requests (``Action.CASE_FILE``: helplines and the operator);
any other role gets the refusal page. The services scope every case: a helpline lists and opens
only the cases it filed, and another helpline's case answers as one that does not exist (404).

Filing goes through the same service as the API's ``POST /v1/requests`` (``intake.file_request``
with the helpline's principal), after the same checks of the API's request model
(``api.case_schemas.IntakeIn``). The form is a plain urlencoded form, so it works without
JavaScript for a request that names its content by locations or by hashes pasted from the
command line (``deepshield hash --json``: the way to add a video's vPDQ). The page's script
(``static/js/staff/helpline_file.js``) adds the hashes it made of the chosen files as hidden
``hash`` fields and never puts a file in the form. A request that
would be incomplete is not filed: the form comes back with the intake's own sentences for what
is missing. A filed request's case number and PIN are shown once, on the answer to the POST
(never in a URL); a resubmitted form carries the same request key, so it files nothing twice.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from deepshield.api.case_schemas import IntakeIn
from deepshield.api.errors import status_of
from deepshield.cases import intake as intake_rules
from deepshield.errors import DeepShieldError, InvalidRequest
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.takedown import intake, review, victim_access
from deepshield.services.takedown.records import CaseView, FiledCase, VictimStatus
from deepshield.web.display import (
    ClockLine,
    clock_lines,
    detail_text,
    next_deadline,
    text_field,
    utc_text,
    validated,
)
from deepshield.web.forms import read_form
from deepshield.web.sessions import context_of, staff_principal
from deepshield.web.templating import render

router = APIRouter(include_in_schema=False)

CaseNumber = Annotated[str, Path(min_length=1, max_length=40)]

#: The most cases the list shows (the service's own cap).
MAX_LISTED = 1000
#: The filing form may carry a long video's vPDQ hash (pasted from the command line).
MAX_FILING_FORM_BYTES = intake.MAX_INTAKE_BODY_BYTES
#: A request key: random, made by the page, sent back with the form (an idempotency key).
_REQUEST_KEY = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: Which form control each field of the intake's sentences names, for the error summary's links.
FIELD_ANCHORS = {
    "requester_role": "requester_role", "signature.name": "signature_name",
    "signature.statement_ticked": "statement_ticked", "locations": "location_urls",
    "hashes": "pasted_hashes", "good_faith": "good_faith", "contact.email": "contact_email",
    "contact.webhook_url": "webhook_url", "jurisdiction": "depicted_person_country",
    "age_check.depicted_under_18": "under18-no", "safety_check": "danger-no",
}
#: The text fields the form keeps when it comes back with a problem.
TEXT_FIELDS = ("requester_role", "signature_name", "statement_ticked", "location_urls", "location_item_ids",
               "pasted_hashes", "good_faith", "contact_email", "webhook_url",
               "depicted_person_country", "platform_countries", "depicted_under_18", "in_immediate_danger")


def _require_filer(principal: Principal) -> None:
    # These pages are the filer's; the services' table says who files requests.
    authorize(principal, Action.CASE_FILE)


# --- The helpline's cases -----------------------------------------------------------------------


@dataclass(frozen=True)
class CaseRow:
    case: CaseView
    deadline: ClockLine | None
    escalated: bool
    breached: bool


@router.get("/staff/helpline")
async def cases_page(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    """The cases this helpline filed, newest first, with their states and live clocks."""
    _require_filer(principal)
    cases = await run_in_threadpool(
        lambda: review.list_cases(context_of(request), principal, limit=MAX_LISTED))
    now = datetime.now(UTC)
    rows = []
    for case in cases:
        lines = clock_lines(case, now)
        rows.append(CaseRow(case, next_deadline(case, now),
                            escalated=any(line.status == "escalated" for line in lines),
                            breached=any(line.status == "breached" for line in lines)))
    return render(request, "helpline/cases.html", rows=rows, utc_text=utc_text)


# --- Filing on someone's behalf -----------------------------------------------------------------


@dataclass
class Filing:
    """The filing form as submitted: its text (to show it again) and the hashes it carries."""

    values: dict[str, str] = field(default_factory=dict)
    #: Hashes the page's script made of the chosen files: ``"type value [quality]"`` each.
    browser_hashes: list[str] = field(default_factory=list)
    request_key: str = ""

    @classmethod
    def read(cls, form: FormData) -> Filing:
        values = {name: text_field(form, name) for name in TEXT_FIELDS}
        hashes = [value.strip() for value in form.getlist("hash") if isinstance(value, str) and value.strip()]
        key = text_field(form, "request_key")
        return cls(values, hashes, key if _REQUEST_KEY.fullmatch(key) else secrets.token_urlsafe(18))

    def intake_form(self) -> dict[str, Any]:
        """The request in the shape the API's ``IntakeIn`` takes, with only what was given.
        Raises ``InvalidRequest`` naming the field for a line it cannot read."""
        values = self.values
        form: dict[str, Any] = {}
        if values["requester_role"]:
            form["requester_role"] = values["requester_role"]
        signature: dict[str, Any] = {}
        if values["signature_name"].strip():
            signature["name"] = values["signature_name"].strip()
        if values["statement_ticked"] == "yes":
            signature["statement_ticked"] = True
        if signature:
            form["signature"] = signature
        locations = [{"url": line} for line in _lines(values["location_urls"])]
        locations += [{"item_id": line} for line in _lines(values["location_item_ids"])]
        if locations:
            form["locations"] = locations
        hashes = [_hash_entry(line, f"hash {number}") for number, line in enumerate(self.browser_hashes, 1)]
        hashes += _pasted_hashes(values["pasted_hashes"])
        if hashes:
            form["hashes"] = hashes
        if values["good_faith"] == "yes":
            form["good_faith"] = True
        contact = {name: values[field_name].strip() for name, field_name in
                   (("email", "contact_email"), ("webhook_url", "webhook_url")) if values[field_name].strip()}
        if contact:
            form["contact"] = contact
        jurisdiction: dict[str, Any] = {}
        if values["depicted_person_country"].strip():
            jurisdiction["depicted_person_country"] = values["depicted_person_country"].strip()
        platforms = [code for code in re.split(r"[\s,;]+", values["platform_countries"]) if code]
        if platforms:
            jurisdiction["platform_countries"] = platforms
        if jurisdiction:
            form["jurisdiction"] = jurisdiction
        for answer, section, name in (("depicted_under_18", "age_check", "depicted_under_18"),
                                      ("in_immediate_danger", "safety_check", "in_immediate_danger")):
            if values[answer] in ("yes", "no"):
                form[section] = {name: values[answer] == "yes"}
        return form


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _pasted_hashes(text: str) -> list[dict[str, Any]]:
    """Hashes pasted from the command line: what ``deepshield hash --json`` prints (images and
    videos, vPDQ included; the file names in it are dropped, never sent), or one
    ``type value [quality]`` per line."""
    stripped = text.strip()
    if stripped.startswith(("[", "{")):
        return _cli_json_hashes(stripped)
    return [_hash_entry(line, f"hashes, line {number}") for number, line in enumerate(_lines(stripped), 1)]


def _cli_json_hashes(text: str) -> list[dict[str, Any]]:
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        raise InvalidRequest("hashes: the pasted text is not the JSON that deepshield hash --json "
                             "prints") from None
    records = parsed if isinstance(parsed, list) else [parsed]
    hashes: list[dict[str, Any]] = []
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise InvalidRequest(f"hashes: item {number} of the pasted JSON is not one file's hashes")
        if "error" in record:  # a file the command could not hash: it has nothing to add
            continue
        if record.get("pdq") is not None:
            pdq: dict[str, Any] = {"type": "pdq", "value": record["pdq"]}
            if record.get("quality") is not None:
                pdq["quality"] = record["quality"]
            hashes.append(pdq)
        hashes += [{"type": kind, "value": record[kind]} for kind in ("sha256", "md5")
                   if record.get(kind) is not None]
        if record.get("vpdq"):
            # The frames as the command printed them: the intake reads vPDQ as a JSON list too.
            hashes.append({"type": "vpdq", "value": json.dumps(record["vpdq"])})
    if not hashes:
        raise InvalidRequest("hashes: the pasted JSON holds no hashes")
    return hashes


def _hash_entry(line: str, where: str) -> dict[str, Any]:
    """``"pdq <hex> 100"`` → ``{"type": "pdq", "value": "<hex>", "quality": 100}``."""
    parts = line.split()
    if len(parts) not in (2, 3):
        raise InvalidRequest(f"{where}: write a hash as its type and value, and a PDQ hash's quality "
                             "(for example: pdq 358c86641a5269ab... 100)")
    entry: dict[str, Any] = {"type": parts[0].lower(), "value": parts[1]}
    if len(parts) == 3:
        if not parts[2].isdigit():
            raise InvalidRequest(f"{where}: the quality is a whole number from 0 to 100")
        entry["quality"] = int(parts[2])
    return entry


@dataclass(frozen=True)
class Problem:
    """A sentence of the intake's, and the form control it is about (for the summary's link)."""

    sentence: str
    anchor: str


def _problems(sentences: list[str]) -> list[Problem]:
    found = []
    for sentence in sentences:
        name = sentence.split(":", 1)[0].strip()
        anchor = next((target for prefix, target in FIELD_ANCHORS.items()
                       if name == prefix or name.startswith((prefix + ".", prefix + "["))), "")
        found.append(Problem(sentence, anchor))
    return found


def _render_file_form(request: Request, filing: Filing, *, problems: list[Problem] | None = None,
                      lead: str = "", status_code: int = 200) -> Response:
    return render(request, "helpline/file.html", status_code=status_code, values=filing.values,
                  browser_hashes=filing.browser_hashes, request_key=filing.request_key,
                  problems=problems or [], lead=lead, requester_roles=intake_rules.REQUESTER_ROLES,
                  signature_statement=intake_rules.SIGNATURE_STATEMENT,
                  good_faith_statement=intake_rules.GOOD_FAITH_STATEMENT)


@router.get("/staff/helpline/file")
async def file_page(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    """The form to file a request on someone's behalf."""
    _require_filer(principal)
    filing = Filing({name: "" for name in TEXT_FIELDS}, [], secrets.token_urlsafe(18))
    filing.values["requester_role"] = "helpline"
    return _render_file_form(request, filing)


@router.post("/staff/helpline/file")
async def file_request(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    """File the request (see the module): the case number and PIN once, or the form again with
    the intake's sentences."""
    _require_filer(principal)
    form = await read_form(request, max_bytes=MAX_FILING_FORM_BYTES)
    filing = Filing.read(form)
    ctx = context_of(request)

    def check_and_file() -> FiledCase | list[str]:
        body = validated(IntakeIn, filing.intake_form()).form()
        # What the service would keep as an incomplete request is asked for here instead: the
        # same sentences, from the same rules (an under-18 request is referred, never incomplete).
        parsed = intake_rules.parse_form(body)
        lacking = [] if intake_rules.is_under_18(parsed) else intake_rules.missing(parsed)
        if lacking:
            return lacking
        return intake.file_request(ctx, body, principal, request_key=filing.request_key)

    try:
        outcome = await run_in_threadpool(check_and_file)
    except DeepShieldError as error:
        return _render_file_form(request, filing, problems=_problems([error.detail]),
                                 lead="The request was not filed:", status_code=status_of(error))
    if isinstance(outcome, list):
        return _render_file_form(request, filing, problems=_problems(outcome), status_code=400,
                                 lead="The request was not filed yet. It still needs:")
    return render(request, "helpline/filed.html", status_code=201, filed=outcome, case=outcome.case,
                  utc_text=utc_text, clocks=clock_lines(outcome.case, datetime.now(UTC)))


# --- One case -----------------------------------------------------------------------------------


@router.get("/staff/helpline/cases/{case_number}")
async def case_page(request: Request, case_number: CaseNumber,
                    principal: Principal = Depends(staff_principal)) -> Response:
    """One of the helpline's cases: state, clocks, locations, history, and the victim's view."""
    _require_filer(principal)
    ctx = context_of(request)

    def read() -> tuple[CaseView, VictimStatus]:
        case = review.get_case(ctx, case_number, principal)
        return case, victim_access.status_as_victim_sees_it(ctx, case.case_number, principal)

    case, victim = await run_in_threadpool(read)
    return render(request, "helpline/case.html", case=case, clocks=clock_lines(case, datetime.now(UTC)),
                  victim=victim, utc_text=utc_text, detail_text=detail_text)
