"""Hash values encrypted at rest (issue 12): seal every plain value of ``bank_entries`` and
``content_items`` with the installation's hash key, and replace each plain SHA-256
``value_digest`` by its HMAC under the lookup key; seal ``cases.answers`` too, where an
incomplete request's hashes wait (docs/HASHES_AT_REST.md).

Idempotent: rows already sealed are left alone. The key comes from the engine's keyring
(``Store.open`` installs it, making the key file first if needed); a database with plain rows
and no key refuses to migrate. On SQLite, ``Store.open`` then VACUUMs the file (the
connection runs with ``secure_delete`` as well), so no freed page keeps a plain value.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from deepshield.store.hash_sealing import (
    SEALED_PREFIX,
    SealedColumn,
    keyring_of,
    plain_digest,
    raw_table,
    sealed_columns,
)

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BATCH = 5000
#: The columns this revision seals: those that existed at 0007 (later revisions seal their own).
_TABLES_AT_0007 = ("bank_entries", "content_items", "cases")


def _columns() -> list[SealedColumn]:
    return [sealed for sealed in sealed_columns() if sealed.table in _TABLES_AT_0007]


def _reseal(sealed: SealedColumn, *, unseal: bool) -> int:
    """Seal (or, for a downgrade, open) every row of one column; the rows changed."""
    bind = op.get_bind()
    table = raw_table(sealed)
    value = table.c[sealed.column]
    aad = sealed.purpose.encode("ascii")
    is_sealed = value.like(SEALED_PREFIX + "%")
    pending = is_sealed if unseal else sa.not_(is_sealed)
    new_values = {sealed.column: sa.bindparam("new_value")}
    if sealed.digest:
        new_values["value_digest"] = sa.bindparam("new_digest")
    update = sa.update(table).where(table.c.id == sa.bindparam("row_id")).values(**new_values)
    changed, last_id = 0, 0
    while True:
        rows = bind.execute(sa.select(table.c.id, value).where(table.c.id > last_id, pending)
                            .order_by(table.c.id).limit(_BATCH)).all()
        if not rows:
            return changed
        keyring = keyring_of(bind.dialect)  # only asked for when there is something to do
        params = []
        for row_id, stored in rows:
            plain = keyring.open(stored, aad) if unseal else stored
            row = {"row_id": row_id, "new_value": plain if unseal else keyring.seal(stored, aad)}
            if sealed.digest:
                row["new_digest"] = plain_digest(plain) if unseal else keyring.lookup(plain_digest(plain))
            params.append(row)
        bind.execute(update, params)
        changed += len(params)
        last_id = int(rows[-1][0])


def upgrade() -> None:
    total = sum(_reseal(sealed, unseal=False) for sealed in _columns())
    if total:
        context.config.attributes["deepshield_sealed_rows"] = total


def downgrade() -> None:
    for sealed in _columns():
        _reseal(sealed, unseal=True)
