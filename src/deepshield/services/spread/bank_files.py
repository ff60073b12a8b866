"""Bank files: the JSON and CSV forms of exports, imports and ``deepshield hash --json`` output."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from deepshield.errors import InvalidRequest
from deepshield.services.spread.banks import EXPORT_FIELDS, SignalInput
from deepshield.signals.repost import READABLE_HASH_SET_VERSIONS
from deepshield.signals.types import SignalType
from deepshield.signals.vpdq import VpdqFeature, serialize_vpdq

EXPORT_FORMAT = "deepshield-bank-export/1"
MAX_IMPORT_BYTES = 2 * 1024**3


def load_json(text: str, what: str) -> Any:
    """``json.loads`` whose failures, hostile nesting included, say what is wrong with ``what``."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise InvalidRequest(f"{what} nests JSON too deeply to be a hash list") from None


def render_json_export(bank_name: str, records: Sequence[dict[str, Any]]) -> str:
    return json.dumps({
        "format": EXPORT_FORMAT,
        "bank": bank_name,
        "exported_at": datetime.now(UTC).isoformat(),
        "entries": list(records),
    }, indent=2) + "\n"


def render_csv_export(records: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_FIELDS, lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: "" if record[key] is None else record[key] for key in EXPORT_FIELDS})
    return buffer.getvalue()


#: python-threatexchange's names for DeepShield's types (StopNCII's MD5s are of videos).
THREATEXCHANGE_TYPES = {"pdq": "pdq", "md5": "video_md5", "vpdq": "vpdq", "sha256": "sha256"}
EXPORT_FORMATS = ("json", "csv", "te-csv", "lines")


def render_threatexchange_csv(bank_name: str, records: Sequence[dict[str, Any]]) -> str:
    """python-threatexchange's ``dataset --csv`` form: signal_type,signal_str,collab,category,tags.

    Only active records: that form has no way to say "withdrawn".
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["signal_type", "signal_str", "collab", "category", "tags"])
    for record in records:
        if record["withdrawn_at"] is None and record["enabled"]:
            writer.writerow([THREATEXCHANGE_TYPES.get(record["signal_type"], record["signal_type"]),
                             record["signal_value"], bank_name, "", ""])
    return buffer.getvalue()


def render_signal_lines(records: Sequence[dict[str, Any]]) -> str:
    """python-threatexchange's ``local_file`` form: ``TYPE VALUE`` per line (no vPDQ: it spans lines)."""
    return "".join(
        f"{THREATEXCHANGE_TYPES.get(r['signal_type'], r['signal_type'])} {r['signal_value']}\n"
        for r in records
        if r["withdrawn_at"] is None and r["enabled"] and r["signal_type"] != "vpdq"
    )


def render_export(file_format: str, bank_name: str, records: Sequence[dict[str, Any]]) -> str:
    if file_format == "json":
        return render_json_export(bank_name, records)
    if file_format == "csv":
        return render_csv_export(records)
    if file_format == "te-csv":
        return render_threatexchange_csv(bank_name, records)
    if file_format == "lines":
        return render_signal_lines(records)
    raise InvalidRequest(f"--format is one of {', '.join(EXPORT_FORMATS)}; got {file_format!r}")


def parse_import(text: str) -> list[dict[str, Any]]:
    """Records from a DeepShield JSON export, a JSON list, or a CSV with a header row.

    A CSV needs at least the columns ``signal_type`` and ``signal_value``.
    """
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        raise InvalidRequest("the import file is empty")
    if stripped[0] in "[{":
        document = load_json(stripped, "the import file")
        entries = document.get("entries") if isinstance(document, dict) else document
        if not isinstance(entries, list):
            raise InvalidRequest("a JSON import is a list of records or an export with 'entries'")
        return entries
    reader = csv.DictReader(io.StringIO(stripped))
    try:
        # The header is read here: a malformed one (a bare carriage return, found by fuzzing)
        # is the same clear error as a malformed row.
        columns = set(reader.fieldnames or [])
        if not {"signal_type", "signal_value"} <= columns:
            raise InvalidRequest("a CSV import needs a header row with signal_type and signal_value "
                                 f"columns; found {sorted(columns) or 'none'}")
        return [dict(row) for row in reader]
    except csv.Error as exc:
        raise InvalidRequest(f"the CSV import is malformed: {exc}") from None


def _hash_set_signals(hash_set: Any, number: int) -> list[SignalInput]:
    """The PDQ hashes of a record's repost hash set (``deepshield hash --hash-set``)."""
    if hash_set is None:
        return []
    if not isinstance(hash_set, dict) or hash_set.get("version") not in READABLE_HASH_SET_VERSIONS \
            or not isinstance(hash_set.get("pdq"), list):
        raise InvalidRequest(f"hashes record {number}: hash_set is not a set of a known version "
                             f"({', '.join(READABLE_HASH_SET_VERSIONS)})")
    signals = []
    for item in hash_set["pdq"]:
        if not isinstance(item, dict) or not isinstance(item.get("pdq"), str):
            raise InvalidRequest(f"hashes record {number}: malformed hash_set entry")
        signals.append(SignalInput(SignalType.PDQ.value, item["pdq"], item.get("quality")))
    return signals


def signals_from_hash_records(records: Any) -> tuple[list[SignalInput], list[str]]:
    """Signals from ``deepshield hash --json`` output, and warnings for records skipped.

    Records that failed to hash (they carry ``error``) are skipped with a warning.
    """
    if not isinstance(records, list):
        raise InvalidRequest("a hashes file is the JSON list printed by `deepshield hash --json`")
    signals: list[SignalInput] = []
    warnings: list[str] = []
    for number, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise InvalidRequest(f"hashes record {number}: expected an object")
        name = record.get("file", f"record {number}")
        if "error" in record:
            warnings.append(f"{name}: skipped, it could not be hashed")
            continue
        if record.get("pdq"):
            signals.append(SignalInput(SignalType.PDQ.value, str(record["pdq"]),
                                       record.get("quality")))
        signals.extend(_hash_set_signals(record.get("hash_set"), number))
        frames = record.get("vpdq")
        if frames:
            try:
                features = [VpdqFeature(int(f["frame_number"]), int(f["quality"]),
                                        str(f["pdq_hex"]), float(f["timestamp"])) for f in frames]
            except (KeyError, TypeError, ValueError, OverflowError):
                # OverflowError: int(Infinity), or float() of a huge integer (found by fuzzing).
                raise InvalidRequest(f"hashes record {number}: malformed vpdq frames") from None
            signals.append(SignalInput(SignalType.VPDQ.value, serialize_vpdq(features)))
        for digest in (SignalType.MD5, SignalType.SHA256):
            if record.get(digest.value):
                signals.append(SignalInput(digest.value, str(record[digest.value])))
        if not any(record.get(k) for k in ("pdq", "vpdq", "md5", "sha256")):
            raise InvalidRequest(f"hashes record {number}: holds no pdq, vpdq, md5 or sha256")
    return signals, warnings
