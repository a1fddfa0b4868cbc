"""Load benchmark: many simultaneous browser sessions browse and export while officers upload, on one server.

Real browser contexts (Playwright driving Debian's Chromium), since Streamlit talks over a websocket.
Bounded in sessions, rounds and time; talks only to a server it starts on 127.0.0.1. Prints P50/P95 page
times against a single-session baseline measured in the same run, errors, DuckDB lock errors seen in
the server log, and the server's memory growth.

    python scripts/load_test.py [--sessions 50] [--officers 3] [--rounds 2] [--max-minutes 15]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpi import auth  # noqa: E402
from kpi.catalogue import load_catalogue, load_registry  # noqa: E402
from kpi.sample import fill_by_names  # noqa: E402
from kpi.service import open_store  # noqa: E402
from kpi.template import build_template  # noqa: E402

PAGES = ["", "group_1", "group_2", "group_3", "group_4", "entity", "map", "submissions", "compliance"]
PASSWORD = "load-test-password"
CHROMIUM = "/usr/bin/chromium"
RAMP_SECONDS = 1.5  # one new session every 1.5 s; all 50 are open together once the ramp is over
ARGS = ["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-component-update",
        "--no-first-run", "--disable-dev-shm-usage"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB (from /proc)."""
    total = 0.0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) / 1024
        except FileNotFoundError:
            continue
    return total


async def wait_idle(page, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    """Until the script run is over: the app view is there and no 'running' indicator shows."""
    await page.wait_for_selector('[data-testid="stAppViewContainer"]', timeout=timeout * 1000)
    await page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=timeout * 1000)


async def sign_in(page, base: str, username: str, path: str = "") -> None:  # type: ignore[no-untyped-def]
    """Open a link in a new session and sign in (the local sign-in lasts one browser session)."""
    await page.goto(f"{base}/{path}", wait_until="domcontentloaded", timeout=180_000)
    await page.wait_for_selector("[data-testid='stSidebarNav'] a, input[autocomplete='username']", state="visible",
                                 timeout=180_000)
    if await page.locator("input[autocomplete='username']:visible").count():
        await page.locator("input[autocomplete='username']:visible").first.fill(username)
        await page.locator("input[autocomplete='current-password']:visible").first.fill(PASSWORD)
        await page.locator("[data-testid='stFormSubmitButton'] button").first.click()
        await page.wait_for_selector("[data-testid='stSidebarNav'] a", timeout=90_000)
        await wait_idle(page, 90)


async def browse(browser, base: str, username: str, rounds: int, times: list[float], errors: list[str],
                 deadline: float, delay: float = 0.0) -> None:  # type: ignore[no-untyped-def]
    await asyncio.sleep(delay)  # sessions arrive over a ramp, as people do, not all in one millisecond
    context = await browser.new_context(viewport={"width": 1366, "height": 900}, accept_downloads=True)
    page = await context.new_page()
    try:
        await sign_in(page, base, username)
        await page.wait_for_selector("[data-testid='stSidebarNav'] a", timeout=90_000)
        links = page.locator("[data-testid='stSidebarNav'] a")
        hrefs = [await link.get_attribute("href") for link in await links.all()]
        for _ in range(rounds):
            for title in [h for h in hrefs if h and not h.endswith(("/upload", "/admin", "/briefing"))]:
                if time.monotonic() > deadline:
                    return
                started = time.monotonic()  # a click in the sidebar: same session, as a person browses
                await page.locator(f"[data-testid='stSidebarNav'] a[href='{title}']").first.click()
                await page.wait_for_timeout(200)
                await wait_idle(page)
                times.append(time.monotonic() - started)
                if await page.locator('[data-testid="stException"]').count():
                    errors.append(f"{username} {title}: exception shown")
            csv = page.get_by_role("button", name="CSV").first
            if await csv.count():
                async with page.expect_download(timeout=60_000):
                    await csv.click()
    except Exception as exc:  # a failed session is a finding, not a crash of the benchmark
        errors.append(f"{username}: {type(exc).__name__}: {str(exc)[:160]}")
    finally:
        await context.close()


async def upload(browser, base: str, username: str, files: list[Path], times: list[float], errors: list[str]
                 ) -> None:  # type: ignore[no-untyped-def]
    context = await browser.new_context(viewport={"width": 1366, "height": 900})
    page = await context.new_page()
    try:
        await sign_in(page, base, username)
        for path in files:
            started = time.monotonic()
            await page.locator("[data-testid='stSidebarNav'] a[href*='upload']").first.click()
            await page.wait_for_timeout(200)
            await wait_idle(page)
            await page.locator('input[type="file"]').set_input_files(str(path))
            await wait_idle(page, 90)
            confirm = page.locator(".st-key-upload_confirm button")
            if await confirm.count():
                await confirm.first.click()
                await wait_idle(page, 90)
            times.append(time.monotonic() - started)
            if await page.locator('[data-testid="stException"]').count():
                errors.append(f"{username} upload: exception shown")
    except Exception as exc:
        errors.append(f"{username} upload: {type(exc).__name__}: {str(exc)[:160]}")
    finally:
        await context.close()


