"""Briefing packs: decks opened with python-pptx, their native charts checked against the engine, findings
against figures computed by hand from a few real returns ingested into a real DuckDB."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pptx import Presentation
from pptx.util import Emu

from kpi.briefing import (
    LINE_SPACING,
    TEXT_INSET,
    TEXT_INSET_Y,
    BriefingError,
    BriefingRequest,
    BriefingScope,
    ComplianceRow,
    comparison_period,
    fit_text,
    plan_briefing,
    pptx_to_pdf,
    render_pptx,
    resolve_scope,
    soffice_binary,
    wrap_text,
)
from kpi.catalogue import Catalogue, Registry, kpis_for_entity, shift_period
from kpi.engine import KpiEngine
from kpi.i18n import t
from kpi.ingest.pipeline import ingest_files
from kpi.labels import drop_shared_words, rounded, sentence_case
from kpi.sample import fill_by_names
from kpi.service import set_target
from kpi.store import AccessScope, Store
from kpi.template import build_template
from tests.conftest import zero_values

ROOT = Path(__file__).resolve().parent.parent
PERIOD, PREVIOUS = "2025Q4", "2025Q3"
NBSP = "\u00a0"

# Figures cumulative from January. G2.K1 = 100·Σeliminated/Σfound; G3.K4 = 100·Σtrained/Σstudents.
FIGURES: dict[str, dict[str, dict[str, Any]]] = {
    PREVIOUS: {
        "akimat_abai": {"risks_found_d01": 10, "risks_eliminated_d01": 5, "subdivisions_total": 20,
                        "subdivisions_analysed": 10},
        "akimat_astana": {"risks_found_d01": 10, "risks_eliminated_d01": 7},
        "min_finance": {"risks_found_d03": 20, "risks_eliminated_d03": 12},
        "univ_enu": {"students_total": 2000, "students_trained": 200},
        "univ_narikbayev": {"students_total": 1000, "students_trained": 100},
    },
    PERIOD: {
        "akimat_abai": {"risks_found_d01": 20, "risks_eliminated_d01": 12, "subdivisions_total": 20,
                        "subdivisions_analysed": 16},
        "akimat_astana": {"risks_found_d01": 10, "risks_eliminated_d01": 9},
        "min_finance": {"risks_found_d03": 20, "risks_eliminated_d03": 14},
        "univ_enu": {"students_total": 2000, "students_trained": 400},
        "univ_narikbayev": {"students_total": 1000, "students_trained": 300},
        "qp_samruk_kazyna": {"compliance_service_established": "Yes"},
        "qp_damu": {"compliance_service_established": 0},
    },
}


@pytest.fixture(scope="module")
def returns_db(tmp_path_factory: pytest.TempPathFactory, catalogue: Catalogue, registry: Registry) -> Path:
    """The returns above, filled into real templates as `make_return` does and ingested once for the module."""
    folder = tmp_path_factory.mktemp("briefing")
    paths = []
    for period, returns in FIGURES.items():
        for code, figures in returns.items():
            path = folder / f"{code}_{period}.xlsx"
            values = zero_values(catalogue, registry, code) | figures
            path.write_bytes(fill_by_names(build_template(catalogue, registry, code, period), values))
            paths.append(path)
    with Store(folder / "returns.duckdb") as store:
        report = ingest_files(store, catalogue, registry, paths)
        assert report.ok, report.as_dict("en")["rejected"]
        set_target(store, "G2.K1", 2025, 75, actor="test")
    return folder / "returns.duckdb"


@pytest.fixture
def loaded(returns_db: Path, tmp_path: Path) -> Iterator[Store]:
    """A test's own copy of the module's database (some tests close it or hand it to another process)."""
    copy = tmp_path / "briefing.duckdb"
    shutil.copyfile(returns_db, copy)
    with Store(copy) as store:
        yield store


@pytest.fixture
def engine(catalogue: Catalogue, registry: Registry) -> KpiEngine:
    return KpiEngine(catalogue, registry)


@pytest.fixture
def cursor(loaded: Store) -> Iterator[Any]:
    cur = loaded.cursor()
    yield cur
    cur.close()


def deck_for(cursor: Any, engine: KpiEngine, scope: str, lang: str, *, compliance: Any = None,
             **options: Any) -> tuple[Any, Any]:
    """The planned pack and the deck drawn from it, opened again with python-pptx."""
    options.setdefault("allow_provisional", True)  # a few returns: every pack here is below the coverage threshold
    request = BriefingRequest(period=PERIOD, scope=resolve_scope(scope, engine.registry), lang=lang, **options)
    briefing = plan_briefing(cursor, request, engine, compliance=compliance)
    return briefing, Presentation(io.BytesIO(render_pptx(briefing)))


def shape_named(slide: Any, prefix: str) -> Any:
    return next((s for s in slide.shapes if s.name.startswith(prefix)), None)


def slide_kinds(prs: Any) -> list[str]:
    """Each slide's kind, read from its heading shape: title, summary, a KPI id, compliance or appendix."""
    kinds = []
    for slide in prs.slides:
        heading = shape_named(slide, "title")
        kinds.append(heading.name.split(":", 1)[1] if ":" in heading.name else "title")
    return kinds


