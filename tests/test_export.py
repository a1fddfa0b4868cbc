"""Downloads: CSV and XLSX are safe against formula injection; charts export as PNG and SVG offline."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pandas as pd
import plotly.graph_objects as go
import pytest
from openpyxl import load_workbook

from kpi import export


@pytest.fixture(scope="module", autouse=True)
def _stop_the_export_server() -> Iterator[None]:
    """Chromium is started once for the module and stopped with it (no browser outlives the tests)."""
    yield
    export.stop_image_server()


PAYLOADS = ["=1+1", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\t=evil", "\r=evil", "=HYPERLINK(\"http://x\")"]


def frame() -> pd.DataFrame:
    return pd.DataFrame({
        "name": ["Абай облысының әкімдігі", *PAYLOADS],
        "value": [61.5, *range(len(PAYLOADS))],
        "when": pd.to_datetime(["2025-01-10"] * (len(PAYLOADS) + 1)).tz_localize("UTC"),
    })


@pytest.mark.parametrize("payload", PAYLOADS)
def test_neutralise_prefixes_every_formula_trigger_with_an_apostrophe(payload: str) -> None:
    assert export.neutralise(payload) == "'" + payload


@pytest.mark.parametrize("value", ["Абай", "G2.K1", "61,5 %", "", 12, -3.5, None])
def test_neutralise_leaves_plain_values_alone(value: object) -> None:
    """Numbers stay numbers (a negative number is not text and is safe); ordinary text is untouched."""
    assert export.neutralise(value) == value


def test_safe_frame_neutralises_text_cells_and_column_titles() -> None:
    data = pd.DataFrame({"=title": ["=1", "ok"], "n": [-1, 2]})
    safe = export.safe_frame(data)
    assert list(safe.columns) == ["'=title", "n"]
    assert list(safe["'=title"]) == ["'=1", "ok"]
    assert list(safe["n"]) == [-1, 2]
    assert list(data["=title"]) == ["=1", "ok"], "the original table is not modified"


def test_csv_has_a_bom_keeps_cyrillic_and_no_cell_starts_with_a_trigger() -> None:
    raw = export.to_csv_bytes(frame())
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[1][0] == "Абай облысының әкімдігі"
    for row in rows[1:]:
        assert not row[0].startswith(export.FORMULA_TRIGGERS)
    assert [row[0] for row in rows[2:]] == ["'" + p for p in PAYLOADS]


def test_xlsx_writes_payloads_as_text_never_as_formulas() -> None:
    raw = export.to_xlsx_bytes(frame(), "G2.K1 / ranking")
    workbook = load_workbook(io.BytesIO(raw))
    sheet = workbook.active
    assert sheet is not None
    assert sheet.title == "G2.K1 _ ranking"
    names = [sheet.cell(row=r, column=1) for r in range(2, sheet.max_row + 1)]
    assert names[0].value == "Абай облысының әкімдігі"
    for cell in names[1:]:
        assert cell.data_type == "s", f"{cell.coordinate} would be evaluated"
        assert str(cell.value).startswith("'")
    assert sheet.cell(row=2, column=2).value == 61.5
    assert sheet.cell(row=2, column=3).value.year == 2025


def test_xlsx_of_an_empty_table_still_opens() -> None:
    raw = export.to_xlsx_bytes(pd.DataFrame({"a": []}), "")
    assert load_workbook(io.BytesIO(raw)).active.title == "data"


@pytest.mark.skipif(export.chromium_path() is None, reason="no Chromium on this machine")
def test_png_and_svg_come_from_one_shared_export_server() -> None:
    figure = go.Figure(go.Bar(x=["Ақмола", "Абай"], y=[61.5, 70]), layout_title_text="G2.K1 · Қазақша ә ғ қ ң ө ұ ү һ і")
    png = export.figure_image(figure, "png")
    svg = export.figure_image(figure, "svg")
    assert png.startswith(b"\x89PNG")
    assert b"<svg" in svg[:200] and "Қазақша".encode() in svg
    started = export._state["started"]
    assert export.figure_image(figure, "png").startswith(b"\x89PNG")
    assert export._state["started"] is started is True
    with pytest.raises(ValueError):
        export.figure_image(figure, "eps")


def test_a_failed_start_is_remembered_and_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a Chromium, image export says it is unavailable (the page then points to the modebar)."""
    monkeypatch.setattr(export, "_state", {"started": False, "failed": None})
    monkeypatch.setattr(export, "chromium_path", lambda: None)
    assert export.image_export_available() is False
    with pytest.raises(export.ImageExportUnavailable):
        export.figure_image(go.Figure(), "png")
    assert export._state["failed"] == "no Chromium found"
