"""`make cluster` for real: scripts/cluster.py starts its own PostgreSQL 15 under a temporary var/, loads sample
returns into it, creates the first admin once, starts two app servers and Debian's HAProxy on loopback ports.

Through the proxy: the SERVERID cookie keeps a session on one server (and only the cookie: one client address is
spread over both without it), websockets upgrade; in Chromium an admin signs in, uploads a corrected return
through one server and a second browser pinned to the other server sees the KPI change; the first server is then
SIGKILLed mid-session, HAProxy's health check marks it DOWN, and new sessions (and the killed one, still signed
in by its cookie) are served by the other; SIGTERM to the script stops every process it started, PostgreSQL
too. Real PostgreSQL, HAProxy and Chromium; missing ones skip the test here and fail it in CI (`make test`
installs them). Nothing asserts a time: the times are printed."""

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
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from postgres import in_ci, require_postgres

from kpi import auth, views
from kpi.catalogue import load_catalogue, load_registry
from kpi.sample import fill_by_names
from kpi.service import open_store, report_rows
from kpi.store import db
from kpi.template import build_template
from scripts.pgserver import PgServer
from tests.conftest import zero_values

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
HAPROXY = os.environ.get("PARASAT_HAPROXY", "/usr/sbin/haproxy")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking"]
ADMIN_PASSWORD = "cluster-test-Pa55"
PERIOD = "2025Q4"  # the sample quarter the test loads (the overview opens on it: every entity filed)
ENTITY = "akimat_abai"
WIDTH = 1280


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


def environ_of(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/environ").read_text()
    return dict(item.split("=", 1) for item in text.split("\0") if "=" in item)


def require_haproxy() -> None:
    if Path(HAPROXY).is_file():
        return
    if in_ci():
        pytest.fail(f"CI needs HAProxy ({HAPROXY}): `make test` installs Debian's haproxy", pytrace=False)
    pytest.skip(f"HAProxy not installed ({HAPROXY}); `make system-deps` installs it")


def one_quarter_sample(folder: Path) -> Path:
    """The committed sample cut to one quarter (its returns and the targets), so the first start loads fast."""
    manifest = json.loads((ROOT / "data" / "sample" / "manifest.json").read_text(encoding="utf-8"))
    manifest["uploads"] = [u for u in manifest["uploads"] if u["period"] == PERIOD]
    manifest["periods"] = [PERIOD]
    shutil.copytree(ROOT / "data" / "sample" / PERIOD, folder / PERIOD)
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


class Script:
    """scripts/cluster.py running in the background; its output read on a thread, waited for with a bound."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "cluster.py"), *argv], cwd=ROOT,
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        start_new_session=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, seconds: float) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if text in self.output:
                return self.output
            if self.process.poll() is not None:
                self.reader.join(5)
                break
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} from scripts/cluster.py:\n{self.output}")

    def stop(self, sig: int = signal.SIGTERM, seconds: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            code = self.process.wait(timeout=10)
        self.reader.join(10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return code


@pytest.fixture
def var() -> Iterator[Path]:
    """A state directory the `postgres` user can walk down to (pytest's tmp_path is 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="parasat-cluster-"))
    folder.chmod(0o711)
    yield folder
    leftover = PgServer(folder / "pg")
    if leftover.postmaster_pid() is not None:  # the test failed before the script stopped it
        leftover.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def cluster(var: Path) -> Iterator[dict[str, Any]]:
    require_haproxy()
    require_postgres()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"KPI_DB", "PARASAT_SECRET_FILE", "PARASAT_DB_PATH"}}
    env |= {"PARASAT_ADMIN_PASSWORD": ADMIN_PASSWORD, "STREAMLIT_SERVER_MAX_UPLOAD_SIZE": "7",
            "PARASAT_SAMPLE_DIR": str(one_quarter_sample(var / "sample"))}
    started = time.monotonic()
    script = Script(["--port", str(port), "--workers", "2", "--var", str(var), "--start-timeout", "180"], env)
    try:
        script.wait_for("ready:", 300)
        state = json.loads((var / "cluster" / "cluster.json").read_text())
        yield {"script": script, "port": port, "state": state, "var": var,
               "start_seconds": time.monotonic() - started}
    finally:
        script.stop()