def assert_order(prs: Any, kpis: list[str], *, before_appendix: tuple[str, ...] = ()) -> None:
    """Title, summary, one slide per KPI in catalogue order, then (compliance and) the appendix pages."""
    kinds = slide_kinds(prs)
    head = ["title", "summary", *kpis, *before_appendix]
    assert kinds[: len(head)] == head
    assert len(kinds) > len(head) and set(kinds[len(head):]) == {"appendix"}


def applicable_kpis(catalogue: Catalogue, registry: Registry, scope: BriefingScope) -> list[str]:
    from kpi.briefing import scope_entities

    duties = {k.id for e in scope_entities(scope, registry) for k in kpis_for_entity(catalogue, registry, e)}
    return [k.id for k in catalogue.kpis if k.id in duties]


def chart_values(slide: Any, kind: str) -> tuple[list[str], list[list[float | None]]] | None:
    frame = shape_named(slide, f"chart:{kind}")
    if frame is None:
        return None
    assert frame.has_chart, "a chart must be a native chart object, not a picture"
    chart = frame.chart
    return list(chart.plots[0].categories), [list(series.values) for series in chart.plots[0].series]


def assert_within_slide(prs: Any) -> None:
    width, height = prs.slide_width, prs.slide_height
    for number, slide in enumerate(prs.slides, start=1):
        for shape in slide.shapes:
            assert shape.left >= 0 and shape.top >= 0, (number, shape.name)
            assert shape.left + shape.width <= width, (number, shape.name, "too wide")
            assert shape.top + shape.height <= height, (number, shape.name, "too low")
            if shape.has_text_frame and shape.text_frame.text:
                # The font size the deck sets must let the text fit its box when wrapped.
                run = shape.text_frame.paragraphs[0].runs[0]
                size = run.font.size.pt
                inner_width = (Emu(shape.width).inches - 2 * TEXT_INSET) * 72
                lines = wrap_text(shape.text_frame.text, inner_width, size, bold=bool(run.font.bold))
                needed = len(lines) * size * LINE_SPACING + 2 * TEXT_INSET_Y * 72
                assert needed <= Emu(shape.height).inches * 72 + 0.5, (number, shape.name, shape.text_frame.text)
                assert size >= 7, (number, shape.name, "font too small")
            if shape.has_table:
                rows = shape.table.rows
                assert sum(r.height for r in rows) <= height - shape.top, (number, "table runs off the slide")


