"""Ingest: check, read (sandboxed), validate and write a batch of returns; each file all or nothing."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpi import audit
from kpi.catalogue import Catalogue, Registry
from kpi.ingest.sandbox import read_files
from kpi.ingest.validate import Issue, ReturnData, Rule, problem_issue, validate
from kpi.settings import Settings, get_settings
from kpi.store import FULL_ACCESS, AccessScope, Store


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
    extra_rules: tuple[Rule, ...] = (),
    today: dt.date | None = None,
    raws: Sequence[dict[str, Any]] | None = None,
) -> IngestReport:
    """Ingest a batch: every valid file becomes a return version, every invalid one changes nothing.

    `raws` are the sandboxed reader's results for `paths` when the caller started reading early.
    """
    settings = settings or get_settings()
    str_paths = [str(p) for p in paths]
    names = [(display_names or {}).get(p, os.path.basename(p)) for p in str_paths]
    raws = read_files(str_paths, settings, today=today) if raws is None else raws
    outcomes: list[FileOutcome] = []
    for path, name, raw in zip(str_paths, names, raws):
        if not raw.get("ok"):
            outcomes.append(FileOutcome(name, "rejected", issues=[problem_issue(name, raw["problem"])]))
            continue
        data, issues = _validated(catalogue, registry, name, raw, today, extra_rules)
        if data is None:
            outcomes.append(FileOutcome(name, "rejected", sha256=raw.get("sha256"), issues=issues))
        elif not scope.allows(data.entity):
            issue = Issue(file=name, code="forbidden_entity", params={"entity": data.entity},
                          sheet="Есеп", cell=None, value=data.entity)
            outcomes.append(FileOutcome(name, "rejected", sha256=data.sha256, issues=[issue]))
        else:
            outcomes.append(FileOutcome(name, "new", sha256=data.sha256, entity=data.entity,
                                        period=data.period, data=data, path=path))
    report = IngestReport(outcomes, dry_run=dry_run)
    accepted = [o for o in outcomes if o.data is not None]
    if dry_run or not accepted:
        _plan_versions(store, accepted)
    else:
        _write(store, accepted, uploaded_by, submitted_at or {})
    if not dry_run:
        audit.record_many(store.audit_path, [
            audit.Event(uploaded_by, f"upload_{o.status}", o.file,
                        {"sha256": o.sha256, "entity": o.entity, "period": o.period, "version": o.version,
                         "errors": [i.code for i in o.issues]})
            for o in outcomes
        ])
    return report


def _validated(catalogue: Catalogue, registry: Registry, name: str, raw: dict[str, Any], today: dt.date | None,
               extra_rules: tuple[Rule, ...]) -> tuple[ReturnData | None, list[Issue]]:
    """The worker's validation when it ran one (named for this upload), else validation here."""
    checked = raw.get("validated")
    if checked is None or extra_rules:
        return validate(catalogue, registry, name, raw, today=today, extra_rules=extra_rules)
    issues = [Issue.model_validate({**issue, "file": name}) for issue in checked["issues"]]
    data = ReturnData.model_validate({**checked["data"], "file": name}) if checked["data"] else None
    return data, issues


def _current_state(cur: Any, keys: set[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    """The current version of each (entity, period) with its sha and figures."""
    if not keys:
        return {}
    entities = [k[0] for k in keys]
    periods = [k[1] for k in keys]
    rows = cur.execute(
        """
        SELECT r.entity_code, r.period, r.version, r.sha256, list(v.measure), list(v.value)
        FROM current_return r LEFT JOIN return_value v USING (return_id)
        WHERE (r.entity_code, r.period) IN (SELECT unnest($e::VARCHAR[]), unnest($p::VARCHAR[]))
        GROUP BY ALL
        """,
        {"e": entities, "p": periods},
    ).fetchall()
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


def _write(
    store: Store, outcomes: list[FileOutcome], uploaded_by: str, submitted_at: Mapping[str, dt.datetime]
) -> None:
    now = dt.datetime.now(dt.UTC)
    with store.transaction() as cur:
        state = _current_state(cur, {(o.entity or "", o.period or "") for o in outcomes})
        _assign_versions(state, outcomes)
        fresh = [o for o in outcomes if o.status != "unchanged"]
        if not fresh:
            return
        ids = [r[0] for r in cur.execute("SELECT nextval('return_id_seq') FROM range(?)", [len(fresh)]).fetchall()]
        version_rows: dict[str, list[Any]] = {k: [] for k in (
            "id", "entity", "period", "version", "sha", "file", "tv", "by", "at", "submitted")}
        value_rows: dict[str, list[Any]] = {"id": [], "measure": [], "value": [], "cell": []}
        evidence_rows: list[tuple[Any, ...]] = []
        for return_id, o in zip(ids, fresh):
            assert o.data is not None
            path = o.path
            store.archive_file(Path(path).read_bytes(), o.data.sha256)
            for key, value in (
                ("id", return_id), ("entity", o.entity), ("period", o.period), ("version", o.version),
                ("sha", o.sha256), ("file", o.file), ("tv", o.data.template_version), ("by", uploaded_by),
                ("at", now), ("submitted", submitted_at.get(path, now)),
            ):
                version_rows[key].append(value)
            evidence_rows += [row.as_db_row(return_id) for row in o.data.evidence]
            for measure, value in o.data.values.items():
                value_rows["id"].append(return_id)
                value_rows["measure"].append(measure)
                value_rows["value"].append(value)
                value_rows["cell"].append(o.data.cells.get(measure))
        os.sync()  # the archived files reach the disk before the database says they exist
        cur.execute(
            """
            INSERT INTO return_version
            SELECT unnest($id::BIGINT[]), unnest($entity::VARCHAR[]), unnest($period::VARCHAR[]),
                   unnest($version::INTEGER[]), unnest($sha::VARCHAR[]), unnest($file::VARCHAR[]),
                   unnest($tv::VARCHAR[]), unnest($by::VARCHAR[]), unnest($at::TIMESTAMPTZ[]),
                   unnest($submitted::TIMESTAMPTZ[])
            """,
            version_rows,
        )
        cur.execute(
            """
            INSERT INTO return_value
            SELECT unnest($id::BIGINT[]), unnest($measure::VARCHAR[]), unnest($value::BIGINT[]),
                   unnest($cell::VARCHAR[])
            """,
            value_rows,
        )
        if evidence_rows:
            columns = list(zip(*evidence_rows))
            names = ("id", "task", "status", "doc_type", "doc_number", "doc_date", "signatory", "reference",
                     "events", "participants", "related_date", "audit_years")
            cur.execute(
                """
                INSERT INTO evidence
                SELECT unnest($id::BIGINT[]), unnest($task::VARCHAR[]), unnest($status::VARCHAR[]),
                       unnest($doc_type::VARCHAR[]), unnest($doc_number::VARCHAR[]), unnest($doc_date::DATE[]),
                       unnest($signatory::VARCHAR[]), unnest($reference::VARCHAR[]),
                       unnest($events::INTEGER[][]), unnest($participants::INTEGER[][]),
                       unnest($related_date::DATE[]), unnest($audit_years::VARCHAR[])
                """,
                {name: list(column) for name, column in zip(names, columns)},
            )
