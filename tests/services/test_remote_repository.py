"""Label and verify against a REMOTE manifest repository: a second DeepShield installation served by
uvicorn on localhost, with its own SQLite home. Recovered manifests are validated on their own
(signature, signer's trust), locally and remotely alike; an unreachable repository is reported, or
refused where the verdict depends on it. Real keys, real files, real HTTP; nothing mocked."""

from __future__ import annotations

import io
import json
import socket
import struct
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from deepshield.api.app import create_app
from deepshield.api.rate_limit import PublicRateLimiter
from deepshield.cli.main import app as cli_app
from deepshield.errors import NotFound
from deepshield.provenance.c2pa_signing import SigningIdentity
from deepshield.provenance.certificates import create_ca, issue_signing_certificate
from deepshield.provenance.manifest import PDQ_BINDING_ALG, WATERMARK_BINDING_ALG
from deepshield.provenance.repository_client import RepositoryClient, RepositoryUnavailable
from deepshield.services.access import Principal, Role
from deepshield.services.api_keys import create_key
from deepshield.services.context import ServiceContext
from deepshield.services.label import manifest_registry
from deepshield.services.label.labelling import LabelResult, label_media
from deepshield.services.label.signing_keys import init_signing_keys
from deepshield.services.verify.verification import VerifyReport, verify_media
from deepshield.settings import ProvenanceSettings, Settings
from deepshield.watermark import embed
from factories import encode_image, photo_pixels
from live_server import serving
from principals import SETUP

ACTOR = Principal("test:provider", Role.PROVIDER)


# --- Installations -------------------------------------------------------------------------


def _settings(home: Path, repository_url: str = "", repository_key: str = "",
              trust_anchors: Path | None = None) -> Settings:
    return Settings(home=home, database_url=f"sqlite:///{home.parent / (home.name + '.db')}",
                    provenance=ProvenanceSettings(repository_url=repository_url,
                                                  repository_key=repository_key,
                                                  trust_anchors=trust_anchors))


@pytest.fixture
def installation(tmp_path: Path) -> Iterator[Callable[..., ServiceContext]]:
    """``installation(name, repository_url="", repository_key="", keys=True, trust_anchors=None)``:
    a DeepShield installation with its own SQLite home (and signing keys, unless ``keys=False``)."""
    opened: list[ServiceContext] = []

    def make(name: str, repository_url: str = "", repository_key: str = "", *, keys: bool = True,
             trust_anchors: Path | None = None) -> ServiceContext:
        home = tmp_path / name
        home.mkdir()
        ctx = ServiceContext.open(_settings(home, repository_url, repository_key, trust_anchors))
        opened.append(ctx)
        if keys:
            init_signing_keys(ctx, force=False, principal=SETUP)
        return ctx

    yield make
    for ctx in opened:
        ctx.close()


@pytest.fixture
def remote(installation: Callable[..., ServiceContext]) -> Iterator[tuple[str, str, ServiceContext]]:
    """Installation B, serving its manifest repository over HTTP: (base URL, provider key, its context)."""
    ctx = installation("repository-b", keys=False)
    server_app = create_app(ctx.settings, context=ctx)
    server_app.state.public_rate_limiter = PublicRateLimiter(rate_per_minute=0)
    key = create_key(ctx, Role.PROVIDER, "installation A", SETUP)[1]
    with serving(server_app, "the repository server") as url:
        yield url, key, ctx


@pytest.fixture
def provider_a(installation: Callable[..., ServiceContext],
               remote: tuple[str, str, ServiceContext]) -> ServiceContext:
    """Installation A: labels and verifies, with B as its manifest repository."""
    url, key, _ = remote
    return installation("provider-a", url, key)


