"""The DuckDB backend: every table, every SQL string and every DuckDB quirk of Parasat, in one module.

The rest of the code reaches the database through `db(cur)`, whose repositories are named for the domain
(`db(cur).users.get(name)`, `db(cur).returns.current_values(period)`, `db(cur).audit.insert(rows)`), and
through `KpiQuery`, the engine's one query. A second backend (PostgreSQL) implements the same classes and
methods with its own SQL; `Dialect` names what differs between the two (arrays, upserts, intervals).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb

from kpi.store import base

Cursor = duckdb.DuckDBPyConnection
"""A cursor on the store's connection: one per thread or session (the type pages and modules annotate with)."""
Error = duckdb.Error
"""The driver's own error class (callers that must tell a database error apart catch this)."""

SCHEMA_VERSION = 1


def connect(path: Path, *, read_only: bool = False) -> Cursor:
    """The one connection of a store; cursors are made from it (one per thread or session)."""
    return duckdb.connect(str(path), read_only=read_only)

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

USERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS app_user (
    username VARCHAR PRIMARY KEY,
    display_name VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    entities VARCHAR[] NOT NULL DEFAULT [],
    password_hash VARCHAR,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
CREATE TABLE IF NOT EXISTS app_session (
    id_hash VARCHAR PRIMARY KEY,
    username VARCHAR NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
"""


class Dialect(base.Dialect):
    """What is DuckDB's own in the SQL below (a PostgreSQL backend answers these differently)."""

    name = "duckdb"
    # DuckDB binds a Python list as an array; `IN (SELECT unnest(?::VARCHAR[]))` filters by one.
    in_list = "IN (SELECT unnest(?::VARCHAR[]))"
    upsert = "INSERT OR REPLACE INTO"  # PostgreSQL: INSERT ... ON CONFLICT (key) DO UPDATE

    @staticmethod
    def local_time(column: str, time_zone: str) -> str:
        """A TIMESTAMPTZ column as the wall-clock time of a named zone."""
        if not time_zone.replace("/", "").replace("_", "").isalnum():
            raise ValueError(f"not a time zone name: {time_zone!r}")
        return f"timezone('{time_zone}', {column})"

    @staticmethod
    def lock_holder(problem: Exception) -> str | None:
        """The driver's words for a file another process holds ('Could not set lock ... (PID 123)'): the
        holder ("PID 123", or "" when not named), else None (another problem)."""
        text = str(problem)
        if "Could not set lock" not in text and "Conflicting lock" not in text:
            return None
        found = re.search(r"PID (\d+)", text)
        return f"PID {found.group(1)}" if found else ""

    @staticmethod
    def literal(value: object) -> str:
        """A constant as SQL text (for the engine's definition tables, parsed once per cursor)."""
        if value is None:
            return "NULL"
        if isinstance(value, float):
            return repr(value)
        return "'" + str(value).replace("'", "''") + "'"


DIALECT = Dialect()


def _one(cur: Cursor, sql: str, params: Any = None) -> tuple[Any, ...] | None:
    return cur.execute(sql, params).fetchone() if params is not None else cur.execute(sql).fetchone()


def _all(cur: Cursor, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return cur.execute(sql, params).fetchall() if params is not None else cur.execute(sql).fetchall()


def _register_insert(cur: Cursor, table: str, columns: Mapping[str, Any], select: str = "*") -> None:
    """Insert NumPy columns into a table in one scan, matched to its columns by name."""
    if not len(next(iter(columns.values()))):
        return
    name = f"incoming_{table}"
    cur.register(name, dict(columns))
    try:
        cur.execute(f"INSERT INTO {table} BY NAME SELECT {select} FROM {name}")
    finally:
        cur.unregister(name)


# --------------------------------------------------------------------------- schema and meta


class Schema(base.Schema):
    """Creating and upgrading the tables."""

    __slots__ = ()

    def create(self) -> None:
        self.cur.execute(SCHEMA)
        self.cur.execute(USERS_SCHEMA)
        self.cur.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [str(SCHEMA_VERSION)])

    def create_users(self) -> None:
        self.cur.execute(USERS_SCHEMA)

    def copy_evidence_documents(self) -> None:
        self.cur.execute(
            "INSERT INTO evidence_document SELECT return_id, task_id, 1, doc_type, doc_number, doc_date, "
            "signatory, reference, NULL FROM evidence WHERE coalesce(doc_type, doc_number, "
            "CAST(doc_date AS VARCHAR), signatory, reference) IS NOT NULL ON CONFLICT DO NOTHING")

    def checkpoint(self) -> None:
        self.cur.execute("CHECKPOINT")

    def begin(self) -> None:
        self.cur.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.cur.execute("COMMIT")

    def rollback(self) -> None:
        self.cur.execute("ROLLBACK")


class Meta(base.Meta):
    """Small named values: flags set once, the audit head, periods opened early."""

    __slots__ = ()

    def get(self, key: str) -> str | None:
        row = _one(self.cur, "SELECT value FROM meta WHERE key = ?", [key])
        return None if row is None else row[0]

    def has(self, key: str) -> bool:
        return _one(self.cur, "SELECT 1 FROM meta WHERE key = ?", [key]) is not None

    def add(self, key: str, value: str) -> None:
        self.cur.execute("INSERT INTO meta VALUES (?, ?)", [key, value])

    def put(self, key: str, value: str) -> None:
        self.cur.execute(f"{DIALECT.upsert} meta VALUES (?, ?)", [key, value])

    def delete(self, key: str) -> None:
        self.cur.execute("DELETE FROM meta WHERE key = ?", [key])

    def with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        return [(str(k), str(v or "")) for k, v in _all(
            self.cur, "SELECT key, value FROM meta WHERE starts_with(key, ?) ORDER BY key", [prefix])]


# --------------------------------------------------------------------------- users and sessions

_USER = "username, display_name, role, entities"


class Users(base.Users):
    """Local users: name, role, entities, password hash, failed attempts and lock-out."""

    __slots__ = ()

    def exists(self, username: str) -> bool:
        return _one(self.cur, "SELECT 1 FROM app_user WHERE username = ?", [username]) is not None

    def add(self, username: str, display_name: str, role: str, entities: list[str],
            password_hash: str | None) -> None:
        self.cur.execute(
            "INSERT INTO app_user (username, display_name, role, entities, password_hash) VALUES (?, ?, ?, ?, ?)",
            [username, display_name, role, entities, password_hash])

    def get(self, username: str) -> tuple[Any, ...] | None:
        return _one(self.cur, f"SELECT {_USER} FROM app_user WHERE username = ? AND active", [username])

    def password_hash(self, username: str) -> str | None:
        row = _one(self.cur, "SELECT password_hash FROM app_user WHERE username = ? AND active", [username])
        return str(row[0]) if row and row[0] else None

    def set_password(self, username: str, password_hash: str, *, unlock: bool = True) -> None:
        if unlock:
            self.cur.execute("UPDATE app_user SET password_hash = ?, failed_attempts = 0, locked_until = NULL "
                             "WHERE username = ?", [password_hash, username])
        else:
            self.cur.execute("UPDATE app_user SET password_hash = ? WHERE username = ?", [password_hash, username])

    def unlock(self, username: str) -> None:
        self.cur.execute("UPDATE app_user SET failed_attempts = 0, locked_until = NULL WHERE username = ?",
                         [username])

    def set_role(self, username: str, role: str) -> None:
        self.cur.execute("UPDATE app_user SET role = ? WHERE username = ?", [role, username])

    def set_entities(self, username: str, entities: list[str]) -> None:
        self.cur.execute("UPDATE app_user SET entities = ? WHERE username = ?", [entities, username])

    def set_active(self, username: str, active: bool) -> None:
        self.cur.execute("UPDATE app_user SET active = ? WHERE username = ?", [active, username])

    def all(self) -> list[tuple[Any, ...]]:
        return _all(self.cur, f"SELECT {_USER}, active, failed_attempts, locked_until, created_at FROM app_user "
                              "ORDER BY username")

    def signed_in(self, username: str, now: Any) -> tuple[Any, ...] | None:
        return _one(self.cur,
                    "UPDATE app_user SET failed_attempts = 0, locked_until = NULL WHERE username = ? AND active "
                    f"AND (locked_until IS NULL OR locked_until <= ?) RETURNING {_USER}", [username, now])

    def failed(self, username: str, max_failures: int, now: Any, lock_until: Any) -> tuple[Any, ...] | None:
        return _one(self.cur,
                    "UPDATE app_user SET failed_attempts = failed_attempts + 1, locked_until = CASE "
                    "WHEN failed_attempts + 1 >= ? AND (locked_until IS NULL OR locked_until <= ?) THEN ? "
                    "ELSE locked_until END WHERE username = ? RETURNING failed_attempts, locked_until",
                    [max_failures, now, lock_until, username])

    def active_admins(self) -> int:
        row = _one(self.cur, "SELECT count(*) FROM app_user WHERE role = 'admin' AND active")
        return int(row[0]) if row else 0


class Sessions(base.Sessions):
    """Signed-in sessions, kept by the sha256 of their id."""

    __slots__ = ()

    def add(self, id_hash: str, username: str, now: Any, expires_at: Any) -> None:
        self.cur.execute("INSERT INTO app_session VALUES (?, ?, ?, ?, ?, NULL)",
                         [id_hash, username, now, now, expires_at])

    def forget_expired(self, before: Any) -> None:
        self.cur.execute("DELETE FROM app_session WHERE expires_at < ?", [before])

    def live(self, id_hash: str, now: Any) -> tuple[Any, ...] | None:
        return _one(self.cur,
                    "SELECT u.username, u.display_name, u.role, u.entities, s.last_seen FROM app_session s "
                    "JOIN app_user u ON u.username = s.username "
                    "WHERE s.id_hash = ? AND s.ended_at IS NULL AND s.expires_at > ? AND u.active", [id_hash, now])

    def touch(self, id_hash: str, now: Any, expires_at: Any) -> None:
        self.cur.execute("UPDATE app_session SET last_seen = ?, expires_at = ? WHERE id_hash = ? AND ended_at IS NULL",
                         [now, expires_at, id_hash])

    def end(self, id_hash: str, now: Any) -> None:
        self.cur.execute("UPDATE app_session SET ended_at = ? WHERE id_hash = ? AND ended_at IS NULL", [now, id_hash])

    def end_all_of(self, username: str, now: Any) -> None:
        self.cur.execute("UPDATE app_session SET ended_at = ? WHERE username = ? AND ended_at IS NULL",
                         [now, username])


# --------------------------------------------------------------------------- the audit trail


class AuditLog(base.AuditLog):
    """The rows of the hash-chained audit trail (the chaining and keys are `kpi.audit`'s)."""

    __slots__ = ()

    def last(self) -> tuple[int, str] | None:
        row = _one(self.cur, "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
        return (int(row[0]), str(row[1])) if row else None

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        columns = [list(c) for c in zip(*rows)]
        self.cur.execute("INSERT INTO audit_event SELECT unnest(?::BIGINT[]), unnest(?::VARCHAR[]), "
                         "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), "
                         "unnest(?::VARCHAR[]), unnest(?::VARCHAR[]), unnest(?::VARCHAR[])", columns)

    def read(self, limit: int | None = None) -> list[tuple[Any, ...]]:
        sql = "SELECT seq, recorded_at, actor, action, subject, detail, prev, hash FROM audit_event ORDER BY seq"
        if limit is not None:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) ORDER BY seq"
        return _all(self.cur, sql)

    def scan(self) -> Iterator[tuple[Any, ...]]:
        result = self.cur.execute("SELECT seq, recorded_at, actor, action, subject, detail, prev, hash, mac "
                                  "FROM audit_event ORDER BY seq")
        while batch := result.fetchmany(4096):
            yield from batch


# --------------------------------------------------------------------------- returns, values, evidence


class Returns(base.Returns):
    """Returns and their versions, measure values and evidence."""

    __slots__ = ()

    def data_version(self) -> str:
        row = _one(self.cur, "SELECT (SELECT coalesce(max(return_id), 0) FROM return_version),"
                             " (SELECT coalesce(max(set_at)::VARCHAR, '') FROM kpi_target),"
                             " (SELECT count(*) FROM kpi_target)")
        return "|".join(str(x) for x in row or ())

    def count(self) -> int:
        row = _one(self.cur, "SELECT count(*) FROM return_version")
        return int(row[0]) if row else 0

    def periods(self, entities: Sequence[str] | None = None) -> list[str]:
        if entities is None:
            rows = _all(self.cur, "SELECT DISTINCT period FROM current_return ORDER BY period")
        else:
            rows = _all(self.cur, f"SELECT DISTINCT period FROM current_return WHERE entity_code {DIALECT.in_list} "
                                  "ORDER BY period", [list(entities)])
        return [str(r[0]) for r in rows]

    def received(self, period: str, entities: Sequence[str]) -> int:
        row = _one(self.cur, "SELECT count(DISTINCT entity_code) FROM current_return "
                             f"WHERE period = ? AND entity_code {DIALECT.in_list}", [period, list(entities)])
        return int(row[0]) if row else 0

    def received_by_period(self, entities: Sequence[str]) -> list[tuple[str, int]]:
        return [(str(p), int(n)) for p, n in _all(
            self.cur, f"SELECT period, count(DISTINCT entity_code) FROM current_return WHERE entity_code "
                      f"{DIALECT.in_list} GROUP BY period", [list(entities)])]

    def current_ids(self, period: str) -> dict[str, int]:
        return dict(_all(self.cur, "SELECT entity_code, return_id FROM current_return WHERE period = ?", [period]))

    def current_values(self, period: str) -> list[tuple[str, str, int]]:
        return _all(self.cur, "SELECT entity_code, measure, value FROM current_value WHERE period = ?", [period])

    def first_submitted(self, period: str, time_zone: str) -> dict[str, Any]:
        first = DIALECT.local_time("submitted_at", time_zone)
        return dict(_all(self.cur, f"SELECT entity_code, min({first}) FROM return_version WHERE period = ? "
                                   "GROUP BY entity_code", [period]))

    def submission_counts(self, period: str, time_zone: str) -> list[tuple[Any, ...]]:
        submitted = DIALECT.local_time("submitted_at", time_zone)
        return _all(self.cur, f"SELECT entity_code, count(*) AS versions, min({submitted}), max({submitted}) "
                              "FROM return_version WHERE period = ? GROUP BY entity_code", [period])

    def versions_of_entity(self, code: str, time_zone: str) -> list[tuple[Any, ...]]:
        submitted, uploaded = (DIALECT.local_time(c, time_zone) for c in ("submitted_at", "uploaded_at"))
        return _all(self.cur, f"SELECT period, version, file_name, uploaded_by, {submitted}, {uploaded}, sha256, "
                              "version = max(version) OVER (PARTITION BY period) FROM return_version "
                              "WHERE entity_code = ? ORDER BY period DESC, version DESC", [code])

    def versions_in_period(self, period: str, entities: Sequence[str], time_zone: str) -> list[tuple[Any, ...]]:
        submitted, uploaded = (DIALECT.local_time(c, time_zone) for c in ("submitted_at", "uploaded_at"))
        return _all(self.cur, f"SELECT entity_code, version, file_name, uploaded_by, {submitted} AS submitted, "
                              f"{uploaded}, sha256 FROM return_version WHERE period = ? AND entity_code "
                              f"{DIALECT.in_list} ORDER BY submitted DESC, entity_code, version DESC",
                    [period, list(entities)])

    def current_state(self, entities: Sequence[str], periods: Sequence[str]) -> list[tuple[Any, ...]]:
        return _all(self.cur, """
            SELECT r.entity_code, r.period, r.version, r.sha256, list(v.measure), list(v.value)
            FROM current_return r LEFT JOIN return_value v USING (return_id)
            WHERE (r.entity_code, r.period) IN (SELECT unnest($e::VARCHAR[]), unnest($p::VARCHAR[]))
            GROUP BY ALL
            """, {"e": list(entities), "p": list(periods)})

    def new_ids(self, count: int) -> list[int]:
        return [int(r[0]) for r in _all(self.cur, "SELECT nextval('return_id_seq') FROM range(?)", [count])]

    def add_versions(self, columns: Mapping[str, list[Any]]) -> None:
        self.cur.execute("""
            INSERT INTO return_version
            SELECT unnest($id::BIGINT[]), unnest($entity::VARCHAR[]), unnest($period::VARCHAR[]),
                   unnest($version::INTEGER[]), unnest($sha::VARCHAR[]), unnest($file::VARCHAR[]),
                   unnest($tv::VARCHAR[]), unnest($by::VARCHAR[]), unnest($at::TIMESTAMPTZ[]),
                   unnest($submitted::TIMESTAMPTZ[])
            """, dict(columns))

    # Measure values and evidence rows run to tens of thousands per batch. Bound as lists, DuckDB converts
    # every element on its own (~0.8 s for 1,000 returns); as NumPy columns it scans them in one go (~0.1 s).

    def add_values(self, columns: Mapping[str, Any]) -> None:
        _register_insert(self.cur, "return_value", columns)

    def add_evidence(self, columns: Mapping[str, Any], months: int) -> None:
        events, participants = (", ".join(f"{s}{m}" for m in range(months)) for s in ("e", "p"))
        _register_insert(self.cur, "evidence", columns, select=(
            "return_id, task_id, status, "
            f"list_value({events}) AS events, list_value({participants}) AS participants, "
            "related_date::DATE AS related_date, audit_years"))

    def add_documents(self, columns: Mapping[str, Any]) -> None:
        _register_insert(self.cur, "evidence_document", columns, select=(
            "return_id, task_id, seq, doc_type, doc_number, doc_date::DATE AS doc_date, signatory, reference, "
            "sheet_row"))

    def copy_entities(self, copies: int) -> tuple[int, int]:
        row = _one(self.cur, "SELECT max(return_id) FROM return_version")
        offset = int(row[0]) if row and row[0] is not None else 0
        for copy in range(1, copies):
            self.cur.execute(
                "INSERT INTO return_version SELECT return_id + ? * ?, entity_code || '__' || ?, period, version, "
                "sha256, file_name, template_version, uploaded_by, uploaded_at, submitted_at FROM return_version "
                "WHERE return_id <= ?", [copy, offset, copy, offset])
            self.cur.execute("INSERT INTO return_value SELECT return_id + ? * ?, measure, value, cell "
                             "FROM return_value WHERE return_id <= ?", [copy, offset, offset])
        counts = _one(self.cur, "SELECT count(*), count(DISTINCT entity_code) FROM return_version")
        return (int(counts[0]), int(counts[1])) if counts else (0, 0)

    def evidence(self, period: str) -> list[tuple[Any, ...]]:
        return _all(self.cur, """
            SELECT r.entity_code, e.task_id, e.status, e.related_date, e.audit_years, e.events, e.participants
            FROM current_return r JOIN evidence e USING (return_id) WHERE r.period = ?
            """, [period])

    def documents(self, period: str) -> list[tuple[Any, ...]]:
        return _all(self.cur, """
            SELECT r.entity_code, d.task_id, d.doc_type, d.doc_number, d.doc_date, d.signatory, d.reference,
                   d.sheet_row
            FROM current_return r JOIN evidence_document d USING (return_id) WHERE r.period = ?
            ORDER BY r.entity_code, d.task_id, d.seq
            """, [period])


# --------------------------------------------------------------------------- targets


class Targets(base.Targets):
    """Targets by metric and year: the guide's, and those an analyst set."""

    __slots__ = ()

    def seed(self, rows: Sequence[tuple[str, int, float]]) -> None:
        for metric, year, value in rows:
            self.cur.execute("INSERT INTO kpi_target VALUES (?, ?, ?, 'guide', 'system', now()) "
                             "ON CONFLICT DO NOTHING", [metric, int(year), float(value)])

    def set(self, metric: str, year: int, value: float, actor: str) -> None:
        self.cur.execute(f"{DIALECT.upsert} kpi_target VALUES (?, ?, ?, 'analyst', ?, now())",
                         [metric, year, value, actor])

    def all(self) -> list[tuple[Any, ...]]:
        return _all(self.cur, "SELECT metric, year, value, source, set_by, set_at FROM kpi_target "
                              "ORDER BY metric, year")

    def in_force(self, year: int) -> list[tuple[str, float, int, str]]:
        return _all(self.cur, "SELECT metric, value, year, source FROM kpi_target WHERE year <= ? "
                              "QUALIFY row_number() OVER (PARTITION BY metric ORDER BY year DESC) = 1", [year])


# --------------------------------------------------------------------------- the engine's one query

KPI_TABLES = {
    "entity_kpi": "entity_code VARCHAR, entity_type VARCHAR, region VARCHAR, kpi VARCHAR",
    "metric_def": "metric VARCHAR, kpi VARCHAR, scale DOUBLE, den_kind VARCHAR",
    "metric_term": "metric VARCHAR, part VARCHAR, measure VARCHAR",
}
AGGREGATE_SQL = """
WITH entity_kpi AS (SELECT * FROM {entity_kpi}
                    WHERE $scope::VARCHAR[] IS NULL OR entity_code IN (SELECT unnest($scope::VARCHAR[]))),
metric_def AS (SELECT * FROM {metric_def}
               WHERE metric IN (SELECT unnest($metrics::VARCHAR[])) OR len($metrics::VARCHAR[]) = 0),
metric_term AS (SELECT * FROM {metric_term}),
periods(period) AS (SELECT unnest($periods::VARCHAR[])),
cur AS (SELECT entity_code, period, measure, value FROM current_value WHERE period IN (SELECT period FROM periods)),
reported AS (SELECT DISTINCT entity_code, period FROM current_return WHERE period IN (SELECT period FROM periods)),
per_entity AS (
    SELECT p.period, d.metric, d.kpi, d.scale, d.den_kind, ek.entity_code, ek.entity_type, ek.region,
           r.entity_code IS NOT NULL AS has_return,
           sum(c.value) FILTER (WHERE t.part = 'num') AS num,
           sum(c.value) FILTER (WHERE t.part = 'den') AS den_sum
    FROM periods p
    CROSS JOIN metric_def d
    JOIN entity_kpi ek ON ek.kpi = d.kpi
    LEFT JOIN reported r ON r.entity_code = ek.entity_code AND r.period = p.period
    LEFT JOIN metric_term t ON t.metric = d.metric
    LEFT JOIN cur c ON c.entity_code = ek.entity_code AND c.period = p.period AND c.measure = t.measure
    GROUP BY ALL
),
shaped AS (
    SELECT *, CASE den_kind WHEN 'entities' THEN CASE WHEN has_return THEN 1 END
                            WHEN 'sum' THEN den_sum END AS den
    FROM per_entity
),
grouped AS (
    SELECT period, metric, kpi, any_value(scale) AS scale, any_value(den_kind) AS den_kind,
           CASE WHEN grouping(entity_type) = 0 THEN 'entity_type'
                WHEN grouping(region) = 0 THEN 'region'
                WHEN grouping(entity_code) = 0 THEN 'entity'
                ELSE 'national' END AS level,
           coalesce(CASE WHEN grouping(entity_type) = 0 THEN entity_type END,
                    CASE WHEN grouping(region) = 0 THEN region END,
                    CASE WHEN grouping(entity_code) = 0 THEN entity_code END) AS key,
           grouping(region) = 0 AND region IS NULL AS nameless_region,
           sum(num) FILTER (WHERE has_return) AS num,
           sum(den) FILTER (WHERE has_return) AS den,
           count(*) FILTER (WHERE has_return) AS reporting,
           count(*) AS expected
    FROM shaped
    GROUP BY GROUPING SETS ((period, metric, kpi), (period, metric, kpi, entity_type),
                            (period, metric, kpi, region), (period, metric, kpi, entity_code))
)
SELECT period, metric, kpi, level, key, num,
       CASE WHEN den_kind = 'none' THEN NULL ELSE den END AS den,
       CASE WHEN den_kind = 'none' THEN num
            WHEN den IS NULL OR den = 0 OR num IS NULL THEN NULL
            ELSE scale * num / den END AS value,
       reporting, expected
FROM grouped
WHERE NOT nameless_region AND level IN (SELECT unnest($levels::VARCHAR[]))
ORDER BY period, metric, list_position(['national', 'entity_type', 'region', 'entity'], level), key
"""


class KpiQuery(base.KpiQuery):
    """Every declared formula in one query: the catalogue's definitions are three small temporary tables
    (entity_kpi, metric_def, metric_term: rows as `KPI_TABLES` names their columns), loaded once per cursor."""

    def __init__(self, definitions: Mapping[str, Sequence[tuple[Any, ...]]]) -> None:
        digest = hashlib.sha256(repr(sorted((k, list(v)) for k, v in definitions.items())).encode()).hexdigest()[:12]
        self._tables = {name: f"kpi_{name}_{digest}" for name in KPI_TABLES}
        self._create_sql = []
        for name, columns in KPI_TABLES.items():
            values = ", ".join("(" + ", ".join(DIALECT.literal(v) for v in row) + ")" for row in definitions[name])
            self._create_sql.append(f"CREATE TEMP TABLE IF NOT EXISTS {self._tables[name]} ({columns}) ; "
                                    + (f"INSERT INTO {self._tables[name]} VALUES {values}" if values else ""))
        self._sql = AGGREGATE_SQL.format(**self._tables)

    def _ensure_definitions(self, cur: Cursor) -> None:
        """Load the definition tables into this cursor's temporary schema once (parsing them is the slow part)."""
        present = _one(cur, "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?",
                       [self._tables["entity_kpi"]])
        if present and present[0]:
            return
        for statement in self._create_sql:
            cur.execute(statement)

    def run(self, cur: Cursor, periods: Sequence[str], levels: Sequence[str], metrics: Sequence[str],
            population: Sequence[str] | None) -> list[tuple[Any, ...]]:
        """(period, metric, kpi, level, key, numerator, denominator, value, reporting, expected) rows."""
        self._ensure_definitions(cur)
        return _all(cur, self._sql, {"periods": list(periods), "levels": list(levels), "metrics": list(metrics),
                                     "scope": None if population is None else list(population)})


# --------------------------------------------------------------------------- a cursor's repositories



class Queries(base.Queries):
    """The repositories of one cursor (inside a transaction or not)."""

    __slots__ = ()

    @property
    def schema(self) -> Schema:
        return Schema(self.cur)

    @property
    def meta(self) -> Meta:
        return Meta(self.cur)

    @property
    def users(self) -> Users:
        return Users(self.cur)

    @property
    def sessions(self) -> Sessions:
        return Sessions(self.cur)

    @property
    def audit(self) -> AuditLog:
        return AuditLog(self.cur)

    @property
    def returns(self) -> Returns:
        return Returns(self.cur)

    @property
    def targets(self) -> Targets:
        return Targets(self.cur)


def db(cur: Cursor) -> Queries:
    """The store's queries on a cursor (a PostgreSQL backend picks its own by the cursor it is given)."""
    return Queries(cur)
