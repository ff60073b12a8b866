"""Use case: label a generated image or video with all three layers.

1. the invisible watermark, carrying a fresh 64-bit label id;
2. a signed C2PA manifest (``c2pa.created`` by a trained algorithm, the generator, model and
   time, soft bindings for the label id and the PDQ fingerprint, ``c2pa.watermarked.bound``);
3. the manifest and its bindings registered in the manifest repository (this installation's
   store, or a remote one at ``DEEPSHIELD_MANIFEST_REPOSITORY_URL``).

So a copy whose metadata was stripped still leads back to its manifest: by the watermark's
label id, or by the fingerprint. An optional visible label ("AI" badge, or China's explicit
label) goes into the pixels before the watermark.

The mark is made with the provider's own secret key by default (``watermark_keys``; with a
remote repository, the key that repository holds for the provider), so only the repository
reads it and no public oracle helps remove it. ``public_mark=True`` uses DeepShield's public key
instead: anyone can then read the label offline, and anyone can remove it
(docs/WATERMARK_KEYS.md). The signed manifest and the registry name the key either way.
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

from deepshield.errors import InvalidRequest
from deepshield.labels import VisibleLabelSpec, apply_visible_label, label_frame_at
from deepshield.media import MediaKind, decode_image
from deepshield.media.sniff import sniff_media_type
from deepshield.media.video import probe_video
from deepshield.provenance.c2pa_signing import SigningIdentity, load_signing_identity, sign_media
from deepshield.provenance.manifest import (
    PDQ_BINDING_ALG,
    WATERMARK_BINDING_ALG,
    build_manifest_definition,
)
from deepshield.services.access import Action, Principal, authorize
from deepshield.services.context import ServiceContext
from deepshield.services.label import manifest_registry, watermark_keys
from deepshield.services.spread.hashing import hash_media
from deepshield.settings import Settings, import_callback
from deepshield.signals import keypoints as local_features
from deepshield.signals.placed_regions import placed_region_hashes
from deepshield.signals.repost import region_hashes
from deepshield.signals.vpdq import unique_good_frames
from deepshield.store import audit_repository as audit
from deepshield.watermark import PUBLIC_KEY, WatermarkKey, embed
from deepshield.watermark.analysis import MIN_SHORT_SIDE
from deepshield.watermark.video import embed_video

#: What ``label`` accepts, by sniffed media type name, with how the output is encoded.
_IMAGE_OUTPUT: dict[str, tuple[str, str, dict[str, object]]] = {
    "jpeg": ("JPEG", "image/jpeg", {"quality": 95, "subsampling": 0}),
    "png": ("PNG", "image/png", {"optimize": False}),
    "webp": ("WEBP", "image/webp", {"quality": 95, "method": 4}),
}
_VIDEO_OUTPUT = {"mp4": "video/mp4"}
LABEL_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".mp4"}


@dataclass(frozen=True)
class LabelResult:
    data: bytes  # the labelled file: watermarked, signed
    mime_type: str
    label_id: str  # 16 hex digits: the watermark payload and the soft-binding value
    manifest_id: str
    pdq_hex: str | None
    generator: str
    model: str | None
    created_at: str
    visible_label: str | None
    registered_at: str  # "local" or the repository URL
    watermark_key_id: str = "public"  # the key that made the mark: "public" or the provider's key id


def new_label_id() -> str:
    return secrets.token_hex(8)


def signing_identity(settings: Settings) -> SigningIdentity:
    """The configured signer: explicit certificate and key (or callback), else ``keys init``'s."""
    config = settings.provenance
    if config.signing_certificate is None and not config.signing_callback:
        identity = load_signing_identity(settings.provenance_dir)
    else:
        if config.signing_certificate is None:
            raise InvalidRequest("DEEPSHIELD_SIGNING_CALLBACK needs DEEPSHIELD_SIGNING_CERT (the "
                                 "certificate chain that matches the callback's key)")
        identity = SigningIdentity(
            certificate_chain_pem=_read(config.signing_certificate, "DEEPSHIELD_SIGNING_CERT"),
            private_key_pem=(_read(config.signing_key, "DEEPSHIELD_SIGNING_KEY")
                             if config.signing_key is not None else None),
            sign_callback=(import_callback(config.signing_callback, "DEEPSHIELD_SIGNING_CALLBACK")
                           if config.signing_callback else None),
        )
        if identity.private_key_pem is None and identity.sign_callback is None:
            raise InvalidRequest("set DEEPSHIELD_SIGNING_KEY or DEEPSHIELD_SIGNING_CALLBACK to sign")
    if config.tsa_url:
        identity = SigningIdentity(identity.certificate_chain_pem, identity.private_key_pem,
                                   identity.algorithm, config.tsa_url, identity.sign_callback)
    return identity


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(f"{variable}: cannot read {path}: {exc.strerror}") from None


