"""What each dashboard page shows: the view models (tiles, tables, rankings, profiles) shaped from the engine
and the store. Their figures are drawn by `kpi.figures`, their words and numbers written by `kpi.labels`.

No Streamlit here. Pages read their filters, call one of these functions and draw what it returns, so
every view a page shows can be tested without the Streamlit runtime.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

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
from kpi.i18n import normalise_language, t
from kpi.labels import (
    NOT_APPLICABLE,
    dates_as_text,
    decimals_for,
    delta_colour,
    entity_label,
    export_frame,
    fmt,
    fmt_delta,
    key_label,
    metric_label,
    metric_unit,
    period_label,
    region_label,
    rounded,
    status_colour,
    status_text,
    type_label,
    unit_label,
)
from kpi.settings import AGENCY_TIME_ZONE
from kpi.store import FULL_ACCESS, AccessScope, Cursor, db

HISTORY_QUARTERS = 8


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


# --------------------------------------------------------------------------- drill-down population


def drill_entities(engine: KpiEngine, kpi_id: str, *, scope: AccessScope = FULL_ACCESS,
                   within: frozenset[str] | None = None) -> list[Entity]:
    """The entities a KPI's drill-down runs over: those reporting it that the caller may see and the filters keep."""
    return [e for e in reporting_entities(engine.catalogue, engine.registry, kpi_id)
            if scope.allows(e.code) and (within is None or e.code in within)]


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


def latest_target(trend: pd.DataFrame) -> float | None:
    """The target in force for the last period of a trend, if any."""
    if trend.empty or pd.isna(trend["target"].iloc[-1]):
        return None
    return float(trend["target"].iloc[-1])


def axis_periods(periods: Sequence[str]) -> list[str]:
    """Every quarter from the first to the last given, in order (a quarter without data is a gap)."""
    from kpi import periods as calendar

    return calendar.axis_periods(periods)


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

