"""What the pages show, from real returns ingested into a real DuckDB; every golden value is hand-computed."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from kpi import figures, labels, views
from kpi.catalogue import Catalogue, Registry
from kpi.engine import KpiEngine
from kpi.i18n import t
from kpi.ingest.pipeline import ingest_files
from kpi.sample import fill_by_names
from kpi.service import set_target
from kpi.store import AccessScope, Store
from kpi.template import build_template
from tests.conftest import zero_values

ALMATY = dt.timezone(dt.timedelta(hours=5))
NOW = "2025Q2"
PREVIOUS = "2025Q1"
YEAR_AGO = "2024Q2"

# (entity, period): figures; anything not named is 0.
RETURNS: dict[tuple[str, str], dict[str, Any]] = {
    ("akimat_abai", YEAR_AGO): {"subdivisions_total": 20, "subdivisions_analysed": 5,
                                "risks_found_d01": 10, "risks_eliminated_d01": 5},
    ("akimat_abai", PREVIOUS): {"subdivisions_total": 20, "subdivisions_analysed": 10,
                                "risks_found_d01": 4, "risks_eliminated_d01": 2},
    ("akimat_abai", NOW): {"subdivisions_total": 20, "subdivisions_analysed": 15,
                           "risks_found_d01": 10, "risks_eliminated_d01": 9,
                           "risks_found_d02": 5, "risks_eliminated_d02": 1,
                           "offences_administrative": 3, "offences_criminal": 2, "offences_discrediting": 1,
                           "nla_expertise_passed": 12, "nla_adopted": 7, "nla_not_adopted": 2},
    ("akimat_astana", NOW): {"subdivisions_total": 10, "subdivisions_analysed": 10,
                             "risks_found_d01": 2, "risks_eliminated_d01": 0, "offences_criminal": 4},
    ("min_finance", NOW): {"subdivisions_total": 30, "subdivisions_analysed": 3,
                           "risks_found_d09": 8, "risks_eliminated_d09": 8},
}
# When each return came in (Almaty time). Q2 2025 is due on 2025-07-10 (30 June + 10 days).
SUBMITTED = {
    ("akimat_abai", NOW): dt.datetime(2025, 7, 5, 10, 0, tzinfo=ALMATY),
    ("akimat_astana", NOW): dt.datetime(2025, 7, 15, 9, 0, tzinfo=ALMATY),
    ("min_finance", NOW): dt.datetime(2025, 7, 10, 23, 0, tzinfo=ALMATY),  # late evening of the last day
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue, registry: Registry) -> Iterator[Store]:
    """One database for the module (the tests only read it; the upload preview is a dry run)."""
    folder = tmp_path_factory.mktemp("views")
    paths, submitted = [], {}
    for (code, period), given in RETURNS.items():
        values = zero_values(catalogue, registry, code) | given
        path = folder / f"{code}_{period}.xlsx"
        path.write_bytes(fill_by_names(build_template(catalogue, registry, code, period), values))
        paths.append(path)
        if (code, period) in SUBMITTED:
            submitted[str(path)] = SUBMITTED[(code, period)]
    with Store(folder / "views.duckdb") as store:
        report = ingest_files(store, catalogue, registry, paths, submitted_at=submitted)
        assert report.ok, report.as_dict("en")["rejected"]
        set_target(store, "G2.K1", 2025, 70, actor="test")
        yield store


@pytest.fixture
def engine(catalogue: Catalogue, registry: Registry) -> KpiEngine:
    return KpiEngine(catalogue, registry, at_risk_margin=0.1)


@pytest.fixture
def cur(loaded: Store) -> Any:
    cursor = loaded.cursor()
    yield cursor
    cursor.close()


# --------------------------------------------------------------------------- filters and labels


def test_filters_read_the_url_and_fall_back_on_anything_unknown(registry: Registry) -> None:
    periods = ["2025Q1", "2025Q2"]
    chosen = views.Filters.from_query({"period": ["2025Q1"], "type": "akimat", "region": "abai", "lang": "ru"},
                                      periods=periods, registry=registry)
    assert chosen == views.Filters("2025Q1", "akimat", "abai", "ru")
    assert chosen.to_query() == {"lang": "ru", "period": "2025Q1", "type": "akimat", "region": "abai"}
    junk = views.Filters.from_query({"period": "1999Q9", "type": "planet", "region": "mars", "lang": "fr"},
                                    periods=periods, registry=registry)
    assert junk == views.Filters("2025Q2", None, None, "kk")
    assert junk.to_query() == {"lang": "kk", "period": "2025Q2"}
    assert views.Filters.from_query({}, periods=[], registry=registry).period is None


def test_population_keeps_the_type_and_region_chosen(registry: Registry) -> None:
    assert views.population(registry) is None
    akimats_of_abai = views.population(registry, entity_type="akimat", region="abai")
    assert akimats_of_abai == frozenset({"akimat_abai"})
    astana = views.population(registry, region="astana")
    assert astana is not None and "akimat_astana" in astana and "min_finance" not in astana


@pytest.mark.parametrize("delta, unit, lang, expected", [
    (-3.3333, "percent", "ru", "-3,3\u00a0п.п."),
    (21.6667, "percent", "kk", "+21,7\u00a0п.т."),
    (0.004, "percent", "en", "±0.0\u00a0pp"),
    (1248, "units", "kk", "+1\u202f248"),
    (-0.126, "ratio", "en", "-0.13"),
    (None, "percent", "en", None),
])
def test_changes_are_signed_and_in_percentage_points(delta: float | None, unit: str, lang: str,
                                                     expected: str | None) -> None:
    assert labels.fmt_delta(delta, unit, lang) == expected


def test_period_labels_in_each_language() -> None:
    assert labels.period_label("2025Q4", "kk") == "2025 ж. 4-тоқсан"
    assert labels.period_label("2025Q4", "ru") == "4 кв. 2025 г."
    assert labels.period_label("2025Q4", "en") == "Q4 2025"


def test_deadline_is_the_quarter_end_plus_the_days_set() -> None:
    assert views.quarter_end("2025Q4") == dt.date(2025, 12, 31)
    assert views.quarter_end("2024Q1") == dt.date(2024, 3, 31)
    assert views.deadline("2025Q2", 10) == dt.date(2025, 7, 10)


def test_sentence_case_softens_the_guides_capitals() -> None:
    assert labels.sentence_case("СЫБАЙЛАС ЖЕМҚОРЛЫҚ ТӘУЕКЕЛДЕРІН АНЫҚТАУ") == "Сыбайлас жемқорлық тәуекелдерін анықтау"
    assert labels.sentence_case("Identification of corruption risks") == "Identification of corruption risks"


# --------------------------------------------------------------------------- overview


def test_available_periods_are_those_with_returns(cur: Any) -> None:
    assert views.available_periods(cur) == [YEAR_AGO, PREVIOUS, NOW]
    assert views.available_periods(cur, scope=AccessScope(frozenset({"min_finance"}))) == [NOW]


def test_overview_tiles_hold_hand_computed_values(cur: Any, engine: KpiEngine) -> None:
    data = views.overview(cur, engine, NOW, lang="en")
    assert len(data.tiles) == 20
    assert [g.group for g in data.groups] == ["G1", "G2", "G3", "G4"]
    tiles = {tile.kpi: tile for tile in data.tiles}
    g1k1 = tiles["G1.K1"]
    # national G1.K1 = 100·(15+10+3)/(20+10+30); a quarter before only Abai: 10/20; a year before 5/20
    assert g1k1.value == pytest.approx(100 * 28 / 60)
    assert g1k1.previous == pytest.approx(50.0)
    assert g1k1.year_ago == pytest.approx(25.0)
    assert g1k1.value_text == "46.7\u00a0%"
    assert g1k1.qoq_text == "-3.3\u00a0pp"
    assert g1k1.yoy_text == "+21.7\u00a0pp"
    assert g1k1.trend_periods[-1] == NOW and len(g1k1.trend_periods) == 8
    assert g1k1.trend[-1] == pytest.approx(46.6667, abs=1e-3) and g1k1.trend[-5] == pytest.approx(25.0)
    assert g1k1.status == "no_target"
    g2k1 = tiles["G2.K1"]
    # national G2.K1 = 100·(9+1+0+8)/(10+5+2+8) = 72 against the target 70
    assert g2k1.value == pytest.approx(72.0)
    assert g2k1.target == 70 and g2k1.target_text == "70.0\u00a0%"
    assert g2k1.status == "met" and g2k1.colour == labels.status_colour("met")
    assert g2k1.reporting == 3 and g2k1.expected == 48
    g2k7 = tiles["G2.K7"]
    assert g2k7.value == 3 + 2 + 1 + 4 and g2k7.status == "monitoring" and g2k7.delta_colour == "off"
    assert tiles["G1.K3"].delta_colour == "inverse"


def test_coverage_counts_entities_with_a_return(cur: Any, engine: KpiEngine, registry: Registry) -> None:
    assert views.coverage(cur, registry, NOW) == views.Coverage(3, len(registry.entities))
    akimats = views.population(registry, entity_type="akimat")
    covered = views.coverage(cur, registry, NOW, within=akimats)
    assert (covered.received, covered.expected) == (2, 20)
    assert covered.share == pytest.approx(10.0)


def test_overview_of_a_filtered_population_sums_only_its_parts(cur: Any, engine: KpiEngine, registry: Registry) -> None:
    """Akimats of Astana and Abai only: G1.K1 = 100·(15+10)/(20+10); KPIs no akimat reports are n/a."""
    akimats = views.population(registry, entity_type="akimat")
    tiles = {tile.kpi: tile for tile in views.overview(cur, engine, NOW, lang="kk", within=akimats).tiles}
    assert tiles["G1.K1"].value == pytest.approx(100 * 25 / 30)
    assert tiles["G3.K4"].status == labels.NOT_APPLICABLE and not tiles["G3.K4"].applicable
    assert tiles["G3.K4"].status_text == t("app.not_applicable", "kk")


def test_a_reader_restricted_to_one_entity_sees_that_entity_as_the_headline(cur: Any, engine: KpiEngine) -> None:
    scope = AccessScope(entities=frozenset({"akimat_abai"}), actor="officer")
    tiles = {tile.kpi: tile for tile in views.overview(cur, engine, NOW, lang="en", scope=scope).tiles}
    assert tiles["G1.K1"].value == pytest.approx(75.0)
    assert views.coverage(cur, engine.registry, NOW, scope=scope) == views.Coverage(1, 1)


# --------------------------------------------------------------------------- group pages


def test_trend_has_one_row_per_period(cur: Any, engine: KpiEngine) -> None:
    trend = views.kpi_trend(cur, engine, "G2.K1", [YEAR_AGO, "2024Q3", PREVIOUS, NOW], lang="en")
    assert list(trend["period"]) == [YEAR_AGO, "2024Q3", PREVIOUS, NOW]
    assert list(trend["value"][[0, 2, 3]]) == pytest.approx([50.0, 50.0, 72.0])
    assert pd.isna(trend["value"][1]) and trend["status"][1] == "no_data"
    assert trend["target"][3] == 70


def test_ranking_puts_the_best_first_and_keys_each_bar(cur: Any, engine: KpiEngine, registry: Registry) -> None:
    by_type = views.ranking(cur, engine, "G2.K1", NOW, "entity_type", lang="en")
    assert list(by_type["key"]) == ["central_body", "akimat"]
    assert list(by_type["value"]) == pytest.approx([100.0, 100 * 10 / 17])
    assert list(by_type["status"]) == ["met", "missed"]  # 58.8 is below 70·0.9
    assert by_type["label"][1] == t("type.akimat", "en")
    akimats = views.population(registry, entity_type="akimat")
    by_region = views.ranking(cur, engine, "G2.K1", NOW, "region", lang="en", within=akimats)
    reported = by_region[by_region["value"].notna()]
    assert list(reported["key"]) == ["abai", "astana"]
    assert list(reported["value"]) == pytest.approx([100 * 10 / 15, 0.0])
    assert by_region["value"].isna().sum() == 18, "regions without a return come last, without a value"


def test_ranking_of_a_lower_is_better_kpi_puts_the_lowest_first(cur: Any, engine: KpiEngine) -> None:
    ranked = views.ranking(cur, engine, "G1.K3", NOW, "entity", lang="en")
    known = ranked[ranked["value"].notna()]
    assert list(known["value"]) == sorted(known["value"])


def test_breakdown_of_g2k1_by_the_nine_directions(cur: Any, engine: KpiEngine) -> None:
    parts = views.breakdown(cur, engine, "G2.K1", NOW, lang="ru")
    assert list(parts[parts["secondary"]]["metric"]) == ["G2.K1:hidden_services_found", "G2.K1:hidden_services_sent_share"]
    parts = parts[~parts["secondary"]].reset_index(drop=True)
    assert list(parts["metric"]) == [f"G2.K1:d0{i}" for i in range(1, 10)]
    values = dict(zip(parts["metric"], parts["value"]))
    assert values["G2.K1:d01"] == pytest.approx(100 * 9 / 12)
    assert values["G2.K1:d02"] == pytest.approx(20.0)
    assert values["G2.K1:d09"] == pytest.approx(100.0)
    assert pd.isna(values["G2.K1:d03"])
    assert parts["label"][0] == "Правовые акты"


def test_breakdowns_of_offences_and_act_counts(cur: Any, engine: KpiEngine) -> None:
    offences = views.breakdown(cur, engine, "G2.K7", NOW, lang="en")
    assert dict(zip(offences["metric"], offences["value"])) == {
        "G2.K7:offences_administrative": 3, "G2.K7:offences_criminal": 6, "G2.K7:offences_discrediting": 1}
    acts = views.breakdown(cur, engine, "G2.K2", NOW, lang="en")
    assert list(acts["value"]) == [12, 7, 2] and set(acts["unit"]) == {"units"}
    assert views.breakdown(cur, engine, "G1.K1", NOW, lang="en").empty


def test_drill_entities_are_those_reporting_the_kpi(engine: KpiEngine, registry: Registry) -> None:
    universities = views.drill_entities(engine, "G3.K4")
    assert {e.type for e in universities} == {"university"}
    only_abai = views.drill_entities(engine, "G2.K1", within=frozenset({"akimat_abai", "univ_enu"}))
    assert [e.code for e in only_abai] == ["akimat_abai"]
    assert views.drill_entities(engine, "G3.K3") == [registry.entity_by_code["min_education"]]


# --------------------------------------------------------------------------- entity profile


def test_entity_profile_ranks_among_peers_of_its_type(cur: Any, engine: KpiEngine) -> None:
    profile = views.entity_profile(cur, engine, "akimat_abai", NOW, [YEAR_AGO, PREVIOUS, NOW], lang="en")
    assert profile is not None
    row = profile.kpis.set_index("kpi").loc["G1.K1"]
    assert row["value"] == pytest.approx(75.0)
    assert (row["rank"], row["peers"]) == (2, 2)  # Astana analysed all its subdivisions
    assert row["rank_text"] == "2 of 2"
    history = profile.history[profile.history["kpi"] == "G1.K1"]
    assert list(history["value"]) == pytest.approx([25.0, 50.0, 75.0])
    assert list(profile.returns["period"]) == [NOW, PREVIOUS, YEAR_AGO]
    # Q2 came in on 5 July; the two earlier returns carry no submission date, so they count from upload (late)
    assert profile.returns["late"].tolist() == [False, True, True]


def test_entity_profile_respects_the_scope(cur: Any, engine: KpiEngine) -> None:
    scope = AccessScope(entities=frozenset({"min_finance"}))
    assert views.entity_profile(cur, engine, "akimat_abai", NOW, [NOW], lang="en", scope=scope) is None
    assert views.entity_profile(cur, engine, "no_such_body", NOW, [NOW], lang="en") is None


# --------------------------------------------------------------------------- submissions


def test_submissions_on_time_late_missing_in_almaty_time(cur: Any, engine: KpiEngine, registry: Registry) -> None:
    table = views.submissions(cur, engine, NOW, lang="en", deadline_days=10, today=dt.date(2026, 1, 1))
    status = dict(zip(table["code"], table["status"]))
    assert status["akimat_abai"] == "on_time"
    assert status["min_finance"] == "on_time", "23:00 in Almaty on the due day is still on time"
    assert status["akimat_astana"] == "late"
    assert table.set_index("code").loc["akimat_astana", "days_late"] == 5
    assert status["univ_enu"] == "missing"
    summary = views.submission_summary(table)
    assert summary == {"on_time": 2, "late": 1, "missing": len(registry.entities) - 3, "pending": 0,
                       "expected": len(registry.entities), "submitted": 3}


def test_returns_not_yet_due_are_pending(cur: Any, engine: KpiEngine) -> None:
    table = views.submissions(cur, engine, NOW, lang="en", deadline_days=10, today=dt.date(2025, 7, 10))
    assert dict(zip(table["code"], table["status"]))["univ_enu"] == "pending"


def test_versions_of_a_period(cur: Any, engine: KpiEngine) -> None:
    versions = views.submission_versions(cur, engine, NOW, lang="en")
    assert sorted(versions["code"]) == ["akimat_abai", "akimat_astana", "min_finance"]
    assert versions["submitted"].iloc[0] == dt.datetime(2025, 7, 15, 9, 0)


# --------------------------------------------------------------------------- upload preview


def test_upload_preview_shows_errors_cell_by_cell_and_figures_that_change(
    loaded: Store, catalogue: Catalogue, registry: Registry, make_return: Any
) -> None:
    corrected = make_return("akimat_abai", NOW, {**RETURNS[("akimat_abai", NOW)], "subdivisions_analysed": 18},
                            name="abai_v2.xlsx")
    broken = make_return("akimat_astana", NOW, {"subdivisions_total": 10, "subdivisions_analysed": 11},
                         name="astana_bad.xlsx")
    report = ingest_files(loaded, catalogue, registry, [corrected, broken], dry_run=True)
    first, second = views.upload_preview(report, catalogue, registry, "en")
    assert (first.status, first.version, first.replaces_version) == ("new_version", 2, 1)
    assert first.entity_name == registry.entity_by_code["akimat_abai"].name("en")
    assert first.changes.to_dict("records") == [
        {"Label": catalogue.measure_by_code["subdivisions_analysed"].label("en"), "Old": 15, "New": 18}]
    assert not second.accepted and second.status_text == t("upload.status_rejected", "en")
    issue = second.issues.iloc[0]
    assert issue["Sheet"] and issue["Cell"] and issue["What to fix"]
    labels = {m.label("en") for m in catalogue.measures}  # the template's row, not the measure code (issue 15)
    assert issue["Template row"] in labels or issue["Template row"] == "—"
    assert not any("subdivisions_" in str(v) for v in second.issues.to_numpy().ravel())


def test_template_periods_offer_ended_quarters_only_newest_first() -> None:
    # on 3 February 2026 the quarter under way (2026Q1) is not offered; 2025Q4 ended on 31 December
    offered = views.template_periods(["2023Q2", "2025Q1"], today=dt.date(2026, 2, 3))
    assert offered[:3] == ["2025Q4", "2025Q3", "2025Q2"] and offered[-1] == "2023Q2" and len(offered) == 11
    assert "2026Q1" not in offered
    # an admin opened 2026Q1 early: it comes first; an opened quarter that has since ended is listed once
    assert views.template_periods([], today=dt.date(2026, 2, 3), opened=["2025Q4", "2026Q1"])[:3] == [
        "2026Q1", "2025Q4", "2025Q3"]
    assert len(views.template_periods([], today=dt.date(2026, 2, 3))) == 8


# --------------------------------------------------------------------------- figures


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_figures_are_titled_with_units_in_the_language(cur: Any, engine: KpiEngine, catalogue: Catalogue,
                                                       lang: str) -> None:
    kpi = catalogue.kpi_by_id["G2.K1"]
    trend = views.kpi_trend(cur, engine, "G2.K1", [PREVIOUS, NOW], lang=lang)
    ranked = views.ranking(cur, engine, "G2.K1", NOW, "entity_type", lang=lang)
    parts = views.breakdown(cur, engine, "G2.K1", NOW, lang=lang)
    drawn = [
        figures.trend_figure(trend, kpi, lang, node="N"),
        figures.ranking_figure(ranked, kpi, "entity_type", lang, node="N"),
        figures.breakdown_figure(parts, kpi, lang, node="N", compact=True),
    ]
    for figure in drawn:
        title = figure.layout.title.text
        assert title.startswith("G2.K1") and kpi.short(lang)[:10] in title.replace("<br>", " ") or "G2.K1" in title
        assert "chart." not in title and "{" not in title
        axis_titles = {figure.layout.xaxis.title.text, figure.layout.yaxis.title.text}
        assert "%" in axis_titles
    assert drawn[0].layout.separators == (".," if lang == "en" else ",\u00a0")
    assert list(drawn[1].data[0].customdata[:, 0]) == ["central_body", "akimat"]


def test_tile_map_draws_all_twenty_regions_keyed_by_code(registry: Registry) -> None:
    values = {r.code: None for r in registry.regions} | {"abai": 61.5, "astana": 80.0}
    figure = figures.tile_map_figure(values, lang="kk", title="G2.K1", unit="percent", registry=registry)
    codes = [row[0] for trace in figure.data for row in trace.customdata]
    assert sorted(codes) == sorted(r.code for r in registry.regions)
    assert "61,5\u00a0%" in " ".join(figure.data[0].text)


def test_map_figure_is_keyed_by_region_code_whichever_map_draws(registry: Registry) -> None:
    values = {r.code: float(i) for i, r in enumerate(registry.regions)}
    figure, kind = figures.map_figure(values, lang="ru", title="G2.K1", unit="percent", registry=registry)
    assert kind in ("boundaries", "tiles")
    keys = {row[0] for trace in figure.data if trace.customdata is not None for row in trace.customdata}
    assert {r.code for r in registry.regions} <= keys


def test_submissions_figure_stacks_statuses_by_type(cur: Any, engine: KpiEngine) -> None:
    table = views.submissions(cur, engine, NOW, lang="ru", deadline_days=10, today=dt.date(2026, 1, 1))
    figure = figures.submissions_figure(table, "ru", period=NOW)
    names = [trace.name for trace in figure.data]
    assert names == [t("submission.on_time", "ru"), t("submission.late", "ru"), t("submission.missing", "ru")]
    assert sum(sum(trace.x) for trace in figure.data) == len(table)


def test_export_frames_use_interface_titles(cur: Any, engine: KpiEngine) -> None:
    ranked = views.ranking(cur, engine, "G2.K1", NOW, "entity_type", lang="kk")
    frame = labels.export_frame(ranked, views.RANKING_COLUMNS, "kk")
    assert list(frame.columns)[:3] == [t("col.code", "kk"), t("col.name", "kk"), t("col.value", "kk")]


def test_every_interface_text_the_dashboard_uses_exists_in_three_languages() -> None:
    import re

    from kpi.i18n import messages

    root = Path(__file__).resolve().parent.parent
    sources = [root / "app.py", *sorted((root / "pages").glob("*.py")), root / "kpi" / "views.py"]
    pattern = re.compile(r"""(?:\bt|text|empty_state)\(\s*["']([a-z_]+\.[a-z_0-9.]+)["']""")
    used = {key for path in sources for key in pattern.findall(path.read_text(encoding="utf-8"))}
    used |= {v for mapping in (views.TREND_COLUMNS, views.RANKING_COLUMNS, views.BREAKDOWN_COLUMNS,
                               views.SUBMISSION_COLUMNS, views.VERSION_COLUMNS) for v in mapping.values()}
    used |= {f"submission.{s}" for s in views.SUBMISSION_STATUSES}
    used |= {f"chart.by_{level}" for level in ("entity_type", "region", "entity")}
    used |= {f"upload.status_{s}" for s in ("new", "new_version", "unchanged", "rejected")}
    missing = sorted(k for k in used if k not in messages() or set(messages()[k]) < {"kk", "ru", "en"})
    assert missing == []
    assert len(used) > 100


def test_value_axes_fit_the_data_with_the_target_in_view() -> None:
    """Issue 15: a 65-70 % trend on a fixed 0-100 axis looked flat; the axis now fits data and target."""
    low, high = figures.fitted_range([65.0, 66.5, 70.0, None], "percent")  # a span under 10 points widens to 10
    assert (low, high) == (63.0, 72.0)
    assert figures.fitted_range([62.4, 67.3, 70.0], "percent") == pytest.approx((60.4, 72.0))  # target 70 in view
    assert figures.fitted_range([3.0, 95.0, 100.0], "percent") == (0.0, 108.0)  # never below 0, a share stops at 108
    assert figures.fitted_range([None, float("nan")], "percent") is None
    assert figures.fitted_range([2.0, 4.0], "units") == (1.6, 4.4)
    assert figures.bar_range([67.5, 67.3, 70.0], "percent") == pytest.approx([0.0, 80.5])  # the target's label fits
    assert figures.bar_range([99.0, 100.0], "percent") == [0.0, 112.0]
    assert figures.bar_range([None], "units") is None
