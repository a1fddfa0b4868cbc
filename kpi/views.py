"""What each dashboard page shows: tiles, tables and Plotly figures shaped from the engine and the store.

No Streamlit here. Pages read their filters, call one of these functions and draw what it returns, so
every figure a page shows can be tested without the Streamlit runtime.
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from kpi import style
from kpi.catalogue import (
    ENTITY_TYPES,
    Catalogue,
    Entity,
    Kpi,
    Registry,
    kpis_for_entity,
    previous_quarter_of_year,
    shift_period,
    submission_deadline,
)
from kpi.catalogue import quarter_end as quarter_end  # re-exported: the pages and their tests use it
from kpi.engine import KpiEngine, KpiValue
from kpi.i18n import format_number, normalise_language, t
from kpi.settings import AGENCY_TIME_ZONE
from kpi.store import FULL_ACCESS, AccessScope, Cursor, db

HISTORY_QUARTERS = 8
NOT_APPLICABLE = "not_applicable"


# --------------------------------------------------------------------------- filters


@dataclass(frozen=True)
class Filters:
    """The view chosen in the sidebar (period, entity type, region, language); it travels in the URL."""

    period: str | None = None
    entity_type: str | None = None
    region: str | None = None
    lang: str = "kk"

    @classmethod
    def from_query(cls, params: Mapping[str, Any], *, periods: Sequence[str], registry: Registry,
                   default_period: str | None = None) -> Filters:
        """Filters from URL query parameters; anything unknown falls back to its default (the safe default
        period when given, else the latest; all types and regions)."""

        def first(name: str) -> str | None:
            value = params.get(name)
            if isinstance(value, list | tuple):
                value = value[-1] if value else None
            return str(value) if value else None

        period = first("period")
        if period not in periods:
            period = default_period if default_period in periods else periods[-1] if periods else None
        entity_type = first("type")
        region = first("region")
        return cls(
            period=period,
            entity_type=entity_type if entity_type in ENTITY_TYPES else None,
            region=region if region in registry.region_by_code else None,
            lang=normalise_language(first("lang")),
        )

    def to_query(self) -> dict[str, str]:
        """The URL query parameters that reopen this view."""
        query = {"lang": self.lang}
        for name, value in (("period", self.period), ("type", self.entity_type), ("region", self.region)):
            if value:
                query[name] = value
        return query

    def population(self, registry: Registry) -> frozenset[str] | None:
        """The entities the filters keep (None when they keep every entity)."""
        return population(registry, entity_type=self.entity_type, region=self.region)


def population(registry: Registry, *, entity_type: str | None = None, region: str | None = None) -> frozenset[str] | None:
    """Codes of the entities of a type and region; None when neither is chosen."""
    if entity_type is None and region is None:
        return None
    return frozenset(
        e.code for e in registry.entities
        if (entity_type is None or e.type == entity_type) and (region is None or e.region == region)
    )


def visible_entities(registry: Registry, *, scope: AccessScope = FULL_ACCESS,
                     within: frozenset[str] | None = None) -> list[Entity]:
    """The registered entities a caller may see, inside the filtered population."""
    return [e for e in registry.entities if scope.allows(e.code) and (within is None or e.code in within)]


def available_periods(cur: Cursor, *, scope: AccessScope = FULL_ACCESS) -> list[str]:
    """Periods with at least one accepted return the caller may see, oldest first."""
    return db(cur).returns.periods(None if scope.entities is None else sorted(scope.entities))


def history_periods(period: str, quarters: int = HISTORY_QUARTERS) -> list[str]:
    """The `quarters` periods ending with `period`, oldest first."""
    return [shift_period(period, -i) for i in range(quarters - 1, -1, -1)]


# --------------------------------------------------------------------------- labels and numbers


def decimals_for(unit: str) -> int:
    """Decimals a figure in this unit is shown with."""
    return {"percent": 1, "ratio": 2}.get(unit, 0)


def fmt(value: float | None, unit: str, lang: str) -> str:
    """A figure as the language writes it, with % for shares."""
    return format_number(value, lang, decimals=decimals_for(unit), unit=unit)


def fmt_delta(delta: float | None, unit: str, lang: str) -> str | None:
    """A change with its sign ('+2,3 п.т.'); percentage changes are in percentage points. None when unknown."""
    if delta is None:
        return None
    rounded = round(delta, decimals_for(unit))
    sign = "+" if rounded > 0 else "-" if rounded < 0 else "±"
    # format_number keeps decimals for a 'ratio'; a change in percent is shown with them too
    number = format_number(abs(rounded), lang, decimals=decimals_for(unit),
                           unit="ratio" if unit in ("ratio", "percent") else "")
    if unit == "percent":
        return f"{sign}{number}\u00a0{t('unit.pp', lang)}"
    return f"{sign}{number}"


def unit_label(unit: str, lang: str) -> str:
    """The unit as an axis or column title shows it."""
    return t(f"unit.{unit}", lang)


def date_label(day: Any, lang: str) -> str:
    """A date as the language writes it ('31.12.2025', '31 Dec 2025'); see `kpi.periods`."""
    from kpi import periods as calendar

    return calendar.date_label(day, lang)


def period_label(period: str, lang: str) -> str:
    """A period in words: '2025 ж. 4-тоқсан', '4 кв. 2025', 'Q4 2025'."""
    from kpi import periods as calendar

    return calendar.period_label(period, lang)


def type_label(entity_type: str, lang: str) -> str:
    """The name of an entity type."""
    return t(f"type.{entity_type}", lang)


def region_label(registry: Registry, code: str | None, lang: str) -> str:
    """The name of a region, or 'national remit' for an entity without one."""
    if code is None:
        return t("app.national_remit", lang)
    region = registry.region_by_code.get(code)
    return region.name(lang) if region else code


def entity_label(registry: Registry, code: str, lang: str) -> str:
    """The name of an entity (its code when unknown)."""
    entity = registry.entity_by_code.get(code)
    return entity.name(lang) if entity else code


def key_label(registry: Registry, level: str, key: str | None, lang: str) -> str:
    """The name of a key at a level: the nation, an entity type, a region or an entity."""
    if level == "national" or key is None:
        return t("level.national", lang)
    if level == "entity_type":
        return type_label(key, lang)
    if level == "region":
        return region_label(registry, key, lang)
    return entity_label(registry, key, lang)


def status_text(status: str, lang: str) -> str:
    """The status in words."""
    return t("app.not_applicable", lang) if status == NOT_APPLICABLE else t(f"status.{status}", lang)


def status_colour(status: str) -> str:
    """The colour a status is drawn in."""
    return style.STATUS_COLOURS.get(status, style.STATUS_COLOURS["no_data"])


def delta_colour(kpi: Kpi) -> str:
    """How a change is coloured: a rise is good, bad (for 'lower is better') or neutral (monitoring)."""
    return {"higher": "normal", "lower": "inverse"}.get(kpi.direction, "off")


def kpi_label(kpi: Kpi, lang: str) -> str:
    """'G2.K1 · Corruption risks eliminated'."""
    return f"{kpi.id} · {kpi.short(lang)}"


def metric_unit(kpi: Kpi, metric: str) -> str:
    """The unit of a KPI's main, breakdown or secondary metric."""
    if metric == kpi.id:
        return kpi.unit
    key = metric.split(":", 1)[1]
    formula = next(f for f in (*kpi.breakdown, *kpi.secondary) if f.key == key)
    return "percent" if formula.scale == 100 else "units"


