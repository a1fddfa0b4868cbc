"""Briefing packs: a PowerPoint deck with native, editable charts (and its PDF) for one period and scope.

A pack is planned first, as plain data (`plan_briefing` → `Briefing`, a list of `Slide`s whose charts and
tables hold the engine's values), then drawn (`render_pptx`) and optionally converted (`pptx_to_pdf`).
The Briefing page previews the plan; the deck draws exactly the same plan. Nothing here imports Streamlit.
"""

from __future__ import annotations

import datetime as dt
import io
import math
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.dml.color import RGBColor
from pptx.enum.chart import XL_CHART_TYPE, XL_LABEL_POSITION, XL_LEGEND_POSITION, XL_MARKER_STYLE
from pptx.enum.dml import MSO_LINE_DASH_STYLE
from pptx.enum.shapes import MSO_SHAPE
from pptx.enum.text import MSO_ANCHOR, MSO_AUTO_SIZE, PP_ALIGN
from pptx.oxml import parse_xml
from pptx.oxml.ns import nsdecls, qn
from pptx.util import Emu, Inches, Pt

from kpi import periods as calendar
from kpi import style
from kpi.catalogue import (
    ENTITY_TYPES,
    LANGUAGES,
    Entity,
    Kpi,
    Registry,
    kpis_for_entity,
    parse_period,
    shift_period,
)
from kpi.engine import KpiEngine, KpiValue
from kpi.i18n import format_number, t
from kpi.labels import drop_shared_words, fmt, metric_label, metric_unit, rounded, sentence_case
from kpi.settings import get_settings
from kpi.store import FULL_ACCESS, AccessScope, Cursor, Store, db

ScopeLevel = Literal["national", "entity_type", "region", "entity"]
SlideKind = Literal["title", "summary", "kpi", "compliance", "appendix"]

# Slide geometry, in inches (16:9).
SLIDE_WIDTH = 40 / 3  # 12 192 000 EMU: the standard 16:9 slide
SLIDE_HEIGHT = 7.5
MARGIN = 0.5
CONTENT_WIDTH = SLIDE_WIDTH - 2 * MARGIN
TABLE_TOP = 1.2
TABLE_BOTTOM = 6.95
TEXT_INSET = 0.05  # left/right inset of every text box and table cell
TEXT_INSET_Y = 0.03
LINE_SPACING = 1.2  # line height as a multiple of the font size, as PowerPoint and LibreOffice lay it out
RANKING_WIDTH = 6.95  # inches, beside the trend chart
RANKING_LABEL_SHARE = 0.36  # of a ranking chart's width, for the names
MAX_BARS = 20  # a ranking with more children shows the lowest and highest half of this many
DECK_FONT = style.FONT_FAMILY.split(",")[0].strip()
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV"}
NUMBER_FORMATS = {"percent": '0.0" %"', "ratio": "0.00", "units": "#,##0"}
# A locale tag in a chart's number format makes LibreOffice (and Excel for dates) write numbers as the
# language does, as `format_number` does in texts: 68,4 % and 1 248 in kk/ru, 68.4 % and 1,248 in en.
NUMBER_LOCALES = {"kk": "[$-43F]", "ru": "[$-419]", "en": ""}


class BriefingError(ValueError):
    """A briefing that cannot be made as asked (unknown scope or KPI, no access, nothing applies)."""


class PdfUnavailable(RuntimeError):
    """The PDF could not be made: LibreOffice is missing or failed. The PowerPoint file is unaffected."""


# --- scope -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BriefingScope:
    """Whom a pack is about: the nation, an entity type, a region or one entity."""

    level: ScopeLevel
    key: str | None = None

    @property
    def code(self) -> str:
        """The scope as the command line names it: `national` or the type, region or entity code."""
        return self.key or "national"


def resolve_scope(code: str, registry: Registry) -> BriefingScope:
    """The scope named `national`, an entity type code, a region code or an entity code."""
    if code == "national":
        return BriefingScope("national")
    if code in ENTITY_TYPES:
        return BriefingScope("entity_type", code)
    if code in registry.region_by_code:
        return BriefingScope("region", code)
    if code in registry.entity_by_code:
        return BriefingScope("entity", code)
    raise BriefingError(f"unknown scope {code!r}")


def scope_entities(scope: BriefingScope, registry: Registry) -> list[Entity]:
    """The registered entities a scope covers (a body with a national remit is in no region)."""
    if scope.level == "national":
        return list(registry.entities)
    if scope.level == "entity_type":
        return registry.of_type(scope.key)
    if scope.level == "region":
        return [e for e in registry.entities if e.region == scope.key]
    return [registry.entity_by_code[str(scope.key)]]


def scope_name(scope: BriefingScope, registry: Registry, lang: str) -> str:
    """The scope's name in a language."""
    if scope.level == "national":
        return t("level.national", lang)
    if scope.level == "entity_type":
        return t(f"type.{scope.key}", lang)
    if scope.level == "region":
        return registry.region_by_code[str(scope.key)].name(lang)
    return registry.entity_by_code[str(scope.key)].name(lang)


def scope_options(registry: Registry, level: str, lang: str) -> list[tuple[str, str]]:
    """Every scope of a level as (code, name), for a chooser."""
    if level == "national":
        return [("national", t("level.national", lang))]
    if level == "entity_type":
        return [(code, t(f"type.{code}", lang)) for code in ENTITY_TYPES]
    if level == "region":
        return [(r.code, r.name(lang)) for r in registry.regions]
    return [(e.code, e.name(lang)) for e in registry.entities]


def comparison_period(period: str) -> str:
    """The period a finding compares with: the previous quarter, or for Q1 the first quarter a year earlier.

    Figures are cumulative from January, so a first quarter set against the previous year's fourth
    would read as a collapse; it is compared with the same quarter a year before instead.
    """
    _, quarter = parse_period(period)
    return shift_period(period, -4 if quarter == 1 else -1)


def period_label(period: str, lang: str, *, short: bool = False) -> str:
    """A period as people write it: `2025 жылғы IV тоқсан`, `IV квартал 2025 года`, `Q4 2025`."""
    return calendar.period_label(period, lang)  # one way to write a period everywhere (issue 11)


# --- the plan: slides as data --------------------------------------------------------------------------


@dataclass(frozen=True)
class BriefingRequest:
    """What a pack is for: period, scope, deck language, its KPIs (empty: all) and trend length."""

    period: str
    scope: BriefingScope
    lang: str = "kk"
    kpis: tuple[str, ...] = ()
    trend_quarters: int = 8
    national_breakdown: str = "region"  # or "entity_type"
    allow_provisional: bool = False  # build a pack whose period is below the coverage threshold, marked as such
    appendix: bool = True  # the data appendix (the page leaves it out unless asked: leadership reads the KPIs)

    def __post_init__(self) -> None:
        parse_period(self.period)
        if self.national_breakdown not in ("region", "entity_type"):
            raise BriefingError(f"a national pack ranks regions or entity types, not {self.national_breakdown!r}")
        if self.lang not in LANGUAGES:
            raise BriefingError(f"unknown language {self.lang!r}")
        if not 2 <= self.trend_quarters <= 20:
            raise BriefingError("trend_quarters must be between 2 and 20")

    def file_name(self, suffix: str = ".pptx") -> str:
        """A file name that says what the pack is: scope, period (the deck language's way) and language."""
        return f"parasat-briefing-{self.scope.code}-{calendar.file_part(self.period, self.lang)}-{self.lang}{suffix}"


