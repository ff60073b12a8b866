"""Reads and writes of the manifest repository: manifest stores and their soft bindings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from deepshield.store.models import Manifest, SoftBinding, utcnow


@dataclass(frozen=True)
class BindingRow:
    binding_id: int
    manifest_id: str
    alg: str
    value: str


def get_manifest(session: Session, manifest_id: str) -> Manifest | None:
    return session.get(Manifest, manifest_id)


def add_manifest(session: Session, *, manifest_id: str, manifest_store: bytes, store_sha256: str,
                 content_type: str, label_id: str | None, generator: str, model: str | None,
                 created_at: datetime | None, registered_by: str) -> Manifest:
    manifest = Manifest(manifest_id=manifest_id, manifest_store=manifest_store, store_sha256=store_sha256,
                        content_type=content_type, label_id=label_id, generator=generator, model=model,
                        created_at=created_at, registered_at=utcnow(), registered_by=registered_by)
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
            .where(SoftBinding.manifest_id.in_(wanted[start:start + 500]))
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
    """The manifests a soft-binding value points at, oldest binding first."""
    return list(session.scalars(
        select(SoftBinding.manifest_id).where(SoftBinding.alg == alg, SoftBinding.value == value)
        .order_by(SoftBinding.id)
    ))


def unbind_value(session: Session, alg: str, value: str) -> int:
    """Remove every binding of one value; returns how many there were."""
    result = session.execute(delete(SoftBinding).where(SoftBinding.alg == alg, SoftBinding.value == value))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def binding_state(session: Session, alg: str) -> tuple[int, int]:
    """``(count, max id)`` of one algorithm's bindings: changes whenever one is added or removed,
    because ids are never reused."""
    count, max_id = session.execute(
        select(func.count(SoftBinding.id), func.coalesce(func.max(SoftBinding.id), 0))
        .where(SoftBinding.alg == alg)
    ).one()
    return int(count), int(max_id)


def bindings_after(session: Session, alg: str, after_id: int) -> list[BindingRow]:
    """One algorithm's bindings with ids above ``after_id``, by id."""
    rows = session.execute(
        select(SoftBinding.id, SoftBinding.manifest_id, SoftBinding.alg, SoftBinding.value)
        .where(SoftBinding.alg == alg, SoftBinding.id > after_id).order_by(SoftBinding.id)
    )
    return [BindingRow(int(binding_id), manifest_id, row_alg, value)
            for binding_id, manifest_id, row_alg, value in rows]


def bindings_by_id(session: Session, binding_ids: Iterable[int]) -> dict[int, BindingRow]:
    wanted = sorted(set(binding_ids))
    found: dict[int, BindingRow] = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(SoftBinding.id, SoftBinding.manifest_id, SoftBinding.alg, SoftBinding.value)
            .where(SoftBinding.id.in_(wanted[start:start + 500]))
        )
        for binding_id, manifest_id, alg, value in rows:
            found[int(binding_id)] = BindingRow(int(binding_id), manifest_id, alg, value)
    return found