def metric_label(kpi: Kpi, metric: str, lang: str) -> str:
    """The name of a KPI's main metric, or of a breakdown or secondary one (a risk direction, an offence type)."""
    if metric == kpi.id:
        return kpi.short(lang)
    key = metric.split(":", 1)[1]
    formula = next(f for f in (*kpi.breakdown, *kpi.secondary) if f.key == key)
    return formula.label(lang) if formula.label is not None else key


# Abbreviations that stay in capitals when a title in capitals is put in sentence case.
ACRONYMS = frozenset({"ISO", "ҚР", "СТ", "НҚА", "ЖОО", "ОМО", "ЖАО", "ҚІЖК", "ЖБАЖ", "ЦДИАӨМ", "KPI", "РК", "НПА",
                      "УПК", "ИСУП", "МЦРИАП", "ЦГО", "МИО"})
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def sentence_case(title: str) -> str:
    """A title in sentence case (the guide writes group and KPI titles in capitals, abbreviations kept:
    'ISO 37001 НЕМЕСЕ ҚР СТ 3049-2017 ... ЖОО-ЛАРДЫҢ' → 'ISO 37001 немесе ҚР СТ 3049-2017 ... ЖОО-лардың')."""
    letters = [ch for ch in title if ch.isalpha()]
    if not letters or sum(ch.isupper() for ch in letters) < 0.5 * len(letters):
        return title
    lowered = _WORD.sub(lambda m: m.group(0) if m.group(0).upper() in ACRONYMS else m.group(0).lower(), title)
    first = next((i for i, ch in enumerate(lowered) if ch.isalpha()), 0)
    return lowered[:first] + lowered[first].upper() + lowered[first + 1:]


def wrap(text: str, width: int = 70) -> str:
    """A long title broken into lines for a Plotly title (Kazakh titles run long)."""
    return "<br>".join(textwrap.wrap(text, width=width, break_long_words=False)) or text


def shorten(text: str, width: int = 44) -> str:
    """A label cut to fit a chart axis."""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def drop_shared_words(names: Sequence[str]) -> list[str]:
    """Names without the longest phrase (two words or more) most of them start or end with.

    Chart labels are short: "of the Republic of Kazakhstan" says nothing there and pushes out what
    tells the bars apart. Only one phrase goes, so "Ministry of" stays when the country's name went.
    """
    split = [n.split(" ") for n in names]

    def edge(words: list[str], size: int, from_end: bool) -> tuple[str, ...]:
        return tuple(words[-size:] if from_end else words[:size])

    best: tuple[str, ...] = ()
    best_from_end = False
    for from_end in (True, False):
        for words in split:
            for size in range(2, len(words)):
                phrase = edge(words, size, from_end)
                shared = sum(1 for w in split if len(w) > size and edge(w, size, from_end) == phrase)
                if shared >= 2 and shared * 2 >= len(split) and len(" ".join(phrase)) > len(" ".join(best)):
                    best, best_from_end = phrase, from_end
    size = len(best)
    return [" ".join((w[:-size] if best_from_end else w[size:])
                     if best and len(w) > size and edge(w, size, best_from_end) == best else w) for w in split]


# --------------------------------------------------------------------------- drill-down population


def drill_entities(engine: KpiEngine, kpi_id: str, *, scope: AccessScope = FULL_ACCESS,
                   within: frozenset[str] | None = None) -> list[Entity]:
    """The entities a KPI's drill-down runs over: those reporting it that the caller may see and the filters keep."""
    return [e for e in reporting_entities(engine.catalogue, engine.registry, kpi_id)
            if scope.allows(e.code) and (within is None or e.code in within)]


def node_label(registry: Registry, path: Sequence[Any], lang: str, *, root: str | None = None) -> str:
    """The name of the node a drill path ends at (the root's own label at the top)."""
    if not path:
        return root or t("level.national", lang)
    step = path[-1]
    return key_label(registry, step.level, step.key, lang)


def filters_label(filters: Filters, registry: Registry, scope: AccessScope = FULL_ACCESS) -> str:
    """What the figures cover, in words: 'National', 'Akimats · Almaty Region', or for a user who sees only some
    entities (an officer) those entities by name, never the Republic."""
    lang = filters.lang
    if scope.entities is not None:
        kept = filters.population(registry)
        mine = [e for e in visible_entities(registry, scope=scope, within=kept)]
        if not mine:
            return t("periods.scope_none", lang)
        if len(mine) <= 3:
            return "; ".join(e.name(lang) for e in mine)
        return t("periods.scope_entities", lang, count=len(mine))
    parts = []
    if filters.entity_type:
        parts.append(type_label(filters.entity_type, lang))
    if filters.region:
        parts.append(region_label(registry, filters.region, lang))
    return " · ".join(parts) if parts else t("level.national", lang)


# --------------------------------------------------------------------------- headline values


def reporting_entities(catalogue: Catalogue, registry: Registry, kpi_id: str) -> list[Entity]:
    """The entities that report a KPI."""
    # what an entity reports depends only on its type and named extras: ask once per such pair
    reports: dict[tuple[str, tuple[str, ...]], bool] = {}
    out = []
    for entity in registry.entities:
        duty = (entity.type, entity.extra_kpis)
        if duty not in reports:
            reports[duty] = any(k.id == kpi_id for k in kpis_for_entity(catalogue, registry, entity))
        if reports[duty]:
            out.append(entity)
    return out


def headline(
    cur: Cursor, engine: KpiEngine, periods: Sequence[str], metrics: Sequence[str], *,
    scope: AccessScope = FULL_ACCESS, within: frozenset[str] | None = None,
) -> dict[tuple[str, str], KpiValue]:
    """The aggregate of the population (the nation, or what the filters keep) by (metric, period).

    A reader restricted to some entities sees no aggregates; when they can see exactly one entity of
    the population, that entity's own figures stand in for the headline.
    """
    if scope.entities is None:
        values = engine.compute(cur, periods, levels=["national"], metrics=metrics, scope=scope, within=within)
    else:
        allowed = scope.entities if within is None else scope.entities & within
        if len(allowed) != 1:
            return {}
        values = engine.compute(cur, periods, levels=["entity"], metrics=metrics, scope=scope, within=allowed)
    return {(v.metric, v.period): v for v in values}


# --------------------------------------------------------------------------- overview


@dataclass(frozen=True)
class KpiTile:
    """One KPI on the overview: latest value, target, changes, trend and status."""

    kpi: str
    group: str
    title: str
    full_title: str
    unit: str
    value: float | None
    value_text: str
    target: float | None
    target_text: str
    previous: float | None
    year_ago: float | None
    qoq_text: str | None
    yoy_text: str | None
    status: str
    status_text: str
    colour: str
    delta_colour: str
    trend_periods: tuple[str, ...]
    trend: tuple[float | None, ...]
    reporting: int
    expected: int

    @property
    def applicable(self) -> bool:
        return self.status != NOT_APPLICABLE


@dataclass(frozen=True)
class GroupTiles:
    """A project group and the tiles of its KPIs."""

    group: str
    number: int
    title: str
    tiles: tuple[KpiTile, ...]


@dataclass(frozen=True)
class Coverage:
    """Returns received of returns expected for a period."""

    received: int
    expected: int

    @property
    def share(self) -> float | None:
        return None if self.expected == 0 else 100 * self.received / self.expected