def test_cluster_on_postgresql_upload_seen_through_the_other_server_failover_and_stop(
        cluster: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    port, state, script, var = cluster["port"], cluster["state"], cluster["script"], cluster["var"]
    monkeypatch.setenv("PARASAT_SECRET_FILE", str(var / "parasat-pg.secret"))  # this test reads the same database
    workers = {w["name"]: w for w in state["workers"]}
    assert sorted(workers) == ["w1", "w2"]
    assert server_states(state["proxy"]["stats"]) == {"w1": "UP", "w2": "UP"}

    # First start: PostgreSQL under var/pg, the sample quarter loaded and the admin created, once, before the
    # servers; every server got this environment, the database's URL, one secret file and one cookie secret.
    output = script.output
    assert "(new database," in output and "sample returns loaded" in output, output
    assert "first admin created" not in output  # PARASAT_ADMIN_PASSWORD was given
    environs = {name: environ_of(w["pid"]) for name, w in workers.items()}
    secret_file = var / "parasat-pg.secret"
    url = environs["w1"]["KPI_DB"]
    assert url.startswith("postgresql://parasat:") and f"@127.0.0.1:{state['postgres']['port']}/" in url
    for environ in environs.values():
        assert environ["KPI_DB"] == url
        assert environ["PARASAT_SECRET_FILE"] == str(secret_file)
        assert environ["STREAMLIT_SERVER_MAX_UPLOAD_SIZE"] == "7"
        assert environ["PARASAT_ADMIN_PASSWORD"] == ADMIN_PASSWORD
    assert environs["w1"]["STREAMLIT_SERVER_COOKIE_SECRET"] == environs["w2"]["STREAMLIT_SERVER_COOKIE_SECRET"]
    assert secret_file.is_file() and secret_file.stat().st_mode & 0o777 == 0o600
    with open_store(url) as store:
        cur = store.cursor()
        filed = db(cur).returns.current_ids(PERIOD)
        cur.close()
        users = auth.list_users(store)
    assert len(filed) == len(load_registry().entities)  # the quarter's returns: every entity filed
    assert [(u["username"], u["role"]) for u in users] == [("admin", "admin")]

    check_proxy(port)
    before, expected, upload = corrected_return(url, var)
    in_chromium(cluster, workers, before, expected, upload)

    # Both servers wrote the one audit trail with the one key: the command line verifies it whole.
    verdict = subprocess.run([sys.executable, "-m", "kpi", "audit", "verify", "--db", url, "--lang", "en"], cwd=ROOT,
                             env={**os.environ, "PARASAT_SECRET_FILE": str(secret_file)}, capture_output=True,
                             text=True, timeout=120)
    assert verdict.returncode == 0, verdict.stdout + verdict.stderr

    # SIGTERM to the script stops every process it started: nothing alive, nothing listening, PostgreSQL too.
    pids = [state["proxy"]["pid"], state["postgres"]["pid"], *(w["pid"] for w in workers.values())]
    ports = [port, state["proxy"]["stats"], state["postgres"]["port"], *(w["port"] for w in workers.values())]
    assert script.stop() == 0
    assert "exited" in script.output and "PostgreSQL stopped" in script.output and "stopped" in script.output
    assert [pid for pid in pids if alive(pid)] == []
    assert [p for p in ports if listening(p)] == []
    print(f"cluster ready in {cluster['start_seconds']:.1f} s; killed server DOWN after "
          f"{cluster['down_seconds']:.1f} s")


def check_proxy(port: int) -> None:
    """Round robin without the cookie, one server with it, and a websocket upgrade through the proxy."""
    first = get(port, "/")
    assert first[0] == 200 and b"<html" in first[2].lower()
    assert "SERVERID=" in first[1]["set-cookie"] and "HttpOnly" in first[1]["set-cookie"]
    assert {server_of(port) for _ in range(4)} == {"w1", "w2"}  # one client address, both servers
    cookie = first[1]["set-cookie"].split(";", 1)[0]
    pinned = first[1]["x-parasat-server"]
    assert cookie == f"SERVERID={pinned}"
    assert {server_of(port, cookie) for _ in range(6)} == {pinned}
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /_stcore/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                      f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                      f"Sec-WebSocket-Protocol: streamlit\r\nOrigin: http://127.0.0.1:{port}\r\n"
                      f"Cookie: {cookie}\r\n\r\n").encode())
        reply = sock.recv(4096).decode("latin-1")
    assert reply.startswith("HTTP/1.1 101"), reply
    assert f"x-parasat-server: {pinned}" in reply.lower()


