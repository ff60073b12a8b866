"""What DeepShield signs must read the same in a second, independent C2PA reader.

Primary: ``@trustnxt/c2pa-ts``, a pure TypeScript C2PA implementation (no c2pa-rs inside, so not the
same code that signed), run by node and installed with npm into a cache outside the repository
(``~/.cache/deepshield-c2pa-node``, or ``$DEEPSHIELD_C2PA_NODE_CACHE``). These tests skip, saying
why, where node/npm or the npm registry is unavailable. c2pa-ts checks signatures and hashes but not
certificate trust, and reads JPEG, PNG and BMFF (MP4), not WebP.

Not ``@contentauth/c2pa-node``: its install script downloads a native binary from GitHub releases
(not the npm registry), so it cannot install where only the registry is reachable; it also wants
node >= 22, and 0.9.8 depends on a package missing from the registry.

Always run: c2pa-python's own ``Reader`` in a separate, fresh Python process (the fallback the
design asks for), which also shows that nothing in this process's state decides the result.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deepshield.provenance import (
    PDQ_BINDING_ALG,
    TRAINED_ALGORITHMIC_MEDIA,
    WATERMARK_BINDING_ALG,
    SignedMedia,
    read_content_credentials,
)

C2PA_TS_PACKAGE, C2PA_TS_VERSION = "@trustnxt/c2pa-ts", "0.9.4"
INSTALL_TIMEOUT_S = 120
CACHE = Path(os.environ.get("DEEPSHIELD_C2PA_NODE_CACHE", Path.home() / ".cache" / "deepshield-c2pa-node"))
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "video/mp4": "mp4"}  # what c2pa-ts reads

# Reads each file named on the command line; prints one JSON array. c2pa-ts only accepts HEIF brands
# for BMFF, so MP4 brands are added (the BMFF reading itself is generic ISO BMFF).
READER_SCRIPT = """\
import * as fs from 'node:fs/promises';
import { BMFF, JPEG, PNG } from '@trustnxt/c2pa-ts/asset';
import { SuperBox } from '@trustnxt/c2pa-ts/jumbf';
import { ManifestStore, ValidationResult } from '@trustnxt/c2pa-ts/manifest';

for (const brand of ['isom', 'iso2', 'mp41', 'mp42', 'avc1']) BMFF.canReadBrands.add(brand);
const results = [];
for (const path of process.argv.slice(2)) {
  const buffer = new Uint8Array(await fs.readFile(path));
  const asset = JPEG.canRead(buffer) ? new JPEG(buffer)
    : PNG.canRead(buffer) ? new PNG(buffer)
    : BMFF.canRead(buffer) ? new BMFF(buffer) : null;
  if (!asset) { results.push({ path, error: 'unsupported format' }); continue; }
  const jumbf = asset.getManifestJUMBF();
  if (!jumbf) { results.push({ path, manifest: false }); continue; }
  let result, manifest;
  try {
    const store = ManifestStore.read(SuperBox.fromBuffer(jumbf));
    manifest = store.getActiveManifest();
    result = await store.validate(asset);
  } catch (error) {
    result = ValidationResult.fromError(error);
  }
  const assertions = (manifest?.assertions?.assertions ?? [])
    .filter((a) => !a.label.startsWith('c2pa.hash'))
    .map((a) => ({ label: a.label, data: a.sourceBox?.contentBoxes?.[0]?.content ?? null }));
  results.push({
    path, manifest: true, label: manifest?.label ?? null, valid: result.isValid,
    codes: result.statusEntries.map((e) => ({ code: e.code, success: e.success })),
    assertions,
  });
}
console.log(JSON.stringify(results));
"""


@contextlib.contextmanager
def _locked(directory: Path) -> Iterator[None]:
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _installed(directory: Path) -> bool:
    stamp = directory / ".installed"
    return stamp.is_file() and stamp.read_text() == f"{C2PA_TS_PACKAGE}@{C2PA_TS_VERSION}"


@pytest.fixture(scope="module")
def c2pa_ts() -> tuple[str, Path]:
    """(node executable, reader script) with c2pa-ts installed next to the script."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the independent c2pa-ts reader; they are not installed")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    if int(version.strip().lstrip("v").split(".")[0] or 0) < 18:
        pytest.skip(f"c2pa-ts needs node >= 18 (WebCrypto); this is node {version.strip()}")
    CACHE.mkdir(parents=True, exist_ok=True)
    with _locked(CACHE):
        if not _installed(CACHE):
            (CACHE / "package.json").write_text('{"private": true, "type": "module"}\n')
            try:
                install = subprocess.run(
                    [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", "--fetch-retries=1",
                     "--fetch-timeout=30000", f"{C2PA_TS_PACKAGE}@{C2PA_TS_VERSION}"],
                    cwd=CACHE, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S, check=False,
                )
            except subprocess.TimeoutExpired:
                pytest.skip(f"npm install {C2PA_TS_PACKAGE} took over {INSTALL_TIMEOUT_S} s (registry slow?)")
            if install.returncode != 0:
                pytest.skip(f"npm could not install {C2PA_TS_PACKAGE} (registry unreachable?): "
                            f"{(install.stderr or install.stdout)[-400:]}")
            (CACHE / ".installed").write_text(f"{C2PA_TS_PACKAGE}@{C2PA_TS_VERSION}")
        script = CACHE / "read-c2pa.mjs"
        if not script.is_file() or script.read_text() != READER_SCRIPT:
            script.write_text(READER_SCRIPT)
    return node, script


