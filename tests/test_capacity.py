"""Issue 12: the embedded database says when another process holds it; ingest checks once and commits what it checked."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kpi.i18n import t
from kpi.service import DatabaseBusy, open_store

ROOT = Path(__file__).resolve().parent.parent

HOLDER = """
import sys, time
from kpi.service import open_store
store = open_store(sys.argv[1])
print("holding", flush=True)
time.sleep(60)
"""


@pytest.fixture
def held_database(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A real database file opened for writing by a second Python process, as the running app holds it."""
    db = tmp_path / "held.duckdb"
    open_store(db).close()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(db)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        yield db, holder.pid
    finally:
        holder.kill()
        holder.wait(timeout=30)
        if holder.stdout is not None:
            holder.stdout.close()


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_users_add_while_another_process_holds_the_database(held_database, lang: str) -> None:  # type: ignore[no-untyped-def]
    db, pid = held_database
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "kpi", "users", "add", "newbie", "--password", "long-password-1",
                             "--db", str(db)], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT), "PARASAT_LANG": lang}, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "IOException" not in result.stderr
    expected = t("db.busy", lang, path=str(db), holder=t("db.busy_holder", lang, holder=f"PID {pid}"))
    assert result.stderr.strip() == expected
    assert {"kk": "Әкімшілік", "ru": "Администрирование", "en": "Administration"}[lang] in result.stderr
    assert time.monotonic() - started < 60


def test_every_command_that_opens_the_database_says_so(held_database) -> None:  # type: ignore[no-untyped-def]
    db, pid = held_database
    for command in (["targets", "--db", str(db)], ["report", "--db", str(db), "--period", "2025Q4"]):
        result = subprocess.run([sys.executable, "-m", "kpi", *command], cwd=ROOT, capture_output=True, text=True,
                                env={**os.environ, "PYTHONPATH": str(ROOT), "PARASAT_LANG": "en"}, timeout=120)
        assert result.returncode == 1, command
        assert result.stderr.startswith(f"The database file {db} is open in another process (PID {pid})"), command
        assert "Traceback" not in result.stderr


def test_open_store_raises_database_busy_in_process(held_database) -> None:  # type: ignore[no-untyped-def]
    db, pid = held_database
    with pytest.raises(DatabaseBusy) as caught:
        open_store(db)
    assert caught.value.holder == f"PID {pid}"
    assert "Stop the app" in caught.value.message("en")


def test_other_open_failures_are_not_called_busy(tmp_path: Path) -> None:
    not_a_database = tmp_path / "notes.duckdb"
    not_a_database.write_text("plain text, not a database file")
    with pytest.raises(Exception) as caught:
        open_store(not_a_database)
    assert not isinstance(caught.value, DatabaseBusy)


# --------------------------------------------------------------------------- check, then commit, with one read


