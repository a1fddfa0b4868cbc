"""Benchmark: `report` for one period at every level, vs a plain scan of the same rows; on DuckDB and, with
`--pg`, on PostgreSQL in the same run, with the ratio between the two.

Run: python scripts/bench_report.py [--copies 10] [--pg URL | --pg auto]. The data are the sample returns
(2024Q1-2025Q4); `--copies N` makes the nation N times larger (every entity and its returns copied under
synthetic codes, as scripts/bench_pages.py does: 20 gives 1,840 entities). `--pg auto` starts a private
PostgreSQL 15 for the run (scripts/pgserver.py); a URL must name an empty database. Prints median times.
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
    for name, cur in cursors.items():
        results[name] = {"rows": len(kpi_engine.report(cur, PERIOD)),  # warm: definition tables, SQL text
                         "facts": len(db(cur).returns.current_values(PERIOD)),
                         "entities": len(db(cur).returns.current_ids(PERIOD)), "scan": [], "report": []}
    for _ in range(repeats):
        for name, cur in cursors.items():
            t0 = time.perf_counter()
            db(cur).returns.current_values(PERIOD)
            t1 = time.perf_counter()
            kpi_engine.report(cur, PERIOD)
            t2 = time.perf_counter()
            results[name]["scan"].append((t1 - t0) * 1000)
            results[name]["report"].append((t2 - t1) * 1000)
    for result in results.values():
        result["scan"], result["report"] = statistics.median(result["scan"]), statistics.median(result["report"])
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--copies", type=int, default=1, help="the nation N times over (20: 1,840 entities)")
    parser.add_argument("--pg", help="a postgresql:// URL of an empty database, or `auto` for a private server")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
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
    if len(results) == 2:
        duck, pg = results["DuckDB"], results["PostgreSQL"]
        print(f"PostgreSQL / DuckDB: report {pg['report'] / duck['report']:.2f}x, scan {pg['scan'] / duck['scan']:.2f}x")


if __name__ == "__main__":
    main()
