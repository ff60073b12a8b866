"""Every file of the hostile corpus (tests/hostile/corpus.py, 600+ files) through every upload
route and every CLI command that reads a file.

What runs, exactly:

- One world per module: a SQLite store and ``DEEPSHIELD_HOME`` in a private folder, signing keys
  from ``deepshield keys init``, one bank, an app (FastAPI ``TestClient``, lifespan included) with
  the heavy-request cap set far above anything this test does and the public rate limit off,
  and a private ``TMPDIR`` (Python's ``tempfile`` and FFmpeg/WeasyPrint alike).
- API, every file to every route: ``/v1/hash``, ``/v1/match``, ``/v1/banks/{b}/entries``,
  ``/v1/watermark/detect``, ``/v1/verify``, ``/v1/content`` (multipart), ``/h/hash``,
  ``/m/lookup``, ``/matches/byContent`` (multipart and raw body), ``/v1/reports/check``,
  ``/v1/reports/file``; and, as raw bodies, ``/v1/content/import`` (CSV) and ``/manifests``
  (``application/c2pa``).
- CLI (Typer's ``CliRunner``, in process), every file to: ``hash``, ``match``, ``bank add``,
  ``bank add --hashes``, ``bank import``, ``watermark detect``, ``watermark embed``, ``verify``,
  ``report check``, ``content register``, ``content import`` (the file, and a folder holding
  it), ``cases file``, ``label`` and ``report file``. On the slow ones (``/v1/reports/file``;
  ``label`` and ``report file``, which sign a manifest or a PDF; ``verify`` and ``bank add``,
  which open the store and analyse the file in each run) every file that ``/v1/hash`` refuses
  goes through and, of the files it accepts, the large valid images (big enough to be labelled)
  and the first image and the first video of each category of the corpus (valid, truncated,
  flipped, polyglot, lying...).

Asserted for each (file, door): no 5xx and no crash (no exit 1, no traceback); a refusal is a
4xx with ``{"error", "detail"}`` or exit 3 with a message; bombs are 413 (exit 3), non-media 415;
files that must be refused are; readable media is hashed (200, exit 0); a refusal writes nothing
(every table's row count unchanged, no output file); and nothing is left behind in the temp
folder or under ``DEEPSHIELD_HOME`` (only the database, its journal and the index snapshot).
Failures are collected over the whole corpus and reported together, one line per (file, door).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer.main
import typer.testing
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text
from typer.testing import CliRunner, Result

from deepshield.api.app import create_app
from deepshield.cli.main import app as cli_app
from deepshield.services.access import Role
from deepshield.services.api_keys import create_key
from deepshield.services.context import ServiceContext
from deepshield.settings import Settings, load_settings
from factories import encode_image, textured_pixels
from hostile.corpus import HostileFile, build_corpus
from principals import SETUP

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")  # Pillow's notes on corrupt EXIF
BANK = "hostile"
CORPUS = build_corpus()
BY_NAME = {item.name: item for item in CORPUS}
runner = CliRunner()
#: The readable picture sent beside each hostile file where a command or route takes two.
COMPANION = encode_image(textured_pixels(5), "PNG")


@dataclass
class World:
    root: Path
    home: Path
    temp: Path
    inputs: Path
    outputs: Path
    client: TestClient
    ctx: ServiceContext
    token: str
    tables: list[str]
    home_files: set[str]
    hash_status: dict[str, int] = dataclasses.field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def counts(self) -> tuple[int, ...]:
        query = " UNION ALL ".join(f'SELECT count(*) FROM "{table}"' for table in self.tables)
        with self.ctx.store.engine.connect() as connection:
            return tuple(row[0] for row in connection.execute(text(query)))

    def input_file(self, item: HostileFile) -> Path:
        path = self.inputs / item.name
        if not path.exists():
            path.write_bytes(item.data)
        return path


def _database_files(name: str) -> bool:
    return name.startswith("deepshield.db") or name.startswith("index")


def _home_listing(home: Path) -> set[str]:
    return {str(path.relative_to(home)) for path in home.rglob("*")
            if not _database_files(str(path.relative_to(home)))}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("hostile")
    home, temp, inputs, outputs = (root / name for name in ("home", "tmp", "in", "out"))
    for folder in (temp, inputs, outputs):
        folder.mkdir()
    database_url = f"sqlite:///{root / 'home' / 'deepshield.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DEEPSHIELD_HOME", str(home))
        patch.setenv("DEEPSHIELD_DATABASE_URL", database_url)
        patch.setenv("DEEPSHIELD_MAX_HEAVY_REQUESTS", "1024")
        patch.setenv("DEEPSHIELD_PUBLIC_RATE_PER_MINUTE", "0")
        patch.setenv("TMPDIR", str(temp))
        patch.setattr(tempfile, "tempdir", str(temp))
        # Typer's runner rebuilds the whole command tree on every call (about 0.1 s): build it once.
        command = typer.main.get_command(cli_app)
        patch.setattr(typer.testing, "_get_command", lambda app: command)
        initialised = runner.invoke(cli_app, ["keys", "init"])
        assert initialised.exit_code == 0, initialised.output
        created = runner.invoke(cli_app, ["bank", "create", BANK])
        assert created.exit_code == 0, created.output
        settings: Settings = load_settings()
        assert settings.server.max_heavy_requests == 1024
        with TestClient(create_app(settings)) as client:
            ctx: ServiceContext = client.app.state.context  # type: ignore[attr-defined]
            _, token = create_key(ctx, Role.ADMIN, "hostile corpus", SETUP)
            tables = sorted(inspect(ctx.store.engine).get_table_names())
            yield World(root, home, temp, inputs, outputs, client, ctx, token, tables,
                        _home_listing(home))


@pytest.fixture(scope="module")
def hash_status(world: World) -> dict[str, int]:
    """``/v1/hash``'s status for every file: which ones are readable media."""
    for item in CORPUS:
        response = world.client.post("/v1/hash", headers=world.headers(),
                                     files={"file": (item.name, item.data, "application/octet-stream")})
        world.hash_status[item.name] = response.status_code
    return world.hash_status


_VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".webm"}


def _family(name: str) -> str:
    """The corpus's category (valid, truncated, flipped, polyglot...), for images or videos."""
    return name.split("-", 1)[0] + (" video" if Path(name).suffix.lower() in _VIDEO_SUFFIXES else "")


def slow_subset(statuses: dict[str, int]) -> list[HostileFile]:
    """Every file ``/v1/hash`` refuses, one accepted file per family of the corpus, and the
    large valid images (the only ones big enough to carry a watermark and a label)."""
    chosen, families = [], set()
    for item in CORPUS:
        if statuses[item.name] >= 400 or item.name.startswith("valid-large-"):
            chosen.append(item)
        elif _family(item.name) not in families:
            families.add(_family(item.name))
            chosen.append(item)
    return chosen


def _leftovers(world: World) -> list[str]:
    problems = [f"temp folder: {path.name} left behind" for path in world.temp.iterdir()]
    for path in sorted(_home_listing(world.home) - world.home_files):
        problems.append(f"DEEPSHIELD_HOME: {path} is new")
    return problems


def _report(failures: list[str], checked: int) -> None:
    if failures:
        shown = "\n".join(failures[:200])
        more = f"\n... and {len(failures) - 200} more" if len(failures) > 200 else ""
        pytest.fail(f"{len(failures)} failures over {checked} (file, door) pairs:\n{shown}{more}")


# --- The API ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    path: str
    body: str = "multipart"  # multipart, raw (content_type) or multipart-field
    kind: str = "media"  # media: the file is read as media; pdf: as a PDF; text: as a hash list
    fields: tuple[tuple[str, str], ...] = ()
    content_type: str = "application/octet-stream"
    field: str = "file"
    must_accept_valid: bool = False
    #: A second file field, sent with a readable picture (the hostile file goes in ``field``).
    companion: str | None = None


