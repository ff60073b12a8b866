"""The administration pages (``/staff/admin``): banks, API keys, the live index, and checking the
audit log's hash chain.

Each page calls the services with the signed-in principal and shows what they return; a role
that may not is refused by the service (403 page, no data). The services called:
``api_keys.list_keys|create_key|revoke_key`` (``KEYS_MANAGE``), ``spread.banks.list_banks`` and
``audit.list_events`` (``AUDIT_VERIFY``) for the banks' recent changes, ``audit.verify_audit_log``.

A new key is shown once, in the answer to the form that made it, and never again: the page keeps
no copy. Reloading that answer sends the form again, so each create form carries a one-time
``form_id``; a form sent twice makes no second key and shows no key (``_SentForms``).
"""

from __future__ import annotations

import re
import secrets
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from deepshield.errors import InvalidRequest
from deepshield.services import api_keys, audit
from deepshield.services.access import KEY_ROLES, Action, Principal, Role, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.spread import banks
from deepshield.web.forms import read_form
from deepshield.web.sessions import context_of, staff_principal
from deepshield.web.templating import render

router = APIRouter(include_in_schema=False)

#: The bank events shown as "recent changes" (reads such as exports are left out).
BANK_CHANGES = frozenset({"bank.create", "bank.add", "bank.withdraw", "bank.disable", "bank.enable",
                          "bank.import"})
#: How many audit events the banks page reads, and how many changes it shows.
BANK_EVENTS_READ = 200
BANK_CHANGES_SHOWN = 25
#: What each role's key is for, in the create form.
ROLE_WORDS = {
    Role.ADMIN: "administrator: runs the installation (banks, keys, everything)",
    Role.PLATFORM: "platform: matches uploads and reviews takedown requests",
    Role.HELPLINE: "helpline: files requests for victims and follows them",
    Role.PARTNER: "partner: another hash-sharing service (the exchange feed)",
    Role.PROVIDER: "provider: a generative-AI provider that labels its output",
}
_KEY_ID = re.compile(r"^[0-9a-f]{12}$")
_FORM_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class _SentForms:
    """The create-key forms already sent to this process (``form_id`` → the key id made), kept for
    ``keep_s`` and at most ``most`` of them. A reload of the answer sends the form again; the
    second time nothing is made and the key is not shown. (Held per process: with several server
    workers a resent form that reaches another worker makes a second key, listed like any other.)"""

    def __init__(self, keep_s: float = 3600.0, most: int = 10_000) -> None:
        self._sent: OrderedDict[str, tuple[float, str]] = OrderedDict()
        self._lock = threading.Lock()
        self._keep_s, self._most = keep_s, most

    def claim(self, form_id: str) -> tuple[bool, str]:
        """``(True, "")`` the first time ``form_id`` is seen, else ``(False, key id it made)``."""
        now = time.monotonic()
        with self._lock:
            while self._sent and (len(self._sent) >= self._most
                                  or next(iter(self._sent.values()))[0] < now - self._keep_s):
                self._sent.popitem(last=False)
            if form_id in self._sent:
                return False, self._sent[form_id][1]
            self._sent[form_id] = (now, "")
            return True, ""

    def made(self, form_id: str, key_id: str) -> None:
        with self._lock:
            if form_id in self._sent:
                self._sent[form_id] = (self._sent[form_id][0], key_id)

    def release(self, form_id: str) -> None:
        """The form made nothing (refused): it may be sent again."""
        with self._lock:
            self._sent.pop(form_id, None)


_sent_forms = _SentForms()


def _index_status(ctx: ServiceContext, principal: Principal) -> dict[str, Any]:
    """What the live index holds and when it last caught up with the store. The matcher is the
    server's own and takes no principal, so the page asks the access table first with
    ``KEYS_MANAGE``, the operator's action (services/access.py), as every admin page does."""
    authorize(principal, Action.KEYS_MANAGE)
    status = ctx.matcher.index_status()
    synced = datetime.fromtimestamp(status.synced_at, UTC) if status.synced_at else None
    return {
        "loaded": status.loaded,
        "sizes": dict(status.sizes),
        "entries": sum(status.sizes.values()),
        "synced_at": synced,
        "seconds_since_sync": int(time.time() - status.synced_at) if status.synced_at else None,
        "sync_interval_s": ctx.matcher.settings.sync_interval_s,
    }


def _bank_changes(ctx: ServiceContext, principal: Principal) -> list[audit.EventView]:
    events = audit.list_events(ctx, principal, action="bank.*", limit=BANK_EVENTS_READ)
    return [event for event in events if event.action in BANK_CHANGES][:BANK_CHANGES_SHOWN]


def change_words(event: audit.EventView) -> str:
    """A bank event in a few plain words (the audit log holds ids and counts, never hashes)."""
    detail = event.detail
    if event.action == "bank.add":
        added = len(detail.get("entry_ids") or [])
        duplicates = detail.get("duplicates") or 0
        words = f"{added} {'entry' if added == 1 else 'entries'} added"
        if detail.get("origin"):
            words += f" (origin {detail['origin']})"
        return words + (f", {duplicates} already there" if duplicates else "")
    entry = event.target.removeprefix("entry:")
    bank = detail.get("bank")
    where = f" in {bank}" if bank else ""
    return {
        "bank.create": "bank created",
        "bank.withdraw": f"entry {entry} withdrawn{where}",
        "bank.disable": f"entry {entry} disabled{where}",
        "bank.enable": f"entry {entry} enabled again{where}",
        "bank.import": f"{detail.get('added', 0)} entries imported "
                       f"({detail.get('duplicates', 0)} already there)",
    }.get(event.action, event.action)


