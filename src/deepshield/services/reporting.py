"""Use cases: evidence packs (signed PDFs) for a case or a file, their check, and the transparency
report.

An evidence pack is what a victim hands to the police or a platform. It carries the case's
state, clocks, decision, appeals and history, the content's locations and hashes (the victim
needs those as evidence; never a picture), and for a file its hashes and verification result, and,
when the caller gives a suspected source, the comparison with it (``compare_with_source``): its
figure is the one picture a pack may hold, made for that pack and kept nowhere.
Contact details appear only when an admin asks (``include_contact``). Each pack is signed with the
installation's signing identity (``deepshield keys init``) and carries its contents as JSON, so
``check_report`` can tell an untouched pack from an edited one and hand the contents back.

Reading a pack is audit-logged (``report.evidence``), in the transaction that read the hashes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from deepshield import __version__
from deepshield.cases.references import case_reference
from deepshield.errors import DeepShieldError, Forbidden, InvalidRequest, NotFound
from deepshield.provenance.c2pa_signing import SigningIdentity, SigningKeysMissing
from deepshield.provenance.repository_client import RepositoryUnavailable
from deepshield.reports import transparency
from deepshield.reports.evidence import (
    EVIDENCE_ATTACHMENT,
    AppealLine,
    ChainHead,
    ClockLine,
    ComparedFrameLine,
    ComparisonLine,
    DecisionLine,
    EvidencePack,
    HashLine,
    HistoryLine,
    LocationLine,
    MediaLine,
    RegionLine,
    TimestampLine,
    VerificationLine,
    render_html,
)
from deepshield.services import access
from deepshield.services.access import Action, Principal, Role, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.label.labelling import signing_identity
from deepshield.services.spread.hashing import MediaSignals, hash_media
from deepshield.services.takedown import records as case_records
from deepshield.services.takedown import review as case_review
from deepshield.services.verify.source_comparison import SourceComparison, compare_with_source
from deepshield.services.verify.verification import VerifyReport, trust_anchors, verify_media
from deepshield.settings import Settings
from deepshield.signals.vpdq import serialize_vpdq, unique_good_frames
from deepshield.store import audit_chain
from deepshield.store import audit_repository as audit
from deepshield.store import report_repository as repo
from deepshield.store.models import AuditEvent, BankEntry

if TYPE_CHECKING:
    from deepshield.reports.pdf_signing import ReportCheck

GENERATOR = f"DeepShield {__version__}"
#: The largest PDF ``check_report`` reads (a pack is tens of kilobytes; a long history, a few MB).
MAX_REPORT_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class EvidenceReport:
    """A signed evidence pack: the PDF bytes, and the values it shows."""

    pdf: bytes
    pack: EvidencePack


# --- Signing identity ----------------------------------------------------------------------


def report_identity(settings: Settings) -> SigningIdentity:
    """The identity that signs packs: the Content Credentials signer (configured, else
    ``keys init``'s). Raises ``SigningKeysMissing`` telling to run ``deepshield keys init``."""
    try:
        return signing_identity(settings)
    except SigningKeysMissing as error:
        raise SigningKeysMissing(f"evidence packs are signed, but {error.detail}") from None


def _signed_pdf(pack: EvidencePack, identity: SigningIdentity) -> bytes:
    # WeasyPrint and pyHanko load on the first pack, not with every door (see deepshield.reports).
    from deepshield.reports.pdf import PdfAttachment, render_pdf
    from deepshield.reports.pdf_signing import sign_pdf

    attachment = PdfAttachment(EVIDENCE_ATTACHMENT, pack.to_json().encode("utf-8"),
                               "The evidence pack's contents, machine-readable (JSON)")
    pdf = render_pdf(render_html(pack), attachments=[attachment], images=pack.images())
    return sign_pdf(pdf, identity.certificate_chain_pem, identity.private_key_pem,
                    sign_callback=identity.sign_callback, reason=pack.title)


# --- Case packs ----------------------------------------------------------------------------


def _hash_lines(entries: list[BankEntry]) -> list[HashLine]:
    """One line per distinct (type, value): a case's hashes usually sit in two banks."""
    seen: set[tuple[str, str]] = set()
    lines = []
    for entry in entries:
        key = (entry.signal_type, entry.value)
        if key in seen:
            continue
        seen.add(key)
        lines.append(HashLine(entry.signal_type, entry.value, entry.quality, entry.origin))
    return lines


def _history_lines(view: case_records.CaseView, events: dict[int, AuditEvent]) -> list[HistoryLine]:
    lines = []
    for item in view.history:
        event = events.get(item.seq)
        chain_hash, chain_ok = "", None
        if event is not None:
            chain_hash = event.entry_hash
            chain_ok = audit_chain.event_hash(event.prev_hash, int(event.seq), event.at, event.actor,
                                              event.action, event.target, event.detail,
                                              bool(event.automated)) == event.entry_hash
        lines.append(HistoryLine(item.seq, item.at, item.actor, item.action, item.automated,
                                 dict(item.detail), chain_hash, chain_ok))
    return lines


def case_pack(view: case_records.CaseView, hashes: list[HashLine], history: list[HistoryLine], *,
              chain_head: ChainHead | None, contact: case_records.ContactView | None,
              generated_at: datetime) -> EvidencePack:
    """The evidence pack of a case, from its view and what the store adds (hashes, chain)."""
    decision = None
    if view.decision is not None:
        decision = DecisionLine(view.decision, view.decision_reasons or "", view.decided_by,
                                view.decision_automated, view.actioned_at)
    notes = []
    if view.missing:
        notes.append("The request is incomplete; it still lacks: " + " ".join(view.missing))
    if view.referral:
        notes.append(f"Under-18 request: referred to {view.referral}.")
    if not hashes:
        notes.append("No hashes are on record for this case: none were given, or they were withdrawn "
                     "at the requester's request.")
    if view.pauses:
        notes.extend(f"Clocks paused from {pause.started_at.isoformat()} to "
                     f"{pause.ended_at.isoformat() if pause.ended_at else 'now'}: {pause.reason}"
                     for pause in view.pauses)
    return EvidencePack(
        kind="case", title=f"Evidence pack for case {view.case_number}", generated_at=generated_at,
        generator=GENERATOR, case_number=view.case_number, state=view.state,
        requester_role=view.requester_role, jurisdictions=list(view.jurisdictions),
        legal_hold=view.legal_hold,
        contact=({"signature_name": contact.signature_name, "contact_email": contact.contact_email}
                 if contact is not None else None),
        timestamps=[
            TimestampLine("received", view.received_at),
            TimestampLine("complete (clocks started)", view.completed_at),
            TimestampLine("due", view.due_at),
            TimestampLine("acknowledged", view.acknowledged_at),
            TimestampLine("decided", view.actioned_at),
            TimestampLine("closed", view.closed_at),
            TimestampLine("withdrawal requested", view.withdraw_requested_at),
            TimestampLine("withdrawal takes effect", view.withdraw_effective_at),
            TimestampLine("withdrawn", view.withdrawn_at),
        ],
        locations=[LocationLine(loc.kind, loc.location, loc.status) for loc in view.locations],
        hashes=hashes,
        clocks=[ClockLine(clock.jurisdiction, clock.duty, clock.started_at, clock.due_at, clock.met_at,
                          clock.escalated_at, clock.breached_at, clock.paused) for clock in view.clocks],
        decision=decision,
        appeals=[AppealLine(appeal.kind, appeal.filed_by_party, appeal.filed_at, appeal.statement,
                            appeal.reviewer, appeal.outcome, appeal.outcome_reasons, appeal.decided_at)
                 for appeal in view.appeals],
        history=history, chain_head=chain_head, notes=notes)


def evidence_for_case(ctx: ServiceContext, case_number: str, principal: Principal, *,
                      include_contact: bool = False, now: datetime | None = None) -> EvidenceReport:
    """The signed evidence pack of a case the principal may see (a victim: her own case; a
    helpline: the cases it filed; platform and admin: any), exactly as ``get_case`` scopes it.

    Contact details only with ``include_contact``, which only an admin may ask for. Raises
    ``NotFound`` for a case that is not visible, ``SigningKeysMissing`` without a signing identity.
    """
    authorize(principal, Action.REPORT_EVIDENCE)
    if include_contact and principal.role is not Role.ADMIN:
        raise Forbidden("only an admin may include the requester's contact details in a pack")
    identity = report_identity(ctx.settings)  # before anything is read: fail early, log nothing
    view = case_review.get_case(ctx, case_number, principal)
    contact = case_review.read_contact(ctx, view.case_number, principal) if include_contact else None
    generated_at = now or datetime.now(UTC)
    with ctx.store.transaction() as session:
        case_id = repo.case_id(session, view.case_number)
        if case_id is None:  # deleted between the two reads; answer as for any invisible case
            raise NotFound(access.NOT_VISIBLE)
        hashes = _hash_lines(repo.case_hashes(session, case_reference(case_id)))
        history = _history_lines(view, repo.events_by_seq(session, [item.seq for item in view.history]))
        head = repo.chain_head(session)
        pack = case_pack(view, hashes, history, chain_head=ChainHead(*head) if head else None,
                         contact=contact, generated_at=generated_at)
        pdf = _signed_pdf(pack, identity)
        audit.record_event(session, principal.actor, "report.evidence", case_reference(case_id), kind="case",
                           include_contact=include_contact, hashes=len(hashes))
    return EvidenceReport(pdf, pack)


# --- File packs ----------------------------------------------------------------------------


def _file_hashes(media: MediaSignals) -> list[HashLine]:
    lines = []
    if media.pdq is not None:
        lines.append(HashLine("pdq", media.pdq.hex, media.pdq.quality))
    if media.vpdq:
        lines.append(HashLine("vpdq", serialize_vpdq(media.vpdq), None,
                              note="one PDQ hash per sampled frame: frame,quality,hash,seconds"))
    lines.append(HashLine("md5", media.md5))
    lines.append(HashLine("sha256", media.sha256))
    return lines


def _verification_line(report: VerifyReport) -> VerificationLine:
    made_by = report.made_by or {}
    return VerificationLine(
        verdict=report.verdict, summary=report.summary, reasons=list(report.reasons),
        signer=made_by.get("signer"), generator=made_by.get("generator"), model=made_by.get("model"),
        created_at=str(made_by["created_at"]) if made_by.get("created_at") else None,
        warnings=list(report.warnings))


#: The longest source file name a pack prints (a name comes from the caller's upload).
MAX_SOURCE_NAME = 200


def _optional_number(numbers: dict[str, Any], name: str) -> Any:
    value = numbers.get(name)
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def comparison_line(compared: SourceComparison, source: bytes, source_name: str | None) -> ComparisonLine:
    """What a pack shows of a comparison with a suspected source: its sentence, numbers, method,
    limits and figure, and the source by its name and SHA-256 only."""
    view = compared.to_dict()
    numbers = view.get("numbers") or {}
    regions = []
    for region in numbers.get("regions") or []:
        box = region.get("box") if isinstance(region, dict) else None
        if not isinstance(box, list | tuple) or len(box) != 4:
            continue  # not an image region (a newer method's shape): its numbers are in the JSON copy
        x, y, width, height = (int(part) for part in box)
        regions.append(RegionLine((x, y, width, height), float(region.get("area") or 0.0),
                                  float(region.get("strength") or 0.0)))
    mirrored = numbers.get("mirrored")
    video: dict[str, Any] = {}
    if view.get("kind") == "video":
        offset = numbers.get("offset") if isinstance(numbers.get("offset"), dict) else {}
        mirrored = offset.get("mirrored")
        frames = [ComparedFrameLine(float(frame["suspect_time_s"]), _optional_number(frame, "source_time_s"),
                                    str(frame.get("outcome", "")), len(frame.get("regions") or []))
                  for frame in numbers.get("frames") or [] if isinstance(frame, dict)]
        video = dict(kind="video", offset_s=_optional_number(offset, "offset_s"),
                     matched_share=_optional_number(offset, "matched_share"), frames=frames)
    return ComparisonLine(
        outcome=compared.outcome.value, summary=compared.summary, method=str(numbers.get("method", "")),
        source_sha256=hashlib.sha256(source).hexdigest(),
        source_name=source_name[:MAX_SOURCE_NAME] if source_name else None,
        inliers=_optional_number(numbers, "inliers"), matches=_optional_number(numbers, "matches"),
        mirrored=mirrored if isinstance(mirrored, bool) else None,
        overlap=_optional_number(numbers, "overlap"), agreement=_optional_number(numbers, "agreement"),
        correlation=_optional_number(numbers, "correlation"),
        noise_floor=_optional_number(numbers, "noise_floor"),
        regions=regions, limits=[str(limit) for limit in view.get("limits") or []], numbers=dict(numbers),
        figure_png=compared.figure_png(), **video)


def file_pack(media: MediaSignals, size_bytes: int, verification: VerificationLine, *,
              min_quality: int, generated_at: datetime,
              comparison: ComparisonLine | None = None) -> EvidencePack:
    """The evidence pack of one file: what it is, its hashes and its verification, and the
    comparison with a suspected source when one was given. No picture but that comparison's
    figure, and no name of the file (a name can identify a person); a source is named as the
    caller named it."""
    notes = ["The file itself is not stored and not embedded: only its hashes are."]
    if comparison is not None:
        notes = ["Neither the file nor the suspected source is stored or embedded: only their hashes "
                 "are, and the comparison figure that shows them side by side."]
    return EvidencePack(
        kind="file", title="Evidence pack for a file", generated_at=generated_at, generator=GENERATOR,
        media=MediaLine(media.kind.value, media.format, size_bytes, media.width, media.height,
                        media.duration_s,
                        len(media.vpdq) if media.vpdq else None,
                        len(unique_good_frames(media.vpdq, min_quality)) if media.vpdq else None),
        hashes=_file_hashes(media), verification=verification, comparison=comparison, notes=notes)


def evidence_for_file(ctx: ServiceContext, data: bytes, principal: Principal, *,
                      source: bytes | None = None, source_name: str | None = None,
                      now: datetime | None = None) -> EvidenceReport:
    """The signed evidence pack of a file's bytes (kept in memory only): PDQ, MD5, SHA-256 (a
    video's vPDQ frame hashes), and the verification verdict, reasons, signer, generator and time.

    With ``source`` (a suspected source's bytes, also in memory only; ``source_name`` as the
    caller names it), the pack adds the comparison with it, made by ``compare_with_source`` for
    the same principal: its sentence, figure, numbers, method and known limits, and the source's
    name and SHA-256. Raises a ``MediaError`` for bytes that are not a readable image or video, and
    the comparison's own errors for a source it cannot compare; nothing is logged as made then."""
    authorize(principal, Action.REPORT_FILE)
    if not data:
        raise InvalidRequest("the file is empty (0 bytes)")
    if source is not None and not source:
        raise InvalidRequest("the suspected source file is empty (0 bytes)")
    identity = report_identity(ctx.settings)
    settings = ctx.settings
    media = hash_media(data, settings.limits, seconds_per_video_hash=settings.seconds_per_video_hash)
    try:
        verification = _verification_line(verify_media(ctx, data, principal=principal))
    except RepositoryUnavailable as error:  # the pack is still worth having; say what is missing
        verification = VerificationLine("not checked", "The label could not be checked: " + error.detail)
    comparison = None
    if source is not None:
        try:
            compared = compare_with_source(ctx, data, source, principal=principal, source_name=source_name)
        except DeepShieldError as error:  # say which step refused: the file itself was read above
            named = f" ({source_name})" if source_name else ""
            raise type(error)(f"could not compare the file with the suspected source{named}: "
                              f"{error.detail}") from error
        comparison = comparison_line(compared, source, source_name)
    pack = file_pack(media, len(data), verification, min_quality=settings.match.pdq_min_quality,
                     generated_at=now or datetime.now(UTC), comparison=comparison)
    pdf = _signed_pdf(pack, identity)
    compared_detail = {"comparison": comparison.outcome} if comparison is not None else {}
    with ctx.store.transaction() as session:
        audit.record_event(session, principal.actor, "report.evidence", "", kind="file",
                           verdict=verification.verdict, **compared_detail)
    return EvidenceReport(pdf, pack)


# --- Checking a pack -----------------------------------------------------------------------


def check_report(ctx: ServiceContext, pdf: bytes, *, now: datetime | None = None) -> ReportCheck:
    """Whether ``pdf`` is an untouched pack signed by a signer this installation trusts (its
    trust anchors), with its embedded evidence. Raises ``InvalidRequest`` for input that is not a
    readable PDF; any other failure is ``valid=False`` with ``problems`` in plain words."""
    from deepshield.reports.pdf_signing import check_pdf

    if len(pdf) > MAX_REPORT_BYTES:
        raise InvalidRequest(f"the PDF is larger than {MAX_REPORT_BYTES:,} bytes; an evidence pack is "
                             "far smaller")
    return check_pdf(pdf, trust_anchors(ctx.settings), now=now)


# --- Transparency --------------------------------------------------------------------------


def parse_period_bound(text: str | None, name: str) -> datetime | None:
    """An ISO 8601 date (``2026-05-01``, midnight UTC) or date-time; naive means UTC."""
    if text is None or not str(text).strip():
        return None
    try:
        value = datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidRequest(f"{name} must be an ISO 8601 date or date-time, e.g. 2026-05-01; "
                             f"got {text!r}") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _source(filed_by: str, roles: dict[str, str]) -> str:
    if filed_by == transparency.PUBLIC_SOURCE:
        return transparency.PUBLIC_SOURCE
    kind, _, ident = filed_by.partition(":")
    if kind == "key":
        return roles.get(ident, "key")
    return "cli" if kind == "cli" else "other"


def transparency_report(ctx: ServiceContext, principal: Principal, *, since: datetime | None = None,
                        until: datetime | None = None, now: datetime | None = None) -> dict[str, Any]:
    """Aggregate counts over ``[since, until)`` (see ``reports.transparency``): no case numbers,
    no personal data, no content hashes; with the audit chain's head hash for external anchoring.
    The read is audit-logged (``report.transparency``)."""
    authorize(principal, Action.REPORT_TRANSPARENCY)
    if since is not None and until is not None and since >= until:
        raise InvalidRequest("the period is empty: --since must be earlier than --until")
    chain = audit_chain.verify_snapshot(ctx.store.engine)
    with ctx.store.transaction() as session:
        cases = repo.cases_touching(session, since, until)
        roles = repo.key_roles(session, [case.filed_by.partition(":")[2] for case in cases
                                         if case.filed_by.startswith("key:")])
        data = transparency.TransparencyInput(
            since=since, until=until, generated_at=now or datetime.now(UTC), generator=GENERATOR,
            cases=[transparency.CaseRecord(
                case.state, case.requester_role, _source(case.filed_by, roles),
                tuple(code for code in case.jurisdictions.split(",") if code), case.received_at,
                case.completed_at, case.actioned_at, case.decision, case.decision_automated)
                for case in cases],
            clocks=[transparency.ClockRecord(clock.jurisdiction, clock.duty, clock.started_at,
                                             clock.met_at, clock.breached_at)
                    for clock in repo.clocks_started(session, since, until)],
            appeals=[transparency.AppealRecord(appeal.kind, appeal.filed_by_party, appeal.filed_at,
                                               appeal.outcome)
                     for appeal in repo.appeals_filed(session, since, until)],
            strikes=[transparency.StrikeRecord(strike.subject_kind, strike.kind, strike.at, strike.automated)
                     for strike in repo.strikes_in(session, since, until)],
            audit=[transparency.AuditCount(action, automated, count)
                   for action, automated, count in repo.audit_counts(session, since, until)],
            chain_head_seq=chain.head_seq, chain_head_hash=chain.head_hash, chain_verified=chain.ok)
        report = transparency.build_report(data)
        audit.record_event(session, principal.actor, "report.transparency", "",
                           since=since.isoformat() if since else None,
                           until=until.isoformat() if until else None)
    return report


#: The transparency report's formats and their media types.
TRANSPARENCY_FORMATS = {"json": "application/json", "csv": "text/csv"}


def transparency_format(output_format: str) -> str:
    """``json`` or ``csv`` (any case); anything else is ``InvalidRequest``."""
    fmt = str(output_format).strip().lower()
    if fmt not in TRANSPARENCY_FORMATS:
        raise InvalidRequest(f"unknown format {output_format!r}; use json or csv")
    return fmt


def report_as(report: dict[str, Any], output_format: str) -> tuple[str, str]:
    """``(text, media type)`` of the report as ``json`` or ``csv``."""
    fmt = transparency_format(output_format)
    text = transparency.to_json(report) if fmt == "json" else transparency.to_csv(report)
    return text, TRANSPARENCY_FORMATS[fmt]
