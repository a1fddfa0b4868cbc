"""Strict numbers and years from returns: arbitrary Unicode never raises, and stored data never breaks a page."""

from __future__ import annotations

import contextlib
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi import parsing
from kpi.evidence import _count, parse_date
from kpi.ingest.pipeline import ingest_files
from kpi.ingest.validate import _as_count
from kpi.store import Store

ASCII_DIGITS = set("0123456789")
TRICKY = ["²", "2023²", "٢٠٢٣", "２０２３", "𝟮𝟬𝟮𝟯", "9" * 5000, "-1", "+5", "1e3", "1_000", " 12 ", "\u00a012", "0x1F",
          "", " ", "12.5", "١٢.٠٣.٢٠٢٥"]


@given(st.text())
def test_digits_never_raise_and_accept_only_ascii_digits(text: str) -> None:
    number = parsing.digits(text)
    if number is not None:
        stripped = text.strip()
        assert set(stripped) <= ASCII_DIGITS and 0 < len(stripped) <= parsing.MAX_DIGITS
        assert number == int(stripped)


@given(st.one_of(st.text(), st.integers(), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                 st.none()))
def test_whole_numbers_are_bounded_or_none(value: object) -> None:
    number = parsing.whole_number(value, maximum=parsing.MAX_COUNT)
    assert number is None or (type(number) is int and 0 <= number <= parsing.MAX_COUNT)
    assert _count(value) is None or 0 <= _count(value) <= parsing.MAX_COUNT  # type: ignore[operator]
    _as_count(value)  # the return sheet's reader: never raises either


@given(st.text(max_size=3000))
def test_years_are_four_ascii_digits_in_range(text: str) -> None:
    found = parsing.years(text)
    assert all(parsing.FIRST_YEAR <= y <= parsing.LAST_YEAR for y in found)
    with contextlib.suppress(ValueError):  # a clear refusal is what the reader turns into a message
        parse_date(text)


@pytest.mark.parametrize("text", TRICKY)
def test_the_tricky_texts_seen_in_the_attack(text: str) -> None:
    assert parsing.digits(text) == ({" 12 ": 12, "\u00a012": 12}.get(text))  # spaces around are fine
    assert parsing.years(text) == []
    assert _as_count(text) == ({" 12 ": 12, "\u00a012": 12}.get(text))


def test_years_read_from_a_list() -> None:
    assert parsing.years("2022, 2023, ²") == [2022, 2023]
    assert parsing.years("2022;2023 2024/2025") == [2022, 2023, 2024, 2025]
    assert parsing.years("1899, 2101, 20222, 02022") == []
    assert parsing.years(None) == []


def test_odd_audit_years_stored_by_one_officer_break_nothing(store: Store, catalogue, registry, make_return,
                                                             tmp_path: Path, capsys) -> None:
    """Attack replay: audit years `2022, 2023, ²` passed str.isdigit() and int() raised in compliance, flags and
    briefing, for every user."""
    from kpi.cli import main

    doc = {"status": "Орындалды", "doc_type": "Хаттама", "doc_number": "12-ө", "doc_date": dt.date(2025, 3, 17),
           "signatory": "Бірінші басшы", "reference": "https://pmis.example/doc/12",
           "related_date": dt.date(2025, 3, 10), "audit_years": "2022, 2023, ²"}
    path = make_return("akimat_abai", "2025Q1", evidence={"G1.P2.T9": doc})
    assert ingest_files(store, catalogue, registry, [path]).ok
    from kpi.compliance import compliance

    results = {r.task: r for r in compliance(store.cursor(), catalogue, registry, "2025Q1", entities=["akimat_abai"])}
    assert results["G1.P2.T9"].status == "missing"  # 2024 is missing; '²' is no year
    # the task also lacks the other documents the guide requires; the audit years are judged, not crashed on
    assert "audit_reports_last_3_years" in [f.rule for f in results["G1.P2.T9"].failed]
    store.close()
    db = str(store.db_path)
    assert main(["compliance", "--db", db, "--period", "2025Q1", "--json"]) == 0
    assert main(["flags", "--db", db, "--period", "2025Q1", "--json"]) == 0
    assert main(["briefing", "--db", db, "--period", "2025Q1", "--scope", "akimat_abai",
                 "--out", str(tmp_path / "b.pptx")]) == 0
    assert (tmp_path / "b.pptx").stat().st_size > 10_000
    capsys.readouterr()