@dataclass(frozen=True)
class Overview:
    """The overview page: every KPI's tile by group, and submission coverage."""

    period: str
    groups: tuple[GroupTiles, ...]
    coverage: Coverage

    @property
    def tiles(self) -> list[KpiTile]:
        return [tile for group in self.groups for tile in group.tiles]


def kpi_tile(kpi: Kpi, period: str, values: Mapping[tuple[str, str], KpiValue], trend_periods: Sequence[str],
             lang: str) -> KpiTile:
    """The tile of one KPI from the headline values of its recent periods."""
    current = values.get((kpi.id, period))
    previous_quarter = previous_quarter_of_year(period)
    previous = values.get((kpi.id, previous_quarter)) if previous_quarter else None
    year_ago = values.get((kpi.id, shift_period(period, -4)))
    value = current.value if current else None
    prev_value = previous.value if previous else None
    year_value = year_ago.value if year_ago else None
    target = current.target if current else None
    status = current.status if current and current.expected else NOT_APPLICABLE
    trend = tuple(values[(kpi.id, p)].value if (kpi.id, p) in values else None for p in trend_periods)
    return KpiTile(
        kpi=kpi.id, group=kpi.group_id, title=kpi.short(lang), full_title=kpi.title(lang), unit=kpi.unit,
        value=value, value_text=fmt(value, kpi.unit, lang), target=target,
        target_text=fmt(target, kpi.unit, lang) if target is not None else t("status.no_target", lang),
        previous=prev_value, year_ago=year_value,
        qoq_text=fmt_delta(None if value is None or prev_value is None else value - prev_value, kpi.unit, lang),
        yoy_text=fmt_delta(None if value is None or year_value is None else value - year_value, kpi.unit, lang),
        status=status, status_text=status_text(status, lang), colour=status_colour(status),
        delta_colour=delta_colour(kpi), trend_periods=tuple(trend_periods), trend=trend,
        reporting=current.reporting if current else 0, expected=current.expected if current else 0,
    )


def coverage(cur: Cursor, registry: Registry, period: str, *,
             scope: AccessScope = FULL_ACCESS, within: frozenset[str] | None = None) -> Coverage:
    """How many of the expected entities have a return for the period."""
    expected = [e.code for e in visible_entities(registry, scope=scope, within=within)]
    return Coverage(received=db(cur).returns.received(period, expected), expected=len(expected))


def overview(cur: Cursor, engine: KpiEngine, period: str, *, lang: str,
             scope: AccessScope = FULL_ACCESS, within: frozenset[str] | None = None) -> Overview:
    """Every KPI's tile, grouped by project group, for the population and period."""
    catalogue = engine.catalogue
    trend_periods = history_periods(period)
    values = headline(cur, engine, trend_periods, [k.id for k in catalogue.kpis], scope=scope, within=within)
    groups = tuple(
        GroupTiles(group.id, group.number, group.title(lang),
                   tuple(kpi_tile(kpi, period, values, trend_periods, lang) for kpi in group.kpis))
        for group in catalogue.groups
    )
    return Overview(period, groups, coverage(cur, engine.registry, period, scope=scope, within=within))


def overview_table(data: Overview, lang: str) -> pd.DataFrame:
    """The overview's tiles as a table (for export), values rounded as the tiles show them."""
    frame = pd.DataFrame([
        {
            t("col.kpi", lang): tile.kpi, t("col.title", lang): tile.title,
            t("col.value", lang): rounded(tile.value, tile.unit),
            t("col.unit", lang): unit_label(tile.unit, lang), t("col.target", lang): rounded(tile.target, tile.unit),
            t("col.qoq", lang): tile.qoq_text, t("col.yoy", lang): tile.yoy_text,
            t("col.status", lang): tile.status_text, t("col.reporting", lang): tile.reporting,
            t("col.expected", lang): tile.expected,
        }
        for tile in data.tiles
    ])
    for column in ("col.value", "col.target"):
        frame[t(column, lang)] = frame[t(column, lang)].astype("Float64")
    places = [decimals_for(tile.unit) for tile in data.tiles]
    frame.attrs["decimals"] = {t("col.value", lang): places, t("col.target", lang): places}
    return frame


# --------------------------------------------------------------------------- KPI detail: trend, ranking, breakdown


def kpi_trend(cur: Cursor, engine: KpiEngine, metric: str, periods: Sequence[str], *,
              lang: str, scope: AccessScope = FULL_ACCESS, within: frozenset[str] | None = None) -> pd.DataFrame:
    """A metric's headline value, target and status over periods (one row per period)."""
    values = headline(cur, engine, periods, [metric], scope=scope, within=within)
    rows = []
    for period in periods:
        v = values.get((metric, period))
        rows.append({
            "period": period, "period_label": period_label(period, lang),
            "value": v.value if v else None, "target": v.target if v else None,
            "status": v.status if v else "no_data", "numerator": v.numerator if v else None,
            "denominator": v.denominator if v else None, "reporting": v.reporting if v else 0,
            "expected": v.expected if v else 0,
        })
    return pd.DataFrame(rows, columns=["period", "period_label", "value", "target", "status", "numerator",
                                       "denominator", "reporting", "expected"])


# The data behind each chart as exported: column → interface text key.
TREND_COLUMNS = {"period_label": "col.period", "value": "col.value", "target": "col.target", "status": "col.status",
                 "numerator": "col.numerator", "denominator": "col.denominator", "reporting": "col.reporting",
                 "expected": "col.expected"}
RANKING_COLUMNS = {"key": "col.code", "label": "col.name", "value": "col.value", "target": "col.target",
                   "status_text": "col.status", "numerator": "col.numerator", "denominator": "col.denominator",
                   "reporting": "col.reporting", "expected": "col.expected"}
BREAKDOWN_COLUMNS = {"metric": "col.code", "label": "col.name", "unit": "col.unit", "value": "col.value",
                     "numerator": "col.numerator", "denominator": "col.denominator", "target": "col.target"}
REGION_COLUMNS = {"region": "col.code", "name": "col.name", "value": "col.value"}

_RANK_COLUMNS = ["key", "label", "value", "value_text", "target", "status", "status_text", "colour",
                 "numerator", "denominator", "reporting", "expected"]


def ranking(cur: Cursor, engine: KpiEngine, metric: str, period: str, level: str, *,
            lang: str, scope: AccessScope = FULL_ACCESS, within: frozenset[str] | None = None) -> pd.DataFrame:
    """Entity types, regions or entities ranked on a metric, best first; those without data last."""
    kpi = engine.catalogue.kpi_by_id[metric.split(":", 1)[0]]
    unit = metric_unit(kpi, metric)
    values = engine.compute(cur, [period], levels=[level], metrics=[metric], scope=scope, within=within)
    rows = [
        {
            "key": v.key, "label": key_label(engine.registry, level, v.key, lang), "value": v.value,
            "value_text": fmt(v.value, unit, lang), "target": v.target, "status": v.status,
            "status_text": status_text(v.status, lang), "colour": status_colour(v.status),
            "numerator": v.numerator, "denominator": v.denominator, "reporting": v.reporting,
            "expected": v.expected,
        }
        for v in values if v.key is not None
    ]
    frame = pd.DataFrame(rows, columns=_RANK_COLUMNS)
    if frame.empty:
        return frame
    descending = kpi.direction != "lower"
    frame["_missing"] = frame["value"].isna()
    frame = frame.sort_values(["_missing", "value", "label"], ascending=[True, not descending, True],
                              kind="stable")
    return frame.drop(columns="_missing").reset_index(drop=True)


