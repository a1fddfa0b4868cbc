"""The app's one connection to its database (a cached `Store`), a cursor per script run, the data version every
cache key carries, and the catalogue, registry and KPI engine every page reads."""

from __future__ import annotations

import queue
import threading

import streamlit as st

from kpi import auth, sessions
from kpi.catalogue import Catalogue, Registry, load_catalogue, load_registry
from kpi.engine import KpiEngine
from kpi.service import engine, open_store
from kpi.settings import get_settings, resolve_db_path
from kpi.store import Cursor, Store


def _close_store(store: Store) -> None:
    store.close()


@st.cache_resource(show_spinner=False, on_release=_close_store)
def _open_store(db_path: str) -> Store:
    from pages.upload_flow import sweep_staged_uploads  # the upload flow reads the store: imported when opened

    store = open_store()
    settings = get_settings()
    secret = settings.admin_password.get_secret_value() if settings.admin_password else None
    generated = auth.ensure_admin(store, secret)
    if generated:  # printed once, to the server's log, never shown in the app
        print(f"Parasat: first admin created. Username: admin  Password: {generated}", flush=True)
    sessions.serve(store)
    sweep_staged_uploads()
    return store


def get_store() -> Store:
    """The process's one connection to the app's database (the default one gets the sample returns on first use)."""
    return _open_store(str(resolve_db_path()[0]))


# Cursors are lent to script runs, not kept by sessions: a cursor that has run the engine holds over a MB of
# DuckDB memory (its temporary tables of formulas and duties), which 30 sessions each holding one never gave
# back. Streamlit runs a script run on a thread of its own; the run's thread keeps its cursor in a thread-local
# lease, and when the thread ends the lease goes and the cursor returns to the pool, its tables still loaded.
# So the process holds as many cursors as runs ever went on at once, whatever the number of sessions.
_cursor_pool: queue.SimpleQueue[tuple[Store, Cursor]] = queue.SimpleQueue()
_run_local = threading.local()


class _CursorLease:
    def __init__(self, store: Store, cur: Cursor) -> None:
        self.store = store
        self.cursor = cur

    def __del__(self) -> None:  # the thread that held it has ended (or moved to another store)
        _cursor_pool.put((self.store, self.cursor))


def cursor() -> Cursor:
    """A cursor on the shared connection for this script run's thread alone (never used by two threads at once)."""
    store = get_store()
    lease: _CursorLease | None = getattr(_run_local, "lease", None)
    if lease is None or lease.store is not store:
        cur = None
        while cur is None:
            try:
                pooled_store, pooled = _cursor_pool.get_nowait()
            except queue.Empty:
                break
            if pooled_store is store:  # cursors of a store closed since are dropped
                cur = pooled
        lease = _CursorLease(store, cur if cur is not None else store.cursor())
        _run_local.lease = lease
    return lease.cursor


# Only this process writes the embedded database (DuckDB lets one process hold it), and every write the app makes
# clears this cache (an upload in `upload_flow.confirm_batch`, a target on the Administration page with every
# cached call), so the version is asked of the database at most once a second instead of several times on every
# page run.
DATA_VERSION_TTL_SECONDS = 1.0


@st.cache_data(ttl=DATA_VERSION_TTL_SECONDS, max_entries=4, show_spinner=False)
def _cached_data_version(db_path: str) -> str:
    return get_store().data_version()


def data_version() -> str:
    """The token that changes when returns or targets change: part of every cache key."""
    return _cached_data_version(str(get_store().db_path))


def data_changed() -> None:
    """Forget the data version held for a second: this process has just written returns."""
    _cached_data_version.clear()


def catalogue() -> Catalogue:
    """The guide: groups, KPIs, projects, tasks and measures (read once per process)."""
    return load_catalogue()


def registry() -> Registry:
    """The entities and regions that report (read once per process)."""
    return load_registry()


def kpi_engine() -> KpiEngine:
    """The KPI engine over the catalogue and the registry (one per process)."""
    return engine()
