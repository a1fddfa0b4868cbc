"""Which backend a cursor belongs to: `db(cur)` gives the repositories of DuckDB's or PostgreSQL's cursor, and
`KpiQuery` runs the engine's one query in the dialect of the cursor it is given. PostgreSQL's driver is only
imported when a store named by a URL is opened."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from kpi.store import base, duck


def db(cur: Any) -> base.Queries:
    """The store's queries on a cursor, in the cursor's own database."""
    if isinstance(cur, duck.Cursor):
        return duck.Queries(cur)
    from kpi.store import pg  # noqa: PLC0415 - a DuckDB-only process never loads the driver

    return pg.Queries(cur)


class KpiQuery(base.KpiQuery):
    """The engine's one query, built for each backend the first time a cursor of it is given."""

    def __init__(self, definitions: Mapping[str, Sequence[tuple[Any, ...]]]) -> None:
        self._definitions = definitions
        self._duck: duck.KpiQuery | None = None
        self._pg: base.KpiQuery | None = None

    def run(self, cur: Any, periods: Sequence[str], levels: Sequence[str], metrics: Sequence[str],
            population: Sequence[str] | None) -> list[tuple[Any, ...]]:
        """(period, metric, kpi, level, key, numerator, denominator, value, reporting, expected) rows."""
        if isinstance(cur, duck.Cursor):
            if self._duck is None:
                self._duck = duck.KpiQuery(self._definitions)
            return self._duck.run(cur, periods, levels, metrics, population)
        if self._pg is None:
            from kpi.store import pg  # noqa: PLC0415

            self._pg = pg.KpiQuery(self._definitions)
        return self._pg.run(cur, periods, levels, metrics, population)
