"""Downloads of what the dashboard shows: data as CSV and XLSX (safe against formula injection), charts as PNG and SVG.

Static images come from Kaleido 1.x driving a local Chromium. Its server starts once per process and
is shared by every chart; when no Chromium can be started, `image_export_available()` says so and the
page falls back to the Plotly modebar's own download.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

LOG = logging.getLogger(__name__)

# A spreadsheet treats a cell starting with one of these as a formula (or a DDE/command payload).
FORMULA_TRIGGERS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")
IMAGE_FORMATS: tuple[str, ...] = ("png", "svg")
EXPORT_WIDTH = 1200
MIN_EXPORT_HEIGHT = 500
CHROMIUM_CANDIDATES: tuple[str, ...] = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")

_lock = threading.Lock()
_state: dict[str, Any] = {"started": False, "failed": None}


@dataclass(frozen=True)
class ExportContext:
    """What an export holds and where it comes from: written into an XLSX's context sheet and an image's footer."""

    lang: str
    kpi: str = ""  # e.g. "G2.K1 · Share of risks eliminated"
    period: str = ""  # as the language writes it
    scope: str = ""  # Republic, an entity type, a region or one body
    filters: str = ""
    made_by: str = ""
    made_at: dt.datetime | None = None  # Almaty time
    data_version: str = ""
    source: str = "Parasat"

    FIELDS: ClassVar[tuple[str, ...]] = ("kpi", "period", "scope", "filters", "made_by", "made_at", "data_version", "source")

    def rows(self) -> list[tuple[str, str]]:
        """(label, value) pairs in the export's language, the empty ones left out."""
        from kpi.i18n import t
        from kpi.periods import datetime_label

        values = {name: getattr(self, name) for name in self.FIELDS}
        values["made_at"] = datetime_label(self.made_at, self.lang) if self.made_at else ""
        values["source"] = t("context.source_text", self.lang, source=self.source)
        return [(t(f"context.{name}", self.lang), str(value)) for name, value in values.items() if value]

    def footer(self) -> str:
        """One line for a chart image: source, KPI, period, scope and when it was made."""
        from kpi.i18n import t
        from kpi.periods import datetime_label

        made = t("context.made_on", self.lang, when=datetime_label(self.made_at, self.lang)) if self.made_at else ""
        return " · ".join(p for p in (self.source, self.kpi, self.period, self.scope, made) if p)


