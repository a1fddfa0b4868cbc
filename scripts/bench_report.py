"""Benchmark: `report` for one period at every level, against a plain scan of the same rows.

    python scripts/bench_report.py                                  # the sample (92 entities), DuckDB
    python scripts/bench_report.py --national [--copies 20]         # the sample replicated to national scale
    python scripts/bench_report.py --national --pg [--ten-million]  # the same on DuckDB and PostgreSQL
    python scripts/bench_report.py --ten-million [--pg]             # only the 10 M-fact databases
    python scripts/bench_report.py --copies 20 --pg URL             # a given, empty PostgreSQL database

`--national` (or `--copies N`) copies every sample entity and its returns N times in the store
(`copy_entities`, codes `<code>__1` ...) and builds the engine over a registry holding the copies: 20 copies
make 1,840 entities, about the number of bodies, akimats, universities and companies that file nationally.
`--pg` (or `--pg auto`) builds the same data in a private PostgreSQL 15 (scripts/pgserver.py, durability off
while loading: reads are not affected) in the same run; `--pg URL` uses an empty database instead. It checks
that `report` gives identical rows on both and prints each store's time and their ratio. `--ten-million` adds
a database of about 10 M facts (current return values) on each store (DuckDB's own full-scan group-by of 10 M
facts took 94 ms on this machine; PostgreSQL should answer `report` for one period within 1 s). The first
report on a new connection also loads the registry's definition tables and is timed apart. Medians over
repeated runs; not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpi.catalogue import Registry, load_catalogue, load_registry  # noqa: E402
from kpi.engine import KpiEngine  # noqa: E402
from kpi.service import load_sample, open_store  # noqa: E402
from kpi.store import Store, db  # noqa: E402

PERIOD = "2025Q4"
TEN_MILLION = 10_000_000
AGGREGATE_LEVELS = ("national", "entity_type", "region")


def median_ms(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        action()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def scaled_registry(copies: int) -> Registry:
    """The registry with every entity `copies` times: the originals and `<code>__1` ... as `copy_entities` names them."""
    registry = load_registry()
    clones = [entity.model_copy(update={"code": f"{entity.code}__{copy}"})
              for copy in range(1, copies) for entity in registry.entities]
    return Registry(schema_version=registry.schema_version, regions=registry.regions,
                    entities=registry.entities + tuple(clones))


@contextmanager
def postgres(folder: Path, url: str = "auto") -> Iterator[str]:
    """The PostgreSQL to compare with: a private PostgreSQL 15 for the run (stopped and removed afterwards), or
    the URL given."""
    from scripts.pgserver import PgServer

    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o711)  # the postgres user walks down to its data directory
    os.environ["PARASAT_SECRET_FILE"] = str(folder / "parasat-pg.secret")  # the URL store's audit key
    if url != "auto":
        yield url
        return
    server = PgServer(folder / "pg", fast=True)
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
        server.remove()


def build(target: str | Path, copies: int) -> tuple[Store, dict[str, Any]]:
    """The sample loaded, then copied `copies` times; the store and what it holds."""
    started = time.perf_counter()
    store = open_store(target)
    load_sample(store)
    loaded = time.perf_counter() - started
    cur = store.cursor()
    # Counted before copying (each copy holds the same facts): reading 10 M back into Python takes long.
    facts = copies * sum(len(db(cur).returns.current_values(p)) for p in db(cur).returns.periods())
    versions = db(cur).returns.count()
    cur.close()
    started = time.perf_counter()
    with store.transaction() as cur:
        versions, entities = db(cur).returns.copy_entities(copies) if copies > 1 else (versions, 0)
    return store, {"load_s": loaded, "copy_s": time.perf_counter() - started, "versions": versions,
                   "entities": entities or len(load_registry().entities), "facts": facts}


def measure(store: Store, engine: KpiEngine, repeats: int) -> dict[str, Any]:
    """`report` for one period, and a plain scan of that period's current values, in ms."""
    cur = store.cursor()
    try:
        started = time.perf_counter()
        rows = engine.report(cur, PERIOD)  # the first on a cursor also loads the registry's definition tables
        first = (time.perf_counter() - started) * 1000
        scan = median_ms(lambda: db(cur).returns.current_values(PERIOD), repeats)
        report = median_ms(lambda: engine.report(cur, PERIOD), repeats)
        # What a national page asks for: every KPI nationally, by entity type and by region (no entity rows).
        metrics = [k.id for k in engine.catalogue.kpis]
        aggregate = median_ms(lambda: engine.compute(cur, [PERIOD], levels=AGGREGATE_LEVELS, metrics=metrics),
                              repeats)
    finally:
        cur.close()
    return {"scan_ms": scan, "report_ms": report, "first_ms": first, "aggregate_ms": aggregate, "rows": rows}


