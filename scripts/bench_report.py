"""Benchmark: `report` for one period at every level, vs a plain scan of the same rows; on DuckDB and, with
`--pg`, on PostgreSQL in the same run, with the ratio between the two.

Run: python scripts/bench_report.py [--copies 10] [--pg URL | --pg auto]. The data are the sample returns
(2024Q1-2025Q4); `--copies N` makes the nation N times larger (every entity and its returns copied under
synthetic codes, as scripts/bench_pages.py does: 20 gives 1,840 entities). `--pg auto` starts a private
PostgreSQL 15 for the run (scripts/pgserver.py); a URL must name an empty database. Prints median times.

    python scripts/bench_report.py --national --pg      # 1,840 entities (--copies 20), DuckDB and PostgreSQL
    python scripts/bench_report.py --ten-million --pg   # about 10 M current facts (467 copies, 42,964 entities)

With two stores it checks that `report` gives identical rows on both. Besides the whole report (every KPI at
every level, 15,496 rows at national scale) it times the report without the entity rows (national, by type,
by region: what a national page asks for) and the first report on a new connection, which also loads the
registry's definition tables. DuckDB's own full-scan group-by of 10 M facts took 94 ms on this machine;
PostgreSQL should answer a report for one period within 1 s. Not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpi.catalogue import DATA_DIR, load_registry  # noqa: E402
from kpi.service import engine, load_sample  # noqa: E402
from kpi.store import Store, db  # noqa: E402

PERIOD = "2025Q4"
NATIONAL_COPIES = 20  # 1,840 entities: about the bodies, akimats, universities and companies that file
TEN_MILLION_COPIES = 467  # 21,422 current facts in a copy of the sample: 10,004,074 facts
AGGREGATE_LEVELS = ("national", "entity_type", "region")


def median_ms(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        action()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def larger_registry(folder: Path, copies: int) -> Path:
    """The registry with every entity `copies` times (codes `<code>__1` ..., as `copy_entities` names them)."""
    registry = yaml.safe_load((DATA_DIR / "entities.yaml").read_text(encoding="utf-8"))
    originals = list(registry["entities"])
    for copy in range(1, copies):
        for entity in originals:
            clone = dict(entity)
            clone["code"] = f"{entity['code']}__{copy}"
            clone["name"] = {lang: f"{text} #{copy}" for lang, text in entity["name"].items()}
            registry["entities"].append(clone)
    path = folder / f"entities_x{copies}.yaml"
    path.write_text(yaml.safe_dump(registry, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@contextlib.contextmanager
def postgres(url: str | None) -> Iterator[str | None]:
    """The PostgreSQL to compare with: the URL given, a private server for `auto`, or none."""
    if url != "auto":
        yield url
        return
    from scripts.pgserver import PgServer

    server = PgServer(Path(tempfile.mkdtemp(prefix="parasat-bench-pg-")))
    try:
        server.start()
        yield server.url
    finally:
        server.stop()
        server.remove()


def load(store: Store, copies: int) -> dict[str, Any]:
    """Load the sample and make the nation `copies` times larger."""
    t0 = time.perf_counter()
    accepted = load_sample(store)
    load_s = time.perf_counter() - t0
    if copies > 1:
        with store.transaction() as cur:
            db(cur).returns.copy_entities(copies)
    return {"accepted": accepted, "load_s": load_s}


def measure(cursors: dict[str, Any], repeats: int) -> dict[str, dict[str, Any]]:
    """Time the scan and the report on every store, taking turns run by run (the same load on each)."""
    kpi_engine = engine()
    results: dict[str, dict[str, Any]] = {}
    metrics = [k.id for k in kpi_engine.catalogue.kpis]
    for name, cur in cursors.items():
        t0 = time.perf_counter()
        rows = kpi_engine.report(cur, PERIOD)  # warm: definition tables, SQL text
        results[name] = {"rows": len(rows), "first": (time.perf_counter() - t0) * 1000, "values": rows,
                         "facts": len(db(cur).returns.current_values(PERIOD)),
                         "entities": len(db(cur).returns.current_ids(PERIOD)), "scan": [], "report": [],
                         "aggregate": []}
    for _ in range(repeats):
        for name, cur in cursors.items():
            t0 = time.perf_counter()
            db(cur).returns.current_values(PERIOD)
            t1 = time.perf_counter()
            kpi_engine.report(cur, PERIOD)
            t2 = time.perf_counter()
            kpi_engine.compute(cur, [PERIOD], levels=AGGREGATE_LEVELS, metrics=metrics)
            t3 = time.perf_counter()
            results[name]["scan"].append((t1 - t0) * 1000)
            results[name]["report"].append((t2 - t1) * 1000)
            results[name]["aggregate"].append((t3 - t2) * 1000)
    for result in results.values():
        for key in ("scan", "report", "aggregate"):
            result[key] = statistics.median(result[key])
    return results


def same_rows(a: list[Any], b: list[Any]) -> bool:
    """Whether two reports hold the same rows (in any order; floats to 9 places)."""
    def rounded(row: Any) -> tuple[Any, ...]:
        return tuple(round(v, 9) if isinstance(v, float) else v for v in row.contract_dict().values())

    return sorted(map(rounded, a), key=repr) == sorted(map(rounded, b), key=repr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=1, help="the nation N times over (20: 1,840 entities)")
    parser.add_argument("--national", action="store_true", help=f"--copies {NATIONAL_COPIES}: the national scale")
    parser.add_argument("--ten-million", action="store_true",
                        help=f"--copies {TEN_MILLION_COPIES}: about 10 M current facts")
    parser.add_argument("--pg", nargs="?", const="auto", metavar="URL",
                        help="a postgresql:// URL of an empty database, or `auto` (alone: the same) for a private "
                             "server")
    parser.add_argument("--repeats", "--repeat", type=int, default=0, help="runs per store (15; 3 at 10 M)")
    args = parser.parse_args()
    if args.ten_million:
        args.copies = TEN_MILLION_COPIES
    elif args.national and args.copies <= 1:
        args.copies = NATIONAL_COPIES
    args.repeats = args.repeats or (3 if args.copies >= 100 else 15)
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        os.environ.setdefault("PARASAT_SECRET_FILE", str(Path(tmp) / "bench.secret"))
        if args.copies > 1:
            os.environ["PARASAT_ENTITIES_FILE"] = str(larger_registry(Path(tmp), args.copies))
            load_registry.cache_clear()
            engine.cache_clear()
        stores = {"DuckDB": stack.enter_context(Store(Path(tmp) / "bench.duckdb"))}
        url = stack.enter_context(postgres(args.pg))
        if url:
            stores["PostgreSQL"] = stack.enter_context(Store(url))
        loaded = {name: load(store, args.copies) for name, store in stores.items()}
        cursors = {name: store.cursor() for name, store in stores.items()}
        results = measure(cursors, args.repeats)
        for cur in cursors.values():
            cur.close()
    print(f"registry: {len(load_registry().entities)} entities; period {PERIOD}; median of {args.repeats} runs, "
          "the stores taking turns")
    for name, r in results.items():
        print(f"{name:10} sample: {loaded[name]['accepted']} returns loaded in {loaded[name]['load_s']:.1f} s; "
              f"{r['entities']} entities reported, {r['facts']} current facts in the period")
        print(f"{name:10} scan of the period's current values: {r['scan']:8.1f} ms")
        print(f"{name:10} report, one period, every KPI x level x key ({r['rows']} rows): {r['report']:8.1f} ms "
              f"(ratio {r['report'] / r['scan']:.1f}x the scan)")
        print(f"{name:10} the same without the entity rows (national, type, region): {r['aggregate']:8.1f} ms; "
              f"the first report on a new connection (loads the definitions): {r['first']:8.1f} ms")
    if len(results) == 2:
        duck, pg = results["DuckDB"], results["PostgreSQL"]
        print(f"PostgreSQL / DuckDB: report {pg['report'] / duck['report']:.2f}x, without the entity rows "
              f"{pg['aggregate'] / duck['aggregate']:.2f}x, scan {pg['scan'] / duck['scan']:.2f}x; identical rows: "
              f"{'yes' if same_rows(duck['values'], pg['values']) else 'NO'}")


if __name__ == "__main__":
    main()
