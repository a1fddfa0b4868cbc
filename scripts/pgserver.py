"""A private PostgreSQL 15 server from Debian's binaries: for the tests (tests/postgres.py) and `make cluster`
(scripts/cluster.py), which share this one code path.

`initdb` creates a data directory, `pg_ctl` starts and stops the server on a loopback port, and, since PostgreSQL
refuses to run as root (CI runs as root), every server command runs as the `postgres` system user through
`runuser -u postgres --`, as Debian's own scripts do. Access (pg_hba.conf): the superuser `postgres` only through
the Unix socket inside the data directory (trust: only its owner and root can reach it), the application role
over TCP on 127.0.0.1 / ::1 with a password (scram-sha-256); nothing else.

No part of `kpi/` imports this: the app and the command line only ever see the `postgresql://` URL.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("PARASAT_PG_BIN", "/usr/lib/postgresql/15/bin"))
SYSTEM_USER = "postgres"  # the system user that owns the data directory and runs the server when we are root
SUPERUSER = "postgres"
BINARIES = ("initdb", "pg_ctl", "postgres")


class PgUnavailable(RuntimeError):
    """The machine cannot run a private PostgreSQL (binaries or the system user missing)."""


def unavailable_reason(pg_bin: Path | None = None) -> str | None:
    """Why a private PostgreSQL cannot run here, or None when it can."""
    pg_bin = pg_bin or PG_BIN
    missing = [name for name in BINARIES if not (pg_bin / name).is_file()]
    if missing:
        return (f"PostgreSQL 15 server binaries not found in {pg_bin} (missing: {', '.join(missing)}); "
                "install Debian's postgresql-15 package (`make system-deps`)")
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root, and `runuser` (util-linux) is missing to run PostgreSQL as another user"
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root, and there is no `{SYSTEM_USER}` system user to run PostgreSQL as"
    return None


def free_port() -> int:
    """A TCP port that nothing listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", SYSTEM_USER, "--", *argv] if os.geteuid() == 0 else argv


def _hand_over(path: Path) -> None:
    """Give a directory we created to the server's user (as root only)."""
    if os.geteuid() == 0:
        entry = pwd.getpwnam(SYSTEM_USER)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _check_reachable(path: Path) -> None:
    """As root, the server's user must be able to walk down to its data directory (mkdtemp's 0700 stops it)."""
    if os.geteuid() != 0:
        return
    uid = pwd.getpwnam(SYSTEM_USER).pw_uid
    for parent in path.parents:
        info = parent.stat()
        if info.st_uid != uid and not info.st_mode & 0o001:
            raise PgUnavailable(f"the `{SYSTEM_USER}` user cannot reach {path}: {parent} is not searchable by "
                                f"others (mode {oct(info.st_mode & 0o777)}); choose a directory under one that is")