async def run(base: str, sessions: int, officers: list[tuple[str, list[Path]]], rounds: int, minutes: float,
              server_pid: int) -> dict[str, object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        baseline: list[float] = []
        errors: list[str] = []
        await browse(browser, base, "analyst0", 1, baseline, errors, time.monotonic() + minutes * 60)
        warm_memory = rss_mb(server_pid)  # after one full session: imports and shared caches are in place
        times: list[float] = []
        upload_times: list[float] = []
        deadline = time.monotonic() + minutes * 60
        tasks = [browse(browser, base, f"analyst{i % 10}", rounds, times, errors, deadline, delay=i * RAMP_SECONDS)
                 for i in range(sessions)]
        tasks += [upload(browser, base, name, files, upload_times, errors) for name, files in officers]
        started = time.monotonic()
        await asyncio.gather(*tasks)
        await browser.close()
    return {"baseline": baseline, "times": times, "uploads": upload_times, "errors": errors,
            "seconds": time.monotonic() - started, "warm_memory": warm_memory}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--officers", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--max-minutes", type=float, default=15)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="parasat-load-"))
    db = work / "parasat.duckdb"
    env = {**os.environ, "PARASAT_DB_PATH": str(db), "PARASAT_ADMIN_PASSWORD": PASSWORD, "PYTHONPATH": str(ROOT)}
    os.environ["PARASAT_DB_PATH"] = str(db)
    catalogue, registry = load_catalogue(), load_registry()
    akimats = [e.code for e in registry.of_type("akimat")]
    officers: list[tuple[str, list[Path]]] = []
    with open_store() as store:  # the sample loads here, before the server starts
        for i in range(10):
            auth.create_user(store, f"analyst{i}", PASSWORD, "analyst")
        for i in range(args.officers):
            code = akimats[i]
            auth.create_user(store, f"officer{i}", PASSWORD, "officer", entities=[code])
            files = []
            for n in range(2):
                path = work / f"{code}-{n}.xlsx"
                figures = {"subdivisions_total": 30 + n, "subdivisions_analysed": 20 + n}
                from tests.conftest import zero_values

                values = {**zero_values(catalogue, registry, code), **figures}
                path.write_bytes(fill_by_names(build_template(catalogue, registry, code, "2025Q4"), values))
                files.append(path)
            officers.append((f"officer{i}", files))
    port = free_port()
    with open(work / "server.log", "w") as log:
        result, memory_before, memory_after = _serve_and_load(args, env, port, log, officers)
    _report(args, work, result, memory_before, memory_after)


def _serve_and_load(args: argparse.Namespace, env: dict[str, str], port: int, log, officers):  # type: ignore[no-untyped-def]
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                               "--server.port", str(port), "--server.address", "127.0.0.1"],
                              cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(120):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        result = asyncio.run(run(base, args.sessions, officers, args.rounds, args.max_minutes, server.pid))
        memory_before = float(result["warm_memory"])  # type: ignore[arg-type]
        memory_after = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    return result, memory_before, memory_after


def _report(args: argparse.Namespace, work: Path, result, memory_before: float, memory_after: float) -> None:  # type: ignore[no-untyped-def]
    server_log = (work / "server.log").read_text(errors="replace")
    lock_errors = sum(server_log.count(word) for word in ("Could not set lock", "Conflict on", "TransactionContext"))
    times = result["times"]
    baseline = result["baseline"]
    assert isinstance(times, list) and isinstance(baseline, list)
    base_p50 = statistics.median(baseline) if baseline else float("nan")
    print(f"sessions: {args.sessions} browsing x {args.rounds} rounds of {len(PAGES)} pages, "
          f"{args.officers} officers uploading; wall time {result['seconds']:.0f} s")
    print(f"baseline (one session alone): P50 {base_p50:.2f} s")
    print(f"under load: {len(times)} page views, P50 {percentile(times, 0.5):.2f} s, P95 {percentile(times, 0.95):.2f} s "
          f"(P95 / baseline P50 = {percentile(times, 0.95) / base_p50:.1f}x)")
    print(f"uploads: {len(result['uploads'])} (P95 {percentile(result['uploads'], 0.95):.2f} s)")  # type: ignore[arg-type]
    print(f"server memory: {memory_before:.0f} MB after one warm-up session, {memory_after:.0f} MB after the load "
          f"(growth {memory_after - memory_before:.0f} MB for {args.sessions + args.officers} sessions)")
    print(f"errors: {len(result['errors'])}; DuckDB lock/conflict errors in the server log: {lock_errors}")  # type: ignore[arg-type]
    for error in list(result["errors"])[:10]:  # type: ignore[call-overload]
        print("  -", error)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
