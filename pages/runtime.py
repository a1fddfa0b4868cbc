"""The server process's memory: Streamlit's collection after every run replaced by a frozen start-up heap and
a janitor thread (`tune_gc`), once per process."""

from __future__ import annotations

import functools
import gc
import threading
from typing import Any

import streamlit as st

from pages.connection import catalogue, kpi_engine, registry

# Streamlit's default is a full collection after every script run, over the whole heap (hundreds of MB of
# modules, catalogue and caches): most of a page run's time. Instead, once at start-up, that heap is frozen
# (never scanned again) and a janitor thread collects what the runs left (cycles of frames, figures, ended
# sessions) every few seconds, which over the rest of the heap (100,000-300,000 objects) takes tens of
# milliseconds of CPU, and hands freed memory back to the system.
COLLECT_EVERY_SECONDS = 2.0
TRIM_EVERY_SECONDS = 20.0
# glibc's malloc gives each thread that allocates at once an arena of its own (up to eight per core) and keeps
# what was freed in them; Streamlit runs every script run on a new thread. Two arenas keep memory compact.
MALLOC_ARENAS = 2
# A young collection every 10,000 net allocations instead of 700: a page run allocates tens of thousands of
# objects that die with it, and a larger nursery promotes fewer of them to the older generations.
GC_THRESHOLDS = (10_000, 10, 10)
_gc_tuned = False
_gc_lock = threading.Lock()


def tune_gc() -> None:
    """Once per process, when start-up has loaded the store, catalogue, registry and engine: freeze that heap
    (`gc.freeze`), raise the young generation's threshold, limit malloc's arenas and start the janitor thread.

    Only when Streamlit's own collection after every run is off (`runner.postScriptGC = false`, as the shipped
    config says); with it on (today's behaviour, the load benchmark's baseline) the collector is left alone.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    with _gc_lock:
        if _gc_tuned:
            return
        _gc_tuned = True
        if st.get_option("runner.postScriptGC"):
            return
        catalogue(), registry(), kpi_engine()
        import plotly.graph_objects  # noqa: F401  (its lazily loaded parts are large and live forever)

        libc = _libc()
        if libc is not None:
            libc.mallopt(-8, MALLOC_ARENAS)  # M_ARENA_MAX
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        threading.Thread(target=_janitor, name="parasat-gc", daemon=True).start()


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, Windows): nothing to tune
        return None


def _janitor() -> None:
    """Collect every COLLECT_EVERY_SECONDS, trim malloc every TRIM_EVERY_SECONDS (a daemon thread, for ever)."""
    import os
    import sys
    import time

    libc, last_trim, verbose = _libc(), time.monotonic(), bool(os.environ.get("PARASAT_GC_LOG"))
    while True:
        time.sleep(COLLECT_EVERY_SECONDS)
        started = time.perf_counter()
        found = gc.collect()
        collected = time.perf_counter() - started
        trimmed = 0.0
        if libc is not None and time.monotonic() - last_trim > TRIM_EVERY_SECONDS:
            last_trim = time.monotonic()
            libc.malloc_trim(0)
            trimmed = time.perf_counter() - started - collected
        if verbose:
            print(f"parasat-gc: {found} objects in {collected * 1000:.1f} ms, trim {trimmed * 1000:.1f} ms, "
                  f"{len(gc.get_objects())} tracked", file=sys.stderr, flush=True)
