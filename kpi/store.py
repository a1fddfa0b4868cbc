"""The DuckDB store: returns and their versions, measure values, evidence, targets, audit; plus the file archive."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import duckdb

from kpi import audit
from kpi.archive import Archive, archive_dir_for
from kpi.catalogue import Catalogue, load_catalogue

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE SEQUENCE IF NOT EXISTS return_id_seq START 1;
CREATE TABLE IF NOT EXISTS return_version (
    return_id BIGINT PRIMARY KEY,
    entity_code VARCHAR NOT NULL,
    period VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    sha256 VARCHAR NOT NULL,
    file_name VARCHAR NOT NULL,
    template_version VARCHAR,
    uploaded_by VARCHAR NOT NULL,
    uploaded_at TIMESTAMPTZ NOT NULL,
    submitted_at TIMESTAMPTZ,
    UNIQUE (entity_code, period, version)
);
CREATE TABLE IF NOT EXISTS return_value (
    return_id BIGINT NOT NULL,
    measure VARCHAR NOT NULL,
    value BIGINT NOT NULL,
    cell VARCHAR,
    PRIMARY KEY (return_id, measure)
);
CREATE TABLE IF NOT EXISTS evidence (
    return_id BIGINT NOT NULL,
    task_id VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    doc_type VARCHAR,
    doc_number VARCHAR,
    doc_date DATE,
    signatory VARCHAR,
    reference VARCHAR,
    events INTEGER[],
    participants INTEGER[],
    related_date DATE,
    audit_years VARCHAR,
    PRIMARY KEY (return_id, task_id)
);
CREATE TABLE IF NOT EXISTS evidence_document (
    return_id BIGINT NOT NULL,
    task_id VARCHAR NOT NULL,
    seq INTEGER NOT NULL,
    doc_type VARCHAR,
    doc_number VARCHAR,
    doc_date DATE,
    signatory VARCHAR,
    reference VARCHAR,
    sheet_row INTEGER,
    PRIMARY KEY (return_id, task_id, seq)
);
CREATE TABLE IF NOT EXISTS kpi_target (
    metric VARCHAR NOT NULL,
    year INTEGER NOT NULL,
    value DOUBLE NOT NULL,
    source VARCHAR NOT NULL,
    set_by VARCHAR NOT NULL,
    set_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (metric, year)
);
CREATE TABLE IF NOT EXISTS audit_event (
    seq BIGINT PRIMARY KEY,
    recorded_at VARCHAR NOT NULL,
    actor VARCHAR NOT NULL,
    action VARCHAR NOT NULL,
    subject VARCHAR,
    detail VARCHAR NOT NULL,
    prev VARCHAR NOT NULL,
    hash VARCHAR NOT NULL,
    mac VARCHAR NOT NULL
);
CREATE OR REPLACE VIEW current_return AS
    SELECT * FROM return_version
    QUALIFY row_number() OVER (PARTITION BY entity_code, period ORDER BY version DESC) = 1;
CREATE OR REPLACE VIEW current_value AS
    SELECT r.entity_code, r.period, r.version, v.measure, v.value
    FROM current_return r JOIN return_value v USING (return_id);
"""


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
        self._con = duckdb.connect(str(self.db_path), read_only=read_only)
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

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new cursor on the shared connection: one per thread or session."""
        return self._con.cursor()

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside one transaction, committed on success and rolled back on any error."""
        with self._write_lock:
            cur = self.cursor()
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            else:
                cur.execute("COMMIT")
            finally:
                cur.close()

    def _migrate(self) -> None:
        cur = self.cursor()
        cur.execute(SCHEMA)
        cur.execute(
            "INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [str(SCHEMA_VERSION)]
        )
        if not cur.execute("SELECT 1 FROM meta WHERE key = 'evidence_documents'").fetchone():
            # Before the documents table each evidence row held its one document: copy it over once.
            cur.execute(
                "INSERT INTO evidence_document SELECT return_id, task_id, 1, doc_type, doc_number, doc_date, "
                "signatory, reference, NULL FROM evidence WHERE coalesce(doc_type, doc_number, "
                "CAST(doc_date AS VARCHAR), signatory, reference) IS NOT NULL ON CONFLICT DO NOTHING")
            cur.execute("INSERT INTO meta VALUES ('evidence_documents', '1')")
        seeded = cur.execute("SELECT 1 FROM meta WHERE key = 'guide_targets_seeded'").fetchone()
        if not seeded:
            seed_guide_targets(cur, load_catalogue())
            cur.execute("INSERT INTO meta VALUES ('guide_targets_seeded', '1')")
        if not cur.execute("SELECT 1 FROM meta WHERE key = ?", [audit.KEY_ID]).fetchone():
            # First run: the secret is created beside the database (a later loss is reported, never papered over).
            secret = audit.load_secret(self.db_path, create=True)
            cur.execute("INSERT INTO meta VALUES (?, ?)", [audit.KEY_ID, audit.key_id(secret or b"")])
        imported = cur.execute("SELECT 1 FROM meta WHERE key = ?", [audit.IMPORTED_KEY]).fetchone()
        cur.close()
        if not imported:
            with self.transaction() as tx:
                audit.import_jsonl(tx, self.secret, self.audit_path)

    def data_version(self) -> str:
        """A token that changes whenever accepted data or targets change (for cache keys)."""
        row = self.cursor().execute(
            "SELECT (SELECT coalesce(max(return_id), 0) FROM return_version),"
            " (SELECT coalesce(max(set_at)::VARCHAR, '') FROM kpi_target),"
            " (SELECT count(*) FROM kpi_target)"
        ).fetchone()
        return "|".join(str(x) for x in row or ())

    def is_empty(self) -> bool:
        row = self.cursor().execute("SELECT count(*) FROM return_version").fetchone()
        return not row or row[0] == 0

def seed_guide_targets(cur: duckdb.DuckDBPyConnection, catalogue: Catalogue) -> None:
    """Insert the targets the guide itself states (once, when a database is created)."""
    rows = []
    for kpi in catalogue.kpis:
        for year, value in kpi.targets.items():
            rows.append((kpi.id, year, value))
        for secondary in kpi.secondary:
            for year, value in secondary.targets.items():
                rows.append((f"{kpi.id}:{secondary.key}", year, value))
    for metric, year, value in rows:
        cur.execute(
            "INSERT INTO kpi_target VALUES (?, ?, ?, 'guide', 'system', now()) ON CONFLICT DO NOTHING",
            [metric, int(year), float(value)],
        )
