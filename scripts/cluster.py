"""`make cluster`: several Parasat servers on one PostgreSQL database behind HAProxy, in the foreground.

    python scripts/cluster.py --port 8501 --workers 2 [--address 0.0.0.0] [--postgres-only]

The database. With `KPI_DB` set to a `postgresql://` URL the servers use that database (and nothing is loaded
into it); unset, the script starts its own PostgreSQL 15 under `var/pg` (the tests' code, scripts/pgserver.py;
its data survives a restart) and, on the first start of an empty database, loads the sample returns
(data/sample, in their recorded upload order, with their targets: what one server's first run loads into the
embedded file). A `KPI_DB` naming a file is refused: several processes cannot write one DuckDB file.

Before any server starts, once, in a child process: the sample returns (own database only) and the first admin,
as a single server's first run does (`PARASAT_ADMIN_PASSWORD`, or a generated password printed once here), so
two servers starting together never race to create them. The audit and backup secret of the database is the
file `PARASAT_SECRET_FILE` (default `var/parasat-pg.secret`, created with mode 0600 on first use); every server
gets the same one.

Then it starts WORKERS app servers (`python -m streamlit run app.py`, each on a free loopback port, each in its
own process group, with this process's whole environment plus `KPI_DB` and `PARASAT_SECRET_FILE`, so
`STREAMLIT_*` and `PARASAT_*` settings apply; one Streamlit cookie secret for all) and, once they all answer,
Debian's HAProxy on PORT. HAProxy proxies the websockets (`timeout tunnel`), keeps each browser session on one
server by a cookie it inserts (`SERVERID`; many officers share one client address, so never by address), and
takes a server that fails its health check (`GET /_stcore/health`, every second) out until it answers again.
Each response says which server answered (`X-Parasat-Server`). Ctrl-C or SIGTERM stops everything it started
(each process group, then PostgreSQL), and nothing is left behind.

`--postgres-only` starts just the private PostgreSQL under `var/pg` and prints its URL, until Ctrl-C (for the
command line against the cluster's database, or for developing the store).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.pgserver import PgServer, PgUnavailable, free_port  # noqa: E402

HAPROXY = os.environ.get("PARASAT_HAPROXY", shutil.which("haproxy") or "/usr/sbin/haproxy")
HEALTH = "/_stcore/health"
URL_SCHEMES = ("postgresql://", "postgres://")


def say(message: str) -> None:
    print(f"[cluster] {message}", flush=True)


def haproxy_config(port: int, address: str, workers: list[tuple[str, int]], stats_port: int) -> str:
    """The whole HAProxy configuration: one frontend on PORT, one backend with the app servers."""
    servers = "\n".join(f"    server {name} 127.0.0.1:{wport} check cookie {name}" for name, wport in workers)
    return f"""# Written by scripts/cluster.py on every start; see docs/deploy.md for the production version (TLS).
global
    maxconn 4096
    hard-stop-after 5s

defaults
    mode http
    option forwardfor
    option redispatch          # a request whose cookie names a dead server goes to a live one
    retries 2
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 15s
    timeout tunnel 1h          # an open websocket (Streamlit's /_stcore/stream) may stay quiet for long

# Each server's state (UP/DOWN, checks) as a page and as CSV (`/;csv`), on loopback only.
listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /
    stats refresh 5s

frontend parasat
    bind {address}:{port}
    http-request set-header X-Forwarded-Proto http
    default_backend parasat_servers

