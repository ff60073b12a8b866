"""The in-browser PDQ (``static/hashing/pdq.js``) run in Node, against the server's ``pdqhash``.

One Node process hashes all 600+ pixel arrays of ``pdq_cases`` (read from one binary file) and
writes their hashes, qualities and DCT coefficients; every one must equal the server's bit for bit.
The constants written in pdq.js (the cosine table, the self-test's known answer) are rebuilt here
from their definitions. Not a browser test: Node is fast and the same engine family as Chromium.
Where Node is missing the tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pdqhash
import pytest

from deepshield.signals.pdq import pdq_distance, pdq_from_pixels
from deepshield.web.templating import STATIC_DIR
from web.pdq_cases import PixelCase, dct_matrix_hex, pixel_cases, self_test_pixels, write_pixel_cases

PDQ_JS = STATIC_DIR / "hashing" / "pdq.js"
#: The reader of the cases files, shared with the browser harness.
CASES_JS = Path(__file__).resolve().parent / "pages" / "pdq-cases.js"
NODE = os.environ.get("DEEPSHIELD_TEST_NODE", "/usr/bin/node")
MIN_CASES = 600

# Reads the cases file, hashes each case (alpha filled with a pattern: it must not matter) and prints
# one JSON document. Coefficients are the 256 float32 bit patterns in hex, null for sides under 5.
CASES_RUNNER = r"""
import { readFileSync } from 'node:fs';
const [moduleUrl, casesPath, casesModuleUrl] = process.argv.slice(2);
const { pdqHash, pdqFloat256, selfTest } = await import(moduleUrl);
const { readCases } = await import(casesModuleUrl);
const results = [];
for (const { width, height, rgba } of readCases(readFileSync(casesPath))) {
  const { hash, quality } = pdqHash(rgba, width, height);
  const coefficients = width >= 5 && height >= 5
    ? Buffer.from(pdqFloat256(rgba, width, height).coefficients.buffer).toString('hex') : null;
  results.push([hash, quality, coefficients]);
}
process.stdout.write(JSON.stringify({ selfTest: selfTest(), results }));
"""

# SHA-256 and MD5 of a few byte strings through digestFile, with WebCrypto and, as in a page served
# over plain HTTP (no secure context, so no crypto.subtle), with the vendored JS alone.
DIGEST_RUNNER = r"""
const [moduleUrl, withoutSubtle] = process.argv.slice(2);
if (withoutSubtle === 'yes') Object.defineProperty(globalThis, 'crypto', { value: undefined });
const { digestFile } = await import(moduleUrl);
const sizes = [0, 1, 55, 64, 4 * 1024 * 1024 + 3, 9 * 1024 * 1024];
const out = [];
for (const size of sizes) {
  const bytes = new Uint8Array(size);
  for (let index = 0; index < size; index++) bytes[index] = (index * 31 + (index >> 8)) & 255;
  const progress = [];
  const digests = await digestFile(new Blob([bytes]), (fraction) => progress.push(fraction));
  out.push({ size, ...digests, progress, subtle: Boolean(globalThis.crypto && globalThis.crypto.subtle) });
}
process.stdout.write(JSON.stringify(out));
"""


def _node() -> str:
    found = shutil.which(NODE)
    if found is None:
        message = f"Node.js ({NODE}) is needed to run pdq.js outside a browser"
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI=true: {message}", pytrace=False)
        pytest.skip(message)
    return found


def _run_node(script: str, folder: Path, *args: str) -> Any:
    runner = folder / "runner.mjs"
    runner.write_text(script, encoding="utf-8")
    completed = subprocess.run([_node(), str(runner), PDQ_JS.as_uri(), *args], capture_output=True,
                               text=True, timeout=300, check=False)
    assert completed.returncode == 0, f"node failed:\n{completed.stderr[-4000:]}"
    return json.loads(completed.stdout)


@pytest.fixture(scope="module")
def cases() -> list[PixelCase]:
    return pixel_cases()


@pytest.fixture(scope="module")
def node_results(cases: list[PixelCase], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("pdq-node")
    write_pixel_cases(cases, folder / "cases.bin")
    results = _run_node(CASES_RUNNER, folder, str(folder / "cases.bin"), CASES_JS.as_uri())
    assert len(results["results"]) == len(cases)
    return results


def test_the_cases_cover_the_sizes_and_contents_the_issue_names(cases: list[PixelCase]) -> None:
    assert len(cases) >= MIN_CASES
    sides = {side for case in cases for side in case.pixels.shape[:2]}
    for side in (5, 63, 64, 65, 127, 128, 129, 511, 512, 513, 1023, 1024, 1025):
        assert side in sides, side
    assert any(min(case.pixels.shape[:2]) < 5 for case in cases)
    assert any(case.pixels.shape[0] != case.pixels.shape[1] for case in cases)
    patterns = {case.name.split("-")[0] for case in cases}
    assert {"flat", "horizontal", "vertical", "diagonal", "radial", "noise", "photo"} <= patterns


def test_pdq_js_in_node_equals_pdqhash_on_every_array(cases: list[PixelCase],
                                                      node_results: dict[str, Any]) -> None:
    failures = []
    for case, (js_hash, js_quality, _) in zip(cases, node_results["results"], strict=True):
        expected = pdq_from_pixels(case.pixels)
        distance = pdq_distance(js_hash, expected.hex)
        if distance != 0 or js_quality != expected.quality:
            failures.append(f"{case.name}: distance {distance}, quality {js_quality} vs {expected.quality}")
    assert failures == [], f"{len(failures)} of {len(cases)} differ:\n" + "\n".join(failures)


def test_pdq_js_dct_coefficients_are_bit_identical_to_the_reference(cases: list[PixelCase],
                                                                      node_results: dict[str, Any]) -> None:
    """Stronger than equal hashes: the 256 floats before the median are the same floats."""
    failures = []
    compared = 0
    for case, (_, _, coefficients_hex) in zip(cases, node_results["results"], strict=True):
        if coefficients_hex is None:
            continue
        compared += 1
        js_coefficients = np.frombuffer(bytes.fromhex(coefficients_hex), dtype=np.float32)
        reference, _ = pdqhash.compute_float(case.pixels)
        reference = np.asarray(reference, dtype=np.float32)[::-1]  # compute_float reverses them
        if not np.array_equal(js_coefficients.view(np.uint32), reference.view(np.uint32)):
            failures.append(f"{case.name}: max difference {np.abs(js_coefficients - reference).max()}")
    assert compared > MIN_CASES - 30
    assert failures == [], "\n".join(failures)


def test_the_self_test_passes_in_node_and_its_known_answer_is_pdqhash_s(node_results: dict[str, Any]) -> None:
    assert node_results["selfTest"] is True
    source = PDQ_JS.read_text(encoding="utf-8")
    rgba = self_test_pixels()
    expected = pdq_from_pixels(np.ascontiguousarray(rgba[:, :, :3]))
    assert re.search(r"const SELF_TEST_HASH = '([0-9a-f]{64})'", source)[1] == expected.hex
    assert int(re.search(r"const SELF_TEST_QUALITY = (\d+);", source)[1]) == expected.quality
    assert 0 < expected.quality < 100, "the self-test image should check the quality, not saturate it"
    md5_constant = re.search(r"const SELF_TEST_MD5 = '([0-9a-f]{32})'", source)[1]
    sha256_constant = re.search(r"const SELF_TEST_SHA256 = '([0-9a-f]{64})'", source)[1]
    assert md5_constant == hashlib.md5(rgba.tobytes()).hexdigest()
    assert sha256_constant == hashlib.sha256(rgba.tobytes()).hexdigest()


def test_the_shipped_cosine_table_is_the_reference_s() -> None:
    source = PDQ_JS.read_text(encoding="utf-8")
    block = source[source.index("const DCT_MATRIX_HEX = ["):source.index("].join('')")]
    assert "".join(re.findall(r"'([0-9a-f]+)'", block)) == dct_matrix_hex()
    assert "Math.cos" not in source.split("*/", 1)[1]


@pytest.mark.parametrize("without_subtle", [False, True], ids=["webcrypto", "vendored-js-only"])
def test_digest_file_streams_sha256_and_md5_equal_to_python_s(without_subtle: bool, tmp_path: Path) -> None:
    outcomes = _run_node(DIGEST_RUNNER, tmp_path, "yes" if without_subtle else "no")
    assert [outcome["size"] for outcome in outcomes] == [0, 1, 55, 64, 4 * 1024 * 1024 + 3, 9 * 1024 * 1024]
    for outcome in outcomes:
        size = outcome["size"]
        index = np.arange(size, dtype=np.int64)
        data = ((index * 31 + (index >> 8)) & 255).astype(np.uint8).tobytes()
        assert outcome["sha256"] == hashlib.sha256(data).hexdigest(), size
        assert outcome["md5"] == hashlib.md5(data).hexdigest(), size
        assert outcome["subtle"] is not without_subtle
        if size:
            assert outcome["progress"][-1] == 1
            assert outcome["progress"] == sorted(outcome["progress"])