def label_media(ctx: ServiceContext, data: bytes, *, generator: str, model: str | None,
                principal: Principal, title: str = "", visible: VisibleLabelSpec | None = None,
                identity: SigningIdentity | None = None, public_mark: bool = False,
                watermark_key: WatermarkKey | None = None) -> LabelResult:
    """Watermark, sign and register one image (JPEG, PNG, WebP) or MP4 video.

    The output keeps the input's format. Nothing is written anywhere but the repository
    record (and, on a provider's first label, its new watermark key); on any error nothing is
    registered. ``Forbidden`` before any work unless ``principal`` may label (``Action.LABEL``:
    a provider, the operator); the manifest is registered as its.

    The mark's key: ``watermark_key`` if given (a door that labels many files looks it up once
    with ``labelling_key``), else ``labelling_key``'s choice: the provider's secret key, or the
    public key with ``public_mark``.
    """
    authorize(principal, Action.LABEL)
    generator = generator.strip()
    if not generator:
        raise InvalidRequest("name the generator (the AI system that made the content)")
    if len(generator) > 200 or (model is not None and len(model) > 200):
        raise InvalidRequest("the generator and model names are limited to 200 characters")
    model = model.strip() or None if model is not None else None
    media_type = sniff_media_type(data[:64])

    def marking_key() -> WatermarkKey:
        # Asked for only once the input is known good: a refused file makes no key.
        return watermark_key if watermark_key is not None else labelling_key(ctx, principal,
                                                                             public_mark=public_mark)

    label_id = new_label_id()
    payload = int(label_id, 16)
    pdq_hex: str | None = None
    regions: list[tuple[tuple[float, float, float, float], str]] = []  # registered as fingerprints
    placed: list[tuple[tuple[float, float, float, float], str]] = []  # signed only: placed_regions
    size: tuple[int, int] | None = None  # an image's width and height, signed
    features: bytes | None = None  # an image's local features, registered (not signed)
    frames: list[tuple[float, str]] = []
    if media_type.kind is MediaKind.VIDEO:
        mime_type = _VIDEO_OUTPUT.get(media_type.name)
        if mime_type is None:
            raise InvalidRequest(f"cannot label {media_type.name} video; label MP4 files")
        hook = None
        if visible is not None:
            spec = visible

            def hook(seconds: float, pixels: np.ndarray) -> np.ndarray:
                return label_frame_at(seconds, pixels, spec)

        info = probe_video(data, ctx.settings.limits)
        if min(info.width, info.height) < MIN_SHORT_SIDE:
            raise InvalidRequest(f"the video is {info.width}×{info.height}; labelling needs a short "
                                 f"side of at least {MIN_SHORT_SIDE} pixels")
        try:
            key = marking_key()
            marked = embed_video(data, payload, ctx.settings.limits, key=key, before_marking=hook)
        except ValueError as exc:  # a frame the watermark cannot carry (e.g. a size change mid-stream)
            raise InvalidRequest(f"the video cannot carry the watermark: {exc}") from None
        frames = _frame_fingerprints(marked, ctx.settings)
        if frames:  # the first good frame stands for the whole; every sampled frame is signed
            pdq_hex = frames[0][1]
    else:
        output = _IMAGE_OUTPUT.get(media_type.name)
        if output is None:
            known = ", ".join(sorted(_IMAGE_OUTPUT))
            raise InvalidRequest(f"cannot label a {media_type.name} image; label {known} files")
        image_format, mime_type, options = output
        pixels = decode_image(data, ctx.settings.limits).pixels
        if min(pixels.shape[:2]) < MIN_SHORT_SIDE:
            raise InvalidRequest(f"the image is {pixels.shape[1]}×{pixels.shape[0]}; labelling "
                                 f"needs a short side of at least {MIN_SHORT_SIDE} pixels")
        if visible is not None:
            try:
                pixels = apply_visible_label(pixels, visible)
            except ValueError as exc:
                raise InvalidRequest(f"visible label: {exc}") from None
        buffer = io.BytesIO()
        key = marking_key()
        marked_pixels = embed(pixels, payload, key=key)
        Image.fromarray(marked_pixels).save(buffer, image_format, **options)
        marked = buffer.getvalue()
        fingerprint = hash_media(marked, ctx.settings.limits).pdq
        pdq_hex = fingerprint.hex if fingerprint is not None else None
        regions = [(region, value.hex) for region, value in region_hashes(marked_pixels)]
        placed = [(region, value.hex) for region, value in placed_region_hashes(marked_pixels)]
        size = (marked_pixels.shape[1], marked_pixels.shape[0])
        features = local_features.to_bytes(local_features.keypoints(marked_pixels))
    created_at = datetime.now(UTC).replace(microsecond=0)
    definition = build_manifest_definition(
        label_id=label_id, generator=generator, model=model, created_at=created_at,
        pdq_hex=pdq_hex, title=title or f"labelled.{mime_type.split('/')[1]}", format=mime_type,
        visible_label=visible.style if visible is not None else None,
        pdq_regions=regions + placed if pdq_hex else (), pdq_frames=frames[1:], watermark_key_id=key.key_id,
        size=size)
    signed = sign_media(marked, mime_type, definition, identity or signing_identity(ctx.settings))
    bindings = [(WATERMARK_BINDING_ALG, label_id)]
    if pdq_hex:  # the whole image's fingerprint, then its crops' (as signed; not the placed regions)
        bindings += [(PDQ_BINDING_ALG, pdq_hex)] + [(PDQ_BINDING_ALG, value) for _, value in regions]
        bindings += [(PDQ_BINDING_ALG, value) for _, value in frames[1:]]
    registered_at = _register(ctx, signed.manifest_id, signed.manifest_store, bindings,
                              label_id=label_id, generator=generator, model=model,
                              created_at=created_at, principal=principal, watermark_key_id=key.key_id,
                              keypoints=features)
    with ctx.store.transaction() as session:
        audit.record_event(session, principal.actor, "label", f"manifest:{signed.manifest_id}",
                           kind=media_type.kind.value, visible=visible is not None,
                           watermark_key=key.key_id)
    return LabelResult(signed.data, mime_type, label_id, signed.manifest_id, pdq_hex, generator,
                       model, created_at.isoformat(), visible.style if visible else None,
                       registered_at, key.key_id)