@pytest.fixture
def counted_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every path handed to the sandboxed readers, in order."""
    from kpi.ingest import sandbox

    seen: list[str] = []
    original = sandbox.ReaderPool.read

    def read(self, paths, on_result=None):  # type: ignore[no-untyped-def]
        seen.extend(str(p) for p in paths)
        return original(self, paths, on_result)

    monkeypatch.setattr(sandbox.ReaderPool, "read", read)
    return seen


def _rows(store) -> list[tuple]:  # type: ignore[no-untyped-def]
    cur = store.cursor()
    try:
        return cur.execute("SELECT r.entity_code, r.period, r.version, v.measure, v.value FROM return_version r "
                           "JOIN return_value v USING (return_id) ORDER BY ALL").fetchall()
    finally:
        cur.close()


def test_check_then_commit_reads_each_file_once_and_writes_the_plan(store, catalogue, registry, make_return,
                                                                    counted_reads) -> None:  # type: ignore[no-untyped-def]
    from kpi.ingest.pipeline import check_files, commit_plan

    good = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 4, "subdivisions_analysed": 2})
    bad = make_return("akimat_astana", "2025Q1", {"subdivisions_total": 2, "subdivisions_analysed": 5})
    plan = check_files(store, catalogue, registry, [good, bad])
    assert counted_reads == [str(good), str(bad)]
    assert [o.status for o in plan.outcomes] == ["new", "rejected"]
    assert plan.outcomes[0].version == 1 and plan.outcomes[1].issues, "the check says what saving would do"
    assert _rows(store) == [], "the check writes nothing"
    assert plan.hashes == {str(good): plan.outcomes[0].sha256}

    report = commit_plan(store, plan, uploaded_by="officer1")
    assert counted_reads == [str(good), str(bad)], "the commit reads nothing in the sandbox again"
    assert [(o.status, o.version) for o in report.outcomes] == [("new", 1), ("rejected", None)]
    written = {(m, v) for e, p, ver, m, v in _rows(store) if e == "akimat_abai"}
    assert ("subdivisions_total", 4) in written and ("subdivisions_analysed", 2) in written
    assert {e for e, *_ in _rows(store)} == {"akimat_abai"}
    assert store.archive.shas() == {plan.outcomes[0].sha256}
    assert plan.outcomes[0].status == "new" and plan.report.dry_run, "the plan is left as it was"


def test_commit_refuses_a_staged_file_changed_after_the_check(store, catalogue, registry, make_return,
                                                             counted_reads) -> None:  # type: ignore[no-untyped-def]
    from kpi.ingest.pipeline import check_files, commit_plan

    changing = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 4, "subdivisions_analysed": 2})
    steady = make_return("akimat_astana", "2025Q1", {"subdivisions_total": 6, "subdivisions_analysed": 3})
    plan = check_files(store, catalogue, registry, [changing, steady])
    other = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 9, "subdivisions_analysed": 9}, name="x.xlsx")
    changing.write_bytes(other.read_bytes())  # swapped on disk between the preview and the confirmation
    report = commit_plan(store, plan)
    assert [o.status for o in report.outcomes] == ["rejected", "new"]
    assert report.outcomes[0].issues[0].code == "file_changed"
    assert {e for e, *_ in _rows(store)} == {"akimat_astana"}
    assert ("subdivisions_total", 9) not in {(m, v) for *_, m, v in _rows(store)}
    assert len(counted_reads) == 2


def test_commit_assigns_versions_again_when_a_save_came_in_between(store, catalogue, registry,
                                                                  make_return) -> None:  # type: ignore[no-untyped-def]
    from kpi.ingest.pipeline import check_files, commit_plan, ingest_files

    first = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 4, "subdivisions_analysed": 2})
    second = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 5, "subdivisions_analysed": 2},
                         name="second.xlsx")
    plan = check_files(store, catalogue, registry, [second])
    assert plan.outcomes[0].version == 1
    assert ingest_files(store, catalogue, registry, [first]).ok  # another officer saved meanwhile
    report = commit_plan(store, plan)
    assert (report.outcomes[0].status, report.outcomes[0].version, report.outcomes[0].replaces_version) == \
        ("new_version", 2, 1)


def test_commit_keeps_to_the_committing_scope(store, catalogue, registry, make_return) -> None:  # type: ignore[no-untyped-def]
    from kpi.ingest.pipeline import check_files, commit_plan
    from kpi.store import AccessScope

    path = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 4, "subdivisions_analysed": 2})
    plan = check_files(store, catalogue, registry, [path])
    report = commit_plan(store, plan, scope=AccessScope(entities=frozenset({"akimat_astana"}), actor="officer2"))
    assert report.outcomes[0].issues[0].code == "forbidden_entity"
    assert _rows(store) == []


def test_ingest_in_one_go_reads_each_file_once(store, catalogue, registry, make_return,
                                               counted_reads) -> None:  # type: ignore[no-untyped-def]
    from kpi.ingest.pipeline import ingest_files

    paths = [make_return("akimat_abai", "2025Q1"), make_return("akimat_astana", "2025Q1")]
    assert ingest_files(store, catalogue, registry, paths).ok
    assert counted_reads == [str(p) for p in paths]