@pytest.fixture
def dead_url() -> str:
    """A localhost URL where nothing listens."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    return f"http://127.0.0.1:{port}"


# --- Media ---------------------------------------------------------------------------------


def _photo(seed: int) -> bytes:
    return encode_image(photo_pixels(seed, 640, 480), "JPEG", quality=92)


def _strip(data: bytes) -> bytes:
    """A PNG re-encode: the metadata (and so the manifest) is gone, the watermark stays."""
    buffer = io.BytesIO()
    Image.open(io.BytesIO(data)).convert("RGB").save(buffer, "PNG")
    return buffer.getvalue()


def _foreign_identity() -> SigningIdentity:
    ca = create_ca(common_name="Someone else's CA")
    signer = issue_signing_certificate(ca.certificate, ca.private_key)
    return SigningIdentity(signer.certificate_pem() + ca.certificate_pem(), signer.private_key_pem())


def _signer_of(ctx: ServiceContext, result: LabelResult) -> str:
    report = verify_media(ctx, result.data, principal=ACTOR)
    assert report.verdict == "verified"
    return report.manifest["signer"]


def _local_registry_is_empty(ctx: ServiceContext, result: LabelResult) -> bool:
    try:
        manifest_registry.get_manifest(ctx, result.manifest_id, ACTOR)
    except NotFound:
        return manifest_registry.matches_by_binding(ctx, WATERMARK_BINDING_ALG, result.label_id, 5,
                                                    ACTOR) == []
    return False


def _shape(value: Any) -> Any:
    """The keys of a report, recursively (lists by their first item)."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(value[0])] if value and isinstance(value[0], dict | list) else "list"
    return "value"


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _unsigned_store(manifest_id: str) -> bytes:
    """A structurally valid manifest store (JUMBF) that holds no claim or signature at all."""
    tail = bytes.fromhex("00110010800000aa00389b71")

    def superbox(type_uuid: bytes, label: str, *children: bytes) -> bytes:
        return _box(b"jumb", _box(b"jumd", type_uuid + b"\x03" + label.encode() + b"\0") + b"".join(children))

    return superbox(b"c2pa" + tail, "c2pa", superbox(b"c2ma" + tail, manifest_id, _box(b"json", b"{}")))


# --- Remote: label on A, registered on B, verified on A ------------------------------------


def test_a_label_registers_remotely_and_a_stripped_copy_is_recovered_through_it(provider_a, remote):
    url, _, repository_ctx = remote
    result = label_media(provider_a, _photo(1), generator="ImageGen", model="v2", principal=ACTOR)
    assert result.registered_at == url
    assert _local_registry_is_empty(provider_a, result)
    held = manifest_registry.get_manifest(repository_ctx, result.manifest_id, ACTOR)
    assert held.label_id == result.label_id and held.generator == "ImageGen"

    signer = _signer_of(provider_a, result)
    report = verify_media(provider_a, _strip(result.data), principal=ACTOR)
    assert report.manifest is None and report.watermark["label_id"] == result.label_id
    assert report.verdict == "recovered", report.reasons
    assert report.summary == "AI label recovered from the watermark after the metadata was removed"
    assert report.repository["source"] == url
    assert report.repository["by_label_id"] == [{"manifest_id": result.manifest_id,
                                                 "alg": WATERMARK_BINDING_ALG, "similarity_score": 100}]
    recovered = report.repository["recovered_manifest"]
    assert recovered["manifest_id"] == result.manifest_id and recovered["label_id"] == result.label_id
    assert recovered["trusted"] and recovered["validation_state"] == "Trusted"
    assert recovered["failure_codes"] == [] and recovered["registered_at"] is None
    assert {binding["alg"] for binding in recovered["bindings"]} == {WATERMARK_BINDING_ALG, PDQ_BINDING_ALG}
    assert report.made_by == {"generator": "ImageGen", "model": "v2", "signer": signer,
                              "created_at": result.created_at.replace("+00:00", "Z"),
                              "source": f"repository manifest {result.manifest_id}",
                              "registered_by": None}
    assert report.consistency["consistent"] and report.consistency["distance"] <= 8
    assert any("signed by" in reason and "(trusted)" in reason for reason in report.reasons)
    assert report.warnings == []
    assert _local_registry_is_empty(provider_a, result)  # verifying reads, never copies
    # The mark is the provider's secret key's, which B holds and A does not: B read it.
    held_key = manifest_registry.get_manifest(repository_ctx, result.manifest_id, ACTOR).watermark_key_id
    assert result.watermark_key_id == held_key != "public"
    assert [(mark["label_id"], mark["key_id"], mark["read_by"]) for mark in report.watermark["marks"]] == [
        (result.label_id, result.watermark_key_id, url)]
    assert any(f"the watermark was read by the manifest repository at {url}, which holds the providers' "
               "keys" in reason for reason in report.reasons)


