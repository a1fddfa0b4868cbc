"""The test PostgreSQL (tests/postgres.py, scripts/pgserver.py) is a real server: two connections at once see
each other's committed rows and not the uncommitted ones, it runs as the `postgres` user on loopback only, and
nothing is left (process, port, directory) after it stops."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import psycopg
import pytest
from postgres import postgres_server, postgres_url, require_postgres, started_server  # noqa: F401

from scripts.pgserver import PgServer


def test_two_connections_write_and_read_at_once(postgres_url: str) -> None:  # noqa: F811
    with psycopg.connect(postgres_url) as setup:
        setup.execute("CREATE TABLE filed (entity text NOT NULL, version int NOT NULL, PRIMARY KEY (entity, version))")
    with psycopg.connect(postgres_url) as a, psycopg.connect(postgres_url) as b:
        a.execute("INSERT INTO filed VALUES ('akimat_abai', 1)")  # a's transaction is open, not committed
        assert b.execute("SELECT count(*) FROM filed").fetchone() == (0,)
        b.execute("INSERT INTO filed VALUES ('akimat_almaty', 1)")
        b.commit()
        a.commit()
        assert a.execute("SELECT entity FROM filed ORDER BY entity").fetchall() == [("akimat_abai",),
                                                                                    ("akimat_almaty",)]
        assert b.execute("SELECT count(*) FROM filed").fetchone() == (2,)
        b.rollback()

    # Two writers racing for the same key: exactly one wins, the other gets the unique violation, none is lost.
    errors: list[str] = []
    barrier = threading.Barrier(2)

    def write(entity: str) -> None:
        with psycopg.connect(postgres_url) as conn:
            barrier.wait()
            try:
                conn.execute("INSERT INTO filed VALUES (%s, 2)", [entity])
            except psycopg.errors.UniqueViolation:
                errors.append(entity)

    threads = [threading.Thread(target=write, args=("akimat_abai",)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == ["akimat_abai"]
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT entity, version FROM filed ORDER BY 1, 2").fetchall() == [
            ("akimat_abai", 1), ("akimat_abai", 2), ("akimat_almaty", 1)]
        conn.execute("DROP TABLE filed")


def test_server_runs_as_postgres_on_loopback_only(postgres_server: PgServer) -> None:  # noqa: F811
    pid = postgres_server.postmaster_pid()
    assert pid is not None
    if os.geteuid() == 0:  # PostgreSQL refuses root: the server runs as the postgres system user
        import pwd

        assert Path(f"/proc/{pid}").stat().st_uid == pwd.getpwnam("postgres").pw_uid
    with psycopg.connect(postgres_server.url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SELECT current_user, current_database()").fetchone() == ("parasat", "parasat")
    # The application role needs its password; the superuser cannot come in over TCP at all.
    wrong = postgres_server.url.replace(postgres_server.password, "wrong")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)
    with pytest.raises(psycopg.OperationalError, match="pg_hba.conf|rejected"):
        psycopg.connect(f"postgresql://postgres@127.0.0.1:{postgres_server.port}/postgres", connect_timeout=5)


def test_stop_leaves_nothing_behind() -> None:
    servers = started_server(database="scratch")
    server = next(servers)
    pid, port, base, url = server.postmaster_pid(), server.port, server.base, server.url
    assert pid is not None and base.is_dir()
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    servers.close()  # the fixture's `finally`: stop, then remove
    assert not Path(f"/proc/{pid}").exists() or "postgres" not in Path(f"/proc/{pid}/cmdline").read_text()
    assert not base.exists()
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(url, connect_timeout=3)


def test_missing_binaries_skip_here_and_fail_in_ci(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "false")
    with pytest.raises(pytest.skip.Exception, match="binaries not found"):
        require_postgres(tmp_path)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI needs a real PostgreSQL 15"):
        require_postgres(tmp_path)