def assert_charts_equal_engine(prs: Any, cursor: Any, engine: KpiEngine, scope: BriefingScope,
                               request: BriefingRequest) -> None:
    """Every KPI slide: its trend equals the engine's scope values, its ranking the engine's child values."""
    periods = [shift_period(PERIOD, -i) for i in reversed(range(request.trend_quarters))]
    figures = engine.compute(cursor, periods, levels=["national", "entity_type", "region", "entity"])
    by = {(v.metric, v.period, v.level, v.key): v for v in figures}
    for slide, kind in zip(prs.slides, slide_kinds(prs)):
        if kind not in engine.catalogue.kpi_by_id:
            continue
        trend = chart_values(slide, "trend")
        assert trend is not None, f"{kind} has no trend chart"
        unit = engine.catalogue.kpi_by_id[kind].unit
        # rounded as the dashboard shows them (one rounding rule for tile, table, chart, export and slide)
        expected = [rounded(by[(kind, p, scope.level, scope.key)].value, unit) for p in periods]
        assert trend[1][0] == expected, kind
        ranking = chart_values(slide, "ranking")
        if ranking is not None:
            level = "entity" if scope.level in ("entity_type", "region") else request.national_breakdown
            children = [v for (metric, period, lvl, _), v in by.items()
                        if metric == kind and period == PERIOD and lvl == level and v.value is not None]
            if scope.level == "entity_type":
                children = [v for v in children if engine.registry.entity_by_code[str(v.key)].type == scope.key]
            if scope.level == "region":
                children = [v for v in children if engine.registry.entity_by_code[str(v.key)].region == scope.key]
            bars = [float(v) for v in ranking[1][0] if v is not None]
            assert bars == ranking[1][0] and sorted(bars, reverse=True) == bars, "every bar valued, highest first"
            assert ranking[1][0] == sorted((rounded(v.value, unit) for v in children if v.value is not None),
                                           reverse=True)[: len(ranking[1][0])], kind


def finding(prs: Any, kpi: str) -> str:
    slide = next(s for s, k in zip(prs.slides, slide_kinds(prs)) if k == kpi)
    return str(shape_named(slide, "finding").text_frame.text)


def pct(text: str) -> str:
    return f"{text}{NBSP}%"


@pytest.mark.parametrize("lang", ["kk", "en"])
def test_national_pack(cursor: Any, engine: KpiEngine, catalogue: Catalogue, registry: Registry, lang: str) -> None:
    briefing, prs = deck_for(cursor, engine, "national", lang)
    kinds = slide_kinds(prs)
    kpis = [k.id for k in catalogue.kpis]
    assert_order(prs, kpis)
    assert len(briefing.slides) == len(prs.slides)
    assert prs.slide_width * 9 == prs.slide_height * 16  # 16:9
    summary = shape_named(prs.slides[1], "table").table
    assert len(summary.rows) == 1 + 20, "all 20 KPIs on one summary slide"
    assert [summary.cell(r, 0).text for r in range(1, 21)] == kpis
    assert_charts_equal_engine(prs, cursor, engine, BriefingScope("national"), briefing.request)
    assert_within_slide(prs)
    # National G2.K1: Q3 (5+7+12)/(10+10+20) = 60 %, Q4 (12+9+14)/(20+10+20) = 70 %, target 75;
    # by region: Abai 12/20 = 60 %, Astana 9/10 = 90 % (the ministry has no region).
    text = finding(prs, "G2.K1")
    if lang == "en":
        assert text == (f"G2.K1 rose from {pct('60.0')} in Q3 2025 to {pct('70.0')} in Q4 2025 against a target "
                        f"of {pct('75.0')}; lowest: Abai Region ({pct('60.0')}); highest: Astana ({pct('90.0')}).")
    else:
        assert text == (f"G2.K1 көрсеткіші өсті: {pct('60,0')} (2025 ж. 3-тоқсан) → {pct('70,0')} (2025 ж. 4-тоқсан), нысаналы мәні — "
                        f"{pct('75,0')}; ең төмені: Абай облысы ({pct('60,0')}); ең жоғарысы: Астана қаласы "
                        f"({pct('90,0')}).")
    g2k1 = next(s for s, k in zip(prs.slides, kinds) if k == "G2.K1")
    categories, series = chart_values(g2k1, "ranking") or ([], [])
    assert series[0] == [90.0, 60.0] and len(categories) == 2
    assert shape_named(g2k1, "badge:at_risk") is not None, "70 against 75 with a 10 % margin is at risk"
    # Texts in the chosen language.
    # Kazakh titles come in the guide's capitals and are shown in sentence case, like the Russian and English ones.
    assert shape_named(g2k1, "title:G2.K1").text_frame.text == sentence_case(catalogue.kpi_by_id["G2.K1"].title(lang))
    assert shape_named(prs.slides[1], "title:summary").text_frame.text == t("briefing.summary_title", lang, count=20)
    assert shape_named(prs.slides[0], "title").text_frame.text == t("briefing.deck_title", lang)