def test_a_remotely_read_label_marked_again_with_the_public_key_is_recovered(provider_a, remote):
    url, _, _ = remote
    result = label_media(provider_a, _photo(17), generator="ImageGen", model=None, principal=ACTOR)
    pixels = np.asarray(Image.open(io.BytesIO(result.data)).convert("RGB"))
    again = encode_image(embed(pixels, 0x0FEDCBA987654321), "PNG")
    report = verify_media(provider_a, again, principal=ACTOR)
    assert report.verdict == "recovered", report.reasons
    assert report.repository["recovered_manifest"]["manifest_id"] == result.manifest_id
    assert {(mark["label_id"], mark["key_id"], mark["read_by"]) for mark in report.watermark["marks"]} == {
        (result.label_id, result.watermark_key_id, url), ("0fedcba987654321", "public", "local")}
    assert report.watermark["marks"][0]["label_id"] == result.label_id
    assert any(reason.startswith("a second watermark (label id 0fedcba987654321, the public key)")
               for reason in report.reasons), report.reasons


def test_the_signed_file_verifies_and_the_remote_lookup_is_reported(provider_a, remote):
    url, _, _ = remote
    result = label_media(provider_a, _photo(2), generator="ImageGen", model=None, principal=ACTOR)
    report = verify_media(provider_a, result.data, principal=ACTOR)
    assert report.verdict == "verified"
    assert report.repository["source"] == url
    assert [match["manifest_id"] for match in report.repository["by_label_id"]] == [result.manifest_id]
    assert [match["manifest_id"] for match in report.repository["by_fingerprint"]] == [result.manifest_id]


def test_without_a_watermark_the_remote_fingerprint_recovers_the_manifest(provider_a, remote):
    result = label_media(provider_a, _photo(3), generator="ImageGen", model=None, principal=ACTOR)
    original = _strip(_photo(3))  # the pixels before the watermark: a near copy with no mark
    report = verify_media(provider_a, original, principal=ACTOR)
    assert not report.watermark["found"]
    assert report.verdict == "recovered", report.reasons
    assert "fingerprint" in report.summary
    assert report.repository["by_fingerprint"][0]["manifest_id"] == result.manifest_id
    assert report.repository["recovered_manifest"]["manifest_id"] == result.manifest_id
    assert report.made_by["signer"] and report.consistency["consistent"]


def test_an_unlabelled_image_is_unknown_through_the_remote_repository(provider_a):
    report = verify_media(provider_a, _photo(4), principal=ACTOR)
    assert report.verdict == "unknown" and report.repository["by_fingerprint"] == []


def test_local_and_remote_reports_have_the_same_shape(installation, provider_a):
    local = installation("local-only")
    reports: list[VerifyReport] = []
    for ctx in (local, provider_a):
        result = label_media(ctx, _photo(5), generator="ImageGen", model="v2", principal=ACTOR)
        reports.append(verify_media(ctx, _strip(result.data), principal=ACTOR))
    on_local, on_remote = reports
    assert on_local.verdict == on_remote.verdict == "recovered"
    assert on_local.repository["source"] == "local"
    assert _shape(on_local.to_dict()) == _shape(on_remote.to_dict())
    assert on_local.made_by["signer"] and on_local.made_by["registered_by"] == ACTOR.actor
    assert on_local.repository["recovered_manifest"]["registered_at"]


# --- Recovered manifests are validated, local and remote alike ------------------------------