class ImageExportUnavailable(RuntimeError):
    """Static chart export cannot run on this machine (no Chromium, or Kaleido failed to start)."""


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would run as a formula, prefixed with an apostrophe; anything else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of a table with every text cell (and column title) neutralised against formula injection."""
    safe = frame.copy()
    safe.columns = [neutralise(str(c)) for c in safe.columns]
    for column in safe.columns:
        series = safe[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            safe[column] = series.map(neutralise).astype(object)
    return safe


def _plain_datetimes(frame: pd.DataFrame) -> pd.DataFrame:
    """Time-zone-aware timestamps as naive local ones (Excel has no time zones)."""
    out = frame.copy()
    for column in out.columns:
        if isinstance(out[column].dtype, pd.DatetimeTZDtype):
            out[column] = out[column].dt.tz_localize(None)
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    """The table as UTF-8 CSV with a byte-order mark, so Excel opens Kazakh and Russian text correctly.

    Rows end in CRLF (RFC 4180), which also makes the writer quote any cell holding a bare CR.
    """
    buffer = io.StringIO(newline="")
    safe_frame(frame).to_csv(buffer, index=False, lineterminator="\r\n")
    return buffer.getvalue().encode("utf-8-sig")


def to_xlsx_bytes(frame: pd.DataFrame, sheet_name: str = "data", *, context: ExportContext | None = None) -> bytes:
    """The table as an XLSX sheet; text cells are written as text, never as formulas. Numbers stay numbers,
    shown with the decimals the frame's `attrs["decimals"]` gives each rounded cell (as on screen). With a
    `context`, a second sheet records KPI, period, scope, filters, who made it, when, and the data version."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    safe = _plain_datetimes(safe_frame(frame))
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.title = _sheet_title(sheet_name)
    sheet.append([str(c) for c in safe.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = PatternFill("solid", fgColor="0B3D6B")
    for row in safe.itertuples(index=False):
        sheet.append([_cell_value(v) for v in row])
    places: dict[str, Any] = dict(frame.attrs.get("decimals") or {})
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            if isinstance(cell.value, str):
                cell.data_type = "s"  # never let openpyxl guess a formula from the text
            elif isinstance(cell.value, float):
                column_places = places.get(str(frame.columns[cell.column - 1]))
                if column_places is not None:
                    digits = column_places[cell.row - 2] if isinstance(column_places, list) else int(column_places)
                    cell.number_format = "0" if digits == 0 else "0." + "0" * digits
    for index, column in enumerate(safe.columns, start=1):
        longest = max([len(str(column))] + [len(str(v)) for v in safe[column].head(200)])
        sheet.column_dimensions[get_column_letter(index)].width = min(60, max(10, longest + 2))
    sheet.freeze_panes = "A2"
    if context is not None:
        _context_sheet(workbook, context)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _context_sheet(workbook: Any, context: ExportContext) -> None:
    from openpyxl.styles import Font

    from kpi.i18n import t

    sheet = workbook.create_sheet(_sheet_title(t("context.sheet", context.lang)))
    for label, value in context.rows():
        sheet.append([neutralise(label), neutralise(value)])
        sheet.cell(sheet.max_row, 1).font = Font(bold=True)
        for column in (1, 2):
            sheet.cell(sheet.max_row, column).data_type = "s"
    sheet.column_dimensions["A"].width = 24
    sheet.column_dimensions["B"].width = 90


def _sheet_title(name: str) -> str:
    cleaned = "".join("_" if ch in "[]:*?/\\" else ch for ch in name).strip("'") or "data"
    return cleaned[:31]


def _cell_value(value: Any) -> Any:
    if value is None:
        return None
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime()
    if hasattr(value, "item") and not isinstance(value, str):
        return value.item()
    if isinstance(value, list | tuple | dict | set):
        return neutralise(str(value))
    return value


def chromium_path() -> str | None:
    """The Chromium Kaleido should drive: BROWSER_PATH, else Debian's chromium, else one on PATH."""
    configured = os.environ.get("BROWSER_PATH")
    if configured and Path(configured).exists():
        return configured
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def _start_server() -> None:
    """Start Kaleido's shared export server once; remember a failure so it is not retried on every chart."""
    with _lock:
        if _state["started"]:
            return
        if _state["failed"] is not None:
            raise ImageExportUnavailable(_state["failed"])
        try:
            import kaleido
            import plotly

            browser = chromium_path()
            if browser is None:
                raise ImageExportUnavailable("no Chromium found")
            os.environ.setdefault("BROWSER_PATH", browser)
            plotly_js = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
            # mathjax=False and a local plotly.js: nothing is fetched from a CDN at run time.
            kaleido.start_sync_server(n=1, timeout=60, mathjax=False, plotlyjs=str(plotly_js),
                                      silence_warnings=True)
            _state["started"] = True
        except ImageExportUnavailable as exc:
            _state["failed"] = str(exc)
            raise
        except Exception as exc:  # Kaleido reports a missing or broken browser in several ways
            _state["failed"] = f"{type(exc).__name__}: {exc}"
            LOG.warning("static chart export unavailable: %s", _state["failed"])
            raise ImageExportUnavailable(_state["failed"]) from exc


def image_export_failed() -> bool:
    """Whether starting the export server has already failed in this process (no retry per chart)."""
    return _state["failed"] is not None


def image_export_available() -> bool:
    """Whether PNG/SVG export can run (starts the export server on first call)."""
    try:
        _start_server()
    except ImageExportUnavailable:
        return False
    return True


def with_footer(figure: Any, footer: str) -> dict[str, Any]:
    """A copy of a figure (as a dict) with a footer line under the plot: source, KPI, period, scope, date made."""
    fig_dict = figure.to_dict() if hasattr(figure, "to_dict") else dict(figure)
    layout = dict(fig_dict.get("layout") or {})
    margin = dict(layout.get("margin") or {})
    margin["b"] = int(margin.get("b") or 80) + 36
    layout["margin"] = margin
    notes = list(layout.get("annotations") or [])
    notes.append({"text": footer, "xref": "paper", "yref": "paper", "x": 0, "xanchor": "left",
                  "y": 0, "yanchor": "top", "yshift": -(margin["b"] - 12), "showarrow": False,
                  "font": {"size": 12, "color": "#5B6B7B"}, "name": "export_footer"})
    layout["annotations"] = notes
    return {**fig_dict, "layout": layout}


def figure_image(figure: Any, fmt: str = "png", *, width: int = EXPORT_WIDTH, scale: float = 2,
                 context: ExportContext | None = None) -> bytes:
    """A Plotly figure as PNG or SVG bytes, through the shared Kaleido server; with a `context`, its footer
    says where the chart comes from."""
    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"unsupported image format {fmt!r}")
    _start_server()
    import kaleido

    fig_dict = with_footer(figure, context.footer()) if context is not None else (
        figure.to_dict() if hasattr(figure, "to_dict") else dict(figure))
    layout = fig_dict.get("layout", {})
    height = max(MIN_EXPORT_HEIGHT, int(layout.get("height") or MIN_EXPORT_HEIGHT))
    opts = {"format": fmt, "width": width, "height": height, "scale": scale if fmt == "png" else 1}
    try:
        data = kaleido.calc_fig_sync(fig_dict, opts=opts)
    except Exception as exc:
        raise ImageExportUnavailable(f"{type(exc).__name__}: {exc}") from exc
    return bytes(data) if not isinstance(data, bytes) else data


def stop_image_server() -> None:
    """Stop the shared export server (tests and benchmarks call this at exit)."""
    with _lock:
        if _state["started"]:
            import kaleido

            kaleido.stop_sync_server(silence_warnings=True)
            _state["started"] = False
