"""The manifest repository's use cases, on SQLite and PostgreSQL: registration, bindings, lookups
by binding and by content, and the in-memory PDQ index staying current."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import struct
import uuid
from functools import cache

import pytest
from PIL import Image

from deepshield.errors import Conflict, Forbidden, InvalidRequest, InvalidSignal, NotFound
from deepshield.media.errors import EmptyMedia, UnsupportedMedia
from deepshield.services.access import Principal, Role
from deepshield.services.context import ServiceContext
from deepshield.services.label import manifest_registry as registry
from deepshield.services.label.manifest_registry import MAX_BINDINGS, PDQ_ALG, WATERMARK_ALG
from deepshield.services.spread.hashing import hash_media
from deepshield.store import audit_repository
from deepshield.watermark import embed
from factories import encode_image, photo_pixels

PROVIDER = "test:provider"
LABEL_ID = "0123456789abcdef"
OTHER_LABEL_ID = "fedcba9876543210"
_C2PA_TAIL = bytes.fromhex("00110010800000aa00389b71")


def as_key(actor: str, role: Role = Role.PROVIDER) -> Principal:
    """The principal of the key named ``actor``: a provider unless ``role`` says otherwise."""
    return Principal(actor, role)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _superbox(type_uuid: bytes, label: str, *children: bytes) -> bytes:
    description = _box(b"jumd", type_uuid + bytes([0x03]) + label.encode() + b"\0")
    return _box(b"jumb", description + b"".join(children))


def c2pa_store(*manifest_ids: str, filler: bytes = b"claim") -> bytes:
    """A structurally valid manifest store (JUMBF) with these manifests, the last one active. Not
    signed: the repository checks structure only (a signed one is tested below)."""
    manifests = [_superbox(b"c2ma" + _C2PA_TAIL, manifest_id, _box(b"json", filler))
                 for manifest_id in manifest_ids]
    return _superbox(b"c2pa" + _C2PA_TAIL, "c2pa", *manifests)


def new_manifest_id() -> str:
    return f"urn:c2pa:{uuid.uuid4()}"


def flip_bits(pdq_hex: str, count: int) -> str:
    """``pdq_hex`` with its first ``count`` bits inverted: exactly ``count`` bits away."""
    value = int(pdq_hex, 16) ^ (((1 << count) - 1) << (256 - count))
    return f"{value:064x}"


@cache
def marked_photo(seed: int, label_id: str) -> tuple[bytes, bytes]:
    """(the unmarked photo, the same photo carrying the watermark ``label_id``), as JPEG."""
    pixels = photo_pixels(seed)
    return (encode_image(pixels, "JPEG", quality=92),
            encode_image(embed(pixels, int(label_id, 16)), "JPEG", quality=92))


def pdq_of(ctx: ServiceContext, data: bytes) -> str:
    fingerprint = hash_media(data, ctx.settings.limits).pdq
    assert fingerprint is not None
    return fingerprint.hex


def register(ctx: ServiceContext, bindings: list[tuple[str, str]], manifest_id: str | None = None,
             actor: str = PROVIDER) -> str:
    manifest_id = manifest_id or new_manifest_id()
    registry.register_manifest(ctx, manifest_id, c2pa_store(manifest_id), bindings, label_id=LABEL_ID,
                               generator="test-generator", model="test-model",
                               created_at=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
                               principal=as_key(actor))
    return manifest_id


def ids(matches: list[registry.BindingMatch]) -> list[str]:
    return [match.manifest_id for match in matches]


# --- Registration ------------------------------------------------------------------------


def test_registered_manifest_comes_back_byte_for_byte_with_its_metadata_and_bindings(ctx):
    manifest_id = new_manifest_id()
    store = c2pa_store("urn:c2pa:ingredient-1", manifest_id)
    pdq = "ab" * 32
    record = registry.register_manifest(
        ctx, manifest_id, store, [(WATERMARK_ALG, LABEL_ID.upper()), (PDQ_ALG, pdq)], label_id=LABEL_ID,
        generator="gen", model="m1", created_at=dt.datetime(2026, 5, 6, tzinfo=dt.UTC),
        principal=as_key("key:prov"))
    fetched = registry.get_manifest(ctx, manifest_id, None)
    assert fetched == record
    assert fetched.manifest_store == store
    assert fetched.content_type == "application/c2pa"
    assert fetched.bindings == ((WATERMARK_ALG, LABEL_ID), (PDQ_ALG, pdq))
    assert (fetched.label_id, fetched.generator, fetched.model) == (LABEL_ID, "gen", "m1")
    assert fetched.created_at == dt.datetime(2026, 5, 6, tzinfo=dt.UTC)
    assert fetched.registered_by == "key:prov"


def test_registering_the_same_store_again_is_idempotent_and_adds_new_bindings(ctx):
    manifest_id = register(ctx, [(WATERMARK_ALG, LABEL_ID)])
    again = registry.register_manifest(ctx, manifest_id, c2pa_store(manifest_id),
                                       [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, "cd" * 32)],
                                       principal=as_key(PROVIDER),
                                       generator="other-generator")
    assert again.bindings == ((WATERMARK_ALG, LABEL_ID), (PDQ_ALG, "cd" * 32))
    assert again.registered_by == PROVIDER
    assert again.generator == "test-generator"  # the first registration's metadata stays


# --- Ownership and history (issue 12, fix 4) ------------------------------------------------

INTRUDER = "test:other-provider"


def _audit_actions(ctx: ServiceContext) -> list[tuple[str, str, dict]]:
    with ctx.store.transaction() as session:
        return [(event.actor, event.action, json.loads(event.detail))
                for event in reversed(audit_repository.recent_events(session, 1000))]


def test_a_provider_cannot_repoint_or_take_over_another_providers_bindings(ctx):
    pdq = "4b" * 32
    genuine = register(ctx, [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, pdq)])
    foreign = register(ctx, [], actor=INTRUDER)
    before = _audit_actions(ctx)
    attempts = [
        lambda: registry.replace_bindings(ctx, foreign, [(WATERMARK_ALG, LABEL_ID)], as_key(INTRUDER)),
        lambda: registry.replace_bindings(ctx, foreign, [(PDQ_ALG, pdq)], as_key(INTRUDER)),
        # pointing the owner's value at the owner's own manifest is still someone else's binding
        lambda: registry.replace_bindings(ctx, genuine, [(WATERMARK_ALG, LABEL_ID)], as_key(INTRUDER)),
        lambda: registry.add_bindings(ctx, foreign, [(WATERMARK_ALG, LABEL_ID)], as_key(INTRUDER)),
        lambda: registry.add_bindings(ctx, foreign, [(PDQ_ALG, pdq)], as_key(INTRUDER)),
        lambda: registry.add_bindings(ctx, genuine, [(WATERMARK_ALG, OTHER_LABEL_ID)], as_key(INTRUDER)),
        lambda: register(ctx, [(WATERMARK_ALG, LABEL_ID)], actor=INTRUDER),
        lambda: registry.register_manifest(ctx, genuine, c2pa_store(genuine), [(PDQ_ALG, "11" * 32)],
                                           principal=as_key(INTRUDER)),
    ]
    for attempt in attempts:
        with pytest.raises(Forbidden, match="registered"):
            attempt()
    assert ids(registry.matches_by_binding(ctx, WATERMARK_ALG, LABEL_ID, 10, None)) == [genuine]
    assert ids(registry.matches_by_binding(ctx, PDQ_ALG, pdq, 10, None)) == [genuine]
    assert registry.get_manifest(ctx, genuine, None).bindings == ((WATERMARK_ALG, LABEL_ID), (PDQ_ALG, pdq))
    assert registry.matches_by_binding(ctx, WATERMARK_ALG, OTHER_LABEL_ID, 10, None) == []
    history = registry.binding_history(ctx, WATERMARK_ALG, LABEL_ID)
    assert [(row.manifest_id, row.current) for row in history] == [(genuine, True)]
    writes = [row for row in _audit_actions(ctx) if row[0] == INTRUDER]
    assert writes == [row for row in before if row[0] == INTRUDER]  # its registration only


def test_repointing_keeps_the_superseded_binding_as_history(ctx):
    pdq = "2d" * 32
    first = register(ctx, [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, pdq)])
    second = register(ctx, [])
    assert registry.replace_bindings(ctx, second, [(PDQ_ALG, pdq)], as_key(PROVIDER)) == 1
    assert ids(registry.matches_by_binding(ctx, PDQ_ALG, pdq, 10, None)) == [second]
    history = registry.binding_history(ctx, PDQ_ALG, pdq)
    assert [(row.manifest_id, row.added_by, row.superseded_by, row.current) for row in history] == [
        (first, PROVIDER, PROVIDER, False), (second, PROVIDER, None, True)]
    assert history[0].superseded_at is not None and history[0].superseded_at >= history[0].added_at
    # back again: a new current row; both earlier rows stay
    assert registry.replace_bindings(ctx, first, [(PDQ_ALG, pdq)], as_key(PROVIDER)) == 1
    assert ids(registry.matches_by_binding(ctx, PDQ_ALG, pdq, 10, None)) == [first]
    history = registry.binding_history(ctx, PDQ_ALG, pdq)
    assert [(row.manifest_id, row.current) for row in history] == [(first, False), (second, False),
                                                                   (first, True)]
    assert registry.get_manifest(ctx, second, None).bindings == ()


def test_an_admin_may_repoint_anyones_binding_and_it_is_audit_logged_as_an_override(ctx):
    genuine = register(ctx, [(WATERMARK_ALG, LABEL_ID)])
    other = register(ctx, [], actor=INTRUDER)
    admin = "cli:admin"
    assert registry.replace_bindings(ctx, other, [(WATERMARK_ALG, LABEL_ID)], as_key(admin, Role.ADMIN)) == 1
    assert ids(registry.matches_by_binding(ctx, WATERMARK_ALG, LABEL_ID, 10, None)) == [other]
    history = registry.binding_history(ctx, WATERMARK_ALG, LABEL_ID)
    assert [(row.manifest_id, row.superseded_by) for row in history] == [(genuine, admin), (other, None)]
    replaced = [details for actor, action, details in _audit_actions(ctx)
                if action == "manifest.bindings.replace"]
    assert replaced[-1]["override"] is True and replaced[-1]["replaced"] == 1
    assert LABEL_ID not in json.dumps(replaced)
    # and an admin may add to anyone's manifest
    assert registry.add_bindings(ctx, genuine, [(PDQ_ALG, "12" * 32)], as_key(admin, Role.ADMIN)) == 1


def test_a_different_store_under_a_registered_id_is_a_conflict_and_changes_nothing(ctx):
    manifest_id = register(ctx, [(WATERMARK_ALG, LABEL_ID)])
    with pytest.raises(Conflict):
        registry.register_manifest(ctx, manifest_id, c2pa_store(manifest_id, filler=b"other claim"),
                                   [(PDQ_ALG, "cd" * 32)], principal=as_key("test:provider"))
    assert registry.get_manifest(ctx, manifest_id, None).manifest_store == c2pa_store(manifest_id)
    assert registry.get_manifest(ctx, manifest_id, None).bindings == ((WATERMARK_ALG, LABEL_ID),)


@pytest.mark.parametrize("store, manifest_id, error", [
    (b"", "urn:c2pa:a", registry.InvalidManifestStore),
    (b"not a manifest store at all", "urn:c2pa:a", registry.InvalidManifestStore),
    (_superbox(b"c2pa" + _C2PA_TAIL, "c2pa"), "urn:c2pa:a", registry.InvalidManifestStore),  # no manifest
    (c2pa_store("urn:c2pa:a")[:-3], "urn:c2pa:a", registry.InvalidManifestStore),  # truncated
    (c2pa_store("urn:c2pa:a", "urn:c2pa:b"), "urn:c2pa:a", InvalidRequest),  # not the active one
    (c2pa_store("urn:c2pa:a"), "not-a-urn", InvalidRequest),
    (c2pa_store("urn:c2pa:a/b"), "urn:c2pa:a/b", InvalidRequest),
    (c2pa_store("urn:c2pa:a", filler=b"x" * (2 * 1024 * 1024)), "urn:c2pa:a", registry.ManifestTooLarge),
])
def test_malformed_stores_and_ids_are_refused_and_nothing_is_stored(ctx, store, manifest_id, error):
    with pytest.raises(error):
        registry.register_manifest(ctx, manifest_id, store, [], principal=as_key("test:provider"))
    # A well-formed id was never stored (404); a malformed one is refused as such (400).
    well_formed = manifest_id == "urn:c2pa:a"
    with pytest.raises(NotFound if well_formed else InvalidRequest):
        registry.get_manifest(ctx, manifest_id, None)


@pytest.mark.parametrize("bindings, error", [
    ([("com.example.unknown.1", LABEL_ID)], InvalidRequest),
    ([(WATERMARK_ALG, "0123")], InvalidSignal),
    ([(WATERMARK_ALG, "0123456789abcdeg")], InvalidSignal),
    ([(PDQ_ALG, LABEL_ID)], InvalidSignal),
    ([(PDQ_ALG, f"{n:064x}") for n in range(MAX_BINDINGS + 1)], InvalidRequest),  # too many
])
def test_bad_bindings_refuse_the_whole_registration(ctx, bindings, error):
    manifest_id = new_manifest_id()
    with pytest.raises(error):
        registry.register_manifest(ctx, manifest_id, c2pa_store(manifest_id), bindings, principal=as_key("t"))
    with pytest.raises(NotFound):
        registry.get_manifest(ctx, manifest_id, None)


def test_values_in_base64_of_the_bytes_or_of_the_hex_are_the_same_value(ctx):
    raw = base64.b64encode(bytes.fromhex(LABEL_ID)).decode()
    of_text = base64.b64encode(LABEL_ID.encode()).decode()
    urlsafe = base64.urlsafe_b64encode(bytes.fromhex("fb" * 32)).decode().rstrip("=")
    assert registry.canonical_value(WATERMARK_ALG, raw) == LABEL_ID
    assert registry.canonical_value(WATERMARK_ALG, of_text) == LABEL_ID
    assert registry.canonical_value(PDQ_ALG, urlsafe) == "fb" * 32
    assert registry.infer_alg(LABEL_ID) == WATERMARK_ALG
    assert registry.infer_alg("fb" * 32) == PDQ_ALG
    with pytest.raises(InvalidSignal):
        registry.infer_alg("abc")


def test_the_active_manifest_is_read_from_a_store_signed_by_c2pa_python(ctx, tmp_path):
    c2pa = pytest.importorskip("c2pa")
    store, reported_active = _signed_store(c2pa)
    assert registry.active_manifest_id(store) == reported_active
    record = registry.register_manifest(ctx, reported_active, store, [(WATERMARK_ALG, LABEL_ID)],
                                        principal=as_key("t"))
    assert registry.get_manifest(ctx, record.manifest_id, None).manifest_store == store
    assert registry.active_manifest_only(store) == store  # one manifest: as is


def test_the_active_manifest_alone_is_cut_from_a_store_of_several():
    store = c2pa_store("urn:c2pa:parent", "urn:c2pa:child", filler=b"claim bytes")
    only = registry.active_manifest_only(store)
    assert only == c2pa_store("urn:c2pa:child", filler=b"claim bytes")
    assert registry.active_manifest_id(only) == "urn:c2pa:child"


# --- Bindings ------------------------------------------------------------------------------


def test_add_bindings_needs_a_registered_manifest_and_skips_what_is_bound(ctx):
    manifest_id = register(ctx, [(WATERMARK_ALG, LABEL_ID)])
    more = [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, "ee" * 32)]
    assert registry.add_bindings(ctx, manifest_id, more, as_key(PROVIDER)) == 1
    assert registry.get_manifest(ctx, manifest_id, None).bindings == ((WATERMARK_ALG, LABEL_ID),
                                                                     (PDQ_ALG, "ee" * 32))
    with pytest.raises(NotFound):
        registry.add_bindings(ctx, new_manifest_id(), [(WATERMARK_ALG, LABEL_ID)], as_key(PROVIDER))
    with pytest.raises(InvalidRequest):
        registry.add_bindings(ctx, manifest_id, [], as_key(PROVIDER))


def test_replace_bindings_points_a_value_at_another_manifest(ctx):
    pdq = "9c" * 32
    first = register(ctx, [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, pdq)])
    second = register(ctx, [])
    assert ids(registry.matches_by_binding(ctx, PDQ_ALG, pdq, 10, None)) == [first]
    assert registry.replace_bindings(ctx, second, [(PDQ_ALG, pdq)], as_key(PROVIDER)) == 1
    assert ids(registry.matches_by_binding(ctx, PDQ_ALG, pdq, 10, None)) == [second]
    assert ids(registry.matches_by_binding(ctx, WATERMARK_ALG, LABEL_ID, 10, None)) == [first]
    assert registry.get_manifest(ctx, first, None).bindings == ((WATERMARK_ALG, LABEL_ID),)


def test_replace_bindings_of_an_unbound_value_is_not_found_and_changes_nothing(ctx):
    first = register(ctx, [(WATERMARK_ALG, LABEL_ID)])
    second = register(ctx, [])
    with pytest.raises(NotFound):
        registry.replace_bindings(ctx, second, [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, "01" * 32)],
                                  as_key(PROVIDER))
    assert ids(registry.matches_by_binding(ctx, WATERMARK_ALG, LABEL_ID, 10, None)) == [first]
    with pytest.raises(NotFound):
        registry.replace_bindings(ctx, new_manifest_id(), [(WATERMARK_ALG, LABEL_ID)], as_key(PROVIDER))


# --- Lookups by binding --------------------------------------------------------------------


def test_watermark_label_ids_match_exactly(ctx):
    manifest_id = register(ctx, [(WATERMARK_ALG, LABEL_ID)])
    matches = registry.matches_by_binding(ctx, WATERMARK_ALG, LABEL_ID.upper(), 10, None)
    assert matches == [registry.BindingMatch(manifest_id, 100, WATERMARK_ALG)]
    assert registry.matches_by_binding(ctx, WATERMARK_ALG, OTHER_LABEL_ID, 10, None) == []


def test_pdq_matches_within_the_threshold_and_not_beyond(ctx):
    assert ctx.settings.match.pdq_threshold == 31
    pdq = "5a" * 32
    manifest_id = register(ctx, [(PDQ_ALG, pdq)])
    for distance, score in ((0, 100), (1, 97), (16, 50), (31, 3)):
        assert registry.matches_by_binding(ctx, PDQ_ALG, flip_bits(pdq, distance), 10, None) == [
            registry.BindingMatch(manifest_id, score, PDQ_ALG)], distance
    assert registry.matches_by_binding(ctx, PDQ_ALG, flip_bits(pdq, 32), 10, None) == []


def test_matches_come_strongest_first_and_max_results_cuts_the_list(ctx):
    pdq = "3c" * 32
    near = register(ctx, [(PDQ_ALG, flip_bits(pdq, 2))])
    exact = register(ctx, [(PDQ_ALG, pdq)])
    farther = register(ctx, [(PDQ_ALG, flip_bits(pdq, 20))])
    assert ids(registry.matches_by_binding(ctx, PDQ_ALG, pdq, 10, None)) == [exact, near, farther]
    assert ids(registry.matches_by_binding(ctx, PDQ_ALG, pdq, 2, None)) == [exact, near]


@pytest.mark.parametrize("alg, value, max_results, error", [
    ("com.example.unknown.1", LABEL_ID, 10, InvalidRequest),
    (WATERMARK_ALG, "xyz", 10, InvalidSignal),
    (PDQ_ALG, "ab" * 31, 10, InvalidSignal),
    (WATERMARK_ALG, LABEL_ID, 0, InvalidRequest),
    (WATERMARK_ALG, LABEL_ID, 101, InvalidRequest),
])
def test_malformed_queries_are_refused_clearly(ctx, alg, value, max_results, error):
    with pytest.raises(error) as raised:
        registry.matches_by_binding(ctx, alg, value, max_results, None)
    assert raised.value.detail


def test_a_pdq_binding_is_matchable_at_once_in_this_process_and_from_another(ctx, settings):
    pdq = "77" * 32
    assert registry.matches_by_binding(ctx, PDQ_ALG, pdq, 10, None) == []  # builds the index
    here = register(ctx, [(PDQ_ALG, pdq)])
    assert ids(registry.matches_by_binding(ctx, PDQ_ALG, pdq, 10, None)) == [here]
    other = ServiceContext.open(settings)  # another process: its own store and index
    try:
        there = register(other, [(PDQ_ALG, flip_bits(pdq, 3))])
        assert ids(registry.matches_by_binding(ctx, PDQ_ALG, pdq, 10, None)) == [here, there]
        # removes `here`'s binding
        registry.replace_bindings(other, there, [(PDQ_ALG, pdq)], as_key(PROVIDER))
    finally:
        other.close()
    assert ids(registry.matches_by_binding(ctx, PDQ_ALG, pdq, 10, None)) == [there]


# --- Lookups by content --------------------------------------------------------------------


def test_a_watermarked_image_finds_its_manifest(ctx):
    _, marked = marked_photo(21, LABEL_ID)
    manifest_id = register(ctx, [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, pdq_of(ctx, marked))])
    register(ctx, [(WATERMARK_ALG, OTHER_LABEL_ID)])
    matches = registry.matches_by_content(ctx, marked, 10, None)
    assert matches == [registry.BindingMatch(manifest_id, 100, WATERMARK_ALG)]


def test_a_pdq_near_copy_without_a_readable_watermark_finds_the_manifest(ctx):
    original, marked = marked_photo(22, LABEL_ID)
    manifest_id = register(ctx, [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, pdq_of(ctx, marked))])
    # The unmarked photo, smaller and recompressed: no watermark, a PDQ hash a few bits away.
    copy = encode_image(Image.open(io.BytesIO(original)).resize((512, 384)), "JPEG", quality=70)
    matches = registry.matches_by_content(ctx, copy, 10, None)
    assert ids(matches) == [manifest_id]
    assert matches[0].alg == PDQ_ALG and 50 < matches[0].similarity_score < 100
    assert registry.matches_by_content(ctx, copy, 10, None, alg=WATERMARK_ALG) == []


def test_an_unrelated_image_finds_nothing(ctx):
    _, marked = marked_photo(23, LABEL_ID)
    register(ctx, [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, pdq_of(ctx, marked))])
    unrelated = encode_image(photo_pixels(99), "JPEG", quality=90)
    assert registry.matches_by_content(ctx, unrelated, 10, None) == []


def test_a_binding_the_upload_contradicts_drops_the_manifest(ctx):
    _, marked = marked_photo(24, LABEL_ID)
    _, elsewhere = marked_photo(25, OTHER_LABEL_ID)
    # The label id copied onto another picture: the watermark matches, the fingerprint does not.
    spoofed = register(ctx, [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, pdq_of(ctx, elsewhere))])
    # The picture's fingerprint, but a different label id than the one the upload carries.
    relabelled = register(ctx, [(WATERMARK_ALG, OTHER_LABEL_ID), (PDQ_ALG, pdq_of(ctx, marked))])
    assert registry.matches_by_content(ctx, marked, 10, None) == []
    # Asking for one algorithm only checks that one.
    assert ids(registry.matches_by_content(ctx, marked, 10, None, alg=WATERMARK_ALG)) == [spoofed]
    assert ids(registry.matches_by_content(ctx, marked, 10, None, alg=PDQ_ALG)) == [relabelled]


def test_a_hint_stands_in_for_a_value_the_server_cannot_read(ctx):
    original, _ = marked_photo(26, LABEL_ID)
    manifest_id = register(ctx, [(WATERMARK_ALG, LABEL_ID)])
    assert registry.matches_by_content(ctx, original, 10, None) == []
    matches = registry.matches_by_content(ctx, original, 10, None, hint_alg=WATERMARK_ALG,
                                          hint_value=LABEL_ID)
    assert ids(matches) == [manifest_id]
    with pytest.raises(InvalidRequest):
        registry.matches_by_content(ctx, original, 10, None, hint_alg=WATERMARK_ALG)


def test_bad_uploads_are_refused_clearly(ctx):
    with pytest.raises(EmptyMedia):
        registry.matches_by_content(ctx, b"", 10, None)
    with pytest.raises(UnsupportedMedia):
        registry.matches_by_content(ctx, b"%PDF-1.7 not an image", 10, None)
    with pytest.raises(InvalidRequest):
        registry.matches_by_content(ctx, marked_photo(21, LABEL_ID)[1], 10, None, alg="x.y.1")


# --- Audit ---------------------------------------------------------------------------------


def test_writes_and_reads_are_audited_without_binding_values(ctx):
    _, marked = marked_photo(27, LABEL_ID)
    pdq = pdq_of(ctx, marked)
    manifest_id = register(ctx, [(WATERMARK_ALG, LABEL_ID), (PDQ_ALG, pdq)], actor="key:provider1")
    registry.matches_by_binding(ctx, WATERMARK_ALG, LABEL_ID, 10, None)
    registry.matches_by_content(ctx, marked, 10, None)
    registry.get_manifest(ctx, manifest_id, None)
    with ctx.store.transaction() as session:
        events = audit_repository.recent_events(session, 20)
    by_action = {event.action: event for event in events}
    assert by_action["manifest.register"].actor == "key:provider1"
    assert by_action["manifest.register"].target == f"manifest:{manifest_id}"
    assert json.loads(by_action["manifest.register"].detail)["bindings"] == 2
    assert json.loads(by_action["manifest.match.content"].detail)["matches"] == 1
    for action in ("manifest.match.binding", "manifest.match.content", "manifest.fetch"):
        assert by_action[action].actor == "public"
    for event in events:
        assert LABEL_ID not in event.detail + event.target and pdq not in event.detail + event.target


# --- A store signed by c2pa-python ---------------------------------------------------------


def _signed_store(c2pa) -> tuple[bytes, str]:
    """A manifest store signed with a throwaway CA by c2pa-python, and its active manifest id as
    c2pa-python's Reader reports it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

    now = dt.datetime.now(dt.UTC)

    def certificate(subject: str, key, issuer_name, issuer_key, *, ca: bool):
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject),
                          x509.NameAttribute(NameOID.ORGANIZATION_NAME, "DeepShield tests")])
        public_key = key.public_key()
        builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name or name)
                   .public_key(public_key).serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(days=1))
                   .not_valid_after(now + dt.timedelta(days=30))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False))
        # KeyUsage: certificate and CRL signing for the CA, digital signature for the signer.
        usage = dict.fromkeys(("digital_signature", "content_commitment", "key_encipherment",
                               "data_encipherment", "key_agreement", "key_cert_sign", "crl_sign",
                               "encipher_only", "decipher_only"), False)
        if ca:
            usage.update(key_cert_sign=True, crl_sign=True)
            builder = builder.add_extension(x509.KeyUsage(**usage), critical=True)
            return builder.sign(issuer_key, hashes.SHA256())
        usage.update(digital_signature=True)
        claim_signing = ObjectIdentifier("1.3.6.1.4.1.62558.2.1")
        return (builder.add_extension(x509.KeyUsage(**usage), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION, claim_signing]),
                               critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                               critical=False)
                .sign(issuer_key, hashes.SHA256()))

    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_cert = certificate("test CA", ca_key, None, ca_key, ca=True)
    leaf_cert = certificate("test signer", leaf_key, ca_cert.subject, ca_key, ca=False)
    chain = b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in (leaf_cert, ca_cert))
    private_key = leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=b"es256", sign_cert=chain,
                                                       private_key=private_key, ta_url=None))
    definition = {
        "claim_generator_info": [{"name": "deepshield-tests", "version": "1"}],
        "title": "generated.jpg",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{
                "action": "c2pa.created",
                "digitalSourceType": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"}]}},
            {"label": "c2pa.soft-binding", "data": {"alg": WATERMARK_ALG,
                                                     "blocks": [{"scope": {}, "value": LABEL_ID}]}},
        ],
    }
    builder = c2pa.Builder(json.dumps(definition))
    builder.set_no_embed()
    source = io.BytesIO(encode_image(photo_pixels(3, 64, 64), "JPEG"))
    store = builder.sign(signer, "image/jpeg", source, io.BytesIO())
    report = json.loads(c2pa.Reader("application/c2pa", io.BytesIO(store)).json())
    return bytes(store), report["active_manifest"]


