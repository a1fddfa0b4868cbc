"""Benchmark: a national briefing pack on the sample data (plan, PowerPoint, PDF) vs the engine's `report` alone.

Run: python scripts/bench_briefing.py [--period 2025Q4] [--lang kk] [--no-pdf]. Prints median times and their
ratio to the baseline measured in the same run, so the figures compare across machines.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from kpi.briefing import (  # noqa: E402
    BriefingRequest,
    BriefingScope,
    PdfUnavailable,
    plan_briefing,
    pptx_to_pdf,
    render_pptx,
)
from kpi.sample import generate_sample  # noqa: E402
from kpi.service import engine, load_sample  # noqa: E402
from kpi.settings import get_settings  # noqa: E402
from kpi.store import Store  # noqa: E402


def median_ms(action: Callable[[], object], repeats: int) -> float:
    """The median wall time of an action, in milliseconds."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--period", default="2025Q4")
    parser.add_argument("--lang", default="kk", choices=["kk", "ru", "en"])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-pdf", action="store_true", help="skip the LibreOffice conversion")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "bench.duckdb") as store:
        started = time.perf_counter()
        accepted = load_sample(store, get_settings().sample_dir)
        if not accepted:  # no sample yet, or one written for an older template: make a fresh one
            generate_sample(Path(tmp) / "sample")
            accepted = load_sample(store, Path(tmp) / "sample")
        print(f"sample: {accepted} returns loaded in {time.perf_counter() - started:.2f} s")

        cur = store.cursor()
        kpi_engine = engine()
        request = BriefingRequest(period=args.period, scope=BriefingScope("national"), lang=args.lang)
        plan = plan_briefing(cur, request, kpi_engine)  # warm the SQL text and font caches
        deck = render_pptx(plan)

        baseline = median_ms(lambda: kpi_engine.report(cur, args.period), args.repeats * 4)
        planning = median_ms(lambda: plan_briefing(cur, request, kpi_engine), args.repeats)
        drawing = median_ms(lambda: render_pptx(plan), args.repeats)
        pack = planning + drawing
        print(f"baseline: engine report, one period, every KPI x level x key: {baseline:8.1f} ms")
        print(f"plan the pack ({len(plan.slides)} slides, every figure computed): {planning:8.1f} ms "
              f"({planning / baseline:5.1f}x baseline)")
        print(f"draw the PowerPoint ({len(deck) / 1024:.0f} KiB, native charts): {drawing:8.1f} ms "
              f"({drawing / baseline:5.1f}x baseline)")
        print(f"national pack, plan + draw: {pack:8.1f} ms ({pack / baseline:5.1f}x baseline)")
        if args.no_pdf:
            return
        try:
            pdf_ms = median_ms(lambda: pptx_to_pdf(deck, lang=args.lang), max(1, args.repeats // 2))
        except PdfUnavailable as problem:
            print(f"PDF skipped: {problem}")
            return
        print(f"PDF through LibreOffice headless: {pdf_ms:8.1f} ms ({pdf_ms / baseline:5.1f}x baseline, "
              f"{pdf_ms / pack:4.1f}x the pack)")


if __name__ == "__main__":
    main()