def breakdown(cur: Cursor, engine: KpiEngine, kpi_id: str, period: str, *, lang: str,
              scope: AccessScope = FULL_ACCESS, within: frozenset[str] | None = None) -> pd.DataFrame:
    """A KPI's breakdown (risk directions, offence types, act counts) and secondary figures for the population."""
    catalogue = engine.catalogue
    kpi = catalogue.kpi_by_id[kpi_id]
    metrics = [f"{kpi.id}:{f.key}" for f in (*kpi.breakdown, *kpi.secondary)]
    columns = ["metric", "label", "unit", "value", "value_text", "numerator", "denominator", "target", "status",
               "colour", "secondary"]
    if not metrics:
        return pd.DataFrame(columns=columns)
    values = headline(cur, engine, [period], metrics, scope=scope, within=within)
    secondary = {f"{kpi.id}:{f.key}" for f in kpi.secondary}
    rows = []
    for metric in metrics:
        v = values.get((metric, period))
        unit = metric_unit(kpi, metric)
        value = v.value if v else None
        rows.append({
            "metric": metric, "label": metric_label(kpi, metric, lang), "unit": unit, "value": value,
            "value_text": fmt(value, unit, lang), "numerator": v.numerator if v else None,
            "denominator": v.denominator if v else None, "target": v.target if v else None,
            "status": v.status if v else "no_data", "colour": status_colour(v.status if v else "no_data"),
            "secondary": metric in secondary,
        })
    return pd.DataFrame(rows, columns=columns)


ROUNDED_COLUMNS = ("value", "target")


def rounded(value: Any, unit: str) -> float | None:
    """A figure rounded as every view shows it (tile, table, chart label, export, slide): `decimals_for(unit)`."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return round(float(value), decimals_for(unit))


def export_frame(frame: pd.DataFrame, columns: Mapping[str, str], lang: str, *, unit: str | None = None
                 ) -> pd.DataFrame:
    """Selected columns renamed to their interface titles (the data behind a chart, as exported and shown).

    Values and targets are rounded as the tiles and charts show them, by `unit` or by the frame's own `unit`
    column; `attrs["decimals"]` keeps the decimals of each rounded cell for the XLSX number format."""
    present = [c for c in columns if c in frame.columns]
    out = frame[present].copy()
    units = [str(u) for u in frame["unit"]] if "unit" in frame.columns else [unit] * len(frame) if unit else None
    decimals: dict[str, list[int]] = {}
    if units is not None:
        for column in ROUNDED_COLUMNS:
            if column in out.columns:
                out[column] = pd.array([rounded(v, u) for v, u in zip(out[column], units)], dtype="Float64")
                decimals[t(columns[column], lang)] = [decimals_for(u) for u in units]
    if "unit" in out.columns:
        out["unit"] = [unit_label(str(u), lang) for u in out["unit"]]
    for column in out.columns:
        out[column] = dates_as_text(out[column], lang)
    out = out.rename(columns={c: t(columns[c], lang) for c in present})
    out.attrs["decimals"] = decimals
    return out


def dates_as_text(series: pd.Series, lang: str) -> pd.Series:
    """Dates and moments written the language's way ('31.12.2025 14:05', '31 Dec 2025'); other columns as
    they are. A moment is shown in Almaty time with its hour, a date alone without."""
    from kpi import periods as calendar

    sample = next((v for v in series if v is not None and not (isinstance(v, float) and v != v)
                   and v is not pd.NaT), None)
    if isinstance(sample, dt.datetime):
        return pd.Series([calendar.datetime_label(v, lang) if isinstance(v, dt.datetime) and v is not pd.NaT
                          else None for v in series], index=series.index, dtype=object)
    if isinstance(sample, dt.date):
        return pd.Series([calendar.date_label(v, lang) if isinstance(v, dt.date) else None for v in series],
                         index=series.index, dtype=object)
    return series


def export_name(*parts: str | None, period: str | None = None, lang: str = "kk") -> str:
    """A download's file name (without extension) that says what it holds: KPI, view, period and scope, each
    written the language's way, in characters every file system accepts."""
    from kpi import periods as calendar

    words = [p for p in parts[:1] if p]
    if period:
        words.append(calendar.file_part(period, lang))
    words += [p for p in parts[1:] if p]
    return "_".join(filter(None, (_slug(w) for w in ["parasat", *words])))[:150]


def _slug(text: str) -> str:
    kept = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in text.strip())
    while "__" in kept:
        kept = kept.replace("__", "_")
    return kept.strip("_.")


# --------------------------------------------------------------------------- figures


def _separators(lang: str) -> str:
    return ".," if normalise_language(lang) == "en" else ",\u00a0"


def _style(fig: go.Figure, title: str, lang: str, *, height: int = 420, x_title: str | None = None,
           y_title: str | None = None, title_width: int = 80) -> go.Figure:
    wrapped = wrap(title, title_width)
    lines = wrapped.count("<br>") + 1
    fig.update_layout(
        title={"text": wrapped, "x": 0.01, "xanchor": "left", "font": {"size": 18, "color": style.TEXT}},
        font={"family": style.FONT_FAMILY, "size": 14, "color": style.TEXT},
        paper_bgcolor="#FFFFFF", plot_bgcolor="#FFFFFF", height=height,
        margin={"l": 10, "r": 30, "t": 40 + 26 * lines, "b": 90},
        colorway=list(style.SERIES), separators=_separators(lang),
        hoverlabel={"font": {"family": style.FONT_FAMILY, "size": 14}},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0},
    )
    fig.update_xaxes(title_text=x_title, gridcolor="#E3E8EE", zerolinecolor="#C9D1D9", automargin=True)
    fig.update_yaxes(title_text=y_title, gridcolor="#E3E8EE", zerolinecolor="#C9D1D9", automargin=True)
    return fig


def _legend_below_axis_title(fig: go.Figure) -> None:
    fig.update_layout(legend={"y": -0.32}, margin={"b": 120})


def latest_target(trend: pd.DataFrame) -> float | None:
    """The target in force for the last period of a trend, if any."""
    if trend.empty or pd.isna(trend["target"].iloc[-1]):
        return None
    return float(trend["target"].iloc[-1])


def axis_periods(periods: Sequence[str]) -> list[str]:
    """Every quarter from the first to the last given, in order (a quarter without data is a gap)."""
    from kpi import periods as calendar

    return calendar.axis_periods(periods)


def _time_axis(fig: go.Figure, periods: Sequence[str], lang: str) -> None:
    """A category axis with every quarter in order, each written the language's way."""
    labels = [period_label(p, lang) for p in axis_periods(periods)]
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels)