@pytest.mark.parametrize("lang", ["kk", "en"])
def test_entity_type_pack(cursor: Any, engine: KpiEngine, catalogue: Catalogue, registry: Registry,
                          lang: str) -> None:
    briefing, prs = deck_for(cursor, engine, "akimat", lang)
    kpis = applicable_kpis(catalogue, registry, BriefingScope("entity_type", "akimat"))
    assert "G3.K1" in kpis and "G3.K4" not in kpis and "G3.K3" not in kpis
    assert_order(prs, kpis)
    assert_charts_equal_engine(prs, cursor, engine, BriefingScope("entity_type", "akimat"), briefing.request)
    assert_within_slide(prs)
    # Akimats' G2.K1: Q3 (5+7)/(10+10) = 60 %, Q4 (12+9)/(20+10) = 70 %; Abai 60 %, Astana 90 %.
    text = finding(prs, "G2.K1")
    if lang == "en":
        assert text == (f"G2.K1 rose from {pct('60.0')} in Q3 2025 to {pct('70.0')} in Q4 2025 against a target "
                        f"of {pct('75.0')}; lowest: Akimat of Abai Region ({pct('60.0')}); highest: Akimat of "
                        f"Astana ({pct('90.0')}).")
    else:
        assert "→ " + pct("70,0") in text and "ең төмені: Абай облысының әкімдігі (" + pct("60,0") + ")" in text
    # G1.K1 of akimats: only Abai reports subdivisions; 10/20 → 16/20, a single child ranks nothing.
    g1k1 = next(s for s, k in zip(prs.slides, slide_kinds(prs)) if k == "G1.K1")
    assert chart_values(g1k1, "ranking") is None
    assert "lowest" not in finding(prs, "G1.K1") and "ең төмені" not in finding(prs, "G1.K1")


@pytest.mark.parametrize("lang", ["kk", "en"])
def test_region_pack(cursor: Any, engine: KpiEngine, catalogue: Catalogue, registry: Registry, lang: str) -> None:
    briefing, prs = deck_for(cursor, engine, "astana", lang)
    kpis = applicable_kpis(catalogue, registry, BriefingScope("region", "astana"))
    assert_order(prs, kpis)
    assert_charts_equal_engine(prs, cursor, engine, BriefingScope("region", "astana"), briefing.request)
    assert_within_slide(prs)
    # Astana's universities, G3.K4: Q3 (200+100)/(2000+1000) = 10 %, Q4 (400+300)/3000 = 23.3 %;
    # ENU 400/2000 = 20 %, Narikbayev 300/1000 = 30 %; the guide's target for G3.K4 is 20 %.
    text = finding(prs, "G3.K4")
    if lang == "en":
        assert text == (f"G3.K4 rose from {pct('10.0')} in Q3 2025 to {pct('23.3')} in Q4 2025 against a target "
                        f"of {pct('20.0')}; lowest: L.N. Gumilyov Eurasian National University ({pct('20.0')}); "
                        f"highest: Maqsut Narikbayev University ({pct('30.0')}).")
    else:
        assert text.startswith(f"G3.K4 көрсеткіші өсті: {pct('10,0')} (2025 ж. 3-тоқсан) → {pct('23,3')} (2025 ж. 4-тоқсан)")
    slide = next(s for s, k in zip(prs.slides, slide_kinds(prs)) if k == "G3.K4")
    ranking = chart_values(slide, "ranking")
    assert ranking is not None and ranking[1][0] == [30.0, 20.0]


