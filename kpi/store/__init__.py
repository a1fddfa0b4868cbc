"""The store: the one owner of every table and every query (returns and their versions, measure values,
evidence, targets, users, sessions, audit, periods), plus the archive of uploads.

`Store` opens the database and hands out cursors and transactions; `db(cur)` gives a cursor's repositories,
named for the domain (`db(cur).users.get(name)`, `db(cur).returns.current_values(period)`); `KpiQuery` is the
engine's one query. `kpi.store.base` declares that interface; it has two implementations, which hold all SQL
text and every quirk of their database: `kpi.store.duck` (an embedded DuckDB file, the default) and
`kpi.store.pg` (PostgreSQL, for a store named by a `postgresql://` URL; several servers on one database).
Nothing else imports a driver, and pages and modules annotate with `Cursor`.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

from kpi import audit
from kpi.archive import Archive, DatabaseArchive, archive_dir_for
from kpi.catalogue import Catalogue, load_catalogue
from kpi.settings import PROJECT_ROOT, get_settings, is_database_url
from kpi.store.base import Queries as QueryInterface
from kpi.store.base import StoreUnavailable, redacted
from kpi.store.duck import DIALECT, KPI_TABLES, SCHEMA_VERSION, Error, Queries, connect
from kpi.store.route import KpiQuery, db

if TYPE_CHECKING:
    from kpi.store import duck, pg

    Cursor: TypeAlias = duck.Cursor | pg.Cursor
else:
    from kpi.store.duck import Cursor

__all__ = ["DIALECT", "FULL_ACCESS", "KPI_TABLES", "SCHEMA_VERSION", "AccessScope", "Cursor", "Error", "KpiQuery",
           "Queries", "Store", "StoreUnavailable", "db", "open_store_for_audit_path", "redacted", "seed_guide_targets",
           "url_secret_file"]


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


def _url_state_path(url: str) -> Path:
    """Where a URL store's own files would be named from (the secret, by default): var/postgres-<host>-<port>-<db>."""
    from kpi.store import pg  # noqa: PLC0415 - only URL stores load the driver

    return PROJECT_ROOT / "var" / f"postgres-{pg.state_name(url)}.postgres"


def url_secret_file(url: str) -> Path:
    """The key file of a database named by a URL: PARASAT_SECRET_FILE, else var/postgres-<host>-<port>-<db>.secret."""
    configured = os.environ.get("PARASAT_SECRET_FILE") or get_settings().secret_file
    return Path(configured) if configured else audit.secret_path(_url_state_path(url))


class Store:
    """One database and its archive of uploads; hand out a cursor per thread or session.

    `target` is a DuckDB file (its archive a folder beside it) or a `postgresql://` URL (the archive in the
    database itself, so every server reads it); either starts empty and is created on first use.
    """

    def __init__(self, target: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.url: str | None = str(target) if is_database_url(target) else None
        self.read_only = read_only
        self._pool: Any = None
        if self.url is None:
            self.db_path = Path(target)
            self.location = str(self.db_path)
            if not read_only:
                self.db_path.parent.mkdir(parents=True, exist_ok=True)
            self._con = connect(self.db_path, read_only=read_only)
            # re-entrant: an older-style audit call inside a transaction waits for nothing
            self._write_lock: Any = threading.RLock()
        else:
            from kpi.store import pg  # noqa: PLC0415 - only URL stores load the driver

            self.db_path = _url_state_path(self.url)  # names no file of the database: its secret's default place
            self.location = redacted(self.url)
            self._pool = pg.Pool(self.url)
            self._write_lock = contextlib.nullcontext()  # the server orders writers (row and advisory locks)
        if not read_only:
            self._migrate()
        _OPEN[self.audit_path.resolve()] = self

    @property
    def archive_dir(self) -> Path:
        return archive_dir_for(self.db_path)

    @cached_property
    def archive(self) -> Archive | DatabaseArchive:
        """The archived uploads: a folder beside a DuckDB file; in PostgreSQL, a table of the database."""
        if self.url is not None:
            return DatabaseArchive(self)
        return Archive(self.archive_dir)

    @property
    def secret_file(self) -> Path:
        """The file of the audit and manifest key: beside a DuckDB file; for a URL, PARASAT_SECRET_FILE."""
        if self.url is not None:
            return url_secret_file(self.url)
        return audit.secret_path(self.db_path)

    @property
    def audit_path(self) -> Path:
        """The JSON-lines trail of older versions (imported into the `audit_event` table once)."""
        return self.db_path.with_suffix(".audit.jsonl")

    @cached_property
    def secret(self) -> bytes:
        """The key of the audit trail and backup manifests: a file beside the database, created on first run."""
        # A database copied without its secret gets a new one so that it keeps working; its older events then
        # fail verification (the key fingerprint in `meta` names the original), which is the honest verdict.
        if self.url is not None:  # servers share one key: a missing copy is an error, never a new key
            secret = audit.load_secret_file(self.secret_file, create=False)
            if secret is None:
                raise StoreUnavailable("db.secret_missing", file=str(self.secret_file), location=self.location)
            return secret
        secret = audit.load_secret(self.db_path, create=not self.read_only)
        if secret is None:
            raise RuntimeError(f"{audit.secret_path(self.db_path)} is missing or unreadable")
        return secret

    def cursor(self) -> Cursor:
        """A new cursor: on DuckDB's one connection, or a pooled PostgreSQL connection; one per thread or
        session, closed (given back) after use."""
        if self._pool is not None:
            from kpi.store import pg  # noqa: PLC0415

            return pg.Cursor(self._pool)
        return self._con.cursor()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
        else:
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
        if self.url is not None:
            self._migrate_shared()
            return
        cur = self.cursor()
        q = _create_and_seed(cur)
        if not q.meta.has(audit.KEY_ID):
            # First run: the secret is created beside the database (a later loss is reported, never papered over).
            secret = audit.load_secret(self.db_path, create=True)
            q.meta.add(audit.KEY_ID, audit.key_id(secret or b""))
        imported = q.meta.has(audit.IMPORTED_KEY)
        cur.close()
        if not imported:
            with self.transaction() as tx:
                audit.import_jsonl(tx, self.secret, self.audit_path)

    def _migrate_shared(self) -> None:
        """The same steps for a database that several servers open at once: one after the other, each in one
        transaction; the first creates the key (a later server must be given a copy)."""
        with self.transaction() as cur:
            db(cur).schema.lock_for_migration()
            q = _create_and_seed(cur)
            if not q.meta.has(audit.KEY_ID):
                secret = audit.load_secret_file(self.secret_file, create=True)
                if secret is None:  # unreadable or not a key: never record the fingerprint of an empty key
                    raise StoreUnavailable("db.secret_missing", file=str(self.secret_file), location=self.location)
                q.meta.add(audit.KEY_ID, audit.key_id(secret))
            if not q.meta.has(audit.IMPORTED_KEY):
                audit.import_jsonl(cur, self.secret, self.audit_path)

    def data_version(self) -> str:
        """A token that changes whenever accepted data or targets change (for cache keys): one indexed read."""
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


def _create_and_seed(cur: Cursor) -> QueryInterface:
    """The steps every store takes when opened: the tables, the evidence documents copied once, the guide's
    targets seeded once; the cursor's queries, for the steps that follow."""
    q = db(cur)
    q.schema.create()
    if not q.meta.has("evidence_documents"):
        q.schema.copy_evidence_documents()
        q.meta.add("evidence_documents", "1")
    if not q.meta.has("guide_targets_seeded"):
        seed_guide_targets(cur, load_catalogue())
        q.meta.add("guide_targets_seeded", "1")
    return q


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
