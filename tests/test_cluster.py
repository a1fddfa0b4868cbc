"""`make cluster` for real: scripts/cluster.py with two app servers (each on its own copy of the sample database,
`--demo-separate-files`) behind Debian's HAProxy on a free loopback port. Through the proxy: the health
endpoint, the SERVERID cookie keeping a session on one server (and only the cookie: the same client address is
spread over both servers without it), a websocket upgrade to Streamlit's /_stcore/stream, a server SIGKILLed
taken out by the health check while new sessions go to the other, and SIGTERM to the script stopping every
process it started. Skipped where HAProxy is missing; failed in CI (`make test` installs it)."""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from postgres import require_postgres

from scripts.pgserver import PgServer

ROOT = Path(__file__).resolve().parent.parent
HAPROXY = os.environ.get("PARASAT_HAPROXY", "/usr/sbin/haproxy")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(port: int, path: str = "/", cookie: str | None = None) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        headers = {k.lower(): v for k, v in response.getheaders() if k.lower() != "set-cookie"}
        cookies = [v for k, v in response.getheaders() if k.lower() == "set-cookie"]
        headers["set-cookie"] = " | ".join(cookies)
        return response.status, headers, response.read()
    finally:
        conn.close()


def server_of(port: int, cookie: str | None = None) -> str:
    status, headers, _ = get(port, "/_stcore/health", cookie)
    assert status == 200
    return headers["x-parasat-server"]


def server_states(stats_port: int) -> dict[str, str]:
    """HAProxy's own view of each app server (UP, DOWN, ...), from its CSV statistics."""
    _, _, body = get(stats_port, "/;csv")
    rows = [line.split(",") for line in body.decode().splitlines() if line.startswith("parasat_servers,w")]
    return {row[1]: row[17].split(" ")[0] for row in rows}  # "UP 1/3" (one check failed) is still UP


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[dict[str, Any]]:
    if not Path(HAPROXY).is_file():
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI needs HAProxy ({HAPROXY}): `make test` installs Debian's haproxy", pytrace=False)
        pytest.skip(f"HAProxy not installed ({HAPROXY}); `make system-deps` installs it")
    port = free_port()
    env = {**os.environ, "PARASAT_ADMIN_PASSWORD": "cluster-test-Pa55", "STREAMLIT_SERVER_MAX_UPLOAD_SIZE": "7",
           "KPI_DB": str(tmp_path / "one-file-for-all.duckdb")}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "cluster.py"), "--port", str(port), "--workers", "2",
         "--demo-separate-files", "--var", str(tmp_path), "--start-timeout", "45"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:  # the script says "ready" once every server and the proxy answer
            lines.append(line)
            if "ready:" in line or "stopped" in line:
                break
        assert any("ready:" in line for line in lines), "".join(lines)
        state = json.loads((tmp_path / "cluster" / "cluster.json").read_text())
        yield {"process": process, "port": port, "state": state, "lines": lines, "var": tmp_path,
               "start_seconds": time.monotonic() - started}
    finally:
        if process.poll() is None:  # the test failed before its own SIGTERM: stop everything anyway
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        process.stdout.close()


