"""Use cases: the platform's content registry. Items are registered by hash only.

A platform registers each upload (its own item id, the upload's hashes, an opaque uploader
reference). Registration is also where re-uploads of removed content are refused: an item
whose hash matches an active entry of the block bank (``settings.cases.block_bank``, filled
by the copy sweep when a case's content is removed) is registered as ``blocked`` and the
answer says so. When a case's content is removed, the sweep (``copy_sweep``) lists the
registered copies for action (``flagged``); a reviewer then marks them ``removed``.

Media bytes are hashed in memory and never stored; only hashes and ids are.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from deepshield.cases.numbers import parse_case_number
from deepshield.cases.references import case_id_of, case_reference
from deepshield.errors import DeepShieldError, InvalidRequest, InvalidSignal, LowQualityHash, NotFound
from deepshield.media import expand_paths, read_media_file
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.spread import copy_sweep
from deepshield.services.spread.banks import SignalInput, validate_signal
from deepshield.services.spread.hashing import MediaSignals, hash_media
from deepshield.services.spread.live_index import Match, MatchQuery
from deepshield.services.spread.matching import query_from_media
from deepshield.signals.types import SignalType
from deepshield.signals.vpdq import parse_vpdq
from deepshield.store import audit_repository as audit
from deepshield.store import content_repository as repo
from deepshield.store.models import utcnow

#: An item id or uploader reference: 1-200 printable characters (the platform's own opaque ids).
_OPAQUE_ID = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
#: Statuses a reviewer may set: ``removed`` (final), or ``live`` to clear a false listing.
ACTIONS = ("removed", "live")
#: How often (in items) a long registration reports progress.
PROGRESS_EVERY = 1000
IMPORT_COLUMNS = ("item_id", "signal_type", "signal_value", "quality", "uploader_ref")
#: What a door reads at most in one request, in bytes: a registration by hash (JSON; 10,000 items
#: with a few hashes each take about 3 MB), and an import (CSV or JSON Lines: about 300,000 rows
#: of PDQ hashes). A longer list is imported from a file (``import_file``).
MAX_REGISTER_BODY_BYTES = 16 * 1024 * 1024
MAX_IMPORT_BODY_BYTES = 32 * 1024 * 1024

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ContentItemInput:
    """An item to register, as a caller gives it: not yet validated."""

    item_id: str
    signals: list[SignalInput]
    uploader_ref: str | None = None


@dataclass(frozen=True)
class RegisteredItem:
    item_id: str
    status: str  # live, flagged, removed, or blocked (refused: a re-upload of removed content)
    blocked: bool
    #: The block entry's case reference (``case:<id>``) when the item matched the block bank now.
    matched_case_ref: str | None
    #: Signals newly stored (0 when the item was already registered with these hashes).
    added: int = 0


@dataclass(frozen=True)
class ImportSummary:
    format: str  # csv, jsonl or folder
    rows: int  # signal rows (or files) read
    items: int
    added: int  # signal rows newly stored
    duplicates: int  # rows already registered, or repeated in the input
    blocked: int  # items refused as re-uploads of removed content


@dataclass(frozen=True)
class FlaggedItem:
    """An item listed for action by a sweep. Holds no hash values."""

    item_id: str
    status: str
    case_number: str | None
    uploader_ref: str | None
    signal_types: list[str]
    status_changed_at: datetime | None


@dataclass
class _Prepared:
    """An item whose signals are validated, with the queries that check it against the block bank."""

    item_id: str
    signals: list[tuple[str, str, int | None]]
    uploader_ref: str | None
    queries: list[MatchQuery] = field(default_factory=list)


def check_opaque_id(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or not _OPAQUE_ID.match(value):
        raise InvalidRequest(f"{what} must be 1-200 printable characters (an opaque id, never a "
                             f"name or contact detail); got {value!r:.80}")
    return value


def _optional_ref(value: object, what: str) -> str | None:
    if value is None or value == "":
        return None
    return check_opaque_id(value, what)


def _queries(signals: Sequence[tuple[str, str, int | None]]) -> list[MatchQuery]:
    """Match queries covering ``signals``: one for the PDQ hashes and first digests, and one
    more per further digest or video (a query holds one MD5, one SHA-256 and one video)."""
    pdq = [("original", value) for kind, value, _ in signals if kind == SignalType.PDQ.value]
    md5 = [value for kind, value, _ in signals if kind == SignalType.MD5.value]
    sha256 = [value for kind, value, _ in signals if kind == SignalType.SHA256.value]
    videos = [parse_vpdq(value) for kind, value, _ in signals if kind == SignalType.VPDQ.value]
    return [MatchQuery(pdq if i == 0 else (), md5[i] if i < len(md5) else None,
                       sha256[i] if i < len(sha256) else None, videos[i] if i < len(videos) else ())
            for i in range(max(1, len(md5), len(sha256), len(videos)))]


def _prepare(item: ContentItemInput, min_quality: int, where: str) -> _Prepared:
    if not isinstance(item, ContentItemInput):
        raise InvalidRequest(f"{where}: expected an item with item_id and signals")
    item_id = check_opaque_id(item.item_id, f"{where}: item_id")
    where = f"{where} ({item_id:.80})"
    uploader_ref = _optional_ref(item.uploader_ref, f"{where}: uploader_ref")
    if not item.signals:
        raise InvalidRequest(f"{where}: give at least one signal")
    signals = []
    for position, signal in enumerate(item.signals, start=1):
        try:
            signals.append(validate_signal(signal, min_quality))
        except (InvalidSignal, LowQualityHash, InvalidRequest) as exc:
            raise type(exc)(f"{where}: signal {position}: {exc.detail}") from exc
    return _Prepared(item_id, signals, uploader_ref, _queries(signals))


def _merged(prepared: Iterable[_Prepared]) -> list[_Prepared]:
    """One entry per item id, in first-seen order: an item listed twice is registered once."""
    by_id: dict[str, _Prepared] = {}
    for item in prepared:
        current = by_id.get(item.item_id)
        if current is None:
            by_id[item.item_id] = item
            continue
        current.signals.extend(item.signals)
        current.queries.extend(item.queries)
        current.uploader_ref = current.uploader_ref or item.uploader_ref
    return list(by_id.values())


def register_items(ctx: ServiceContext, items: Sequence[ContentItemInput], principal: Principal, *,
                   progress: Progress | None = None) -> list[RegisteredItem]:
    """Register items by their hashes; one result per distinct item id, in input order.

    Every item and signal is validated first (``banks.validate_signal``); a bad one raises,
    naming it, and nothing is written. Then all are written in one transaction. An item whose
    hash matches an active entry of the block bank (PDQ within the threshold, or an equal
    digest) is registered ``blocked`` with ``blocked=True``: the platform must refuse the
    upload. Registering the same (item id, type, value) again changes nothing. An item
    already flagged, blocked or removed keeps that status. ``Forbidden`` unless ``principal``
    may register content (``Action.CONTENT_REGISTER``: the platform, the operator).
    """
    authorize(principal, Action.CONTENT_REGISTER)
    if not items:
        raise InvalidRequest("nothing to register: give at least one item")
    min_quality = ctx.settings.match.pdq_min_quality
    prepared = [_prepare(item, min_quality, f"item {number}")
                for number, item in enumerate(items, start=1)]
    return _register(ctx, _merged(prepared), principal.actor, progress)


def media_signals(media: MediaSignals, min_quality: int) -> list[tuple[str, str, int | None]]:
    """The signals to register for hashed media. A perceptual hash too weak to match on (a
    featureless image, a video with no good frame) is left out: the item is still
    registered, by its exact digests, because a platform registers every upload."""
    signals = []
    for signal_type, value, quality in media.as_signals():
        try:
            signals.append(validate_signal(SignalInput(signal_type.value, value, quality), min_quality))
        except LowQualityHash:
            continue
    return signals


def prepare_media(ctx: ServiceContext, item_id: str, media: MediaSignals,
                  uploader_ref: str | None = None) -> _Prepared:
    """An item from hashed media, checked against the block bank with every query form the
    matcher uses for uploads (dihedral variants, repost queries where computed)."""
    item_id = check_opaque_id(item_id, "item_id")
    min_quality = ctx.settings.match.pdq_min_quality
    query, _ = query_from_media(media, min_quality)
    return _Prepared(item_id, media_signals(media, min_quality),
                     _optional_ref(uploader_ref, "uploader_ref"), [query])


def hash_for_registration(ctx: ServiceContext, data: bytes) -> MediaSignals:
    """Hash media bytes in memory (with the repost queries the settings ask for)."""
    return hash_media(data, ctx.settings.limits,
                      seconds_per_video_hash=ctx.settings.seconds_per_video_hash,
                      derived_queries=ctx.settings.match.repost_queries)


def register_media(ctx: ServiceContext, item_id: str, data: bytes, principal: Principal, *,
                   uploader_ref: str | None = None) -> RegisteredItem:
    """Hash ``data`` (kept in memory only, never stored) and register it as ``item_id``;
    authorised as ``register_items``, before any hashing."""
    authorize(principal, Action.CONTENT_REGISTER)
    check_opaque_id(item_id, "item_id")
    prepared = prepare_media(ctx, item_id, hash_for_registration(ctx, data), uploader_ref)
    return _register(ctx, [prepared], principal.actor, None)[0]


def _block_bank_in_use(ctx: ServiceContext) -> bool:
    with ctx.store.transaction() as session:
        return repo.has_active_entries(session, ctx.settings.cases.block_bank)


def _block_match(ctx: ServiceContext, queries: Sequence[MatchQuery]) -> Match | None:
    """The closest active block-bank entry any query matches (the matcher confirms it active)."""
    bank = ctx.settings.cases.block_bank
    best: Match | None = None
    for query in queries:
        for match in ctx.matcher.match(query):
            if match.bank == bank and (best is None or match.distance < best.distance):
                best = match
    return best


def _register(ctx: ServiceContext, items: list[_Prepared], actor: str,
              progress: Progress | None) -> list[RegisteredItem]:
    total = len(items)
    matches: list[Match | None] = [None] * total
    if _block_bank_in_use(ctx):  # an empty block bank (no removal yet) needs no lookups
        for position, item in enumerate(items):
            matches[position] = _block_match(ctx, item.queries)
            if progress is not None and position % PROGRESS_EVERY == 0:
                progress(position, total)
    now = utcnow()
    results: list[RegisteredItem] = []
    with ctx.store.transaction() as session:
        existing = repo.rows_of_items(session, [item.item_id for item in items])
        have = {(row.item_id, row.signal_type, repo.value_digest(row.value)) for row in existing}
        status_of: dict[str, str] = {}
        case_of: dict[str, int | None] = {}
        uploader_of: dict[str, str | None] = {}
        for row in existing:
            if repo.STATUS_STRENGTH.get(row.status, 0) >= repo.STATUS_STRENGTH.get(
                    status_of.get(row.item_id, "live"), 0):
                status_of[row.item_id], case_of[row.item_id] = row.status, row.case_id
            uploader_of.setdefault(row.item_id, row.uploader_ref)
        case_refs = repo.bank_entry_case_refs(session, [m.entry_id for m in matches if m is not None])
        new_rows: list[dict[str, object]] = []
        newly_blocked: dict[str, int | None] = {}  # registered earlier, blocked now: item -> case
        blocked_by_case: dict[str, int] = {}
        duplicates = 0
        for item, match in zip(items, matches, strict=True):
            current = status_of.get(item.item_id)
            case_ref = case_refs.get(match.entry_id) if match is not None else None
            status, case_id = current or "live", case_of.get(item.item_id)
            if status == "live" and match is not None:
                status = "blocked"
                case_id = case_id_of(case_ref)
                if case_id is not None and not repo.case_exists(session, case_id):
                    case_id = None  # a block entry filed by hand under a case reference of its own
                if current is not None:
                    newly_blocked[item.item_id] = case_id
                blocked_by_case[case_ref or ""] = blocked_by_case.get(case_ref or "", 0) + 1
            added = 0
            for signal_type, value, _quality in item.signals:
                key = (item.item_id, signal_type, repo.value_digest(value))
                if key in have:
                    duplicates += 1
                    continue
                have.add(key)
                added += 1
                new_rows.append({
                    "item_id": item.item_id, "signal_type": signal_type, "value": value,
                    "value_digest": key[2],
                    "uploader_ref": item.uploader_ref or uploader_of.get(item.item_id),
                    "status": status, "registered_at": now, "registered_by": actor,
                    "status_changed_at": None if status == "live" else now, "case_id": case_id,
                })
            results.append(RegisteredItem(item.item_id, status, status == "blocked", case_ref, added))
        repo.insert_rows(session, new_rows)
        for item_id, case_id in newly_blocked.items():  # the rows registered earlier follow the item
            repo.set_item_status(session, [item_id], "blocked", at=now, case_id=case_id,
                                 only_from=["live"])
        audit.record_event(session, actor, "content.register", "content", items=total,
                           rows_added=len(new_rows), duplicates=duplicates,
                           blocked=sum(blocked_by_case.values()))
        for case_ref, count in sorted(blocked_by_case.items()):
            # The system refused the re-uploads, with no person in the loop.
            audit.record_event(session, actor, "content.blocked", case_ref or "content",
                               automated=True, items=count)
    if progress is not None:
        progress(total, total)
    copy_sweep.content_index(ctx).catch_up(ctx.store)
    return results


# --------------------------------------------------------------------------- bulk import


@dataclass(frozen=True)
class _Row:
    line: int
    item_id: object
    signal_type: object
    value: object
    quality: object
    uploader_ref: object


def _quality(raw: object, line: int) -> int | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, int) and not isinstance(raw, bool):
        quality = raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        quality = int(raw.strip())
    else:
        raise InvalidRequest(f"line {line}: quality must be a whole number from 0 to 100; got {raw!r:.40}")
    if not 0 <= quality <= 100:
        raise InvalidRequest(f"line {line}: quality must be from 0 to 100; got {quality}")
    return quality


def _csv_rows(lines: Iterator[str], header_line: str, header_number: int) -> Iterator[_Row]:
    columns = [name.strip().lower().lstrip("\ufeff") for name in next(csv.reader([header_line]))]
    missing = [name for name in IMPORT_COLUMNS[:3] if name not in columns]
    if missing:
        raise InvalidRequest(f"line {header_number}: the CSV header must name the columns "
                             f"{', '.join(IMPORT_COLUMNS)}; missing {', '.join(missing)}")
    reader = csv.DictReader(lines, fieldnames=columns)
    for record in reader:
        line = header_number + reader.line_num
        if not any((value or "").strip() for value in record.values() if isinstance(value, str)):
            continue
        yield _Row(line, (record.get("item_id") or "").strip(), record.get("signal_type") or "",
                   (record.get("signal_value") or "").strip(), record.get("quality"),
                   (record.get("uploader_ref") or "").strip() or None)


def _jsonl_rows(lines: Iterator[str], first: str, first_number: int) -> Iterator[_Row]:
    for offset, text in enumerate(itertools.chain([first], lines)):
        line = first_number + offset
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"line {line}: not valid JSON ({exc.msg})") from None
        except RecursionError:
            raise InvalidRequest(f"line {line}: nests JSON too deeply") from None
        if not isinstance(record, dict):
            raise InvalidRequest(f"line {line}: expected a JSON object with "
                                 f"{', '.join(IMPORT_COLUMNS[:3])}")
        yield _Row(line, record.get("item_id"), record.get("signal_type"), record.get("signal_value"),
                   record.get("quality"), record.get("uploader_ref"))


def _parse_rows(lines: Iterator[str]) -> tuple[str, Iterator[_Row]]:
    for number, text in enumerate(lines, start=1):
        if text.strip():
            stripped = text.lstrip("\ufeff").strip()
            if stripped.startswith("{"):
                return "jsonl", _jsonl_rows(lines, stripped, number)
            return "csv", _csv_rows(lines, stripped, number)
    raise InvalidRequest("the import is empty: give CSV with a header row "
                         f"({', '.join(IMPORT_COLUMNS)}) or JSON Lines")


def _prepared_rows(rows: Iterator[_Row], min_quality: int) -> tuple[int, list[_Prepared]]:
    items: dict[str, _Prepared] = {}
    count = 0
    for row in rows:
        count += 1
        where = f"line {row.line}"
        item_id = check_opaque_id(row.item_id, f"{where}: item_id")
        uploader_ref = _optional_ref(row.uploader_ref, f"{where}: uploader_ref")
        if not row.signal_type or not row.value:
            raise InvalidRequest(f"{where}: needs both signal_type and signal_value")
        if not isinstance(row.signal_type, str) or not isinstance(row.value, str):
            raise InvalidRequest(f"{where}: signal_type and signal_value must be text")
        try:
            signal = validate_signal(SignalInput(row.signal_type, row.value,
                                                 _quality(row.quality, row.line)), min_quality)
        except (InvalidSignal, LowQualityHash) as exc:
            raise type(exc)(f"{where}: {exc.detail}") from exc
        item = items.get(item_id)
        if item is None:
            items[item_id] = _Prepared(item_id, [signal], uploader_ref)
        else:
            item.signals.append(signal)
            item.uploader_ref = item.uploader_ref or uploader_ref
    for item in items.values():
        item.queries = _queries(item.signals)
    return count, list(items.values())


def import_lines(ctx: ServiceContext, lines: Iterable[str], principal: Principal, *,
                 progress: Progress | None = None) -> ImportSummary:
    """Register the items of a CSV (header: item_id, signal_type, signal_value, and optionally
    quality, uploader_ref) or JSON Lines import, one signal per row; an item's rows are
    grouped by item_id. Every row is validated before anything is written; the first bad
    one raises, naming its line. All or nothing. Authorised as ``register_items``."""
    authorize(principal, Action.CONTENT_REGISTER)
    kind, rows = _parse_rows(iter(lines))
    try:
        count, items = _prepared_rows(rows, ctx.settings.match.pdq_min_quality)
    except csv.Error as exc:
        raise InvalidRequest(f"the import is not valid CSV: {exc}") from None
    if not items:
        raise InvalidRequest("the import holds no rows")
    results = _register(ctx, items, principal.actor, progress)
    added = sum(result.added for result in results)
    return ImportSummary(kind, count, len(results), added, count - added,
                         sum(result.blocked for result in results))


def import_text(ctx: ServiceContext, text: str, principal: Principal) -> ImportSummary:
    """``import_lines`` over a text body (the API's import)."""
    return import_lines(ctx, io.StringIO(text, newline=""), principal)


def import_file(ctx: ServiceContext, path: Path, principal: Principal, *,
                progress: Progress | None = None) -> ImportSummary:
    """``import_lines`` over a UTF-8 CSV or JSON Lines file (authorised before it is opened)."""
    authorize(principal, Action.CONTENT_REGISTER)
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            return import_lines(ctx, handle, principal, progress=progress)
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidRequest(f"{path} is not UTF-8 text; an import is CSV or JSON Lines") from None


def import_folder(ctx: ServiceContext, folder: Path, principal: Principal, *, uploader_ref: str | None = None,
                  progress: Progress | None = None) -> ImportSummary:
    """Register every media file below ``folder`` (hidden files skipped), each as the item
    named by its path relative to the folder. Files are hashed in memory, never stored. A
    file that cannot be hashed raises, naming it, and nothing is registered. Authorised as
    ``register_items``, before any file is read."""
    authorize(principal, Action.CONTENT_REGISTER)
    if not folder.is_dir():
        raise InvalidRequest(f"{folder} is not a folder")
    files = list(expand_paths([folder]))
    if not files:
        raise InvalidRequest(f"{folder} holds no files")
    prepared = []
    for number, path in enumerate(files):
        try:
            data = read_media_file(path, ctx.settings.limits.max_bytes)
            media = hash_for_registration(ctx, data)
        except DeepShieldError as error:
            raise type(error)(f"{path}: {error.detail} (nothing was registered)") from error
        prepared.append(prepare_media(ctx, path.relative_to(folder).as_posix(), media, uploader_ref))
        if progress is not None:
            progress(number + 1, len(files) * 2)
    results = _register(ctx, prepared, principal.actor,
                        None if progress is None else
                        (lambda done, total: progress(len(files) + done, len(files) + total)))
    added = sum(result.added for result in results)
    return ImportSummary("folder", len(files), len(results), added,
                         sum(len(p.signals) for p in prepared) - added,
                         sum(result.blocked for result in results))


# --------------------------------------------------------------------------- review


def _case_id(ctx: ServiceContext, case: str | int | None) -> int | None:
    """A case named by its number (``DS-...``) or internal id; ``NotFound`` if there is none."""
    if case is None or case == "":
        return None
    case_id: int | None = None
    with ctx.store.transaction() as session:
        if isinstance(case, int) or str(case).strip().isdigit():
            if repo.case_exists(session, int(case)):
                case_id = int(case)
        else:
            number = parse_case_number(case)
            case_id = repo.case_id_by_number(session, number) if number else None
    if case_id is None:
        raise NotFound("no case with that number is visible to you")
    return case_id


def list_flagged(ctx: ServiceContext, principal: Principal, case_id: int | str | None = None, *,
                 limit: int = 1000) -> list[FlaggedItem]:
    """Items a sweep listed for action (status ``flagged``), of one case if given (by number
    or id), by item id. Platform and admin only; the read is audit-logged (a count)."""
    authorize(principal, Action.CONTENT_SWEEP)
    if not 1 <= limit <= 10_000:
        raise InvalidRequest("limit must be from 1 to 10,000")
    wanted = _case_id(ctx, case_id)
    with ctx.store.transaction() as session:
        rows = repo.listed_items(session, case_id=wanted, status="flagged", limit=limit)
        numbers = repo.case_numbers(session, {row.case_id for row in rows if row.case_id is not None})
        items: dict[str, FlaggedItem] = {}
        for row in rows:
            item = items.get(row.item_id)
            if item is None:
                items[row.item_id] = FlaggedItem(
                    row.item_id, row.status, numbers.get(row.case_id) if row.case_id else None,
                    row.uploader_ref, [row.signal_type], row.status_changed_at)
            elif row.signal_type not in item.signal_types:
                item.signal_types.append(row.signal_type)
        audit.record_event(session, principal.actor, "content.flagged.read",
                           case_reference(wanted) if wanted is not None else "content", items=len(items))
    return sorted(items.values(), key=lambda item: item.item_id)


def mark_actioned(ctx: ServiceContext, item_id: str, status: str, principal: Principal) -> RegisteredItem:
    """A reviewer's action on a listed item: ``removed`` (final), or ``live`` to clear a
    false listing or block. A removed item stays removed (``InvalidRequest``). Unknown item:
    ``NotFound``. Audit-logged against the item's case. ``Forbidden`` unless ``principal`` may
    act on the sweep's list (``Action.CONTENT_SWEEP``: the platform, the operator)."""
    authorize(principal, Action.CONTENT_SWEEP)
    if status not in ACTIONS:
        raise InvalidRequest(f"status must be one of {', '.join(ACTIONS)}; got {status!r:.40}")
    check_opaque_id(item_id, "item_id")
    with ctx.store.transaction() as session:
        rows = repo.get_rows(session, item_id)
        if not rows:
            raise NotFound(f"no registered item {item_id!r:.80}")
        current = max((row.status for row in rows), key=lambda s: repo.STATUS_STRENGTH.get(s, 0))
        if current == "removed" and status != "removed":
            raise InvalidRequest(f"item {item_id!r:.80} was removed; a removal is final")
        case_id = next((row.case_id for row in rows if row.case_id is not None), None)
        changed = 0
        now = utcnow()
        for row in rows:
            if row.status != status:
                row.status, row.status_changed_at = status, now
                changed += 1
        audit.record_event(session, principal.actor, f"content.{status}",
                           case_reference(case_id) if case_id is not None else "content",
                           item_id=item_id, previous=current, changed=bool(changed))
        return RegisteredItem(item_id, status, False, None, 0)
