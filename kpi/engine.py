"""The KPI engine: every declared formula computed in one SQL query over the current returns."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import duckdb

from kpi.catalogue import Catalogue, Formula, Kpi, Registry, kpis_for_entity, parse_period, shift_period
from kpi.store import FULL_ACCESS, AccessScope

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


def _sql_str(text: str | None) -> str:
    return "NULL" if text is None else "'" + text.replace("'", "''") + "'"


def _definition_rows(catalogue: Catalogue, registry: Registry) -> dict[str, tuple[str, list[str]]]:
    """The catalogue's formulas and the registry's reporting duties as rows of three small tables."""
    entity_rows = [
        f"({_sql_str(e.code)}, {_sql_str(e.type)}, {_sql_str(e.region)}, {_sql_str(k.id)})"
        for e in registry.entities
        for k in kpis_for_entity(catalogue, registry, e)
    ]
    def_rows, term_rows = [], []
    for kpi in catalogue.kpis:
        for metric, formula in _formulas(kpi):
            def_rows.append(
                f"({_sql_str(metric)}, {_sql_str(kpi.id)}, {float(formula.scale)}, {_sql_str(_den_kind(formula))})"
            )
            term_rows += [f"({_sql_str(metric)}, 'num', {_sql_str(m)})" for m in formula.numerator]
            if isinstance(formula.denominator, tuple):
                term_rows += [f"({_sql_str(metric)}, 'den', {_sql_str(m)})" for m in formula.denominator]
    return {
        "entity_kpi": ("entity_code VARCHAR, entity_type VARCHAR, region VARCHAR, kpi VARCHAR", entity_rows),
        "metric_def": ("metric VARCHAR, kpi VARCHAR, scale DOUBLE, den_kind VARCHAR", def_rows),
        "metric_term": ("metric VARCHAR, part VARCHAR, measure VARCHAR", term_rows),
    }


AGGREGATE_SQL = """
WITH entity_kpi AS (SELECT * FROM {entity_kpi}
                    WHERE $scope::VARCHAR[] IS NULL OR entity_code IN (SELECT unnest($scope::VARCHAR[]))),
metric_def AS (SELECT * FROM {metric_def}
               WHERE metric IN (SELECT unnest($metrics::VARCHAR[])) OR len($metrics::VARCHAR[]) = 0),
metric_term AS (SELECT * FROM {metric_term}),
periods(period) AS (SELECT unnest($periods::VARCHAR[])),
cur AS (SELECT entity_code, period, measure, value FROM current_value WHERE period IN (SELECT period FROM periods)),
reported AS (SELECT DISTINCT entity_code, period FROM current_return WHERE period IN (SELECT period FROM periods)),
per_entity AS (
    SELECT p.period, d.metric, d.kpi, d.scale, d.den_kind, ek.entity_code, ek.entity_type, ek.region,
           r.entity_code IS NOT NULL AS has_return,
           sum(c.value) FILTER (WHERE t.part = 'num') AS num,
           sum(c.value) FILTER (WHERE t.part = 'den') AS den_sum
    FROM periods p
    CROSS JOIN metric_def d
    JOIN entity_kpi ek ON ek.kpi = d.kpi
    LEFT JOIN reported r ON r.entity_code = ek.entity_code AND r.period = p.period
    LEFT JOIN metric_term t ON t.metric = d.metric
    LEFT JOIN cur c ON c.entity_code = ek.entity_code AND c.period = p.period AND c.measure = t.measure
    GROUP BY ALL
),
shaped AS (
    SELECT *, CASE den_kind WHEN 'entities' THEN CASE WHEN has_return THEN 1 END
                            WHEN 'sum' THEN den_sum END AS den
    FROM per_entity
),
grouped AS (
    SELECT period, metric, kpi, any_value(scale) AS scale, any_value(den_kind) AS den_kind,
           CASE WHEN grouping(entity_type) = 0 THEN 'entity_type'
                WHEN grouping(region) = 0 THEN 'region'
                WHEN grouping(entity_code) = 0 THEN 'entity'
                ELSE 'national' END AS level,
           coalesce(CASE WHEN grouping(entity_type) = 0 THEN entity_type END,
                    CASE WHEN grouping(region) = 0 THEN region END,
                    CASE WHEN grouping(entity_code) = 0 THEN entity_code END) AS key,
           grouping(region) = 0 AND region IS NULL AS nameless_region,
           sum(num) FILTER (WHERE has_return) AS num,
           sum(den) FILTER (WHERE has_return) AS den,
           count(*) FILTER (WHERE has_return) AS reporting,
           count(*) AS expected
    FROM shaped
    GROUP BY GROUPING SETS ((period, metric, kpi), (period, metric, kpi, entity_type),
                            (period, metric, kpi, region), (period, metric, kpi, entity_code))
)
SELECT period, metric, kpi, level, key, num,
       CASE WHEN den_kind = 'none' THEN NULL ELSE den END AS den,
       CASE WHEN den_kind = 'none' THEN num
            WHEN den IS NULL OR den = 0 OR num IS NULL THEN NULL
            ELSE scale * num / den END AS value,
       reporting, expected
