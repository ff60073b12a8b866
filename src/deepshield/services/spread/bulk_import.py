"""Use case: import a hash list of millions of rows into a bank, streamed, in one transaction.

Formats, told apart by the file's first line:

* CSV with a header naming ``signal_type`` and the value column: ``signal_value``
  (DeepShield's export and the plain two-column list), or ``signal_str``
  (python-threatexchange's ``dataset --csv``). Other columns are ignored, except
  ``quality`` and ``case_ref`` (kept), and ``withdrawn_at`` / ``enabled`` (inactive rows of
  a DeepShield export are skipped).
* One signal per line as ``TYPE VALUE`` (python-threatexchange's ``local_file`` exchange).
* JSON (DeepShield's export, or a list of records): read whole, for small lists.

HMA's names are accepted for types (``video_md5`` is an MD5). Every row is validated; the
first bad one aborts the import with its line number, and nothing is written. Rows are
inserted with plain multi-row INSERTs, duplicates (within the file, and values the bank
already holds) are removed in SQL, and the change feed gets one row per new entry, all in
the same transaction. Ten million rows take minutes.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import and_, delete, func, insert, literal, select

from deepshield.errors import InvalidRequest, InvalidSignal, LowQualityHash
from deepshield.services.access import Principal
from deepshield.services.context import ServiceContext
from deepshield.services.spread import bank_files
from deepshield.services.spread import banks as bank_service
from deepshield.signals.types import SignalType, normalize_hex_signal, parse_signal_type
from deepshield.signals.vpdq import parse_vpdq
from deepshield.store import audit_repository as audit
from deepshield.store import bank_repository as repo
from deepshield.store.models import BankEntry, EntryChange, utcnow

BATCH_ROWS = 20_000
_VALUE_COLUMNS = ("signal_value", "signal_str")
_TYPE_ALIASES = {"video_md5": SignalType.MD5, "photo_md5": SignalType.MD5}
_MAX_JSON_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class ImportSummary:
    bank: str
    format: str
    rows: int  # signal rows read (inactive export rows not counted)
    added: int  # new entries
    duplicates: int  # rows whose value the bank already held, or that repeated in the file


@dataclass(frozen=True)
class _Row:
    line: int
    signal_type: str
    value: str
    quality: int | None = None
    case_ref: str | None = None


def _signal_type(name: str, line: int) -> SignalType:
    alias = _TYPE_ALIASES.get(name.strip().lower())
    if alias is not None:
        return alias
    try:
        return parse_signal_type(name)
    except InvalidSignal as exc:
        raise InvalidSignal(f"line {line}: {exc.detail}") from None


def _validated(row: _Row, min_quality: int) -> tuple[str, str]:
    signal_type = _signal_type(row.signal_type, row.line)
    try:
        if signal_type is SignalType.VPDQ:
            parse_vpdq(row.value)
            value = row.value
        else:
            value = normalize_hex_signal(signal_type, row.value)
    except InvalidSignal as exc:
        raise InvalidSignal(f"line {row.line}: {exc.detail}") from None
    if signal_type is SignalType.PDQ and row.quality is not None and row.quality < min_quality:
        raise LowQualityHash(f"line {row.line}: PDQ quality {row.quality} is below {min_quality}")
    return signal_type.value, value


def _quality(raw: str | None, line: int) -> int | None:
    if raw is None or not raw.strip():
        return None
    try:
        quality = int(raw)
    except ValueError:
        raise InvalidRequest(f"line {line}: quality must be a whole number 0-100; got {raw!r}") from None
    if not 0 <= quality <= 100:
        raise InvalidRequest(f"line {line}: quality must be 0-100; got {quality}")
    return quality


def _csv_rows(lines: Iterator[str], header_line: str) -> Iterator[_Row]:
    header = next(csv.reader([header_line]))
    columns = [name.strip().lower().lstrip("\ufeff") for name in header]
    value_column = next((c for c in _VALUE_COLUMNS if c in columns), None)
    if "signal_type" not in columns or value_column is None:
        raise InvalidRequest("a CSV hash list needs a header row with signal_type and "
                             "signal_value (or signal_str) columns")
    for number, record in enumerate(csv.DictReader(lines, fieldnames=columns), start=2):
        if record.get("withdrawn_at") or (record.get("enabled") or "").strip().lower() == "false":
            continue
        signal_type, value = record.get("signal_type"), record.get(value_column)
        if not signal_type or not value:
            raise InvalidRequest(f"line {number}: needs both signal_type and {value_column}")
        yield _Row(number, signal_type, value.strip(), _quality(record.get("quality"), number),
                   (record.get("case_ref") or "").strip() or None)


def _line_rows(lines: Iterator[str], first: str) -> Iterator[_Row]:
    for number, line in enumerate(itertools.chain([first], lines), start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        signal_type, _, value = text.partition(" ")
        if not value.strip():
            raise InvalidRequest(f"line {number}: expected 'TYPE VALUE' (e.g. 'pdq <64 hex>')")
        yield _Row(number, signal_type, value.strip())


def _rows(handle: io.TextIOBase) -> tuple[str, Iterator[_Row] | None]:
    """(format name, row iterator); the iterator is None for JSON, which is read whole."""
    first = handle.readline()
    while first and not first.strip():
        first = handle.readline()
    if not first:
        raise InvalidRequest("the import file is empty")
    stripped = first.lstrip("\ufeff").lstrip()
    if stripped[:1] in "[{":
        return "json", None
    if "signal_type" in stripped.lower() and "," in stripped:
        return "csv", _csv_rows(iter(handle), stripped)
    return "lines", _line_rows(iter(handle), stripped)


def import_file(ctx: ServiceContext, bank_name: str, path: Path, principal: Principal,
                progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Import the hash list at ``path`` into ``bank_name``; ``progress(bytes_read)`` is called
    now and then. All or nothing: a bad row rolls everything back. ``Forbidden`` before the
    file is opened unless ``principal`` may import into the bank (``banks.check_may_import``)."""
    bank_service.check_may_import(ctx, bank_name, principal)
    try:
        handle = open(path, encoding="utf-8", newline="")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InvalidRequest(f"cannot read {path}: {exc.strerror}") from None
    with handle:
        try:
            kind, rows = _rows(handle)
            if rows is None:
                return _import_json(ctx, bank_name, path, principal)
            return _import_rows(ctx, bank_name, kind, _counting(rows, handle, progress), principal.actor)
        except UnicodeDecodeError:
            raise InvalidRequest(f"{path} is not UTF-8 text; a hash list is CSV, text or JSON") from None
        except csv.Error as exc:
            raise InvalidRequest(f"{path} is not valid CSV: {exc}") from None