def test_migration_0005_keeps_existing_bindings_current_and_never_reuses_their_ids(
        empty_database_url, settings):
    from alembic import command
    from sqlalchemy import text

    from deepshield.store.database import _alembic_config, make_engine

    engine = make_engine(empty_database_url)
    command.upgrade(_alembic_config(engine), "0004")
    manifest_id = new_manifest_id()
    store_bytes = c2pa_store(manifest_id)
    now = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO manifests (manifest_id, manifest_store, store_sha256, content_type, generator, "
            "registered_at, registered_by) VALUES (:id, :store, :sha, 'application/c2pa', 'g', :now, :by)"),
            {"id": manifest_id, "store": store_bytes, "sha": "0" * 64, "now": now, "by": PROVIDER})
        for value in (LABEL_ID, OTHER_LABEL_ID, "00112233445566ff"):
            connection.execute(text(
                "INSERT INTO soft_bindings (manifest_id, alg, value, added_at, added_by) "
                "VALUES (:id, :alg, :value, :now, :by)"),
                {"id": manifest_id, "alg": WATERMARK_ALG, "value": value, "now": now, "by": PROVIDER})
        # 0003's PUT /bindings deleted rows: the highest id is gone before the upgrade.
        highest = connection.execute(text("SELECT MAX(id) FROM soft_bindings")).scalar()
        connection.execute(text("DELETE FROM soft_bindings WHERE id = :id"), {"id": highest})
    engine.dispose()
    context = ServiceContext.open(settings)  # migrates to head
    try:
        assert registry.get_manifest(context, manifest_id, None).bindings == (
            (WATERMARK_ALG, LABEL_ID), (WATERMARK_ALG, OTHER_LABEL_ID))
        assert ids(registry.matches_by_binding(context, WATERMARK_ALG, LABEL_ID, 10, None)) == [manifest_id]
        other = register(context, [])
        assert registry.replace_bindings(context, other, [(WATERMARK_ALG, LABEL_ID)], as_key(PROVIDER)) == 1
        history = registry.binding_history(context, WATERMARK_ALG, LABEL_ID)
        assert [(row.manifest_id, row.current) for row in history] == [(manifest_id, False), (other, True)]
        with context.store.transaction() as session:
            new_id = session.execute(text("SELECT MAX(id) FROM soft_bindings")).scalar()
        assert new_id > highest  # the deleted row's id is not reused
    finally:
        context.close()
