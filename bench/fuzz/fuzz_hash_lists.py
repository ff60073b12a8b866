"""Fuzz the hash-list readers: ``deepshield.services.spread.bulk_import`` (the streamed CSV,
threatexchange CSV and ``TYPE VALUE`` line readers and the per-row validation that
``deepshield bank import`` runs before anything is written) and ``deepshield.services.spread.bank_files``
(``parse_import``, ``load_json`` and ``signals_from_hash_records``, the readers of JSON exports
and of ``deepshield hash --json`` output)."""

from __future__ import annotations

import contextlib
import io

from _common import instrumented

with instrumented():
    from deepshield.errors import DeepShieldError
    from deepshield.services.spread import bank_files, bulk_import

from _common import main, text_of

PDQ = "f8f8f0cce0f4e84d0e370a22028f67f0b36e2ed596623e1d33e6339c4e9c9b22"
MD5 = "d41d8cd98f00b204e9800998ecf8427e"


def _bulk_rows(text: str) -> None:
    kind, rows = bulk_import._rows(io.StringIO(text, newline=""))
    assert kind in ("json", "csv", "lines")
    for row in rows or ():
        bulk_import._validated(row, 50)


def _bank_files(text: str) -> None:
    records = bank_files.parse_import(text)
    assert isinstance(records, list)
    if text.lstrip("\ufeff").strip()[:1] in "[{":
        bank_files.signals_from_hash_records(bank_files.load_json(text.lstrip("\ufeff"), "the hashes file"))


def target(data: bytes) -> None:
    text = text_of(data)
    with contextlib.suppress(DeepShieldError):
        _bulk_rows(text)
    _bank_files(text)


def seeds() -> list[bytes]:
    return [
        f"signal_type,signal_value,quality,case_ref\npdq,{PDQ},90,HL-1\nmd5,{MD5},,\n".encode(),
        f"signal_type,signal_str,withdrawn_at,enabled\nvideo_md5,{MD5},,true\npdq,{PDQ},2026,\n".encode(),
        f"# threatexchange local file\npdq {PDQ}\nvideo_md5 {MD5}\n".encode(),
        f'{{"format": "deepshield-bank-export/1", "entries": [{{"signal_type": "pdq", '
        f'"signal_value": "{PDQ}"}}]}}'.encode(),
        f'[{{"file": "a.jpg", "pdq": "{PDQ}", "quality": 90, "md5": "{MD5}", "vpdq": [{{"frame_number": 0, '
        f'"quality": 90, "pdq_hex": "{PDQ}", "timestamp": 0.0}}], '
        f'"hash_set": {{"version": "deepshield-hash-set/1", '
        f'"pdq": [{{"pdq": "{PDQ}", "quality": 80}}]}}}}, {{"file": "b.jpg", "error": "x"}}]'.encode(),
        f"\ufeffsignal_type,signal_value\nvpdq,\"0,100,{PDQ},0.000\"\n".encode(),
    ]


if __name__ == "__main__":
    main(target, seeds)
