"""The PostgreSQL backend: the same repositories as `kpi.store.duck`, with PostgreSQL's SQL, for a store named
by a `postgresql://` URL (several servers on one database).

What differs from DuckDB, in one place: parameters are `%s`; arrays are `text[]` bound from lists; there is no
QUALIFY (DISTINCT ON instead), no `any_value`, no `GROUP BY ALL`; `sum` of integers is NUMERIC (cast back to
BIGINT, so Python sees the same ints); facts go in with COPY; the engine's `entity_kpi` is `AS MATERIALIZED`
(inlined, PostgreSQL re-plans it per join and a national report took 2 s instead of 0.35 s).

Many writers: a return's version number is assigned under a transaction-level advisory lock on its
(entity, period), and a unique constraint backs it; the audit trail's chain is appended under one advisory
lock; the data version is a counter in `meta` bumped by every transaction that changes returns or targets.
Archived uploads live in the database (`archive_file`, by sha256), written in the transaction of their return.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import psycopg
from psycopg.pq import TransactionStatus

from kpi.store import base, duck

Error = psycopg.Error
SCHEMA_VERSION = 1
DATA_VERSION_KEY = "data_version"
# Advisory lock keys of the whole database (the per-return ones are hashes of entity and period).
MIGRATE_LOCK = 0x5041524153415401  # "PARASAT\x01"
AUDIT_LOCK = 0x5041524153415402


SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE SEQUENCE IF NOT EXISTS return_id_seq START 1;
CREATE TABLE IF NOT EXISTS return_version (
    return_id BIGINT PRIMARY KEY,
    entity_code TEXT NOT NULL,
    period TEXT NOT NULL,
    version INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    file_name TEXT NOT NULL,
    template_version TEXT,
    uploaded_by TEXT NOT NULL,
    uploaded_at TIMESTAMPTZ NOT NULL,
    submitted_at TIMESTAMPTZ,
    UNIQUE (entity_code, period, version)
);
CREATE INDEX IF NOT EXISTS return_version_period ON return_version (period, entity_code, version);
CREATE TABLE IF NOT EXISTS return_value (
    return_id BIGINT NOT NULL,
    measure TEXT NOT NULL,
    value BIGINT NOT NULL,
    cell TEXT,
    PRIMARY KEY (return_id, measure)
);
CREATE TABLE IF NOT EXISTS evidence (
    return_id BIGINT NOT NULL,
    task_id TEXT NOT NULL,
    status TEXT NOT NULL,
    doc_type TEXT,
    doc_number TEXT,
    doc_date DATE,
    signatory TEXT,
    reference TEXT,
    events INTEGER[],
    participants INTEGER[],
    related_date DATE,
    audit_years TEXT,
    PRIMARY KEY (return_id, task_id)
);
CREATE TABLE IF NOT EXISTS evidence_document (
    return_id BIGINT NOT NULL,
    task_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    doc_type TEXT,
    doc_number TEXT,
    doc_date DATE,
    signatory TEXT,
    reference TEXT,
    sheet_row INTEGER,
    PRIMARY KEY (return_id, task_id, seq)
);
CREATE TABLE IF NOT EXISTS kpi_target (
    metric TEXT NOT NULL,
    year INTEGER NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    source TEXT NOT NULL,
    set_by TEXT NOT NULL,
    set_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (metric, year)
);
CREATE TABLE IF NOT EXISTS audit_event (
    seq BIGINT PRIMARY KEY,
    recorded_at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    detail TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL,
    mac TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS archive_file (
    sha256 TEXT PRIMARY KEY,
    bytes BYTEA NOT NULL,
    size BIGINT NOT NULL,
    archived_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE OR REPLACE VIEW current_return AS
    SELECT DISTINCT ON (entity_code, period) * FROM return_version
    ORDER BY entity_code, period, version DESC;
CREATE OR REPLACE VIEW current_value AS
    SELECT r.entity_code, r.period, r.version, v.measure, v.value
    FROM current_return r JOIN return_value v USING (return_id);
"""

USERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS app_user (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL,
    entities TEXT[] NOT NULL DEFAULT '{}',
    password_hash TEXT,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
CREATE TABLE IF NOT EXISTS app_session (
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    last_seen TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    ended_at TIMESTAMP
);
"""


class Dialect(base.Dialect):
    """What is PostgreSQL's own in the SQL below."""

    name = "postgresql"
    in_list = "= ANY(%s::text[])"

    @staticmethod
    def local_time(column: str, time_zone: str) -> str:
        """A TIMESTAMPTZ column as the wall-clock time of a named zone."""
        if not time_zone.replace("/", "").replace("_", "").isalnum():
            raise ValueError(f"not a time zone name: {time_zone!r}")
        return f"timezone('{time_zone}', {column})"

    @staticmethod
    def lock_holder(problem: Exception) -> str | None:
        """A server is never held by one process: no problem is a lock on the database."""
        return None

    @staticmethod
    def literal(value: object) -> str:
        """A constant as SQL text (for the engine's definition tables)."""
        if value is None:
            return "NULL"
        if isinstance(value, float):
            return repr(value)
        return "'" + str(value).replace("'", "''") + "'"


DIALECT = Dialect()


# --------------------------------------------------------------------------- connections


class Pool:
    """The open connections of one store, lent out as cursors and given back (a small LIFO free list)."""

    def __init__(self, url: str, *, keep: int = 16) -> None:
        self.url = url
        self.keep = keep
        self._idle: list[psycopg.Connection[Any]] = []
        self._lock = threading.Lock()
        self.closed = False

    def connect(self) -> psycopg.Connection[Any]:
        try:
            # work_mem: the national report's sorts and hashes stay in memory (4 MB spilled them to disk);
            # random_page_cost: the data of a period are read through indexes from a cache or an SSD
            return psycopg.connect(self.url, autocommit=True, connect_timeout=10,
                                   options="-c TimeZone=UTC -c work_mem=32MB -c random_page_cost=1.1")
        except psycopg.OperationalError as problem:
            reason = (str(problem).strip().splitlines() or ["?"])[-1].replace(self.url, base.redacted(self.url))
            raise base.StoreUnavailable("db.unreachable", location=base.redacted(self.url), reason=reason[:300]) from None

    def take(self) -> psycopg.Connection[Any]:
        with self._lock:
            if self.closed:
                raise RuntimeError("the store is closed")
            while self._idle:
                conn = self._idle.pop()
                if not conn.closed and not conn.broken:
                    return conn
        return self.connect()

    def give_back(self, conn: psycopg.Connection[Any]) -> None:
        if conn.closed or conn.broken:
            return
        if conn.info.transaction_status != TransactionStatus.IDLE:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                conn.close()
                return
        with self._lock:
            if not self.closed and len(self._idle) < self.keep:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            self.closed = True
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def pyformat(sql: str, params: Any) -> str:
    """A statement the repositories share with DuckDB (`?` placeholders) in psycopg's style (`%s`, a literal `%`
    doubled); one written here for PostgreSQL (`%s`) is left as it is."""
    if params is None or "?" not in sql or "%s" in sql:
        return sql
    return sql.replace("%", "%%").replace("?", "%s")


class Cursor:
    """A connection lent by the store's pool: what the DuckDB backend's cursor is (one per thread or session);
    `close` gives it back."""

    __slots__ = ("_pool", "conn")

    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self.conn: psycopg.Connection[Any] | None = pool.take()

    def execute(self, sql: str, params: Any = None) -> psycopg.Cursor[Any]:
        if self.conn is None:
            raise RuntimeError("the cursor is closed")
        sql = pyformat(sql, params)
        idle = self.conn.info.transaction_status == TransactionStatus.IDLE
        try:
            return self.conn.execute(sql, params)  # type: ignore[arg-type]
        except psycopg.OperationalError:
            # The server restarted or ended this connection while it sat in a pool (a page's lent cursor):
            # outside a transaction the statement never ran, so it runs again on a new connection, once.
            if not (idle and self.conn.broken):
                raise
            self.conn = self._pool.take()
            return self.conn.execute(sql, params)  # type: ignore[arg-type]

    def copy(self, statement: str) -> Any:
        if self.conn is None:
            raise RuntimeError("the cursor is closed")
        return self.conn.cursor().copy(statement)  # type: ignore[arg-type]

    def close(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            self._pool.give_back(conn)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # the interpreter may be shutting down
            self.close()


def tool_connection(url: str) -> tuple[str, dict[str, str]]:
    """A URL as the connection string and environment of PostgreSQL's own tools (pg_dump, pg_restore): the
    password goes in the environment, never on a command line that any user can read."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo  # noqa: PLC0415

    params = conninfo_to_dict(url)
    password = params.pop("password", None)
    return make_conninfo("", **params), ({"PGPASSWORD": str(password)} if password else {})


def state_name(url: str) -> str:
    """A URL's server and database as a file name part: `<host>-<port>-<db>` (never the user or password)."""
    from psycopg.conninfo import conninfo_to_dict  # noqa: PLC0415

    parts = conninfo_to_dict(url)
    return "-".join(re.sub(r"[^A-Za-z0-9_.]", "_", str(parts.get(k) or d))
                    for k, d in (("host", "localhost"), ("port", "5432"), ("dbname", "postgres")))


def has_returns(url: str) -> bool:
    """Whether the database named by a URL holds any return (a restore does not replace one unless forced)."""
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        table = conn.execute("SELECT to_regclass('return_version') IS NOT NULL").fetchone()
        if not table or not table[0]:
            return False
        row = conn.execute("SELECT EXISTS (SELECT 1 FROM return_version)").fetchone()
        return bool(row and row[0])


def _one(cur: Cursor, sql: str, params: Any = None) -> tuple[Any, ...] | None:
    return cur.execute(sql, params).fetchone()


def _all(cur: Cursor, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    return cur.execute(sql, params).fetchall()


def _bump_data_version(cur: Cursor) -> None:
    cur.execute("INSERT INTO meta VALUES (%s, '1') ON CONFLICT (key) DO UPDATE "
                "SET value = (meta.value::bigint + 1)::text", [DATA_VERSION_KEY])


def _copy_rows(cur: Cursor, table: str, names: Sequence[str], rows: Iterator[Sequence[Any]] | list[Any]) -> None:
    """Rows into a table with COPY (one stream, not a statement per row)."""
    with cur.copy(f"COPY {table} ({', '.join(names)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _column(columns: Mapping[str, Any], name: str) -> list[Any]:
    values = columns[name]
    return values.tolist() if hasattr(values, "tolist") else list(values)


# --------------------------------------------------------------------------- schema and meta


class Schema(duck.Schema):
    """Creating and upgrading the tables."""

    __slots__ = ()

    def create(self) -> None:
        self.cur.execute(SCHEMA)
        self.cur.execute(USERS_SCHEMA)
        self.cur.execute("INSERT INTO meta VALUES ('schema_version', %s) ON CONFLICT DO NOTHING",
                         [str(SCHEMA_VERSION)])
        self.cur.execute("INSERT INTO meta VALUES (%s, '0') ON CONFLICT DO NOTHING", [DATA_VERSION_KEY])

    def create_users(self) -> None:
        self.cur.execute(USERS_SCHEMA)

    def copy_evidence_documents(self) -> None:
        self.cur.execute(
            "INSERT INTO evidence_document SELECT return_id, task_id, 1, doc_type, doc_number, doc_date, "
            "signatory, reference, NULL FROM evidence WHERE coalesce(doc_type, doc_number, "
            "CAST(doc_date AS TEXT), signatory, reference) IS NOT NULL ON CONFLICT DO NOTHING")

    def checkpoint(self) -> None:
        """Nothing to do: a dump (pg_dump) is consistent on its own."""

    def begin(self) -> None:
        self.cur.execute("BEGIN")

    def lock_for_migration(self) -> None:
        """Servers starting together upgrade the schema one after the other (inside a transaction)."""
        self.cur.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATE_LOCK])


class Meta(duck.Meta):
    """Small named values: flags set once, the audit head, periods opened early, the data version."""

    __slots__ = ()

    def put(self, key: str, value: str) -> None:
        self.cur.execute("INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                         [key, value])

    def with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        return [(str(k), str(v or "")) for k, v in _all(
            self.cur, "SELECT key, value FROM meta WHERE starts_with(key, %s) ORDER BY key COLLATE \"C\"",
            [prefix])]


# --------------------------------------------------------------------------- users and sessions

_USER = "username, display_name, role, entities"


class Users(duck.Users):
    """Local users: name, role, entities, password hash, failed attempts and lock-out."""

    __slots__ = ()

    def add(self, username: str, display_name: str, role: str, entities: list[str],
            password_hash: str | None) -> None:
        self.cur.execute(
            "INSERT INTO app_user (username, display_name, role, entities, password_hash) "
            "VALUES (%s, %s, %s, %s::text[], %s)", [username, display_name, role, list(entities), password_hash])

    def set_entities(self, username: str, entities: list[str]) -> None:
        self.cur.execute("UPDATE app_user SET entities = %s::text[] WHERE username = %s", [list(entities), username])

    def all(self) -> list[tuple[Any, ...]]:
        return _all(self.cur, f"SELECT {_USER}, active, failed_attempts, locked_until, created_at FROM app_user "
                              "ORDER BY username COLLATE \"C\"")


class Sessions(duck.Sessions):
    """Signed-in sessions, kept by the sha256 of their id."""

    __slots__ = ()

    def live(self, id_hash: str, now: Any) -> tuple[Any, ...] | None:
        return _one(self.cur,
                    "SELECT u.username, u.display_name, u.role, u.entities, s.last_seen FROM app_session s "
                    "JOIN app_user u ON u.username = s.username "
                    "WHERE s.id_hash = %s AND s.ended_at IS NULL AND s.expires_at > %s AND u.active",
                    [id_hash, now])

    def touch(self, id_hash: str, now: Any, expires_at: Any) -> None:
        self.cur.execute("UPDATE app_session SET last_seen = %s, expires_at = %s "
                         "WHERE id_hash = %s AND ended_at IS NULL", [now, expires_at, id_hash])

    def end(self, id_hash: str, now: Any) -> None:
        self.cur.execute("UPDATE app_session SET ended_at = %s WHERE id_hash = %s AND ended_at IS NULL",
                         [now, id_hash])


# --------------------------------------------------------------------------- the audit trail


class AuditLog(base.AuditLog):
    """The rows of the hash-chained audit trail; servers append one after the other (an advisory lock held
    to the end of the writing transaction), so the chain never forks."""

    __slots__ = ()

    def last(self) -> tuple[int, str] | None:
        if self.cur.conn is not None and self.cur.conn.info.transaction_status == TransactionStatus.INTRANS:
            self.cur.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK])
        row = _one(self.cur, "SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1")
        return (int(row[0]), str(row[1])) if row else None

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        columns = [list(c) for c in zip(*rows)]
        self.cur.execute("INSERT INTO audit_event SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[], "
                         "%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[])", columns)

    def read(self, limit: int | None = None) -> list[tuple[Any, ...]]:
        sql = "SELECT seq, recorded_at, actor, action, subject, detail, prev, hash FROM audit_event ORDER BY seq"
        if limit is not None:
            sql = f"SELECT * FROM ({sql} DESC LIMIT {int(limit)}) AS newest ORDER BY seq"
        return _all(self.cur, sql)

    def scan(self) -> Iterator[tuple[Any, ...]]:
        after = -1
        while True:  # in batches by key: the cursor stays free for other statements between them
            batch = _all(self.cur, "SELECT seq, recorded_at, actor, action, subject, detail, prev, hash, mac "
                                   "FROM audit_event WHERE seq > %s ORDER BY seq LIMIT 4096", [after])
            if not batch:
                return
            yield from batch
            after = int(batch[-1][0])


# --------------------------------------------------------------------------- returns, values, evidence


class Returns(duck.Returns):
    """Returns and their versions, measure values and evidence."""

    __slots__ = ()

    def data_version(self) -> str:
        row = _one(self.cur, "SELECT value FROM meta WHERE key = %s", [DATA_VERSION_KEY])
        return f"pg|{row[0] if row else 0}"

    def periods(self, entities: Sequence[str] | None = None) -> list[str]:
        if entities is None:
            rows = _all(self.cur, "SELECT period FROM return_version GROUP BY period ORDER BY period COLLATE \"C\"")
        else:
            rows = _all(self.cur, f"SELECT period FROM return_version WHERE entity_code {DIALECT.in_list} "
                                  "GROUP BY period ORDER BY period COLLATE \"C\"", [list(entities)])
        return [str(r[0]) for r in rows]

    def received(self, period: str, entities: Sequence[str]) -> int:
        row = _one(self.cur, "SELECT count(DISTINCT entity_code) FROM return_version "
                             f"WHERE period = %s AND entity_code {DIALECT.in_list}", [period, list(entities)])
        return int(row[0]) if row else 0

    def received_by_period(self, entities: Sequence[str]) -> list[tuple[str, int]]:
        return [(str(p), int(n)) for p, n in _all(
            self.cur, f"SELECT period, count(DISTINCT entity_code) FROM return_version WHERE entity_code "
                      f"{DIALECT.in_list} GROUP BY period", [list(entities)])]

    def current_ids(self, period: str) -> dict[str, int]:
        return dict(_all(self.cur, "SELECT entity_code, return_id FROM current_return WHERE period = %s",  # type: ignore[arg-type]
                         [period]))

    def current_values(self, period: str) -> list[tuple[str, str, int]]:
        return _all(self.cur, "SELECT entity_code, measure, value FROM current_value WHERE period = %s",  # type: ignore[return-value]
                    [period])

    def first_submitted(self, period: str, time_zone: str) -> dict[str, Any]:
        first = DIALECT.local_time("submitted_at", time_zone)
        return dict(_all(self.cur, f"SELECT entity_code, min({first}) FROM return_version WHERE period = %s "  # type: ignore[arg-type]
                                   "GROUP BY entity_code", [period]))

    def versions_of_entity(self, code: str, time_zone: str) -> list[tuple[Any, ...]]:
        submitted, uploaded = (DIALECT.local_time(c, time_zone) for c in ("submitted_at", "uploaded_at"))
        return _all(self.cur, f"SELECT period, version, file_name, uploaded_by, {submitted}, {uploaded}, sha256, "
                              "version = max(version) OVER (PARTITION BY period) FROM return_version "
                              "WHERE entity_code = %s ORDER BY period COLLATE \"C\" DESC, version DESC", [code])

    def versions_in_period(self, period: str, entities: Sequence[str], time_zone: str) -> list[tuple[Any, ...]]:
        submitted, uploaded = (DIALECT.local_time(c, time_zone) for c in ("submitted_at", "uploaded_at"))
        return _all(self.cur, f"SELECT entity_code, version, file_name, uploaded_by, {submitted} AS submitted, "
                              f"{uploaded}, sha256 FROM return_version WHERE period = %s AND entity_code "
                              f"{DIALECT.in_list} ORDER BY submitted DESC, entity_code COLLATE \"C\", version DESC",
                    [period, list(entities)])

    def current_state(self, entities: Sequence[str], periods: Sequence[str]) -> list[tuple[Any, ...]]:
        return _all(self.cur, """
            SELECT r.entity_code, r.period, r.version, r.sha256, array_agg(v.measure), array_agg(v.value)
            FROM current_return r LEFT JOIN return_value v USING (return_id)
            WHERE (r.entity_code, r.period) IN (SELECT * FROM unnest(%(e)s::text[], %(p)s::text[]))
            GROUP BY r.entity_code, r.period, r.version, r.sha256
            """, {"e": list(entities), "p": list(periods)})

    def lock_versions(self, entities: Sequence[str], periods: Sequence[str]) -> None:
        """Hold each (entity, period)'s version lock to the end of the transaction, in one order for all."""
        self.cur.execute("""
            SELECT pg_advisory_xact_lock(k) FROM (
                SELECT DISTINCT hashtextextended(e || '/' || p, 0) AS k
                FROM unnest(%s::text[], %s::text[]) AS pair(e, p) ORDER BY k) AS ordered
            """, [list(entities), list(periods)])

    def new_ids(self, count: int) -> list[int]:
        return [int(r[0]) for r in _all(self.cur, "SELECT nextval('return_id_seq') FROM generate_series(1, %s)",
                                         [count])]

    def add_versions(self, columns: Mapping[str, list[Any]]) -> None:
        names = ("id", "entity", "period", "version", "sha", "file", "tv", "by", "at", "submitted")
        _copy_rows(self.cur, "return_version",
                   ("return_id", "entity_code", "period", "version", "sha256", "file_name", "template_version",
                    "uploaded_by", "uploaded_at", "submitted_at"),
                   list(zip(*(_column(columns, n) for n in names))))
        _bump_data_version(self.cur)

    def add_values(self, columns: Mapping[str, Any]) -> None:
        names = ("return_id", "measure", "value", "cell")
        _copy_rows(self.cur, "return_value", names, zip(*(_column(columns, n) for n in names)))

    def add_evidence(self, columns: Mapping[str, Any], months: int) -> None:
        events = zip(*(_column(columns, f"e{m}") for m in range(months)))
        participants = zip(*(_column(columns, f"p{m}") for m in range(months)))
        plain = zip(*(_column(columns, n) for n in ("return_id", "task_id", "status", "related_date", "audit_years")))
        rows = ((r, t, s, d, a, list(e), list(p)) for (r, t, s, d, a), e, p in zip(plain, events, participants))
        _copy_rows(self.cur, "evidence", ("return_id", "task_id", "status", "related_date", "audit_years", "events",
                                          "participants"), rows)

    def add_documents(self, columns: Mapping[str, Any]) -> None:
        names = ("return_id", "task_id", "seq", "doc_type", "doc_number", "doc_date", "signatory", "reference",
                 "sheet_row")
        _copy_rows(self.cur, "evidence_document", names, zip(*(_column(columns, n) for n in names)))

    def copy_entities(self, copies: int) -> tuple[int, int]:
        row = _one(self.cur, "SELECT max(return_id) FROM return_version")
        offset = int(row[0]) if row and row[0] is not None else 0
        for copy in range(1, copies):
            self.cur.execute(
                "INSERT INTO return_version SELECT return_id + %s::bigint * %s::bigint, "
                "entity_code || '__' || %s::text, period, version, sha256, file_name, template_version, uploaded_by, "
                "uploaded_at, submitted_at FROM return_version WHERE return_id <= %s::bigint",
                [copy, offset, str(copy), offset])
            self.cur.execute("INSERT INTO return_value SELECT return_id + %s::bigint * %s::bigint, measure, value, "
                             "cell FROM return_value WHERE return_id <= %s::bigint", [copy, offset, offset])
        self.cur.execute("SELECT setval('return_id_seq', greatest((SELECT max(return_id) FROM return_version), 1))")
        _bump_data_version(self.cur)
        self.cur.execute("ANALYZE return_version")
        self.cur.execute("ANALYZE return_value")
        counts = _one(self.cur, "SELECT count(*), count(DISTINCT entity_code) FROM return_version")
        return (int(counts[0]), int(counts[1])) if counts else (0, 0)

    def documents(self, period: str) -> list[tuple[Any, ...]]:
        return _all(self.cur, """
            SELECT r.entity_code, d.task_id, d.doc_type, d.doc_number, d.doc_date, d.signatory, d.reference,
                   d.sheet_row
            FROM current_return r JOIN evidence_document d USING (return_id) WHERE r.period = %s
            ORDER BY r.entity_code COLLATE "C", d.task_id COLLATE "C", d.seq
            """, [period])


# --------------------------------------------------------------------------- targets


class Targets(base.Targets):
    """Targets by metric and year: the guide's, and those an analyst set."""

    __slots__ = ()

    def seed(self, rows: Sequence[tuple[str, int, float]]) -> None:
        if not rows:
            return
        self.cur.execute("INSERT INTO kpi_target SELECT m, y, v, 'guide', 'system', now() "
                         "FROM unnest(%s::text[], %s::int[], %s::float8[]) AS t(m, y, v) ON CONFLICT DO NOTHING",
                         [[r[0] for r in rows], [int(r[1]) for r in rows], [float(r[2]) for r in rows]])
        _bump_data_version(self.cur)

    def set(self, metric: str, year: int, value: float, actor: str) -> None:
        self.cur.execute("INSERT INTO kpi_target VALUES (%s, %s, %s, 'analyst', %s, now()) "
                         "ON CONFLICT (metric, year) DO UPDATE SET value = excluded.value, source = excluded.source, "
                         "set_by = excluded.set_by, set_at = excluded.set_at", [metric, year, value, actor])
        _bump_data_version(self.cur)

    def all(self) -> list[tuple[Any, ...]]:
        return _all(self.cur, "SELECT metric, year, value, source, set_by, set_at FROM kpi_target "
                              "ORDER BY metric COLLATE \"C\", year")

    def in_force(self, year: int) -> list[tuple[str, float, int, str]]:
        return _all(self.cur, "SELECT DISTINCT ON (metric) metric, value, year, source FROM kpi_target "  # type: ignore[return-value]
                              "WHERE year <= %s ORDER BY metric, year DESC", [year])


# --------------------------------------------------------------------------- the archive of uploads


class ArchiveFiles(base.Repository):
    """Archived uploads in the database, by the sha256 of their content (`kpi.archive.DatabaseArchive`)."""

    __slots__ = ()

    def put(self, files: Mapping[str, bytes]) -> None:
        if files:
            self.cur.execute("INSERT INTO archive_file (sha256, bytes, size) SELECT * FROM "
                             "unnest(%s::text[], %s::bytea[], %s::bigint[]) ON CONFLICT DO NOTHING",
                             [list(files), list(files.values()), [len(b) for b in files.values()]])

    def get(self, sha256: str) -> bytes | None:
        row = _one(self.cur, "SELECT bytes FROM archive_file WHERE sha256 = %s", [sha256])
        return None if row is None else bytes(row[0])

    def shas(self) -> set[str]:
        return {str(r[0]) for r in _all(self.cur, "SELECT sha256 FROM archive_file")}

    def has(self, sha256: str) -> bool:
        return _one(self.cur, "SELECT 1 FROM archive_file WHERE sha256 = %s", [sha256]) is not None


# --------------------------------------------------------------------------- the engine's one query

KPI_TABLES = {
    "entity_kpi": "entity_code TEXT, entity_type TEXT, region TEXT, kpi TEXT",
    "metric_def": "metric TEXT, kpi TEXT, scale DOUBLE PRECISION, den_kind TEXT",
    "metric_term": "metric TEXT, part TEXT, measure TEXT",
}
# The same figures as DuckDB's query (kpi.store.duck.AGGREGATE_SQL), in PostgreSQL's words and shape: the period's
# values are summed per (entity, metric) before they meet the entities' duties (joined first, PostgreSQL sorted
# and filtered three million rows for a national report), and `entity_kpi`, `cur` and `reported` are
# MATERIALIZED (inlined, each was planned again per join: 1.6-2.3 s instead of 0.35 s). No ORDER BY: see `run`.
AGGREGATE_SQL = """
WITH entity_kpi AS MATERIALIZED (
    SELECT * FROM {entity_kpi}
    WHERE %(scope)s::text[] IS NULL OR entity_code = ANY(%(scope)s::text[])),
metric_def AS (SELECT * FROM {metric_def}
               WHERE metric = ANY(%(metrics)s::text[]) OR cardinality(%(metrics)s::text[]) = 0),
metric_term AS (SELECT * FROM {metric_term} WHERE metric IN (SELECT metric FROM metric_def)),
periods(period) AS (SELECT unnest(%(periods)s::text[])),
cur AS MATERIALIZED (
    SELECT entity_code, period, measure, value FROM current_value WHERE period = ANY(%(periods)s::text[])),
reported AS MATERIALIZED (
    SELECT DISTINCT entity_code, period FROM return_version WHERE period = ANY(%(periods)s::text[])),
sums AS (
    SELECT c.period, c.entity_code, t.metric,
           (sum(c.value) FILTER (WHERE t.part = 'num'))::bigint AS num,
           (sum(c.value) FILTER (WHERE t.part = 'den'))::bigint AS den_sum
    FROM cur c JOIN metric_term t ON t.measure = c.measure
    GROUP BY c.period, c.entity_code, t.metric
),
per_entity AS (
    SELECT p.period, d.metric, d.kpi, d.scale, d.den_kind, ek.entity_code, ek.entity_type, ek.region,
           r.entity_code IS NOT NULL AS has_return, s.num, s.den_sum
    FROM periods p
    CROSS JOIN metric_def d
    JOIN entity_kpi ek ON ek.kpi = d.kpi
    LEFT JOIN reported r ON r.entity_code = ek.entity_code AND r.period = p.period
    LEFT JOIN sums s ON s.entity_code = ek.entity_code AND s.period = p.period AND s.metric = d.metric
),
shaped AS (
    SELECT *, CASE den_kind WHEN 'entities' THEN CASE WHEN has_return THEN 1 END
                            WHEN 'sum' THEN den_sum END AS den
    FROM per_entity
),
grouped AS (
    SELECT period, metric, kpi, max(scale) AS scale, max(den_kind) AS den_kind,
           CASE WHEN grouping(entity_type) = 0 THEN 'entity_type'
                WHEN grouping(region) = 0 THEN 'region'
                WHEN grouping(entity_code) = 0 THEN 'entity'
                ELSE 'national' END AS level,
           coalesce(CASE WHEN grouping(entity_type) = 0 THEN entity_type END,
                    CASE WHEN grouping(region) = 0 THEN region END,
                    CASE WHEN grouping(entity_code) = 0 THEN entity_code END) AS key,
           grouping(region) = 0 AND region IS NULL AS nameless_region,
           (sum(num) FILTER (WHERE has_return))::bigint AS num,
           (sum(den) FILTER (WHERE has_return))::bigint AS den,
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
WHERE NOT nameless_region AND level = ANY(%(levels)s::text[])
"""
LEVEL_ORDER = {"national": 0, "entity_type": 1, "region": 2, "entity": 3}


def _row_order(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """DuckDB's order of the rows: period, metric, level from the nation down, key (code point order, None last)."""
    return row[0], row[1], LEVEL_ORDER[row[3]], row[4] is None, row[4] or ""


class KpiQuery(base.KpiQuery):
    """Every declared formula in one query: the catalogue's definitions are three small temporary tables,
    loaded once per connection (a connection stays in the store's pool with them)."""

    def __init__(self, definitions: Mapping[str, Sequence[tuple[Any, ...]]]) -> None:
        digest = hashlib.sha256(repr(sorted((k, list(v)) for k, v in definitions.items())).encode()).hexdigest()[:12]
        self._tables = {name: f"kpi_{name}_{digest}" for name in KPI_TABLES}
        self._create_sql = []
        for name, columns in KPI_TABLES.items():
            values = ", ".join("(" + ", ".join(DIALECT.literal(v) for v in row) + ")" for row in definitions[name])
            self._create_sql.append(f"CREATE TEMP TABLE IF NOT EXISTS {self._tables[name]} ({columns})")
            if values:
                self._create_sql.append(f"INSERT INTO {self._tables[name]} VALUES {values}")
            # autovacuum never analyses a temporary table: without statistics the planner guesses badly
            self._create_sql.append(f"ANALYZE {self._tables[name]}")
        self._sql = AGGREGATE_SQL.format(**self._tables)

    def _ensure_definitions(self, cur: Cursor) -> None:
        present = _one(cur, "SELECT to_regclass(%s) IS NOT NULL", [f"pg_temp.{self._tables['entity_kpi']}"])
        if present and present[0]:
            return
        for statement in self._create_sql:
            cur.execute(statement)

    def run(self, cur: Cursor, periods: Sequence[str], levels: Sequence[str], metrics: Sequence[str],
            population: Sequence[str] | None) -> list[tuple[Any, ...]]:
        """(period, metric, kpi, level, key, numerator, denominator, value, reporting, expected) rows."""
        self._ensure_definitions(cur)
        rows = _all(cur, self._sql, {"periods": list(periods), "levels": list(levels), "metrics": list(metrics),
                                     "scope": None if population is None else list(population)})
        # Sorted here: PostgreSQL's sort of the national report's 38,000 rows by text cost more than the query
        return sorted(rows, key=_row_order)


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

    @property
    def archive(self) -> ArchiveFiles:
        return ArchiveFiles(self.cur)
