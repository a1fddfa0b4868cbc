"""The store: the one owner of every table and every query (returns and their versions, measure values,
evidence, targets, users, sessions, audit, periods), plus the file archive.

`Store` opens the database and hands out cursors and transactions; `db(cur)` gives a cursor's repositories,
named for the domain (`db(cur).users.get(name)`, `db(cur).returns.current_values(period)`); `KpiQuery` is the
engine's one query. `kpi.store.base` declares that interface; all SQL text and every DuckDB quirk live in its
DuckDB implementation, `kpi.store.duck`; nothing else imports the driver, and pages and modules annotate
with `Cursor`.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from kpi import audit
from kpi.archive import Archive, archive_dir_for
from kpi.catalogue import Catalogue, load_catalogue
from kpi.store.duck import DIALECT, KPI_TABLES, SCHEMA_VERSION, Cursor, Error, KpiQuery, Queries, connect, db

__all__ = ["DIALECT", "FULL_ACCESS", "KPI_TABLES", "SCHEMA_VERSION", "AccessScope", "Cursor", "Error", "KpiQuery",
           "Queries", "Store", "db", "open_store_for_audit_path", "seed_guide_targets"]


@dataclass(frozen=True)
class AccessScope:
    """Which entities a caller may read and write; `None` means all of them."""

    entities: frozenset[str] | None = None
    actor: str = "system"

    def allows(self, entity_code: str) -> bool:
        return self.entities is None or entity_code in self.entities


FULL_ACCESS = AccessScope()
# Open stores by the path of their older JSON-lines audit trail, so `audit.record(store.audit_path, ...)` still works.
_OPEN: weakref.WeakValueDictionary[Path, Store] = weakref.WeakValueDictionary()


def open_store_for_audit_path(path: Path) -> Store | None:
    """The open store whose (older) audit trail path this is, if any."""
    return _OPEN.get(path.resolve())


class Store:
    """One DuckDB database file and its archive folder; hand out a cursor per thread or session."""

    def __init__(self, db_path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.db_path = Path(db_path)
        self.read_only = read_only
        if not read_only:
            self.db_path.parent.mkdir(parents=True, exist_ok=True)
        self._con = connect(self.db_path, read_only=read_only)
        self._write_lock = threading.RLock()  # re-entrant: an older-style audit call inside a transaction waits for nothing
        if not read_only:
            self._migrate()
        _OPEN[self.audit_path.resolve()] = self

    @property
    def archive_dir(self) -> Path:
        return archive_dir_for(self.db_path)

    @cached_property
    def archive(self) -> Archive:
        return Archive(self.archive_dir)

    @property
    def audit_path(self) -> Path:
        """The JSON-lines trail of older versions (imported into the `audit_event` table once)."""
        return self.db_path.with_suffix(".audit.jsonl")

    @cached_property
    def secret(self) -> bytes:
        """The key of the audit trail and backup manifests: a file beside the database, created on first run."""
        # A database copied without its secret gets a new one so that it keeps working; its older events then
        # fail verification (the key fingerprint in `meta` names the original), which is the honest verdict.
        secret = audit.load_secret(self.db_path, create=not self.read_only)
        if secret is None:
            raise RuntimeError(f"{audit.secret_path(self.db_path)} is missing or unreadable")
        return secret

    def cursor(self) -> Cursor:
        """A new cursor on the shared connection: one per thread or session."""
        return self._con.cursor()

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Cursor]:
        """A cursor inside one transaction, committed on success and rolled back on any error."""
        with self._write_lock:
            cur = self.cursor()
            schema = db(cur).schema
            schema.begin()
            try:
                yield cur
            except BaseException:
                schema.rollback()
                raise
            else:
                schema.commit()
            finally:
                cur.close()

    def _migrate(self) -> None:
        cur = self.cursor()
        q = db(cur)
        q.schema.create()
        if not q.meta.has("evidence_documents"):
            q.schema.copy_evidence_documents()
            q.meta.add("evidence_documents", "1")
        if not q.meta.has("guide_targets_seeded"):
            seed_guide_targets(cur, load_catalogue())
            q.meta.add("guide_targets_seeded", "1")
        if not q.meta.has(audit.KEY_ID):
            # First run: the secret is created beside the database (a later loss is reported, never papered over).
            secret = audit.load_secret(self.db_path, create=True)
            q.meta.add(audit.KEY_ID, audit.key_id(secret or b""))
        imported = q.meta.has(audit.IMPORTED_KEY)
        cur.close()
        if not imported:
            with self.transaction() as tx:
                audit.import_jsonl(tx, self.secret, self.audit_path)

    def data_version(self) -> str:
        """A token that changes whenever accepted data or targets change (for cache keys)."""
        cur = self.cursor()
        try:
            return db(cur).returns.data_version()
        finally:
            cur.close()

    def is_empty(self) -> bool:
        cur = self.cursor()
        try:
            return db(cur).returns.count() == 0
        finally:
            cur.close()

    def checkpoint(self) -> None:
        """Wait for any write under way, then write the log into the database file (before a file copy)."""
        with self._write_lock:
            cur = self.cursor()
            try:
                db(cur).schema.checkpoint()
            finally:
                cur.close()


def seed_guide_targets(cur: Cursor, catalogue: Catalogue) -> None:
    """Insert the targets the guide itself states (once, when a database is created)."""
    rows = []
    for kpi in catalogue.kpis:
        for year, value in kpi.targets.items():
            rows.append((kpi.id, int(year), float(value)))
        for secondary in kpi.secondary:
            for year, value in secondary.targets.items():
                rows.append((f"{kpi.id}:{secondary.key}", int(year), float(value)))
    db(cur).targets.seed(rows)
