"""Reads and writes of the manifest repository: manifest stores and their soft bindings.

A binding is never deleted: re-pointing one marks its row superseded (when, by whom) and adds a
current row. Every read here except :func:`binding_history` sees current rows only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from deepshield.store.models import Manifest, ManifestKeypoints, SoftBinding, utcnow


@dataclass(frozen=True)
class BindingRow:
    binding_id: int
    manifest_id: str
    alg: str
    value: str


@dataclass(frozen=True)
class BindingHistoryRow:
    binding_id: int
    manifest_id: str
    added_at: datetime
    added_by: str
    superseded_at: datetime | None
    superseded_by: str | None


_CURRENT = SoftBinding.superseded_at.is_(None)


def get_manifest(session: Session, manifest_id: str) -> Manifest | None:
    return session.get(Manifest, manifest_id)


def add_manifest(session: Session, *, manifest_id: str, manifest_store: bytes, store_sha256: str,
                 content_type: str, label_id: str | None, generator: str, model: str | None,
                 created_at: datetime | None, registered_by: str,
                 watermark_key_id: str | None = None) -> Manifest:
    manifest = Manifest(manifest_id=manifest_id, manifest_store=manifest_store, store_sha256=store_sha256,
                        content_type=content_type, label_id=label_id, generator=generator, model=model,
                        created_at=created_at, registered_at=utcnow(), registered_by=registered_by,
                        watermark_key_id=watermark_key_id)
    session.add(manifest)
    session.flush()
    return manifest


def bindings_of(session: Session, manifest_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """``{manifest_id: [(alg, value), ...]}`` in binding order, for the given manifests."""
    wanted = sorted(set(manifest_ids))
    found: dict[str, list[tuple[str, str]]] = {manifest_id: [] for manifest_id in wanted}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(SoftBinding.manifest_id, SoftBinding.alg, SoftBinding.value)
            .where(SoftBinding.manifest_id.in_(wanted[start:start + 500]), _CURRENT)
            .order_by(SoftBinding.id)
        )
        for manifest_id, alg, value in rows:
            found[manifest_id].append((alg, value))
    return found


def add_bindings(session: Session, manifest_id: str, bindings: Sequence[tuple[str, str]],
                 added_by: str) -> int:
    """Bind each ``(alg, value)`` to the manifest; ones already bound are skipped. Returns how many
    were new."""
    existing = set(bindings_of(session, [manifest_id])[manifest_id])
    now = utcnow()
    new = [binding for binding in dict.fromkeys(bindings) if binding not in existing]
    session.add_all(SoftBinding(manifest_id=manifest_id, alg=alg, value=value, added_at=now,
                                added_by=added_by) for alg, value in new)
    session.flush()
    return len(new)


def manifests_bound_to(session: Session, alg: str, value: str) -> list[str]:
    """The manifests a soft-binding value currently points at, oldest binding first."""
    return list(session.scalars(
        select(SoftBinding.manifest_id).where(SoftBinding.alg == alg, SoftBinding.value == value, _CURRENT)
        .order_by(SoftBinding.id)
    ))


def holders(session: Session, bindings: Iterable[tuple[str, str]]) -> dict[tuple[str, str], set[str]]:
    """``{(alg, value): {registrant, ...}}``: who registered the manifests each value currently
    points at (values bound to nothing are absent)."""
    wanted = list(dict.fromkeys(bindings))
    found: dict[tuple[str, str], set[str]] = {}
    for start in range(0, len(wanted), 200):
        chunk = wanted[start:start + 200]
        rows = session.execute(
            select(SoftBinding.alg, SoftBinding.value, Manifest.registered_by)
            .join(Manifest, Manifest.manifest_id == SoftBinding.manifest_id)
            .where(SoftBinding.value.in_({value for _, value in chunk}), _CURRENT)
        )
        chosen = set(chunk)
        for alg, value, registered_by in rows:
            if (alg, value) in chosen:
                found.setdefault((alg, value), set()).add(registered_by)
    return found


def supersede_value(session: Session, alg: str, value: str, *, keep: str, by: str) -> int:
    """Mark every current binding of one value superseded, except the one to ``keep`` (a manifest
    id). The rows stay as history. Returns how many were superseded."""
    result = session.execute(
        update(SoftBinding)
        .where(SoftBinding.alg == alg, SoftBinding.value == value, SoftBinding.manifest_id != keep, _CURRENT)
        .values(superseded_at=utcnow(), superseded_by=by)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def binding_history(session: Session, alg: str, value: str) -> list[BindingHistoryRow]:
    """Every binding one value has had, current and superseded, oldest first."""
    rows = session.execute(
        select(SoftBinding.id, SoftBinding.manifest_id, SoftBinding.added_at, SoftBinding.added_by,
               SoftBinding.superseded_at, SoftBinding.superseded_by)
        .where(SoftBinding.alg == alg, SoftBinding.value == value).order_by(SoftBinding.id)
    )
    return [BindingHistoryRow(int(row[0]), *row[1:]) for row in rows]


def binding_state(session: Session, alg: str) -> tuple[int, int]:
    """``(count, max id)`` of one algorithm's current bindings: changes whenever one is added or
    superseded, because ids are never reused."""
    count, max_id = session.execute(
        select(func.count(SoftBinding.id), func.coalesce(func.max(SoftBinding.id), 0))
        .where(SoftBinding.alg == alg, _CURRENT)
    ).one()
    return int(count), int(max_id)


def bindings_after(session: Session, alg: str, after_id: int) -> list[BindingRow]:
    """One algorithm's current bindings with ids above ``after_id``, by id."""
    rows = session.execute(
        select(SoftBinding.id, SoftBinding.manifest_id, SoftBinding.alg, SoftBinding.value)
        .where(SoftBinding.alg == alg, SoftBinding.id > after_id, _CURRENT).order_by(SoftBinding.id)
    )
    return [BindingRow(int(binding_id), manifest_id, row_alg, value)
            for binding_id, manifest_id, row_alg, value in rows]


