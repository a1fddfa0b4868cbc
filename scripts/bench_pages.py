"""Page render benchmark: every dashboard page through AppTest, on the sample data and on ten times the nation.

    python scripts/bench_pages.py [--repeat 5]

The baseline is the sample database (the real registry, 2024Q1-2025Q4). The large dataset is built in
the same run: a synthetic registry with every entity ten times over (PARASAT_ENTITIES_FILE) and the
sample's accepted returns copied under those codes in SQL, so the engine aggregates ten times the rows.
Each page is timed cold (data cache cleared before the run, as after an upload) and warm (cached);
the table prints medians in milliseconds and the large/sample ratio. Not a test: nothing asserts a time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PAGES = ["pages/overview.py", "group_1", "group_2", "group_3", "group_4",  # group pages: one script, by URL path
         "pages/entity.py", "pages/map.py", "pages/upload.py", "pages/submissions.py", "pages/compliance.py"]
COPIES = 10


def point_at(db: Path, entities_file: Path | None) -> None:
    """Make the app, the settings and every process-wide cache use this database and registry."""
    import streamlit as st

    from kpi.catalogue import load_registry
    from kpi.service import engine
    from kpi.settings import get_settings

    os.environ["PARASAT_DB_PATH"] = str(db)
    if entities_file is None:
        os.environ.pop("PARASAT_ENTITIES_FILE", None)
    else:
        os.environ["PARASAT_ENTITIES_FILE"] = str(entities_file)
    st.cache_resource.clear()
    st.cache_data.clear()
    get_settings.cache_clear()
    load_registry.cache_clear()
    engine.cache_clear()


def build_sample(folder: Path) -> Path:
    """The default database with the sample returns (what a fresh install shows)."""
    from kpi.service import open_store

    db = folder / "sample.duckdb"
    point_at(db, None)
    with open_store() as store:
        assert not store.is_empty(), "no sample returns loaded: run `python -m kpi sample --out data/sample`"
    return db


def build_large(folder: Path, sample_db: Path) -> tuple[Path, Path]:
    """Ten times the nation: every entity and its returns copied under synthetic codes."""
    from kpi.catalogue import DATA_DIR
    from kpi.store import Store
    from kpi.store import db as queries

    registry = yaml.safe_load((DATA_DIR / "entities.yaml").read_text(encoding="utf-8"))
    originals = list(registry["entities"])
    for copy in range(1, COPIES):
        for entity in originals:
            clone = dict(entity)
            clone["code"] = f"{entity['code']}__{copy}"
            clone["name"] = {lang: f"{text} #{copy}" for lang, text in entity["name"].items()}
            registry["entities"].append(clone)
    entities_file = folder / "entities_x10.yaml"
    entities_file.write_text(yaml.safe_dump(registry, allow_unicode=True, sort_keys=False), encoding="utf-8")

    db = folder / "large.duckdb"
    shutil.copy(sample_db, db)
    with Store(db) as store, store.transaction() as cur:
        versions, entities = queries(cur).returns.copy_entities(COPIES)
    print(f"large dataset: {versions} return versions from {entities} entities")
    return db, entities_file


def time_pages(repeat: int) -> dict[str, dict[str, float]]:
    """Median cold and warm render time of each page, in milliseconds."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from kpi.auth import User

    ADMIN = User("bench", "Benchmark", "admin")  # noqa: N806  (every page, full read access)
    results: dict[str, dict[str, float]] = {}
    for page in PAGES:
        cold, warm = [], []
        for _ in range(repeat):
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
            at.session_state["_user"] = ADMIN
            at.run()
            if page.startswith("group_"):  # AppTest finds a page by its script: a group page by its URL path
                at._page_hash = next(h for h, info in at._registered_pages.items() if info.get("url_pathname") == page)
            elif page != "pages/overview.py":
                at.switch_page(page)
            st.cache_data.clear()
            started = time.perf_counter()
            at.run()
            cold.append(time.perf_counter() - started)
            _raise_on_exception(at, page)
            started = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - started)
        results[page] = {"cold": 1000 * statistics.median(cold), "warm": 1000 * statistics.median(warm)}
        print(f"  {page:24} cold {results[page]['cold']:8.0f} ms   warm {results[page]['warm']:8.0f} ms")
    return results


def _raise_on_exception(at: Any, page: str) -> None:
    if at.exception:
        raise RuntimeError(f"{page} failed: {[e.message for e in at.exception]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per page (the median is reported)")
    args = parser.parse_args()
    import logging

    logging.disable(logging.WARNING)  # AppTest outside a server warns on every cached call
    with tempfile.TemporaryDirectory(prefix="parasat-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        sample_db = build_sample(folder)
        print(f"sample database loaded in {time.perf_counter() - started:.1f} s")
        large_db, entities_file = build_large(folder, sample_db)

        point_at(sample_db, None)
        print("sample data (baseline):")
        baseline = time_pages(args.repeat)
        point_at(large_db, entities_file)
        print(f"ten times the nation ({COPIES}x entities and returns):")
        large = time_pages(args.repeat)
        point_at(sample_db, None)

    print()
    print(f"{'page':24} {'sample cold':>12} {'x10 cold':>10} {'ratio':>6} {'sample warm':>12} {'x10 warm':>10} {'ratio':>6}")
    for page in PAGES:
        b, big = baseline[page], large[page]
        print(f"{page:24} {b['cold']:10.0f}ms {big['cold']:8.0f}ms {big['cold'] / b['cold']:6.2f}"
              f" {b['warm']:10.0f}ms {big['warm']:8.0f}ms {big['warm'] / b['warm']:6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