def trend_figure(trend: pd.DataFrame, kpi: Kpi, lang: str, *, node: str, metric: str | None = None,
                 compact: bool = False, provisional: Sequence[str] = ()) -> go.Figure:
    """A metric's value over periods with its target, for one node of the drill-down. Every quarter is on the
    axis in order (one without data is a gap in the line); a provisional quarter's point is hollow."""
    metric = metric or kpi.id
    unit = metric_unit(kpi, metric)
    fig = go.Figure()
    texts = [fmt(v if pd.notna(v) else None, unit, lang) for v in trend["value"]]
    labels = [period_label(p, lang) for p in trend["period"]]
    thin = [p in set(provisional) for p in trend["period"]]
    note = f" ({t('periods.provisional', lang)})"
    fig.add_trace(go.Scatter(
        x=labels, y=trend["value"], mode="lines+markers+text", name=t("chart.value", lang),
        line={"color": style.PRIMARY, "width": 3},
        marker={"size": 9, "color": style.PRIMARY, "line": {"color": style.PRIMARY, "width": 2},
                "symbol": ["circle-open" if p else "circle" for p in thin]},
        text=[f"{text}*" if p and text != "—" else text for text, p in zip(texts, thin)],
        textposition="top center", textfont={"size": 12}, connectgaps=False,
        customdata=[[label, note if p else ""] for label, p in zip(labels, thin)],
        hovertemplate="%{customdata[0]}: %{text}%{customdata[1]}<extra></extra>",
    ))
    if trend["target"].notna().any():
        fig.add_trace(go.Scatter(
            x=labels, y=trend["target"], mode="lines", name=t("chart.target", lang),
            line={"color": style.ACCENT, "width": 2, "dash": "dash", "shape": "hv"},
            hovertemplate=f"{t('chart.target', lang)}: %{{y}}<extra></extra>",
        ))
    title = t("chart.trend_title", lang, kpi=kpi.id, title=metric_label(kpi, metric, lang),
              node=node)
    _style(fig, title, lang, x_title=t("chart.period", lang), y_title=unit_label(unit, lang),
           title_width=48 if compact else 80)
    _legend_below_axis_title(fig)
    if any(thin):
        fig.add_annotation(text=f"* {t('periods.provisional', lang)}", xref="paper", yref="paper", x=1, y=-0.32,
                           xanchor="right", yanchor="top", showarrow=False, font={"size": 12, "color": style.MUTED})
    _time_axis(fig, list(trend["period"]), lang)
    fitted = fitted_range([*trend["value"], *trend["target"]], unit)
    if fitted is not None:
        fig.update_yaxes(range=list(fitted))
    else:
        fig.update_yaxes(rangemode="tozero")
    return fig


def bar_range(values: Sequence[Any], unit: str) -> list[float] | None:
    """A bar chart's value axis: from zero to a little past the longest bar or the target, leaving room for
    the target's label (a share stops at 112 %). None (Plotly's own) when there is nothing to fit."""
    found = [float(v) for v in values if v is not None and pd.notna(v)]
    if not found or max(found) <= 0:
        return None
    high = max(found) * 1.15
    return [0.0, min(high, 112.0) if unit == "percent" else high]


def fitted_range(values: Sequence[Any], unit: str) -> tuple[float, float] | None:
    """A value axis fitted to the data and the target (a 65-70 % trend is not drawn flat on 0-100): the span
    padded by a fifth on each side (room for the value labels above the points), never below zero, a share
    never past 100 % by more than the padding. None when there is nothing to fit."""
    found = [float(v) for v in values if v is not None and pd.notna(v)]
    if not found:
        return None
    low, high = min(found), max(found)
    span = max(high - low, 10.0 if unit == "percent" else max(abs(high) * 0.2, 1.0))
    low, high = max(0.0, low - span / 5), high + span / 5
    if unit == "percent":
        high = min(high, 108.0)
    return low, high


def ranking_figure(frame: pd.DataFrame, kpi: Kpi, level: str, lang: str, *, node: str,
                   metric: str | None = None) -> go.Figure:
    """Horizontal bars of the children of a node, coloured by status, with the target; click a bar to drill."""
    metric = metric or kpi.id
    unit = metric_unit(kpi, metric)
    values = [v if pd.notna(v) else 0 for v in frame["value"]]
    texts = [text if pd.notna(v) else t("status.no_data", lang) for text, v in zip(frame["value_text"], frame["value"])]
    fig = go.Figure(go.Bar(
        y=[shorten(label) for label in frame["label"]], x=values, orientation="h",
        marker={"color": list(frame["colour"]), "line": {"width": 0}},
        # values written inside each bar at its base, clear of the target line; "no data" outside its empty bar
        text=texts, textposition=["inside" if pd.notna(v) else "outside" for v in frame["value"]],
        insidetextanchor="start", insidetextfont={"color": "#FFFFFF"}, cliponaxis=False,
        customdata=frame[["key", "label", "status_text"]].to_numpy(),
        hovertemplate="%{customdata[1]}<br>%{text} · %{customdata[2]}<extra></extra>",
        name=t("chart.value", lang),
    ))
    targets = frame["target"].dropna()
    if not targets.empty:
        target = float(targets.iloc[0])
        fig.add_vline(x=target, line={"color": style.ACCENT, "width": 2, "dash": "dash"},
                      annotation_text=f"{t('chart.target', lang)} {fmt(target, unit, lang)}",
                      annotation_position="top", annotation_font={"color": style.TEXT, "size": 12})
    title = t("chart.ranking_title", lang, kpi=kpi.id, level=t(f"chart.by_{level}", lang), node=node)
    height = max(240, 34 * len(frame) + 170)
    _style(fig, title, lang, height=height, x_title=unit_label(unit, lang))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(clickmode="event+select", dragmode=False, showlegend=False,
                      bargap=0.25 if len(frame) > 2 else 0.5)
    fig.update_xaxes(range=bar_range([*values, *frame["target"]], unit))
    return fig


def breakdown_figure(frame: pd.DataFrame, kpi: Kpi, lang: str, *, node: str, compact: bool = False,
                     reference: float | None = None) -> go.Figure:
    """The KPI's breakdown as horizontal bars: the guide's breakdown, else its secondary figure.

    Parts with their own target are coloured by status; others are drawn in the agency blue against the
    KPI's target (`reference`) when there is one.
    """
    rows = frame[~frame["secondary"]] if "secondary" in frame else frame
    if rows.empty and "secondary" in frame:
        rows = frame[frame["secondary"]]
    unit = str(rows["unit"].iloc[0]) if not rows.empty else kpi.unit
    colours = [colour if status in ("met", "at_risk", "missed") else style.PRIMARY
               for colour, status in zip(rows["colour"], rows["status"])]
    texts = [text if pd.notna(v) else t("status.no_data", lang) for text, v in zip(rows["value_text"], rows["value"])]
    fig = go.Figure(go.Bar(
        y=[wrap(label, 24 if compact else 40) for label in rows["label"]],
        x=[v if pd.notna(v) else 0 for v in rows["value"]],
        orientation="h", marker={"color": colours}, text=texts, cliponaxis=False,
        # values inside each bar at its base, clear of the target line; "no data" outside its empty bar
        textposition=["inside" if pd.notna(v) else "outside" for v in rows["value"]], insidetextanchor="start",
        insidetextfont={"color": "#FFFFFF"},
        customdata=rows[["metric", "label"]].to_numpy(),
        hovertemplate="%{customdata[1]}: %{text}<extra></extra>",
    ))
    own_targets = rows["target"].dropna() if "target" in rows else pd.Series(dtype=float)
    line = float(own_targets.iloc[0]) if not own_targets.empty else reference if unit == "percent" else None
    if line is not None:
        fig.add_vline(x=line, line={"color": style.ACCENT, "width": 2, "dash": "dash"},
                      annotation_text=f"{t('chart.target', lang)} {fmt(line, unit, lang)}",
                      annotation_position="top", annotation_font={"color": style.TEXT, "size": 12})
    title = t("chart.breakdown_title", lang, kpi=kpi.id, title=kpi.short(lang), node=node)
    _style(fig, title, lang, height=max(300, (44 if compact else 36) * len(rows) + 150),
           x_title=unit_label(unit, lang), title_width=48 if compact else 80)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(showlegend=False, dragmode=False)
    fig.update_xaxes(range=bar_range([*rows["value"], line], unit))
    return fig


