"""Exports carry their context: values rounded as shown (numbers with a number format), headers in the user's
language, a context sheet, a footer on chart images and file names that say what they hold."""

from __future__ import annotations

import csv
import datetime as dt
import io

from openpyxl import load_workbook

from kpi import export, labels, periods, views
from kpi.catalogue import Catalogue, Registry
from kpi.engine import KpiEngine
from kpi.ingest.pipeline import ingest_files
from kpi.store import Store

MADE = dt.datetime(2026, 12, 1, 9, 5, tzinfo=periods.TIME_ZONE)


def loaded(store: Store, catalogue: Catalogue, registry: Registry, make_return) -> KpiEngine:
    # G2.K1 for 2025Q4: 100·(7+2)/(9+3) = 75.0 nationally; Abai alone 100·7/9 = 77.777…; Astana 66.666…
    files = [make_return("akimat_abai", "2025Q4", {"risks_found_d01": 9, "risks_eliminated_d01": 7,
                                                   "nla_drafts_examined": 3, "corruption_factors_found": 2}),
             make_return("akimat_astana", "2025Q4", {"risks_found_d01": 3, "risks_eliminated_d01": 2})]
    filed = {str(f): dt.datetime(2026, 1, 8, 10, 30, tzinfo=dt.UTC) for f in files}  # 15:30 in Almaty
    assert ingest_files(store, catalogue, registry, files, submitted_at=filed).ok
    return KpiEngine(catalogue, registry)


def test_overview_table_is_rounded_as_the_tiles_and_exports_with_its_context(
        store: Store, catalogue: Catalogue, registry: Registry, make_return) -> None:
    engine = loaded(store, catalogue, registry, make_return)
    cur = store.cursor()
    data = views.overview(cur, engine, "2025Q4", lang="ru", within=frozenset({"akimat_abai"}))
    table = views.overview_table(data, "ru")
    rows = {r[table.columns[0]]: r for r in table.to_dict("records")}
    g2k1 = rows["G2.K1"]
    assert g2k1[table.columns[2]] == 77.8  # the tile shows 77,8 %, never 77.7777…
    assert data.tiles[[t.kpi for t in data.tiles].index("G2.K1")].value_text == "77,8\u00a0%"
    assert rows["G1.K2"][table.columns[2]] == 0.67  # a ratio, 2 decimals: 2 factors / 3 drafts
    for tile in data.tiles:  # the same value in the tile and in the table
        value = rows[tile.kpi][table.columns[2]]
        assert labels.fmt(None if value is None or value != value else value, tile.unit, "ru") == tile.value_text

    context = export.ExportContext(lang="ru", kpi="Все показатели", period=labels.period_label("2025Q4", "ru"),
                                   scope="Акимат области Абай", filters="Республика", made_by="analyst",
                                   made_at=MADE, data_version="v42")
    name = labels.export_name("overview", "Акимат области Абай", period="2025Q4", lang="ru")
    assert name == "parasat_overview_4_кв_2025_г_Акимат_области_Абай"
    book = load_workbook(io.BytesIO(export.to_xlsx_bytes(table, name, context=context)))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    assert header == list(table.columns) and views.t("col.value", "ru") in header
    column = header.index(table.columns[2]) + 1
    cell = next(sheet.cell(r, column) for r in range(2, sheet.max_row + 1)
                if sheet.cell(r, 1).value == "G2.K1")
    assert cell.value == 77.8 and isinstance(cell.value, float) and cell.number_format == "0.0"
    ratio = next(sheet.cell(r, column) for r in range(2, sheet.max_row + 1) if sheet.cell(r, 1).value == "G1.K2")
    assert ratio.value == 0.67 and ratio.number_format == "0.00"
    about = dict(book["Сведения"].iter_rows(values_only=True))
    assert about == {
        "Показатель": "Все показатели", "Период": "4 кв. 2025 г.", "Охват": "Акимат области Абай",
        "Фильтры": "Республика", "Выгрузил": "analyst", "Время выгрузки (Алматы)": "01.12.2026 09:05",
        "Версия данных": "v42",
        "Источник": "Parasat: квартальные отчёты по типовому базовому направлению № 4 (нарастающим итогом с начала "
                    "года)"}


def test_chart_data_rounded_with_headers_in_the_language(store: Store, catalogue: Catalogue, registry: Registry,
                                                         make_return) -> None:
    engine = loaded(store, catalogue, registry, make_return)
    cur = store.cursor()
    ranked = views.ranking(cur, engine, "G2.K1", "2025Q4", "entity", lang="kk", within=frozenset(
        {"akimat_abai", "akimat_astana"}))
    frame = labels.export_frame(ranked, views.RANKING_COLUMNS, "kk", unit="percent")
    rows = list(csv.reader(io.StringIO(export.to_csv_bytes(frame).decode("utf-8-sig"))))
    assert rows[0][:3] == [views.t("col.code", "kk"), views.t("col.name", "kk"), views.t("col.value", "kk")]
    assert sorted(r[2] for r in rows[1:]) == ["66.7", "77.8"]
    trend = views.kpi_trend(cur, engine, "G2.K1", ["2025Q3", "2025Q4"], lang="en")
    exported = labels.export_frame(trend, views.TREND_COLUMNS, "en", unit="percent")
    assert list(exported[views.t("col.period", "en")]) == ["Q3 2025", "Q4 2025"]
    assert exported[views.t("col.value", "en")].iloc[1] == 75.0


def test_chart_images_carry_kpi_period_scope_source_and_date() -> None:
    import plotly.graph_objects as go

    figure = go.Figure(go.Bar(x=["a"], y=[1]), layout={"title": {"text": "G2.K1"}, "margin": {"b": 90}})
    context = export.ExportContext(lang="en", kpi="G2.K1 · Risks eliminated", period="Q4 2025",
                                   scope="Akimats · Abai Region", made_at=MADE)
    footer = context.footer()
    assert footer == "Parasat · G2.K1 · Risks eliminated · Q4 2025 · Akimats · Abai Region · made 1 Dec 2026 09:05"
    framed = export.with_footer(figure, footer)
    assert framed["layout"]["annotations"][-1]["text"] == footer and framed["layout"]["margin"]["b"] == 126
    assert "annotations" not in figure.to_dict()["layout"]  # the figure on screen is untouched


def test_tables_write_dates_the_languages_way(store: Store, catalogue: Catalogue, registry: Registry,
                                              make_return) -> None:
    engine = loaded(store, catalogue, registry, make_return)
    cur = store.cursor()
    table = views.submissions(cur, engine, "2025Q4", lang="en", deadline_days=10, today=dt.date(2026, 2, 1),
                              within=frozenset({"akimat_abai", "akimat_astana"}))
    for lang, due, filed in (("kk", "10.01.2026", "08.01.2026 15:30"), ("ru", "10.01.2026", "08.01.2026 15:30"),
                             ("en", "10 Jan 2026", "8 Jan 2026 15:30")):
        shown = labels.export_frame(table, views.SUBMISSION_COLUMNS, lang)
        assert set(shown[views.t("col.deadline", lang)]) == {due}
        assert set(shown[views.t("col.first_submitted", lang)]) == {filed}
