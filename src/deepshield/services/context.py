"""What every use case needs: settings, the store and the matcher. Built once by a door."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from deepshield.services.spread.live_index import Matcher
from deepshield.settings import Settings
from deepshield.store import Store
from deepshield.store.audit_group_commit import AuditGroupCommit
from deepshield.store.hash_sealing import HashKeyFile


@dataclass
class ServiceContext:
    settings: Settings
    store: Store
    matcher: Matcher
    #: Audit events of reads (match, hash, detect), group-committed: see AuditGroupCommit.
    read_audit: AuditGroupCommit = field(init=False)

    def __post_init__(self) -> None:
        self.read_audit = AuditGroupCommit(self.store)

    @classmethod
    def open(cls, settings: Settings) -> ServiceContext:
        """Connect to the configured store and apply migrations; the index loads on first match.

        Hash values are sealed with the key file under ``$DEEPSHIELD_HOME/keys`` (made on first
        start), or KMS-wrapped keys there with ``DEEPSHIELD_HASH_KEY_CALLBACK``."""
        store = Store.open(settings.resolved_database_url,
                           hash_keys=HashKeyFile.for_home(settings.home, settings.hash_keys.callback))
        snapshot = settings.home / "index" / "pdq"
        return cls(settings=settings, store=store,
                   matcher=Matcher(store, settings.match, snapshot_dir=snapshot))

    def close(self) -> None:
        self.read_audit.close()
        self.store.close()


Held = TypeVar("Held")


class PerContext(Generic[Held]):
    """A value kept for each ``ServiceContext`` (an in-memory index a service builds lazily),
    attached from outside: the context stays a plain holder of settings, store and matcher, and
    the value goes when the context does. ``ServiceContext`` is an unhashable dataclass, so it is
    keyed by id() and dropped by a finalizer before the id can be reused."""

    def __init__(self, make: Callable[[], Held]) -> None:
        self._make = make
        self._held: dict[int, Held] = {}
        self._lock = threading.Lock()

    def __call__(self, ctx: ServiceContext) -> Held:
        key = id(ctx)
        with self._lock:
            value = self._held.get(key)
            if value is None:
                value = self._held[key] = self._make()
                weakref.finalize(ctx, self._held.pop, key, None)
            return value