def tile_map_figure(values: Mapping[str, float | None], *, lang: str, title: str, unit: str,
                    registry: Registry | None = None, selected: str | None = None) -> go.Figure:
    """Kazakhstan's 20 regions as a tile map (one square per region, laid out roughly geographically)."""
    from kpi.catalogue import load_registry

    registry = registry or load_registry()
    regions = list(registry.regions)
    known = [v for v in values.values() if v is not None]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    if high == low:
        high = low + 1
    fig = go.Figure()
    with_value = [r for r in regions if values.get(r.code) is not None]
    without = [r for r in regions if values.get(r.code) is None]
    if with_value:
        fig.add_trace(go.Scatter(
            x=[r.tile["col"] for r in with_value], y=[r.tile["row"] for r in with_value], mode="markers+text",
            marker={"symbol": "square", "size": 78, "color": [values[r.code] for r in with_value],
                    "colorscale": [[i / (len(style.SEQUENTIAL) - 1), c] for i, c in enumerate(style.SEQUENTIAL)],
                    "cmin": low, "cmax": high, "showscale": True,
                    "colorbar": {"title": {"text": unit_label(unit, lang)}, "thickness": 14},
                    "line": {"color": [style.ACCENT if r.code == selected else "#FFFFFF" for r in with_value],
                             "width": [4 if r.code == selected else 1 for r in with_value]}},
            text=[f"{shorten(_short_region(r.name(lang)), 12)}<br><b>{fmt(values[r.code], unit, lang)}</b>"
                  for r in with_value],
            textfont={"size": 11, "color": [_ink(values[r.code], low, high) for r in with_value]},
            customdata=[[r.code, r.name(lang)] for r in with_value],
            hovertemplate="%{customdata[1]}<extra></extra>", name="",
        ))
    if without:
        fig.add_trace(go.Scatter(
            x=[r.tile["col"] for r in without], y=[r.tile["row"] for r in without], mode="markers+text",
            marker={"symbol": "square", "size": 78, "color": style.STATUS_COLOURS["no_data"]},
            text=[f"{shorten(_short_region(r.name(lang)), 12)}<br>—" for r in without],
            textfont={"size": 11, "color": style.TEXT},
            customdata=[[r.code, r.name(lang)] for r in without],
            hovertemplate="%{customdata[1]}<extra></extra>", name="",
        ))
    _style(fig, title, lang, height=560)
    fig.update_xaxes(visible=False, range=[-0.7, 8.7])
    fig.update_yaxes(visible=False, range=[4.7, -0.7])
    fig.update_layout(showlegend=False, clickmode="event+select", dragmode=False)
    return fig


def _short_region(name: str) -> str:
    for suffix in (" облысы", " қаласы", " Region", " область", "область ", " city", "город "):
        name = name.replace(suffix, "")
    return name.strip()


def _ink(value: float | None, low: float, high: float) -> str:
    if value is None:
        return style.TEXT
    return "#FFFFFF" if (value - low) / (high - low) > 0.45 else style.TEXT


def map_figure(values: Mapping[str, float | None], *, lang: str, title: str, unit: str,
               registry: Registry | None = None, selected: str | None = None,
               statuses: Mapping[str, str] | None = None, legend_title: str = "") -> tuple[go.Figure, str]:
    """The regions coloured by status against the target (or by value): kpi.geo's boundary map, else tiles.

    Returns the figure and its kind ('boundaries' or 'tiles'). The boundary map is optional: any failure
    to draw it (module missing, data missing) falls back to tiles rather than breaking the page.
    """
    try:
        geo = importlib.import_module("kpi.geo")
    except ImportError:
        geo = None
    if geo is not None:
        for function, kind in (("region_map_figure", "boundaries"), ("tile_map_figure", "tiles")):
            extra = {"statuses": statuses, "legend_title": legend_title} if kind == "boundaries" else {}
            try:
                figure = getattr(geo, function)(dict(values), lang=lang, title=title, unit=unit, selected=selected,
                                                **extra)
                return figure, kind
            except Exception:  # noqa: S112 - try the next, lighter map
                continue
    return tile_map_figure(values, lang=lang, title=title, unit=unit, registry=registry, selected=selected), "tiles"


def region_frame(values: Mapping[str, float | None], registry: Registry, lang: str, *, unit: str | None = None
                 ) -> pd.DataFrame:
    """The map's data: each region's value (for export), rounded as shown."""
    frame = pd.DataFrame({"region": list(values), "name": [region_label(registry, c, lang) for c in values],
                          "value": list(values.values())})
    return export_frame(frame, REGION_COLUMNS, lang, unit=unit)


def region_values(cur: Cursor, engine: KpiEngine, metric: str, period: str, *,
                  scope: AccessScope = FULL_ACCESS, within: frozenset[str] | None = None) -> dict[str, float | None]:
    """A metric's value for each of the 20 regions (None where no entity reported)."""
    values = engine.compute(cur, [period], levels=["region"], metrics=[metric], scope=scope, within=within)
    by_region: dict[str, float | None] = {r.code: None for r in engine.registry.regions}
    for v in values:
        if v.key in by_region:
            by_region[v.key] = v.value
    return by_region


# --------------------------------------------------------------------------- entity profile


@dataclass(frozen=True)
class EntityProfile:
    """One entity across its KPIs and periods, its returns, and its rank among peers of its type."""

    code: str
    name: str
    type_label: str
    region_label: str
    kpis: pd.DataFrame
    history: pd.DataFrame
    returns: pd.DataFrame
    secondary: pd.DataFrame | None = None  # each KPI's secondary figures for the period (kpi, label, value_text)