def test_cluster_proxy_stickiness_websocket_failover_and_stop(cluster: dict[str, Any]) -> None:
    port, state, process = cluster["port"], cluster["state"], cluster["process"]
    workers = {w["name"]: w for w in state["workers"]}
    assert sorted(workers) == ["w1", "w2"]
    assert cluster["start_seconds"] < 50

    assert server_states(state["proxy"]["stats"]) == {"w1": "UP", "w2": "UP"}

    # The servers got this environment (STREAMLIT_*, PARASAT_*), one cookie secret, and each its own database
    # file (KPI_DB, which would give them one file, is dropped in this mode).
    environs = {name: dict(item.split("=", 1) for item in
                           Path(f"/proc/{w['pid']}/environ").read_text().split("\0") if "=" in item)
                for name, w in workers.items()}
    for name, environ in environs.items():
        assert environ["STREAMLIT_SERVER_MAX_UPLOAD_SIZE"] == "7"
        assert environ["PARASAT_ADMIN_PASSWORD"] == "cluster-test-Pa55"
        assert environ["PARASAT_DB_PATH"] == str(cluster["var"] / "cluster" / name / "parasat.duckdb")
        assert "KPI_DB" not in environ
    assert environs["w1"]["STREAMLIT_SERVER_COOKIE_SECRET"] == environs["w2"]["STREAMLIT_SERVER_COOKIE_SECRET"]

    # Health through the proxy, and each server directly on its own loopback port.
    status, headers, body = get(port, "/_stcore/health")
    assert (status, body) == (200, b"ok")
    for worker in workers.values():
        assert get(worker["port"], "/_stcore/health")[0] == 200

    # Without the cookie the same client address is spread over both servers (round robin): not by address.
    first = get(port, "/")
    assert first[0] == 200 and b"<html" in first[2].lower()
    assert "SERVERID=" in first[1]["set-cookie"] and "HttpOnly" in first[1]["set-cookie"]
    seen = {server_of(port) for _ in range(4)}
    assert seen == {"w1", "w2"}

    # With the cookie HAProxy inserted, every request stays on that server.
    cookie = first[1]["set-cookie"].split(";", 1)[0]
    pinned = first[1]["x-parasat-server"]
    assert cookie == f"SERVERID={pinned}"
    assert {server_of(port, cookie) for _ in range(6)} == {pinned}

    # A websocket upgrade to Streamlit's stream goes through the proxy (and sticks to the cookie's server).
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Protocol: streamlit\r\nOrigin: http://127.0.0.1:{port}\r\n"
                      f"Cookie: {cookie}\r\n\r\n").encode())
        reply = sock.recv(4096).decode("latin-1")
    assert reply.startswith("HTTP/1.1 101"), reply
    assert f"x-parasat-server: {pinned}" in reply.lower()

    # SIGKILL the server this session sits on: the health check takes it out, its session and new ones go on
    # the other server, and the script keeps running.
    os.kill(workers[pinned]["pid"], signal.SIGKILL)
    other = "w2" if pinned == "w1" else "w1"
    killed = time.monotonic()
    while time.monotonic() - killed < 15 and server_states(state["proxy"]["stats"])[pinned] == "UP":
        time.sleep(0.2)
    cluster["down_seconds"] = time.monotonic() - killed
    assert server_states(state["proxy"]["stats"]) == {pinned: "DOWN", other: "UP"}
    assert cluster["down_seconds"] < 8  # three failed checks a second apart
    assert {server_of(port) for _ in range(4)} == {other}
    moved = get(port, "/_stcore/health", cookie)
    assert moved[1]["x-parasat-server"] == other and f"SERVERID={other}" in moved[1]["set-cookie"]
    assert process.poll() is None
    print(f"cluster ready in {cluster['start_seconds']:.1f} s; killed server DOWN after {cluster['down_seconds']:.1f} s")

    # SIGTERM to the script stops every process it started: nothing alive, nothing listening.
    pids = [state["proxy"]["pid"], *(w["pid"] for w in workers.values())]
    ports = [port, state["proxy"]["stats"], *(w["port"] for w in workers.values())]
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=20) == 0
    output = "".join(cluster["lines"]) + (process.stdout.read() if process.stdout else "")
    assert f"server {pinned} exited" in output and "stopped" in output
    assert "w1: KPI_DB ignored with --demo-separate-files" in output
    assert [pid for pid in pids if alive(pid)] == []
    assert [p for p in ports if listening(p)] == []


def test_cluster_over_one_embedded_file_is_refused(tmp_path: Path) -> None:
    """Until the PostgreSQL store lands, the script says why it cannot cluster and how to try it today."""
    env = {k: v for k, v in os.environ.items() if k != "KPI_DB"}
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "cluster.py"), "--port", str(free_port()),
                             "--var", str(tmp_path)], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "--demo-separate-files" in result.stderr and "issue 13" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written


def test_cluster_starts_its_own_postgres_under_var_and_stops_it_on_ctrl_c() -> None:
    """Without KPI_DB the script starts PostgreSQL under <var>/pg (the tests' code), keeps its data across
    starts, and Ctrl-C (SIGINT) stops it. `--postgres-only`: the app servers cannot use it yet."""
    require_postgres()
    var = Path(tempfile.mkdtemp(prefix="parasat-cluster-"))
    var.chmod(0o711)  # the postgres user must be able to walk down to var/pg (pytest's tmp_path is 0700)
    env = {k: v for k, v in os.environ.items() if k != "KPI_DB"}
    process: subprocess.Popen[str] | None = None
    try:
        for attempt in ("new database", "existing database"):
            process = subprocess.Popen(
                [sys.executable, str(ROOT / "scripts" / "cluster.py"), "--postgres-only", "--var", str(var)],
                cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                start_new_session=True)
            assert process.stdout is not None
            lines = []
            for line in process.stdout:
                lines.append(line)
                if "KPI_DB=" in line or "stopped" in line:
                    break
            output = "".join(lines)
            assert f"({attempt}," in output, output
            url = output.split("KPI_DB=", 1)[1].strip()
            assert url.startswith("postgresql://parasat:") and "@127.0.0.1:" in url
            with psycopg.connect(url, connect_timeout=10) as conn:
                if attempt == "new database":
                    conn.execute("CREATE TABLE kept (n int)")
                    conn.execute("INSERT INTO kept VALUES (42)")
                else:
                    assert conn.execute("SELECT n FROM kept").fetchall() == [(42,)]
            pid = PgServer(var / "pg").postmaster_pid()
            assert pid is not None and alive(pid)
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0
            assert "PostgreSQL stopped" in process.stdout.read()
            process.stdout.close()
            assert not alive(pid)
    finally:
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
        leftover = PgServer(var / "pg")
        if leftover.postmaster_pid() is not None:
            leftover.stop()
        shutil.rmtree(var, ignore_errors=True)