def _read_with_c2pa_ts(c2pa_ts: tuple[str, Path], paths: list[Path]) -> list[dict[str, Any]]:
    node, script = c2pa_ts
    run = subprocess.run([node, str(script), *map(str, paths)], capture_output=True, text=True,
                         timeout=60, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    results: list[dict[str, Any]] = json.loads(run.stdout)
    return results


def _failures(result: dict[str, Any]) -> list[str]:
    return [entry["code"] for entry in result["codes"] if not entry["success"]]


def _assertion(result: dict[str, Any], label: str) -> list[Any]:
    return [a["data"] for a in result["assertions"] if a["label"] == label]


def test_c2pa_ts_validates_what_we_sign(
    c2pa_ts: tuple[str, Path], signed: dict[str, SignedMedia], tmp_path: Path, facts: Any
) -> None:
    paths = []
    for mime, extension in EXTENSIONS.items():
        paths.append(tmp_path / f"signed.{extension}")
        paths[-1].write_bytes(signed[mime].data)
    results = _read_with_c2pa_ts(c2pa_ts, paths)
    for mime, result in zip(EXTENSIONS, results, strict=True):
        assert result["manifest"] is True, result
        assert result["valid"] is True, (mime, result["codes"])
        assert _failures(result) == []
        codes = {entry["code"] for entry in result["codes"]}
        assert "claimSignature.validated" in codes
        assert ("assertion.bmffHash.match" if mime == "video/mp4" else "assertion.dataHash.match") in codes
        assert result["label"] == signed[mime].manifest_id
        (actions,) = _assertion(result, "c2pa.actions.v2")
        created = actions["actions"][0]
        assert created["action"] == "c2pa.created"
        assert created["digitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
        assert created["softwareAgent"]["name"] == facts.generator
        assert actions["actions"][1]["action"] == "c2pa.watermarked.bound"
        bindings = {b["alg"]: b["blocks"][0]["value"] for b in _assertion(result, "c2pa.soft-binding")}
        assert bindings == {WATERMARK_BINDING_ALG: facts.label_id, PDQ_BINDING_ALG: facts.pdq_hex}
        (label,) = _assertion(result, "org.deepshield.label")
        assert label["label_id"] == facts.label_id and label["model"] == facts.model


def test_c2pa_ts_sees_tampering(
    c2pa_ts: tuple[str, Path], signed: dict[str, SignedMedia], tmp_path: Path
) -> None:
    jpeg = bytearray(signed["image/jpeg"].data)
    position = jpeg.rfind(b"\xff\xda") + 200
    while jpeg[position] in (0xFF, 0xFE) or jpeg[position - 1] == 0xFF:
        position += 1
    jpeg[position] ^= 0x01
    mp4 = bytearray(signed["video/mp4"].data)
    mp4[mp4.find(b"mdat") + 64] ^= 0x01
    (tmp_path / "tampered.jpg").write_bytes(jpeg)
    (tmp_path / "tampered.mp4").write_bytes(mp4)
    jpeg_result, mp4_result = _read_with_c2pa_ts(
        c2pa_ts, [tmp_path / "tampered.jpg", tmp_path / "tampered.mp4"]
    )
    assert jpeg_result["valid"] is False and "assertion.dataHash.mismatch" in _failures(jpeg_result)
    assert mp4_result["valid"] is False and "assertion.bmffHash.mismatch" in _failures(mp4_result)


SEPARATE_PROCESS_READER = """\
import io, json, sys
import c2pa
data, anchors = open(sys.argv[1], "rb").read(), open(sys.argv[2]).read()
settings = {"verify": {"remote_manifest_fetch": False, "ocsp_fetch": False},
            "trust": {"anchors": [{"trust_kind": "manifest", "trust_anchors": anchors}]}}
with c2pa.Context.from_dict(settings) as context:
    reader = c2pa.Reader(sys.argv[3], io.BytesIO(data), None, context)
    print(json.dumps({"state": reader.get_validation_state(), "manifest": reader.get_active_manifest()}))
"""


@pytest.mark.parametrize("mime", ["image/jpeg", "image/png", "image/webp", "video/mp4"])
def test_separate_process_reader_agrees(
    mime: str, signed: dict[str, SignedMedia], anchors: bytes, tmp_path: Path
) -> None:
    """Fallback reader: c2pa-python's Reader, used directly, in a fresh interpreter (WebP included)."""
    asset, anchor_file = tmp_path / "asset", tmp_path / "anchors.pem"
    asset.write_bytes(signed[mime].data)
    anchor_file.write_bytes(anchors)
    run = subprocess.run(
        [sys.executable, "-c", SEPARATE_PROCESS_READER, str(asset), str(anchor_file), mime],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    other = json.loads(run.stdout)
    ours = read_content_credentials(signed[mime].data, mime, trust_anchors_pem=anchors)
    assert ours is not None
    assert other["state"] == ours.validation_state == "Trusted"
    assert other["manifest"]["label"] == ours.manifest_id
    bindings = [a["data"] for a in other["manifest"]["assertions"] if a["label"] == "c2pa.soft-binding"]
    assert [{"alg": b["alg"], "value": b["blocks"][0]["value"]} for b in bindings] == ours.soft_bindings
