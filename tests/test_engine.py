"""KPI values at every level, hand-computed from a small set of real returns ingested into a real DuckDB file
and a real PostgreSQL database: the same numbers on both."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi.engine import KpiEngine, status_of
from kpi.ingest.pipeline import ingest_files
from kpi.service import set_target
from kpi.store import AccessScope, Store

pytestmark = pytest.mark.both_stores
PERIOD = "2025Q2"

FIGURES = {
    "akimat_abai": {
        "subdivisions_total": 20, "subdivisions_analysed": 15,
        "risks_found_d01": 10, "risks_eliminated_d01": 9, "risks_found_d02": 5, "risks_eliminated_d02": 1,
        "anticorruption_standard_adopted": "Иә",
        "offences_administrative": 3, "offences_criminal": 2, "offences_discrediting": 1,
        "survey_respondents": 1000, "survey_ready_to_help": 600,
        "civil_servants_total": 500, "civil_servants_trained": 100,
    },
    "akimat_astana": {
        "subdivisions_total": 10, "subdivisions_analysed": 10,
        "risks_found_d01": 2, "risks_eliminated_d01": 0,
        "anticorruption_standard_adopted": "Жоқ",
        "offences_administrative": 1,
        "survey_respondents": 200, "survey_ready_to_help": 50,
        "civil_servants_total": 300, "civil_servants_trained": 30,
    },
    "min_finance": {
        "subdivisions_total": 30, "subdivisions_analysed": 3,
        "risks_found_d09": 8, "risks_eliminated_d09": 8,
        "anticorruption_standard_adopted": "Yes",
        "offences_criminal": 4,
        "civil_servants_total": 1000, "civil_servants_trained": 500,
    },
    "univ_enu": {
        "students_total": 1000, "students_trained": 300, "theses_total": 100, "theses_anticorruption": 12,
        "iso37001_certified": 1,
    },
    "qp_samruk_kazyna": {"compliance_service_established": 1, "iso37001_certified": 0,
                         "staff_total": 1000, "staff_trained_iso37001": 100},
    "qp_kmg": {"compliance_service_established": "Нет", "iso37001_certified": "TRUE",
               "staff_total": 3000, "staff_trained_iso37001": 900},
}


@pytest.fixture
def loaded(store: Store, catalogue, registry, make_return) -> Store:
    paths = [make_return(code, PERIOD, values) for code, values in FIGURES.items()]
    report = ingest_files(store, catalogue, registry, paths)
    assert report.ok, report.as_dict("en")["rejected"]
    return store


@pytest.fixture
def engine(catalogue, registry) -> KpiEngine:
    return KpiEngine(catalogue, registry)


def values(store: Store, engine: KpiEngine, period: str = PERIOD, **kwargs) -> dict[tuple[str, str, str | None], object]:
    rows = engine.compute(store.cursor(), [period], **kwargs)
    return {(v.metric, v.level, v.key): v for v in rows}


def test_share_of_sums_not_average_of_shares(loaded: Store, engine: KpiEngine) -> None:
    got = values(loaded, engine)
    national = got[("G2.K1", "national", None)]
    # Σ eliminated = 9+1+0+8 = 18; Σ found = 10+5+2+8 = 25 → 72 %, not the mean of 66.7, 0 and 100.
    assert (national.numerator, national.denominator) == (18, 25)
    assert national.value == pytest.approx(72.0)
    assert got[("G2.K1", "entity_type", "akimat")].value == pytest.approx(100 * 10 / 17)
    assert got[("G2.K1", "entity_type", "central_body")].value == pytest.approx(100.0)
    assert got[("G2.K1", "entity", "akimat_astana")].value == pytest.approx(0.0)


def test_g1k1_at_every_level(loaded: Store, engine: KpiEngine) -> None:
    got = values(loaded, engine)
    assert got[("G1.K1", "national", None)].value == pytest.approx(100 * 28 / 60)
    assert got[("G1.K1", "entity_type", "akimat")].value == pytest.approx(100 * 25 / 30)
    assert got[("G1.K1", "entity_type", "central_body")].value == pytest.approx(10.0)
    assert got[("G1.K1", "region", "abai")].value == pytest.approx(75.0)
    # Astana region: only its akimat reports G1.K1 (the university and companies there do not).
    assert got[("G1.K1", "region", "astana")].value == pytest.approx(100.0)
    assert got[("G1.K1", "entity", "min_finance")].value == pytest.approx(10.0)
    # A central body has no region, so it counts in none.
    assert ("G1.K1", "region", None) not in got
    assert got[("G1.K1", "national", None)].reporting == 3


def test_breakdown_by_direction(loaded: Store, engine: KpiEngine) -> None:
    got = values(loaded, engine)
    assert got[("G2.K1:d01", "national", None)].value == pytest.approx(75.0)  # (9+0)/(10+2)
    assert got[("G2.K1:d02", "national", None)].value == pytest.approx(20.0)
    assert got[("G2.K1:d09", "national", None)].value == pytest.approx(100.0)
    d03 = got[("G2.K1:d03", "national", None)]
    assert (d03.denominator, d03.value) == (0, None)


def test_flag_shares_count_reporting_entities_only(loaded: Store, engine: KpiEngine) -> None:
    got = values(loaded, engine)
    g2k8 = got[("G2.K8", "national", None)]
    assert (g2k8.numerator, g2k8.denominator) == (2, 3)
    assert g2k8.value == pytest.approx(100 * 2 / 3)
    assert got[("G2.K8", "entity_type", "akimat")].value == pytest.approx(50.0)
    # Only one of the registered universities filed: 1 certified of 1 reporting.
    g3k6 = got[("G3.K6", "national", None)]
    assert (g3k6.numerator, g3k6.denominator, g3k6.value) == (1, 1, 100)
    assert got[("G4.K1", "national", None)].value == pytest.approx(50.0)
    assert got[("G4.K2", "national", None)].value == pytest.approx(50.0)
    assert got[("G4.K2:staff_trained_share", "national", None)].value == pytest.approx(25.0)


def test_counts_ratios_and_empty_denominators(loaded: Store, engine: KpiEngine) -> None:
    got = values(loaded, engine)
    g2k7 = got[("G2.K7", "national", None)]
    assert (g2k7.value, g2k7.denominator) == (11, None)
    assert got[("G2.K7:offences_criminal", "national", None)].value == 6
    g1k2 = got[("G1.K2", "national", None)]
    assert (g1k2.denominator, g1k2.value) == (0, None)  # no drafts examined → no value, not 0
    assert got[("G3.K3", "national", None)].value is None  # the Ministry of Education has not filed
    assert got[("G3.K1", "national", None)].value == pytest.approx(100 * 650 / 1200)
    assert got[("G3.K2", "national", None)].value == pytest.approx(100 * 630 / 1800)
    assert got[("G3.K5", "region", "astana")].value == pytest.approx(12.0)


def test_a_period_without_returns_has_no_values(loaded: Store, engine: KpiEngine) -> None:
    got = values(loaded, engine, "2024Q1")
    assert all(v.value is None for v in got.values())
    assert got[("G2.K1", "national", None)].status == "no_data"


def test_targets_statuses_and_carry_forward(loaded: Store, engine: KpiEngine) -> None:
    set_target(loaded, "G1.K1", 2025, 50, actor="analyst")
    set_target(loaded, "G2.K1", 2025, 85, actor="analyst")
    got = values(loaded, engine)
    assert got[("G1.K1", "national", None)].target == 50
    assert got[("G1.K1", "national", None)].status == "at_risk"  # 46.7 is within 10 % of 50
    assert got[("G2.K1", "national", None)].status == "missed"  # 72 < 76.5
    # The guide's 2022 target of 20 % for G3.K4 stays in force until an analyst sets another.
    assert got[("G3.K4", "national", None)].target == 20
    assert got[("G3.K4", "national", None)].status == "met"
    assert got[("G2.K7", "national", None)].status == "monitoring"
    assert got[("G4.K2:staff_trained_share", "national", None)].target == 20
    assert got[("G4.K2:staff_trained_share", "national", None)].status == "met"


def test_status_rules() -> None:
    assert status_of(70, 70, "higher", 0.1) == "met"
    assert status_of(63, 70, "higher", 0.1) == "at_risk"
    assert status_of(62.9, 70, "higher", 0.1) == "missed"
    assert status_of(0.8, 0.8, "lower", 0.1) == "met"
    assert status_of(0.88, 0.8, "lower", 0.1) == "at_risk"
    assert status_of(1.0, 0.8, "lower", 0.1) == "missed"
    assert status_of(None, 70, "higher", 0.1) == "no_data"
    assert status_of(50, None, "higher", 0.1) == "no_target"
    assert status_of(50, 10, "monitoring", 0.1) == "monitoring"


def test_version_replacement_never_double_counts(loaded: Store, engine: KpiEngine, catalogue, registry,
                                                 make_return, tmp_path: Path) -> None:
    corrected = dict(FIGURES["akimat_abai"], subdivisions_analysed=20)
    path = make_return("akimat_abai", PERIOD, corrected, name="abai-corrected.xlsx")
    report = ingest_files(loaded, catalogue, registry, [path])
    outcome = report.outcomes[0]
    assert (outcome.status, outcome.version, outcome.replaces_version) == ("new_version", 2, 1)
    assert outcome.changes == [("subdivisions_analysed", 15, 20)]
    got = values(loaded, engine)
    assert got[("G1.K1", "national", None)].value == pytest.approx(100 * 33 / 60)
    assert got[("G1.K1", "national", None)].reporting == 3
    cur = loaded.cursor()
    assert cur.execute(
        "SELECT version FROM return_version WHERE entity_code = 'akimat_abai' ORDER BY version"
    ).fetchall() == [(1,), (2,)]
    # The same file again is a no-op.
    again = ingest_files(loaded, catalogue, registry, [path])
    assert again.outcomes[0].status == "unchanged" and again.outcomes[0].version == 2
    assert cur.execute("SELECT count(*) FROM return_version").fetchone() == (7,)
    # Both versions' files are archived by content hash.
    archived = loaded.archive.shas()
    assert outcome.sha256 in archived and len(archived) == 7
    assert loaded.archive.read(outcome.sha256) == path.read_bytes()


def test_quarter_on_quarter_and_year_on_year(loaded: Store, engine: KpiEngine, catalogue, registry,
                                             make_return) -> None:
    q1 = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 20, "subdivisions_analysed": 5})
    year_ago = make_return("akimat_abai", "2024Q2", {"subdivisions_total": 20, "subdivisions_analysed": 10})
    assert ingest_files(loaded, catalogue, registry, [q1, year_ago]).ok
    changes = engine.changes(loaded.cursor(), PERIOD)
    g1k1 = changes[("G1.K1", "national", None)]
    assert g1k1["previous"] == pytest.approx(25.0)
    assert g1k1["qoq"] == pytest.approx(100 * 28 / 60 - 25.0)
    assert g1k1["yoy"] == pytest.approx(100 * 28 / 60 - 50.0)


def test_restricted_scope_sees_only_its_entities(loaded: Store, engine: KpiEngine) -> None:
    scope = AccessScope(entities=frozenset({"akimat_abai"}), actor="officer")
    rows = engine.compute(loaded.cursor(), [PERIOD], scope=scope)
    assert {v.level for v in rows} == {"entity"}
    assert {v.key for v in rows} == {"akimat_abai"}


def test_first_quarter_has_no_quarter_on_quarter_change(store: Store, engine: KpiEngine, catalogue, registry,
                                                         make_return) -> None:
    """Figures run from 1 January: a Q1 total set against the previous year's Q4 read as a collapse on every
    tile (G1.K1 −61 pp on a provisional Q1). Q1 gets no q/q change; its y/y compares Q1 with Q1."""
    returns = [make_return("akimat_abai", "2024Q1", {"subdivisions_total": 20, "subdivisions_analysed": 4}),
               make_return("akimat_abai", "2024Q4", {"subdivisions_total": 20, "subdivisions_analysed": 18}),
               make_return("akimat_abai", "2025Q1", {"subdivisions_total": 20, "subdivisions_analysed": 6})]
    assert ingest_files(store, catalogue, registry, returns).ok
    g1k1 = engine.changes(store.cursor(), "2025Q1")[("G1.K1", "national", None)]
    assert g1k1["value"] == pytest.approx(30.0)  # 6/20
    assert g1k1["previous"] is None and g1k1["qoq"] is None  # not 30 − 90
    assert g1k1["yoy"] == pytest.approx(30.0 - 20.0)  # against 2024Q1, 4/20
