"""JUMBF, as far as C2PA manifest stores need it: find the manifests in a store, name the active
one, and cut a store down to it. Strict: anything that is not one ``c2pa`` superbox holding
``urn:`` manifests raises ``InvalidManifestStore``."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

from deepshield.errors import DeepShieldError


class InvalidManifestStore(DeepShieldError):
    """Bytes that are not a C2PA manifest store (one JUMBF superbox labelled ``c2pa``)."""

    code = "invalid_manifest_store"


_C2PA_UUID_TAIL = bytes.fromhex("00110010800000aa00389b71")
_STORE_UUID = b"c2pa" + _C2PA_UUID_TAIL
_LABEL_PRESENT = 0x02


@dataclass(frozen=True)
class _Box:
    kind: bytes
    start: int  # the header's first byte
    payload: int  # the payload's first byte
    end: int


def _boxes(data: bytes, start: int, end: int) -> Iterator[_Box]:
    position = start
    while position < end:
        if end - position < 8:
            raise InvalidManifestStore("a JUMBF box header is cut short")
        size, kind = struct.unpack_from(">I4s", data, position)
        header = 8
        if size == 1:
            if end - position < 16:
                raise InvalidManifestStore("a JUMBF box header is cut short")
            size, header = struct.unpack_from(">Q", data, position + 8)[0], 16
        elif size == 0:
            size = end - position
        if size < header or position + size > end:
            raise InvalidManifestStore("a JUMBF box runs past its container")
        yield _Box(kind, position, position + header, position + size)
        position += size


def _superbox(data: bytes, box: _Box) -> tuple[bytes, str | None, _Box, list[_Box]]:
    """A ``jumb`` superbox: (its type UUID, its label, its description box, its other children)."""
    children = list(_boxes(data, box.payload, box.end))
    if not children or children[0].kind != b"jumd":
        raise InvalidManifestStore("a JUMBF superbox has no description box")
    description = children[0]
    if description.end - description.payload < 17:
        raise InvalidManifestStore("a JUMBF description box is cut short")
    type_uuid = data[description.payload:description.payload + 16]
    label = None
    if data[description.payload + 16] & _LABEL_PRESENT:
        label_start = description.payload + 17
        label_end = data.find(b"\0", label_start, description.end)
        if label_end < 0:
            raise InvalidManifestStore("a JUMBF label is not terminated")
        try:
            label = data[label_start:label_end].decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidManifestStore("a JUMBF label is not UTF-8") from None
    return type_uuid, label, description, children[1:]


def _manifests(manifest_store: bytes) -> tuple[_Box, _Box, list[tuple[str, _Box]]]:
    """The store's superbox, its description box, and its manifests ``(label, box)`` in order."""
    if not isinstance(manifest_store, bytes | bytearray) or not manifest_store:
        raise InvalidManifestStore("the manifest store is empty")
    top = list(_boxes(manifest_store, 0, len(manifest_store)))
    if len(top) != 1 or top[0].kind != b"jumb":
        raise InvalidManifestStore("a C2PA manifest store is exactly one JUMBF superbox")
    type_uuid, label, description, children = _superbox(manifest_store, top[0])
    if type_uuid != _STORE_UUID or label != "c2pa":
        raise InvalidManifestStore("the JUMBF superbox is not a C2PA manifest store (label 'c2pa')")
    manifests = []
    for child in children:
        if child.kind != b"jumb":
            continue
        child_uuid, child_label, _, _ = _superbox(manifest_store, child)
        if child_uuid.endswith(_C2PA_UUID_TAIL) and child_label and child_label.startswith("urn:"):
            manifests.append((child_label, child))
    if not manifests:
        raise InvalidManifestStore("the C2PA manifest store holds no manifest")
    return top[0], description, manifests


def active_manifest_id(manifest_store: bytes) -> str:
    """The identifier (URN label) of the store's active manifest: its last one."""
    return _manifests(manifest_store)[2][-1][0]


def active_manifest_only(manifest_store: bytes) -> bytes:
    """The store cut down to its active manifest (``returnActiveManifest=true``): the same store
    box and description, holding only the last manifest. A one-manifest store comes back as is."""
    _, description, manifests = _manifests(manifest_store)
    if len(manifests) == 1:
        return bytes(manifest_store)
    last = manifests[-1][1]
    body = manifest_store[description.start:description.end] + manifest_store[last.start:last.end]
    return struct.pack(">I4s", 8 + len(body), b"jumb") + bytes(body)
