"""Who may call what on the case, victim and misuse routes: every route against every caller.

Expected outcomes come from the documented table (docs/API.md and docs/CASES.md "Who does
what"), written out below as the literal ``ALLOWED``, route by route and role by role, and the
scoping rules. Nothing is read from ``services/access.py``: the code is compared with the documents.

- no credentials where a key is needed: 401;
- a key whose role the table does not allow: 403;
- a victim's case number and PIN on a route whose action no victim may perform: 401 (those
  routes take keys only);
- an allowed caller naming a case outside its scope (another helpline's case, another
  victim's case): 404 with exactly the answer an unknown case gets (``NOT_VISIBLE``);
- otherwise the call succeeds (2xx).

A refused call changes nothing: the target case, the case count and the strike count are
compared before and after.

The app and its keys are started once per module on each backend; each test gets a piece of the
world of its own (two helplines and a bystander's case), and every call a fresh target case, so
no test sees what another did.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select

from api.conftest import Api, basic
from case_forms import request_form
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.services import access
from deepshield.services.access import Principal, Role
from deepshield.services.api_keys import create_key
from deepshield.services.label.signing_keys import init_signing_keys
from deepshield.services.takedown import review as case_review
from deepshield.services.takedown import victim_access
from deepshield.settings import Settings
from deepshield.store.models import Case, MisuseStrike

#: Setup acts through the services as principals that are none of the callers, so that no
#: caller is "the reviewer who made the decision" of a case it is asked to act on.
SETUP = Principal("test:setup", Role.ADMIN)
REVIEWER = Principal("test:reviewer", Role.PLATFORM)
VICTIM_ONLY = "victim-only"  # a route that takes only a victim's case number and PIN
PUBLIC = "public"  # a route open to everyone

ADMIN, PLATFORM, HELPLINE, VICTIM = Role.ADMIN, Role.PLATFORM, Role.HELPLINE, Role.VICTIM
REVIEWERS = frozenset({ADMIN, PLATFORM})
#: docs/API.md "Takedown cases" and docs/CASES.md "Who does what", written out: the callers each
#: case route serves. A role is a key of that role (partner and provider: nothing on cases);
#: VICTIM is a case number and PIN. "(own)" in the documents is the scoping, tested below.
ALLOWED: dict[tuple[str, str], frozenset[Role] | str] = {
    ("POST", "/v1/requests"): frozenset({ADMIN, HELPLINE}),
    ("POST", "/v1/requests/public"): PUBLIC,
    ("PATCH", "/v1/cases/{case_number}"): frozenset({ADMIN, HELPLINE, VICTIM}),
    ("GET", "/v1/cases"): frozenset({ADMIN, PLATFORM, HELPLINE}),
    ("GET", "/v1/cases/due"): frozenset({ADMIN, PLATFORM, HELPLINE}),
    ("GET", "/v1/cases/{case_number}"): frozenset({ADMIN, PLATFORM, HELPLINE, VICTIM}),
    ("POST", "/v1/cases/{case_number}/acknowledge"): REVIEWERS,
    ("POST", "/v1/cases/{case_number}/pause"): REVIEWERS,
    ("POST", "/v1/cases/{case_number}/resume"): REVIEWERS,
    ("POST", "/v1/cases/{case_number}/decision"): REVIEWERS,
    ("POST", "/v1/cases/{case_number}/close"): REVIEWERS,
    ("POST", "/v1/cases/{case_number}/appeals"): frozenset({ADMIN, PLATFORM, HELPLINE, VICTIM}),
    ("POST", "/v1/cases/{case_number}/appeals/{appeal_id}/decision"): REVIEWERS,
    ("POST", "/v1/cases/{case_number}/withdraw"): frozenset({ADMIN, HELPLINE, VICTIM}),
    ("POST", "/v1/cases/{case_number}/withdraw/cancel"): frozenset({ADMIN, HELPLINE, VICTIM}),
    ("POST", "/v1/cases/{case_number}/legal-hold"): frozenset({ADMIN}),
    ("GET", "/v1/cases/{case_number}/contact"): frozenset({ADMIN}),
    ("GET", "/v1/cases/{case_number}/report"): frozenset({ADMIN, PLATFORM, HELPLINE, VICTIM}),
    ("POST", "/v1/misuse/strikes"): REVIEWERS,
    ("GET", "/v1/misuse/strikes"): REVIEWERS,
    ("GET", "/v1/victim/status"): VICTIM_ONLY,
    ("POST", "/v1/victim/withdraw"): VICTIM_ONLY,
}


def complete_form() -> dict[str, Any]:
    """A complete adult request (no hashes: the matrix is about who may act, not what matches)."""
    return request_form(safety_check={"in_immediate_danger": False})


def incomplete_form() -> dict[str, Any]:
    form = complete_form()
    del form["good_faith"]
    return form


@dataclass
class Target:
    """The case a call names (filed by the first helpline), in the state the route needs."""

    case_number: str
    pin: str
    appeal_id: int | None = None


#: Numbers no other call of the module has used (the module's calls share one database).
_UNIQUE = itertools.count(1)


@dataclass
class World:
    """One test's view of the module's app: two helplines of its own and a bystander's case."""

    api: Any
    helpline: dict[str, str]  # the key that files the target cases ("its own case")
    other_helpline: dict[str, str]  # a second helpline's key
    bystander: tuple[str, str]  # another case's number and PIN ("another victim")

    def file(self, form: dict[str, Any]) -> Target:
        response = self.api.client.post("/v1/requests", json=form, headers=self.helpline)
        assert response.status_code == 201, response.text
        return Target(response.json()["case"]["case_number"], response.json()["pin"])

    def unique(self) -> int:
        return next(_UNIQUE)


