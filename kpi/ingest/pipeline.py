"""Ingest: check (container checks, one sandboxed read, validation) into a plan, then commit the plan; each file
all or nothing."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import chain
from typing import Any

import numpy as np

from kpi import audit, periods
from kpi.catalogue import Catalogue, Registry
from kpi.evidence import MONTHS
from kpi.ingest.sandbox import read_and_archive, reader_pool
from kpi.ingest.validate import Issue, ReturnData, problem_issue, validate
from kpi.settings import Settings, get_settings
from kpi.store import FULL_ACCESS, AccessScope, Cursor, Store, db


@dataclass
class FileOutcome:
    """What became of one uploaded file."""

    file: str
    status: str  # new | new_version | unchanged | rejected
    sha256: str | None = None
    entity: str | None = None
    period: str | None = None
    version: int | None = None
    replaces_version: int | None = None
    issues: list[Issue] = field(default_factory=list)
    changes: list[tuple[str, int | None, int]] = field(default_factory=list)
    data: ReturnData | None = None
    path: str = ""

    @property
    def accepted(self) -> bool:
        return self.status != "rejected"

    def as_dict(self, lang: str | None = None) -> dict[str, Any]:
        return {
            "file": self.file, "status": self.status, "accepted": self.accepted, "sha256": self.sha256,
            "entity": self.entity, "period": self.period, "version": self.version,
            "replaces_version": self.replaces_version,
            "changes": [{"measure": m, "old": old, "new": new} for m, old, new in self.changes],
            "errors": [issue.as_dict(lang) for issue in self.issues],
        }


@dataclass
class IngestReport:
    """The outcome of a batch, file by file, in the order given."""

    outcomes: list[FileOutcome]
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return all(o.accepted for o in self.outcomes)

    def as_dict(self, lang: str | None = None) -> dict[str, Any]:
        files = [o.as_dict(lang) for o in self.outcomes]
        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "accepted": [f for f in files if f["accepted"]],
            "rejected": [f for f in files if not f["accepted"]],
            "files": files,
        }


@dataclass
class IngestPlan:
    """What the check of a batch found, ready to commit without reading or validating again: each file's
    outcome (rejected with its errors, or its validated data and the version it would become) and the sha256
    each was read with; `archived` holds those already archived while they were read."""

    outcomes: list[FileOutcome]
    archived: set[str] = field(default_factory=set)

    @property
    def report(self) -> IngestReport:
        """The dry-run report: what committing would do, file by file."""
        return IngestReport(self.outcomes, dry_run=True)

    @property
    def hashes(self) -> dict[str, str]:
        """The staged path and sha256 of every file the commit would write."""
        return {o.path: o.sha256 or "" for o in self.outcomes if o.data is not None}


def check_files(
    store: Store,
    catalogue: Catalogue,
    registry: Registry,
    paths: Sequence[str | os.PathLike[str]],
    *,
    scope: AccessScope = FULL_ACCESS,
    display_names: Mapping[str, str] | None = None,
    settings: Settings | None = None,
    today: dt.date | None = None,
    raws: Sequence[dict[str, Any]] | None = None,
    archived: set[str] | None = None,
    archive: bool = False,
    plan_versions: bool = True,
) -> IngestPlan:
    """The check step: container checks, one sandboxed read and validation of each file, and the version
    each valid one would become. Writes nothing to the database; with `archive`, each valid file is
    archived as it is read (the caller commits at once). Every per-file error is produced here. Without
    `plan_versions` the outcomes do not say yet which version each file would become (the commit does).

    `raws` are the sandboxed reader's results for `paths` when the caller has read them already, and
    `archived` the sha256 of the files archived meanwhile (`kpi.ingest.sandbox.read_and_archive`).
    """
    settings = settings or get_settings()
    str_paths = [str(p) for p in paths]
    names = [(display_names or {}).get(p, os.path.basename(p)) for p in str_paths]
    archived = set(archived or ())
    if raws is None:
        early = store.archive if archive and store.archive.archives_while_reading else None
        raws, archived = read_and_archive(reader_pool(settings, today=today), str_paths, early,  # type: ignore[arg-type]
                                          scope.allows)
    outcomes: list[FileOutcome] = []
    for path, name, raw in zip(str_paths, names, raws):
        if not raw.get("ok"):
            outcomes.append(FileOutcome(name, "rejected", issues=[problem_issue(name, raw["problem"])]))
            continue
        data, issues = _validated(catalogue, registry, name, raw, today)
        if data is not None and (refusal := periods.refusal(store, data, today)) is not None:
            data, issues = None, [refusal]
        if data is None:
            outcomes.append(FileOutcome(name, "rejected", sha256=raw.get("sha256"), issues=issues))
        elif not scope.allows(data.entity):
            issue = Issue(file=name, code="forbidden_entity", params={"entity": data.entity},
                          sheet="Есеп", cell=None, value=data.entity)
            outcomes.append(FileOutcome(name, "rejected", sha256=data.sha256, issues=[issue]))
        else:
            outcomes.append(FileOutcome(name, "new", sha256=data.sha256, entity=data.entity,
                                        period=data.period, data=data, path=path))
    if plan_versions:
        _plan_versions(store, [o for o in outcomes if o.data is not None])
    return IngestPlan(outcomes, archived)


def commit_plan(
    store: Store,
    plan: IngestPlan,
    *,
    uploaded_by: str = "cli",
    scope: AccessScope = FULL_ACCESS,
    submitted_at: Mapping[str, dt.datetime] | None = None,
) -> IngestReport:
    """The commit step: write what a check planned, in one transaction, without reading or validating again.

    Each staged file must still have the sha256 it was checked with: it is hashed again as it goes into the
    archive (before the database is written), and a file that changed since is refused (`file_changed`).
    Versions are assigned again inside the transaction, so an upload saved meanwhile is not overwritten.
    The plan itself is left as it was.
    """
    outcomes = [replace(o, issues=list(o.issues), changes=list(o.changes)) for o in plan.outcomes]
    for o in outcomes:
        if o.data is not None and not scope.allows(o.entity or ""):
            o.status, o.data = "rejected", None
            o.issues = [Issue(file=o.file, code="forbidden_entity", params={"entity": o.entity},
                              sheet="Есеп", cell=None, value=o.entity)]
            o.entity = o.period = None
    pack = _archive_the_rest(store, outcomes, plan.archived)
    accepted = [o for o in outcomes if o.data is not None]
    if accepted:  # the trail (and, in PostgreSQL, the archived files) are written in the transaction of the returns
        _write(store, accepted, uploaded_by, submitted_at or {},
               lambda cur: (store.archive.keep(cur, pack),
                            audit.record_many(store, _upload_events(outcomes, uploaded_by), cur=cur)))
    else:  # a refused batch changes nothing but its refusal is on record
        audit.record_many(store, _upload_events(outcomes, uploaded_by))
    return IngestReport(outcomes, dry_run=False)


def ingest_files(
    store: Store,
    catalogue: Catalogue,
    registry: Registry,
    paths: Sequence[str | os.PathLike[str]],
    *,
    uploaded_by: str = "cli",
    scope: AccessScope = FULL_ACCESS,
    dry_run: bool = False,
    display_names: Mapping[str, str] | None = None,
    submitted_at: Mapping[str, dt.datetime] | None = None,
    settings: Settings | None = None,
    today: dt.date | None = None,
    raws: Sequence[dict[str, Any]] | None = None,
    archived: set[str] | None = None,
) -> IngestReport:
    """Ingest a batch: every valid file becomes a return version, every invalid one changes nothing.

    The check and the commit back to back (a dry run stops after the check). `raws` are the sandboxed
    reader's results for `paths` when the caller started reading early, and `archived` the sha256 of the
    files archived meanwhile (`kpi.ingest.sandbox.read_and_archive`).
    """
    plan = check_files(store, catalogue, registry, paths, scope=scope, display_names=display_names,
                       settings=settings, today=today, raws=raws, archived=archived, archive=not dry_run,
                       plan_versions=dry_run)
    if dry_run:
        return plan.report
    return commit_plan(store, plan, uploaded_by=uploaded_by, scope=scope, submitted_at=submitted_at)


def _upload_events(outcomes: list[FileOutcome], uploaded_by: str) -> list[audit.Event]:
    return [audit.Event(uploaded_by, f"upload_{o.status}", o.file,
                        {"sha256": o.sha256, "entity": o.entity, "period": o.period, "version": o.version,
                         "errors": [i.code for i in o.issues]})
            for o in outcomes]


def _validated(catalogue: Catalogue, registry: Registry, name: str, raw: dict[str, Any], today: dt.date | None
               ) -> tuple[ReturnData | None, list[Issue]]:
    """The worker's validation (named for this upload) when it ran one, else validation here."""
    checked = raw.get("validated")
    if checked is None:
        return validate(catalogue, registry, name, raw, today=today)
    issues = [Issue.model_validate({**issue, "file": name}) for issue in checked["issues"]]
    data = ReturnData.from_wire(checked["data"], name) if checked["data"] else None
    return data, issues