@pytest.mark.parametrize("where", ["local", "remote"])
def test_a_registered_manifest_signed_by_a_foreign_ca_recovers_nothing(where, installation, provider_a):
    ctx = installation("local-only") if where == "local" else provider_a
    result = label_media(ctx, _photo(6), generator="Forger", model=None, principal=ACTOR,
                         identity=_foreign_identity())
    report = verify_media(ctx, _strip(result.data), principal=ACTOR)
    assert report.verdict == "invalid", report.reasons
    assert report.summary == "A label is present but invalid, tampered or untrusted"
    assert any("is not a trusted signer" in reason for reason in report.reasons)
    recovered = report.repository["recovered_manifest"]
    assert recovered["manifest_id"] == result.manifest_id
    assert not recovered["trusted"] and "signingCredential.untrusted" in recovered["failure_codes"]
    assert report.made_by["signer"] is None  # only a trusted signer is named as the maker's
    assert report.consistency["consistent"]  # the content fits; the signature does not


@pytest.mark.parametrize("where", ["local", "remote"])
def test_our_own_recovered_manifest_names_its_signer(where, installation, provider_a):
    ctx = installation("local-only") if where == "local" else provider_a
    result = label_media(ctx, _photo(7), generator="ImageGen", model=None, principal=ACTOR)
    report = verify_media(ctx, _strip(result.data), principal=ACTOR)
    assert report.verdict == "recovered"
    assert report.made_by["signer"] == _signer_of(ctx, result)
    assert report.repository["recovered_manifest"]["signer"] == report.made_by["signer"]


def test_an_installation_that_does_not_trust_the_signer_recovers_nothing(installation, provider_a, remote):
    """Trust is the verifier's: the same repository, another installation with other roots."""
    url, _, _ = remote
    result = label_media(provider_a, _photo(8), generator="ImageGen", model=None, principal=ACTOR)
    elsewhere = installation("verifier-c", url)
    stripped = verify_media(elsewhere, _strip(result.data), principal=ACTOR)
    assert stripped.verdict == "invalid"
    assert any("is not a trusted signer" in reason for reason in stripped.reasons)
    assert verify_media(elsewhere, result.data, principal=ACTOR).verdict == "invalid"
    trusting = installation("verifier-d", url, keys=False,
                            trust_anchors=provider_a.settings.provenance_dir / "trust-anchors.pem")
    assert verify_media(trusting, _strip(result.data), principal=ACTOR).verdict == "recovered"


def test_a_label_bound_to_a_manifest_that_does_not_name_it_is_invalid(provider_a, remote):
    """The repository's binding is not signed; the manifest's own soft bindings must name the label."""
    url, key, _ = remote
    result = label_media(provider_a, _photo(9), generator="ImageGen", model=None, principal=ACTOR)
    other_label = "0123456789abcdef"
    with RepositoryClient(url, api_key=key) as client:
        client.add_bindings(result.manifest_id, [(WATERMARK_BINDING_ALG, other_label)])
    # On another picture (on the labelled one's own pixels, its fingerprint would recover the label).
    marked = encode_image(embed(photo_pixels(109, 640, 480), int(other_label, 16)), "PNG")
    report = verify_media(provider_a, marked, principal=ACTOR)
    assert report.watermark["label_id"] == other_label
    assert report.verdict == "invalid"
    assert any(f"do not name label id {other_label}" in reason for reason in report.reasons)
    assert report.repository["recovered_manifest"] is None and report.made_by is None


def test_an_unsigned_store_in_the_repository_is_invalid(provider_a, remote):
    url, key, _ = remote
    label_id = "fedcba9876543210"
    manifest_id = "urn:c2pa:00000000-0000-4000-8000-000000000001"
    with RepositoryClient(url, api_key=key) as client:
        client.register_manifest(manifest_id, _unsigned_store(manifest_id),
                                 [(WATERMARK_BINDING_ALG, label_id)], label_id=label_id, generator="Fake")
    marked = encode_image(embed(photo_pixels(10, 640, 480), int(label_id, 16)), "PNG")
    report = verify_media(provider_a, marked, principal=ACTOR)
    assert report.verdict == "invalid"
    assert any("cannot be read as a C2PA manifest store" in reason for reason in report.reasons)