# --- What each route needs -------------------------------------------------------------------


def _valid(world: World) -> Target:
    return world.file(complete_form())


def _incomplete(world: World) -> Target:
    return world.file(incomplete_form())


def _paused(world: World) -> Target:
    target = _valid(world)
    case_review.pause_clocks(world.api.ctx, target.case_number, "waiting for the requester", REVIEWER)
    return target


def _actioned(world: World) -> Target:
    target = _valid(world)
    case_review.decide(world.api.ctx, target.case_number, "declined", "not found at the URL", REVIEWER)
    return target


def _appealed(world: World) -> Target:
    target = _actioned(world)
    case = case_review.file_appeal(world.api.ctx, target.case_number, "it is still there", SETUP)
    target.appeal_id = case.appeals[-1].id
    return target


def _withdrawing(world: World) -> Target:
    """A case whose victim asked to withdraw it: pending, in its cool-off."""
    target = _valid(world)
    victim = Principal("test:victim", Role.VICTIM, case_number=target.case_number)
    victim_access.request_withdrawal(world.api.ctx, target.case_number, victim)
    return target


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as declared in the app
    prepare: Callable[[World], Target] | None  # the target case; None for routes naming no case
    request: Callable[[World, Target | None], dict[str, Any]]  # url and body of a valid call
    #: A role's valid call, where it differs from the others' (a victim's withdrawal, the
    #: platform's appeal on the uploader's behalf).
    request_for: dict[Role, Callable[[World, Target | None], dict[str, Any]]] = field(default_factory=dict)
    signs: bool = False  # answers with a signed document: needs the installation's signing keys

    @property
    def allowed(self) -> frozenset[Role] | str:
        """The documented callers (``ALLOWED``): roles, VICTIM_ONLY or PUBLIC."""
        return ALLOWED[(self.method, self.path)]

    @property
    def scoped(self) -> bool:
        return "{case_number}" in self.path

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def _case_url(suffix: str = "") -> Callable[[World, Target | None], dict[str, Any]]:
    def request(world: World, target: Target | None) -> dict[str, Any]:
        assert target is not None
        return {"url": f"/v1/cases/{target.case_number}{suffix}"}
    return request


def _case_post(suffix: str, body: dict[str, Any]) -> Callable[[World, Target | None], dict[str, Any]]:
    def request(world: World, target: Target | None) -> dict[str, Any]:
        assert target is not None
        return {"url": f"/v1/cases/{target.case_number}{suffix}", "json": body}
    return request


def _appeal_decision(world: World, target: Target | None) -> dict[str, Any]:
    assert target is not None and target.appeal_id is not None
    return {"url": f"/v1/cases/{target.case_number}/appeals/{target.appeal_id}/decision",
            "json": {"outcome": "overturned", "reasons": "found it at the URL"}}


def _strike(world: World, target: Target | None) -> dict[str, Any]:
    return {"url": "/v1/misuse/strikes", "json": {"subject_kind": "uploader",
                                                  "subject_ref": f"uploader-{world.unique()}",
                                                  "reason": "re-uploaded removed content"}}


