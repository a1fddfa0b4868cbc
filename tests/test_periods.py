"""The reporting calendar: only ended quarters can be filed (unless an admin opened one early), on the
agency's calendar, with a clock the tests set; one way to write a period and a date per language."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from kpi import audit, figures, periods
from kpi.catalogue import Catalogue, Registry
from kpi.ingest.pipeline import ingest_files
from kpi.store import Store
from tests.test_cli import run
from tests.test_ingest_bad_input import snapshot

pytestmark = pytest.mark.both_stores  # every test that takes `store` runs on DuckDB and PostgreSQL


def test_a_quarter_ends_on_the_agencys_calendar() -> None:
    assert periods.filing_opens("2026Q4") == dt.date(2027, 1, 1)
    assert periods.filing_opens("2026Q1") == dt.date(2026, 4, 1)
    assert not periods.has_ended("2026Q4", dt.date(2026, 12, 31))
    assert periods.has_ended("2026Q4", dt.date(2027, 1, 1))
    # 19:30 UTC on 31 December is 00:30 on 1 January in Almaty (UTC+5): the quarter is over there
    with periods.frozen(dt.datetime(2026, 12, 31, 19, 30, tzinfo=dt.UTC)):
        assert periods.today() == dt.date(2027, 1, 1) and periods.has_ended("2026Q4")
        assert periods.latest_ended() == "2026Q4"
    with periods.frozen(dt.datetime(2026, 12, 31, 18, 30, tzinfo=dt.UTC)):
        assert periods.today() == dt.date(2026, 12, 31) and not periods.has_ended("2026Q4")
        assert periods.latest_ended() == "2026Q3"


def test_the_tests_run_on_a_fixed_calendar() -> None:
    assert periods.today() == dt.date(2026, 12, 1)  # PARASAT_TODAY, set in conftest
    with periods.frozen(dt.date(2025, 2, 3)):
        assert periods.today() == dt.date(2025, 2, 3)
        assert periods.ended_periods(since="2024Q3") == ["2024Q4", "2024Q3"]
    assert periods.today() == dt.date(2026, 12, 1)


def test_axis_keeps_every_quarter_in_order() -> None:
    assert periods.axis_periods(["2025Q2", "2024Q3", "2025Q1"]) == ["2024Q3", "2024Q4", "2025Q1", "2025Q2"]
    assert periods.axis_periods([]) == []


def test_one_way_to_write_a_period_and_a_date() -> None:
    assert periods.period_label("2025Q4", "kk") == "2025 ж. 4-тоқсан"
    assert periods.period_label("2025Q4", "ru") == "4 кв. 2025 г."
    assert periods.period_label("2025Q4", "en") == "Q4 2025"
    day = dt.date(2025, 12, 31)
    assert [periods.date_label(day, lang) for lang in ("kk", "ru", "en")] == ["31.12.2025", "31.12.2025", "31 Dec 2025"]
    assert periods.date_label(dt.date(2027, 1, 1), "en") == "1 Jan 2027"
    assert periods.file_part("2025Q4", "kk") == "2025_ж_4-тоқсан"
    assert periods.file_part("2025Q4", "en") == "Q4_2025"


def test_safe_default_period_skips_a_thinly_covered_later_quarter() -> None:
    cov = {"2025Q3": periods.PeriodCoverage("2025Q3", 90, 92), "2025Q4": periods.PeriodCoverage("2025Q4", 1, 92),
           "2026Q4": periods.PeriodCoverage("2026Q4", 92, 92)}
    available = ["2025Q3", "2025Q4", "2026Q4"]
    # 2026Q4 has not ended on 1 December 2026; 2025Q4 is at 1 of 92; 2025Q3 at 90 of 92 (97.8 %)
    assert periods.default_period(cov, available, threshold=0.8, on=dt.date(2026, 12, 1)) == "2025Q3"
    assert periods.default_period(cov, available, threshold=0.01, on=dt.date(2026, 12, 1)) == "2025Q4"
    assert periods.default_period(cov, ["2025Q4"], threshold=0.8, on=dt.date(2026, 12, 1)) == "2025Q4"
    assert periods.default_period({}, [], threshold=0.8) is None


def test_unended_quarter_is_refused_and_nothing_changes(store: Store, catalogue: Catalogue, registry: Registry,
                                                        make_return) -> None:
    path = make_return("akimat_abai", "2026Q4", {"subdivisions_total": 5, "subdivisions_analysed": 4})
    before = snapshot(store)
    events = len(audit.read(store.audit_path))
    report = ingest_files(store, catalogue, registry, [path])
    assert not report.ok and snapshot(store) == before
    [error] = report.as_dict("en")["rejected"][0]["errors"]
    assert error["code"] == "period_not_ended"
    assert (error["file"], error["sheet"], error["cell"], error["value"]) == (path.name, "Есеп", "C6", "2026Q4")
    assert error["message"] == "Q4 2026 has not ended yet: its return can be submitted from 1 Jan 2027."
    kk = report.as_dict("kk")["rejected"][0]["errors"][0]["message"]
    ru = report.as_dict("ru")["rejected"][0]["errors"][0]["message"]
    assert "2026 ж. 4-тоқсан" in kk and "01.01.2027" in kk
    assert "4 кв. 2026 г." in ru and "с 01.01.2027" in ru
    assert [e["action"] for e in audit.read(store.audit_path)[events:]] == ["upload_rejected"]

    # the next quarter too, with the day it opens; the quarter that ended yesterday is accepted
    later = make_return("akimat_abai", "2027Q1", name="later.xlsx")
    assert ingest_files(store, catalogue, registry, [later]).as_dict("en")["rejected"][0]["errors"][0][
        "message"].endswith("from 1 Apr 2027.")
    with periods.frozen(dt.date(2027, 1, 1)):
        assert ingest_files(store, catalogue, registry, [path]).ok


def test_an_admin_opens_a_quarter_early_on_the_record(store: Store, catalogue: Catalogue, registry: Registry,
                                                       make_return) -> None:
    path = make_return("akimat_abai", "2026Q4")
    assert periods.open_period(store, "2027Q1", actor="admin") == "not_started"
    assert periods.open_period(store, "2026Q3", actor="admin") == "already"  # ended: nothing to open
    assert periods.open_period(store, "2026Q4", actor="admin") == "opened"
    assert periods.open_period(store, "2026Q4", actor="admin") == "already"
    assert ingest_files(store, catalogue, registry, [path]).ok
    assert periods.close_period(store, "2026Q4", actor="admin")
    assert not periods.close_period(store, "2026Q4", actor="admin")
    other = make_return("akimat_astana", "2026Q4")
    assert not ingest_files(store, catalogue, registry, [other]).ok
    trail = [(e["actor"], e["action"], e["subject"]) for e in audit.read(store.audit_path)
             if e["action"].startswith("period_")]
    assert trail == [("admin", "period_opened", "2026Q4"), ("admin", "period_closed", "2026Q4")]


def test_cli_refuses_an_unended_quarter_until_it_is_opened(tmp_path: Path, make_return) -> None:
    db = tmp_path / "cli.duckdb"
    path = make_return("univ_enu", "2026Q4", {"students_total": 10, "students_trained": 4})
    result = run("ingest", "--db", str(db), str(path), "--json", "--lang", "en")
    assert result.returncode == 1, result.stdout + result.stderr
    [error] = json.loads(result.stdout)["rejected"][0]["errors"]
    assert (error["sheet"], error["cell"], error["value"]) == ("Есеп", "C6", "2026Q4")
    assert "Q4 2026" in error["message"] and "1 Jan 2027" in error["message"]
    text = run("ingest", "--db", str(db), str(path), "--lang", "ru")
    assert text.returncode == 1 and "с 01.01.2027" in text.stdout
    report = json.loads(run("report", "--db", str(db), "--period", "2026Q4", "--json").stdout)
    assert all(r["value"] is None for r in report)  # nothing written

    opened = run("periods", "open", "2026Q4", "--db", str(db), "--user", "boss", "--lang", "en")
    assert opened.returncode == 0 and "opened early" in opened.stdout
    listed = json.loads(run("periods", "--db", str(db), "--json").stdout)
    assert listed["latest_ended"] == "2026Q3" and [p["period"] for p in listed["opened"]] == ["2026Q4"]
    assert listed["opened"][0]["opened_by"] == "boss"
    assert run("ingest", "--db", str(db), str(path)).returncode == 0
    report = json.loads(run("report", "--db", str(db), "--period", "2026Q4", "--json").stdout)
    assert next(r for r in report if r["kpi"] == "G3.K4" and r["level"] == "national")["value"] == 40
    assert run("periods", "close", "2026Q4", "--db", str(db)).returncode == 0
    assert run("periods", "open", "2027Q2", "--db", str(db)).returncode == 1


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_local_period_and_date_in_messages(lang: str) -> None:
    text = "{p:" + lang + "} / {d:" + lang + "}"
    assert text.format(p=periods.LocalPeriod("2026Q1"), d=periods.LocalDate.of(dt.date(2026, 4, 1))) == (
        f"{periods.period_label('2026Q1', lang)} / {periods.date_label(dt.date(2026, 4, 1), lang)}")


def test_trend_axes_keep_a_quarter_without_data_as_a_gap(store: Store, catalogue: Catalogue, registry: Registry,
                                                         make_return) -> None:
    from kpi import views
    from kpi.engine import KpiEngine

    engine = KpiEngine(catalogue, registry)
    files = [make_return("akimat_abai", "2025Q1", {"risks_found_d01": 10, "risks_eliminated_d01": 4}),
             make_return("akimat_abai", "2025Q4", {"risks_found_d01": 10, "risks_eliminated_d01": 9})]
    assert ingest_files(store, catalogue, registry, files).ok
    cur = store.cursor()
    available = views.available_periods(cur)
    assert available == ["2025Q1", "2025Q4"]
    axis = views.axis_periods(available)
    assert axis == ["2025Q1", "2025Q2", "2025Q3", "2025Q4"]
    trend = views.kpi_trend(cur, engine, "G2.K1", axis, lang="ru")
    kpi = catalogue.kpi_by_id["G2.K1"]
    figure = figures.trend_figure(trend, kpi, "ru", node="N", provisional=["2025Q4"])
    line = figure.data[0]
    assert list(line.x) == ["1 кв. 2025 г.", "2 кв. 2025 г.", "3 кв. 2025 г.", "4 кв. 2025 г."]
    assert [None if y != y else y for y in line.y] == [40.0, None, None, 90.0] and line.connectgaps is False
    assert list(figure.layout.xaxis.categoryarray) == list(line.x)
    assert list(line.marker.symbol) == ["circle", "circle", "circle", "circle-open"]  # 2025Q4 provisional
    assert line.text[-1] == "90,0\u00a0%*"
    profile = views.entity_profile(cur, engine, "akimat_abai", "2025Q4", axis, lang="en")
    assert profile is not None
    comparison = views.kpi_trend(cur, engine, "G2.K1", axis, lang="en", within=frozenset({"akimat_abai"}))
    entity_figure = figures.entity_trend_figure(profile, kpi, comparison, "en")
    assert list(entity_figure.data[0].x) == ["Q1 2025", "Q2 2025", "Q3 2025", "Q4 2025"]
    assert [None if y != y else y for y in entity_figure.data[0].y] == [40.0, None, None, 90.0]
    assert list(entity_figure.layout.xaxis.categoryarray) == ["Q1 2025", "Q2 2025", "Q3 2025", "Q4 2025"]


def test_a_packs_file_name_writes_its_period_the_decks_way() -> None:
    from kpi.briefing import BriefingRequest, BriefingScope

    names = [BriefingRequest(period="2025Q4", scope=BriefingScope("entity_type", "akimat"), lang=lang).file_name()
             for lang in ("kk", "ru", "en")]
    assert names == ["parasat-briefing-akimat-2025_ж_4-тоқсан-kk.pptx", "parasat-briefing-akimat-4_кв_2025_г-ru.pptx",
                     "parasat-briefing-akimat-Q4_2025-en.pptx"]
