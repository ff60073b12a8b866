"""The words of every notification: pure functions from plain values to texts and payloads.

Who gets what (docs/cases-and-law.md, "Notifications"):
- the requester: a receipt, the decision and its reasons, an appeal's outcome, a withdrawal's
  confirmation (email text, or the same facts as JSON for a helpline's webhook);
- the uploader, through the platform: a statement of reasons (EU DSA Art. 17) that never
  identifies the person who asked: it is built only from the uploader's reference, the
  platform's item ids, the decision and the time, so no argument could carry a name, an
  address, a case number or a hash into it;
- partners and operators: status (no PII, no hash values) and deadline alerts.

Nothing here ever takes the victim's PIN: it is shown once at filing and never sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

#: The DSA ground for every removal here: real or fake, the image is treated the same.
GROUND = "non-consensual intimate image"

SAFETY_NOTE = (
    "If you are in danger right now, call your local emergency number "
    "(911 in the US, 999 in the UK, 000 in Australia, 112 in the EU)."
)

STATUS_HOW_TO = (
    "To check where your case stands, open the case status page of the service you filed "
    "with and enter your case number and the PIN you were shown when you filed. We never "
    "send your PIN and nobody from us will ask you for it."
)

_JURISDICTIONS = {
    "US": "United States (TAKE IT DOWN Act)",
    "AU": "Australia (eSafety image-based abuse scheme)",
    "UK": "United Kingdom (Online Safety Act)",
    "EU": "European Union (Digital Services Act)",
    "POLICY": "our policy",
}
_DUTIES = {"remove": "remove the content", "acknowledge": "acknowledge your request"}
_STATES = {
    "received": "received; we are checking it",
    "incomplete": "incomplete: we need a little more before the deadlines can start",
    "valid": "complete, and being reviewed",
    "actioned": "decided",
    "appealed": "under appeal",
    "closed": "closed",
    "withdrawn": "withdrawn",
    "referred": ("referred to NCMEC's Take It Down (takeitdown.ncmec.org), which handles "
                 "images of people under 18"),
}
_DECISIONS = {
    "removed": "The content you reported was removed.",
    "declined": "The content you reported was not removed.",
}
_OUTCOMES = {
    "upheld": "The appeal was reviewed and the original decision stands.",
    "overturned": "The appeal was reviewed and the original decision was reversed.",
}


@dataclass(frozen=True)
class EmailText:
    subject: str
    body: str


@dataclass(frozen=True)
class Deadline:
    """One legal clock as the requester sees it."""

    jurisdiction: str  # US, AU, UK, EU, POLICY
    duty: str  # remove / acknowledge
    due_at: str  # ISO 8601


def deadlines_from(clocks: Iterable[Mapping[str, Any]]) -> list[Deadline]:
    """``[{"jurisdiction", "duty", "due_at"}]`` (``due_at`` a datetime or ISO text) as deadlines."""
    deadlines = []
    for clock in clocks:
        due_at = clock.get("due_at")
        due_text = due_at.isoformat() if isinstance(due_at, datetime) else str(due_at or "")
        deadlines.append(Deadline(str(clock.get("jurisdiction", "")), str(clock.get("duty", "")),
                                  due_text))
    return deadlines


def to_json(payload: Mapping[str, Any]) -> str:
    """The exact body a webhook receives (and its signature covers)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def _when(iso_text: str) -> str:
    try:
        moment = datetime.fromisoformat(iso_text)
    except ValueError:
        return iso_text
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment.utcoffset() is not None else iso_text


def _state(state: str) -> str:
    return _STATES.get(state, state)


def _deadline_line(deadline: Deadline) -> str:
    where = _JURISDICTIONS.get(deadline.jurisdiction, deadline.jurisdiction)
    duty = _DUTIES.get(deadline.duty, deadline.duty)
    return f"- {where}: {duty} by {_when(deadline.due_at)}"


def _subject(case_number: str, what: str) -> str:
    # Discreet on purpose: subjects show on lock screens, so they say nothing of the content.
    return f"Case {case_number}: {what}"[:200]


def _footer() -> list[str]:
    return ["", STATUS_HOW_TO, "", SAFETY_NOTE, "",
            "This message was sent automatically; you do not need to reply. You may delete it: "
            "your case number and PIN are all you need."]


def receipt_email(case_number: str, state: str, missing: Sequence[str],
                  deadlines: Sequence[Deadline]) -> EmailText:
    """The receipt: case number, state, what is missing, the deadlines, how to check status."""
    lines = ["We have received your takedown request.", "",
             f"Your case number is {case_number}.", f"Your request is {_state(state)}."]
    if missing:
        lines += ["", "Your request is not complete yet, so the legal deadlines have not started. "
                  "It still needs:"]
        lines += [f"- {item}" for item in missing]
    if deadlines:
        lines += ["", "The deadlines that apply to your request:"]
        lines += [_deadline_line(deadline) for deadline in deadlines]
    lines += _footer()
    return EmailText(_subject(case_number, "request received"), "\n".join(lines) + "\n")


def receipt_payload(case_number: str, state: str, missing: Sequence[str],
                    deadlines: Sequence[Deadline]) -> dict[str, Any]:
    """The receipt for a filing helpline's webhook: the same facts as ``receipt_email``."""
    return {"event": "received", "case_number": case_number, "state": state,
            "missing": list(missing),
            "clocks": [{"jurisdiction": d.jurisdiction, "duty": d.duty, "due_at": d.due_at}
                       for d in deadlines],
            "status_check": STATUS_HOW_TO, "safety": SAFETY_NOTE}