backend parasat_servers
    balance roundrobin
    # One browser session stays on one server: by a cookie HAProxy inserts, never by client address.
    cookie SERVERID insert indirect nocache httponly attr "SameSite=Lax"
    option httpchk GET {HEALTH}
    http-check expect status 200
    timeout check 3s           # a busy server's health answer may be slow; a dead one refuses at once
    default-server inter 1s fall 3 rise 2
    http-response set-header X-Parasat-Server %s
{servers}
"""


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback only
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except OSError:
        return 0


class Cluster:
    """Every process the script started, and how to stop them all."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.var = Path(args.var).resolve()
        self.state = self.var / "cluster"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.ports: dict[str, int] = {}
        self.pg: PgServer | None = None
        self.stopping = False

    # --- the database ------------------------------------------------------------------------------------
    def database_url(self) -> str:
        """KPI_DB when it is a URL; otherwise start the private PostgreSQL under var/pg and give its URL."""
        url = os.environ.get("KPI_DB", "")
        if url.startswith(URL_SCHEMES):
            say("using the PostgreSQL database in KPI_DB")
            return url
        if url:
            raise SystemExit(f"KPI_DB={url!r} names an embedded file; several servers cannot share one "
                             "(DuckDB admits one writing process). Set KPI_DB to a postgresql:// URL, or leave "
                             "it unset for a PostgreSQL under var/pg.")
        self.pg = PgServer(self.var / "pg", port=self.args.pg_port or None)
        started = time.monotonic()
        try:
            new = self.pg.start()
        except (PgUnavailable, RuntimeError) as error:
            raise SystemExit(f"cannot start PostgreSQL: {error}") from None
        say(f"PostgreSQL 15 under {self.pg.base} on 127.0.0.1:{self.pg.port} "
            f"({'new database' if new else 'existing database'}, {time.monotonic() - started:.1f} s)")
        return self.pg.url

    def prepare_database(self, env: dict[str, str]) -> None:
        """Once, before the servers: the sample returns (own database) and the first admin, in a child process."""
        started = time.monotonic()
        argv = [sys.executable, str(Path(__file__).resolve()), "--first-start"]
        if self.pg is not None:
            argv.append("--load-sample")
        result = subprocess.run(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, check=False)
        if result.returncode != 0:
            raise SystemExit(f"preparing the database failed ({result.returncode})")
        say(f"database ready in {time.monotonic() - started:.1f} s")

    # --- processes ---------------------------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], env: dict[str, str], log: Path) -> None:
        with log.open("ab") as out:
            self.processes[name] = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                                    stdout=out, stderr=subprocess.STDOUT,
                                                    start_new_session=True)  # own group: stopped as one

    def start(self) -> None:
        began = time.monotonic()
        self.state.mkdir(parents=True, exist_ok=True)
        base_env = dict(os.environ)
        base_env["KPI_DB"] = self.database_url()
        if self.args.postgres_only:
            say(f"KPI_DB={base_env['KPI_DB']}")
            return
        # The audit trail's and backups' key: one file for every server (a URL has no folder to keep it beside).
        base_env.setdefault("PARASAT_SECRET_FILE", str(self.var / "parasat-pg.secret"))
        self.prepare_database(base_env)
        if self.stopping:
            return
        # One cookie secret for every server, so Streamlit's XSRF cookie stays valid when a session fails over.
        base_env.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", secrets.token_hex(32))
        workers = []
        for index in range(1, self.args.workers + 1):
            name = f"w{index}"
            port = free_port()
            self.spawn(name, [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                              "--server.address", "127.0.0.1", "--server.headless", "true"],
                       base_env, self.state / f"{name}.log")
            self.ports[name] = port
            workers.append((name, port))
        deadline = time.monotonic() + self.args.start_timeout
        pending = set(self.ports)
        while pending and time.monotonic() < deadline:
            if self.stopping:
                return
            self.check_alive()
            pending = {n for n in pending if _get(f"http://127.0.0.1:{self.ports[n]}{HEALTH}") != 200}
            time.sleep(0.2)
        if pending:
            raise SystemExit(f"servers {sorted(pending)} did not answer {HEALTH} within "
                             f"{self.args.start_timeout:.0f} s; see {self.state}/<name>.log")
        # HAProxy starts once every server answers, so none begins marked down by a check made too early.
        config = self.state / "haproxy.cfg"
        self.ports["stats"] = self.args.stats_port or free_port()
        config.write_text(haproxy_config(self.args.port, self.args.address, workers, self.ports["stats"]))
        check = subprocess.run([HAPROXY, "-c", "-q", "-f", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise SystemExit(f"HAProxy refused {config}: {check.stderr.strip() or check.stdout.strip()}")
        self.spawn("haproxy", [HAPROXY, "-db", "-f", str(config)], base_env, self.state / "haproxy.log")
        self.ports["haproxy"] = self.args.port
        self.write_state()
        while _get(f"http://127.0.0.1:{self.args.port}{HEALTH}") != 200:
            if self.stopping:
                return
            self.check_alive()
            if time.monotonic() > deadline:
                raise SystemExit(f"HAProxy did not answer on port {self.args.port}; see {self.state}/haproxy.log")
            time.sleep(0.2)
        host = "127.0.0.1" if self.args.address in {"0.0.0.0", "127.0.0.1", "*"} else self.args.address
        say(f"ready: http://{host}:{self.args.port} ({self.args.workers} servers behind HAProxy) "
            f"in {time.monotonic() - began:.1f} s; logs in {self.state}; Ctrl-C stops everything")

    def write_state(self) -> None:
        state: dict[str, Any] = {
            "proxy": {"pid": self.processes["haproxy"].pid, "port": self.args.port, "stats": self.ports["stats"]},
            "workers": [{"name": n, "pid": p.pid, "port": self.ports[n]}
                        for n, p in self.processes.items() if n != "haproxy"],
            "postgres": {"pid": self.pg.postmaster_pid(), "port": self.pg.port} if self.pg else None,
            "supervisor": os.getpid(),
        }
        (self.state / "cluster.json").write_text(json.dumps(state, indent=2) + "\n")

    def check_alive(self) -> None:
        """HAProxy gone ends the cluster; a server gone is reported once (HAProxy has taken it out)."""
        for name, process in list(self.processes.items()):
            code = process.poll()
            if code is None:
                continue
            if name == "haproxy":
                raise SystemExit(f"HAProxy exited ({code}); see {self.state}/haproxy.log")
            say(f"server {name} exited ({code}); HAProxy sends its sessions to the others")
            del self.processes[name]
        if not any(n != "haproxy" for n in self.processes):
            raise SystemExit("every app server has exited")

    def serve(self) -> None:
        while not self.stopping:
            if not self.args.postgres_only:
                self.check_alive()
            time.sleep(0.5)

    def stop(self) -> None:
        """SIGTERM to every process group (the proxy first), SIGKILL to what is left after 10 s, then PostgreSQL."""
        order = sorted(self.processes, key=lambda n: n != "haproxy")
        for name in order:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.processes[name].pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for name in order:
            process = self.processes[name]
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop within 10 s: killing its process group")
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is left (readers, helpers)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=5)
        self.processes.clear()
        if self.pg is not None and self.pg.started:
            self.pg.stop()
            say("PostgreSQL stopped")


def first_start(load_sample: bool) -> int:
    """The database's first-run work, in a child process (the supervisor never loads the app): the sample
    returns into an empty database of the cluster's own, and the first admin, as one server's first run does."""
    sys.path.insert(0, str(ROOT))
    from kpi import auth
    from kpi.service import load_sample as load
    from kpi.service import open_store
    from kpi.settings import get_settings
    from kpi.store import db

    with open_store(os.environ["KPI_DB"]) as store:
        cur = store.cursor()
        loaded = db(cur).meta.has("sample_loaded")
        cur.close()
        if load_sample and not loaded and store.is_empty():
            started = time.monotonic()
            say(f"loading the sample returns ({get_settings().sample_dir}) ...")
            say(f"{load(store)} sample returns loaded in {time.monotonic() - started:.1f} s")
        password = get_settings().admin_password
        generated = auth.ensure_admin(store, password.get_secret_value() if password else None)
        if generated:  # printed once, here, never shown in the app (as the single server prints it to its log)
            say(f"first admin created. Username: admin  Password: {generated}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8501")),
                        help="port HAProxy listens on (default 8501)")
    parser.add_argument("--address", default="127.0.0.1", help="address HAProxy binds (default 127.0.0.1)")
    parser.add_argument("--workers", type=int, default=2, help="app servers behind the proxy (default 2)")
    parser.add_argument("--var", default=str(ROOT / "var"), help="state directory (default var/)")
    parser.add_argument("--postgres-only", action="store_true",
                        help="start only the private PostgreSQL under var/pg and print its URL")
    parser.add_argument("--stats-port", type=int, default=0,
                        help="loopback port of HAProxy's statistics page (default: free)")
    parser.add_argument("--pg-port", type=int, default=0, help="port of the private PostgreSQL (default: free)")
    parser.add_argument("--start-timeout", type=float, default=90.0, help="seconds the servers may take to start")
    # Internal: the child process that prepares the database before the servers start (Cluster.prepare_database).
    parser.add_argument("--first-start", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--load-sample", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.first_start:
        return first_start(args.load_sample)
    if not args.postgres_only and not Path(HAPROXY).is_file():
        print(f"HAProxy not found ({HAPROXY}): install Debian's haproxy package (`make system-deps`).",
              file=sys.stderr)
        return 2
    cluster = Cluster(args)

    def on_signal(signum: int, _frame: object) -> None:
        cluster.stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    code = 0
    try:
        cluster.start()
        cluster.serve()
    except SystemExit as exit_:
        if exit_.code not in (None, 0):
            print(f"[cluster] {exit_.code}", file=sys.stderr, flush=True)
            code = 1
    finally:
        say("stopping")
        cluster.stop()
    say("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
