"""``deepshield keys``: API keys for the HTTP API, the signing keys, and the hash key."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from deepshield.cli.operator import local_operator, open_context
from deepshield.cli.output import print_json, reported_errors, stdout
from deepshield.errors import InvalidRequest
from deepshield.services import api_keys as key_service
from deepshield.services.context import ServiceContext
from deepshield.services.json_shapes import key_json
from deepshield.services.label.signing_keys import init_signing_keys
from deepshield.settings import load_settings

app = typer.Typer(help="API keys (roles admin, platform, helpline, partner, provider), and `init` for "
                       "the Content Credentials signing keys.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@app.command("create")
def create(
    role: Annotated[str, typer.Option(help="admin, platform, helpline, partner or provider.")],
    label: Annotated[str, typer.Option(help="Who the key is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create an API key. The key is printed once, on the last line, and cannot be shown again."""
    with reported_errors(as_json):
        principal = local_operator()
        info, token = key_service.create_key(open_context(), key_service.parse_role(role), label,
                                             principal)
    if as_json:
        print_json({**key_json(info), "key": token})
    else:
        stdout.print(f"Created {info.role} key {info.key_id}. Store it now; it is not shown again:")
        print(token)


@app.command("list")
def list_keys(as_json: JsonOption = False) -> None:
    """List keys (ids and roles only; secrets are never stored)."""
    with reported_errors(as_json):
        keys = key_service.list_keys(open_context(), local_operator())
    if as_json:
        print_json([key_json(key) for key in keys])
        return
    table = Table("key id", "role", "label", "created", "revoked")
    for key in keys:
        table.add_row(key.key_id, key.role, key.label, key.created_at.isoformat(timespec="seconds"),
                      key.revoked_at.isoformat(timespec="seconds") if key.revoked_at else "")
    stdout.print(table)


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id from `keys list`.")],
           as_json: JsonOption = False) -> None:
    """Revoke a key; requests with it fail from now on."""
    with reported_errors(as_json):
        principal = local_operator()
        info = key_service.revoke_key(open_context(), key_id, principal)
    if as_json:
        print_json(key_json(info))
    else:
        stdout.print(f"Revoked key {info.key_id}")


@app.command("init")
def init_command(
    force: Annotated[bool, typer.Option(help="Replace existing development keys.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Make a development CA and a C2PA signing certificate under $DEEPSHIELD_HOME/provenance.

    The CA becomes a trust anchor of this installation, so files labelled here verify as
    trusted, and files signed by any other key read as untrusted. For production, configure
    your own certificate and key (or a signing callback for a KMS or HSM) and trust anchors:
    see docs/PROVENANCE.md.
    """
    with reported_errors(as_json):
        principal = local_operator()
        ctx = open_context()
        keys = init_signing_keys(ctx, force=force, principal=principal)
    view = {name: str(value) if isinstance(value, Path) else value
            for name, value in dataclasses.asdict(keys).items()}
    if as_json:
        print_json(view)
    else:
        stdout.print(f"Made a development CA and signing certificate in {ctx.settings.provenance_dir}.")
        stdout.print("Its CA is now a trust anchor of this installation. These keys are for "
                     "development: use your own certificate in production.")


@app.command("rotate-hash-key")
def rotate_hash_key_command(
    wrapped_key: Annotated[Path | None, typer.Option(
        "--wrapped-key", help="With DEEPSHIELD_HASH_KEY_CALLBACK: a new data key wrapped by your KMS "
                              "(raw bytes). Without a key file yet, this installs the first key.")] = None,
    batch_rows: Annotated[int, typer.Option(help="Rows re-sealed per committed batch.")] = 5000,
    keep_old: Annotated[bool, typer.Option(help="Keep the old keys in the key file afterwards "
                                                "(the next run removes them).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Seal every banked and registered hash under a new key (docs/HASHES_AT_REST.md).

    Re-seals and re-keys all rows in batches; if interrupted, run it again to carry on. The
    old key stays in $DEEPSHIELD_HOME/keys/hash-key until every row is done, then is removed.
    """
    with reported_errors(as_json):
        principal = local_operator()
        settings = load_settings()
        wrapped = None
        if wrapped_key is not None:
            try:
                wrapped = wrapped_key.read_bytes()
            except OSError as exc:
                raise InvalidRequest(f"cannot read {wrapped_key}: {exc.strerror}") from None
        installed = key_service.install_wrapped_hash_key(settings, wrapped, principal) if wrapped else None
        ctx = ServiceContext.open(settings)
        try:
            if installed is not None:
                result = key_service.HashKeyRotation(installed, resumed=False, finished=True)
            else:
                result = key_service.rotate_hash_key(ctx, principal, wrapped=wrapped,
                                                     batch_rows=batch_rows, keep_old=keep_old)
        finally:
            ctx.close()
    if as_json:
        print_json(dataclasses.asdict(result))
        return
    if installed is not None:
        stdout.print(f"Installed hash key {installed} (wrapped by the KMS).")
        return
    done = sum(result.resealed.values())
    verb = "Resumed the rotation to" if result.resumed else "Rotated to"
    stdout.print(f"{verb} hash key {result.key_id}: {done} rows re-sealed.")
    if result.removed_keys:
        stdout.print(f"Removed old key(s) {', '.join(result.removed_keys)} from the key file.")
    if not result.finished:
        stdout.print("Some rows are still under the old key: run the command again to finish.")
