"""Who may call what, at the services: every entry point that acts for someone, as every role.

The services decide (issue 13): the CLI and the API only say who is calling. So this matrix
calls the services themselves, not the routes, with the principal each door would pass: a key
of each role, and a victim's case number and PIN (her ``Principal``, found by
``victim_access.victim_principal``). The public door's ``None`` is checked where it is allowed.

The expected answers are the literal ``ALLOWED`` below, written from the documentation:
docs/API.md (the route tables and "Roles"), docs/CASES.md ("Who does what") and
docs/SECURITY.md. Nothing is read from ``services/access.py``. For each entry point and role:

- allowed: the call succeeds (each call gets a target in the role's scope: a case filed by the
  helpline the matrix calls as, that case's victim, an entry or manifest of the caller's own);
- refused: ``Forbidden``, or the ``NotFound`` a case-scoped read answers for a case out of scope.

One world (a SQLite database, and a PostgreSQL schema where one is reachable) is built per
module; every call that changes something gets a fresh target, so the order does not matter.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import inspect
import pkgutil
import secrets
import struct
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import deepshield.services
from case_forms import request_form
from deepshield.errors import Forbidden, NotFound
from deepshield.services import api_keys, audit
from deepshield.services import reporting as reports
from deepshield.services.access import NOT_VISIBLE, Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.label import labelling, manifest_registry, signing_keys, watermark_keys, watermarking
from deepshield.services.spread import banks, bulk_import, content_registry, exchange, hashing, matching, scan
from deepshield.services.spread.banks import Origin, SignalInput
from deepshield.services.takedown import intake, outbox, review, victim_access
from deepshield.services.verify import source_comparison, source_search, verification
from deepshield.settings import Settings
from deepshield.signals.keypoints import keypoints
from deepshield.store import watermark_key_repository
from deepshield.watermark import new_key
from factories import encode_image, photo_pixels

ADMIN, PLATFORM, HELPLINE = Role.ADMIN, Role.PLATFORM, Role.HELPLINE
PARTNER, PROVIDER, VICTIM = Role.PARTNER, Role.PROVIDER, Role.VICTIM
ROLES = (ADMIN, PLATFORM, HELPLINE, PARTNER, PROVIDER, VICTIM)
#: "all" in docs/API.md: every role an API key can hold. A victim holds a case number and PIN,
#: which reach her own case only (docs/API.md "Roles").
KEYS = frozenset({ADMIN, PLATFORM, HELPLINE, PARTNER, PROVIDER})
EVERYONE = KEYS | {VICTIM}
REVIEWERS = frozenset({ADMIN, PLATFORM})

#: The documentation written out: entry point -> the roles that may call it.
ALLOWED: dict[str, frozenset[Role]] = {
    # Banks (API.md: GET /v1/banks "all"; POST /v1/banks admin; entries: admin, helpline;
    # PATCH admin; export and import are the operator's: "partner ... cannot match, add or export").
    "bank.list": KEYS,
    "bank.create": frozenset({ADMIN}),
    "bank.add signals": frozenset({ADMIN, HELPLINE}),
    "bank.add file": frozenset({ADMIN, HELPLINE}),
    "bank.withdraw": frozenset({ADMIN, HELPLINE}),  # a helpline: the entries it added
    "bank.disable": frozenset({ADMIN}),
    "bank.export": frozenset({ADMIN}),
    "bank.import records": frozenset({ADMIN}),
    "bank.import file": frozenset({ADMIN}),
    # The content registry (API.md and CASES.md: register, import, flagged, removed: platform, admin).
    "content.register hashes": REVIEWERS,
    "content.register file": REVIEWERS,
    "content.import text": REVIEWERS,
    "content.import file": REVIEWERS,
    "content.import folder": REVIEWERS,
    "content.flagged": REVIEWERS,
    "content.removed": REVIEWERS,
    # Matching (API.md: admin, platform, helpline), hashing and watermark detection ("all").
    "match signals": frozenset({ADMIN, PLATFORM, HELPLINE}),
    "match signals async": frozenset({ADMIN, PLATFORM, HELPLINE}),
    "match file": frozenset({ADMIN, PLATFORM, HELPLINE}),
    # Archive scans (docs/SCAN.md "Who may scan": the operator and platforms).
    "scan": REVIEWERS,
    "hash upload": KEYS,
    "watermark detect upload": KEYS,
    # Verification: no key needed, "with a valid key of any role" (API.md "Verification").
    "verify upload": KEYS,
    "verify file": KEYS,
    # Comparison with a suspected source: public like verify (API.md "Forensics").
    "forensics compare": KEYS,
    # Finding the source: keys of admin, platform, helpline; never the public (FORENSICS.md
    # "Finding the source", API.md "Forensics").
    "forensics sources": frozenset({ADMIN, PLATFORM, HELPLINE}),
    "forensics sources compare": frozenset({ADMIN, PLATFORM, HELPLINE}),
    # Labels and the manifest repository (API.md: provider "labels its output and registers
    # manifests and bindings"; writes: admin, provider; reads: no key).
    "label": frozenset({ADMIN, PROVIDER}),
    "manifest.register": frozenset({ADMIN, PROVIDER}),
    "manifest.bind": frozenset({ADMIN, PROVIDER}),
    "manifest.rebind": frozenset({ADMIN, PROVIDER}),
    "manifest.fetch": EVERYONE,
    "manifest.match binding": EVERYONE,
    "manifest.match content": EVERYONE,
    "manifest.match fingerprints": EVERYONE,
    "manifest.match keypoints": EVERYONE,
    # Watermark keys (WATERMARK_KEYS.md "Who may": a provider's own key, its export and retirement:
    # provider, admin; the list of every key: admin; API.md POST /v1/watermark/key: provider, admin).
    "watermark_key.own": frozenset({ADMIN, PROVIDER}),
    "watermark_key.labelling": frozenset({ADMIN, PROVIDER}),
    "watermark_key.export": frozenset({ADMIN, PROVIDER}),
    "watermark_key.retire": frozenset({ADMIN, PROVIDER}),
    "watermark_key.list": frozenset({ADMIN}),
    # Keys (API.md: "admin does everything"; keys are made by the operator, CLI.md `keys`).
    "keys.create": frozenset({ADMIN}),
    "keys.list": frozenset({ADMIN}),
    "keys.revoke": frozenset({ADMIN}),
    "keys.rotate hash key": frozenset({ADMIN}),
    "keys.install wrapped hash key": frozenset({ADMIN}),
    "keys.init signing keys": frozenset({ADMIN}),
    # The exchange (API.md: updates partner, admin; feedback partner).
    "exchange.fetch": frozenset({ADMIN, PARTNER}),
    "exchange.feedback": frozenset({PARTNER}),
    # Cases (API.md "Takedown cases" and CASES.md "Who does what").
    "case.file": frozenset({ADMIN, HELPLINE}),
    "case.list": frozenset({ADMIN, PLATFORM, HELPLINE}),
    "case.count": frozenset({ADMIN, PLATFORM, HELPLINE}),
    "case.due": frozenset({ADMIN, PLATFORM, HELPLINE}),
    "case.read": frozenset({ADMIN, PLATFORM, HELPLINE, VICTIM}),
    "case.read contact": frozenset({ADMIN}),
    "case.update": frozenset({ADMIN, HELPLINE, VICTIM}),
    "case.acknowledge": REVIEWERS,
    "case.pause": REVIEWERS,
    "case.resume": REVIEWERS,
    "case.decide": REVIEWERS,
    "case.close": REVIEWERS,
    "case.appeal for the requester": frozenset({ADMIN, HELPLINE, VICTIM}),
    "case.appeal for the uploader": REVIEWERS,
    "case.appeal decide": REVIEWERS,
    "case.withdraw": frozenset({ADMIN, HELPLINE, VICTIM}),
    "case.withdraw cancel": frozenset({ADMIN, HELPLINE, VICTIM}),
    "case.legal hold": frozenset({ADMIN}),
    "misuse.strike": REVIEWERS,
    "misuse.strikes": REVIEWERS,
    "victim.status": frozenset({VICTIM}),
    # WEB.md: the helpline's case page shows the victim's status page; whoever may read the case.
    "victim.status as staff read it": frozenset({ADMIN, PLATFORM, HELPLINE, VICTIM}),
    # Reports (API.md: the case's pack: platform, admin, helpline (own), victim (own); a file's
    # pack: keys of platform, admin, helpline; transparency: platform, admin, helpline).
    "report.evidence for case": frozenset({ADMIN, PLATFORM, HELPLINE, VICTIM}),
    "report.evidence for file": frozenset({ADMIN, PLATFORM, HELPLINE}),
    "report.transparency": frozenset({ADMIN, PLATFORM, HELPLINE}),
    # Audit and the outbox: admin alone (CASES.md).
    "audit.verify": frozenset({ADMIN}),
    "audit.events": frozenset({ADMIN}),
    "notifications.list": frozenset({ADMIN}),
    "notifications.deliver": frozenset({ADMIN}),
}

#: The keys the matrix calls as, one per role (a victim's principal comes from her case).
CALLERS = {role: Principal(f"key:matrix-{role.value}", role) for role in KEYS}
#: Set-up acts as principals that are none of the callers: no caller is "the reviewer who made
#: the decision" of a case it is asked about, nor the owner of what it did not make.
SETUP = Principal("test:setup", ADMIN)
REVIEWER = Principal("test:reviewer", PLATFORM)
OTHER_HELPLINE = Principal("key:matrix-other-helpline", HELPLINE)
REASONS = "Non-consensual intimate image; removed under the policy."
WATERMARK = manifest_registry.WATERMARK_ALG


@dataclass(frozen=True)
class Case:
    number: str
    pin: str
    appeal_id: int | None = None


@dataclass
class World:
    ctx: ServiceContext
    folder: Path
    photo: bytes
    form: dict[str, Any]
    standing: Case  # a valid case filed by the matrix's helpline
    manifest_id: str  # registered by the matrix's provider
    entry_id: int  # an entry in the partner feed
    counter: list[int] = field(default_factory=lambda: [0])

    def unique(self) -> int:
        self.counter[0] += 1
        return self.counter[0]

    def file(self, *, complete: bool = True, by: Principal = CALLERS[HELPLINE]) -> Case:
        form = dict(self.form)
        if not complete:
            del form["good_faith"]
        filed = intake.file_request(self.ctx, form, by)
        assert filed.pin is not None
        return Case(filed.case.case_number, filed.pin)

    def decided(self, by: Principal = CALLERS[HELPLINE]) -> Case:
        case = self.file(by=by)
        review.decide(self.ctx, case.number, "removed", REASONS, REVIEWER)
        return case

    def victim(self, case: Case) -> Principal:
        return victim_access.victim_principal(self.ctx, case.number, case.pin)


# --- c2pa manifest stores: structure only, which is all the repository checks -------------------

_C2PA_TAIL = bytes.fromhex("00110010800000aa00389b71")


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _superbox(type_uuid: bytes, label: str, *children: bytes) -> bytes:
    description = _box(b"jumd", type_uuid + bytes([0x03]) + label.encode() + b"\0")
    return _box(b"jumb", description + b"".join(children))


def new_manifest() -> tuple[str, bytes]:
    """A new manifest id and a store holding it (active)."""
    manifest_id = f"urn:c2pa:{uuid.uuid4()}"
    manifest = _superbox(b"c2ma" + _C2PA_TAIL, manifest_id, _box(b"json", b"claim"))
    return manifest_id, _superbox(b"c2pa" + _C2PA_TAIL, "c2pa", manifest)


def label_id() -> str:
    return secrets.token_hex(8)


def md5() -> SignalInput:
    return SignalInput("md5", secrets.token_hex(16))


# --- The world -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(module_cheap_kdf_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    folder = tmp_path_factory.mktemp("access-matrix")
    # A module database of its own (SQLite, and PostgreSQL where reachable), the cheap PIN KDF
    # (the victims' principals), and no lockout however often the matrix signs in.
    settings = module_cheap_kdf_settings.with_overrides(cases=dataclasses.replace(
        module_cheap_kdf_settings.cases, pin_max_failures=100_000))
    ctx = ServiceContext.open(settings)
    try:
        signing_keys.init_signing_keys(ctx, force=False, principal=SETUP)
        banks.create_bank(ctx, "shared", "the matrix's bank", SETUP)
        [entry] = banks.add_signals(ctx, "shared", [md5()], origin=Origin.HELPLINE, case_ref=None,
                                    principal=SETUP)
        content_registry.register_items(
            ctx, [content_registry.ContentItemInput("standing-item", [md5()])], SETUP)
        manifest_id, store = new_manifest()
        manifest_registry.register_manifest(ctx, manifest_id, store, [(WATERMARK, label_id())],
                                            principal=CALLERS[PROVIDER])
        photo = encode_image(photo_pixels(41), "JPEG", quality=90)
        (folder / "uploads").mkdir()
        (folder / "uploads" / "photo.jpg").write_bytes(photo)
        (folder / "hashes.csv").write_text(f"signal_type,signal_value\nmd5,{secrets.token_hex(16)}\n")
        (folder / "content.csv").write_text(
            f"item_id,signal_type,signal_value\nimported-1,md5,{secrets.token_hex(16)}\n")
        w = World(ctx, folder, photo, request_form(ctx, seed=41), standing=Case("", ""),
                  manifest_id=manifest_id, entry_id=entry.id)
        w.standing = w.file()
        yield w
    finally:
        ctx.close()


# --- The entry points: (what a call needs, the call) --------------------------------------------


@dataclass(frozen=True)
class Op:
    """One entry point. ``prepare(world, owner)`` makes the target of one call: a case filed by
    ``owner`` (a helpline; so in the scope of that helpline and of the case's victim), an entry
    it added, or None where the call names nothing. ``call(world, principal, target)`` calls it."""

    functions: tuple[Callable[..., Any], ...]
    call: Callable[[World, Principal, Any], object]
    prepare: Callable[[World, Principal], Any] = lambda world, owner: None


def _entry(w: World, owner: Principal) -> int:
    [entry] = banks.add_signals(w.ctx, "shared", [md5()], origin=Origin.HELPLINE, case_ref=None,
                                principal=owner)
    return entry.id


def _standing(w: World, owner: Principal) -> Case:
    return w.standing if owner == CALLERS[HELPLINE] else w.file(by=owner)


def _fresh(w: World, owner: Principal) -> Case:
    return w.file(by=owner)


def _decided(w: World, owner: Principal) -> Case:
    return w.decided(by=owner)


def _own_watermark_key(w: World, principal: Principal) -> str:
    """A new watermark key owned by ``principal``, stored directly (no service decides here)."""
    key = new_key()
    with w.ctx.store.transaction() as session:
        watermark_key_repository.add_key(session, key.key_id, key.secret.hex(), principal.actor)
    return key.key_id


def _bound_elsewhere(w: World, owner: Principal) -> str:
    """A value the provider bound to another manifest of its own: to re-point at the world's."""
    other, store = new_manifest()
    value = label_id()
    manifest_registry.register_manifest(w.ctx, other, store, [(WATERMARK, value)],
                                        principal=CALLERS[PROVIDER])
    return value


def _paused(w: World, owner: Principal) -> Case:
    case = w.file(by=owner)
    review.pause_clocks(w.ctx, case.number, "waiting for the location to load", REVIEWER)
    return case


def _appealed(w: World, owner: Principal) -> Case:
    case = w.decided(by=owner)
    view = review.file_appeal(w.ctx, case.number, "This removal was right; the copy is still up.", owner)
    return Case(case.number, case.pin, view.appeals[-1].id)


def _withdrawal_pending(w: World, owner: Principal) -> Case:
    case = w.file(by=owner)
    victim_access.request_withdrawal(w.ctx, case.number, w.victim(case))  # the 24 h cool-off
    return case


def _key_to_revoke(w: World, owner: Principal) -> str:
    return api_keys.create_key(w.ctx, PLATFORM, "to revoke", SETUP)[0].key_id


OPS: dict[str, Op] = {
    "bank.list": Op((banks.list_banks,), lambda w, p, t: banks.list_banks(w.ctx, p)),
    "bank.create": Op((banks.create_bank,),
                      lambda w, p, t: banks.create_bank(w.ctx, f"bank-{w.unique()}", "", p)),
    "bank.add signals": Op((banks.add_signals,), lambda w, p, t: banks.add_signals(
        w.ctx, "shared", [md5()], origin=Origin.HELPLINE, case_ref=None, principal=p)),
    "bank.add file": Op((banks.add_media,),
                        lambda w, p, t: banks.add_media(w.ctx, "shared", w.photo, "helpline", None, p)),
    "bank.withdraw": Op((banks.withdraw_entry,), lambda w, p, t: banks.withdraw_entry(w.ctx, "shared", t, p),
                        prepare=_entry),
    "bank.disable": Op((banks.set_entry_enabled,),
                       lambda w, p, t: banks.set_entry_enabled(w.ctx, "shared", t, False, p),
                       prepare=_entry),
    "bank.export": Op((banks.export_bank,), lambda w, p, t: banks.export_bank(w.ctx, "shared", p)),
    "bank.import records": Op((banks.import_records,), lambda w, p, t: banks.import_records(
        w.ctx, "shared", [{"signal_type": "md5", "signal_value": secrets.token_hex(16)}], p)),
    "bank.import file": Op((bulk_import.import_file,),
                           lambda w, p, t: bulk_import.import_file(w.ctx, "shared", w.folder / "hashes.csv",
                                                                   p)),
    "content.register hashes": Op((content_registry.register_items,), lambda w, p, t: (
        content_registry.register_items(
            w.ctx, [content_registry.ContentItemInput(f"item-{w.unique()}", [md5()])], p))),
    "content.register file": Op((content_registry.register_media,), lambda w, p, t: (
        content_registry.register_media(w.ctx, f"upload-{w.unique()}", w.photo, p))),
    "content.import text": Op((content_registry.import_text, content_registry.import_lines),
                              lambda w, p, t: content_registry.import_text(
                                  w.ctx, f"item_id,signal_type,signal_value\nt-{w.unique()},md5,"
                                         f"{secrets.token_hex(16)}\n", p)),
    "content.import file": Op((content_registry.import_file,), lambda w, p, t: (
        content_registry.import_file(w.ctx, w.folder / "content.csv", p))),
    "content.import folder": Op((content_registry.import_folder,), lambda w, p, t: (
        content_registry.import_folder(w.ctx, w.folder / "uploads", p))),
    "content.flagged": Op((content_registry.list_flagged,),
                          lambda w, p, t: content_registry.list_flagged(w.ctx, p)),
    "content.removed": Op((content_registry.mark_actioned,), lambda w, p, t: (
        content_registry.mark_actioned(w.ctx, "standing-item", "removed", p))),
    "match signals": Op((matching.match_query,), lambda w, p, t: matching.match_query(
        w.ctx, matching.parse_query_signals([("md5", secrets.token_hex(16))]), p)),
    "match signals async": Op((matching.match_query_async,), lambda w, p, t: asyncio.run(
        matching.match_query_async(w.ctx, matching.parse_query_signals([("md5", secrets.token_hex(16))]),
                                   p))),
    "match file": Op((matching.match_media,), lambda w, p, t: matching.match_media(w.ctx, w.photo, p)),
    "scan": Op((scan.scan_archive,), lambda w, p, t: scan.scan_archive(
        w.ctx, p, w.folder / "uploads", w.folder / f"scan-{w.unique()}.jsonl")),
    "hash upload": Op((hashing.hash_upload,), lambda w, p, t: hashing.hash_upload(w.ctx, w.photo, p)),
    "watermark detect upload": Op((watermarking.detect_watermark_upload,),
                                  lambda w, p, t: watermarking.detect_watermark_upload(w.ctx, w.photo, p)),
    "verify upload": Op((verification.verify_upload,),
                        lambda w, p, t: verification.verify_upload(w.ctx, w.photo, p)),
    "verify file": Op((verification.verify_media,),
                      lambda w, p, t: verification.verify_media(w.ctx, w.photo, principal=p)),
    "forensics compare": Op((source_comparison.compare_with_source,), lambda w, p, t: (
        source_comparison.compare_with_source(w.ctx, w.photo, w.photo, principal=p))),
    "forensics sources": Op((source_search.find_sources,), lambda w, p, t: (
        source_search.find_sources(w.ctx, w.photo, principal=p))),
    "forensics sources compare": Op((source_search.compare_candidates,), lambda w, p, t: (
        source_search.compare_candidates(w.ctx, w.photo, source_search.find_sources(w.ctx, w.photo,
                                                                                    principal=SETUP),
                                         principal=p))),
    # A photo of its own: the same photo labelled by another key carries bindings that key holds.
    "label": Op((labelling.label_media,), lambda w, p, t: labelling.label_media(
        w.ctx, encode_image(photo_pixels(100 + w.unique())), generator="MatrixGen", model=None,
        principal=p)),
    "manifest.register": Op((manifest_registry.register_manifest,), lambda w, p, t: (
        manifest_registry.register_manifest(w.ctx, *new_manifest(), [(WATERMARK, label_id())], principal=p))),
    "manifest.bind": Op((manifest_registry.add_bindings,), lambda w, p, t: (
        manifest_registry.add_bindings(w.ctx, w.manifest_id, [(WATERMARK, label_id())], p))),
    "manifest.rebind": Op((manifest_registry.replace_bindings,), lambda w, p, t: (
        manifest_registry.replace_bindings(w.ctx, w.manifest_id, [(WATERMARK, t)], p)),
        prepare=_bound_elsewhere),
    "manifest.fetch": Op((manifest_registry.get_manifest,),
                         lambda w, p, t: manifest_registry.get_manifest(w.ctx, w.manifest_id, p)),
    "manifest.match binding": Op((manifest_registry.matches_by_binding,), lambda w, p, t: (
        manifest_registry.matches_by_binding(w.ctx, WATERMARK, label_id(), 10, p))),
    "manifest.match content": Op((manifest_registry.matches_by_content,), lambda w, p, t: (
        manifest_registry.matches_by_content(w.ctx, w.photo, 10, p))),
    "manifest.match fingerprints": Op((manifest_registry.matches_by_fingerprints,), lambda w, p, t: (
        manifest_registry.matches_by_fingerprints(w.ctx, ["a5" * 32], 10, p))),
    "manifest.match keypoints": Op((manifest_registry.matches_by_keypoints,), lambda w, p, t: (
        manifest_registry.matches_by_keypoints(w.ctx, keypoints(photo_pixels(41)), 10, p))),
    "watermark_key.own": Op((watermark_keys.provider_key,),
                            lambda w, p, t: watermark_keys.provider_key(w.ctx, p)),
    "watermark_key.labelling": Op((labelling.labelling_key,),
                                  lambda w, p, t: labelling.labelling_key(w.ctx, p)),
    "watermark_key.export": Op((watermark_keys.export_key,),
                               lambda w, p, t: watermark_keys.export_key(w.ctx, p, create=True)),
    # A key of the caller's own (made around the service), so only the role decides.
    "watermark_key.retire": Op((watermark_keys.retire_key,),
                               lambda w, p, t: watermark_keys.retire_key(w.ctx, p, _own_watermark_key(w, p))),
    "watermark_key.list": Op((watermark_keys.list_keys,), lambda w, p, t: watermark_keys.list_keys(w.ctx, p)),
    "keys.create": Op((api_keys.create_key,),
                      lambda w, p, t: api_keys.create_key(w.ctx, PLATFORM, "made in the matrix", p)),
    "keys.list": Op((api_keys.list_keys,), lambda w, p, t: api_keys.list_keys(w.ctx, p)),
    "keys.revoke": Op((api_keys.revoke_key,), lambda w, p, t: api_keys.revoke_key(w.ctx, t, p),
                      prepare=_key_to_revoke),
    "keys.rotate hash key": Op((api_keys.rotate_hash_key,),
                               lambda w, p, t: api_keys.rotate_hash_key(w.ctx, p)),
    # A key file exists, so an allowed call installs nothing (None): the KMS path is tested elsewhere.
    "keys.install wrapped hash key": Op((api_keys.install_wrapped_hash_key,), lambda w, p, t: (
        api_keys.install_wrapped_hash_key(w.ctx.settings, secrets.token_bytes(40), p))),
    "keys.init signing keys": Op((signing_keys.init_signing_keys,), lambda w, p, t: (
        signing_keys.init_signing_keys(w.ctx, force=True, principal=p))),
    "exchange.fetch": Op((exchange.fetch_updates,), lambda w, p, t: exchange.fetch_updates(w.ctx, p, 0, 10)),
    "exchange.feedback": Op((exchange.record_feedback,), lambda w, p, t: (
        exchange.record_feedback(w.ctx, p, [(w.entry_id, "Blocked")]))),
    "case.file": Op((intake.file_request,), lambda w, p, t: intake.file_request(w.ctx, dict(w.form), p)),
    "case.list": Op((review.list_cases,), lambda w, p, t: review.list_cases(w.ctx, p)),
    "case.count": Op((review.count_cases,), lambda w, p, t: review.count_cases(w.ctx, p)),
    "case.due": Op((review.due_cases,),
                   lambda w, p, t: review.due_cases(w.ctx, p, within=timedelta(hours=24))),
    "case.read": Op((review.get_case,), lambda w, p, t: review.get_case(w.ctx, t.number, p),
                    prepare=_standing),
    "case.read contact": Op((review.read_contact,), lambda w, p, t: review.read_contact(w.ctx, t.number, p),
                            prepare=_standing),
    "case.update": Op((intake.update_request,), lambda w, p, t: (
        intake.update_request(w.ctx, t.number, {"good_faith": True}, p)),
        prepare=lambda w, owner: w.file(complete=False, by=owner)),
    "case.acknowledge": Op((review.acknowledge,), lambda w, p, t: review.acknowledge(w.ctx, t.number, p),
                           prepare=_fresh),
    "case.pause": Op((review.pause_clocks,), lambda w, p, t: (
        review.pause_clocks(w.ctx, t.number, "no location loads yet", p)), prepare=_fresh),
    "case.resume": Op((review.resume_clocks,), lambda w, p, t: review.resume_clocks(w.ctx, t.number, p),
                      prepare=_paused),
    "case.decide": Op((review.decide,), lambda w, p, t: review.decide(w.ctx, t.number, "removed", REASONS, p),
                      prepare=_fresh),
    "case.close": Op((review.close_case,), lambda w, p, t: (
        review.close_case(w.ctx, t.number, "handled and done", p)), prepare=_decided),
    "case.appeal for the requester": Op((review.file_appeal,), lambda w, p, t: review.file_appeal(
        w.ctx, t.number, "The removal must stand; copies are still up.", p), prepare=_decided),
    "case.appeal for the uploader": Op((review.file_appeal,), lambda w, p, t: review.file_appeal(
        w.ctx, t.number, "The uploader says the content is staged.", p, party="uploader"),
        prepare=_decided),
    "case.appeal decide": Op((review.decide_appeal,), lambda w, p, t: review.decide_appeal(
        w.ctx, t.number, t.appeal_id, "upheld", "The removal was right and stays.", p), prepare=_appealed),
    "case.withdraw": Op((victim_access.request_withdrawal,), lambda w, p, t: (
        victim_access.request_withdrawal(w.ctx, t.number, p)), prepare=_fresh),
    "case.withdraw cancel": Op((victim_access.cancel_withdrawal,), lambda w, p, t: (
        victim_access.cancel_withdrawal(w.ctx, t.number, p)), prepare=_withdrawal_pending),
    "case.legal hold": Op((review.set_legal_hold,), lambda w, p, t: review.set_legal_hold(
        w.ctx, t.number, True, p), prepare=_standing),
    "misuse.strike": Op((review.record_strike,), lambda w, p, t: review.record_strike(
        w.ctx, "uploader", f"acct-{w.unique()}", "reposted removed content", p)),
    "misuse.strikes": Op((review.strikes_for,),
                         lambda w, p, t: review.strikes_for(w.ctx, "uploader", "acct-1", p)),
    "victim.status": Op((victim_access.victim_status,), lambda w, p, t: victim_access.victim_status(w.ctx, p),
                        prepare=_standing),
    "victim.status as staff read it": Op((victim_access.status_as_victim_sees_it,), lambda w, p, t: (
        victim_access.status_as_victim_sees_it(w.ctx, t.number, p)), prepare=_standing),
    "report.evidence for case": Op((reports.evidence_for_case,), lambda w, p, t: (
        reports.evidence_for_case(w.ctx, t.number, p)), prepare=_standing),
    "report.evidence for file": Op((reports.evidence_for_file,),
                                   lambda w, p, t: reports.evidence_for_file(w.ctx, w.photo, p)),
    "report.transparency": Op((reports.transparency_report,),
                              lambda w, p, t: reports.transparency_report(w.ctx, p)),
    "audit.verify": Op((audit.verify_audit_log,), lambda w, p, t: audit.verify_audit_log(w.ctx, p)),
    "audit.events": Op((audit.list_events,), lambda w, p, t: audit.list_events(w.ctx, p, limit=5)),
    "notifications.list": Op((outbox.list_notifications,),
                             lambda w, p, t: outbox.list_notifications(w.ctx, p)),
    "notifications.deliver": Op((outbox.deliver,), lambda w, p, t: outbox.deliver(w.ctx, p, limit=5)),
}


def _principal(world: World, role: Role, target: Any) -> Principal:
    """The caller of ``role``: its key, or the victim of the call's case (else of the standing one)."""
    if role is VICTIM:
        return world.victim(target if isinstance(target, Case) else world.standing)
    return CALLERS[role]


def _refused(error: Exception) -> bool:
    return isinstance(error, Forbidden) or (isinstance(error, NotFound) and error.detail == NOT_VISIBLE)


def test_the_table_names_every_entry_point_the_matrix_calls():
    assert set(OPS) == set(ALLOWED)


@pytest.mark.parametrize("role", ROLES, ids=[role.value for role in ROLES])
def test_each_entry_point_serves_exactly_the_documented_roles(world: World, role: Role):
    wrong: list[str] = []
    for name, op in OPS.items():
        target = op.prepare(world, CALLERS[HELPLINE])
        principal = _principal(world, role, target)
        try:
            op.call(world, principal, target)
        except Exception as error:  # every answer is compared with the table
            if role in ALLOWED[name]:
                wrong.append(f"{name}: allowed, but raised {type(error).__name__}: {error}")
            elif not _refused(error):
                wrong.append(f"{name}: should be refused, but raised {type(error).__name__}: {error}")
        else:
            if role not in ALLOWED[name]:
                wrong.append(f"{name}: should be refused, but succeeded")
    assert wrong == [], "\n".join(wrong)


# --- Scope: an allowed role, out of its scope ----------------------------------------------------

#: The case-scoped entry points a helpline or a victim may call (on its own cases).
CASE_SCOPED = ("case.read", "victim.status as staff read it", "case.update", "case.appeal for the requester",
               "case.withdraw", "case.withdraw cancel", "report.evidence for case")


@pytest.mark.parametrize("name", CASE_SCOPED)
def test_another_helplines_case_and_another_victims_case_answer_like_no_case(world: World, name: str):
    """On a case another helpline filed, the matrix's helpline and the standing case's victim
    (both allowed the act on their own cases) get exactly the answer of a case that does not exist."""
    op = OPS[name]
    for principal in (CALLERS[HELPLINE], world.victim(world.standing)):
        assert principal.role in ALLOWED[name]
        target = op.prepare(world, OTHER_HELPLINE)
        with pytest.raises(NotFound) as refused:
            op.call(world, principal, target)
        assert refused.value.detail == NOT_VISIBLE, (name, principal.role)
        op.call(world, OTHER_HELPLINE, target)  # while its own helpline may


def test_a_helpline_withdraws_only_the_entries_it_added(world: World):
    theirs = _entry(world, OTHER_HELPLINE)
    with pytest.raises(NotFound, match=f"no entry {theirs}$"):
        banks.withdraw_entry(world.ctx, "shared", theirs, CALLERS[HELPLINE])
    banks.withdraw_entry(world.ctx, "shared", theirs, OTHER_HELPLINE)


def test_a_provider_changes_only_its_own_manifests(world: World):
    other = Principal("key:matrix-other-provider", PROVIDER)
    with pytest.raises(Forbidden, match="registered"):
        manifest_registry.add_bindings(world.ctx, world.manifest_id, [(WATERMARK, label_id())], other)


# --- The public door: no principal at all --------------------------------------------------------


def test_the_public_may_file_verify_and_read_the_manifest_repository(world: World):
    assert intake.file_request(world.ctx, dict(world.form), None, address="192.0.2.7").pin
    assert verification.verify_upload(world.ctx, world.photo, None).verdict == "unknown"
    assert source_comparison.compare_with_source(world.ctx, world.photo, world.photo,
                                                 principal=None).outcome.derived
    assert manifest_registry.get_manifest(world.ctx, world.manifest_id, None).manifest_id == world.manifest_id
    assert manifest_registry.matches_by_binding(world.ctx, WATERMARK, label_id(), 10, None) == []
    manifest_registry.matches_by_content(world.ctx, world.photo, 10, None)
    assert manifest_registry.matches_by_fingerprints(world.ctx, ["a5" * 32], 10, None) == []
    assert manifest_registry.matches_by_keypoints(world.ctx, keypoints(photo_pixels(41)), 10,
                                                  None) == []


# --- Every entry point is in the matrix ----------------------------------------------------------

#: Public service functions that take a principal but act for no one themselves: the rules
#: (``access``), checks and helpers that run inside an entry point's transaction.
NOT_ENTRY_POINTS = {
    "deepshield.services.spread.banks.resolve_case_ref",  # inside add_signals' transaction
    "deepshield.services.spread.banks.check_may_import",  # the imports' check
    "deepshield.services.takedown.case_lookup.visible",  # the scoping rule the case services ask
    "deepshield.services.takedown.case_lookup.load_visible",
    "deepshield.services.verify.verification.manifest_source",  # verify_media's repository
    "deepshield.services.verify.source_search.may_search_registry",  # find_sources' scoping rule
}


#: The only public service functions still taking an actor string: they run for the system, inside
#: the transaction (or after the decision) of an entry point that authorised its caller.
ACTOR_HELPERS = {
    "deepshield.services.spread.banks.add_signals_in",  # the case workflow's banking
    "deepshield.services.spread.copy_sweep.sweep_for_case",  # after a reviewer's removal
    "deepshield.services.takedown.case_events.record",
    "deepshield.services.takedown.case_hashes.bank_hashes",
    "deepshield.services.takedown.withdrawal.apply_withdrawal",
}


def _service_functions() -> Iterator[tuple[str, inspect.Signature]]:
    for module_info in pkgutil.walk_packages(deepshield.services.__path__, "deepshield.services."):
        module = importlib.import_module(module_info.name)
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if not name.startswith("_") and function.__module__ == module.__name__:
                yield f"{module.__name__}.{name}", inspect.signature(function)


def _service_functions_taking_a_principal() -> set[str]:
    return {name for name, signature in _service_functions()
            if not name.startswith("deepshield.services.access.")
            and any("Principal" in str(parameter.annotation) for parameter in signature.parameters.values())}


def test_no_entry_point_takes_an_actor_string():
    taking = {name for name, signature in _service_functions() if "actor" in signature.parameters}
    assert taking == ACTOR_HELPERS


def test_every_service_entry_point_that_takes_a_principal_is_in_the_matrix():
    called = {f"{function.__module__}.{function.__name__}"
              for op in OPS.values() for function in op.functions}
    taking = _service_functions_taking_a_principal()
    assert len(taking) > 50  # the walk found the services
    assert taking - called - NOT_ENTRY_POINTS == set()