def _bank_of(event: audit.EventView) -> str:
    if event.target.startswith("bank:"):
        return event.target.removeprefix("bank:")
    return str(event.detail.get("bank", ""))


@router.get("/staff/admin")
async def admin_home(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    ctx = context_of(request)

    def gather() -> dict[str, Any]:
        keys = api_keys.list_keys(ctx, principal)  # the operator's: refuses every other role first
        bank_list = banks.list_banks(ctx, principal)
        return {"keys_active": sum(key.revoked_at is None for key in keys),
                "keys_revoked": sum(key.revoked_at is not None for key in keys),
                "bank_count": len(bank_list), "bank_entries": sum(bank.active_entries for bank in bank_list),
                "index": _index_status(ctx, principal)}

    return render(request, "admin/home.html", **await run_in_threadpool(gather))


@router.get("/staff/admin/banks")
async def admin_banks(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    ctx = context_of(request)

    def gather() -> dict[str, Any]:
        changes = _bank_changes(ctx, principal)  # the audit log: the operator's only
        return {"banks": banks.list_banks(ctx, principal), "system_banks": banks.system_banks(ctx),
                "changes": [(event, _bank_of(event), change_words(event)) for event in changes]}

    return render(request, "admin/banks.html", **await run_in_threadpool(gather))


def _keys_page(request: Request, principal: Principal, *, status_code: int = 200, **values: Any) -> Response:
    ctx = context_of(request)
    keys = api_keys.list_keys(ctx, principal)
    values.setdefault("new_key", None)
    values.setdefault("error", "")
    values.setdefault("notice", "")
    values.setdefault("form_role", "")
    values.setdefault("form_label", "")
    return render(request, "admin/keys.html", status_code=status_code, keys=keys,
                  roles=[(role.value, ROLE_WORDS.get(role, role.value)) for role in sorted(KEY_ROLES)],
                  form_id=secrets.token_urlsafe(18), own_key_id=principal.actor.removeprefix("key:"),
                  **values)


@router.get("/staff/admin/keys")
async def admin_keys(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    revoked = request.query_params.get("revoked", "")
    notice = f"Key {revoked} is revoked. It no longer works, and its sessions have ended." \
        if _KEY_ID.match(revoked) else ""
    return await run_in_threadpool(lambda: _keys_page(request, principal, notice=notice))


@router.post("/staff/admin/keys")
async def admin_create_key(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    form = await read_form(request)
    ctx = context_of(request)
    role_text, label = str(form.get("role", "")), str(form.get("label", "")).strip()
    form_id = str(form.get("form_id", ""))

    def create() -> Response:
        authorize(principal, Action.KEYS_MANAGE)  # before the form's answer says anything
        if not _FORM_ID.match(form_id):
            raise InvalidRequest("this form is incomplete; reload the keys page and fill it in again")
        try:
            role = api_keys.parse_role(role_text)
        except InvalidRequest as error:
            return _keys_page(request, principal, status_code=400, error=error.detail,
                              form_role=role_text, form_label=label)
        first, made_key_id = _sent_forms.claim(form_id)
        if not first:
            made = f" It made key {made_key_id}, listed below." if made_key_id else ""
            return _keys_page(request, principal, status_code=409, notice=(
                "This form was already sent, so no other key was made and no key is shown." + made
                + " A key is shown only once: if it was not copied, revoke it and create another."))
        try:
            info, token = api_keys.create_key(ctx, role, label, principal)
        except Exception:
            _sent_forms.release(form_id)
            raise
        _sent_forms.made(form_id, info.key_id)
        return _keys_page(request, principal, new_key={"info": info, "token": token})

    return await run_in_threadpool(create)


@router.post("/staff/admin/keys/{key_id}/revoke")
async def admin_revoke_key(request: Request, key_id: str,
                           principal: Principal = Depends(staff_principal)) -> Response:
    await read_form(request)
    ctx = context_of(request)
    if not _KEY_ID.match(key_id):
        raise InvalidRequest("a key id is 12 hexadecimal characters")
    await run_in_threadpool(api_keys.revoke_key, ctx, key_id, principal)
    return RedirectResponse(f"/staff/admin/keys?revoked={key_id}", status_code=303)


@router.get("/staff/admin/index")
async def admin_index(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    ctx = context_of(request)

    def gather() -> dict[str, Any]:
        index = _index_status(ctx, principal)
        bank_list = banks.list_banks(ctx, principal)
        return {"index": index, "bank_entries": sum(bank.active_entries for bank in bank_list),
                "refreshed": request.query_params.get("refreshed") == "1"}

    return render(request, "admin/index.html", **await run_in_threadpool(gather))


@router.post("/staff/admin/index/refresh")
async def admin_index_refresh(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    """Bring the index up to date with the store now (a search does the same before it runs)."""
    await read_form(request)
    ctx = context_of(request)

    def refresh() -> None:
        authorize(principal, Action.KEYS_MANAGE)  # as _index_status: the operator's page
        ctx.matcher.refresh()

    await run_in_threadpool(refresh)
    return RedirectResponse("/staff/admin/index?refreshed=1", status_code=303)


@router.post("/staff/admin/audit/verify")
async def admin_audit_verify(request: Request, principal: Principal = Depends(staff_principal)) -> Response:
    await read_form(request)
    ctx = context_of(request)
    report = await run_in_threadpool(audit.verify_audit_log, ctx, principal)
    return render(request, "admin/audit.html", report=audit.chain_report_view(report))