def decision_email(case_number: str, decision: str, reasons: str) -> EmailText:
    """The decision and its reasons, and how to appeal."""
    lines = [_DECISIONS.get(decision, f"Decision: {decision}."), "", "The reasons:", reasons.strip()
             or "(none given)", "",
             "If you disagree, you can appeal on the case status page; a different reviewer "
             "will look at it."]
    lines += _footer()
    return EmailText(_subject(case_number, "decision"), "\n".join(lines) + "\n")


def decision_payload(case_number: str, decision: str, reasons: str, at: str) -> dict[str, Any]:
    return {"event": "decided", "case_number": case_number, "decision": decision,
            "reasons": reasons, "at": at}


def appeal_outcome_email(case_number: str, outcome: str, reasons: str) -> EmailText:
    lines = [_OUTCOMES.get(outcome, f"Appeal outcome: {outcome}."), "", "The reasons:",
             reasons.strip() or "(none given)"]
    lines += _footer()
    return EmailText(_subject(case_number, "appeal decided"), "\n".join(lines) + "\n")


def appeal_outcome_payload(case_number: str, outcome: str, reasons: str, at: str) -> dict[str, Any]:
    return {"event": "appeal_decided", "case_number": case_number, "outcome": outcome,
            "reasons": reasons, "at": at}


def withdrawal_email(case_number: str, state: str) -> EmailText:
    """Confirms a withdrawal (sent when it takes effect)."""
    lines = [f"Your case is {_state(state)}.", "",
             "The fingerprints (hashes) of your images have been removed from our banks, and "
             "the partners we share them with have been told to delete them too.", "",
             "If you did not ask for this, or someone made you ask, contact a helpline: you "
             "can file a new request at any time."]
    lines += _footer()
    return EmailText(_subject(case_number, "withdrawn"), "\n".join(lines) + "\n")


def withdrawal_payload(case_number: str, state: str, at: str) -> dict[str, Any]:
    return {"event": "withdrawn", "case_number": case_number, "state": state, "at": at}


def escalation_payload(case_number: str, jurisdiction: str, duty: str, due_at: str) -> dict[str, Any]:
    """An operations alert: a clock is close to its deadline."""
    where = _JURISDICTIONS.get(jurisdiction, jurisdiction)
    return {"event": "escalated", "case_number": case_number, "jurisdiction": jurisdiction,
            "duty": duty, "due_at": due_at,
            "message": f"Case {case_number}: the {where} duty to {duty} is due at {_when(due_at)}."}


def partner_status(event: str, case_ref: str, state: str, at: str,
                   decision: str | None = None) -> dict[str, Any]:
    """Status for hash-sharing partners: an opaque ``case:<id>`` reference, never PII and never
    hash values (partners learn which hashes to delete from the exchange feed)."""
    payload: dict[str, Any] = {"event": event, "case_ref": case_ref, "state": state, "at": at}
    if decision is not None:
        payload["decision"] = decision
    return payload


def statement_of_reasons(*, uploader_ref: str, item_ids: Sequence[str], decision: str,
                         automated: bool, decided_at: str) -> dict[str, Any]:
    """The uploader's statement of reasons (EU DSA Art. 17(3)) for the platform to forward.

    It states the restriction, the facts in general terms, that a notice led to it, the use
    of automated means, the ground and every route of redress. By construction it cannot
    identify the person who asked: its only inputs are the uploader's reference, the
    platform's item ids, the decision and its time.
    """
    removed = decision == "removed"
    return {
        "type": "statement_of_reasons",
        "legal_basis": "EU Digital Services Act, Article 17",
        "uploader_ref": uploader_ref,
        "item_ids": list(item_ids),
        "decision": decision,
        "restriction": "removal of the content and blocking of identical or near-identical re-uploads"
        if removed else "none",
        "facts_and_circumstances": (
            "A notice reported that this content shows a person in an intimate image shared "
            "without their consent. The report was reviewed and the content was found to be such "
            "an image. The same rules apply whether an image is real or was made or altered with "
            "AI, so any finding about how it was made did not decide the outcome."),
        "notice_based": True,
        "ground": GROUND,
        "legal_grounds": [
            "United States: TAKE IT DOWN Act (non-consensual intimate visual depictions)",
            "United Kingdom: Sexual Offences Act 2003 s.66B, a priority offence under the Online "
            "Safety Act 2023",
            "European Union: illegal content under national law (Digital Services Act Art. 16)",
            "Australia: Online Safety Act 2021, image-based abuse",
            "The platform's terms of service, which prohibit non-consensual intimate images",
        ],
        "automated_decision": bool(automated),
        "automated_means": ("The decision was taken by automated means." if automated else
                            "A person reviewed the report and took the decision; automated hash "
                            "matching may have been used to find copies."),
        "decided_at": decided_at,
        "redress": {
            "internal_complaint": "You can appeal this decision through the platform within six "
                                  "months (DSA Art. 20); a different reviewer will decide.",
            "counter_notice": "If you believe the content was removed by mistake, for example "
                              "because it is not an intimate image or was shared with consent, "
                              "you can file a counter-notice through the platform.",
            "out_of_court": "You can refer the dispute to a certified out-of-court dispute "
                            "settlement body (DSA Art. 21).",
            "judicial": "You can also seek redress before a court.",
        },
    }
