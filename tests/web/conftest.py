"""Fixtures for the web door: a real server with a key per role, a real Chromium driven by
Playwright, and the checks every page gets (accessibility with axe-core, screenshots).

- ``browser``: Debian's Chromium (``/usr/bin/chromium``) launched once per worker. Where it or
  Playwright is missing the browser tests skip, except under ``CI=true``, where they fail.
- ``page``: a fresh browser context (no cookies, no history) and page per test. Console errors and
  Content-Security-Policy violations are collected in ``page_problems(page)``.
- ``site`` / ``module_site``: the whole app (API and pages) served by uvicorn on a free port, on a
  fresh SQLite database with the cheap PIN KDF and no public rate limit, and one API key per role.
- ``static_server``: a plain HTTP server for ``src/deepshield/web/static`` at ``/static/`` and
  ``tests/web/pages`` at ``/test-pages/``, sending the portal's CSP.
- ``web_site.assert_accessible(page)``: axe-core (vendored in tests/web/vendor) reports no serious or
  critical WCAG 2.2 A/AA violation.
- ``save_screenshots(page, name)``: the page at 1280 px and 360 px wide, saved under the session's
  temporary folder (``<basetemp>/screenshots``), checked not to be blank.

Browser tests run on SQLite only: the services under the pages are tested on both databases.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from deepshield.settings import Settings
from deepshield.web.templating import STATIC_DIR
from static_pages import serving_roots
from web_site import Site, page_problems, start_site_on

CHROMIUM = Path(os.environ.get("DEEPSHIELD_TEST_CHROMIUM", "/usr/bin/chromium"))
#: Flags for a closed network: without the background ones Chromium keeps trying to reach
#: Google's hosts (env notes for this machine).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
WEB_TESTS = Path(__file__).resolve().parent
TEST_PAGES = WEB_TESTS / "pages"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _missing_browser(reason: str) -> None:
    message = (f"{reason}: the browser tests need Debian's chromium (apt-get install -y chromium) and "
               "Playwright for Python (in the dev extra)")
    if _in_ci():
        pytest.fail(f"CI=true: {message}", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def database_backend() -> str:
    """Browser tests run on SQLite only (overrides the SQLite/PostgreSQL parameter)."""
    return "sqlite"


@pytest.fixture(scope="session")
def _playwright() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing_browser("Playwright for Python is not installed")
    manager = sync_playwright()
    playwright = manager.start()
    try:
        yield playwright
    finally:
        manager.__exit__(None, None, None)


@pytest.fixture(scope="session")
def browser(_playwright: Any) -> Iterator[Any]:
    """Chromium, once per worker."""
    if not CHROMIUM.exists():
        _missing_browser(f"{CHROMIUM} is missing")
    launched = _playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture
def new_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """``new_page(**context_options)``: a page in a fresh browser context (its own cookies and
    history); every context made this way is closed when the test ends."""
    contexts: list[Any] = []

    def make(**options: Any) -> Any:
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        problems = page_problems(page)
        page.on("console", lambda message: problems.append(f"console {message.type}: {message.text}")
                if message.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        # Intercept file choosers from the start. Playwright turns interception on when the first
        # "filechooser" listener appears, by a message it does not wait for: a test that opens
        # ``expect_file_chooser()`` and presses a key at once can beat it, and the chooser then
        # opens natively and no event ever comes (a 30 s timeout seen on CI under load).
        page.on("filechooser", lambda _chooser: None)
        page.evaluate("0")  # a round trip, so the browser has taken the subscription
        return page

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page: Callable[..., Any]) -> Any:
    """A page in a fresh browser context."""
    return new_page()


@pytest.fixture
def start_site() -> Iterator[Callable[[Settings], Site]]:
    """``start_site(settings)``: serve the whole app on ``settings`` until the test ends."""
    with ExitStack() as stack:
        yield functools.partial(start_site_on, stack)


@pytest.fixture
def site(start_site: Callable[[Settings], Site], cheap_kdf_settings: Settings) -> Site:
    """The app on a fresh SQLite database (cheap PIN KDF, no public rate limit), one key per role."""
    return start_site(cheap_kdf_settings)


@pytest.fixture(scope="module")
def module_site(module_cheap_kdf_settings: Settings) -> Iterator[Site]:
    """As ``site``, shared by a module's tests (a world built once). Runs on the module's database
    parameter: a browser module that uses it should select SQLite (``-m`` does not reach it)."""
    with ExitStack() as stack:
        yield start_site_on(stack, module_cheap_kdf_settings)


@pytest.fixture(scope="session")
def static_server() -> Iterator[str]:
    """Base URL of a plain server of the static files (``/static/``) and the test pages
    (``/test-pages/``), with the portal's headers."""
    with serving_roots({"/static/": STATIC_DIR, "/test-pages/": TEST_PAGES}) as url:
        yield url


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where ``save_screenshots`` writes: ``<basetemp>/screenshots`` (a CI artefact)."""
    directory = tmp_path_factory.getbasetemp() / "screenshots"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


@pytest.fixture
def save_screenshots(screenshot_dir: Path) -> Callable[[Any, str], list[Path]]:
    """``save_screenshots(page, name)``: full-page PNGs at 1280 and 360 px wide, each checked not
    blank (more than one colour in it); returns their paths. The viewport is put back after."""
    from PIL import Image

    def save(page: Any, name: str) -> list[Path]:
        original = page.viewport_size
        saved = []
        for width in (1280, 360):
            page.set_viewport_size({"width": width, "height": 800})
            path = screenshot_dir / f"{name}-{width}.png"
            page.screenshot(path=str(path), full_page=True)
            with Image.open(path) as shot:
                colours = shot.convert("L").getextrema()
            assert colours[0] != colours[1], f"the screenshot {path.name} is blank"
            saved.append(path)
        if original:
            page.set_viewport_size(original)
        return saved

    return save