ROUTES = {
    "hash": Route("/v1/hash", must_accept_valid=True),
    "match": Route("/v1/match"),
    "bank entries": Route(f"/v1/banks/{BANK}/entries", fields=(("case_ref", "HC-1"),)),
    "watermark detect": Route("/v1/watermark/detect"),
    "verify": Route("/v1/verify"),
    "content": Route("/v1/content", fields=(("item_id", "post-{n}"),)),
    "hma hash photo": Route("/h/hash", field="photo", must_accept_valid=True),
    "hma lookup": Route("/m/lookup", field="video"),
    "byContent multipart": Route("/matches/byContent"),
    "byContent raw": Route("/matches/byContent", body="raw"),
    "reports check": Route("/v1/reports/check", kind="pdf"),
    "content import": Route("/v1/content/import", body="raw", kind="text", content_type="text/csv"),
    "manifests": Route("/manifests", body="raw", kind="text", content_type="application/c2pa"),
    "reports file": Route("/v1/reports/file"),
    "forensics compare": Route("/v1/forensics/compare", field="suspect", companion="source"),
    # A source is decoded on its own path (a video's frames hashed, then some read in colour).
    "forensics compare source": Route("/v1/forensics/compare", field="source", companion="suspect"),
    "forensics sources": Route("/v1/forensics/sources"),
}
SLOW_ROUTES = {"reports file"}


def _send(world: World, route: Route, item: HostileFile, n: int) -> httpx.Response:
    if route.body == "raw":
        return world.client.post(route.path, content=item.data,
                                 headers={**world.headers(), "content-type": route.content_type})
    fields = {name: value.format(n=n) for name, value in route.fields}
    files = {route.field: (item.name, item.data, route.content_type)}
    if route.companion:
        files[route.companion] = ("companion.png", COMPANION, "image/png")
    return world.client.post(route.path, headers=world.headers(), data=fields or None, files=files)


def check_response(route: Route, item: HostileFile, response: httpx.Response) -> list[str]:
    """What is wrong with ``response`` to ``item`` on ``route`` (nothing: an empty list)."""
    status = response.status_code
    if status >= 500:
        return [f"{status} (a server error): {response.text[:200]}"]
    if status >= 400:
        try:
            body = response.json()
        except ValueError:
            return [f"{status} without a JSON body: {response.text[:200]}"]
        if set(body) != {"error", "detail"} or not isinstance(body["detail"], str) or not body["detail"]:
            return [f"{status} without an error and a detail: {body}"]
        if status == 503:
            return [f"503 busy: the heavy-request cap was not configured away ({body})"]
    problems = []
    if route.kind == "media":
        if item.expected == "bomb" and status != 413:
            problems.append(f"a bomb got {status}, not 413: {response.text[:200]}")
        if item.expected == "unsupported" and status != 415:
            problems.append(f"non-media got {status}, not 415: {response.text[:200]}")
        if item.expected == "invalid" and status < 400:
            problems.append(f"an unreadable file was accepted ({status})")
        if item.expected == "valid" and route.must_accept_valid and status != 200:
            problems.append(f"readable media was refused ({status}): {response.text[:200]}")
    elif route.kind == "pdf":
        if status < 400 and response.json().get("valid") is not False:
            problems.append(f"a non-pack was not refused nor found invalid: {response.text[:200]}")
    elif status < 400:
        problems.append(f"hostile bytes were accepted as a {route.path} body ({status})")
    return problems


@pytest.mark.parametrize("route_name", list(ROUTES))
def test_every_file_on_every_upload_route(world: World, hash_status: dict[str, int],
                                          route_name: str) -> None:
    route = ROUTES[route_name]
    items = slow_subset(hash_status) if route_name in SLOW_ROUTES else CORPUS
    failures: list[str] = []
    accepted = 0
    for n, item in enumerate(items):
        before = world.counts()
        response = _send(world, route, item, n)
        problems = check_response(route, item, response)
        if response.status_code >= 400 and world.counts() != before:
            problems.append("refused, yet rows were written")
        accepted += response.status_code < 400
        failures += [f"{item.name} [{item.expected}] -> {route.path}: {p}" for p in problems]
    if route.kind == "media" and not accepted:
        failures.append(f"{route.path} accepted no file at all: the corpus never reached its work")
    health = world.client.get("/v1/health")
    if health.status_code != 200:
        failures.append(f"the server is unhealthy after the corpus: {health.text[:200]}")
    failures += _leftovers(world)
    _report(failures, len(items))