@pytest.mark.parametrize("lang", ["kk", "en"])
def test_entity_pack(cursor: Any, engine: KpiEngine, catalogue: Catalogue, registry: Registry, lang: str) -> None:
    briefing, prs = deck_for(cursor, engine, "akimat_abai", lang)
    kpis = [k.id for k in kpis_for_entity(catalogue, registry, registry.entity_by_code["akimat_abai"])]
    assert_order(prs, kpis)
    # 14 appendix rows fit one slide in English; Kazakh status words and period labels are longer, so the rows
    # wrap and the appendix may run to a second page (every page is checked to stay within the slide below)
    assert slide_kinds(prs)[2 + len(kpis):] == ["appendix"] * (1 if lang == "en" else 2)
    assert_charts_equal_engine(prs, cursor, engine, BriefingScope("entity", "akimat_abai"), briefing.request)
    assert_within_slide(prs)
    for slide, kind in zip(prs.slides, slide_kinds(prs)):
        if kind in kpis:
            assert chart_values(slide, "ranking") is None, "one entity has no children to rank"
    # Abai's G2.K1: 5/10 = 50 % → 12/20 = 60 %. G1.K1: 10/20 = 50 % → 16/20 = 80 %, no target set.
    if lang == "en":
        assert finding(prs, "G2.K1") == (f"G2.K1 rose from {pct('50.0')} in Q3 2025 to {pct('60.0')} in Q4 2025 "
                                         f"against a target of {pct('75.0')}.")
        assert finding(prs, "G1.K1") == (f"G1.K1 rose from {pct('50.0')} in Q3 2025 to {pct('80.0')} in Q4 2025 "
                                         "(no target set).")
    else:
        assert finding(prs, "G2.K1") == (f"G2.K1 көрсеткіші өсті: {pct('50,0')} (2025 ж. 3-тоқсан) → {pct('60,0')} "
                                         f"(2025 ж. 4-тоқсан), нысаналы мәні — {pct('75,0')}.")


def test_compliance_slide_only_with_a_provider(cursor: Any, engine: KpiEngine) -> None:
    calls: list[tuple[str, tuple[str, ...], str]] = []

    def provider(cur: Any, period: str, entities: tuple[str, ...], lang: str) -> list[ComplianceRow]:
        calls.append((period, entities, lang))
        return [ComplianceRow("akimat_abai", "G1.K1.P1.T1", "missing", "no analytical report uploaded"),
                ComplianceRow("akimat_abai", "copied_figures", "flag", "same figures as Q3", kind="flag")]

    _, without = deck_for(cursor, engine, "akimat_abai", "en")
    assert "compliance" not in slide_kinds(without)
    _, prs = deck_for(cursor, engine, "akimat_abai", "en", compliance=provider)
    kinds = slide_kinds(prs)
    assert_order(prs, [k for k in kinds if "." in k], before_appendix=("compliance",))
    assert calls == [(PERIOD, ("akimat_abai",), "en")]
    table = shape_named(prs.slides[len(kinds) - 2], "table").table
    assert [table.cell(1, c).text for c in range(4)] == [
        "Akimat of Abai Region", "G1.K1.P1.T1", "missing", "no analytical report uploaded"]
    assert_within_slide(prs)


