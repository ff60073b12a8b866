"""The victim portal's public pages: the start page, help, covering tracks, the under-18 route, and
"Stop my images spreading" (``/request``).

None of these pages takes anything from her: the request page hashes the files she selects in her
own browser (``static/js/portal/file_hasher.js`` over ``static/hashing/worker.js``) and its script
sends the request, hashes only, to the API's ``POST /v1/requests/public``, where the intake service
decides what is complete, missing or wrong. The page shows those answers in the API's own words, so
this module only renders: the sentences it shows beside the tick boxes and questions are the intake's
own (``deepshield.cases.intake``), never copies that could drift.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from deepshield.cases import intake
from deepshield.cases.states import CaseState
from deepshield.services.takedown import victim_access
from deepshield.web.templating import render

router = APIRouter(include_in_schema=False)

#: Where the under-18 route sends her: the intake's own referral (NCMEC's Take It Down).
TAKE_IT_DOWN_URL = intake.UNDER_18_REFERRAL.split(": ", 1)[1]
#: Hashes a file gives at most (PDQ, SHA-256, MD5): how many files fit in one request.
HASHES_PER_FILE = 3
#: What the request page says of a request just filed, by its state: the status page's own
#: sentences (``victim_access``), so the two pages say the same (a test checks the valid one
#: against ``victim_status``, which builds it with the deadline).
STATE_SUMMARIES = {
    CaseState.VALID.value: victim_access.COMPLETE_SUMMARY,
    CaseState.INCOMPLETE.value: victim_access.STATE_SUMMARIES[CaseState.INCOMPLETE.value],
    CaseState.REFERRED.value: victim_access.STATE_SUMMARIES[CaseState.REFERRED.value],
}
#: Platform countries the page offers: those whose law (or, for the EU, the DSA) sets a clock
#: (docs/CASES.md, "Clocks"). Others may be named as the depicted person's country.
PLATFORM_CHOICES = (("US", "United States"), ("AU", "Australia"), ("GB", "United Kingdom"),
                    ("EU", "A country of the European Union"))


def _page(request: Request, template: str, **values: object) -> Response:
    return render(request, template, take_it_down_url=TAKE_IT_DOWN_URL, **values)


@router.get("/")
async def start(request: Request) -> Response:
    """What DeepShield does (and does not do) with her images, and the ways on from here."""
    return _page(request, "portal/start.html")


@router.get("/help")
async def help_page(request: Request) -> Response:
    """Who to call: general advice and well-known services (links only, nothing loaded from them)."""
    return _page(request, "portal/help.html")


@router.get("/safety")
async def safety(request: Request) -> Response:
    """Covering tracks: history, downloads, shared and monitored devices."""
    return _page(request, "portal/safety.html")


@router.get("/under-18")
async def under_18(request: Request) -> Response:
    """The route for a person depicted under 18: NCMEC's Take It Down, as the intake refers them."""
    return _page(request, "portal/under_18.html", safety_advice=intake.SAFETY_ADVICE)


@router.get("/request")
async def request_page(request: Request) -> Response:
    """Select files, fingerprint them in the browser, and send the request (hashes only)."""
    return _page(
        request, "portal/request.html",
        signature_statement=intake.SIGNATURE_STATEMENT,
        good_faith_statement=intake.GOOD_FAITH_STATEMENT,
        safety_advice=intake.SAFETY_ADVICE,
        country_codes=sorted(intake.COUNTRY_CODES),
        platform_choices=PLATFORM_CHOICES,
        max_files=intake.MAX_HASHES // HASHES_PER_FILE,
        max_locations=intake.MAX_LOCATIONS,
        state_summaries=STATE_SUMMARIES,
    )
