"""The CLI starts without what its command does not need.

``deepshield --help`` imports no command module, and ``deepshield hash photo.jpg`` (on the
victim's or helpline's own device) loads neither the store, the HTTP API, C2PA nor the PDF stack:
each runs in a fresh interpreter that then lists what it loaded. The lazy command table's
one-line helps are checked against each command's own help, so ``--help`` cannot drift.
(The time this saves is measured by bench/cli_start.py; no test here times anything.)
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from deepshield.cli import main as cli_main
from deepshield.cli.main import COMMANDS, app, load_command
from factories import encode_image, photo_pixels

#: Never needed to show help or to hash a file on the device.
HEAVY = ("fastapi", "starlette", "uvicorn", "sqlalchemy", "alembic", "c2pa", "weasyprint",
         "pyhanko", "deepshield.store", "deepshield.api")
#: Needed only for video (PyAV) or for derived repost hashes and WebP reductions (OpenCV).
MEDIA_EXTRAS = ("av", "cv2")

_PROBE = """
import json, sys
sys.argv = ["deepshield", *json.loads(sys.argv[1])]
from deepshield.cli.main import main
code = 0
try:
    main()
except SystemExit as exit:
    code = exit.code or 0
sys.stdout.flush()
print("\\n@@loaded@@" + json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def run_in_fresh_interpreter(args: list[str], home: Path) -> tuple[int, str, set[str]]:
    """``deepshield ARGS`` via ``main()`` in a new Python, in ``home``'s parent folder:
    (exit code, its output, the modules it loaded)."""
    env = {**os.environ, "DEEPSHIELD_HOME": str(home), "COLUMNS": "100"}
    finished = subprocess.run([sys.executable, "-c", _PROBE, json.dumps(args)], env=env,
                              cwd=home.parent, capture_output=True, text=True, timeout=120)
    assert finished.returncode == 0, finished.stderr
    output, _, report = finished.stdout.rpartition("\n@@loaded@@")
    loaded = json.loads(report)
    return loaded["code"], output, set(loaded["modules"])


def loaded_of(modules: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == root or m.startswith(root + ".") for root in roots))


def test_help_lists_every_command_without_importing_one(tmp_path):
    code, output, modules = run_in_fresh_interpreter(["--help"], tmp_path / "home")

    assert code == 0
    for name in COMMANDS:
        assert f" {name} " in output
    command_modules = {entry.module for entry in COMMANDS.values()}
    assert sorted(command_modules & modules) == []
    assert loaded_of(modules, HEAVY + MEDIA_EXTRAS) == []


def test_hashing_a_photo_loads_neither_the_store_nor_the_api_nor_c2pa(tmp_path):
    photo = tmp_path / "one.jpg"
    photo.write_bytes(encode_image(photo_pixels(7, 1024, 768)))

    code, output, modules = run_in_fresh_interpreter(["hash", "one.jpg"], tmp_path / "home")

    assert code == 0, output
    assert "one.jpg" in output and "image" in output
    assert loaded_of(modules, HEAVY) == []
    # A JPEG is decoded by Pillow and hashed by pdqhash: no video or OpenCV code loads either.
    assert loaded_of(modules, MEDIA_EXTRAS) == []
    # Only the command that runs is imported.
    assert {entry.module for entry in COMMANDS.values()} & modules == {"deepshield.cli.hash_commands"}


def test_hash_json_loads_nothing_heavy_either(tmp_path):
    photo = tmp_path / "one.png"
    photo.write_bytes(encode_image(photo_pixels(8), "PNG"))

    code, output, modules = run_in_fresh_interpreter(["hash", "--json", "one.png"], tmp_path / "home")

    assert code == 0, output
    assert json.loads(output)[0]["kind"] == "image"
    assert loaded_of(modules, HEAVY + MEDIA_EXTRAS) == []


@pytest.mark.parametrize("name", list(COMMANDS))
def test_the_tables_one_line_help_is_the_commands_own(name):
    command = load_command(name)
    # What Typer's rich help shows for a command in a group: its help's first paragraph.
    own = inspect.cleandoc(command.short_help or command.help or "").split("\n\n")[0].strip()

    assert COMMANDS[name].help == own
    assert command.name == name


def eager_app() -> typer.Typer:
    """The root as it was built before commands loaded lazily: every command registered up front."""
    eager = typer.Typer(name="deepshield", help=app.info.help, no_args_is_help=True,
                        pretty_exceptions_enable=False, add_completion=False)
    eager.callback()(cli_main._root)
    for name, entry in COMMANDS.items():
        target = getattr(__import__(entry.module, fromlist=[entry.attribute]), entry.attribute)
        if isinstance(target, typer.Typer):
            eager.add_typer(target, name=name)
        else:
            eager.command(name)(target)
    return eager


@pytest.mark.parametrize("args", [["--help"], [], ["bank", "--help"], ["hash", "--help"],
                                  ["cases", "file", "--help"], ["--version"], ["hsah"],
                                  ["bank", "nope"]])
def test_the_lazy_root_answers_as_the_eager_one_did(args):
    runner = CliRunner()
    env = {"COLUMNS": "100"}

    lazy = runner.invoke(app, args, env=env)
    eager = runner.invoke(eager_app(), args, env=env)

    assert (lazy.exit_code, lazy.stdout, lazy.stderr) == (eager.exit_code, eager.stdout, eager.stderr)


def test_a_mistyped_command_is_still_suggested():
    result = CliRunner().invoke(app, ["hsah"], env={"COLUMNS": "100"})

    assert result.exit_code == 2
    assert "Did you mean 'hash'?" in result.stderr