def test_long_appendix_splits_across_slides(cursor: Any, engine: KpiEngine) -> None:
    briefing, prs = deck_for(cursor, engine, "national", "en", national_breakdown="entity_type")
    appendix = [s for s, k in zip(prs.slides, slide_kinds(prs)) if k == "appendix"]
    rows = sum(len(shape_named(s, "table").table.rows) - 1 for s in appendix)
    expected = sum(1 + len(b.secondary) + len(b.children) for b in briefing.kpis)
    assert rows == expected and len(appendix) >= 2
    for slide in appendix:  # a KPI's own row never ends a page, apart from its entities
        table = shape_named(slide, "table").table
        assert table.cell(len(table.rows) - 1, 1).text != briefing.scope_name
    assert shape_named(appendix[0], "title:appendix").text_frame.text == f"Data appendix (1/{len(appendix)})"
    # By entity type, G2.K1: akimats (12+9)/(20+10) = 70 %, central bodies 14/20 = 70 %: a tie, said as one.
    assert finding(prs, "G2.K1").endswith(f"; all 2 at {pct('70.0')}.")


def test_restricted_access_sees_only_its_own_entity(cursor: Any, engine: KpiEngine) -> None:
    own = AccessScope(entities=frozenset({"akimat_abai"}), actor="officer")
    request = BriefingRequest(period=PERIOD, scope=BriefingScope("entity", "akimat_abai"), lang="en")
    assert plan_briefing(cursor, request, engine, access=own).kpis
    with pytest.raises(PermissionError):
        plan_briefing(cursor, BriefingRequest(period=PERIOD, scope=BriefingScope("national"), lang="en"), engine,
                      access=own)


def test_scope_names_and_bad_requests(registry: Registry, cursor: Any, engine: KpiEngine) -> None:
    assert resolve_scope("national", registry) == BriefingScope("national")
    assert resolve_scope("university", registry) == BriefingScope("entity_type", "university")
    assert resolve_scope("abai", registry) == BriefingScope("region", "abai")
    assert resolve_scope("akimat_abai", registry) == BriefingScope("entity", "akimat_abai")
    with pytest.raises(BriefingError):
        resolve_scope("atlantis", registry)
    with pytest.raises(BriefingError):
        plan_briefing(cursor, BriefingRequest(PERIOD, BriefingScope("national"), "en", kpis=("G9.K9",)), engine)
    with pytest.raises(BriefingError):  # a university reports no G2.K1
        plan_briefing(cursor, BriefingRequest(PERIOD, BriefingScope("entity", "univ_enu"), "en", kpis=("G2.K1",)),
                      engine)
    assert comparison_period("2025Q4") == "2025Q3"
    assert comparison_period("2025Q1") == "2024Q1", "a first quarter is compared with the first a year before"


def test_long_kazakh_titles_wrap_and_fit(catalogue: Catalogue) -> None:
    longest = max((k.title("kk") for k in catalogue.kpis), key=len)
    size, text = fit_text(longest, 12.333, 1.05, max_pt=26, min_pt=12, bold=True)
    assert text == longest and 14 <= size < 26
    lines = wrap_text(longest, (12.333 - 2 * TEXT_INSET) * 72 * 0.95, size, bold=True)
    assert 2 <= len(lines) <= 4
    size, text = fit_text("СЫБАЙЛАС " * 200, 4, 0.5, max_pt=20, min_pt=10)
    assert size == 10 and text.endswith("…"), "text too long even at the smallest size is shortened"


def test_chart_labels_drop_the_shared_phrase() -> None:
    names = ["Ministry of Finance of the Republic of Kazakhstan", "Ministry of Defence of the Republic of Kazakhstan",
             "Supreme Audit Chamber of the Republic of Kazakhstan"]
    assert drop_shared_words(names) == ["Ministry of Finance", "Ministry of Defence", "Supreme Audit Chamber"]
    assert drop_shared_words(["Abai Region", "Astana"]) == ["Abai Region", "Astana"]


