"""The sandboxed reader: a file that stalls or kills the reader is refused alone; the batch goes on."""

from __future__ import annotations

import os
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
