"""Providers' watermark keys (issue 15, docs/WATERMARK_KEYS.md): made on first use, sealed at rest,
read by every process of the installation, exported to a private key file, retired; a manifest
may name only its registrant's key. A real store (SQLite and PostgreSQL), real files."""

from __future__ import annotations

import json
import stat
import uuid
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from deepshield.errors import Forbidden, InvalidRequest, NotFound
from deepshield.services import api_keys
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.label import manifest_registry
from deepshield.services.label.watermark_keys import (
    KEY_FILE_FORMAT,
    export_key,
    list_keys,
    load_key_file,
    provider_key,
    reading_keys,
    retire_key,
    write_key_file,
)
from deepshield.store.database import Store, _alembic_config
from deepshield.store.hash_sealing import SEALED_PREFIX
from deepshield.store.models import AuditEvent
from deepshield.watermark import PUBLIC_KEY
from principals import SETUP

PROVIDER = Principal("key:provider-one", Role.PROVIDER)
OTHER = Principal("key:provider-two", Role.PROVIDER)

# The migration test below goes back to revision 0008 and forward again.
pytestmark = pytest.mark.empty_database


def _audit(ctx: ServiceContext) -> list[tuple[str, str, str]]:
    with ctx.store.transaction() as session:
        return [(event.action, event.actor, event.target)
                for event in session.query(AuditEvent).order_by(AuditEvent.id)
                if event.action.startswith("watermark_key.")]


def _stored_secrets(ctx: ServiceContext) -> list[str]:
    with ctx.store.engine.connect() as connection:
        return [value for (value,) in connection.execute(text("SELECT secret FROM watermark_keys"))]


def _manifest() -> tuple[str, bytes]:
    """A manifest id and a structurally valid store for it (all the repository checks)."""
    def box(kind: bytes, payload: bytes) -> bytes:
        return (8 + len(payload)).to_bytes(4, "big") + kind + payload

    def superbox(type_uuid: bytes, label: str, *children: bytes) -> bytes:
        return box(b"jumb", box(b"jumd", type_uuid + b"\x03" + label.encode() + b"\0") + b"".join(children))

    tail = bytes.fromhex("00110010800000aa00389b71")
    manifest_id = f"urn:c2pa:{uuid.uuid4()}"
    manifest = superbox(b"c2ma" + tail, manifest_id, box(b"json", b"{}"))
    return manifest_id, superbox(b"c2pa" + tail, "c2pa", manifest)


def test_a_providers_key_is_made_once_sealed_at_rest_and_never_logged(ctx):
    key = provider_key(ctx, PROVIDER)
    assert provider_key(ctx, PROVIDER) == key and not key.is_public
    other = provider_key(ctx, OTHER)
    assert other.key_id != key.key_id
    assert _audit(ctx) == [("watermark_key.create", PROVIDER.actor, f"watermark_key:{key.key_id}"),
                           ("watermark_key.create", OTHER.actor, f"watermark_key:{other.key_id}")]
    stored = _stored_secrets(ctx)
    assert len(stored) == 2 and all(value.startswith(SEALED_PREFIX) for value in stored)
    with ctx.store.engine.connect() as connection:
        every_row = repr([tuple(row) for table in ("watermark_keys", "audit_events")
                          for row in connection.execute(text(f"SELECT * FROM {table}"))])
    assert key.secret.hex() not in every_row and key.secret.hex().upper() not in every_row
    listed = list_keys(ctx, SETUP)
    assert [(info.key_id, info.owner, info.active) for info in listed] == [
        (key.key_id, PROVIDER.actor, True), (provider_key(ctx, OTHER).key_id, OTHER.actor, True)]
    assert "secret" not in repr(listed)
    with pytest.raises(Forbidden):
        list_keys(ctx, PROVIDER)
    with pytest.raises(Forbidden):
        provider_key(ctx, Principal("key:platform", Role.PLATFORM))


def test_every_process_reads_with_the_keys_made_and_stops_with_the_keys_retired(settings):
    first, second = ServiceContext.open(settings), ServiceContext.open(settings)  # two processes
    try:
        assert reading_keys(second) == (PUBLIC_KEY,)
        key = provider_key(first, PROVIDER)
        assert reading_keys(second) == (PUBLIC_KEY, key)  # the next read sees the new key
        retire_key(first, PROVIDER, key.key_id)
        assert reading_keys(second) == (PUBLIC_KEY,)
        renewed = provider_key(first, PROVIDER)  # the next label makes a new key
        assert renewed.key_id != key.key_id and reading_keys(second) == (PUBLIC_KEY, renewed)
    finally:
        first.close()
        second.close()