@dataclass(frozen=True)
class ComplianceRow:
    """One compliance gap or formalism flag for the deck, as the evidence module (issue 4) reports it."""

    entity: str  # entity code
    item: str  # the catalogue's task id, or a flag's name, as the provider words it
    status: str  # already in the deck's language, e.g. "missing", "late", "copied from the previous quarter"
    detail: str = ""  # already in the deck's language
    kind: Literal["gap", "flag"] = "gap"


# (cursor, period, entity codes in scope, language) → rows; given, the deck gains a compliance slide.
ComplianceProvider = Callable[[Cursor, str, tuple[str, ...], str], Sequence[ComplianceRow]]


@dataclass(frozen=True)
class Series:
    """One chart series: its name, values (None: no point) and colours."""

    name: str
    values: tuple[float | None, ...]
    colour: str
    point_colours: tuple[str, ...] = ()
    dashed: bool = False
    labels: bool = True


@dataclass(frozen=True)
class Chart:
    """A native chart: a ranking (horizontal bars) or a trend (lines), its data taken from the engine."""

    kind: Literal["ranking", "trend"]
    caption: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    number_format: str
    keys: tuple[str, ...] = ()  # what each category is: a child's code, or a period

    def preview_rows(self) -> list[dict[str, object]]:
        """The chart's data as rows (one per category), for a preview table."""
        return [
            {"": category, **{s.name: s.values[i] for s in self.series}}
            for i, category in enumerate(self.categories)
        ]


@dataclass(frozen=True)
class Table:
    """A table laid out for a slide: texts, column widths (inches) and the computed row heights."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    widths: tuple[float, ...]
    numeric: tuple[bool, ...]
    font_pt: float
    row_heights: tuple[float, ...]  # header first
    row_status: tuple[str | None, ...] = ()
    status_column: int | None = None
    status_fill: bool = True  # status cells filled with the status colour (else the text is coloured)
    bold_rows: frozenset[int] = frozenset()

    def preview_rows(self) -> list[dict[str, str]]:
        """The table as rows keyed by the header, for a preview table."""
        return [dict(zip(self.header, row)) for row in self.rows]


@dataclass(frozen=True)
class Slide:
    """One slide of the plan; the renderer draws exactly this."""

    kind: SlideKind
    title: str
    subtitle: str = ""
    lines: tuple[str, ...] = ()
    chips: tuple[tuple[str, str], ...] = ()  # (text, status) on the title slide
    table: Table | None = None
    charts: tuple[Chart, ...] = ()
    finding: str = ""
    badge: str = ""
    status: str | None = None
    kpi: str | None = None
    note: str = ""


@dataclass(frozen=True)
class KpiBrief:
    """One KPI in the pack: its figure for the scope, the comparison, its children and the finding."""

    kpi: Kpi
    current: KpiValue | None
    previous: KpiValue | None
    child_level: str | None
    children: tuple[tuple[str, str, KpiValue | None], ...]  # (code, name, figure), ranked, no data last
    trend: tuple[tuple[str, KpiValue | None], ...]  # (period, figure), oldest first
    finding: str
    secondary: tuple[tuple[str, str, KpiValue | None], ...] = ()  # (label, unit, figure): breakdown and secondary


@dataclass(frozen=True)
class Briefing:
    """A planned pack: the request, the KPIs it covers and its slides, in order."""

    request: BriefingRequest
    scope_name: str
    kpis: tuple[KpiBrief, ...]
    slides: tuple[Slide, ...]
    generated: dt.date = field(default_factory=calendar.today)
    provisional: bool = False  # its period is below the coverage threshold (the title slide says so)


# --- text fitting ------------------------------------------------------------------------------------


_MEASURE_PX = 100


@lru_cache(maxsize=2)
def _measuring_font(bold: bool) -> object | None:
    """DejaVu Sans, the widest of the deck's fallback fonts (and LibreOffice's stand-in for Noto Sans here)."""
    from PIL import ImageFont

    try:
        return ImageFont.truetype("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf", _MEASURE_PX)
    except OSError:
        return None


def text_width(text: str, size_pt: float, *, bold: bool = False) -> float:
    """The width of a line of text in points (measured with DejaVu Sans; estimated without it)."""
    font = _measuring_font(bold)
    if font is None:
        return len(text) * size_pt * (0.68 if bold else 0.62)
    return float(font.getlength(text)) * size_pt / _MEASURE_PX  # type: ignore[attr-defined]


def wrap_text(text: str, width_pt: float, size_pt: float, *, bold: bool = False) -> list[str]:
    """The lines a text breaks into at a width, breaking at spaces (and inside a word too long for a line)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if text_width(candidate, size_pt, bold=bold) <= width_pt:
                line = candidate
                continue
            if line:
                lines.append(line)
            line = word
            while text_width(line, size_pt, bold=bold) > width_pt and len(line) > 1:
                cut = len(line) - 1
                while cut > 1 and text_width(line[:cut], size_pt, bold=bold) > width_pt:
                    cut -= 1
                lines.append(line[:cut])
                line = line[cut:]
        lines.append(line)
    return lines


