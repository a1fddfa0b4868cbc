"""Browser-free load benchmark: sessions driven through Streamlit's agent API, today's server against the tuned one.

    python scripts/load_bench.py [--sessions 30] [--burst 10] [--think 3] [--max-seconds 110] [--repeat 1]
    python scripts/load_bench.py --cluster [...]      # through HAProxy: 1 server, then 2, same run

Each server gets its own copy of one sample database and runs `streamlit run app.py` on 127.0.0.1 with
`--server.enableAgentApi=true` (on only here, never in `.streamlit/config.toml`): every request runs the
page on the server and returns its element tree, so no browser shares the cores with the server. Each
session signs in through the real sign-in form (a benchmark user created with the kpi package) and
opens every page the sidebar lists, in order.

Two servers run in turn with the same workload, `--repeat` times each, interleaved (today, tuned, today,
tuned ...), so both see the same machine:

- today: `--runner.postScriptGC true --server.fileWatcherType auto`, Streamlit's defaults: a full garbage
  collection after every run, source files polled for changes;
- tuned: the shipped `.streamlit/config.toml` (`runner.postScriptGC = false`, `fileWatcherType = "none"`;
  the app freezes its start-up heap, collects the rest every few seconds on a thread of its own and limits
  malloc's arenas, see `pages/runtime.py: tune_gc`).

Both run this checkout's app code otherwise (the cache keys on access, the data version asked once a second,
the cursor pool), so the comparison isolates the collector and the watcher; with `--baseline-tree DIR`
`today` runs the app from another checkout (`git archive REV | tar -x -C DIR`), the code before as well.

Phases per server: a warm-up session through every page (not counted); one session alone through every
page (per-page P50); `--burst` sessions at once with no pause (page runs per second, P50/P95); two waves of
`--sessions` sessions pausing `--think` seconds between clicks (P50/P95, errors), each wave's sessions then
left to end (the server's agent session TTL is set short here) and the memory read again: the second wave
shows the memory a live session costs once the caches are warm, and whether ended sessions give it back.
With `--cluster` the same phases run through HAProxy instead (`make load-cluster`): a private PostgreSQL
(scripts/pgserver.py) gets the sample returns and the benchmark users once, then `scripts/cluster.py` starts
with one and with two servers on it, in turn (`--repeat` times each, interleaved), the agent API switched on
through the environment (`STREAMLIT_SERVER_ENABLE_AGENT_API`, which the script passes to every server); each
client keeps the SERVERID cookie, so its session stays on one server as a browser's does; memory is the
servers' together. The table gives how many times more page runs two servers serve than one. On a machine
with two cores the proxy, PostgreSQL and the clients share them with the servers.

Every phase is bounded by `--max-seconds`; the script only talks to the servers it starts. Not a test:
nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PASSWORD = "load-bench-password"
USERS = 10
SESSION_TTL = 15  # seconds an idle agent session is kept (the default is 900): the release phases wait for it
CONFIGS = {
    "today": ["--runner.postScriptGC", "true", "--server.fileWatcherType", "auto"],
    "tuned": [],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pids: int | Sequence[int]) -> float:
    """Resident memory of the server process (of all the cluster's servers together), in MB."""
    total = 0.0
    for pid in [pids] if isinstance(pids, int) else pids:
        try:
            lines = Path(f"/proc/{pid}/status").read_text().splitlines()
        except FileNotFoundError:
            return float("nan")
        total += next((int(line.split()[1]) / 1024 for line in lines if line.startswith("VmRSS:")), float("nan"))
    return total


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


class Refused(Exception):
    """The server answered with an error body (or not at all)."""


class Client:
    """One agent-API session on one server."""

    def __init__(self, base: str, timeout: float = 120.0) -> None:
        self.url = f"{base}/_stcore/agent/interact"
        self.timeout = timeout
        # Through HAProxy the agent session lives on one server: keep the SERVERID cookie it sets, as a browser does.
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))
        self.session_id: str | None = None
        self.snapshot: dict[str, Any] = {}

    def send(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.session_id:
            body = {"session_id": self.session_id, **body}
        for _ in range(20):  # a run past the server's wait timeout: collect it, bounded
            request = urllib.request.Request(self.url, data=json.dumps(body).encode(),
                                             headers={"Content-Type": "application/json"})
            try:
                with self.opener.open(request, timeout=self.timeout) as response:
                    status, answer = response.status, json.load(response)
            except urllib.error.HTTPError as exc:
                status, answer = exc.code, json.load(exc)
            except (OSError, ValueError) as exc:
                raise Refused(f"{type(exc).__name__}: {exc}") from exc
            if status == 202 and answer.get("error", {}).get("code") == "wait_timed_out":
                self.session_id = answer["error"].get("session_id") or answer.get("session_id") or self.session_id
                body = {"session_id": self.session_id}
                continue
            if status != 200:
                raise Refused(f"{status} {answer.get('error', {}).get('code')}")
            self.session_id = answer["session_id"]
            self.snapshot = answer
            if answer.get("status") != "ready":
                raise Refused(f"page {answer.get('page', {}).get('url_path')!r} raised")
            return answer
        raise Refused("wait_timed_out 20 times")

    def sign_in(self, username: str) -> list[str]:
        """Open the app and sign in through its form; the pages the sidebar then lists."""
        first = self.send({})
        actions = first["actions"]
        fields = {a["key"]: a for a in actions if a["kind"] == "value" and a["type"] == "text_input"}
        user_key = next((k for k in fields if "username" in k), None)
        password_key = next((k for k in fields if "password" in k), None)
        submit = next((a["key"] for a in actions if a["kind"] == "trigger" and a["type"] == "form_submit_button"),
                      None)
        if user_key and password_key and submit:
            self.send({"widget_state": {user_key: username, password_key: PASSWORD}, "trigger": {"key": submit}})
        pages = [p["url_path"] for p in self.snapshot["pages"]]
        if any(a["key"] == password_key for a in self.snapshot["actions"]):
            raise Refused("sign-in failed")
        return pages

    def open(self, page: str) -> float:
        started = time.perf_counter()
        self.send({"page": page})
        return time.perf_counter() - started


@dataclass
class Phase:
    """What one phase measured."""

    name: str
    sessions: int
    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    rss_before: float = 0.0
    rss_after: float = 0.0

    @property
    def all_times(self) -> list[float]:
        return [t for values in self.times.values() for t in values]

    @property
    def runs_per_second(self) -> float:
        return len(self.all_times) / self.seconds if self.seconds else float("nan")


def session(base: str, username: str, rounds: int, think: float, phase: Phase, deadline: float,
            lock: threading.Lock, delay: float = 0.0) -> None:
    time.sleep(delay)
    client = Client(base)
    try:
        pages = client.sign_in(username)
        for _ in range(rounds):
            for page in pages:
                if time.monotonic() > deadline:
                    return
                seconds = client.open(page)
                with lock:
                    phase.times[page or "overview"].append(seconds)
                if think:
                    time.sleep(think)
    except Refused as exc:
        with lock:
            phase.errors.append(f"{username}: {exc}")


def run_phase(name: str, base: str, pid: int | Sequence[int], sessions: int, rounds: int, think: float, max_seconds: float,
              ramp: float = 0.0) -> Phase:
    phase = Phase(name, sessions)
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds
    phase.rss_before = rss_mb(pid)
    threads = [threading.Thread(target=session, daemon=True,
                                args=(base, f"bench{i % USERS}", rounds, think, phase, deadline, lock, i * ramp))
               for i in range(sessions)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max_seconds + 180)
    phase.seconds = time.perf_counter() - started
    phase.rss_after = rss_mb(pid)
    return phase


def prepare(work: Path) -> Path:
    """One sample database with the benchmark users, copied for every server."""
    os.environ["PARASAT_DB_PATH"] = str(work / "template" / "parasat.duckdb")
    from kpi import auth
    from kpi.service import open_store

    with open_store() as store:  # the default database: the sample returns load here
        for i in range(USERS):
            auth.create_user(store, f"bench{i}", PASSWORD, "admin", display_name=f"Bench {i}")
    return work / "template"


def serve(config: str, template: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    folder = work / f"{config}-{time.monotonic_ns()}"
    shutil.copytree(template, folder)
    port = free_port()
    tree = Path(args.baseline_tree) if config == "today" and args.baseline_tree else ROOT
    env = {**os.environ, "PARASAT_DB_PATH": str(folder / "parasat.duckdb"), "PARASAT_ADMIN_PASSWORD": PASSWORD,
           "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--server.enableAgentApi", "true",
               "--server.agentSessionTTL", str(SESSION_TTL), "--server.agentMaxSessions", "200",
               *CONFIGS[config]]
    base = f"http://127.0.0.1:{port}"
    with open(folder / "server.log", "w") as log:
        server = subprocess.Popen(command, cwd=tree, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            for _ in range(120):
                try:
                    urllib.request.urlopen(f"{base}/_stcore/health", timeout=2).close()
                    break
                except OSError:
                    time.sleep(0.5)
            result = measure(config, base, server.pid, args)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    log_text = (folder / "server.log").read_text(errors="replace")
    result["server_errors"] = log_text.count("Traceback")
    shutil.rmtree(folder, ignore_errors=True)
    return result


def measure(config: str, base: str, pids: int | Sequence[int], args: argparse.Namespace,
            warm_sessions: int = 1) -> dict[str, Any]:
    """Every phase against one address (a server, or the proxy in front of several)."""
    result: dict[str, Any] = {"config": config, "rss_start": rss_mb(pids)}
    # Through the proxy one warm-up session per server, at once: round robin gives each server one.
    result["warm"] = run_phase("warm-up", base, pids, warm_sessions, 1, 0.0, args.max_seconds)
    result["solo"] = run_phase("one session", base, pids, 1, 1, 0.0, args.max_seconds)
    result["burst"] = run_phase(f"{args.burst} at once", base, pids, args.burst, 1, 0.0, args.max_seconds)
    for wave in ("paced", "again"):  # the second wave shows whether the first one's memory came back
        result[wave] = run_phase(f"{args.sessions} pausing {args.think:g} s", base, pids, args.sessions, 1,
                                 args.think, args.max_seconds, ramp=args.think / args.sessions)
        time.sleep(SESSION_TTL + 3)  # the sessions end: idle past the TTL, closed by the server
        for _ in range(warm_sessions):
            Client(base).send({})  # one fresh request (per server) lets the server sweep the expired sessions
        time.sleep(3)
        result[f"rss_{wave}_ended"] = rss_mb(pids)
    result["rss_released"] = result["rss_again_ended"]
    return result


def summary(result: dict[str, Any]) -> dict[str, float]:
    solo, burst, paced, again = result["solo"], result["burst"], result["paced"], result["again"]
    times = paced.all_times + again.all_times
    return {
        "solo_p50": statistics.median(solo.all_times) if solo.all_times else float("nan"),
        "burst_rps": burst.runs_per_second,
        "burst_p50": percentile(burst.all_times, 0.5),
        "burst_p95": percentile(burst.all_times, 0.95),
        "paced_p50": percentile(times, 0.5),
        "paced_p95": percentile(times, 0.95),
        "paced_rps": (len(times) / (paced.seconds + again.seconds)) if times else float("nan"),
        "errors": float(sum(len(result[p].errors) for p in ("solo", "burst", "paced", "again"))
                        + result["server_errors"]),
        "mb_per_session": (again.rss_after - again.rss_before) / again.sessions,
        "mb_kept_per_session": (result["rss_again_ended"] - result["rss_paced_ended"]) / again.sessions,
        "rss_warm": result["warm"].rss_after,
        "rss_loaded": again.rss_after,
        "rss_released": result["rss_released"],
    }


def report(results: list[dict[str, Any]]) -> None:
    for result in results:
        print(f"\n== {result['config']} (server RSS at start {result['rss_start']:.0f} MB, "
              f"after warm-up {result['warm'].rss_after:.0f} MB)")
        for key in ("solo", "burst", "paced", "again"):
            phase: Phase = result[key]
            print(f"  {phase.name}: {len(phase.all_times)} page runs in {phase.seconds:.1f} s = "
                  f"{phase.runs_per_second:.2f}/s; P50 {percentile(phase.all_times, 0.5) * 1000:.0f} ms, "
                  f"P95 {percentile(phase.all_times, 0.95) * 1000:.0f} ms; errors {len(phase.errors)}; "
                  f"RSS {phase.rss_before:.0f} -> {phase.rss_after:.0f} MB")
            for error in phase.errors[:3]:
                print(f"    - {error}")
        print("  per page, one session (P50 ms) | at once (P50 / P95 ms) | pausing (P50 / P95 ms):")
        for page in result["solo"].times:
            solo = result["solo"].times[page]
            burst = result["burst"].times.get(page, [])
            paced = result["paced"].times.get(page, []) + result["again"].times.get(page, [])
            print(f"    {page:12} {statistics.median(solo) * 1000:7.0f} | "
                  f"{percentile(burst, 0.5) * 1000:6.0f} / {percentile(burst, 0.95) * 1000:6.0f} | "
                  f"{percentile(paced, 0.5) * 1000:6.0f} / {percentile(paced, 0.95) * 1000:6.0f}")
        print(f"  after each paced wave's sessions ended: RSS {result['rss_paced_ended']:.0f} MB, then "
              f"{result['rss_again_ended']:.0f} MB; "
              f"tracebacks in the server log: {result['server_errors']}")

    by_config: dict[str, list[dict[str, float]]] = defaultdict(list)
    for result in results:
        by_config[result["config"]].append(summary(result))
    medians = {config: {k: statistics.median(s[k] for s in runs) for k in runs[0]}
               for config, runs in by_config.items()}
    pair = ("today", "tuned") if {"today", "tuned"} <= medians.keys() else CLUSTER_CONFIGS
    if set(pair) <= medians.keys():
        today, tuned = medians[pair[0]], medians[pair[1]]
        print(f"\n{'':28} {pair[0]:>10} {pair[1]:>10} {'ratio':>8}")
        rows = [("one session P50 (ms)", "solo_p50", 1000, "down"),
                ("page runs/s, burst", "burst_rps", 1, "up"),
                ("burst P50 (ms)", "burst_p50", 1000, "down"),
                ("burst P95 (ms)", "burst_p95", 1000, "down"),
                ("paced P50 (ms)", "paced_p50", 1000, "down"),
                ("paced P95 (ms)", "paced_p95", 1000, "down"),
                ("MB per live session, wave 2", "mb_per_session", 1, ""),
                ("MB kept per ended session", "mb_kept_per_session", 1, ""),
                ("RSS after warm-up (MB)", "rss_warm", 1, ""),
                ("RSS after load (MB)", "rss_loaded", 1, ""),
                ("RSS after sessions end (MB)", "rss_released", 1, ""),
                ("errors", "errors", 1, "")]
        for label, key, scale, better in rows:
            a, b = today[key] * scale, tuned[key] * scale
            ratio = (b / a if better == "up" else a / b) if better and a and b else float("nan")
            shown = f"{ratio:7.1f}x" if better else ""
            print(f"{label:28} {a:10.1f} {b:10.1f} {shown:>8}")
        print(f"(ratio: how many times better {pair[1]} did than {pair[0]})")


# --- through the proxy: scripts/cluster.py with one and with two servers on one PostgreSQL -------------------
CLUSTER_CONFIGS = ("1 server", "2 servers")


def prepare_cluster(work: Path) -> tuple[Any, dict[str, str]]:
    """A private PostgreSQL with the sample returns and the benchmark users; the environment for the servers."""
    from kpi import auth
    from kpi.service import load_sample, open_store
    from scripts.pgserver import PgServer

    work.chmod(0o711)  # the postgres user walks down to its data directory
    pg = PgServer(work / "pg")
    pg.start()
    env = {**os.environ, "KPI_DB": pg.url, "PARASAT_SECRET_FILE": str(work / "parasat-pg.secret"),
           "PARASAT_ADMIN_PASSWORD": PASSWORD, "STREAMLIT_SERVER_ENABLE_AGENT_API": "true",
           "STREAMLIT_SERVER_AGENT_SESSION_TTL": str(SESSION_TTL), "STREAMLIT_SERVER_AGENT_MAX_SESSIONS": "200"}
    os.environ["PARASAT_SECRET_FILE"] = env["PARASAT_SECRET_FILE"]
    started = time.monotonic()
    with open_store(pg.url) as store:
        loaded = load_sample(store)
        for i in range(USERS):
            auth.create_user(store, f"bench{i}", PASSWORD, "admin", display_name=f"Bench {i}")
    print(f"PostgreSQL: {loaded} sample returns loaded in {time.monotonic() - started:.1f} s", flush=True)
    return pg, env


def serve_cluster(config: str, env: dict[str, str], work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """`scripts/cluster.py` with one or two servers on the shared database, measured through HAProxy."""
    workers = int(config.split()[0])
    var = work / f"cluster-{time.monotonic_ns()}"
    port = free_port()
    command = [sys.executable, str(ROOT / "scripts" / "cluster.py"), "--port", str(port), "--workers", str(workers),
               "--var", str(var), "--start-timeout", "180"]
    log_path = work / f"{var.name}.log"
    with open(log_path, "w") as log:
        script = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            deadline = time.monotonic() + 240
            while "ready:" not in log_path.read_text() and time.monotonic() < deadline:
                if script.poll() is not None:
                    raise RuntimeError(f"scripts/cluster.py exited:\n{log_path.read_text()}")
                time.sleep(0.5)
            state = json.loads((var / "cluster" / "cluster.json").read_text())
            pids = [w["pid"] for w in state["workers"]]
            result = measure(config, f"http://127.0.0.1:{port}", pids, args, warm_sessions=workers)
        finally:
            script.terminate()
            try:
                script.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(script.pid, 9)
    result["server_errors"] = sum((var / "cluster" / f"w{i}.log").read_text(errors="replace").count("Traceback")
                                  for i in range(1, workers + 1))
    shutil.rmtree(var, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=30, help="sessions pausing between clicks")
    parser.add_argument("--burst", type=int, default=10, help="sessions clicking at once without a pause")
    parser.add_argument("--think", type=float, default=3.0, help="seconds a paced session pauses between clicks")
    parser.add_argument("--max-seconds", type=float, default=45.0, help="bound on each phase")
    parser.add_argument("--repeat", type=int, default=1, help="servers of each configuration, interleaved")
    parser.add_argument("--only", choices=sorted(CONFIGS), help="run one configuration only")
    parser.add_argument("--baseline-tree", help="run `today` from this checkout of the app (e.g. `git archive REV`"
                                               " unpacked), to compare with the code before as well")
    parser.add_argument("--cluster", action="store_true",
                        help="through HAProxy (scripts/cluster.py) with 1 and with 2 servers on one PostgreSQL")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="parasat-load-bench-"))
    if args.cluster:
        return main_cluster(args, work)
    try:
        template = prepare(work)
        configs = [args.only] if args.only else list(CONFIGS)
        results = []
        for _ in range(max(1, args.repeat)):
            for config in configs:
                print(f"running {config} ...", flush=True)
                results.append(serve(config, template, work, args))
        report(results)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def main_cluster(args: argparse.Namespace, work: Path) -> int:
    pg = None
    try:
        pg, env = prepare_cluster(work)
        results = []
        for _ in range(max(1, args.repeat)):
            for config in CLUSTER_CONFIGS:
                print(f"running {config} behind HAProxy ...", flush=True)
                results.append(serve_cluster(config, env, work, args))
        report(results)
    finally:
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