ROUTES = [
    Route("POST", "/v1/requests", None,
          lambda w, t: {"url": "/v1/requests", "json": complete_form()}),
    Route("POST", "/v1/requests/public", None,
          lambda w, t: {"url": "/v1/requests/public", "json": complete_form()}),
    Route("PATCH", "/v1/cases/{case_number}", _incomplete,
          _case_post("", {"good_faith": True})),
    Route("GET", "/v1/cases", None, lambda w, t: {"url": "/v1/cases"}),
    Route("GET", "/v1/cases/due", None, lambda w, t: {"url": "/v1/cases/due?hours=72"}),
    Route("GET", "/v1/cases/{case_number}", _valid, _case_url()),
    Route("POST", "/v1/cases/{case_number}/acknowledge", _valid,
          _case_url("/acknowledge")),
    Route("POST", "/v1/cases/{case_number}/pause", _valid,
          _case_post("/pause", {"reason": "asked the requester"})),
    Route("POST", "/v1/cases/{case_number}/resume", _paused, _case_url("/resume")),
    Route("POST", "/v1/cases/{case_number}/decision", _valid,
          _case_post("/decision", {"decision": "removed", "reasons": "non-consensual intimate image"})),
    Route("POST", "/v1/cases/{case_number}/close", _actioned,
          _case_post("/close", {"reason": "done"})),
    Route("POST", "/v1/cases/{case_number}/appeals", _actioned,
          _case_post("/appeals", {"statement": "it is still at the URL"}),
          request_for={Role.PLATFORM: _case_post("/appeals", {"statement": "the uploader disputes it",
                                                               "party": "uploader"})}),
    Route("POST", "/v1/cases/{case_number}/appeals/{appeal_id}/decision", _appealed, _appeal_decision),
    # A key's withdrawal is at once and must say so; a victim's waits for the cool-off.
    Route("POST", "/v1/cases/{case_number}/withdraw", _valid,
          _case_post("/withdraw", {"confirm_now": True}),
          request_for={Role.VICTIM: _case_post("/withdraw", {})}),
    Route("POST", "/v1/cases/{case_number}/withdraw/cancel", _withdrawing,
          _case_url("/withdraw/cancel")),
    Route("POST", "/v1/cases/{case_number}/legal-hold", _valid,
          _case_post("/legal-hold", {"hold": True})),
    Route("GET", "/v1/cases/{case_number}/contact", _valid, _case_url("/contact")),
    # The evidence pack (PDF) of a case: api/routes/reports.py, behind the same case access.
    Route("GET", "/v1/cases/{case_number}/report", _valid, _case_url("/report"),
          signs=True),
    Route("POST", "/v1/misuse/strikes", None, _strike),
    Route("GET", "/v1/misuse/strikes", None,
          lambda w, t: {"url": "/v1/misuse/strikes?subject_kind=uploader&subject_ref=uploader-1"}),
    Route("GET", "/v1/victim/status", _valid, lambda w, t: {"url": "/v1/victim/status"}),
    Route("POST", "/v1/victim/withdraw", _valid, lambda w, t: {"url": "/v1/victim/withdraw"}),
]
CASE_PREFIXES = ("/v1/requests", "/v1/cases", "/v1/victim", "/v1/misuse")


@dataclass(frozen=True)
class Caller:
    name: str
    role: Role | None  # None: no credentials
    #: For a helpline: another helpline's key. For a victim: another case's number and PIN.
    other: bool = False

    def __str__(self) -> str:
        return self.name


CALLERS = [
    Caller("no credentials", None),
    Caller("admin", Role.ADMIN),
    Caller("platform", Role.PLATFORM),
    Caller("helpline, its own case", Role.HELPLINE),
    Caller("helpline, another helpline's case", Role.HELPLINE, other=True),
    Caller("partner", Role.PARTNER),
    Caller("provider", Role.PROVIDER),
    Caller("victim, her own case", Role.VICTIM),
    Caller("victim, another case", Role.VICTIM, other=True),
]


def expected_status(route: Route, caller: Caller) -> int | None:
    """The status the documented table and scoping call for; None for "succeeds" (any 2xx)."""
    allowed = route.allowed
    if allowed == PUBLIC:
        return None
    if allowed == VICTIM_ONLY:
        return None if caller.role is Role.VICTIM else 401
    assert isinstance(allowed, frozenset)
    if caller.role is None:
        return 401
    if caller.role is Role.VICTIM and Role.VICTIM not in allowed:
        return 401  # a route no victim may use takes keys only
    if caller.role not in allowed:
        return 403
    if route.scoped and caller.other:
        return 404
    return None


