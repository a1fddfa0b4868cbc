"""The PostgreSQL store (issue 13) against a real PostgreSQL 15: the same report as DuckDB's for the same returns,
many writers without a lost or duplicated version, no partial return after a kill, a data version every server
sees, archived files in the database, and a whole backup and restore."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from postgres import fresh_database

from kpi import audit
from kpi.backup import DUMP, backup, restore, verify_backup
from kpi.ingest.pipeline import check_files, commit_plan, ingest_files
from kpi.service import report_rows, set_target
from kpi.store import Store, StoreUnavailable, db
from kpi.store.pg import AUDIT_LOCK

ROOT = Path(__file__).resolve().parent.parent


def env() -> dict[str, str]:
    """The environment of a command line run now (the tests' key file included), without KPI_DB."""
    return {**{k: v for k, v in os.environ.items() if k != "KPI_DB"}, "PYTHONPATH": str(ROOT)}


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kpi", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env(), timeout=300)


@pytest.fixture
def second_pg_url(postgres_server) -> Iterator[str]:  # noqa: ANN001
    yield from fresh_database(postgres_server)


def _returns(make_return: Callable[..., Path]) -> list[Path]:
    """Five returns of three entity types, one entity filed twice (the second replaces the first)."""
    return [
        make_return("akimat_abai", "2025Q3", {"subdivisions_total": 20, "subdivisions_analysed": 15,
                                             "risks_found_d01": 10, "risks_eliminated_d01": 9,
                                             "anticorruption_standard_adopted": "Иә"}, name="abai-1.xlsx"),
        make_return("akimat_abai", "2025Q3", {"subdivisions_total": 20, "subdivisions_analysed": 16,
                                             "risks_found_d01": 10, "risks_eliminated_d01": 9,
                                             "anticorruption_standard_adopted": "Иә"}, name="abai-2.xlsx"),
        make_return("min_finance", "2025Q3", {"subdivisions_total": 30, "subdivisions_analysed": 3,
                                             "risks_found_d09": 8, "risks_eliminated_d09": 8}),
        make_return("univ_enu", "2025Q3", {"students_total": 1000, "students_trained": 300,
                                          "iso37001_certified": 1}),
        make_return("qp_kmg", "2025Q3", {"compliance_service_established": 1, "staff_total": 3000,
                                        "staff_trained_iso37001": 900}),
    ]


def test_report_json_is_identical_on_both_stores(tmp_path: Path, pg_database_url: str, make_return) -> None:
    files = [str(p) for p in _returns(make_return)]
    outputs = []
    for target in (str(tmp_path / "same.duckdb"), pg_database_url):
        ingest = cli("ingest", "--db", target, *files, "--json")
        assert ingest.returncode == 0, ingest.stderr
        assert [a["version"] for a in json.loads(ingest.stdout)["accepted"]] == [1, 2, 1, 1, 1]
        report = cli("report", "--db", target, "--period", "2025Q3", "--json")
        assert report.returncode == 0, report.stderr
        outputs.append(report.stdout)
    assert outputs[0] == outputs[1]
    by = {(r["kpi"], r["level"], r["key"]): r for r in json.loads(outputs[1])}
    # G1.K1 national: (16 + 3) analysed of (20 + 30) subdivisions = 38 %, from Abai's second version only.
    assert (by[("G1.K1", "national", None)]["numerator"], by[("G1.K1", "national", None)]["denominator"]) == (19, 50)
    assert by[("G1.K1", "national", None)]["value"] == pytest.approx(38.0)
    assert by[("G3.K4", "entity", "univ_enu")]["value"] == pytest.approx(30.0)
    assert by[("G4.K2", "national", None)]["value"] == pytest.approx(0.0)


def _confirm_at_once(servers: list[Store], plans: list) -> tuple[list[int | None], list[BaseException]]:
    """Each server confirms its plan on its own thread, all released at the same moment."""
    barrier = threading.Barrier(len(servers))
    results: list[int | None] = []
    errors: list[BaseException] = []

    def confirm(server: Store, plan) -> None:  # noqa: ANN001
        barrier.wait()
        try:
            results.append(commit_plan(server, plan).outcomes[0].version)
        except BaseException as problem:  # noqa: BLE001 - reported by the caller
            errors.append(problem)

    threads = [threading.Thread(target=confirm, args=(s, p)) for s, p in zip(servers, plans)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results, errors


@pytest.mark.parametrize("servers", ["two servers", "two sessions of one server"])
def test_two_servers_confirming_the_same_return_get_versions_1_and_2(pg_database_url: str, catalogue, registry,
                                                                    make_return, servers: str) -> None:
    """Both servers checked their upload against version 0 (each plans version 1), then confirm at the same
    moment: the numbering is done again under the (entity, period) lock, so one gets 1 and the other 2."""
    rounds = 3
    with Store(pg_database_url) as server_a, Store(pg_database_url) as other:
        server_b = other if servers == "two servers" else server_a
        for round_ in range(rounds):
            uploads = [make_return("akimat_abai", "2025Q1", {"offences_criminal": 10 * round_ + n},
                                   name=f"r{round_}-{n}.xlsx") for n in (1, 2)]
            plans = [check_files(server, catalogue, registry, [path])
                     for server, path in zip((server_a, server_b), uploads)]
            assert {p.outcomes[0].version for p in plans} == {2 * round_ + 1}  # both plan the same version
            results, errors = _confirm_at_once([server_a, server_b], plans)
            assert errors == []
            assert sorted(results) == [2 * round_ + 1, 2 * round_ + 2]  # type: ignore[type-var]
        cur = server_a.cursor()
        versions = [r[1] for r in db(cur).returns.versions_of_entity("akimat_abai", "Asia/Almaty")]
        assert sorted(versions) == list(range(1, 2 * rounds + 1))
        assert audit.verify(server_a)  # the trail stayed one chain, written by both servers
        cur.close()


def test_the_cli_ingests_while_another_connection_serves_reads(pg_database_url: str, make_return) -> None:
    codes = ("akimat_abai", "akimat_astana", "akimat_jetisu", "akimat_ulytau", "akimat_almaty", "akimat_shymkent")
    files = [str(make_return(code, "2025Q2", {"offences_criminal": 2}, name=f"{code}.xlsx")) for code in codes]
    with Store(pg_database_url) as server:
        before = server.data_version()
        proc = subprocess.Popen([sys.executable, "-m", "kpi", "ingest", "--db", pg_database_url, *files],
                                env=env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen = set()
        reads = 0
        while proc.poll() is None or reads == 0:
            national = next(v for v in report_rows(server, "2025Q2") if v.kpi == "G2.K7" and v.level == "national")
            seen.add(national.reporting)  # the batch is one transaction: none of it, or all of it
            reads += 1
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
        assert seen <= {0, len(codes)}
        final = next(v for v in report_rows(server, "2025Q2") if v.kpi == "G2.K7" and v.level == "national")
        assert (final.reporting, final.value) == (len(codes), 12)
        assert server.data_version() != before


def _waiting_for_audit_lock(url: str) -> bool:
    """Whether a connection waits for the audit trail's advisory lock (its key's two halves in pg_locks)."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                           "AND classid::bigint = %s AND objid::bigint = %s",
                           [AUDIT_LOCK >> 32, AUDIT_LOCK & 0xFFFFFFFF]).fetchone()
        return bool(row and row[0])


def test_a_server_killed_in_the_middle_of_a_batch_leaves_no_partial_return(pg_database_url: str,
                                                                          make_return) -> None:
    """The ingest writes its returns, values, evidence and archived files, then waits for the audit trail's
    lock (held here); killed there with SIGKILL, it leaves nothing of the batch behind."""
    first = make_return("akimat_abai", "2025Q1", {"offences_criminal": 7}, name="first.xlsx")
    assert cli("ingest", "--db", pg_database_url, str(first)).returncode == 0
    batch = [str(make_return(code, "2025Q2", {"offences_criminal": 1}, name=f"b-{code}.xlsx"))
             for code in ("akimat_abai", "akimat_astana", "akimat_jetisu", "akimat_ulytau")]
    with psycopg.connect(pg_database_url) as holder:
        holder.execute("SELECT pg_advisory_xact_lock(%s)", [AUDIT_LOCK])  # open transaction: the lock is held
        proc = subprocess.Popen([sys.executable, "-m", "kpi", "ingest", "--db", pg_database_url, *batch],
                                env=env(), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while not _waiting_for_audit_lock(pg_database_url):
            assert proc.poll() is None and time.monotonic() < deadline, "the ingest never reached its commit"
            time.sleep(0.05)
        with psycopg.connect(pg_database_url, autocommit=True) as peek:  # written, not committed: invisible
            assert peek.execute("SELECT count(*) FROM return_version").fetchone() == (1,)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        holder.rollback()
    with Store(pg_database_url) as reopened:
        cur = reopened.cursor()
        q = db(cur)
        assert q.returns.periods() == ["2025Q1"]
        assert dict((m, v) for _, m, v in q.returns.current_values("2025Q1"))["offences_criminal"] == 7
        assert reopened.archive.shas() == {
            json.loads(cli("ingest", "--db", pg_database_url, str(first), "--json").stdout)["accepted"][0]["sha256"]}
        assert audit.verify(reopened)
        cur.close()
    again = cli("ingest", "--db", pg_database_url, *batch, "--json")  # nothing was left half-done to get in the way
    assert again.returncode == 0 and [a["version"] for a in json.loads(again.stdout)["accepted"]] == [1, 1, 1, 1]


def test_a_return_confirmed_on_one_server_changes_the_data_version_on_another(pg_database_url: str, catalogue,
                                                                             registry, make_return) -> None:
    with Store(pg_database_url) as server_a, Store(pg_database_url) as server_b:
        seen_by_b = server_b.data_version()
        assert server_a.data_version() == seen_by_b
        assert ingest_files(server_a, catalogue, registry, [make_return("akimat_abai", "2025Q1")]).ok
        after_return = server_b.data_version()
        assert after_return != seen_by_b
        set_target(server_a, "G1.K1", 2025, 90.0, actor="analyst")
        after_target = server_b.data_version()
        assert after_target != after_return
        audit.record(server_a, "analyst", "export", "report.xlsx")  # not a change of data: same version
        assert server_b.data_version() == after_target
        g1k1 = next(v for v in report_rows(server_b, "2025Q1") if v.kpi == "G1.K1" and v.level == "national")
        assert (g1k1.reporting, g1k1.target) == (1, 90.0)


def test_archived_files_are_in_the_database_for_every_server(pg_database_url: str, catalogue, registry,
                                                              make_return) -> None:
    path = make_return("univ_enu", "2025Q1", {"students_total": 10, "students_trained": 5})
    with Store(pg_database_url) as server_a, Store(pg_database_url) as server_b:
        report = ingest_files(server_a, catalogue, registry, [path])
        sha = report.outcomes[0].sha256
        assert server_b.archive.shas() == {sha} and sha in server_b.archive
        assert server_b.archive.read(str(sha)) == path.read_bytes()
        assert not server_b.archive_dir.exists()  # no folder on any server's disk


def test_backup_and_restore_of_a_postgresql_store(pg_database_url: str, second_pg_url: str, tmp_path: Path,
                                                  catalogue, registry, make_return) -> None:
    path = make_return("akimat_abai", "2025Q1", {"offences_criminal": 3})
    with Store(pg_database_url) as store:
        assert ingest_files(store, catalogue, registry, [path]).ok
        manifest = backup(store, tmp_path / "backup")
        secret = store.secret
    assert set(manifest["files"]) == {DUMP} and manifest["store"] == "postgresql"
    assert "@" not in manifest["source"] or ":***@" in manifest["source"]  # no password in the manifest
    assert verify_backup(tmp_path / "backup", secret) == []
    restore(tmp_path / "backup", second_pg_url, secret=secret)
    with Store(second_pg_url) as restored:
        cur = restored.cursor()
        values = {m: v for _, m, v in db(cur).returns.current_values("2025Q1")}
        cur.close()
        assert values["offences_criminal"] == 3
        assert restored.archive.read(str(ingest_files(restored, catalogue, registry, [path]).outcomes[0].sha256)
                                     ) == path.read_bytes()
        assert audit.verify(restored)
    with pytest.raises(FileExistsError):  # a database with returns is replaced only when forced
        restore(tmp_path / "backup", second_pg_url, secret=secret)
    dump = tmp_path / "backup" / DUMP
    dump.write_bytes(dump.read_bytes()[:-10] + b"tampered!!")
    assert verify_backup(tmp_path / "backup", secret) == [f"{DUMP}: checksum mismatch"]
    with pytest.raises(ValueError, match="checksum"):
        restore(tmp_path / "backup", second_pg_url, secret=secret, force=True)


def test_a_second_server_without_the_secret_file_is_told_where_to_put_it(pg_database_url: str, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with Store(pg_database_url) as first:
        audit.record(first, "admin", "period_opened", "2026Q4")
    monkeypatch.setenv("PARASAT_SECRET_FILE", str(tmp_path / "missing.secret"))
    with Store(pg_database_url) as second:
        assert not audit.verify(second) and audit.verify(second).problem == "secret_missing"
        with pytest.raises(StoreUnavailable) as missing:
            audit.record(second, "admin", "period_closed", "2026Q4")
        for lang in ("kk", "ru", "en"):
            assert "PARASAT_SECRET_FILE" in missing.value.message(lang)
            assert str(tmp_path / "missing.secret") in missing.value.message(lang)
    assert not (tmp_path / "missing.secret").exists()  # never a new key for a database that has one


def test_every_page_renders_on_a_postgresql_default_database(pg_database_url: str) -> None:
    """The app's own database named by a URL (PARASAT_DB_PATH): the sample loads into it on first use and every
    page renders from it, signed in through the sessions and users of the PostgreSQL store."""
    from tests.test_app import PAGES, _app_store, app_database, run

    with app_database(pg_database_url):  # type: ignore[arg-type]
        store = _app_store()
        assert store.url == pg_database_url and not store.is_empty()
        for page in PAGES:
            at = run(page, query={"lang": "en"})
            assert at.title and not at.exception and not at.error, page
        assert audit.verify(store)


def test_a_database_server_out_of_reach_is_explained_without_a_traceback(postgres_server) -> None:  # noqa: ANN001
    url = f"postgresql://parasat:not-the-password@127.0.0.1:{postgres_server.port}/parasat"
    for lang, words in (("en", "Could not connect"), ("ru", "Не удалось подключиться"), ("kk", "қосылу мүмкін")):
        result = cli("report", "--db", url, "--period", "2025Q1", "--lang", lang)
        assert result.returncode == 1 and words in result.stderr and "Traceback" not in result.stderr
        assert "not-the-password" not in result.stderr and ":***@" in result.stderr


def test_a_cursor_outlives_its_connection_being_ended_by_the_server(pg_database_url: str, postgres_server,  # noqa: ANN001
                                                                    catalogue, registry, make_return) -> None:
    """A page's lent cursor whose connection the server ended (a restart, an administrator) reads on."""
    with Store(pg_database_url) as store:
        assert ingest_files(store, catalogue, registry, [make_return("akimat_abai", "2025Q1")]).ok
        cur = store.cursor()
        before = db(cur).returns.data_version()
        with psycopg.connect(postgres_server.admin_conninfo(), autocommit=True) as admin:
            ended = admin.execute("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE datname = %s AND pid <> pg_backend_pid()",
                                  [pg_database_url.rsplit("/", 1)[1]]).fetchone()
        assert ended and ended[0] >= 1
        time.sleep(0.2)  # the server's goodbye reaches the socket
        assert db(cur).returns.data_version() == before
        assert db(cur).returns.periods() == ["2025Q1"]
        cur.close()


def test_a_statement_shared_with_duckdb_runs_on_postgresql_with_its_percent_signs_intact(pg_database_url: str) -> None:
    """The repositories PostgreSQL inherits from DuckDB's write `?`; the cursor turns them into `%s` and keeps a
    literal `%` (a LIKE pattern) as it is; its own statements (`%s`) go through unchanged."""
    from kpi.store import pg

    with Store(pg_database_url) as store:
        cur = store.cursor()
        try:
            assert cur.execute("SELECT ? || '%', 'abc' LIKE 'a%', ?::int + 1", ["50", 41]).fetchone() == ("50%", True, 42)
            assert cur.execute("SELECT %s::text || '%%'", ["7"]).fetchone() == ("7%",)
            assert cur.execute("SELECT 'a%' LIKE 'a%'").fetchone() == (True,)  # no parameters: nothing to turn
        finally:
            cur.close()
    assert pg.pyformat("SELECT x FROM t WHERE a = ? AND b LIKE 'c%'", [1]) == \
        "SELECT x FROM t WHERE a = %s AND b LIKE 'c%%'"