FROM grouped
WHERE NOT nameless_region AND level IN (SELECT unnest($levels::VARCHAR[]))
ORDER BY period, metric, list_position(['national', 'entity_type', 'region', 'entity'], level), key
"""


@dataclass(frozen=True)
class Target:
    """A target in force for a metric and year, and whether the guide or an analyst set it."""

    value: float
    year: int
    source: str


def targets_for_year(cur: duckdb.DuckDBPyConnection, year: int) -> dict[str, Target]:
    """Each metric's target in force for a year: the value set for the latest year not after it."""
    rows = cur.execute(
        "SELECT metric, value, year, source FROM kpi_target WHERE year <= ? "
        "QUALIFY row_number() OVER (PARTITION BY metric ORDER BY year DESC) = 1",
        [year],
    ).fetchall()
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
        rows = _definition_rows(catalogue, registry)
        digest = hashlib.sha256(repr(sorted(rows.items())).encode()).hexdigest()[:12]
        self._tables = {name: f"kpi_{name}_{digest}" for name in rows}
        self._create_sql = [
            f"CREATE TEMP TABLE IF NOT EXISTS {self._tables[name]} ({columns}) ; "
            + (f"INSERT INTO {self._tables[name]} VALUES {', '.join(values)}" if values else "")
            for name, (columns, values) in rows.items()
        ]
        self._sql = AGGREGATE_SQL.format(**self._tables)

    def _ensure_definitions(self, cur: duckdb.DuckDBPyConnection) -> None:
        """Load the definition tables into this cursor's temporary schema once (parsing them is the slow part)."""
        present = cur.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = ?", [self._tables["entity_kpi"]]
        ).fetchone()
        if present and present[0]:
            return
        for statement in self._create_sql:
            cur.execute(statement)

    def compute(
        self,
        cur: duckdb.DuckDBPyConnection,
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
        self._ensure_definitions(cur)
        population_list = None if population is None else sorted(population)
        rows = cur.execute(
            self._sql,
            {"periods": list(periods), "levels": levels, "metrics": list(metrics), "scope": population_list},
        ).fetchall()
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
        self, cur: duckdb.DuckDBPyConnection, period: str, *, scope: AccessScope = FULL_ACCESS
    ) -> list[KpiValue]:
        """Every KPI's main figure at every level for one period (what `report` prints)."""
        return self.compute(cur, [period], metrics=[k.id for k in self.catalogue.kpis], scope=scope)

    def changes(
        self, cur: duckdb.DuckDBPyConnection, period: str, *, levels: Iterable[str] = ("national",),
        scope: AccessScope = FULL_ACCESS,
    ) -> dict[tuple[str, str, str | None], dict[str, float | None]]:
        """Quarter-on-quarter and year-on-year change of each KPI's value (in the KPI's own unit)."""
        previous, year_ago = shift_period(period, -1), shift_period(period, -4)
        values = self.compute(
            cur, [period, previous, year_ago], levels=levels,
            metrics=[k.id for k in self.catalogue.kpis], scope=scope,
        )
        by = {(v.period, v.metric, v.level, v.key): v.value for v in values}
        out: dict[tuple[str, str, str | None], dict[str, float | None]] = {}
        for v in values:
            if v.period != period:
                continue
            prev = by.get((previous, v.metric, v.level, v.key))
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
