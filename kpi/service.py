"""The services the app and the command line call: open the store, compute, set targets, load samples."""

from __future__ import annotations

import datetime as dt
import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from kpi import audit
from kpi.catalogue import load_catalogue, load_registry
from kpi.engine import KpiEngine, KpiValue
from kpi.settings import get_settings, resolve_db_path
from kpi.store import DIALECT, FULL_ACCESS, AccessScope, Store
from kpi.store import db as queries


class DatabaseBusy(RuntimeError):
    """The database file is held by another process (the embedded database lets one process open it)."""

    def __init__(self, path: Path, holder: str | None) -> None:
        super().__init__(f"{path} is held by another process{f' ({holder})' if holder else ''}")
        self.path = path
        self.holder = holder

    def message(self, lang: str) -> str:
        """What is going on and what to do, in the user's language."""
        from kpi.i18n import t

        holder = t("db.busy_holder", lang, holder=self.holder) if self.holder else ""
        return t("db.busy", lang, path=str(self.path), holder=holder)


def open_store(db: str | os.PathLike[str] | None = None, *, read_only: bool = False) -> Store:
    """Open a database; the app's default one is loaded with the sample returns on first use.

    Raises `DatabaseBusy` when another process (the running app, another command) holds the file.
    """
    path, is_default = resolve_db_path(db)
    try:
        store = Store(path, read_only=read_only)
    except Exception as problem:  # the driver's own exception class stays inside the store
        holder = DIALECT.lock_holder(problem)
        if holder is None:
            raise
        raise DatabaseBusy(Path(path), holder or None) from None
    if is_default and not read_only:
        cur = store.cursor()
        loaded = queries(cur).meta.has("sample_loaded")
        cur.close()
        if not loaded and store.is_empty():
            load_sample(store)
    return store


@lru_cache(maxsize=1)
def engine() -> KpiEngine:
    """The KPI engine over the catalogue and the entity registry (one per process)."""
    return KpiEngine(load_catalogue(), load_registry(), at_risk_margin=get_settings().at_risk_margin)


def report_rows(store: Store, period: str, *, scope: AccessScope = FULL_ACCESS) -> list[KpiValue]:
    """Every KPI at every level for a period (what `report --json` prints)."""
    cur = store.cursor()
    try:
        return engine().report(cur, period, scope=scope)
    finally:
        cur.close()


def list_targets(store: Store) -> list[dict[str, Any]]:
    """Every target set, by metric and year, with who set it."""
    cur = store.cursor()
    try:
        rows = queries(cur).targets.all()
    finally:
        cur.close()
    keys = ("metric", "year", "value", "source", "set_by", "set_at")
    return [dict(zip(keys, row)) for row in rows]


def known_metrics() -> set[str]:
    """Metric names a target can be set for: each KPI and each secondary figure."""
    catalogue = load_catalogue()
    return {k.id for k in catalogue.kpis} | {f"{k.id}:{s.key}" for k in catalogue.kpis for s in k.secondary}


def set_target(store: Store, metric: str, year: int, value: float, *, actor: str) -> None:
    """Set (or replace) the target of a metric for a year, on the audit trail."""
    if metric not in known_metrics():
        raise ValueError(f"unknown metric {metric!r}")
    if not 2000 <= year <= 2100 or value < 0:
        raise ValueError("year or value out of range")
    with store.transaction() as cur:
        queries(cur).targets.set(metric, year, value, actor)
        audit.record(store, actor, "target_set", metric, cur=cur, year=year, value=value)


def load_sample(store: Store, sample_dir: Path | None = None) -> int:
    """Ingest the committed sample returns in their recorded upload order; returns files accepted."""
    from kpi.ingest.pipeline import ingest_files

    sample_dir = sample_dir or get_settings().sample_dir
    manifest_path = sample_dir / "manifest.json"
    if not manifest_path.exists():
        return 0
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    paths = [str(sample_dir / item["file"]) for item in manifest["uploads"]]
    submitted = {
        str(sample_dir / item["file"]): dt.datetime.fromisoformat(item["submitted_at"])
        for item in manifest["uploads"]
    }
    display = {str(sample_dir / item["file"]): item["file"] for item in manifest["uploads"]}
    report = ingest_files(store, load_catalogue(), load_registry(), paths, uploaded_by="sample",
                          submitted_at=submitted, display_names=display)
    for year_metric in manifest.get("targets", []):
        set_target(store, year_metric["metric"], int(year_metric["year"]), float(year_metric["value"]),
                   actor="sample")
    with store.transaction() as cur:
        queries(cur).meta.put("sample_loaded", dt.date.today().isoformat())
    return sum(1 for o in report.outcomes if o.accepted)
