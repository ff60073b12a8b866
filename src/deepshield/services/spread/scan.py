"""Use case: scan an archive (a folder tree or a listing of files) against every active bank.

A platform that joins must check what it already hosts: millions of files. The scan is a
pipeline of plain functions, so it runs the same in one process (here) or as Ray Data stages
across machines (``services/spread/scan_ray.py``, the only module that knows Ray):

1. **list** (:func:`list_archive`): the files, each with the platform's content id;
2. **hash** (:func:`hash_item`, on CPU workers): read, decode and fingerprint one file, and with
   ``detect_labels`` read its DeepShield watermark and C2PA label. A file that cannot be read
   (corrupt, truncated, a decompression bomb, the wrong type) becomes an error, never a stop;
3. **match** (:func:`match_hashed`): against a :class:`~deepshield.services.spread.scan_index.ScanIndex`,
   a frozen copy of the banks read once at the start;
4. **write** (:class:`ScanJournal`, in the calling process): one row per file, appended and
   flushed batch by batch, so a scan stopped in any way (even ``kill -9``) goes on with
   ``resume`` from the rows already written: no file is lost or counted twice.

A row holds the content id, the path, the matches (bank, entry, signal type, distance, variant)
and the error, if any; with ``detect_labels`` also the labels read. Hashes are never written:
only which bank entries a file matched. The scan is audit-logged as one event with its counts.
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deepshield.errors import DeepShieldError, InvalidRequest
from deepshield.media import (
    MediaKind,
    MediaLimits,
    decode_image,
    expand_paths,
    read_media_file,
    sniff_media_type,
)
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.spread.hashing import MediaSignals, hash_image, hash_media
from deepshield.services.spread.live_index import Match, MatchQuery
from deepshield.services.spread.matching import query_from_media
from deepshield.services.spread.scan_index import ScanIndex
from deepshield.signals.vpdq import VpdqFeature, parse_vpdq, serialize_vpdq
from deepshield.store import audit_repository as audit

#: The listing formats a scan reads, by file suffix.
LISTING_SUFFIXES = (".csv", ".jsonl", ".parquet")
#: The result formats a scan writes, by the suffix of ``--out``.
OUTPUT_SUFFIXES = (".jsonl", ".parquet")
#: Files hashed between two writes of the journal (and two progress updates): small enough that a
#: stop loses little work, large enough that Ray's per-task cost disappears beside the hashing.
BATCH_FILES = 32
_STATE_FORMAT = "deepshield-scan/1"


@dataclass(frozen=True)
class ScanItem:
    """One file of the archive. ``path`` is as listed (the row's ``path``); ``location`` is
    where it is read from (resolved against the listing's folder); ``position`` its place in
    the listing, which orders nothing but tells duplicates apart."""

    position: int
    content_id: str
    path: str
    location: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.content_id, self.path)


@dataclass(frozen=True)
class ScanOptions:
    """What the hash stage needs, as plain values (it may run in another process)."""

    limits: MediaLimits
    seconds_per_video_hash: float
    repost_queries: bool
    min_quality: int
    detect_labels: bool = False
    #: With ``detect_labels``: the watermark keys to read with (the public key and the provider
    #: keys this installation holds) and the C2PA trust anchors (PEM).
    watermark_keys: tuple[Any, ...] = ()
    trust_anchors: bytes = b""


@dataclass
class ScanSummary:
    """What a scan did. Counts cover every row of the result, resumed ones included;
    ``files_per_second`` only the files this run scanned."""

    out: str
    mode: str  # "local" or "ray"
    files: int = 0
    matched: int = 0
    errors: int = 0
    labelled: int = 0
    resumed: int = 0  # rows already in the result when this run started
    scanned: int = 0  # rows this run added
    seconds: float = 0.0
    files_per_second: float = 0.0
    finished: bool = False
    bank_change_seq: int = 0  # the state of the banks the scan matched against
    index_sizes: dict[str, int] = field(default_factory=dict)
    detect_labels: bool = False
    reposts: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---------------------------------------------------------------------------------- 1. list

def list_archive(source: Path) -> list[ScanItem]:
    """The files of ``source``: a folder (every regular file below it, sorted, dot-names
    skipped; content id = the path relative to the folder) or a listing file (CSV with a
    header, JSON Lines, or Parquet) with a ``path`` column and an optional ``content_id``
    column (default: the path). Relative paths in a listing are relative to its folder.

    Raises ``InvalidRequest`` for a missing source, an unknown listing type or a listing
    without a ``path`` column. A listed row without a path is kept: it becomes an error row.
    """
    source = Path(source)
    if source.is_dir():
        # The same walk as every folder a command takes (sorted, dot-names skipped).
        names = [(child.relative_to(source).as_posix(), child) for child in expand_paths([source])]
        return [ScanItem(position, name, name, str(child)) for position, (name, child) in enumerate(names)]
    if not source.is_file():
        raise InvalidRequest(f"{source}: no such folder or listing file")
    suffix = source.suffix.lower()
    if suffix not in LISTING_SUFFIXES:
        raise InvalidRequest(f"{source}: a listing must be a {', '.join(LISTING_SUFFIXES)} file, "
                             "or give a folder")
    rows = {".csv": _csv_rows, ".jsonl": _jsonl_rows, ".parquet": _parquet_rows}[suffix](source)
    base = source.parent
    items = []
    for position, (content_id, path) in enumerate(rows):
        location = str(base / path) if path else ""
        items.append(ScanItem(position, content_id or path, path, location))
    return items


def _csv_rows(source: Path) -> Iterator[tuple[str, str]]:
    try:
        with source.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            _require_path_column(source, reader.fieldnames or [])
            for row in reader:
                yield str(row.get("content_id") or "").strip(), str(row.get("path") or "").strip()
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InvalidRequest(f"{source}: not a readable UTF-8 CSV listing: {exc}") from exc


def _jsonl_rows(source: Path) -> Iterator[tuple[str, str]]:
    try:
        text = source.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequest(f"{source}: not a UTF-8 JSON Lines listing: {exc}") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InvalidRequest(f"{source}, line {number}: not JSON: {exc}") from exc
        if not isinstance(row, dict):
            raise InvalidRequest(f"{source}, line {number}: each line must be a JSON object")
        if "path" not in row:
            raise InvalidRequest(f"{source}, line {number}: no \"path\" field")
        yield _text(row.get("content_id")), _text(row.get("path"))


def _parquet_rows(source: Path) -> Iterator[tuple[str, str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(source, columns=None)
    except Exception as exc:  # pyarrow raises its own types for every kind of bad file
        raise InvalidRequest(f"{source}: not a readable Parquet listing: {exc}") from exc
    _require_path_column(source, table.column_names)
    paths = table.column("path").to_pylist()
    ids = table.column("content_id").to_pylist() if "content_id" in table.column_names \
        else [None] * len(paths)
    for content_id, path in zip(ids, paths, strict=True):
        yield _text(content_id), _text(path)


def _require_path_column(source: Path, columns: Sequence[str]) -> None:
    if "path" not in columns:
        raise InvalidRequest(f"{source}: the listing has no \"path\" column "
                             f"(columns: {', '.join(columns) or 'none'})")


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


# ---------------------------------------------------------------------------------- 2. hash

def hash_item(item: ScanItem, options: ScanOptions) -> dict[str, Any]:
    """Fingerprint one file: ``{"position", "content_id", "path", "query", "labels", "error"}``,
    plain JSON values. ``query`` is the match query (None after an error), ``error``
    ``{"code", "detail"}`` or None. Never raises for a bad file."""
    hashed: dict[str, Any] = {"position": item.position, "content_id": item.content_id, "path": item.path,
                              "query": None, "error": None}
    if options.detect_labels:
        hashed["labels"] = None
    try:
        if not item.location:
            raise InvalidRequest("the listing's row has no path")
        data = read_media_file(Path(item.location), options.limits.max_bytes)
        media, labels = _fingerprint(data, options)
        query, _warnings = query_from_media(media, options.min_quality)
        hashed["query"] = _query_json(query)
        if options.detect_labels:
            hashed["labels"] = labels
    except DeepShieldError as error:
        hashed["error"] = {"code": error.code, "detail": error.detail}
    except MemoryError:
        hashed["error"] = {"code": "media_too_large", "detail": "decoding it ran out of memory"}
    except Exception as error:  # one strange file must not stop a scan of millions
        hashed["error"] = {"code": "unreadable",
                           "detail": f"reading it failed: {type(error).__name__}: {error}"}
    return hashed


def _fingerprint(data: bytes, options: ScanOptions) -> tuple[MediaSignals, dict[str, Any] | None]:
    media_type = sniff_media_type(data[:64])
    if media_type.kind is not MediaKind.IMAGE:
        media = hash_media(data, options.limits, seconds_per_video_hash=options.seconds_per_video_hash,
                           derived_queries=options.repost_queries)
        labels = _labels(data, media_type.mime, None, options) if options.detect_labels else None
        return media, labels
    decoded = decode_image(data, options.limits, for_analysis=True)
    media = hash_image(data, decoded, derived_queries=options.repost_queries)
    labels = _labels(data, media_type.mime, decoded.pixels, options) if options.detect_labels else None
    return media, labels


def _labels(data: bytes, mime_type: str, pixels: Any, options: ScanOptions) -> dict[str, Any]:
    """The labels a file carries: its embedded C2PA manifest (state, label id, generator,
    signer) and the DeepShield watermarks read with ``options.watermark_keys``. A lead for a
    platform, not a verdict: ``deepshield verify`` checks a label against the repository."""
    from deepshield.provenance.reading import read_content_credentials
    from deepshield.services.label.watermarking import detect_watermark
    from deepshield.watermark import detect
    from deepshield.watermark.analysis import MIN_DETECT_SHORT_SIDE

    c2pa = None
    if mime_type in ("image/jpeg", "image/png", "image/webp", "video/mp4"):
        report = read_content_credentials(data, mime_type, trust_anchors_pem=options.trust_anchors or None)
        if report is not None:
            c2pa = {"state": report.validation_state, "trusted": report.trusted, "label_id": report.label_id,
                    "generator": report.generator, "signer": report.signer}
    marks: list[dict[str, Any]] = []
    checked = True
    try:
        if pixels is None:
            found = detect_watermark(data, options.limits, options.watermark_keys).marks
        elif min(pixels.shape[:2]) < MIN_DETECT_SHORT_SIDE:
            found, checked = [], False
        else:
            found = detect(pixels, options.watermark_keys).marks
        marks = [{"label_id": mark.payload_hex, "key_id": mark.key_id,
                  "confidence": round(mark.confidence, 4)} for mark in found]
    except InvalidRequest:  # too small, too short: nothing to read
        checked = False
    return {"c2pa": c2pa, "watermarks": marks, "watermark_checked": checked}


def _query_json(query: MatchQuery) -> dict[str, Any]:
    return {"pdq": [list(variant) for variant in query.pdq_variants], "md5": query.md5,
            "sha256": query.sha256, "vpdq": serialize_vpdq(list(query.vpdq)) if query.vpdq else ""}


def _query_of(value: dict[str, Any]) -> MatchQuery:
    vpdq: list[VpdqFeature] = parse_vpdq(value["vpdq"]) if value["vpdq"] else []
    return MatchQuery([(name, pdq_hex) for name, pdq_hex in value["pdq"]], value["md5"], value["sha256"],
                      vpdq)


# ---------------------------------------------------------------------------------- 3. match

def match_hashed(hashed: dict[str, Any], index: ScanIndex) -> dict[str, Any]:
    """The result row of one hashed file: ``{"content_id", "path", "matches", "error"}``, and
    ``labels`` when they were read. ``position`` rides along for the journal."""
    matches: list[Match] = index.match(_query_of(hashed["query"])) if hashed["query"] is not None else []
    row: dict[str, Any] = {
        "content_id": hashed["content_id"], "path": hashed["path"],
        "matches": [{"bank": m.bank, "entry_id": m.entry_id, "signal_type": m.signal_type,
                     "distance": m.distance, "variant": m.variant} for m in matches],
        "error": hashed["error"],
    }
    if "labels" in hashed:
        row["labels"] = hashed["labels"]
    row["position"] = hashed["position"]
    return row


def scan_batch(items: Sequence[ScanItem], options: ScanOptions, index: ScanIndex) -> list[dict[str, Any]]:
    """Hash and match a batch of files: their result rows, in order."""
    return [match_hashed(hash_item(item, options), index) for item in items]


# ---------------------------------------------------------------------------------- 4. write

class ScanJournal:
    """The result rows written so far, one JSON object per line, appended batch by batch.

    Each batch is written with one ``write`` and flushed to disk (``fsync``) before the next
    batch is taken, so after any stop the journal holds whole rows and at most one torn last
    line, which :meth:`open` cuts off (its files are scanned again).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._descriptor: int | None = None

    def read(self) -> list[dict[str, Any]]:
        """The whole rows in the journal (a torn last line is dropped and cut from the file)."""
        if not self.path.exists():
            return []
        raw = self.path.read_bytes()
        end = raw.rfind(b"\n") + 1
        if end < len(raw):
            with self.path.open("r+b") as handle:
                handle.truncate(end)
        rows = []
        for number, line in enumerate(raw[:end].splitlines(), start=1):
            try:
                rows.append(json.loads(line))
            except ValueError as exc:
                raise InvalidRequest(f"{self.path}, line {number}: not a scan result row ({exc}); "
                                     "it cannot be resumed") from exc
        return rows

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        text = "".join(json.dumps(_public(row), sort_keys=True) + "\n" for row in rows)
        if not text:
            return
        if self._descriptor is None:
            self._descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        data = text.encode()
        while data:
            written = os.write(self._descriptor, data)
            data = data[written:]
        os.fsync(self._descriptor)

    def close(self) -> None:
        if self._descriptor is not None:
            os.close(self._descriptor)
            self._descriptor = None


def _public(row: dict[str, Any]) -> dict[str, Any]:
    """A row as written: without the pipeline's ``position``."""
    return {name: value for name, value in row.items() if name != "position"}


@dataclass(frozen=True)
class ScanPaths:
    """Where a scan writes: the result, the journal (the result itself for JSON Lines) and the
    state file that names the scan a ``resume`` continues."""

    out: Path
    journal: Path
    state: Path

    @classmethod
    def of(cls, out: Path) -> ScanPaths:
        suffix = out.suffix.lower()
        if suffix not in OUTPUT_SUFFIXES:
            raise InvalidRequest(f"--out {out}: the result is written as JSON Lines (.jsonl) or Parquet "
                                 "(.parquet); give a file name with one of those suffixes")
        journal = out if suffix == ".jsonl" else out.with_name(out.name + ".partial.jsonl")
        return cls(out, journal, out.with_name(out.name + ".scan.json"))


#: Rows converted to Parquet at a time: the journal is read in slices, never whole.
_PARQUET_ROWS = 10_000


def _parquet_schema(detect_labels: bool) -> Any:
    import pyarrow as pa

    match_type = pa.struct([("bank", pa.string()), ("entry_id", pa.int64()), ("signal_type", pa.string()),
                            ("distance", pa.int32()), ("variant", pa.string())])
    fields = [("content_id", pa.string()), ("path", pa.string()), ("matches", pa.list_(match_type)),
              ("error", pa.struct([("code", pa.string()), ("detail", pa.string())]))]
    if detect_labels:
        mark = pa.struct([("label_id", pa.string()), ("key_id", pa.string()), ("confidence", pa.float64())])
        c2pa = pa.struct([("state", pa.string()), ("trusted", pa.bool_()), ("label_id", pa.string()),
                          ("generator", pa.string()), ("signer", pa.string())])
        fields.append(("labels", pa.struct([("c2pa", c2pa), ("watermarks", pa.list_(mark)),
                                            ("watermark_checked", pa.bool_())])))
    return pa.schema(fields)


def journal_to_parquet(journal: Path, out: Path, *, detect_labels: bool) -> None:
    """The journal's rows as a Parquet file at ``out``, converted a slice at a time, written
    beside it and renamed into place (never a half-written result)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = _parquet_schema(detect_labels)
    staging = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        with pq.ParquetWriter(staging, schema) as writer, journal.open(encoding="utf-8") as lines:
            while True:
                rows = [json.loads(line) for _, line in zip(range(_PARQUET_ROWS), lines, strict=False)]
                if not rows:
                    break
                writer.write_table(pa.Table.from_pylist(
                    [{name: row.get(name) for name in schema.names} for row in rows], schema=schema))
        os.replace(staging, out)
    finally:
        staging.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------- the use case

#: Runs the hash and match stages over the items left, yielding result rows batch by batch, in
#: any order: ``run_local`` here, or the Ray pipeline (``scan_ray.ray_runner``).
Runner = Callable[[Sequence[ScanItem], ScanOptions, ScanIndex], Iterator[list[dict[str, Any]]]]


def run_local(items: Sequence[ScanItem], options: ScanOptions, index: ScanIndex
              ) -> Iterator[list[dict[str, Any]]]:
    """The pipeline in this process, batch after batch."""
    for start in range(0, len(items), BATCH_FILES):
        yield scan_batch(items[start:start + BATCH_FILES], options, index)


def scan_options(ctx: ServiceContext, *, detect_labels: bool, reposts: bool | None = None) -> ScanOptions:
    """The hash stage's options from the installation's settings (and keys, for labels);
    ``reposts`` None follows ``DEEPSHIELD_REPOST_QUERIES``."""
    settings = ctx.settings
    keys: tuple[Any, ...] = ()
    anchors = b""
    if detect_labels:
        from deepshield.services.label.watermark_keys import reading_keys
        from deepshield.services.verify.verification import trust_anchors

        keys, anchors = reading_keys(ctx), trust_anchors(settings)
    return ScanOptions(limits=settings.limits, seconds_per_video_hash=settings.seconds_per_video_hash,
                       repost_queries=settings.match.repost_queries if reposts is None else reposts,
                       min_quality=settings.match.pdq_min_quality,
                       detect_labels=detect_labels, watermark_keys=keys, trust_anchors=anchors)


def scan_archive(ctx: ServiceContext, principal: Principal, source: Path, out: Path, *,
                 detect_labels: bool = False, reposts: bool | None = None, resume: bool = False,
                 runner: Runner = run_local,
                 mode: str = "local", on_start: Callable[[int, int], None] | None = None,
                 on_rows: Callable[[int], None] | None = None) -> ScanSummary:
    """Scan ``source`` (see :func:`list_archive`) against every active bank into ``out``.

    ``Forbidden`` before any work unless ``principal`` may scan (``Action.SCAN``). Refuses an
    existing ``out`` unless ``resume``, which continues the unfinished scan written there (same
    source, same options): files already in it are not scanned again. ``reposts`` adds the
    repost queries an upload gets (trimmed borders, cut caption bands, rotated back: about 2×
    the hashing's CPU); None follows the installation's ``DEEPSHIELD_REPOST_QUERIES``. ``on_start``
    gets (files in all, files already done), ``on_rows`` each batch's count of rows written.
    One audit event records the run's counts, whether it finished or stopped on an error.
    """
    authorize(principal, Action.SCAN)
    paths = ScanPaths.of(Path(out))
    source = Path(source).resolve()
    options = scan_options(ctx, detect_labels=detect_labels, reposts=reposts)
    state = _open_state(paths, source, detect_labels=detect_labels, reposts=options.repost_queries,
                        resume=resume)
    items = list_archive(source)
    journal = ScanJournal(paths.journal)
    done_rows = journal.read() if resume else []
    left = _items_left(items, done_rows)
    summary = ScanSummary(out=str(paths.out), mode=mode, resumed=len(done_rows), detect_labels=detect_labels,
                          reposts=options.repost_queries)
    for row in done_rows:
        _count(summary, row)
    if not resume:
        _write_state(paths.state, state)
    if on_start is not None:
        on_start(len(items), len(items) - len(left))
    started = time.perf_counter()
    index = ScanIndex.load(ctx.store, ctx.settings.match)
    summary.bank_change_seq, summary.index_sizes = index.change_seq, index.sizes()
    try:
        for rows in runner(left, options, index):
            journal.append(rows)
            for row in rows:
                _count(summary, row)
                summary.scanned += 1
            if on_rows is not None:
                on_rows(len(rows))
        journal.close()
        paths.journal.touch(mode=0o600)  # an empty archive still gets its (empty) result
        if paths.journal != paths.out:
            journal_to_parquet(paths.journal, paths.out, detect_labels=detect_labels)
            paths.journal.unlink()
        paths.state.unlink(missing_ok=True)
        summary.finished = True
    finally:
        journal.close()
        summary.seconds = round(time.perf_counter() - started, 3)
        summary.files_per_second = round(summary.scanned / summary.seconds, 2) if summary.seconds else 0.0
        with ctx.store.transaction() as session:
            audit.record_event(session, principal.actor, "scan", paths.out.name, mode=mode,
                               files=summary.files, matched=summary.matched, errors=summary.errors,
                               labelled=summary.labelled, scanned=summary.scanned, resumed=summary.resumed,
                               finished=summary.finished, bank_change_seq=summary.bank_change_seq,
                               detect_labels=detect_labels, reposts=options.repost_queries)
    return summary


def _count(summary: ScanSummary, row: dict[str, Any]) -> None:
    summary.files += 1
    summary.matched += bool(row.get("matches"))
    summary.errors += row.get("error") is not None
    labels = row.get("labels")
    summary.labelled += bool(labels and (labels.get("c2pa") or labels.get("watermarks")))


def _items_left(items: Sequence[ScanItem], done_rows: Sequence[dict[str, Any]]) -> list[ScanItem]:
    """The items not yet in the result. A (content id, path) listed twice needs two rows."""
    done = Counter((str(row.get("content_id")), str(row.get("path"))) for row in done_rows)
    left = []
    for item in items:
        if done[item.key] > 0:
            done[item.key] -= 1
        else:
            left.append(item)
    return left


def _open_state(paths: ScanPaths, source: Path, *, detect_labels: bool, reposts: bool,
                resume: bool) -> dict[str, Any]:
    """The state of the scan to write, or check the one to resume against ours."""
    ours = {"format": _STATE_FORMAT, "source": str(source), "detect_labels": detect_labels,
            "reposts": reposts, "out": paths.out.name,
            "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
    if not resume:
        for existing in (paths.out, paths.journal, paths.state):
            if existing.exists():
                raise InvalidRequest(f"{existing} exists: --resume continues the scan written there; "
                                     "remove it to start again")
        return ours
    if not paths.state.exists():
        if paths.out.exists():
            raise InvalidRequest(f"the scan into {paths.out} has finished: there is nothing to resume")
        raise InvalidRequest(f"no scan into {paths.out} to resume: start one without --resume")
    try:
        theirs = json.loads(paths.state.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidRequest(f"{paths.state}: not a scan state file ({exc})") from exc
    if not isinstance(theirs, dict) or theirs.get("format") != _STATE_FORMAT:
        raise InvalidRequest(f"{paths.state}: not a scan state file")
    if theirs.get("source") != str(source) or theirs.get("detect_labels") != detect_labels \
            or theirs.get("reposts", reposts) != reposts:
        raise InvalidRequest(
            f"the scan into {paths.out} was of {theirs.get('source')} with detect_labels="
            f"{theirs.get('detect_labels')} and reposts={theirs.get('reposts')}; resume it with the "
            "same source and options")
    return theirs


def _write_state(path: Path, state: dict[str, Any]) -> None:
    staging = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    staging.write_text(json.dumps(state, indent=2))
    os.replace(staging, path)


__all__ = [
    "BATCH_FILES",
    "ScanItem",
    "ScanJournal",
    "ScanOptions",
    "ScanSummary",
    "hash_item",
    "list_archive",
    "match_hashed",
    "run_local",
    "scan_archive",
    "scan_batch",
]