def run(name: str, target: str | Path, copies: int, repeats: int) -> dict[str, Any]:
    print(f"{name}: building ({copies} copies of the sample) ...", flush=True)
    store, built = build(target, copies)
    try:
        engine = KpiEngine(load_catalogue(), scaled_registry(copies))
        result = built | measure(store, engine, repeats)
    finally:
        store.close()
    print(f"{name}: {result['entities']:,} entities, {result['versions']:,} return versions, "
          f"{result['facts']:,} current facts (sample loaded in {result['load_s']:.1f} s, copied in "
          f"{result['copy_s']:.1f} s); report {PERIOD}: {result['report_ms']:.1f} ms "
          f"({len(result['rows'])} rows; the first on a new connection {result['first_ms']:.0f} ms; without "
          f"the entity rows {result['aggregate_ms']:.1f} ms), "
          f"scan of the period: {result['scan_ms']:.1f} ms", flush=True)
    return result


def same_rows(a: list[Any], b: list[Any]) -> bool:
    def key(row: Any) -> tuple[str, str, str]:
        return row.kpi, row.level, row.key or ""

    def rounded(row: Any) -> tuple[Any, ...]:
        return tuple(round(v, 9) if isinstance(v, float) else v for v in row.contract_dict().values())

    return [rounded(r) for r in sorted(a, key=key)] == [rounded(r) for r in sorted(b, key=key)]


def compare(label: str, duck: dict[str, Any], pg: dict[str, Any]) -> None:
    identical = same_rows(duck["rows"], pg["rows"])
    print(f"\n{label}: report {PERIOD}, median of the runs")
    print(f"  {'':22} {'DuckDB':>10} {'PostgreSQL':>12} {'PG / DuckDB':>12}")
    for title, field in (("report (ms)", "report_ms"), ("without entity rows", "aggregate_ms"),
                         ("first, new connection", "first_ms"),
                         ("scan of the period (ms)", "scan_ms")):
        print(f"  {title:22} {duck[field]:10.1f} {pg[field]:12.1f} {pg[field] / duck[field]:11.1f}x")
    print(f"  identical rows on both stores: {'yes' if identical else 'NO'} ({len(duck['rows'])} rows)")


def sample_only(repeats: int) -> None:
    """The original benchmark: the sample on DuckDB, every KPI and level, and all eight periods at once."""
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        t0 = time.perf_counter()
        accepted = load_sample(store)
        load_s = time.perf_counter() - t0
        cur = store.cursor()
        kpi_engine = KpiEngine(load_catalogue(), load_registry())
        kpi_engine.report(cur, PERIOD)  # warm the SQL text cache
        scan = median_ms(lambda: db(cur).returns.current_values(PERIOD), repeats)
        report = median_ms(lambda: kpi_engine.report(cur, PERIOD), repeats)
        rows = len(kpi_engine.report(cur, PERIOD))
        periods = [f"{y}Q{q}" for y in (2024, 2025) for q in (1, 2, 3, 4)]
        eight = median_ms(lambda: kpi_engine.compute(cur, periods), repeats)
        cur.close()
    print(f"sample: {accepted} returns loaded in {load_s:.2f} s")
    print(f"baseline scan of the period's current values: {scan:7.2f} ms")
    print(f"report, one period, every KPI x level x key ({rows} rows): {report:7.2f} ms  "
          f"(ratio {report / scan:.1f}x the scan)")
    print(f"every metric incl. breakdowns, all 8 sample periods: {eight:7.2f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--national", action="store_true", help="replicate the sample to national scale")
    parser.add_argument("--copies", type=int, default=0, help="copies of the sample (default 20: 1,840 entities)")
    parser.add_argument("--pg", nargs="?", const="auto", metavar="URL",
                        help="the same on PostgreSQL in the same run: a private server (`auto`, the default), "
                             "or the URL of an empty database")
    parser.add_argument("--ten-million", action="store_true", help="(also) about 10 M facts on each store")
    parser.add_argument("--repeat", "--repeats", type=int, default=0,
                        help="runs per measurement (default 30, 5 at 10 M)")
    args = parser.parse_args()
    national = args.national or args.copies > 1
    if not national and not args.ten_million:
        sample_only(args.repeat or 30)
        return 0
    if args.pg not in (None, "auto") and national and args.ten_million:
        parser.error("a --pg URL holds one database: leave out --ten-million or --national")
    with tempfile.TemporaryDirectory(prefix="parasat-bench-report-") as tmp:
        work = Path(tmp)
        work.chmod(0o711)  # the postgres user walks down to its data directory
        sizes = [("national", args.copies or 20, args.repeat or 30)] if national else []
        if args.ten_million:
            per_copy = run("DuckDB, the sample", work / "sample.duckdb", 1, 3)["facts"]
            sizes.append(("10 M facts", math.ceil(TEN_MILLION / per_copy), args.repeat or 5))
        for label, copies, repeats in sizes:
            duck = run(f"DuckDB, {label}", work / f"{label[:2]}.duckdb", copies, repeats)
            if args.pg:
                with postgres(work / f"pg-{copies}", args.pg) as url:
                    pg = run(f"PostgreSQL, {label}", url, copies, repeats)
                compare(f"{label} ({duck['entities']:,} entities, {duck['facts']:,} facts)", duck, pg)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