def headers_for(world: World, caller: Caller, target: Target | None) -> dict[str, str]:
    api = world.api
    if caller.role is None:
        return {}
    if caller.role is Role.VICTIM:
        if caller.other or target is None:
            return basic(*world.bystander)
        return basic(target.case_number, target.pin)
    if caller.role is Role.HELPLINE:
        return world.other_helpline if caller.other else world.helpline
    return api.headers(caller.role)


def _snapshot(world: World, target: Target | None) -> tuple[Any, ...]:
    """What a refused call must leave as it was."""
    with world.api.ctx.store.transaction() as session:
        counts = (session.scalar(select(func.count()).select_from(Case)),
                  session.scalar(select(func.count()).select_from(MisuseStrike)))
    if target is None:
        return counts
    case = case_review.get_case(world.api.ctx, target.case_number, SETUP)
    fields = dataclasses.asdict(case)
    del fields["history"]  # reads are logged too; the history grows with every look
    return counts, fields


@pytest.fixture(scope="module")
def case_app(start_module_api: Callable[[Settings], Api], module_cheap_kdf_settings: Settings) -> Api:
    """The app every test of the module calls, started once per backend."""
    settings = module_cheap_kdf_settings
    api = start_module_api(settings.with_overrides(cases=dataclasses.replace(
        settings.cases, pin_max_failures=100, public_cases_per_address_per_day=0)))
    # Every public call and victim login of the matrix comes from one address: no rate limit here.
    api.client.app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)  # type: ignore[attr-defined]
    return api


@pytest.fixture
def world(case_app: Api) -> World:
    """This test's helplines and bystander: a queue holds this test's cases only, and a victim's
    call (a withdrawal) changes a case no other test knows."""
    helplines = [{"Authorization": f"Bearer {create_key(case_app.ctx, Role.HELPLINE, label, SETUP)[1]}"}
                 for label in ("a helpline", "another helpline")]
    world = World(case_app, *helplines, bystander=("", ""))
    bystander = world.file(complete_form())
    world.bystander = (bystander.case_number, bystander.pin)
    return world


def test_every_case_route_is_in_the_literal_table_and_the_matrix(world):
    from api.test_auth import app_routes

    served = {route for route in app_routes(world.api) if route[1].startswith(CASE_PREFIXES)}
    assert served == set(ALLOWED)
    assert {(route.method, route.path) for route in ROUTES} == set(ALLOWED)


@pytest.mark.parametrize("route", ROUTES, ids=str)
def test_route_answers_each_caller_as_the_access_table_and_scoping_say(world, route):
    api = world.api
    if route.signs:
        init_signing_keys(api.ctx, force=False, principal=SETUP)
    for caller in CALLERS:
        target = route.prepare(world) if route.prepare is not None else None
        expected = expected_status(route, caller)
        before = _snapshot(world, target) if expected is not None else None
        make = route.request_for.get(caller.role, route.request) if caller.role else route.request
        response = api.client.request(route.method, headers=headers_for(world, caller, target),
                                      **make(world, target))
        if expected is None:
            assert 200 <= response.status_code < 300, f"{caller}: {response.status_code} {response.text}"
            continue
        body = api.expect_error(response, expected)
        if expected == 401:
            assert body["error"] == "unauthorized", f"{caller}: {body}"
        elif expected == 403:
            assert body["error"] == "forbidden" and caller.role is not None
            assert caller.role.value in body["detail"], f"{caller}: {body}"
        elif expected == 404:
            assert body["detail"] == access.NOT_VISIBLE, f"{caller}: {body}"
        assert _snapshot(world, target) == before, f"{caller}: a refused call changed something"


def test_the_table_leaves_every_route_open_to_someone_and_closed_to_someone(world):
    # Guard against a table edit that silently opens a case route to every role, or shuts it.
    for route in ROUTES:
        if route.allowed in (PUBLIC, VICTIM_ONLY):
            continue
        outcomes = {expected_status(route, caller) for caller in CALLERS}
        assert None in outcomes and outcomes - {None}, str(route)


def _numbers(response: Any) -> set[str]:
    assert response.status_code == 200, response.text
    return {item["case_number"] for item in response.json()}


def test_a_helplines_queue_and_due_list_hold_only_the_cases_it_filed(world):
    api = world.api
    own = world.file(complete_form()).case_number
    for url in ("/v1/cases", "/v1/cases/due?hours=72"):
        other = api.client.get(url, headers=world.other_helpline)
        assert other.status_code == 200 and other.json() == [], (url, other.text)
        mine = _numbers(api.client.get(url, headers=world.helpline))
        assert own in mine and world.bystander[0] in mine, url
        assert mine <= _numbers(api.client.get(url, headers=api.headers(Role.PLATFORM))), url