# --- The CLI ----------------------------------------------------------------------------------

#: Exit codes a command may end with for a file it read (3: refused).
_ACCEPTED = {"verify": {0, 10, 11, 12}, "report check": {11}, "forensics compare": {0, 20, 21},
             "forensics compare source": {0, 20, 21}, "forensics sources": {0, 22}}
#: Exit codes that report an outcome rather than a refusal (the audit log records the outcome).
_OUTCOMES = {0, 10, 11, 12, 20, 21, 22}


@dataclass(frozen=True)
class Command:
    args: Callable[[World, Path, Path], list[str]]  # (world, input, output) -> argv
    kind: str = "media"  # media, pdf (report check) or text (hash lists, forms)
    output: bool = False  # the command writes ``output`` when, and only when, it succeeds
    must_accept_valid: bool = False
    #: A bomb must be refused for its size (a command may refuse a format before decoding it).
    bomb_for_size: bool = True
    same_suffix: bool = False  # the output keeps the input's extension (label)


def _out_suffix(path: Path) -> str:
    known = {".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".mp4", ".mov", ".mkv", ".webm"}
    return path.suffix.lower() if path.suffix.lower() in known else ".png"


def _folder_of(world: World, path: Path) -> Path:
    folder = world.root / "folders" / path.name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if not target.exists():
        shutil.copyfile(path, target)
    return folder


COMMANDS = {
    "hash": Command(lambda w, i, o: ["hash", str(i), "--json"], must_accept_valid=True),
    "match": Command(lambda w, i, o: ["match", str(i), "--json"]),
    "bank add": Command(lambda w, i, o: ["bank", "add", BANK, str(i), "--case", "HC-2", "--json"]),
    "bank add --hashes": Command(lambda w, i, o: ["bank", "add", BANK, "--hashes", str(i), "--json"],
                                 kind="text"),
    "bank import": Command(lambda w, i, o: ["bank", "import", BANK, str(i), "--json"], kind="text"),
    "watermark detect": Command(lambda w, i, o: ["watermark", "detect", str(i), "--json"]),
    "watermark embed": Command(lambda w, i, o: ["watermark", "embed", str(i), str(o), "--payload",
                                                "0123456789abcdef", "--json"], output=True),
    "verify": Command(lambda w, i, o: ["verify", str(i), "--json"]),
    "report check": Command(lambda w, i, o: ["report", "check", str(i), "--json"], kind="pdf"),
    "content register": Command(lambda w, i, o: ["content", "register", f"item-{i.name}", str(i),
                                                 "--json"]),
    "content import file": Command(lambda w, i, o: ["content", "import", str(i), "--json"], kind="text"),
    "content import folder": Command(lambda w, i, o: ["content", "import", str(_folder_of(w, i)),
                                                      "--json"]),
    "cases file": Command(lambda w, i, o: ["cases", "file", str(i), "--json"], kind="text"),
    "label": Command(lambda w, i, o: ["label", str(i), str(o), "--generator", "HostileGen", "--json"],
                     output=True, bomb_for_size=False, same_suffix=True),
    "report file": Command(lambda w, i, o: ["report", "file", str(i), "--out", str(o), "--json"],
                           output=True),
    "forensics compare": Command(lambda w, i, o: ["forensics", "compare", str(i), "--source",
                                                  str(_companion_file(w)), "--mask", str(o), "--json"],
                                 output=True),
    "forensics compare source": Command(lambda w, i, o: ["forensics", "compare", str(_companion_file(w)),
                                                         "--source", str(i), "--json"]),
    "forensics sources": Command(lambda w, i, o: ["forensics", "sources", str(i), "--json"]),
}
SLOW_COMMANDS = {"label", "report file", "verify", "bank add"}


def _companion_file(world: World) -> Path:
    path = world.root / "companion.png"
    if not path.exists():
        path.write_bytes(COMPANION)
    return path


def _message(result: Result) -> str:
    """The refusal's message: a ``detail`` in the JSON on stdout, or what stderr says."""
    try:
        value: Any = json.loads(result.stdout)
    except ValueError:
        value = None
    pending = [value]
    while pending:
        current = pending.pop()
        if isinstance(current, dict):
            if isinstance(current.get("detail"), str) and current["detail"].strip():
                return current["detail"]
            pending.extend(current.values())
        elif isinstance(current, list):
            pending.extend(current)
    return result.stderr.strip()


def check_exit(name: str, command: Command, item: HostileFile, result: Result,
               output: Path | None) -> list[str]:
    code = result.exit_code
    everything = result.stdout + result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return [f"crashed with {type(result.exception).__name__}: {result.exception}"]
    if "Traceback" in everything:
        return ["printed a traceback"]
    accepted = _ACCEPTED.get(name, {0})
    if code not in accepted | {3}:
        return [f"exit {code} (neither {sorted(accepted)} nor 3): {everything[:200]}"]
    problems = []
    if code == 3 and not _message(result):
        problems.append("exit 3 without a message")
    if command.kind == "media":
        if item.expected in ("bomb", "invalid", "unsupported") and code != 3:
            problems.append(f"exit {code} for a file that must be refused")
        if item.expected == "valid" and command.must_accept_valid and code != 0:
            problems.append(f"readable media was refused: {_message(result)[:200]}")
        if item.expected == "bomb" and command.bomb_for_size and code == 3 \
                and not _names_size(_message(result)):
            problems.append(f"a bomb was refused for another reason: {_message(result)[:200]}")
    elif command.kind == "text" and code == 0:
        problems.append("hostile bytes were accepted as a hash list or form")
    if output is not None:
        if code in accepted and not output.exists():
            problems.append("succeeded without writing its output")
        if code not in accepted and output.exists():
            problems.append("refused, yet wrote its output")
        strays = [p.name for p in output.parent.iterdir() if p.name.startswith(".")]
        if strays:
            problems.append(f"left temporary files: {strays}")
    return problems


def _names_size(message: str) -> bool:
    words = ("limit", "pixels", "too large", "bomb", "larger", "lasts")
    return any(word in message.lower() for word in words)


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_file_through_every_cli_command(world: World, hash_status: dict[str, int],
                                              name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    command = COMMANDS[name]
    items = slow_subset(hash_status) if name in SLOW_COMMANDS else CORPUS
    monkeypatch.setenv("DEEPSHIELD_HOME", str(world.home))
    monkeypatch.setenv("DEEPSHIELD_DATABASE_URL", f"sqlite:///{world.home / 'deepshield.db'}")
    monkeypatch.setenv("TMPDIR", str(world.temp))
    monkeypatch.setattr(tempfile, "tempdir", str(world.temp))
    out_dir = world.outputs / name.replace(" ", "-")
    out_dir.mkdir(exist_ok=True)
    failures: list[str] = []
    succeeded = 0
    for n, item in enumerate(items):
        source = world.input_file(item)
        suffix = source.suffix if command.same_suffix else _out_suffix(source)
        output = out_dir / f"out-{n}{suffix}" if command.output else None
        before = world.counts()
        result = runner.invoke(cli_app, command.args(world, source, output or out_dir / "unused"))
        problems = check_exit(name, command, item, result, output)
        if result.exit_code not in _OUTCOMES and world.counts() != before:
            problems.append("refused, yet rows were written")
        failures += [f"{item.name} [{item.expected}] -> deepshield {name}: {p}" for p in problems]
        succeeded += result.exit_code in _ACCEPTED.get(name, {0})
        if output is not None:
            output.unlink(missing_ok=True)
    if command.kind == "media" and not succeeded:
        failures.append(f"deepshield {name} succeeded for no file: the corpus never reached its work")
    failures += _leftovers(world)
    _report(failures, len(items))


def test_the_corpus_is_large_deterministic_and_covers_every_kind() -> None:
    again = build_corpus()
    assert [(f.name, f.data) for f in again] == [(f.name, f.data) for f in CORPUS]
    assert len(CORPUS) >= 500
    kinds = {f.expected for f in CORPUS}
    assert kinds == {"bomb", "invalid", "unsupported", "valid", "any"}
    families = {name.split("-")[0] for name in BY_NAME}
    for family in ("valid", "bomb", "truncated", "flipped", "small", "polyglot", "lying", "svg", "video"):
        assert family in families, family