def _counting(rows: Iterator[_Row], handle: io.TextIOBase,
              progress: Callable[[int], None] | None) -> Iterator[_Row]:
    for number, row in enumerate(rows):
        if progress is not None and number % BATCH_ROWS == 0:
            progress(handle.buffer.tell())  # type: ignore[attr-defined]
        yield row


def _import_json(ctx: ServiceContext, bank_name: str, path: Path, principal: Principal) -> ImportSummary:
    if path.stat().st_size > _MAX_JSON_BYTES:
        raise InvalidRequest(f"a JSON hash list is limited to {_MAX_JSON_BYTES // 1024**2} MB; "
                             "use CSV for larger lists")
    records = bank_files.parse_import(path.read_text(encoding="utf-8"))
    entries = bank_service.import_records(ctx, bank_name, records, principal)
    added = sum(entry.created for entry in entries)
    return ImportSummary(bank_name, "json", len(entries), added, len(entries) - added)


def _batches(rows: Iterable[_Row], size: int) -> Iterator[list[_Row]]:
    batch: list[_Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _import_rows(ctx: ServiceContext, bank_name: str, kind: str, rows: Iterator[_Row],
                 actor: str) -> ImportSummary:
    min_quality = ctx.settings.match.pdq_min_quality
    now = utcnow()
    table = BankEntry.__table__
    read = 0
    with ctx.store.transaction() as session:
        bank = repo.get_bank(session, bank_name)
        before = int(session.scalar(select(func.coalesce(func.max(BankEntry.id), 0))) or 0)
        for batch in _batches(rows, BATCH_ROWS):
            values = []
            for row in batch:
                signal_type, value = _validated(row, min_quality)
                values.append({
                    "bank_id": bank.id, "signal_type": signal_type, "value": value,
                    "value_digest": repo.value_digest(value), "quality": row.quality,
                    "origin": bank_service.Origin.IMPORT.value, "case_ref": row.case_ref,
                    "created_at": now, "withdrawn_at": None, "enabled": True, "added_by": actor,
                })
            session.execute(insert(table), values)
            read += len(values)
        if not read:
            raise InvalidRequest("the import holds no active rows")
        mine = and_(BankEntry.bank_id == bank.id, BankEntry.id > before,
                    BankEntry.created_at == now, BankEntry.added_by == actor)
        # Keep the first entry per value: an active entry that was already there, or the
        # first of this import's copies.
        keep = (select(func.min(BankEntry.id))
                .where(BankEntry.bank_id == bank.id, BankEntry.withdrawn_at.is_(None))
                .group_by(BankEntry.signal_type, BankEntry.value_digest))
        duplicates = session.execute(
            delete(BankEntry).where(mine, BankEntry.id.not_in(keep)).execution_options(
                synchronize_session=False)).rowcount
        repo.mark_bank_change(session)
        session.execute(insert(EntryChange.__table__).from_select(
            ["entry_id", "changed_at"], select(BankEntry.id, literal(now, EntryChange.changed_at.type))
            .where(mine)))
        added = read - duplicates
        audit.record_event(session, actor, "bank.import", f"bank:{bank_name}", format=kind,
                           rows=read, added=added, duplicates=duplicates)
    return ImportSummary(bank_name, kind, read, added, duplicates)
