"""The sandboxed reader: a file that stalls or kills the reader is refused alone; the batch goes on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kpi.ingest.pipeline import ingest_files
from kpi.settings import Settings
from kpi.store import Store


def test_a_stalling_file_times_out_alone(store: Store, catalogue, registry, make_return, tmp_path: Path) -> None:
    good = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 3, "subdivisions_analysed": 1})
    stall = tmp_path / "stall.xlsx"
    os.mkfifo(stall)  # opening it blocks forever: a reader stuck on one file
    settings = Settings(reader_timeout_seconds=2.0)
    report = ingest_files(store, catalogue, registry, [stall, good], settings=settings)
    assert [o.status for o in report.outcomes] == ["rejected", "new"]
    assert report.outcomes[0].issues[0].code == "reader_timeout"
    assert "2.0" in report.outcomes[0].issues[0].message("en")
    assert store.cursor().execute("SELECT count(*) FROM return_version").fetchone() == (1,)


def test_a_reader_that_dies_refuses_cleanly(store: Store, catalogue, registry, make_return) -> None:
    path = make_return("akimat_abai", "2025Q1")
    # 20 MiB of address space is too little for the reader: that process dies, ours does not.
    settings = Settings(reader_memory_bytes=20 * 1024 * 1024)
    report = ingest_files(store, catalogue, registry, [path], settings=settings)
    assert report.outcomes[0].status == "rejected"
    assert report.outcomes[0].issues[0].code == "reader_crashed"
    assert store.cursor().execute("SELECT count(*) FROM return_version").fetchone() == (0,)


ROOT = Path(__file__).resolve().parent.parent


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "KPI_DB"}
    full_env.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT,
                          env=full_env, timeout=120)


FORK_AND_SPAWN = """
import json, sys
from kpi.ingest.sandbox import reader_pool
paths = sys.argv[1:]
pool = reader_pool()
forked = pool.prefork(2)
from_forked = pool.read(paths)
from_spawned = reader_pool().read(paths)
print(json.dumps({"forked": forked, "forked_results": from_forked, "spawned_results": from_spawned}))
"""


def test_forked_readers_read_exactly_like_spawned_ones(make_return, tmp_path: Path) -> None:
    """The command line forks its readers with the catalogue loaded; they must judge files as fresh ones do."""
    good = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 9, "subdivisions_analysed": 4},
                       evidence={"G1.P1.T1": {"status": "done", "doc_type": "order", "doc_number": "12-қ",
                                              "doc_date": "2025-02-03", "events": [1, 2, 0]}})
    bad = make_return("univ_enu", "2025Q1", {"students_total": 10, "students_trained": 12}, name="bad.xlsx")
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a workbook")
    result = _python(FORK_AND_SPAWN, str(good), str(bad), str(junk))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["forked"] == 2
    assert out["forked_results"] == out["spawned_results"]
    good_result, bad_result, junk_result = out["forked_results"]
    data = good_result["validated"]["data"]
    assert data["entity"] == "akimat_abai" and data["values"]["subdivisions_analysed"] == 4
    first = next(row for row in data["evidence"] if row[0] == "G1.P1.T1")
    assert first[1] == "done" and first[4] == [1, 2, 0] + [0] * 9
    assert [document[:3] for document in first[7]] == [["order", "12-қ", "2025-02-03"]]  # the documents sheet
    assert [issue["code"] for issue in bad_result["validated"]["issues"]] == ["part_exceeds_whole"]
    assert junk_result == {"ok": False, "problem": {"code": "not_spreadsheet", "params": {}, "sheet": None,
                                                    "cell": None}}


def test_a_forked_reader_that_stalls_or_dies_refuses_only_its_file(make_return, tmp_path: Path) -> None:
    """Through `python -m kpi ingest`, whose readers are forked: a stalling file times out alone."""
    good = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 3, "subdivisions_analysed": 1})
    stall = tmp_path / "stall.xlsx"
    os.mkfifo(stall)
    db = tmp_path / "cli.duckdb"
    result = _python("import sys; from kpi.cli import main; sys.exit(main())", "ingest", "--db", str(db),
                     "--json", "--lang", "en", str(stall), str(good), env={"PARASAT_READER_TIMEOUT_SECONDS": "2"})
    assert result.returncode == 1, result.stderr
    out = json.loads(result.stdout)
    assert [f["status"] for f in out["files"]] == ["rejected", "new"]
    assert out["files"][0]["errors"][0]["code"] == "reader_timeout"
    # Too little memory for any reader: each file is refused as a crash, and nothing is written.
    again = _python("import sys; from kpi.cli import main; sys.exit(main())", "ingest", "--db", str(db),
                    "--json", str(good), env={"PARASAT_READER_MEMORY_BYTES": str(20 * 1024 * 1024)})
    assert again.returncode == 1
    assert json.loads(again.stdout)["files"][0]["errors"][0]["code"] == "reader_crashed"


def test_a_file_changed_after_it_was_read_is_refused(store: Store, catalogue, registry, make_return) -> None:
    """What is archived must be what was read and validated; otherwise the file is refused, alone."""
    from kpi.ingest.sandbox import read_files

    changing = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 4, "subdivisions_analysed": 2})
    steady = make_return("akimat_astana", "2025Q1", {"subdivisions_total": 6, "subdivisions_analysed": 3})
    raws = read_files([str(changing), str(steady)])
    changing.write_bytes(changing.read_bytes() + b"\x00")  # edited on disk after the readers saw it
    report = ingest_files(store, catalogue, registry, [changing, steady], raws=raws)
    assert [o.status for o in report.outcomes] == ["rejected", "new"]
    assert report.outcomes[0].issues[0].code == "file_changed"
    assert "changed on disk" in report.outcomes[0].issues[0].message("en")
    cur = store.cursor()
    assert cur.execute("SELECT entity_code FROM return_version").fetchall() == [("akimat_astana",)]
    assert store.archive.shas() == {report.outcomes[1].sha256}