def bindings_by_id(session: Session, binding_ids: Iterable[int]) -> dict[int, BindingRow]:
    """The current bindings among ``binding_ids`` (superseded ones are left out)."""
    wanted = sorted(set(binding_ids))
    found: dict[int, BindingRow] = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(SoftBinding.id, SoftBinding.manifest_id, SoftBinding.alg, SoftBinding.value)
            .where(SoftBinding.id.in_(wanted[start:start + 500]), _CURRENT)
        )
        for binding_id, manifest_id, alg, value in rows:
            found[int(binding_id)] = BindingRow(int(binding_id), manifest_id, alg, value)
    return found


# --- Keypoint sets (signals.keypoints) ---------------------------------------------------------


def add_keypoints(session: Session, manifest_id: str, version: str, data: bytes) -> bool:
    """Keep a manifest's keypoint set; False (nothing written) when it already has one."""
    held = select(ManifestKeypoints.id).where(ManifestKeypoints.manifest_id == manifest_id)
    if session.execute(held).first():
        return False
    session.add(ManifestKeypoints(manifest_id=manifest_id, version=version, data=data, added_at=utcnow()))
    session.flush()
    return True


def keypoint_state(session: Session) -> tuple[int, int]:
    """``(count, max id)`` of the keypoint sets: changes whenever one is added."""
    count, max_id = session.execute(
        select(func.count(ManifestKeypoints.id), func.coalesce(func.max(ManifestKeypoints.id), 0))
    ).one()
    return int(count), int(max_id)


def keypoints_after(session: Session, after_id: int) -> list[tuple[int, str, bytes]]:
    """``(id, manifest id, data)`` of the keypoint sets with ids above ``after_id``, by id."""
    rows = session.execute(
        select(ManifestKeypoints.id, ManifestKeypoints.manifest_id, ManifestKeypoints.data)
        .where(ManifestKeypoints.id > after_id).order_by(ManifestKeypoints.id)
    )
    return [(int(row_id), manifest_id, bytes(data)) for row_id, manifest_id, data in rows]