def labelling_key(ctx: ServiceContext, principal: Principal, *, public_mark: bool = False) -> WatermarkKey:
    """The key ``principal``'s labels are marked with: ``PUBLIC_KEY`` when ``public_mark``; else its
    own secret key, held by the repository labels are registered in (this installation's store,
    made on first use; or the remote repository's, fetched with the configured provider key).
    ``Forbidden`` unless ``principal`` may label."""
    authorize(principal, Action.LABEL)
    if public_mark:
        return PUBLIC_KEY
    url = ctx.settings.provenance.repository_url
    if url:
        from deepshield.provenance.repository_client import RepositoryClient

        with RepositoryClient(url, api_key=ctx.settings.provenance.repository_key or None) as client:
            return watermark_keys.parse_key_document(client.own_watermark_key())
    return watermark_keys.provider_key(ctx, principal)


#: At most this many sampled frames of a video are signed (one a second, the first ones kept).
MAX_SIGNED_FRAMES = 100


def _frame_fingerprints(video: bytes, settings: Settings) -> list[tuple[float, str]]:
    """(seconds, PDQ) of the labelled video's distinct good frames, one a second."""
    features = hash_media(video, settings.limits, seconds_per_video_hash=1.0).vpdq
    good = unique_good_frames(features, settings.match.pdq_min_quality)
    return [(frame.timestamp, frame.pdq_hex) for frame in good[:MAX_SIGNED_FRAMES]]


def _register(ctx: ServiceContext, manifest_id: str, manifest_store: bytes,
              bindings: list[tuple[str, str]], *, label_id: str, generator: str,
              model: str | None, created_at: datetime, principal: Principal,
              watermark_key_id: str, keypoints: bytes | None = None) -> str:
    url = ctx.settings.provenance.repository_url
    if url:
        from deepshield.provenance.repository_client import RepositoryClient

        with RepositoryClient(url, api_key=ctx.settings.provenance.repository_key or None) as client:
            client.register_manifest(manifest_id, manifest_store, bindings, label_id=label_id,
                                     generator=generator, model=model, created_at=created_at,
                                     watermark_key_id=watermark_key_id, keypoints=keypoints)
        return url
    manifest_registry.register_manifest(ctx, manifest_id, manifest_store, bindings,
                                        label_id=label_id, generator=generator, model=model,
                                        created_at=created_at, principal=principal,
                                        watermark_key_id=watermark_key_id, keypoints=keypoints)
    return "local"