def test_a_key_exports_to_a_private_file_that_reads_back(ctx, tmp_path):
    exported = export_key(ctx, PROVIDER, create=True)
    key = provider_key(ctx, PROVIDER)
    assert exported.info.key_id == key.key_id and exported.document["format"] == KEY_FILE_FORMAT
    path = tmp_path / "keys" / "provider.json"
    write_key_file(path, exported)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key_file(path) == key
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind
    assert ("watermark_key.export", PROVIDER.actor, f"watermark_key:{key.key_id}") in _audit(ctx)
    # Someone else's key answers like a missing one; the operator may export it (audit: override).
    with pytest.raises(NotFound):
        export_key(ctx, OTHER, key.key_id)
    assert export_key(ctx, SETUP, key.key_id).key() == key
    with pytest.raises(NotFound, match="no active watermark key"):
        export_key(ctx, OTHER)  # none made yet, and not asked to make one


def test_damaged_or_foreign_key_files_are_refused_clearly(ctx, tmp_path):
    exported = export_key(ctx, PROVIDER, create=True)
    cases = {
        "not-json.json": b"\x00\x01 not json",
        "other-format.json": json.dumps({**exported.document, "format": "something/1"}).encode(),
        "wrong-secret.json": json.dumps({**exported.document, "secret": "AAAA" * 11 + "AAA="}).encode(),
        "huge.json": b" " * 10_000,
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(InvalidRequest) as refused:
            load_key_file(tmp_path / name)
        assert name in refused.value.detail and "Traceback" not in refused.value.detail
    with pytest.raises(InvalidRequest, match="cannot read"):
        load_key_file(tmp_path / "missing.json")


def test_only_the_owner_or_the_operator_retires_a_key(ctx):
    key = provider_key(ctx, PROVIDER)
    with pytest.raises(NotFound):
        retire_key(ctx, OTHER, key.key_id)
    with pytest.raises(InvalidRequest):
        retire_key(ctx, PROVIDER, "not-a-key-id")
    assert retire_key(ctx, SETUP, key.key_id).retired_at is not None
    assert retire_key(ctx, PROVIDER, key.key_id).retired_at is not None  # again: nothing changes
    assert [action for action, *_ in _audit(ctx)].count("watermark_key.retire") == 1


def test_a_manifest_names_only_the_public_key_or_its_registrants_own(ctx):
    mine, theirs = provider_key(ctx, PROVIDER), provider_key(ctx, OTHER)
    for key_id in ("public", mine.key_id):
        record = manifest_registry.register_manifest(ctx, *_manifest(), [], principal=PROVIDER,
                                                     watermark_key_id=key_id)
        assert record.watermark_key_id == key_id
    with pytest.raises(Forbidden, match="another provider's"):
        manifest_registry.register_manifest(ctx, *_manifest(), [], principal=PROVIDER,
                                            watermark_key_id=theirs.key_id)
    with pytest.raises(InvalidRequest, match="not held by this repository"):
        manifest_registry.register_manifest(ctx, *_manifest(), [], principal=PROVIDER,
                                            watermark_key_id="0123456789abcdef")
    retire_key(ctx, PROVIDER, mine.key_id)
    with pytest.raises(InvalidRequest, match="retired"):
        manifest_registry.register_manifest(ctx, *_manifest(), [], principal=PROVIDER,
                                            watermark_key_id=mine.key_id)
    admin = manifest_registry.register_manifest(ctx, *_manifest(), [], principal=SETUP,
                                                watermark_key_id=theirs.key_id)
    assert admin.watermark_key_id == theirs.key_id


def test_rotating_the_hash_key_reseals_the_watermark_keys(ctx):
    key = provider_key(ctx, PROVIDER)
    rotation = api_keys.rotate_hash_key(ctx, SETUP)
    assert rotation.finished
    assert all(value.startswith(f"{SEALED_PREFIX}{rotation.key_id}$") for value in _stored_secrets(ctx))
    assert reading_keys(ctx) == (PUBLIC_KEY, key)


def test_revision_0009_goes_down_and_up_again(settings):
    ctx = ServiceContext.open(settings)
    keyring = ctx.store.hash_keyring
    provider_key(ctx, PROVIDER)
    ctx.close()
    store = Store.open(settings.resolved_database_url, hash_keys=keyring)
    command.downgrade(_alembic_config(store.engine), "0008")
    with store.engine.connect() as connection:
        columns = [row[1] for row in connection.execute(text("PRAGMA table_info(manifests)"))] \
            if store.backend == "sqlite" else [row[0] for row in connection.execute(text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'manifests' "
                "AND table_schema = current_schema()"))]
    assert "watermark_key_id" not in columns
    store.close()
    again = ServiceContext.open(settings)  # migrates to the head again
    try:
        assert reading_keys(again) == (PUBLIC_KEY,)  # the keys went with the downgrade
        assert not provider_key(again, PROVIDER).is_public
    finally:
        again.close()


def test_a_key_file_path_is_never_half_written(ctx, tmp_path: Path):
    exported = export_key(ctx, PROVIDER, create=True)
    target = tmp_path / "key.json"
    target.write_text("old")
    target.chmod(0o644)
    write_key_file(target, exported)
    assert stat.S_IMODE(target.stat().st_mode) == 0o600 and load_key_file(target) == exported.key()