def corrected_return(url: str, folder: Path) -> tuple[float, float, Path]:
    """A corrected return for one akimat with no subdivision analysed, and G1.K1 before and after it."""
    catalogue, registry = load_catalogue(), load_registry()
    with open_store(url) as store:
        cur = store.cursor()
        current = {measure: value for entity, measure, value in db(cur).returns.current_values(PERIOD)
                   if entity == ENTITY}
        cur.close()
        national = next(v for v in report_rows(store, PERIOD) if v.kpi == "G1.K1" and v.level == "national")
    assert national.numerator is not None and national.denominator and national.value is not None
    expected = 100 * (national.numerator - current["subdivisions_analysed"]) / national.denominator
    assert current["subdivisions_analysed"] > 0  # so the upload changes the national figure
    values = zero_values(catalogue, registry, ENTITY) | current | {"subdivisions_analysed": 0}
    path = folder / f"{ENTITY}_{PERIOD}_corrected.xlsx"
    path.write_bytes(fill_by_names(build_template(catalogue, registry, ENTITY, PERIOD), values))
    return national.value, expected, path


# Streamlit states its script run on the app element; "notRunning" once a run has finished.
IDLE = "() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState === 'notRunning'"


def settle(page: Any, pause: float = 0.8) -> None:
    """Wait until Streamlit has finished the current run (still idle after a pause)."""
    page.wait_for_selector("[data-testid='stSidebarNav']", timeout=90_000)
    for _ in range(5):
        time.sleep(0.3)
        page.wait_for_function(IDLE, timeout=90_000)
        time.sleep(pause)
        if page.evaluate(IDLE):
            return


def open_signed_in(page: Any, base: str, path: str) -> str:
    """Open a link through the proxy, sign in when the session asks; the server that answered the page."""
    response = page.goto(f"{base}/{path}")
    served = response.headers.get("x-parasat-server", "") if response else ""
    page.wait_for_selector("[data-testid='stMain'] h1", state="visible", timeout=90_000)
    time.sleep(0.5)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=90_000)
    field = page.locator("input[autocomplete='username']:visible")
    if field.count():
        field.first.fill("admin")
        page.locator("input[autocomplete='current-password']:visible").first.fill(ADMIN_PASSWORD)
        page.locator("[data-testid='stFormSubmitButton'] button:visible").first.click()
    settle(page)
    return served


