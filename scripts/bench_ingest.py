"""Benchmark: ingest 1,000 filled returns end to end vs merely reading them with pandas + openpyxl.

Run: python scripts/bench_ingest.py [--files 1000] [--runs 3]. Prints both times and the ratio (higher is better).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpi.sample import generate_sample  # noqa: E402

CACHE = ROOT / "bench" / "out" / "returns"
PERIODS = [f"{y}Q{q}" for y in (2023, 2024, 2025) for q in (1, 2, 3, 4)]


def returns(count: int) -> list[Path]:
    """At least `count` distinct filled returns (generated once, then reused)."""
    if not (CACHE / "manifest.json").exists():
        generate_sample(CACHE, seed=11, periods=PERIODS)
    files = sorted(p for p in CACHE.rglob("*.xlsx"))
    if len(files) < count:
        raise SystemExit(f"only {len(files)} returns generated, {count} asked")
    return files[:count]


def ingest_once(files: list[Path]) -> float:
    """Seconds for one `python -m kpi ingest` of the files into a new database."""
    work = Path(tempfile.mkdtemp(prefix="parasat-bench-"))
    try:
        db = work / "bench.duckdb"
        t0 = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "kpi", "ingest", "--db", str(db), *map(str, files)],
                                cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
        if result.returncode != 0:
            raise SystemExit(result.stdout[-2000:] + result.stderr[-2000:])
        return seconds
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3, help="ingest runs (the median counts; the machine is noisy)")
    args = parser.parse_args()
    files = returns(args.files)
    import pandas as pd

    t0 = time.perf_counter()
    for path in files:
        pd.read_excel(path, sheet_name=None, engine="openpyxl")
    baseline = time.perf_counter() - t0

    runs = sorted(ingest_once(files) for _ in range(args.runs))
    ingest = statistics.median(runs)
    print(f"files: {len(files)}")
    print(f"baseline pandas.read_excel(openpyxl), read only: {baseline:8.2f} s  ({baseline / len(files) * 1000:.1f} ms/file)")
    print(f"python -m kpi ingest, check+read+validate+write: {ingest:8.2f} s  ({ingest / len(files) * 1000:.1f} ms/file)"
          f"  median of {len(runs)} runs: {', '.join(f'{r:.2f}' for r in runs)} s")
    print(f"ratio (baseline / ingest): {baseline / ingest:.1f}x  (best run {baseline / runs[0]:.1f}x)")


if __name__ == "__main__":
    main()