def test_cli_writes_a_deck(loaded: Store, tmp_path: Path) -> None:
    db = loaded.db_path
    loaded.close()  # the command opens the database file in its own process
    out = tmp_path / "pack" / "akimats.pptx"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KPI_DB", None)
    done = subprocess.run(
        [sys.executable, "-m", "kpi", "briefing", "--db", str(db), "--period", PERIOD, "--scope", "akimat",
         "--lang", "en", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False,
    )
    # 2 of 20 akimats filed for 2025Q4: below the 80 % threshold, a pack needs an explicit choice
    assert done.returncode == 2 and "2 of 20" in done.stderr and "--allow-provisional" in done.stderr
    assert not out.exists()
    done = subprocess.run(
        [sys.executable, "-m", "kpi", "briefing", "--db", str(db), "--period", PERIOD, "--scope", "akimat",
         "--lang", "en", "--out", str(out), "--allow-provisional"],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    title = Presentation(str(out)).slides[0]
    shapes = {shape.name: shape.text_frame.text for shape in title.shapes if shape.has_text_frame}
    assert shapes["provisional"].startswith("PROVISIONAL") and "2 of 20 (coverage 10.0" in shapes["returns"]
    assert out.exists() and "Briefing written" in done.stdout
    assert len(Presentation(str(out)).slides) >= 3
    bad = subprocess.run(
        [sys.executable, "-m", "kpi", "briefing", "--db", str(db), "--period", PERIOD, "--scope", "atlantis",
         "--lang", "en", "--out", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=300, check=False,
    )
    assert bad.returncode == 2 and "Unknown scope: atlantis" in bad.stderr


@pytest.mark.skipif(soffice_binary() is None, reason="LibreOffice (soffice) is not installed: "
                    "apt-get install libreoffice-impress to test the PDF route")
def test_pdf_has_a_page_per_slide(cursor: Any, engine: KpiEngine) -> None:
    briefing, _ = deck_for(cursor, engine, "akimat_abai", "kk")
    pdf = pptx_to_pdf(render_pptx(briefing), lang="kk")
    assert pdf.startswith(b"%PDF")
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pages == len(briefing.slides)


def test_briefing_page_previews_and_offers_downloads(loaded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from kpi import auth
    from kpi.auth import User

    auth.ensure_schema(loaded)
    if auth.get_user(loaded, "analyst") is None:  # each run checks its user against the store
        auth.create_user(loaded, "analyst", None, "analyst", display_name="Analyst")
    db = loaded.db_path
    loaded.close()
    monkeypatch.setenv("KPI_DB", str(db))
    st.cache_resource.clear()  # the app's store is a process-wide resource: point it at this database
    st.cache_data.clear()
    try:

        page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        page.session_state["_user"] = User("analyst", "Analyst", "analyst")  # signed in
        page.run()
        page.switch_page("pages/briefing.py").run()  # as the Briefing page's link opens it
        assert not page.exception
        assert page.title[0].value in {t("briefing.page.title", lang) for lang in ("kk", "ru", "en")}
        page.segmented_control(key="brief_lang").set_value("en").run()  # the deck's language, not the page's
        assert not page.expander and page.warning  # 7 of 92 returns: a provisional pack needs an explicit choice
        page.checkbox(key="brief_allow_provisional").check().run()
        labels = [e.label for e in page.expander]
        assert labels[0] == f"1. {t('briefing.deck_title', 'en')}" and len(labels) >= 22
        page.segmented_control(key="brief_level").set_value("entity").run()
        page.selectbox(key="brief_scope_entity").set_value("akimat_abai").run()
        assert not page.exception
        # slide text is drawn inert (every Markdown sign escaped), so compare it as the reader sees it
        assert any("G2.K1 rose from" in re.sub(r"\\(.)", r"\1", i.value) for i in page.info)
        assert [b.label for b in page.button if b.key == "brief_make_pdf"]
    finally:
        st.cache_resource.clear()
        st.cache_data.clear()