def tile(page: Any) -> str:
    return str(page.locator(".st-key-tile_G1_K1 [data-testid='stMetricValue']").inner_text().strip())


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def in_chromium(cluster: dict[str, Any], workers: dict[str, Any], before: float, expected: float,
                upload: Path) -> None:
    """Upload through one server, see it through the other, kill the first mid-session, keep serving."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        if in_ci():
            pytest.fail("CI needs Debian's chromium (`make test` installs it)", pytrace=False)
        pytest.skip("Debian's chromium is not installed (make system-deps)")
    port, stats = cluster["port"], cluster["state"]["proxy"]["stats"]
    base = f"http://127.0.0.1:{port}"
    overview = f"?lang=en&period={PERIOD}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            viewport = {"width": WIDTH, "height": 900}
            officer = browser.new_context(viewport=viewport).new_page()
            served = open_signed_in(officer, base, overview)
            pinned = {c["name"]: c["value"] for c in officer.context.cookies()}["SERVERID"]
            assert served == pinned and tile(officer) == views.fmt(before, "percent", "en")
            other = "w2" if pinned == "w1" else "w1"

            # A second browser pinned to the other server by its cookie, as HAProxy would have set it.
            analyst_context = browser.new_context(viewport=viewport)
            analyst_context.add_cookies([{"name": "SERVERID", "value": other, "domain": "127.0.0.1", "path": "/"}])
            analyst = analyst_context.new_page()
            assert open_signed_in(analyst, base, overview) == other
            assert tile(analyst) == views.fmt(before, "percent", "en")

            # Upload and confirm through the first server.
            assert open_signed_in(officer, base, "upload?lang=en") == pinned
            officer.set_input_files("[data-testid='stFileUploaderDropzoneInput']", str(upload))
            officer.get_by_text("will replace version", exact=False).wait_for(timeout=90_000)
            officer.get_by_role("button", name="Confirm and save (1)").click()
            officer.get_by_text("Saved 1 file.", exact=False).wait_for(timeout=90_000)
            settle(officer)
            shoot(officer, "cluster_upload_saved_en")

            # The other server's pages show it (its data version changed in the shared database).
            shown = views.fmt(expected, "percent", "en")
            assert shown != views.fmt(before, "percent", "en")
            for _ in range(10):
                assert open_signed_in(analyst, base, overview) == other
                if tile(analyst) == shown:
                    break
                time.sleep(1)
            assert tile(analyst) == shown
            shoot(analyst, "cluster_other_server_en")

            # SIGKILL the server the officer's session sits on: HAProxy marks it DOWN; new sessions, and the
            # officer's (still signed in by its cookie, kept in the shared database), go to the other server.
            os.kill(workers[pinned]["pid"], signal.SIGKILL)
            killed = time.monotonic()
            while time.monotonic() - killed < 60 and server_states(stats)[pinned] != "DOWN":
                time.sleep(0.2)
            cluster["down_seconds"] = time.monotonic() - killed
            assert server_states(stats) == {pinned: "DOWN", other: "UP"}
            newcomer = browser.new_context(viewport=viewport).new_page()
            assert open_signed_in(newcomer, base, overview) == other
            assert tile(newcomer) == shown
            shoot(newcomer, "cluster_after_failover_en")
            assert open_signed_in(officer, base, overview) == other
            assert tile(officer) == shown
            assert officer.locator("input[autocomplete='current-password']:visible").count() == 0
            assert {c["name"]: c["value"] for c in officer.context.cookies()}["SERVERID"] == other
        except BaseException:
            for number, context in enumerate(browser.contexts):  # what each browser showed when it failed
                for page in context.pages:
                    shoot(page, f"cluster_failed_{number}")
            for log in sorted((cluster["var"] / "cluster").glob("w*.log")):
                print(f"--- {log.name}\n{log.read_text(errors='replace')[-4000:]}", file=sys.stderr)
            raise
        finally:
            browser.close()
    assert cluster["script"].process.poll() is None  # one server gone: the script keeps serving


def test_cluster_over_one_embedded_file_is_refused(tmp_path: Path) -> None:
    """Several servers cannot share one DuckDB file: the script says so and starts nothing."""
    require_haproxy()
    env = {**os.environ, "KPI_DB": str(tmp_path / "parasat.duckdb")}
    result = subprocess.run([sys.executable, str(ROOT / "scripts" / "cluster.py"), "--port", str(free_port()),
                             "--var", str(tmp_path / "var")], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 1
    assert "names an embedded file" in result.stderr and "postgresql://" in result.stderr
    assert not (tmp_path / "parasat.duckdb").exists() and not (tmp_path / "var" / "pg").exists()


def test_cluster_postgres_only_keeps_its_data_and_stops_on_ctrl_c(var: Path) -> None:
    """`--postgres-only`: the private PostgreSQL under <var>/pg, its data kept across starts, Ctrl-C stops it."""
    require_postgres()
    env = {k: v for k, v in os.environ.items() if k != "KPI_DB"}
    for attempt in ("new database", "existing database"):
        script = Script(["--postgres-only", "--var", str(var)], env)
        try:
            output = script.wait_for("KPI_DB=", 120)
            assert f"({attempt}," in output, output
            url = output.split("KPI_DB=", 1)[1].split("\n", 1)[0].strip()
            assert url.startswith("postgresql://parasat:") and "@127.0.0.1:" in url
            with psycopg.connect(url, connect_timeout=10) as conn:
                if attempt == "new database":
                    conn.execute("CREATE TABLE kept (n int)")
                    conn.execute("INSERT INTO kept VALUES (42)")
                else:
                    assert conn.execute("SELECT n FROM kept").fetchall() == [(42,)]
            pid = PgServer(var / "pg").postmaster_pid()
            assert pid is not None and alive(pid)
        finally:
            code = script.stop(signal.SIGINT)
        assert code == 0 and "PostgreSQL stopped" in script.output
        assert not alive(pid)
