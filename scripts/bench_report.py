"""Benchmark: `report` for one period at every level on the sample data, vs a plain scan of the same rows.

Run: python scripts/bench_report.py. Prints median times over repeated runs and their ratio.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpi.service import engine, load_sample  # noqa: E402
from kpi.store import Store, db  # noqa: E402

REPEATS = 30


def median_ms(action) -> float:
    times = []
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        action()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        t0 = time.perf_counter()
        accepted = load_sample(store)
        load_s = time.perf_counter() - t0
        cur = store.cursor()
        kpi_engine = engine()
        kpi_engine.report(cur, "2025Q4")  # warm the SQL text cache
        scan = median_ms(lambda: db(cur).returns.current_values("2025Q4"))
        report = median_ms(lambda: kpi_engine.report(cur, "2025Q4"))
        rows = len(kpi_engine.report(cur, "2025Q4"))
        eight = median_ms(lambda: kpi_engine.compute(cur, [f"{y}Q{q}" for y in (2024, 2025) for q in (1, 2, 3, 4)]))
    print(f"sample: {accepted} returns loaded in {load_s:.2f} s")
    print(f"baseline scan of the period's current values: {scan:7.2f} ms")
    print(f"report, one period, every KPI x level x key ({rows} rows): {report:7.2f} ms  (ratio {report / scan:.1f}x the scan)")
    print(f"every metric incl. breakdowns, all 8 sample periods: {eight:7.2f} ms")


if __name__ == "__main__":
    main()
