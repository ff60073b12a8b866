"""``deepshield keys``: API keys for the HTTP API."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from deepshield.cli.context import local_operator, open_context
from deepshield.cli.output import print_json, reported_errors, stdout
from deepshield.services import keys as key_service
from deepshield.services.access import Action, authorize
from deepshield.services.views import key_view

app = typer.Typer(help="API keys: roles admin, platform, helpline.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


@app.command("create")
def create(
    role: Annotated[str, typer.Option(help="admin, platform or helpline.")],
    label: Annotated[str, typer.Option(help="Who the key is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create an API key. The key is printed once, on the last line, and cannot be shown again."""
    with reported_errors(as_json):
        principal = local_operator()
        authorize(principal, Action.KEYS_MANAGE)
        info, token = key_service.create_key(open_context(), key_service.parse_role(role), label,
                                             principal.actor)
    if as_json:
        print_json({**key_view(info), "key": token})
    else:
        stdout.print(f"Created {info.role} key {info.key_id}. Store it now; it is not shown again:")
        print(token)


@app.command("list")
def list_keys(as_json: JsonOption = False) -> None:
    """List keys (ids and roles only; secrets are never stored)."""
    with reported_errors(as_json):
        keys = key_service.list_keys(open_context())
    if as_json:
        print_json([key_view(key) for key in keys])
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
        authorize(principal, Action.KEYS_MANAGE)
        info = key_service.revoke_key(open_context(), key_id, principal.actor)
    if as_json:
        print_json(key_view(info))
    else:
        stdout.print(f"Revoked key {info.key_id}")