class PgServer:
    """One PostgreSQL server with its data directory under `base` (created if absent, reused if initialised).

    `fast=True` turns durability off (fsync, synchronous commit, full pages): for throw-away test servers only.
    The application role's password is kept in `base/password` (mode 0600), so a restart reuses it.
    """

    def __init__(self, base: Path, *, port: int | None = None, role: str = "parasat", database: str = "parasat",
                 fast: bool = False, pg_bin: Path | None = None) -> None:
        self.base = Path(base).resolve()
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = port or free_port()
        self.role = role
        self.database = database
        self.fast = fast
        self.pg_bin = pg_bin or PG_BIN
        self.started = False

    # --- what clients use ---------------------------------------------------------------------------------
    @property
    def password(self) -> str:
        return (self.base / "password").read_text().strip()

    @property
    def url(self) -> str:
        """The application's URL: its role and password, over TCP on loopback."""
        return f"postgresql://{self.role}:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def admin_conninfo(self, dbname: str = "postgres") -> str:
        """The superuser, over the Unix socket in the data directory (trust; reachable by its owner and root)."""
        return f"host={self.data} port={self.port} user={SUPERUSER} dbname={dbname}"

    @property
    def initialised(self) -> bool:
        return (self.data / "PG_VERSION").is_file()

    # --- life cycle --------------------------------------------------------------------------------------
    def _run(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(_as_server_user(argv), capture_output=True, text=True, timeout=timeout,
                                cwd="/", check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({result.returncode}): "
                               f"{(result.stderr or result.stdout).strip()[-2000:]}")
        return result

    def init(self) -> bool:
        """Create the data directory once; True when it was created now (a new, empty database)."""
        reason = unavailable_reason(self.pg_bin)
        if reason:
            raise PgUnavailable(reason)
        if self.initialised:
            return False
        self.base.mkdir(parents=True, exist_ok=True)
        _check_reachable(self.base)
        password = self.base / "password"
        if not password.exists():
            password.write_text(secrets.token_urlsafe(24) + "\n")
            password.chmod(0o600)
        _hand_over(self.base)
        self._run([str(self.pg_bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "-E", "UTF8",
                   "--locale=C.UTF-8", "--auth-local=trust", "--auth-host=reject", "--no-instructions"])
        (self.data / "pg_hba.conf").write_text(
            "# Written by scripts/pgserver.py: the superuser only through the socket in the data directory,\n"
            "# the application role only over loopback TCP with its password.\n"
            f"local all {SUPERUSER} trust\n"
            f"host {self.database} {self.role} 127.0.0.1/32 scram-sha-256\n"
            f"host {self.database} {self.role} ::1/128 scram-sha-256\n")
        _hand_over(self.data / "pg_hba.conf")
        return True

    def _write_settings(self) -> None:
        lines = ["# Written by scripts/pgserver.py on every start.",
                 "listen_addresses = '127.0.0.1'", f"port = {self.port}",
                 f"unix_socket_directories = '{self.data}'", "password_encryption = 'scram-sha-256'",
                 "max_connections = 200", "logging_collector = off"]
        if self.fast:
            lines += ["fsync = off", "synchronous_commit = off", "full_page_writes = off"]
        conf = self.data / "parasat.conf"
        conf.write_text("\n".join(lines) + "\n")
        _hand_over(conf)
        main = self.data / "postgresql.conf"
        include = "include 'parasat.conf'"
        if include not in main.read_text():
            with main.open("a") as handle:
                handle.write(f"\n{include}\n")

    def start(self, *, attempts: int = 3) -> bool:
        """Initialise if needed, start, and create the role and database; True when the database is new."""
        created = self.init()
        for attempt in range(attempts):
            self._write_settings()
            log = self.log
            if not log.exists():
                log.touch()
                _hand_over(log)
            try:
                self._run([str(self.pg_bin / "pg_ctl"), "-D", str(self.data), "-l", str(log), "-w", "-t", "60",
                           "start"], timeout=90)
                break
            except RuntimeError:
                if attempt == attempts - 1 or "already in use" not in log.read_text()[-4000:]:
                    raise
                self.port = free_port()  # someone took the port between choosing and binding: choose again
        self.started = True
        return self._ensure_database() or created

    def _ensure_database(self) -> bool:
        import psycopg  # noqa: PLC0415 - only the callers that start a server need the driver
        from psycopg import sql  # noqa: PLC0415

        with psycopg.connect(self.admin_conninfo(), autocommit=True) as conn:
            role = sql.Identifier(self.role)
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [self.role]).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(self.password)))
            else:
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(role, sql.Literal(self.password)))
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database]).fetchone():
                return False
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {} ENCODING 'UTF8' TEMPLATE template0").format(
                sql.Identifier(self.database), role))
        return True

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return None

    def stop(self, timeout: float = 30) -> None:
        """Stop the server (fast shutdown, then immediate, then SIGKILL) and wait until its process is gone."""
        pid = self.postmaster_pid()
        if pid is None:
            self.started = False
            return
        for mode in ("fast", "immediate"):
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run([str(self.pg_bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t",
                           str(int(timeout)), "stop"], timeout=timeout + 10)
                break
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.started = False

    def remove(self) -> None:
        """Delete the data directory and everything under `base` (the server must be stopped)."""
        shutil.rmtree(self.base, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our child not yet reaped) is gone for every purpose here.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z"):
            return False
    return True


if __name__ == "__main__":  # a quick manual check: start, print the URL, stop on Enter
    import tempfile

    server = PgServer(Path(tempfile.mkdtemp(prefix="parasat-pg-")), fast=True)
    try:
        server.start()
        print(server.url)
        input("Enter stops the server. ")
    finally:
        server.stop()
        server.remove()
