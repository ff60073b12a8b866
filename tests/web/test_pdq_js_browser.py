"""The in-browser hasher in a real Chromium, under the portal's Content-Security-Policy.

- The 600+ pixel arrays of ``pdq_cases`` through ``pdqHash`` on the page: every hash and quality
  equal to the server's ``pdqhash``.
- End to end from FILES, in the module Worker the portal uses (``static/hashing/worker.js``): every
  format and EXIF orientation gives the server's PDQ hash (``decode_image`` + ``pdq_from_pixels``) at
  distance 0, the same quality and size, and the SHA-256 and MD5 Python computes.
- The self-test passes on the page and in the Worker; a video gets digests and no PDQ; a file that
  is not an image gets digests; a broken image gets a plain-language error.

The page (``tests/web/pages/pdq.html``) loads the real ``/static/hashing/pdq.js`` from a plain HTTP
server started here, which sends the portal's headers (its CSP included), so these tests also show
that the hasher needs nothing the policy forbids. It serves the static files at ``/static/``, the
test pages at ``/test-pages/`` (as the shared ``static_server`` does) and this module's generated
data at ``/test-data/``, same-origin, so the page can fetch 100 MB of arrays as one file.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deepshield.media import MediaLimits, decode_image
from deepshield.signals.pdq import pdq_distance, pdq_from_pixels
from deepshield.web.templating import STATIC_DIR
from static_pages import serving_roots
from web.pdq_cases import pixel_cases, write_image_files, write_pixel_cases, write_video_file
from web_site import page_problems

pytestmark = pytest.mark.browser

HARNESS = "/test-pages/pdq.html"
TEST_PAGES = Path(__file__).resolve().parent / "pages"
#: Files with transparency that need WebGL2 to keep the colour under transparent pixels (a transparent
#: GIF does not: its one transparent colour is read from the file's palette).
TRANSPARENT_FILES = {"png-transparent.png", "png-semi-transparent.png", "png-grey-alpha.png",
                     "webp-transparent.webp", "avif-transparent.avif"}
CHROMIUM = os.environ.get("DEEPSHIELD_TEST_CHROMIUM", "/usr/bin/chromium")
#: The shared fixture's flags for a closed network, and no WebGL: without a GPU Chromium draws WebGL
#: in software (SwiftShader); ``--disable-webgl`` alone leaves OffscreenCanvas's WebGL2 on.
CHROMIUM_WITHOUT_WEBGL = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          "--disable-dev-shm-usage", "--disable-3d-apis", "--disable-software-rasterizer"]
NO_WEBGL2 = "() => new OffscreenCanvas(1, 1).getContext('webgl2') === null"


@pytest.fixture(scope="module")
def test_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pdq-browser")
    write_pixel_cases(pixel_cases(), folder / "cases.bin")
    write_image_files(folder / "images")
    write_video_file(folder / "clip.mp4")
    (folder / "notes.txt").write_text("not an image, just words\n", encoding="utf-8")
    # JPEG magic, then nothing a decoder can use.
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8)
    return folder


@pytest.fixture(scope="module")
def server(test_data: Path) -> Iterator[str]:
    """Base URL serving /static/, /test-pages/ and /test-data/ (this module's files)."""
    with serving_roots({"/static/": STATIC_DIR, "/test-pages/": TEST_PAGES, "/test-data/": test_data}) as url:
        yield url


def _open_harness(page: Any, server: str) -> None:
    page.goto(f"{server}{HARNESS}")
    page.wait_for_function("window.pdqHarness !== undefined")


def _hash_in_worker(page: Any, server: str, names: list[str]) -> dict[str, Any]:
    urls = [f"{server}/test-data/{name}" for name in names]
    return page.evaluate("(urls) => window.pdqHarness.hashUrlsInWorker(urls)", urls)


def test_pdq_js_in_chromium_equals_pdqhash_on_every_array(page: Any, server: str,
                                                         test_data: Path) -> None:
    _open_harness(page, server)
    cases = pixel_cases()
    results = page.evaluate("(url) => window.pdqHarness.hashArrays(url)", f"{server}/test-data/cases.bin")
    assert len(results) == len(cases) >= 600
    failures = []
    for case, (js_hash, js_quality) in zip(cases, results, strict=True):
        expected = pdq_from_pixels(case.pixels)
        distance = pdq_distance(js_hash, expected.hex)
        if distance != 0 or js_quality != expected.quality:
            failures.append(f"{case.name}: distance {distance}, quality {js_quality} vs {expected.quality}")
    assert failures == [], f"{len(failures)} of {len(cases)} differ in Chromium:\n" + "\n".join(failures)
    assert page_problems(page) == []


def test_every_format_and_orientation_hashes_in_the_worker_as_the_server_does(
        page: Any, server: str, test_data: Path) -> None:
    image_files = sorted((test_data / "images").iterdir())
    names = {"jpeg-420.jpg", "jpeg-422.jpg", "jpeg-444.jpg", "jpeg-progressive.jpg", "png-rgb.png",
             "webp-lossy.webp", "webp-lossless.webp", "gif.gif", "gif-transparent.gif", "bmp.bmp",
             "avif.avif", "jpeg-cmyk.jpg", "png-grey16.png",
             *TRANSPARENT_FILES, *(f"jpeg-orientation-{n}.jpg" for n in range(1, 9))}
    assert names <= {path.name for path in image_files}
    _open_harness(page, server)
    run = _hash_in_worker(page, server, [f"images/{path.name}" for path in image_files])
    assert run["selfTest"] is True
    failures = []
    for path in image_files:
        outcome = run["outcomes"][path.name]
        if "error" in outcome:
            failures.append(f"{path.name}: {outcome['error']}")
            continue
        result = outcome["result"]
        data = path.read_bytes()
        decoded = decode_image(data, MediaLimits())
        expected = pdq_from_pixels(decoded.pixels)
        if result["pdq"] is None:
            failures.append(f"{path.name}: no PDQ ({result['note']})")
            continue
        distance = pdq_distance(result["pdq"], expected.hex)
        found = (distance, result["quality"], (result["width"], result["height"]), result["sha256"],
                 result["md5"])
        wanted = (0, expected.quality, (decoded.width, decoded.height), hashlib.sha256(data).hexdigest(),
                  hashlib.md5(data).hexdigest())
        if found != wanted:
            failures.append(f"{path.name}: distance {distance}; got {found[1:3]}, want {wanted[1:3]}; "
                            f"digests equal: {found[3:] == wanted[3:]}")
        progress = outcome["progress"]
        if not progress or progress != sorted(progress) or progress[-1] != 1:
            failures.append(f"{path.name}: progress {progress}")
        if path.name in TRANSPARENT_FILES and result["decoder"] != "webgl2":
            failures.append(f"{path.name}: decoded with {result['decoder']}, which premultiplies alpha")
    assert failures == [], "\n".join(failures)
    assert page_problems(page) == []


def test_hash_file_on_the_main_thread_gives_what_the_worker_gives(page: Any, server: str,
                                                                 test_data: Path) -> None:
    names = ["images/jpeg-orientation-6.jpg", "images/png-transparent.png", "images/webp-lossy.webp"]
    _open_harness(page, server)
    urls = [f"{server}/test-data/{name}" for name in names]
    on_page = page.evaluate("(urls) => window.pdqHarness.hashUrlsOnPage(urls)", urls)
    in_worker = _hash_in_worker(page, server, names)["outcomes"]
    for name in names:
        short = name.split("/")[-1]
        page_result, worker_result = on_page[short], in_worker[short]["result"]
        fields = ("pdq", "quality", "sha256", "md5", "width", "height", "decoder")
        assert {f: page_result[f] for f in fields} == {f: worker_result[f] for f in fields}
        data = (test_data / name).read_bytes()
        assert page_result["pdq"] == pdq_from_pixels(decode_image(data, MediaLimits()).pixels).hex
    assert page_problems(page) == []


def test_the_self_test_passes_on_the_page_and_in_the_worker(page: Any, server: str,
                                                             test_data: Path) -> None:
    _open_harness(page, server)
    assert page.evaluate("() => window.pdqHarness.selfTest()") is True
    assert _hash_in_worker(page, server, [])["selfTest"] is True


def test_a_video_and_other_files_get_digests_only_and_a_broken_image_a_plain_error(
        page: Any, server: str, test_data: Path) -> None:
    _open_harness(page, server)
    run = _hash_in_worker(page, server, ["clip.mp4", "notes.txt", "broken.jpg"])
    for name, kind in (("clip.mp4", "video"), ("notes.txt", "other")):
        result = run["outcomes"][name]["result"]
        data = (test_data / name).read_bytes()
        assert result["kind"] == kind
        assert result["pdq"] is None and result["quality"] is None
        assert result["sha256"] == hashlib.sha256(data).hexdigest()
        assert result["md5"] == hashlib.md5(data).hexdigest()
        assert run["outcomes"][name]["progress"][-1] == 1
    assert "command line" in run["outcomes"]["clip.mp4"]["result"]["note"]
    assert run["outcomes"]["broken.jpg"]["error"] == "this file could not be read as an image"


def test_without_webgl_a_transparent_image_gets_no_pdq_rather_than_a_wrong_one(
        browser: Any, server: str, test_data: Path) -> None:
    """Firefox's headless mode, or Chromium with WebGL off: a 2D canvas premultiplies alpha and loses
    the colours under transparent pixels that the server hashes, so the hasher withholds PDQ (with a
    note) instead of sending a hash that would never match; opaque images are unaffected."""
    without_webgl = browser.browser_type.launch(executable_path=CHROMIUM, args=CHROMIUM_WITHOUT_WEBGL)
    try:
        page = without_webgl.new_page()
        _open_harness(page, server)
        assert page.evaluate(NO_WEBGL2)
        run = _hash_in_worker(page, server, ["images/png-transparent.png", "images/png-rgb.png"])
    finally:
        without_webgl.close()
    transparent = run["outcomes"]["png-transparent.png"]["result"]
    assert transparent["pdq"] is None and "transparent" in transparent["note"]
    transparent_bytes = (test_data / "images/png-transparent.png").read_bytes()
    assert transparent["sha256"] == hashlib.sha256(transparent_bytes).hexdigest()
    opaque = run["outcomes"]["png-rgb.png"]["result"]
    data = (test_data / "images/png-rgb.png").read_bytes()
    assert opaque["pdq"] == pdq_from_pixels(decode_image(data, MediaLimits()).pixels).hex