def entity_profile(cur: Cursor, engine: KpiEngine, code: str, period: str,
                   periods: Sequence[str], *, lang: str, scope: AccessScope = FULL_ACCESS,
                   deadline_days: int = 10) -> EntityProfile | None:
    """The profile of an entity the caller may see; None otherwise."""
    registry, catalogue = engine.registry, engine.catalogue
    entity = registry.entity_by_code.get(code)
    if entity is None or not scope.allows(code):
        return None
    kpis = kpis_for_entity(catalogue, registry, entity)
    metrics = [k.id for k in kpis]
    own = engine.compute(cur, list(periods), levels=["entity"], metrics=metrics, scope=scope,
                         within=frozenset({code}))
    by = {(v.metric, v.period): v for v in own if v.key == code}
    peers = frozenset(e.code for e in registry.entities if e.type == entity.type)
    peer_values = engine.compute(cur, [period], levels=["entity"], metrics=metrics, scope=scope, within=peers)
    rows = []
    for kpi in kpis:
        v = by.get((kpi.id, period))
        rank, out_of = _rank(kpi, code, [p for p in peer_values if p.metric == kpi.id])
        rows.append({
            "kpi": kpi.id, "title": kpi.short(lang), "value": v.value if v else None,
            "value_text": fmt(v.value if v else None, kpi.unit, lang),
            "target": v.target if v else None,
            "target_text": fmt(v.target, kpi.unit, lang) if v and v.target is not None else "—",
            "status": v.status if v else "no_data", "status_text": status_text(v.status if v else "no_data", lang),
            "rank": rank if out_of > 1 else None, "peers": out_of,
            # a rank among one ("1st of 1") says nothing: shown only with at least two ranked
            "rank_text": t("app.rank_of", lang, rank=rank, peers=out_of) if rank and out_of > 1 else "—",
        })
    extra = [(kpi, f"{kpi.id}:{f.key}") for kpi in kpis for f in kpi.secondary]
    extra_values = {v.metric: v for v in engine.compute(cur, [period], levels=["entity"], metrics=[m for _, m in extra],
                                                        scope=scope, within=frozenset({code})) if v.key == code} \
        if extra else {}
    secondary = pd.DataFrame([
        {"kpi": kpi.id, "label": metric_label(kpi, m, lang),
         "value_text": fmt(extra_values[m].value if m in extra_values else None, metric_unit(kpi, m), lang)}
        for kpi, m in extra], columns=["kpi", "label", "value_text"])
    history = pd.DataFrame([
        {"kpi": kpi.id, "period": p, "value": by[(kpi.id, p)].value if (kpi.id, p) in by else None}
        for kpi in kpis for p in periods
    ], columns=["kpi", "period", "value"])
    return EntityProfile(
        code=code, name=entity.name(lang), type_label=type_label(entity.type, lang),
        region_label=region_label(registry, entity.region, lang),
        kpis=pd.DataFrame(rows, columns=["kpi", "title", "value", "value_text", "target", "target_text", "status",
                                         "status_text", "rank", "peers", "rank_text"]),
        history=history, returns=entity_returns(cur, code, lang=lang, deadline_days=deadline_days),
        secondary=secondary,
    )


def _rank(kpi: Kpi, code: str, values: Sequence[KpiValue]) -> tuple[int | None, int]:
    """1-based rank of an entity among peers with a value (ties share a rank), and how many were ranked."""
    known = [(v.key, v.value) for v in values if v.value is not None]
    mine = next((value for key, value in known if key == code), None)
    if mine is None:
        return None, len(known)
    if kpi.direction == "lower":
        better = sum(1 for _, value in known if value is not None and value < mine)
    else:
        better = sum(1 for _, value in known if value is not None and value > mine)
    return better + 1, len(known)


def entity_kpi_table(profile: EntityProfile, lang: str) -> pd.DataFrame:
    """The profile's KPI table with interface column titles."""
    frame = profile.kpis
    return pd.DataFrame({
        t("col.kpi", lang): frame["kpi"], t("col.title", lang): frame["title"],
        t("col.value", lang): frame["value_text"], t("col.target", lang): frame["target_text"],
        t("col.status", lang): frame["status_text"], t("col.rank", lang): frame["rank_text"],
    })


