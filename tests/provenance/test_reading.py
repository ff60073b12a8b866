"""Reading Content Credentials: trust, forgery, tampering, stripping, expiry and hostile input."""

from __future__ import annotations

import datetime as dt
import io
import zlib
from collections.abc import Callable

import av
import pytest
from PIL import Image

from deepshield.errors import DeepShieldError, InvalidRequest
from deepshield.media.errors import CorruptMedia, EmptyMedia, UnsupportedMedia
from deepshield.provenance import (
    DevelopmentKeys,
    ManifestReport,
    SignedMedia,
    SigningIdentity,
    create_ca,
    issue_signing_certificate,
    read_content_credentials,
)
from deepshield.provenance.reading import (
    HARD_BINDING_CODES,
    SIGNATURE_UNVALIDATED_CODE,
    UNREADABLE_CODE,
    parse_manifest_store,
    read_manifest_store,
)
from factories import encode_image, encode_synthetic_video, flip_jpeg_scan_bit, photo_pixels
from local_tsa import identity_stamped_at, short_lived_signer

MIME_TYPES = ["image/jpeg", "image/png", "image/webp", "video/mp4"]


def _assert_consistent(report: ManifestReport) -> None:
    """The invariants the verify layer relies on."""
    if report.trusted:
        assert report.validation_state == "Trusted" and report.valid
        assert report.failure_codes == [] and not (report.tampered or report.untrusted or report.expired)
    if report.tampered or report.expired:
        assert report.validation_state == "Invalid" and not report.trusted and not report.valid


def _foreign_identity(common_name: str | None = None) -> SigningIdentity:
    """A forger's chain: a correctly profiled signer under a CA nobody trusts."""
    ca = create_ca(common_name="Forger CA", organization="DeepShield development")
    leaf = issue_signing_certificate(ca.certificate, ca.private_key, common_name=common_name)
    return SigningIdentity(leaf.certificate_pem() + ca.certificate_pem(), leaf.private_key_pem())


# --- trust ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mime", MIME_TYPES)
def test_without_anchor_reads_valid_but_untrusted(mime: str, signed: dict[str, SignedMedia]) -> None:
    for anchors in (None, b""):
        report = read_content_credentials(signed[mime].data, mime, trust_anchors_pem=anchors)
        assert report is not None
        assert report.validation_state == "Valid"
        assert report.valid and report.untrusted
        assert not report.trusted and not report.tampered
        assert report.failure_codes == ["signingCredential.untrusted"]
        _assert_consistent(report)


def test_foreign_ca_reads_untrusted_even_with_our_name(
    sign: Callable[..., SignedMedia], anchors: bytes, signed: dict[str, SignedMedia]
) -> None:
    our_signer = read_content_credentials(signed["image/jpeg"].data, "image/jpeg", trust_anchors_pem=anchors)
    assert our_signer is not None and our_signer.signer
    forged = sign("image/jpeg", _foreign_identity(common_name=our_signer.signer))
    report = read_content_credentials(forged.data, "image/jpeg", trust_anchors_pem=anchors)
    assert report is not None
    assert report.signer == our_signer.signer  # same name, different key: names prove nothing
    assert report.validation_state == "Valid"
    assert report.untrusted and not report.trusted
    _assert_consistent(report)


def test_anchor_bundle_with_other_roots(signed: dict[str, SignedMedia], anchors: bytes) -> None:
    bundle = create_ca(common_name="Partner CA").certificate_pem() + anchors
    report = read_content_credentials(signed["image/png"].data, "image/png", trust_anchors_pem=bundle)
    assert report is not None and report.trusted
    only_partner = create_ca(common_name="Partner CA").certificate_pem()
    report = read_content_credentials(signed["image/png"].data, "image/png", trust_anchors_pem=only_partner)
    assert report is not None and report.untrusted and not report.trusted