def _current_state(cur: Cursor, keys: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The current version of each (entity, period) with its sha and figures."""
    if not keys:
        return {}
    rows = db(cur).returns.current_state([k[0] for k in keys], [k[1] for k in keys])
    out = {}
    for entity, period, version, sha, measures, values in rows:
        figures = {m: v for m, v in zip(measures or [], values or []) if m is not None}
        out[(entity, period)] = {"version": version, "sha256": sha, "values": figures}
    return out


def _assign_versions(state: dict[tuple[str, str], dict[str, Any]], outcomes: list[FileOutcome]) -> None:
    """New return, new version or unchanged, with the figures that differ, in upload order."""
    for o in outcomes:
        assert o.data is not None and o.entity and o.period
        current = state.get((o.entity, o.period))
        if current is None:
            o.status, o.version = "new", 1
        elif current["sha256"] == o.sha256:
            o.status, o.version = "unchanged", current["version"]
            continue
        else:
            o.status, o.version, o.replaces_version = "new_version", current["version"] + 1, current["version"]
            old = current["values"]
            o.changes = [(m, old.get(m), v) for m, v in o.data.values.items() if old.get(m) != v]
        state[(o.entity, o.period)] = {"version": o.version, "sha256": o.sha256, "values": o.data.values}


def _plan_versions(store: Store, outcomes: list[FileOutcome]) -> None:
    cur = store.cursor()
    try:
        state = _current_state(cur, {(o.entity or "", o.period or "") for o in outcomes})
    finally:
        cur.close()
    _assign_versions(state, outcomes)


def _archive_the_rest(store: Store, outcomes: list[FileOutcome], archived: set[str]) -> Any:
    """Files not archived while they were read (the caller read them itself) go into a pack now, made
    durable before the database is written (a file archive), or written with it (PostgreSQL's); a file whose
    content changed since it was read is refused. The pack, or None."""
    missing = [o for o in outcomes if o.data is not None and o.sha256 not in archived]
    if not missing:
        return None
    pack = store.archive.pack()
    for o in missing:
        try:
            kept = pack.add_file(o.path, o.sha256 or "")
        except OSError:
            kept = False
        if not kept:
            o.status, o.data, o.entity, o.period = "rejected", None, None, None
            o.issues = [Issue(file=o.file, code="file_changed")]
    pack.close()
    return pack


def _write(store: Store, outcomes: list[FileOutcome], uploaded_by: str,
           submitted_at: Mapping[str, dt.datetime], on_record: Callable[[Any], Any]) -> None:
    now = dt.datetime.now(dt.UTC)
    with store.transaction() as cur:
        keys = sorted({(o.entity or "", o.period or "") for o in outcomes})
        # Another server may be confirming the same returns: their version numbers are given out one at a time.
        db(cur).returns.lock_versions([k[0] for k in keys], [k[1] for k in keys])
        state = _current_state(cur, set(keys))
        _assign_versions(state, outcomes)
        fresh = [o for o in outcomes if o.status != "unchanged"]
        if not fresh:
            on_record(cur)
            return
        returns = db(cur).returns
        ids = returns.new_ids(len(fresh))
        returns.add_versions(
            {"id": ids, "entity": [o.entity for o in fresh], "period": [o.period for o in fresh],
             "version": [o.version for o in fresh], "sha": [o.sha256 for o in fresh],
             "file": [o.file for o in fresh], "tv": [o.data.template_version for o in fresh if o.data],
             "by": [uploaded_by] * len(fresh), "at": [now] * len(fresh),
             "submitted": [submitted_at.get(o.path, now) for o in fresh]},
        )
        returns.add_values(_value_columns(ids, fresh))
        _insert_evidence(cur, ids, fresh)
        on_record(cur)


# Measure values and evidence rows run to tens of thousands per batch: they go to the store as NumPy
# columns, which it writes in one scan each (as lists, every element would be converted on its own).


def _objects(values: Sequence[Any]) -> Any:
    """A NumPy object column (texts, NULLs as None)."""
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def _value_columns(ids: list[int], fresh: list[FileOutcome]) -> dict[str, Any]:
    return_ids: list[int] = []
    measures: list[str] = []
    values: list[int] = []
    cells: list[str | None] = []
    for return_id, o in zip(ids, fresh):
        assert o.data is not None
        return_ids += [return_id] * len(o.data.values)
        measures += o.data.values.keys()
        values += o.data.values.values()
        cells += map(o.data.cells.get, o.data.values)
    return {"return_id": np.array(return_ids, dtype=np.int64), "measure": _objects(measures),
            "value": np.array(values, dtype=np.int64), "cell": _objects(cells)}


def _insert_evidence(cur: Cursor, ids: list[int], fresh: list[FileOutcome]) -> None:
    rows = [row for o in fresh if o.data for row in o.data.evidence]
    if not rows:
        return
    per_return = [len(o.data.evidence) if o.data else 0 for o in fresh]
    return_ids = np.repeat(np.array(ids, dtype=np.int64), per_return)
    columns = {
        "return_id": return_ids,
        "task_id": _objects([r.task_id for r in rows]),
        "status": _objects([r.status or "" for r in rows]),
        "related_date": _objects([r.related_date.isoformat() if r.related_date else None for r in rows]),
        "audit_years": _objects([r.audit_years for r in rows]),
    }
    _insert_documents(cur, return_ids, rows)
    events = [r.events for r in rows]
    participants = [r.participants for r in rows]
    # Monthly counts go as one whole-number column per month and are joined back into lists by DuckDB.
    for series, counts in (("e", events), ("p", participants)):
        if any(len(months) != MONTHS for months in counts):
            raise ValueError("evidence rows must count twelve months")
        flat = np.fromiter(chain.from_iterable(counts), dtype=np.int64, count=len(rows) * MONTHS)
        grid = flat.reshape(len(rows), MONTHS)
        for month in range(MONTHS):
            columns[f"{series}{month}"] = grid[:, month]
    db(cur).returns.add_evidence(columns, MONTHS)


def _insert_documents(cur: Cursor, return_ids: Any, rows: list[Any]) -> None:
    """Each task's documents (one row per document) beside its evidence row."""
    docs = [(return_id, row.task_id, seq, d) for return_id, row in zip(return_ids.tolist(), rows)
            for seq, d in enumerate(row.documents, start=1)]
    if not docs:
        return
    db(cur).returns.add_documents({
        "return_id": np.array([x[0] for x in docs], dtype=np.int64), "task_id": _objects([x[1] for x in docs]),
        "seq": np.array([x[2] for x in docs], dtype=np.int32),
        "doc_type": _objects([x[3].doc_type for x in docs]), "doc_number": _objects([x[3].doc_number for x in docs]),
        "doc_date": _objects([x[3].doc_date.isoformat() if x[3].doc_date else None for x in docs]),
        "signatory": _objects([x[3].signatory for x in docs]), "reference": _objects([x[3].reference for x in docs]),
        "sheet_row": np.array([x[3].row for x in docs], dtype=np.int32),
    })
