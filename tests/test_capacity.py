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