def test_garbage_anchors_are_refused_not_ignored(signed: dict[str, SignedMedia]) -> None:
    """c2pa would silently ignore unparsable anchors; we refuse them so trust is never quietly off."""
    with pytest.raises(InvalidRequest, match="trust anchors"):
        read_content_credentials(signed["image/jpeg"].data, "image/jpeg", trust_anchors_pem=b"not a pem")


def test_declared_type_is_not_trusted(signed: dict[str, SignedMedia], anchors: bytes) -> None:
    report = read_content_credentials(signed["image/png"].data, "image/jpeg", trust_anchors_pem=anchors)
    assert report is not None and report.trusted
    report = read_content_credentials(signed["video/mp4"].data, None, trust_anchors_pem=anchors)
    assert report is not None and report.trusted


# --- tampering -----------------------------------------------------------------------------------------


def _flip_png_idat(data: bytes) -> bytes:
    """Flip a bit inside the first IDAT chunk and fix its CRC: a well-formed PNG with other pixels."""
    out = bytearray(data)
    start = data.find(b"IDAT") - 4
    length = int.from_bytes(data[start : start + 4], "big")
    out[start + 8 + length // 2] ^= 0x01
    body = bytes(out[start + 4 : start + 8 + length])
    out[start + 8 + length : start + 12 + length] = zlib.crc32(body).to_bytes(4, "big")
    return bytes(out)


def _flip_inside(data: bytes, marker: bytes) -> bytes:
    out = bytearray(data)
    out[data.find(marker) + 64] ^= 0x01
    return bytes(out)


TAMPER = {
    "image/jpeg": (flip_jpeg_scan_bit, "assertion.dataHash.mismatch"),
    "image/png": (_flip_png_idat, "assertion.dataHash.mismatch"),
    "image/webp": (lambda data: _flip_inside(data, b"VP8"), "assertion.dataHash.mismatch"),
    "video/mp4": (lambda data: _flip_inside(data, b"mdat"), "assertion.bmffHash.mismatch"),
}


@pytest.mark.parametrize("mime", MIME_TYPES)
def test_changed_content_reads_tampered(mime: str, signed: dict[str, SignedMedia], anchors: bytes) -> None:
    tamper, code = TAMPER[mime]
    changed = tamper(signed[mime].data)
    assert changed != signed[mime].data and len(changed) == len(signed[mime].data)
    report = read_content_credentials(changed, mime, trust_anchors_pem=anchors)
    assert report is not None
    assert report.validation_state == "Invalid"
    assert report.tampered and not report.valid and not report.trusted
    assert code in report.failure_codes
    assert report.label_id is not None  # the claims are still readable, just not to be believed
    _assert_consistent(report)


def test_changed_jpeg_still_decodes(signed: dict[str, SignedMedia]) -> None:
    """The tampered JPEG is a real, viewable picture, not just broken bytes."""
    Image.open(io.BytesIO(flip_jpeg_scan_bit(signed["image/jpeg"].data))).load()


def test_damaged_manifest_never_crashes(
    signed: dict[str, SignedMedia], anchors: bytes
) -> None:
    """Flip bytes across the manifest: every read gives a report, None or a DeepShield error.

    Bytes c2pa does not sign (the reserved signature padding) may still read Trusted; any change it
    signs reads Invalid, and a manifest too damaged to parse reads Invalid with our unreadable code.
    """
    data = signed["image/jpeg"].data
    start, end = data.find(b"jumb") - 8, data.find(b"\xff\xdb")
    states: set[str] = set()
    for offset in range(start, end, max(1, (end - start) // 120)):
        damaged = bytearray(data)
        damaged[offset] ^= 0x55
        try:
            report = read_content_credentials(bytes(damaged), "image/jpeg", trust_anchors_pem=anchors)
        except DeepShieldError:
            states.add("error")
            continue
        if report is None:
            states.add("absent")
            continue
        _assert_consistent(report)
        if report.failure_codes == [UNREADABLE_CODE]:
            assert report.manifest_id is None and report.error and not report.valid
            states.add("unreadable")
        else:
            states.add(report.validation_state)
    assert {"Invalid", "unreadable"} <= states


# --- stripping -----------------------------------------------------------------------------------------


def _reencode(data: bytes, fmt: str) -> bytes:
    return encode_image(Image.open(io.BytesIO(data)).convert("RGB"), fmt)


def _remux(data: bytes) -> bytes:
    """Copy the video stream into a new MP4 (no re-encode): C2PA boxes do not survive."""
    output_buffer = io.BytesIO()
    with av.open(io.BytesIO(data)) as source, av.open(output_buffer, mode="w", format="mp4") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is None:
                continue
            packet.stream = stream
            target.mux(packet)
    return output_buffer.getvalue()


@pytest.mark.parametrize(("mime", "strip"), [
    ("image/jpeg", lambda data: _reencode(data, "JPEG")),
    ("image/png", lambda data: _reencode(data, "PNG")),
    ("image/webp", lambda data: _reencode(data, "WEBP")),
    ("video/mp4", _remux),
])
def test_stripped_copy_has_no_manifest(
    mime: str, strip: Callable[[bytes], bytes], signed: dict[str, SignedMedia], anchors: bytes
) -> None:
    copy = strip(signed[mime].data)
    assert read_content_credentials(copy, mime, trust_anchors_pem=anchors) is None


def test_unsigned_media_has_no_manifest(media: dict[str, bytes], anchors: bytes) -> None:
    for mime, data in media.items():
        assert read_content_credentials(data, mime, trust_anchors_pem=anchors) is None
    gif = encode_image(photo_pixels(2, 48, 48), "GIF")
    assert read_content_credentials(gif, "image/gif", trust_anchors_pem=anchors) is None


# --- expiry --------------------------------------------------------------------------------------------


def test_a_signer_expired_at_its_trusted_signing_time_reads_expired_never_trusted(
    sign: Callable[..., SignedMedia], dev_keys: DevelopmentKeys, anchors: bytes
) -> None:
    """The installation's own CA issues the signer; the clock is a trusted timestamp (local_tsa).

    c2pa judges the signer at the timestamp's time. Stamped inside the window it is trusted;
    stamped after ``notAfter`` it reads expired. (Without a timestamp c2pa uses the wall clock at
    read time, so an old file turns Invalid once its signer expires: bench/certificate_expiry.py
    shows that with a real wait. Signing with an already expired certificate is refused: see
    test_signing.)
    """
    signer, chain = short_lived_signer(dev_keys.directory)
    expiry = signer.certificate.not_valid_after_utc
    with identity_stamped_at(dev_keys.directory, signer, chain, expiry - dt.timedelta(minutes=1)) as identity:
        in_time = sign("image/jpeg", identity)
    before = read_content_credentials(in_time.data, "image/jpeg", trust_anchors_pem=anchors)
    assert before is not None and before.trusted and not before.expired
    with identity_stamped_at(dev_keys.directory, signer, chain, expiry + dt.timedelta(minutes=1)) as identity:
        late = sign("image/jpeg", identity)
    after = read_content_credentials(late.data, "image/jpeg", trust_anchors_pem=anchors)
    assert after is not None
    assert after.expired and not after.trusted and not after.valid
    assert after.validation_state == "Invalid"
    assert "signingCredential.expired" in after.failure_codes
    _assert_consistent(after)
    detached = read_manifest_store(late.manifest_store, trust_anchors_pem=anchors)
    assert detached.expired and not detached.trusted and not detached.valid
    assert read_manifest_store(in_time.manifest_store, trust_anchors_pem=anchors).trusted


# --- hostile and broken input --------------------------------------------------------------------------


def test_empty_input() -> None:
    with pytest.raises(EmptyMedia):
        read_content_credentials(b"", "image/jpeg", trust_anchors_pem=None)


@pytest.mark.parametrize("data", [
    b"hello, this is plain text and not a picture",
    b"%PDF-1.7\n" + b"\x00" * 100,
    bytes(range(256)) * 4,
    b"<svg xmlns='http://www.w3.org/2000/svg'/>",
], ids=["text", "pdf", "binary-noise", "svg"])
def test_non_media_input(data: bytes) -> None:
    with pytest.raises(UnsupportedMedia):
        read_content_credentials(data, "image/jpeg", trust_anchors_pem=None)


@pytest.mark.parametrize("mime", MIME_TYPES)
@pytest.mark.parametrize("keep", [0.02, 0.5, 0.98])
def test_truncated_signed_file(
    mime: str, keep: float, signed: dict[str, SignedMedia], anchors: bytes
) -> None:
    """Truncation is a DeepShield error, a missing manifest, or an Invalid report: never trusted."""
    data = signed[mime].data
    truncated = data[: max(16, int(len(data) * keep))]
    try:
        report = read_content_credentials(truncated, mime, trust_anchors_pem=anchors)
    except (CorruptMedia, UnsupportedMedia):
        return
    if report is not None:
        assert not report.trusted
        _assert_consistent(report)


def test_jpeg_magic_then_garbage(anchors: bytes) -> None:
    with pytest.raises(CorruptMedia):
        read_content_credentials(b"\xff\xd8\xff\xe0" + b"\x13" * 200, "image/jpeg", trust_anchors_pem=anchors)


def test_video_container_c2pa_cannot_read(anchors: bytes) -> None:
    webm = encode_synthetic_video("webm", "libvpx", frame_count=5)
    with pytest.raises(UnsupportedMedia, match="webm"):
        read_content_credentials(webm, "video/webm", trust_anchors_pem=anchors)


@pytest.mark.parametrize("store", [
    {},
    {"active_manifest": 5, "manifests": []},
    {"active_manifest": "m", "manifests": {"m": {"assertions": "x", "signature_info": [1]}}},
    {"active_manifest": "m", "validation_state": "Trusted", "validation_status": ["oops", {"code": 7}],
     "manifests": {"m": {"claim_generator_info": ["x"], "assertions": [
         5, {"label": "c2pa.soft-binding", "data": "abc"},
         {"label": "c2pa.soft-binding", "data": {"alg": 1, "blocks": [None, {"value": {"a": 1}}]}},
         {"label": "c2pa.actions.v2",
          "data": {"actions": [None, {"action": "c2pa.created", "softwareAgent": 3}]}},
         {"label": "org.deepshield.label", "data": ["not", "a", "map"]},
     ]}}},
], ids=["empty", "wrong-types", "odd-manifest", "hostile-assertions"])
def test_parsing_odd_shapes_never_crashes(store: dict[str, object]) -> None:
    """Third-party manifests can hold anything; odd shapes are skipped, never trusted by accident."""
    report = parse_manifest_store(store)
    assert report.label_id is None and report.pdq_hex is None and report.generator is None
    if report.validation_state != "Trusted":
        assert not report.trusted
    report.to_dict()


def test_parsing_byte_string_soft_binding_from_other_producers() -> None:
    store = {"active_manifest": "m", "validation_state": "Valid", "manifests": {"m": {"assertions": [
        {"label": "c2pa.soft-binding",
         "data": {"alg": "com.example.mark", "blocks": [{"value": [1, 2, 255]}]}},
    ]}}}
    report = parse_manifest_store(store)
    assert report.soft_bindings == [{"alg": "com.example.mark", "value": "0102ff"}]
    assert report.trusted is False


# --- a detached manifest store (as a repository serves it) -----------------------------------------------


@pytest.mark.parametrize("mime", MIME_TYPES)
def test_a_detached_store_of_ours_reads_trusted(
    mime: str, signed: dict[str, SignedMedia], anchors: bytes, facts
) -> None:
    """The content hash cannot be checked without the asset; nothing else is skipped."""
    report = read_manifest_store(signed[mime].manifest_store, trust_anchors_pem=anchors)
    assert report.validation_state == "Trusted" and report.trusted and report.valid
    assert report.failure_codes == [] and not report.tampered
    assert report.manifest_id == signed[mime].manifest_id
    embedded = read_content_credentials(signed[mime].data, mime, trust_anchors_pem=anchors)
    assert embedded is not None and report.signer == embedded.signer
    assert (report.generator, report.model, report.label_id) == (facts.generator, facts.model, facts.label_id)
    assert report.pdq_hex == facts.pdq_hex and report.created_at == "2026-03-01T12:30:05Z"
    _assert_consistent(report)


@pytest.mark.parametrize("anchors_pem", [None, b""])
def test_a_detached_store_without_anchors_reads_untrusted(
    anchors_pem: bytes | None, signed: dict[str, SignedMedia]
) -> None:
    report = read_manifest_store(signed["image/jpeg"].manifest_store, trust_anchors_pem=anchors_pem)
    assert report.validation_state == "Valid" and report.valid and report.untrusted
    assert report.failure_codes == ["signingCredential.untrusted"] and not report.trusted


@pytest.mark.parametrize("mime", ["image/png", "video/mp4"])
def test_a_detached_store_from_a_foreign_ca_reads_untrusted(
    mime: str, sign: Callable[..., SignedMedia], anchors: bytes, signed: dict[str, SignedMedia]
) -> None:
    ours = read_manifest_store(signed[mime].manifest_store, trust_anchors_pem=anchors)
    forged = sign(mime, _foreign_identity(common_name=ours.signer))
    report = read_manifest_store(forged.manifest_store, trust_anchors_pem=anchors)
    assert report.signer == ours.signer  # the same name proves nothing
    assert report.validation_state == "Valid" and report.untrusted and not report.trusted
    _assert_consistent(report)


def test_only_the_content_hash_codes_are_set_aside(signed: dict[str, SignedMedia], anchors: bytes) -> None:
    """What c2pa itself says of a detached store: Invalid, for the missing asset only."""
    import json

    import c2pa

    from deepshield.provenance.reading import _settings

    store = signed["image/jpeg"].manifest_store
    with c2pa.Context.from_dict(_settings(anchors)) as context, \
            c2pa.Reader("application/c2pa", io.BytesIO(store), None, context) as reader:
        raw = json.loads(reader.json())
    assert raw["validation_state"] == "Invalid"
    assert {entry["code"] for entry in raw["validation_status"]} <= HARD_BINDING_CODES
    assert parse_manifest_store(raw).failure_codes == ["assertion.dataHash.mismatch"]


def test_a_changed_assertion_in_a_detached_store_reads_tampered(
    signed: dict[str, SignedMedia], anchors: bytes, facts
) -> None:
    store = signed["image/jpeg"].manifest_store
    position = store.index(facts.generator.encode())
    changed = store[:position] + b"X" + store[position + 1:]
    report = read_manifest_store(changed, trust_anchors_pem=anchors)
    assert report.validation_state == "Invalid" and report.tampered
    assert not report.trusted and not report.valid
    assert "assertion.hashedURI.mismatch" in report.failure_codes
    _assert_consistent(report)


@pytest.mark.parametrize("back", [1, 20, 60])
def test_a_changed_signature_in_a_detached_store_reads_invalid(
    back: int, signed: dict[str, SignedMedia], anchors: bytes
) -> None:
    """The store ends with the active manifest's COSE signature."""
    store = bytearray(signed["image/jpeg"].manifest_store)
    store[-back] ^= 0x01
    report = read_manifest_store(bytes(store), trust_anchors_pem=anchors)
    assert report.validation_state == "Invalid" and not report.trusted and not report.valid
    assert "claimSignature.mismatch" in report.failure_codes


def test_flipping_any_signed_byte_of_a_detached_store_never_reads_trusted(
    signed: dict[str, SignedMedia], anchors: bytes
) -> None:
    """A sweep over the store: a flip either leaves what the signature covers untouched (JUMBF
    toggles, the signature box's padding) or is caught; it never raises."""
    store = signed["image/png"].manifest_store
    caught = 0
    for position in range(0, len(store), 11):
        changed = bytearray(store)
        changed[position] ^= 0x04
        report = read_manifest_store(bytes(changed), trust_anchors_pem=anchors)
        _assert_consistent(report)
        if not report.trusted:
            caught += 1
        else:
            assert report.generator == read_manifest_store(store, trust_anchors_pem=anchors).generator
    assert caught > len(store) // 11 // 3


@pytest.mark.parametrize("data", [
    b"",
    b"not a manifest store",
    b"\x00\x00\x00\x08jumb",
    bytes(range(256)) * 4,
], ids=["empty", "text", "empty-superbox", "noise"])
def test_bytes_that_are_no_store_read_unreadable_never_raise(data: bytes, anchors: bytes) -> None:
    report = read_manifest_store(data, trust_anchors_pem=anchors)
    assert report.failure_codes == [UNREADABLE_CODE] and report.error
    assert report.validation_state == "Invalid" and not report.trusted and report.manifest_id is None


@pytest.mark.parametrize("mime", ["image/jpeg", "video/mp4"])
def test_a_whole_signed_file_is_not_taken_for_a_store(
    mime: str, signed: dict[str, SignedMedia], anchors: bytes
) -> None:
    """c2pa would read the file's embedded manifest by its bytes; a store is asked for."""
    report = read_manifest_store(signed[mime].data, trust_anchors_pem=anchors)
    assert report.failure_codes == [UNREADABLE_CODE]


def test_a_truncated_store_never_reads_trusted(signed: dict[str, SignedMedia], anchors: bytes) -> None:
    store = signed["image/jpeg"].manifest_store
    for keep in (0.1, 0.5, 0.9, 0.99):
        report = read_manifest_store(store[: int(len(store) * keep)], trust_anchors_pem=anchors)
        assert not report.trusted
        _assert_consistent(report)


def test_a_detached_store_with_garbage_anchors_is_refused(signed: dict[str, SignedMedia]) -> None:
    with pytest.raises(InvalidRequest):
        read_manifest_store(signed["image/jpeg"].manifest_store, trust_anchors_pem=b"-----BEGIN nonsense")


def test_an_unvalidated_claim_signature_never_reads_trusted() -> None:
    """Should c2pa ever skip the signature check, the store is not trusted on c2pa's word."""
    from deepshield.provenance.reading import _without_hard_binding

    store = {"active_manifest": "urn:c2pa:m", "validation_state": "Trusted", "manifests": {},
             "validation_results": {"activeManifest": {"success": [
                 {"code": "signingCredential.trusted"}], "failure": []}}}
    report = parse_manifest_store(_without_hard_binding(store))
    assert SIGNATURE_UNVALIDATED_CODE in report.failure_codes
    assert report.validation_state == "Invalid" and not report.trusted and not report.valid


def test_content_hash_codes_of_other_manifests_are_kept() -> None:
    """Only the active manifest's own hash assertion is set aside."""
    from deepshield.provenance.reading import _without_hard_binding

    failure = {"code": "assertion.dataHash.mismatch",
               "url": "self#jumbf=/c2pa/urn:c2pa:other/c2pa.assertions/c2pa.hash.data"}
    store = {"active_manifest": "urn:c2pa:m", "validation_state": "Invalid", "manifests": {},
             "validation_status": [failure],
             "validation_results": {"activeManifest": {"success": [
                 {"code": "signingCredential.trusted"}, {"code": "claimSignature.validated"}],
                 "failure": [failure]}}}
    report = parse_manifest_store(_without_hard_binding(store))
    assert report.failure_codes == ["assertion.dataHash.mismatch"] and not report.trusted
