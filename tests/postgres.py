"""A real PostgreSQL 15 for the tests: one server per test session, started with Debian's `initdb` and
`pg_ctl` in a temporary directory on a free loopback port (as the `postgres` system user when the tests run as
root, as CI does), through the same code `make cluster` uses (scripts/pgserver.py).

Use it from a test module with `from postgres import postgres_server, postgres_url  # noqa: F401`; the URL
names a fresh, empty database. Where the binaries are missing the tests that need it are skipped, saying why;
in CI (`CI=true`) they fail instead, so a machine that lost PostgreSQL never passes quietly.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.pgserver import PgServer, unavailable_reason  # noqa: E402


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_postgres(pg_bin: Path | None = None) -> None:
    """Skip the calling test (fail it in CI) when no private PostgreSQL can run here."""
    reason = unavailable_reason(pg_bin)
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"CI needs a real PostgreSQL 15: {reason}", pytrace=False)
    pytest.skip(reason)


def started_server(*, database: str = "parasat") -> Iterator[PgServer]:
    """Start a throw-away server in a new temporary directory; stop it and delete everything afterwards."""
    require_postgres()
    server = PgServer(Path(tempfile.mkdtemp(prefix="parasat-pg-")), database=database, fast=True)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.remove()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PgServer]:
    """One PostgreSQL server for the whole test session (its data directory is removed at the end)."""
    yield from started_server()


def _admit_any_database(server: PgServer) -> None:
    """Let the application role reach the throw-away databases of the tests too (this test server only)."""
    import psycopg  # noqa: PLC0415

    hba = server.data / "pg_hba.conf"
    line = f"host all {server.role} 127.0.0.1/32 scram-sha-256\n"
    if line not in hba.read_text():
        with hba.open("a") as handle:
            handle.write(line)
        with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
            conn.execute("SELECT pg_reload_conf()")


def fresh_database(server: PgServer) -> Iterator[str]:
    """A new, empty database owned by the application role: its URL; dropped afterwards."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    _admit_any_database(server)
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} TEMPLATE template0 ENCODING 'UTF8'").format(
            sql.Identifier(name), sql.Identifier(server.role)))
    try:
        yield f"postgresql://{server.role}:{server.password}@127.0.0.1:{server.port}/{name}"
    finally:
        with psycopg.connect(server.admin_conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def pg_database_url(postgres_server: PgServer) -> Iterator[str]:
    """The URL of a new, empty PostgreSQL database for one test (the `postgresql://` store target)."""
    yield from fresh_database(postgres_server)


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PgServer) -> str:
    """`postgresql://parasat:...@127.0.0.1:PORT/parasat`: the application role over loopback TCP."""
    return postgres_server.url
