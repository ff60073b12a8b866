"""Fuzz the JUMBF parser: ``deepshield.provenance.jumbf.active_manifest_id`` and
``active_manifest_only`` on any bytes; what the cut-down store holds must parse again to the
same active manifest."""

from __future__ import annotations

import struct

from _common import instrumented

with instrumented():
    from deepshield.provenance.jumbf import active_manifest_id, active_manifest_only

from _common import main

_TAIL = bytes.fromhex("00110010800000aa00389b71")


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _superbox(type_uuid: bytes, label: str, *children: bytes) -> bytes:
    description = _box(b"jumd", type_uuid + b"\x03" + label.encode() + b"\0")
    return _box(b"jumb", description + b"".join(children))


def manifest_store(*labels: str) -> bytes:
    manifests = [_superbox(b"c2ma" + _TAIL, label, _superbox(b"c2as" + _TAIL, "c2pa.assertions"),
                           _box(b"cbor", b"\xa0")) for label in labels]
    return _superbox(b"c2pa" + _TAIL, "c2pa", *manifests)


def target(data: bytes) -> None:
    active = active_manifest_id(data)
    assert active.startswith("urn:")
    cut = active_manifest_only(data)
    assert active_manifest_id(cut) == active


def seeds() -> list[bytes]:
    one = manifest_store("urn:uuid:1b2c3d4e-0000-4000-8000-000000000001")
    two = manifest_store("urn:uuid:1b2c3d4e-0000-4000-8000-000000000001",
                         "urn:c2pa:1b2c3d4e-0000-4000-8000-000000000002")
    large = struct.pack(">I4sQ", 1, b"jumb", 16 + len(two) - 8) + two[8:]
    return [one, two, large, two[:40]]


if __name__ == "__main__":
    main(target, seeds)