def secondary_table(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Secondary figures (kpi, label, value_text) with interface column titles."""
    return pd.DataFrame({t("col.kpi", lang): frame["kpi"], t("col.title", lang): frame["label"],
                         t("col.value", lang): frame["value_text"]})


def entity_history_frame(profile: EntityProfile, kpi_id: str, lang: str, *, unit: str | None = None
                         ) -> pd.DataFrame:
    """One KPI's values for the entity by period (the data behind its trend chart), rounded as shown."""
    rows = profile.history[profile.history["kpi"] == kpi_id]
    frame = pd.DataFrame({"kpi": rows["kpi"], "period": [period_label(p, lang) for p in rows["period"]],
                          "value": rows["value"]})
    return export_frame(frame, {"kpi": "col.kpi", "period": "col.period", "value": "col.value"}, lang, unit=unit)


def entity_returns_table(profile: EntityProfile, lang: str) -> pd.DataFrame:
    """The entity's returns and their versions with interface column titles."""
    frame = profile.returns
    yes, no = t("app.yes", lang), t("app.no", lang)
    return pd.DataFrame({
        t("col.period", lang): [period_label(p, lang) for p in frame["period"]],
        t("col.version", lang): frame["version"],
        t("col.current", lang): [yes if v else no for v in frame["current"]],
        t("col.file", lang): frame["file"], t("col.submitted", lang): dates_as_text(frame["submitted"], lang),
        t("col.deadline", lang): dates_as_text(frame["deadline"], lang),
        t("col.late", lang): [yes if v else no for v in frame["late"]],
        t("col.uploaded_by", lang): frame["uploaded_by"], t("col.sha256", lang): frame["sha256"],
    })


def entity_trend_figure(profile: EntityProfile, kpi: Kpi, comparison: pd.DataFrame, lang: str) -> go.Figure:
    """One entity's KPI over periods against the aggregate of its entity type."""
    own = profile.history[profile.history["kpi"] == kpi.id]
    fig = go.Figure()

    def labels(periods: pd.Series) -> list[str]:
        return [period_label(p, lang) for p in periods]

    fig.add_trace(go.Scatter(x=labels(own["period"]), y=own["value"], mode="lines+markers",
                             name=shorten(profile.name, 40), connectgaps=False,
                             line={"color": style.PRIMARY, "width": 3}, marker={"size": 9}))
    if not comparison.empty:
        fig.add_trace(go.Scatter(x=labels(comparison["period"]), y=comparison["value"], mode="lines+markers",
                                 name=profile.type_label, connectgaps=False,
                                 line={"color": style.MUTED, "width": 2, "dash": "dot"}))
        if comparison["target"].notna().any():
            fig.add_trace(go.Scatter(x=labels(comparison["period"]), y=comparison["target"], mode="lines",
                                     name=t("chart.target", lang),
                                     line={"color": style.ACCENT, "width": 2, "dash": "dash", "shape": "hv"}))
    title = t("chart.entity_trend_title", lang, kpi=kpi.id, title=kpi.short(lang), node=profile.name)
    _style(fig, title, lang, x_title=t("chart.period", lang), y_title=unit_label(kpi.unit, lang))
    _legend_below_axis_title(fig)
    _time_axis(fig, [*own["period"], *comparison["period"]], lang)
    fig.update_yaxes(rangemode="tozero")
    return fig


def entity_returns(cur: Cursor, code: str, *, lang: str, deadline_days: int = 10) -> pd.DataFrame:
    """Every version of every return of an entity, newest first, with whether it came in late."""
    rows = db(cur).returns.versions_of_entity(code, AGENCY_TIME_ZONE)
    out = []
    for period, version, file_name, by, submitted, uploaded, sha, is_current in rows:
        due = deadline(period, deadline_days)
        late = submitted is not None and submitted.date() > due
        out.append({
            "period": period, "version": version, "file": file_name, "uploaded_by": by,
            "submitted": submitted, "uploaded": uploaded, "deadline": due, "late": late,
            "current": bool(is_current), "sha256": sha[:12],
        })
    return pd.DataFrame(out, columns=["period", "version", "file", "uploaded_by", "submitted", "uploaded",
                                      "deadline", "late", "current", "sha256"])


# --------------------------------------------------------------------------- submissions


SUBMISSION_STATUSES: tuple[str, ...] = ("on_time", "late", "missing", "pending")
SUBMISSION_COLUMNS = {"status_text": "col.status", "name": "col.name", "type_label": "col.entity_type",
                      "region_label": "col.region", "days_late": "col.days_late",
                      "first_submitted": "col.first_submitted", "last_submitted": "col.last_submitted",
                      "versions": "col.versions", "deadline": "col.deadline", "code": "col.code"}
SUBMISSION_COLOURS = {"on_time": style.STATUS_COLOURS["met"], "late": style.STATUS_COLOURS["at_risk"],
                      "missing": style.STATUS_COLOURS["missed"], "pending": style.STATUS_COLOURS["no_target"]}
VERSION_COLUMNS = {"code": "col.code", "name": "col.name", "version": "col.version", "file": "col.file",
                   "submitted": "col.submitted", "uploaded": "col.uploaded", "uploaded_by": "col.uploaded_by",
                   "sha256": "col.sha256"}


deadline = submission_deadline  # the pages' name for it; quarter_end is re-exported for them too


def submissions(cur: Cursor, engine: KpiEngine, period: str, *, lang: str,
                deadline_days: int, scope: AccessScope = FULL_ACCESS, within: frozenset[str] | None = None,
                today: dt.date | None = None) -> pd.DataFrame:
    """Each expected entity's return for the period: on time, late, missing, or not yet due."""
    registry = engine.registry
    today = today or dt.date.today()
    due = deadline(period, deadline_days)
    rows = db(cur).returns.submission_counts(period, AGENCY_TIME_ZONE)
    received = {code: (versions, first, last) for code, versions, first, last in rows}
    out = []
    for entity in visible_entities(registry, scope=scope, within=within):
        versions, first, last = received.get(entity.code, (0, None, None))
        if versions:
            status = "late" if first is not None and first.date() > due else "on_time"
        else:
            status = "pending" if today <= due else "missing"
        days_late = (first.date() - due).days if status == "late" and first is not None else None
        out.append({
            "code": entity.code, "name": entity.name(lang), "type": entity.type,
            "type_label": type_label(entity.type, lang), "region": entity.region,
            "region_label": region_label(registry, entity.region, lang), "status": status,
            "status_text": t(f"submission.{status}", lang), "versions": int(versions),
            "first_submitted": first, "last_submitted": last, "deadline": due, "days_late": days_late,
        })
    return pd.DataFrame(out, columns=["code", "name", "type", "type_label", "region", "region_label", "status",
                                      "status_text", "versions", "first_submitted", "last_submitted", "deadline",
                                      "days_late"])


def submission_summary(frame: pd.DataFrame) -> dict[str, int]:
    """Counts of expected, submitted and each submission status."""
    counts = {status: int((frame["status"] == status).sum()) for status in SUBMISSION_STATUSES}
    counts["expected"] = len(frame)
    counts["submitted"] = counts["on_time"] + counts["late"]
    return counts


def submission_versions(cur: Cursor, engine: KpiEngine, period: str, *, lang: str,
                        scope: AccessScope = FULL_ACCESS, within: frozenset[str] | None = None) -> pd.DataFrame:
    """Every version received for the period, newest first: who, which file, when."""
    registry = engine.registry
    allowed = [e.code for e in visible_entities(registry, scope=scope, within=within)]
    rows = db(cur).returns.versions_in_period(period, allowed, AGENCY_TIME_ZONE)
    return pd.DataFrame([
        {"code": code, "name": entity_label(registry, code, lang), "version": version, "file": file_name,
         "uploaded_by": by, "submitted": submitted, "uploaded": uploaded, "sha256": sha[:12]}
        for code, version, file_name, by, submitted, uploaded, sha in rows
    ], columns=["code", "name", "version", "file", "uploaded_by", "submitted", "uploaded", "sha256"])


def submissions_figure(frame: pd.DataFrame, lang: str, *, period: str) -> go.Figure:
    """Stacked bars of submission status by entity type."""
    colours = SUBMISSION_COLOURS
    types = [et for et in ENTITY_TYPES if et in set(frame["type"])]
    fig = go.Figure()
    for status in SUBMISSION_STATUSES:
        counts = [int(((frame["type"] == et) & (frame["status"] == status)).sum()) for et in types]
        if not any(counts):
            continue
        fig.add_trace(go.Bar(
            y=[wrap(type_label(et, lang), 28) for et in types], x=counts, orientation="h",
            name=t(f"submission.{status}", lang), marker={"color": colours[status]},
            text=[c or "" for c in counts], textposition="inside",
        ))
    title = t("chart.submissions_title", lang, period=period_label(period, lang))
    _style(fig, title, lang, height=max(300, 64 * len(types) + 200), x_title=t("chart.entities", lang))
    _legend_below_axis_title(fig)
    fig.update_layout(barmode="stack", dragmode=False, legend_traceorder="normal")
    fig.update_yaxes(autorange="reversed")
    return fig


# --------------------------------------------------------------------------- upload preview


def template_periods(periods: Sequence[str], *, today: dt.date | None = None, opened: Sequence[str] = ()) -> list[str]:
    """Periods a blank template is offered for, newest first: quarters an admin opened early, then every ended
    quarter from the oldest with data (or two years back) to the latest ended one. A quarter under way is
    never offered unless opened: its return would be refused."""
    from kpi import periods as calendar

    today = today or calendar.today()
    latest = calendar.latest_ended(today)
    oldest = min([shift_period(latest, -(HISTORY_QUARTERS - 1)), *[p for p in periods if p <= latest]])
    early = [p for p in calendar.sort_periods(opened) if not calendar.has_ended(p, today)]
    return [*reversed(early), *calendar.ended_periods(today, since=oldest)]


@dataclass(frozen=True)
class FilePreview:
    """What will become (or became) of one uploaded file, in the reader's language."""

    file: str
    status: str
    status_text: str
    accepted: bool
    entity: str | None
    entity_name: str
    period: str | None
    version: int | None
    replaces_version: int | None
    issues: pd.DataFrame
    changes: pd.DataFrame


def upload_preview(report: Any, catalogue: Catalogue, registry: Registry, lang: str) -> list[FilePreview]:
    """Each file of an ingest report (dry run or real) shaped for the upload page."""
    previews = []
    for outcome in report.outcomes:
        # each error where the officer finds it: the template row's label (not the measure code), sheet, cell
        issues = pd.DataFrame([
            {t("analyst.col.row", lang): catalogue.measure_by_code[i.measure].label(lang)
             if i.measure in catalogue.measure_by_code else "—",
             t("col.sheet", lang): i.sheet or "—", t("col.cell", lang): i.cell or "—",
             t("col.value_given", lang): "—" if i.value is None else str(i.value),
             t("col.message", lang): i.message(lang)}
            for i in outcome.issues
        ], columns=[t(c, lang) for c in ("analyst.col.row", "col.sheet", "col.cell", "col.value_given", "col.message")])
        changes = pd.DataFrame([
            {t("col.label", lang): catalogue.measure_by_code[measure].label(lang)
             if measure in catalogue.measure_by_code else measure,
             t("col.old", lang): "—" if old is None else old, t("col.new", lang): "—" if new is None else new}
            for measure, old, new in outcome.changes
        ], columns=[t(c, lang) for c in ("col.label", "col.old", "col.new")])
        previews.append(FilePreview(
            file=outcome.file, status=outcome.status, status_text=t(f"upload.status_{outcome.status}", lang),
            accepted=outcome.accepted, entity=outcome.entity,
            entity_name=entity_label(registry, outcome.entity, lang) if outcome.entity else "",
            period=outcome.period, version=outcome.version, replaces_version=outcome.replaces_version,
            issues=issues, changes=changes,
        ))
    return previews