def test_a_watermark_copied_onto_other_content_is_invalid_remotely(provider_a):
    # A public mark: anyone can read it, and so copy it.
    result = label_media(provider_a, _photo(11), generator="ImageGen", model=None, principal=ACTOR,
                         public_mark=True)
    copied = encode_image(embed(photo_pixels(12, 640, 480), int(result.label_id, 16)), "PNG")
    report = verify_media(provider_a, copied, principal=ACTOR)
    assert report.verdict == "invalid"
    assert report.consistency["consistent"] is False
    assert any("belongs to different content" in reason for reason in report.reasons)


# --- An unreachable repository -------------------------------------------------------------


@pytest.fixture
def labelled(provider_a) -> tuple[ServiceContext, LabelResult]:
    return provider_a, label_media(provider_a, _photo(13), generator="ImageGen", model=None, principal=ACTOR)


@pytest.fixture
def cut_off(installation, labelled, dead_url) -> ServiceContext:
    """An installation trusting A's signer, whose repository URL answers nothing."""
    provider, _ = labelled
    return installation("cut-off", dead_url, keys=False,
                        trust_anchors=provider.settings.provenance_dir / "trust-anchors.pem")


def test_an_embedded_manifest_still_verifies_with_a_warning(cut_off, labelled, dead_url):
    _, result = labelled
    report = verify_media(cut_off, result.data, principal=ACTOR)
    assert report.verdict == "verified"
    assert report.repository["by_label_id"] == [] and report.repository["source"] == dead_url
    assert any("could not be reached" in warning and dead_url in warning for warning in report.warnings)


def test_a_found_watermark_cannot_be_confirmed_and_says_so(cut_off, labelled, installation):
    provider, result = labelled
    # A secret-key mark: only the repository could read it.
    with pytest.raises(RepositoryUnavailable, match=r"only the repository reads them.*could not be reached"):
        verify_media(cut_off, _strip(result.data), principal=ACTOR)
    # A public mark is read here, but only the repository can confirm its label.
    public = label_media(provider, _photo(16), generator="ImageGen", model=None, principal=ACTOR,
                         public_mark=True)
    with pytest.raises(RepositoryUnavailable, match=f"label id {public.label_id}.*could not be reached"):
        verify_media(cut_off, _strip(public.data), principal=ACTOR)


def test_a_fingerprint_that_cannot_be_looked_up_is_no_unknown(cut_off):
    with pytest.raises(RepositoryUnavailable, match="fingerprint could not be looked up"):
        verify_media(cut_off, _photo(14), principal=ACTOR)


def test_a_file_with_nothing_to_look_up_is_unknown_without_the_repository(cut_off):
    flat = encode_image(photo_pixels(15, 64, 64) * 0 + 128, "PNG")  # too small to mark, no fingerprint
    report = verify_media(cut_off, flat, principal=ACTOR)
    assert report.verdict == "unknown" and not report.watermark["checked"]
    assert not any("could not be reached" in warning for warning in report.warnings)


def test_the_cli_exits_6_for_the_file_whose_verdict_needs_the_repository(
        cut_off, labelled, tmp_path, monkeypatch, dead_url):
    _, result = labelled
    settings = cut_off.settings
    monkeypatch.setenv("DEEPSHIELD_HOME", str(settings.home))
    monkeypatch.setenv("DEEPSHIELD_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("DEEPSHIELD_MANIFEST_REPOSITORY_URL", dead_url)
    monkeypatch.setenv("DEEPSHIELD_TRUST_ANCHORS", str(settings.provenance.trust_anchors))
    signed, stripped = tmp_path / "signed.jpg", tmp_path / "stripped.png"
    signed.write_bytes(result.data)
    stripped.write_bytes(_strip(result.data))
    outcome = CliRunner().invoke(cli_app, ["verify", str(signed), str(stripped), "--json"])
    assert outcome.exit_code == 6, outcome.stdout
    reports = json.loads(outcome.stdout)
    assert reports[0]["verdict"] == "verified"
    assert reports[1]["verdict"] is None and reports[1]["error"]["code"] == "repository_unavailable"
