"""Fuzz the takedown request form: ``deepshield.cases.intake.parse_form`` on any JSON document (as
the API reads it, NaN and Infinity included), then ``missing``, ``answers``, ``from_answers`` and
``merged`` on what it accepts."""

from __future__ import annotations

import json

from _common import instrumented

with instrumented():
    from deepshield.cases import intake

from _common import main, text_of

PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"
COMPLETE = {
    "requester_role": "victim",
    "signature": {"name": "Alex Example", "statement_ticked": True},
    "locations": [{"url": "https://platform.example/p/123"}, {"platform_item_id": "post-1001"}],
    "hashes": [{"type": "pdq", "value": PDQ, "quality": 90}],
    "good_faith": True,
    "contact": {"email": "survivor@example.org", "webhook_url": "https://hooks.example/x"},
    "jurisdiction": {"depicted_person_country": "AU", "platform_countries": ["AU", "US"]},
    "age_check": {"depicted_under_18": False},
    "safety_check": {"in_immediate_danger": False},
}


def target(data: bytes) -> None:
    try:
        document = json.loads(text_of(data))
    except (ValueError, RecursionError):
        return  # not JSON: the door answers that before the form is parsed
    form = intake.parse_form(document)
    intake.missing(form)
    intake.is_under_18(form)
    answers = form.answers()
    json.dumps(answers)
    again = intake.from_answers(answers, signature_name=form.signature_name or "",
                                contact_email=form.contact_email or "", webhook_url=form.webhook_url or "",
                                locations=form.locations, hashes=form.hashes)
    assert again.answers() == answers
    form.merged(again)


def seeds() -> list[bytes]:
    partial = {key: COMPLETE[key] for key in ("requester_role", "locations", "contact")}
    return [json.dumps(COMPLETE).encode(), json.dumps(partial).encode(), b"{}", b"[]",
            json.dumps({**COMPLETE, "age_check": {"depicted_under_18": True}}).encode()]


if __name__ == "__main__":
    main(target, seeds)