def fit_text(
    text: str, width_in: float, height_in: float, *, max_pt: float, min_pt: float, bold: bool = False
) -> tuple[float, str]:
    """The largest font size (half-point steps) at which the text fits the box; shortened with … at the smallest."""
    # A little slack: renderers break lines slightly differently than the greedy measure.
    width_pt = (width_in - 2 * TEXT_INSET) * 72 * 0.95
    height_pt = (height_in - 2 * TEXT_INSET_Y) * 72
    size = max_pt
    while size >= min_pt:
        if len(wrap_text(text, width_pt, size, bold=bold)) * size * LINE_SPACING <= height_pt:
            return size, text
        size -= 0.5
    lines = wrap_text(text, width_pt, min_pt, bold=bold)
    keep = max(1, int(height_pt // (min_pt * LINE_SPACING)))
    shortened = " ".join(lines[:keep])
    while len(wrap_text(shortened + "…", width_pt, min_pt, bold=bold)) > keep and len(shortened) > 1:
        shortened = shortened[:-1].rstrip()
    return min_pt, shortened + "…"


def shorten(text: str, width_in: float, size_pt: float) -> str:
    """The text on one line of a width, cut with … when longer (for chart category labels)."""
    width_pt = width_in * 72
    if text_width(text, size_pt) <= width_pt:
        return text
    while len(text) > 1 and text_width(text + "…", size_pt) > width_pt:
        text = text[:-1]
    return text.rstrip() + "…"


def _row_height(cells: Sequence[str], widths: Sequence[float], font_pt: float, *, bold: bool = False) -> float:
    """The height (inches) a table row needs at a font size, its tallest cell deciding."""
    lines = max(
        len(wrap_text(text, (width - 2 * TEXT_INSET) * 72 * 0.95, font_pt, bold=bold))
        for text, width in zip(cells, widths)
    )
    return lines * font_pt * LINE_SPACING / 72 + 2 * TEXT_INSET_Y + 0.02


# --- planning ------------------------------------------------------------------------------------------


def chart_number_format(unit: str, lang: str) -> str:
    """The Excel number format of a chart's values and labels in a language."""
    return NUMBER_LOCALES.get(lang, "") + NUMBER_FORMATS[unit]


def _fmt(value: float | None, lang: str, unit: str) -> str:
    return fmt(value, unit, lang)  # the dashboard's one rounding rule: tile, table, chart, export and slide agree


def _change_text(current: float | None, previous: float | None, lang: str, unit: str) -> str:
    if current is None or previous is None:
        return "—"
    delta = current - previous
    sign = "+" if delta > 0 else "−" if delta < 0 else "±"
    key = "briefing.change_points" if unit == "percent" else "briefing.change_plain"
    magnitude = format_number(abs(delta), lang, decimals=2 if unit == "ratio" else 1,
                              unit="ratio" if unit == "percent" else unit)
    return t(key, lang, sign=sign, value=magnitude)


def _levels_for(scope: BriefingScope) -> list[str]:
    if scope.level == "national":
        return ["national", "region", "entity_type"]
    if scope.level == "entity":
        return ["entity"]
    return [scope.level, "entity"]


def _child_candidates(
    scope: BriefingScope, request: BriefingRequest, registry: Registry, reporters: list[Entity]
) -> list[tuple[str, list[tuple[str, str]]]]:
    """Possible child levels of a KPI, in order of preference, each with its (code, name) children."""
    lang = request.lang
    if scope.level == "entity":
        return []
    if scope.level != "national":
        return [("entity", [(e.code, e.name(lang)) for e in reporters])]
    regions = {e.region for e in reporters}
    types = {e.type for e in reporters}
    by_region = ("region", [(r.code, r.name(lang)) for r in registry.regions if r.code in regions])
    by_type = ("entity_type", [(str(c), t(f"type.{c}", lang)) for c in ENTITY_TYPES if c in types])
    by_entity = ("entity", [(e.code, e.name(lang)) for e in reporters])
    first, second = (by_region, by_type) if request.national_breakdown == "region" else (by_type, by_region)
    return [first, second, by_entity]


def write_finding(
    kpi: Kpi,
    current: KpiValue | None,
    previous: KpiValue | None,
    children: Sequence[tuple[str, str, KpiValue | None]],
    request: BriefingRequest,
) -> str:
    """The auto-written finding: change against the comparison period, the target, lowest and highest child."""
    lang, unit = request.lang, kpi.unit
    period = period_label(request.period, lang, short=True)
    previous_period = period_label(comparison_period(request.period), lang, short=True)
    value = current.value if current else None
    before = previous.value if previous else None
    params = {"kpi": kpi.id, "period": period, "previous_period": previous_period,
              "value": _fmt(value, lang, unit), "previous": _fmt(before, lang, unit)}
    if value is None:
        text = t("briefing.finding.no_data", lang, **params)
    elif before is None:
        text = t("briefing.finding.no_previous", lang, **params)
    elif params["value"] == params["previous"]:
        text = t("briefing.finding.unchanged", lang, **params)
    else:
        text = t("briefing.finding.rose" if value > before else "briefing.finding.fell", lang, **params)
    target = current.target if current else None
    if kpi.direction == "monitoring":
        text += t("briefing.finding.monitoring", lang)
    elif target is not None:
        text += t("briefing.finding.target", lang, target=_fmt(target, lang, unit))
    elif value is not None:
        text += t("briefing.finding.no_target", lang)
    valued = [(name, figure.value) for _, name, figure in children if figure and figure.value is not None]
    if len(valued) >= 2 and len({v for _, v in valued}) == 1:
        text += t("briefing.finding.all_equal", lang, count=len(valued), value=_fmt(valued[0][1], lang, unit))
    elif len(valued) >= 2:
        lowest = min(valued, key=lambda c: (c[1], c[0]))
        highest = min(valued, key=lambda c: (-c[1], c[0]))

        def tied(value: float) -> str:
            # Ties are counted, so "lowest: X (0)" does not hide sixteen others at 0.
            others = sum(1 for _, v in valued if v == value) - 1
            return t("briefing.finding.tied", lang, count=others) if others else ""

        text += t("briefing.finding.extremes", lang, lowest=lowest[0], lowest_value=_fmt(lowest[1], lang, unit),
                  lowest_tied=tied(lowest[1]), highest=highest[0], highest_value=_fmt(highest[1], lang, unit),
                  highest_tied=tied(highest[1]))
    return text + "."


def _ranked(children: list[tuple[str, str, KpiValue | None]]) -> list[tuple[str, str, KpiValue | None]]:
    """Children with a value, highest first (ties by name), then those without one."""
    valued = [c for c in children if c[2] is not None and c[2].value is not None]
    valued.sort(key=lambda c: (-(c[2].value or 0.0), c[1]))  # type: ignore[union-attr]
    return valued + [c for c in children if c not in valued]


def _ranking_chart(brief: KpiBrief, request: BriefingRequest, label_width_in: float) -> Chart | None:
    lang = request.lang
    valued = [c for c in brief.children if c[2] is not None and c[2].value is not None]
    if brief.child_level is None or len(valued) < 2:
        return None
    shown = valued if len(valued) <= MAX_BARS else valued[: MAX_BARS // 2] + valued[-(MAX_BARS // 2):]
    by = t(f"briefing.children.{brief.child_level}", lang)
    period = period_label(request.period, lang, short=True)
    if len(shown) < len(valued):
        caption = t("briefing.chart.ranking_cut", lang, by=by, period=period, shown=MAX_BARS // 2,
                    count=len(valued))
    else:
        caption = t("briefing.chart.ranking", lang, by=by, period=period)
    missing = len(brief.children) - len(valued)
    if missing:
        caption += " · " + t("briefing.chart.without_data", lang, count=missing)
    values = tuple(rounded(figure.value, brief.kpi.unit) for _, _, figure in shown if figure is not None)
    colours = tuple(style.STATUS_COLOURS[figure.status] for _, _, figure in shown if figure is not None)
    return Chart(
        kind="ranking", caption=caption,
        categories=tuple(shorten(name, label_width_in, 9) for name in drop_shared_words([n for _, n, _ in shown])),
        series=(Series(t("briefing.series.value", lang), values, style.PRIMARY, point_colours=colours),),
        number_format=chart_number_format(brief.kpi.unit, lang), keys=tuple(code for code, _, _ in shown),
    )


def _trend_chart(brief: KpiBrief, request: BriefingRequest) -> Chart:
    lang = request.lang
    periods = [p for p, _ in brief.trend]
    values = tuple(rounded(figure.value, brief.kpi.unit) if figure else None for _, figure in brief.trend)
    series = [Series(t("briefing.series.value", lang), values, style.PRIMARY)]
    targets = tuple(rounded(figure.target, brief.kpi.unit) if figure else None for _, figure in brief.trend)
    if brief.kpi.direction != "monitoring" and any(v is not None for v in targets):
        series.append(Series(t("briefing.series.target", lang), targets, style.ACCENT, dashed=True, labels=False))
    return Chart(
        kind="trend", caption=t("briefing.chart.trend", lang, count=len(periods)),
        categories=tuple(period_label(p, lang, short=True) for p in periods), series=tuple(series),
        number_format=chart_number_format(brief.kpi.unit, lang), keys=tuple(periods),
    )


def _check_access(scope: BriefingScope, access: AccessScope, name: str, lang: str) -> None:
    if access.entities is None:
        return
    if scope.level != "entity" or not access.allows(str(scope.key)):
        raise PermissionError(t("briefing.error.forbidden_scope", lang, scope=name))


def _returns_received(cur: Cursor, period: str, entities: Sequence[str]) -> int:
    return db(cur).returns.received(period, entities)


def plan_briefing(
    cur: Cursor,
    request: BriefingRequest,
    engine: KpiEngine,
    *,
    access: AccessScope = FULL_ACCESS,
    compliance: ComplianceProvider | None = None,
    today: dt.date | None = None,
    coverage_threshold: float | None = None,
) -> Briefing:
    """Plan a pack: compute every figure it shows and lay out its slides (a compliance slide only with a provider)."""
    catalogue, registry, lang = engine.catalogue, engine.registry, request.lang
    scope = request.scope
    name = scope_name(scope, registry, lang)
    _check_access(scope, access, name, lang)
    unknown = sorted(set(request.kpis) - set(catalogue.kpi_by_id))
    if unknown:
        raise BriefingError(t("briefing.error.unknown_kpi", lang, kpis=", ".join(unknown)))
    entities = [e for e in scope_entities(scope, registry) if access.allows(e.code)]
    duties = {e.code: {k.id for k in kpis_for_entity(catalogue, registry, e)} for e in entities}
    kpis = [k for k in catalogue.kpis
            if (not request.kpis or k.id in request.kpis) and any(k.id in d for d in duties.values())]
    if not kpis:
        raise BriefingError(t("briefing.error.no_kpis", lang, scope=name))

    trend_periods = [shift_period(request.period, -i) for i in reversed(range(request.trend_quarters))]
    compared = comparison_period(request.period)
    periods = sorted({*trend_periods, compared})
    figures = engine.compute(cur, periods, levels=_levels_for(scope), metrics=[k.id for k in kpis], scope=access)
    index = {(v.metric, v.period, v.level, v.key): v for v in figures}
    # Secondary figures, and breakdowns counted from the optional measures (G2.K5's political officials).
    optional = {m.code for m in catalogue.measures if m.optional}
    extra = {k.id: [f"{k.id}:{f.key}" for f in (*k.breakdown, *k.secondary)
                    if f in k.secondary or set(f.numerator) <= optional] for k in kpis}
    extra_metrics = [m for ms in extra.values() for m in ms]
    if extra_metrics:  # the appendix also gives each KPI's secondary figures for the scope
        for v in engine.compute(cur, [request.period], levels=[scope.level], metrics=extra_metrics, scope=access):
            index[(v.metric, v.period, v.level, v.key)] = v

    briefs = []
    for kpi in kpis:
        def figure(period: str, level: str, key: str | None, kpi_id: str = kpi.id) -> KpiValue | None:
            return index.get((kpi_id, period, level, key))

        reporters = [e for e in entities if kpi.id in duties[e.code]]
        child_level: str | None = None
        children: list[tuple[str, str, KpiValue | None]] = []
        for level, candidates in _child_candidates(scope, request, registry, reporters):
            rows = [(code, child, figure(request.period, level, code)) for code, child in candidates]
            if sum(1 for _, _, f in rows if f is not None and f.value is not None) >= 2:
                child_level, children = level, _ranked(rows)
                break
        current = figure(request.period, scope.level, scope.key)
        previous = figure(compared, scope.level, scope.key)
        trend = tuple((p, figure(p, scope.level, scope.key)) for p in trend_periods)
        secondary = tuple((metric_label(kpi, m, lang), metric_unit(kpi, m), figure(request.period, scope.level,
                                                                                 scope.key, m))
                          for m in extra[kpi.id])
        briefs.append(KpiBrief(kpi, current, previous, child_level, tuple(children), trend,
                               write_finding(kpi, current, previous, children, request), secondary))

    received = _returns_received(cur, request.period, [e.code for e in entities])
    today = today or calendar.today()
    threshold = get_settings().coverage_threshold if coverage_threshold is None else coverage_threshold
    provisional = not entities or received < threshold * len(entities)
    if provisional and not request.allow_provisional:
        raise BriefingError(t("periods.briefing_refused", lang, period=period_label(request.period, lang),
                              received=received, expected=len(entities),
                              threshold=format_number(100 * threshold, lang, unit="percent")))
    slides = [_title_slide(request, name, briefs, received, len(entities), today, provisional=provisional)]
    slides.append(_summary_slide(request, briefs))
    slides += [_kpi_slide(request, name, brief) for brief in briefs]
    if compliance is not None:
        gaps = compliance(cur, request.period, tuple(e.code for e in entities), lang)
        slides += _compliance_slides(request, registry, gaps)
    if request.appendix:
        slides += _appendix_slides(request, name, briefs)
    return Briefing(request, name, tuple(briefs), tuple(slides), today, provisional=provisional)


def _title_slide(request: BriefingRequest, name: str, briefs: Sequence[KpiBrief], received: int, expected: int,
                 today: dt.date, *, provisional: bool = False) -> Slide:
    lang = request.lang
    counts: dict[str, int] = {}
    for brief in briefs:
        status = brief.current.status if brief.current else "no_data"
        counts[status] = counts.get(status, 0) + 1
    chips = tuple((f"{t('status.' + s, lang)}: {counts[s]}", s) for s in style.STATUS_COLOURS if s in counts)
    return Slide(
        kind="title", title=t("briefing.deck_title", lang), subtitle=t("briefing.direction_name", lang),
        lines=(name, period_label(request.period, lang), t("briefing.cumulative_note", lang),
               t("periods.briefing_coverage", lang, received=received, expected=expected,
                 share=format_number(100 * received / expected if expected else None, lang, unit="percent")),
               t("briefing.prepared", lang, date=calendar.date_label(today, lang))),
        chips=chips, badge=t("periods.briefing_provisional", lang) if provisional else "",
    )


SUMMARY_WIDTHS = (0.85, 4.85, 1.3, 1.2, 1.95, 1.3, 0.883)
APPENDIX_WIDTHS = (0.75, 4.2, 1.25, 1.25, 1.15, 1.1, 1.5, 1.133)
COMPLIANCE_WIDTHS = (3.6, 2.2, 1.8, 4.733)


def _layout(header: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[float], font_pt: float,
            bold_rows: frozenset[int] = frozenset()) -> tuple[float, ...]:
    heights = [_row_height(header, widths, font_pt, bold=True)]
    heights += [_row_height(row, widths, font_pt, bold=i in bold_rows) for i, row in enumerate(rows)]
    return tuple(heights)


def _summary_slide(request: BriefingRequest, briefs: Sequence[KpiBrief]) -> Slide:
    lang = request.lang
    header = tuple(t(f"briefing.col.{c}", lang)
                   for c in ("kpi", "indicator", "value", "target", "status", "change", "returns"))
    rows, statuses = [], []
    for brief in briefs:
        current, unit = brief.current, brief.kpi.unit
        status = current.status if current else "no_data"
        rows.append((
            brief.kpi.id, brief.kpi.short(lang), _fmt(current.value if current else None, lang, unit),
            _fmt(current.target if current else None, lang, unit), t(f"status.{status}", lang),
            _change_text(current.value if current else None, brief.previous.value if brief.previous else None,
                         lang, unit),
            f"{current.reporting}/{current.expected}" if current else "—",
        ))
        statuses.append(status)
    # The whole summary must fit one slide: the largest font at which every row fits.
    font_pt = 12.0
    while True:
        heights = _layout(header, rows, SUMMARY_WIDTHS, font_pt)
        if sum(heights) <= TABLE_BOTTOM - TABLE_TOP - 0.3 or font_pt <= 7:
            break
        font_pt -= 0.5
    table = Table(header, tuple(rows), SUMMARY_WIDTHS, (False, False, True, True, False, True, True), font_pt,
                  heights, tuple(statuses), status_column=4)
    comparison = period_label(comparison_period(request.period), lang, short=True)
    return Slide(kind="summary", title=t("briefing.summary_title", lang, count=len(briefs)), table=table,
                 note=t("briefing.summary_note", lang, comparison=comparison))


def _kpi_slide(request: BriefingRequest, name: str, brief: KpiBrief) -> Slide:
    lang, kpi = request.lang, brief.kpi
    trend = _trend_chart(brief, request)
    ranking = _ranking_chart(brief, request, label_width_in=RANKING_WIDTH * RANKING_LABEL_SHARE - 0.25)
    current = brief.current
    status = current.status if current else "no_data"
    subtitle = " · ".join((kpi.id, t(f"unit.{kpi.unit}", lang), t(f"briefing.direction.{kpi.direction}", lang),
                           name, period_label(request.period, lang)))
    badge = f"{_fmt(current.value if current else None, lang, kpi.unit)} · {t('status.' + status, lang)}"
    return Slide(kind="kpi", title=sentence_case(kpi.title(lang)), subtitle=subtitle,
                 charts=(ranking, trend) if ranking else (trend,), finding=brief.finding, badge=badge,
                 status=status, kpi=kpi.id)


def _paginate(title: str, header: tuple[str, ...], rows: Sequence[tuple[str, ...]], widths: tuple[float, ...],
              numeric: tuple[bool, ...], statuses: Sequence[str | None], status_column: int | None,
              bold: set[int], lang: str, kind: SlideKind, note: str = "", font_pt: float = 10) -> list[Slide]:
    """A long table split across as many slides as its measured rows need, the header on each."""
    head = _row_height(header, widths, font_pt, bold=True)
    room = TABLE_BOTTOM - TABLE_TOP - 0.3 - head
    heights = [_row_height(row, widths, font_pt, bold=i in bold) for i, row in enumerate(rows)]
    pages: list[list[int]] = [[]]
    used = 0.0
    for i, height in enumerate(heights):
        needed = height
        j = i
        while j in bold:  # a group's heading row never ends a page: it goes over with its first rows
            ends = next((k for k in range(j + 1, len(rows)) if k in bold), len(rows))
            needed += sum(heights[j + 1: min(ends, j + 3)])
            if ends != j + 1 or ends == len(rows):
                break
            j = ends  # a heading with no rows of its own goes over with the next group's heading and rows
            needed += heights[j]
        if pages[-1] and used + needed > room:
            pages.append([])
            used = 0.0
        pages[-1].append(i)
        used += height
    slides = []
    for number, page in enumerate(pages, start=1):
        page_rows = [rows[i] for i in page]
        page_bold = frozenset(j for j, i in enumerate(page) if i in bold)
        table = Table(header, tuple(page_rows), widths, numeric, font_pt,
                      _layout(header, page_rows, widths, font_pt, page_bold),
                      tuple(statuses[i] for i in page), status_column, status_fill=False, bold_rows=page_bold)
        heading = t("briefing.page_of", lang, title=title, page=number, pages=len(pages)) if len(pages) > 1 else title
        slides.append(Slide(kind=kind, title=heading, table=table, note=note))
    return slides


def _appendix_slides(request: BriefingRequest, name: str, briefs: Sequence[KpiBrief]) -> list[Slide]:
    lang = request.lang
    header = tuple(t(f"briefing.col.{c}", lang) for c in
                   ("kpi", "name", "numerator", "denominator", "value", "target", "status", "returns"))
    rows: list[tuple[str, ...]] = []
    statuses: list[str | None] = []
    bold: set[int] = set()

    def add(kpi: Kpi, label: str, figure: KpiValue | None, unit: str | None = None) -> None:
        unit = unit or kpi.unit
        status = figure.status if figure else "no_data"
        rows.append((
            kpi.id, label,
            format_number(figure.numerator if figure else None, lang),
            format_number(figure.denominator if figure else None, lang),
            _fmt(figure.value if figure else None, lang, unit), _fmt(figure.target if figure else None, lang, unit),
            t(f"status.{status}", lang), f"{figure.reporting}/{figure.expected}" if figure else "—",
        ))
        statuses.append(status)

    for brief in briefs:
        bold.add(len(rows))
        add(brief.kpi, name, brief.current)
        for label, unit, figure in brief.secondary:
            add(brief.kpi, f"↳ {label}", figure, unit)
        for _, child, figure in brief.children:
            add(brief.kpi, child, figure)
    return _paginate(t("briefing.appendix_title", lang), header, rows, APPENDIX_WIDTHS,
                     (False, False, True, True, True, True, False, True), statuses, 6, bold, lang, "appendix",
                     note=t("briefing.appendix_note", lang))


def _compliance_slides(request: BriefingRequest, registry: Registry, found: Sequence[ComplianceRow]) -> list[Slide]:
    lang = request.lang
    title = t("briefing.compliance_title", lang)
    if not found:
        return [Slide(kind="compliance", title=title, lines=(t("briefing.compliance_none", lang),))]
    header = tuple(t(f"briefing.col.{c}", lang) for c in ("entity", "item", "status", "detail"))
    rows = []
    for row in found:
        entity = registry.entity_by_code.get(row.entity)
        rows.append((entity.name(lang) if entity else row.entity, row.item, row.status, row.detail))
    statuses: list[str | None] = ["missed" if r.kind == "gap" else "at_risk" for r in found]
    return _paginate(title, header, rows, COMPLIANCE_WIDTHS, (False,) * 4, statuses, 2, set(), lang,
                     "compliance")


# --- drawing -------------------------------------------------------------------------------------------


def _rgb(colour: str) -> RGBColor:
    return RGBColor.from_string(colour.lstrip("#").upper())


def _status_text_colour(status: str) -> str:
    """A status colour dark enough to read as text on white (the amber and grey ones darkened)."""
    colour = style.STATUS_COLOURS[status]
    if _on_colour(colour) == "#FFFFFF":
        return colour
    r, g, b = (int(colour.lstrip("#")[i:i + 2], 16) * 6 // 10 for i in (0, 2, 4))
    return f"#{r:02X}{g:02X}{b:02X}"


def _on_colour(colour: str) -> str:
    """White or dark text, whichever reads on a fill."""
    r, g, b = (int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
    return style.TEXT if 0.299 * r + 0.587 * g + 0.114 * b > 160 else "#FFFFFF"


def _box(slide: object, x: float, y: float, w: float, h: float, text: str, *, max_pt: float, min_pt: float,
         bold: bool = False, colour: str = style.TEXT, align: PP_ALIGN = PP_ALIGN.LEFT,
         anchor: MSO_ANCHOR = MSO_ANCHOR.TOP, name: str = "", one_line: bool = False) -> object:
    """A text box whose font size is computed so the text fits; it wraps inside the box."""
    fit_height = min(h, max_pt * LINE_SPACING / 72 + 2 * TEXT_INSET_Y) if one_line else h
    size, fitted = fit_text(text, w, fit_height, max_pt=max_pt, min_pt=min_pt, bold=bold)
    shape = slide.shapes.add_textbox(Inches(x), Inches(y), Inches(w), Inches(h))  # type: ignore[attr-defined]
    if name:
        shape.name = name
    frame = shape.text_frame
    frame.word_wrap = True
    frame.auto_size = MSO_AUTO_SIZE.TEXT_TO_FIT_SHAPE
    frame.vertical_anchor = anchor
    frame.margin_left = frame.margin_right = Inches(TEXT_INSET)
    frame.margin_top = frame.margin_bottom = Inches(TEXT_INSET_Y)
    paragraph = frame.paragraphs[0]
    paragraph.alignment = align
    run = paragraph.add_run()
    run.text = fitted
    _font(run.font, size, bold=bold, colour=colour)
    return shape


def _font(font: object, size: float, *, bold: bool = False, colour: str = style.TEXT) -> None:
    font.name = DECK_FONT  # type: ignore[attr-defined]
    font.size = Pt(size)  # type: ignore[attr-defined]
    font.bold = bold  # type: ignore[attr-defined]
    font.color.rgb = _rgb(colour)  # type: ignore[attr-defined]


def _rect(slide: object, x: float, y: float, w: float, h: float, colour: str,
          shape_type: MSO_SHAPE = MSO_SHAPE.RECTANGLE) -> object:
    shape = slide.shapes.add_shape(shape_type, Inches(x), Inches(y), Inches(w), Inches(h))  # type: ignore[attr-defined]
    shape.fill.solid()
    shape.fill.fore_color.rgb = _rgb(colour)
    shape.line.fill.background()
    shape.shadow.inherit = False
    return shape


def _footer(slide: object, briefing: Briefing, number: int, total: int) -> None:
    lang = briefing.request.lang
    text = t("briefing.footer", lang, scope=briefing.scope_name,
             period=period_label(briefing.request.period, lang, short=True))
    _box(slide, MARGIN, 7.1, 10.5, 0.3, text, max_pt=9, min_pt=7, colour=style.MUTED, name="footer")
    _box(slide, SLIDE_WIDTH - MARGIN - 1.5, 7.1, 1.5, 0.3, f"{number}/{total}", max_pt=9, min_pt=7,
         colour=style.MUTED, align=PP_ALIGN.RIGHT, name="page-number")


def _heading(slide: object, title: str, height: float, *, max_pt: float, name: str) -> None:
    _rect(slide, 0, 0, SLIDE_WIDTH, 0.1, style.PRIMARY)
    _box(slide, MARGIN, 0.22, CONTENT_WIDTH, height, title, max_pt=max_pt, min_pt=12, bold=True,
         colour=style.PRIMARY, anchor=MSO_ANCHOR.MIDDLE, name=name)


def _draw_title(slide: object, spec: Slide) -> None:
    _rect(slide, 0, 0, SLIDE_WIDTH, 3.0, style.PRIMARY)
    _rect(slide, 0, 3.0, SLIDE_WIDTH, 0.08, style.ACCENT)
    _box(slide, MARGIN, 0.55, CONTENT_WIDTH, 1.6, spec.title, max_pt=36, min_pt=20, bold=True,
         colour="#FFFFFF", anchor=MSO_ANCHOR.BOTTOM, name="title")
    _box(slide, MARGIN, 2.2, CONTENT_WIDTH, 0.6, spec.subtitle, max_pt=16, min_pt=10, colour="#DCE6F0",
         name="subtitle")
    scope, period, note, returns, prepared = spec.lines
    _box(slide, MARGIN, 3.35, CONTENT_WIDTH, 1.0, scope, max_pt=30, min_pt=16, bold=True, colour=style.PRIMARY,
         name="scope")
    _box(slide, MARGIN, 4.4, CONTENT_WIDTH, 0.5, period, max_pt=22, min_pt=12, colour=style.TEXT, name="period")
    _box(slide, MARGIN, 4.95, CONTENT_WIDTH, 0.4, f"{note} {returns}", max_pt=14, min_pt=9, colour=style.MUTED,
         name="returns")
    gap = 0.15
    chip_w = min(2.9, (CONTENT_WIDTH - gap * (len(spec.chips) - 1)) / max(1, len(spec.chips)))
    x = MARGIN
    for text, status in spec.chips:
        chip = _rect(slide, x, 5.6, chip_w, 0.55, style.STATUS_COLOURS[status], MSO_SHAPE.ROUNDED_RECTANGLE)
        chip.name = f"chip:{status}"  # type: ignore[attr-defined]
        _box(slide, x, 5.6, chip_w, 0.55, text, max_pt=14, min_pt=8, bold=True, one_line=True,
             colour=_on_colour(style.STATUS_COLOURS[status]), align=PP_ALIGN.CENTER, anchor=MSO_ANCHOR.MIDDLE)
        x += chip_w + gap
    _box(slide, MARGIN, 6.5, CONTENT_WIDTH, 0.4, prepared, max_pt=12, min_pt=8, colour=style.MUTED,
         name="prepared")
    if spec.badge:  # a pack below the coverage threshold says so on its first slide
        _rect(slide, MARGIN, 0.18, CONTENT_WIDTH, 0.42, style.STATUS_COLOURS["at_risk"], MSO_SHAPE.ROUNDED_RECTANGLE)
        _box(slide, MARGIN, 0.18, CONTENT_WIDTH, 0.42, spec.badge, max_pt=14, min_pt=8, bold=True, one_line=True,
             colour=_on_colour(style.STATUS_COLOURS["at_risk"]), align=PP_ALIGN.CENTER, anchor=MSO_ANCHOR.MIDDLE,
             name="provisional")


def _draw_table(slide: object, table: Table, top: float) -> None:
    shape = slide.shapes.add_table(  # type: ignore[attr-defined]
        len(table.rows) + 1, len(table.header), Inches(MARGIN), Inches(top), Inches(sum(table.widths)),
        Inches(sum(table.row_heights)),
    )
    shape.name = "table"
    grid = shape.table
    grid.first_row = True
    grid.horz_banding = False
    for i, width in enumerate(table.widths):
        grid.columns[i].width = Inches(width)
    for i, height in enumerate(table.row_heights):
        grid.rows[i].height = Emu(int(Inches(height)))
    for r, cells in enumerate((table.header, *table.rows)):
        row_status = table.row_status[r - 1] if r and table.row_status else None
        for c, text in enumerate(cells):
            cell = grid.cell(r, c)
            fill, colour, bold = "#FFFFFF", style.TEXT, False
            if r == 0:
                fill, colour, bold = style.PRIMARY, "#FFFFFF", True
            elif (r - 1) in table.bold_rows:
                fill, bold = style.BACKGROUND, True
            if r and c == table.status_column and row_status:
                if table.status_fill:
                    fill = style.STATUS_COLOURS[row_status]
                    colour = _on_colour(fill)
                else:
                    colour = _status_text_colour(row_status)
            cell.fill.solid()
            cell.fill.fore_color.rgb = _rgb(fill)
            cell.margin_left = cell.margin_right = Inches(TEXT_INSET)
            cell.margin_top = cell.margin_bottom = Inches(TEXT_INSET_Y)
            cell.vertical_anchor = MSO_ANCHOR.MIDDLE
            frame = cell.text_frame
            frame.word_wrap = True
            paragraph = frame.paragraphs[0]
            paragraph.alignment = PP_ALIGN.RIGHT if table.numeric[c] else PP_ALIGN.LEFT
            run = paragraph.add_run()
            run.text = text
            _font(run.font, table.font_pt, bold=bold, colour=colour)


def _nice_step(top: float, *, whole: bool) -> float:
    """A round gridline step giving about five lines up to `top` (whole numbers for counts)."""
    raw = max(top, 1e-9) / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    return max(1.0, math.ceil(step)) if whole else step


def _plot_area_layout(chart: object, *, x: float, y: float, w: float, h: float) -> None:
    """Place a chart's plot area (the bars, without the axis labels) at fractions of the chart frame."""
    plot_area = chart._chartSpace.chart.plotArea  # type: ignore[attr-defined]
    for old in plot_area.findall(qn("c:layout")):
        plot_area.remove(old)
    layout = parse_xml(
        f'<c:layout {nsdecls("c")}><c:manualLayout><c:layoutTarget val="inner"/><c:xMode val="edge"/>'
        f'<c:yMode val="edge"/><c:x val="{x}"/><c:y val="{y}"/><c:w val="{w}"/><c:h val="{h}"/>'
        "</c:manualLayout></c:layout>"
    )
    plot_area.insert(0, layout)


def _draw_chart(slide: object, chart_spec: Chart, x: float, y: float, w: float, h: float) -> None:
    data = CategoryChartData(number_format=chart_spec.number_format)
    data.categories = list(chart_spec.categories)
    for series in chart_spec.series:
        data.add_series(series.name, list(series.values), number_format=chart_spec.number_format)
    kind = XL_CHART_TYPE.BAR_CLUSTERED if chart_spec.kind == "ranking" else XL_CHART_TYPE.LINE_MARKERS
    frame = slide.shapes.add_chart(kind, Inches(x), Inches(y), Inches(w), Inches(h), data)  # type: ignore[attr-defined]
    frame.name = f"chart:{chart_spec.kind}"
    chart = frame.chart
    chart.font.name = DECK_FONT
    chart.font.size = Pt(9)
    chart.font.color.rgb = _rgb(style.TEXT)
    chart.has_title = False
    plot = chart.plots[0]
    values = [v for s in chart_spec.series for v in s.values if v is not None]
    top = max(values, default=0.0)
    value_axis, category_axis = chart.value_axis, chart.category_axis
    value_axis.minimum_scale = min(0.0, min(values, default=0.0))
    value_axis.tick_labels.number_format = chart_spec.number_format
    value_axis.tick_labels.number_format_is_linked = False
    value_axis.major_gridlines.format.line.color.rgb = _rgb("#E3E8EE")
    category_axis.format.line.color.rgb = _rgb("#B8C2CC")
    category_axis.tick_labels.font.size = Pt(9 if chart_spec.kind == "ranking" else 8)
    if chart_spec.kind == "ranking":
        # A fixed room for the names (shortened to fit it): left to itself, LibreOffice wraps some names
        # and then drops every other label.
        _plot_area_layout(chart, x=RANKING_LABEL_SHARE, y=0.02, w=0.97 - RANKING_LABEL_SHARE, h=0.96)
        plot.gap_width = 45 if len(chart_spec.categories) >= 8 else 120
        plot.vary_by_categories = False
        category_axis.reverse_order = True  # highest first, at the top
        value_axis.visible = False
        value_axis.has_major_gridlines = False
        # Room for the value labels beyond the longest bar.
        value_axis.maximum_scale = top * 1.22 if top > 0 else 1.0
        chart.has_legend = False
    else:
        value_axis.has_major_gridlines = True
        step = _nice_step(top, whole=chart_spec.number_format.endswith("#,##0"))
        value_axis.major_unit = step
        ceiling = step * math.ceil(top * 1.12 / step) if top > 0 else step
        # A share never passes 100 %: an axis to 120 % would suggest it could.
        value_axis.maximum_scale = min(ceiling, 100.0) if chart_spec.number_format.endswith('" %"') else ceiling
        chart.has_legend = len(chart_spec.series) > 1
        if chart.has_legend:
            chart.legend.position = XL_LEGEND_POSITION.BOTTOM
            chart.legend.include_in_layout = False
            chart.legend.font.size = Pt(9)
    for plot_series, series in zip(plot.series, chart_spec.series):
        if chart_spec.kind == "ranking":
            plot_series.format.fill.solid()
            plot_series.format.fill.fore_color.rgb = _rgb(series.colour)
            for i, colour in enumerate(series.point_colours):
                point = plot_series.points[i]
                point.format.fill.solid()
                point.format.fill.fore_color.rgb = _rgb(colour)
        else:
            plot_series.smooth = False
            line = plot_series.format.line
            line.color.rgb = _rgb(series.colour)
            line.width = Pt(2.25)
            if series.dashed:
                line.dash_style = MSO_LINE_DASH_STYLE.DASH
                plot_series.marker.style = XL_MARKER_STYLE.NONE
            else:
                plot_series.marker.style = XL_MARKER_STYLE.CIRCLE
                plot_series.marker.size = 6
                plot_series.marker.format.fill.solid()
                plot_series.marker.format.fill.fore_color.rgb = _rgb(series.colour)
                plot_series.marker.format.line.color.rgb = _rgb(series.colour)
        if series.labels:
            labels = plot_series.data_labels
            labels.show_value = True
            labels.number_format = chart_spec.number_format
            labels.number_format_is_linked = False
            labels.font.size = Pt(8 if chart_spec.kind == "trend" else 9)
            labels.font.color.rgb = _rgb(style.TEXT)
            labels.position = XL_LABEL_POSITION.OUTSIDE_END if chart_spec.kind == "ranking" else XL_LABEL_POSITION.ABOVE


def _draw_kpi(slide: object, spec: Slide) -> None:
    _heading(slide, spec.title, 1.05, max_pt=26, name=f"title:{spec.kpi}")
    _box(slide, MARGIN, 1.32, 8.9, 0.45, spec.subtitle, max_pt=13, min_pt=8, colour=style.MUTED,
         anchor=MSO_ANCHOR.MIDDLE, name="subtitle")
    fill = style.STATUS_COLOURS[spec.status or "no_data"]
    badge = _rect(slide, SLIDE_WIDTH - MARGIN - 3.25, 1.3, 3.25, 0.5, fill, MSO_SHAPE.ROUNDED_RECTANGLE)
    badge.name = f"badge:{spec.status}"  # type: ignore[attr-defined]
    _box(slide, SLIDE_WIDTH - MARGIN - 3.25, 1.3, 3.25, 0.5, spec.badge, max_pt=16, min_pt=9, bold=True,
         colour=_on_colour(fill), align=PP_ALIGN.CENTER, anchor=MSO_ANCHOR.MIDDLE, name="badge")
    frames = [(MARGIN, RANKING_WIDTH), (MARGIN + RANKING_WIDTH + 0.2, CONTENT_WIDTH - RANKING_WIDTH - 0.2)] \
        if len(spec.charts) == 2 else [(MARGIN, CONTENT_WIDTH)]
    for chart_spec, (x, width) in zip(spec.charts, frames):
        _box(slide, x, 1.92, width, 0.4, chart_spec.caption, max_pt=12, min_pt=8, bold=True,
             anchor=MSO_ANCHOR.BOTTOM, name=f"caption:{chart_spec.kind}")
        _draw_chart(slide, chart_spec, x, 2.35, width, 3.55)
    _rect(slide, MARGIN, 6.0, CONTENT_WIDTH, 1.0, style.BACKGROUND)
    _rect(slide, MARGIN, 6.0, 0.08, 1.0, style.ACCENT)
    _box(slide, MARGIN + 0.15, 6.0, CONTENT_WIDTH - 0.2, 1.0, spec.finding, max_pt=16, min_pt=9,
         anchor=MSO_ANCHOR.MIDDLE, name="finding")


def _draw_table_slide(slide: object, spec: Slide) -> None:
    _heading(slide, spec.title, 0.8, max_pt=24, name=f"title:{spec.kind}")
    if spec.table is not None:
        _draw_table(slide, spec.table, TABLE_TOP)
        bottom = TABLE_TOP + sum(spec.table.row_heights)
        if spec.note:
            _box(slide, MARGIN, min(bottom + 0.05, TABLE_BOTTOM - 0.3), CONTENT_WIDTH, 0.3, spec.note,
                 max_pt=9, min_pt=7, colour=style.MUTED, name="note")
    for i, line in enumerate(spec.lines):
        _box(slide, MARGIN, TABLE_TOP + 0.6 * i, CONTENT_WIDTH, 0.5, line, max_pt=18, min_pt=10, name="line")


def render_pptx(briefing: Briefing) -> bytes:
    """Draw a planned pack as a 16:9 PowerPoint deck with native charts; returns the file's bytes."""
    deck = Presentation()
    deck.slide_width = Emu(12192000)
    deck.slide_height = Inches(SLIDE_HEIGHT)
    deck.core_properties.title = f"{briefing.slides[0].title}: {briefing.scope_name}"
    deck.core_properties.author = "Parasat"
    deck.core_properties.language = briefing.request.lang
    blank = deck.slide_layouts[6]
    total = len(briefing.slides)
    for number, spec in enumerate(briefing.slides, start=1):
        slide = deck.slides.add_slide(blank)
        if spec.kind == "title":
            _draw_title(slide, spec)
        elif spec.kind == "kpi":
            _draw_kpi(slide, spec)
        else:
            _draw_table_slide(slide, spec)
        if spec.kind != "title":
            _footer(slide, briefing, number, total)
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


# --- PDF -------------------------------------------------------------------------------------------------


def soffice_binary() -> str | None:
    """LibreOffice's command, when installed."""
    return shutil.which("soffice") or shutil.which("libreoffice")


def pptx_to_pdf(pptx: bytes, *, lang: str = "kk", timeout: float = 240) -> bytes:
    """The deck converted to PDF by LibreOffice headless; PdfUnavailable when it is missing or fails."""
    binary = soffice_binary()
    if binary is None:
        raise PdfUnavailable(t("briefing.error.soffice_missing", lang))
    with tempfile.TemporaryDirectory(prefix="parasat-pdf-") as tmp:
        folder = Path(tmp)
        source = folder / "deck.pptx"
        source.write_bytes(pptx)
        # A private profile: concurrent conversions (or a user's open LibreOffice) would otherwise lock it.
        profile = (folder / "profile").as_uri()
        command = [binary, f"-env:UserInstallation={profile}", "--headless", "--norestore", "--nolockcheck",
                   "--convert-to", "pdf", "--outdir", str(folder), str(source)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfUnavailable(t("briefing.error.pdf_failed", lang, detail=str(exc))) from exc
        pdf = folder / "deck.pdf"
        if not pdf.exists():
            detail = (done.stderr or done.stdout or f"exit {done.returncode}").strip()[-300:]
            raise PdfUnavailable(t("briefing.error.pdf_failed", lang, detail=detail))
        return pdf.read_bytes()


# --- one call for the app and the command line ----------------------------------------------------------


def build_briefing(
    store: Store,
    request: BriefingRequest,
    *,
    engine: KpiEngine | None = None,
    access: AccessScope = FULL_ACCESS,
    compliance: ComplianceProvider | None = None,
) -> tuple[Briefing, bytes]:
    """Plan and draw a pack over a store: the plan (for a preview) and the PowerPoint bytes."""
    if engine is None:
        from kpi.service import engine as default_engine

        engine = default_engine()
    cur = store.cursor()
    try:
        briefing = plan_briefing(cur, request, engine, access=access, compliance=compliance)
    finally:
        cur.close()
    return briefing, render_pptx(briefing)


def write_briefing(
    store: Store,
    request: BriefingRequest,
    out: Path,
    *,
    pdf: bool = False,
    access: AccessScope = FULL_ACCESS,
    compliance: ComplianceProvider | None = None,
) -> tuple[Briefing, Path, Path | None]:
    """Write the deck (and, asked for, its PDF beside it); PdfUnavailable after the deck is written."""
    briefing, deck = build_briefing(store, request, access=access, compliance=compliance)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(deck)
    if not pdf:
        return briefing, out, None
    pdf_path = out.with_suffix(".pdf")
    pdf_path.write_bytes(pptx_to_pdf(deck, lang=request.lang))
    return briefing, out, pdf_path
