"""The KPI engine: every declared formula computed in one SQL query over the current returns."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from kpi.catalogue import (
    Catalogue,
    Formula,
    Kpi,
    Registry,
    kpis_for_entity,
    parse_period,
    previous_quarter_of_year,
    shift_period,
)
from kpi.store import FULL_ACCESS, AccessScope, Cursor, KpiQuery, db

LEVELS: tuple[str, ...] = ("national", "entity_type", "region", "entity")
STATUSES: tuple[str, ...] = ("met", "at_risk", "missed", "monitoring", "no_target", "no_data")


@dataclass(frozen=True)
class KpiValue:
    """One computed figure: a KPI (or a breakdown/secondary metric) at one level and key for one period."""

    kpi: str
    metric: str
    period: str
    level: str
    key: str | None
    numerator: float | None
    denominator: float | None
    value: float | None
    unit: str
    target: float | None
    status: str
    reporting: int
    expected: int

    def contract_dict(self) -> dict[str, object]:
        """The object `report --json` prints (the contract's fields)."""
        data = asdict(self)
        return {k: data[k] for k in ("kpi", "period", "level", "key", "numerator", "denominator",
                                     "value", "unit", "target", "status")}


def metric_id(kpi: Kpi, formula: Formula | None = None) -> str:
    """The metric name of a KPI's main formula (its id) or of one of its breakdowns or secondary figures."""
    return kpi.id if formula is None or formula.key in ("", kpi.id) else f"{kpi.id}:{formula.key}"


def _formulas(kpi: Kpi) -> list[tuple[str, Formula]]:
    main = kpi.formula
    out = [(kpi.id, main)]
    out += [(metric_id(kpi, f), f) for f in kpi.breakdown]
    out += [(metric_id(kpi, f), f) for f in kpi.secondary]
    return out


def _den_kind(formula: Formula) -> str:
    if formula.denominator == "reporting_entities":
        return "entities"
    return "sum" if formula.denominator else "none"


def _definition_rows(catalogue: Catalogue, registry: Registry) -> dict[str, list[tuple[object, ...]]]:
    """The catalogue's formulas and the registry's reporting duties as rows of three small tables
    (the store's `KPI_TABLES`: who reports which KPI, each metric's scale and denominator, its terms)."""
    entity_rows: list[tuple[object, ...]] = [
        (e.code, e.type, e.region, k.id)
        for e in registry.entities
        for k in kpis_for_entity(catalogue, registry, e)
    ]
    def_rows: list[tuple[object, ...]] = []
    term_rows: list[tuple[object, ...]] = []
    for kpi in catalogue.kpis:
        for metric, formula in _formulas(kpi):
            def_rows.append((metric, kpi.id, float(formula.scale), _den_kind(formula)))
            term_rows += [(metric, "num", m) for m in formula.numerator]
            if isinstance(formula.denominator, tuple):
                term_rows += [(metric, "den", m) for m in formula.denominator]
    return {"entity_kpi": entity_rows, "metric_def": def_rows, "metric_term": term_rows}




@dataclass(frozen=True)
class Target:
    """A target in force for a metric and year, and whether the guide or an analyst set it."""

    value: float
    year: int
    source: str


def targets_for_year(cur: Cursor, year: int) -> dict[str, Target]:
    """Each metric's target in force for a year: the value set for the latest year not after it."""
    rows = db(cur).targets.in_force(year)
    return {metric: Target(float(value), int(y), str(source)) for metric, value, y, source in rows}


def status_of(value: float | None, target: float | None, direction: str, margin: float) -> str:
    """Met / at risk / missed against a target, or monitoring only, no target, no data."""
    if direction == "monitoring":
        return "monitoring"
    if value is None:
        return "no_data"
    if target is None:
        return "no_target"
    if direction == "lower":
        if value <= target:
            return "met"
        return "at_risk" if value <= target * (1 + margin) else "missed"
    if value >= target:
        return "met"
    return "at_risk" if value >= target * (1 - margin) else "missed"


class KpiEngine:
    """Computes KPIs for periods, levels and metrics, restricted to a caller's access scope."""

    def __init__(self, catalogue: Catalogue, registry: Registry, *, at_risk_margin: float = 0.1) -> None:
        self.catalogue = catalogue
        self.registry = registry
        self.at_risk_margin = at_risk_margin
        self._query = KpiQuery(_definition_rows(catalogue, registry))

    def compute(
        self,
        cur: Cursor,
        periods: Sequence[str],
        *,
        levels: Iterable[str] = LEVELS,
        metrics: Iterable[str] = (),
        scope: AccessScope = FULL_ACCESS,
        within: frozenset[str] | None = None,
    ) -> list[KpiValue]:
        """Every requested metric × level × key × period; a restricted scope sees only its own entities.

        `within` is a filter, not an access rule: it narrows the population (e.g. akimats of one region)
        and keeps the aggregate levels, which then sum over that population only.
        """
        for period in periods:
            parse_period(period)
        levels = list(levels)
        population = scope.entities
        if scope.entities is not None:
            levels = [lvl for lvl in levels if lvl == "entity"]
        if within is not None:
            population = within if population is None else population & within
        rows = self._query.run(cur, periods, levels, list(metrics), None if population is None else sorted(population))
        targets_by_year = {year: targets_for_year(cur, year) for year in {parse_period(p)[0] for p in periods}}
        out = []
        for period, metric, kpi_id, level, key, num, den, value, reporting, expected in rows:
            kpi = self.catalogue.kpi_by_id[kpi_id]
            target = targets_by_year[parse_period(period)[0]].get(metric)
            target_value = target.value if target else None
            unit, direction = self._metric_unit_direction(kpi, metric)
            out.append(
                KpiValue(
                    kpi=kpi_id, metric=metric, period=period, level=level, key=key,
                    numerator=_num(num), denominator=_num(den), value=_num(value), unit=unit,
                    target=target_value,
                    status=status_of(_num(value), target_value, direction, self.at_risk_margin),
                    reporting=int(reporting), expected=int(expected),
                )
            )
        return out

    @staticmethod
    def _metric_unit_direction(kpi: Kpi, metric: str) -> tuple[str, str]:
        """A breakdown or secondary share follows its KPI's direction; a breakdown count is monitored."""
        if metric == kpi.id:
            return kpi.unit, kpi.direction
        key = metric.split(":", 1)[1]
        formula = next(f for f in (*kpi.breakdown, *kpi.secondary) if f.key == key)
        if formula.scale == 100:
            return "percent", kpi.direction
        return "units", "monitoring"

    def report(
        self, cur: Cursor, period: str, *, scope: AccessScope = FULL_ACCESS
    ) -> list[KpiValue]:
        """Every KPI's main figure at every level for one period (what `report` prints)."""
        return self.compute(cur, [period], metrics=[k.id for k in self.catalogue.kpis], scope=scope)

    def changes(
        self, cur: Cursor, period: str, *, levels: Iterable[str] = ("national",),
        scope: AccessScope = FULL_ACCESS,
    ) -> dict[tuple[str, str, str | None], dict[str, float | None]]:
        """Quarter-on-quarter and year-on-year change of each KPI's value (in the KPI's own unit)."""
        previous, year_ago = shift_period(period, -1), shift_period(period, -4)
        within_year = previous_quarter_of_year(period) is not None  # a Q1 total has no quarter before it
        values = self.compute(
            cur, [period, previous, year_ago], levels=levels,
            metrics=[k.id for k in self.catalogue.kpis], scope=scope,
        )
        by = {(v.period, v.metric, v.level, v.key): v.value for v in values}
        out: dict[tuple[str, str, str | None], dict[str, float | None]] = {}
        for v in values:
            if v.period != period:
                continue
            prev = by.get((previous, v.metric, v.level, v.key)) if within_year else None
            last_year = by.get((year_ago, v.metric, v.level, v.key))
            out[(v.metric, v.level, v.key)] = {
                "value": v.value,
                "previous": prev,
                "year_ago": last_year,
                "qoq": None if v.value is None or prev is None else v.value - prev,
                "yoy": None if v.value is None or last_year is None else v.value - last_year,
            }
        return out


def _num(value: object) -> float | None:
    if value is None:
        return None
    number = float(value)  # type: ignore[arg-type]
    return int(number) if number.is_integer() and abs(number) < 2**53 else number
