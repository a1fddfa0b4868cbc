"""Proof behind the numbers: each task's evidence checked against the guide's rules, and formalism flags."""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from kpi import parsing
from kpi.catalogue import (
    Catalogue,
    EvidenceRule,
    Registry,
    load_catalogue,
    parse_period,
    quarter_end,
    shift_period,
    submission_deadline,
    tasks_for_entity,
)
from kpi.engine import KpiEngine
from kpi.evidence import DOCUMENT_FIELDS, Document, EvidenceRow, choice_label
from kpi.i18n import format_number, t
from kpi.labels import drop_shared_words, shorten
from kpi.settings import AGENCY_TIME_ZONE
from kpi.store import FULL_ACCESS, AccessScope, Cursor, db

COMPLIANCE_STATUSES: tuple[str, ...] = ("proven", "missing", "late", "below_cadence", "not_applicable")
_SEVERITY = {"missing": 3, "late": 2, "below_cadence": 1}
SIGNATORY_KINDS = ("signatory", "signatory_doc", "unsigned")
OUTLIER_Z = 3.5
MIN_PEERS = 5


@dataclass(frozen=True)
class FailedRule:
    """A rule a task's evidence did not pass, with what the message needs."""

    rule: str
    outcome: str  # missing | late | below_cadence
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, lang: str | None = None) -> str:
        return t(f"compliance.rule.{self.kind}", lang, **self.localised(lang))

    @property
    def kind(self) -> str:
        return str(self.params.get("_kind", self.rule))

    def localised(self, lang: str | None) -> dict[str, Any]:
        out = {k: v for k, v in self.params.items() if not k.startswith("_")}
        rule_text = self.params.get("_text")
        if isinstance(rule_text, dict):
            out["rule"] = rule_text.get(lang or "kk") or rule_text["kk"]
        if "status" in out:
            out["status"] = choice_label("status", str(out["status"]), lang or "kk")
        if "signatory" in out:
            out["signatory"] = choice_label("signatory", str(out["signatory"]), lang or "kk")
        if "doc" in out:
            out["doc"] = choice_label("doc", str(out["doc"]), lang or "kk")
        if "fields" in out:
            out["fields"] = ", ".join(t(f"evidence.field.{f.strip()}", lang) for f in str(out["fields"]).split(","))
        return out


@dataclass
class TaskCompliance:
    """Where one entity stands on one task for a period."""

    entity: str
    task: str
    status: str
    failed: list[FailedRule] = field(default_factory=list)
    evidence: EvidenceRow | None = None
    return_id: int | None = None

    def as_dict(self, lang: str | None = None) -> dict[str, Any]:
        return {
            "entity": self.entity, "task": self.task, "status": self.status,
            "failed_rules": [{"rule": f.rule, "message": f.message(lang)} for f in self.failed],
        }


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Working days after `start` up to and including `end`: weekends and Kazakhstan's public holidays excluded."""
    if end <= start:
        return 0
    days = [start + dt.timedelta(days=i) for i in range(1, (end - start).days + 1)]
    holidays = _kz_holidays(tuple(sorted({d.year for d in days})))
    return sum(1 for d in days if d.weekday() < 5 and d not in holidays)


@lru_cache(maxsize=32)
def _kz_holidays(years: tuple[int, ...]) -> frozenset[dt.date]:
    import holidays

    return frozenset(holidays.country_holidays("KZ", years=list(years)).keys())


def _rule_params(rule: EvidenceRule, kind: str | None = None, **params: Any) -> dict[str, Any]:
    return {"_kind": kind or rule.kind, "_text": rule.text.model_dump(), **params}


def check_cadence(rule: EvidenceRule, row: EvidenceRow, quarter: int) -> FailedRule | None:
    """Events per month, per quarter, or pro rata per year, up to the period's end."""
    minimum = rule.minimum or 0
    months = quarter * 3
    if rule.per == "month":
        for month in range(1, months + 1):
            if row.events[month - 1] < minimum:
                return FailedRule(rule.id, "below_cadence", _rule_params(
                    rule, period=f"{month:02}", held=row.events[month - 1], needed=minimum))
    elif rule.per == "quarter":
        for q in range(1, quarter + 1):
            held = sum(row.events[(q - 1) * 3:q * 3])
            if held < minimum:
                return FailedRule(rule.id, "below_cadence", _rule_params(rule, period=f"Q{q}", held=held,
                                                                         needed=minimum))
    else:
        needed = minimum * months // 12  # pro rata, rounded down: a yearly one-off is due by December
        held = sum(row.events[:months])
        if held < needed:
            return FailedRule(rule.id, "below_cadence", _rule_params(rule, period=f"01-{months:02}", held=held,
                                                                     needed=needed))
    return None


def _latest(documents: Sequence[Document]) -> dt.date | None:
    dates = [d.doc_date for d in documents if d.doc_date is not None]
    return max(dates) if dates else None


def check_deadline(rule: EvidenceRule, row: EvidenceRow) -> FailedRule | None:
    """The document came within the allowed days of the starting date (working days where the guide says so):
    from the `start_doc` document's date, else the row's related date; up to the `end_doc` document's date,
    else the latest document's."""
    start = _latest(row.documents_of(rule.start_doc)) if rule.start_doc else None
    start = start or row.related_date
    end = _latest(row.documents_of(rule.end_doc)) if rule.end_doc else None
    end = end or _latest(row.documents)
    if start is None or end is None:
        return FailedRule(rule.id, "missing", _rule_params(rule, kind="deadline_dates"))
    days = rule.days or 0
    elapsed = working_days_between(start, end) if rule.working_days else (end - start).days
    if elapsed > days:
        return FailedRule(rule.id, "late", _rule_params(rule, elapsed=elapsed, days=days))
    return None


def check_audit_years(rule: EvidenceRule, row: EvidenceRow, year: int) -> FailedRule | None:
    """Audit reports are attached for each of the preceding years."""
    wanted = {year - i for i in range(1, (rule.years or 0) + 1)}
    given = set(parsing.years(row.audit_years))  # strict: '²' or '٢٠٢٣' is no year, and never an exception
    missing = sorted(wanted - given)
    if missing:
        return FailedRule(rule.id, "missing", _rule_params(rule, missing=", ".join(map(str, missing))))
    return None


def check_signatory(rule: EvidenceRule, documents: Sequence[Document], required: str | None) -> FailedRule | None:
    """Every signed document is signed, at no lower level than the guide allows (the first head where the task
    says so); documents nobody of the body signs (links, videos, certificates of conformity) are exempt."""
    allowed = (required,) if required else rule.allowed
    for document in documents:
        if document.doc_type in rule.exempt_doc_types:
            continue
        if document.signatory is None:
            return FailedRule(rule.id, "missing", _rule_params(rule, kind="unsigned", doc=document.doc_type or "other"))
        if document.signatory not in allowed:
            return FailedRule(rule.id, "missing", _rule_params(rule, kind="signatory_doc", signatory=document.signatory,
                                                               doc=document.doc_type or "other"))
    return None


def check_renewal(rule: EvidenceRule, documents: Sequence[Document], year: int) -> FailedRule | None:
    """The documents the guide wants renewed every year are dated in the period's year."""
    for document in documents:
        if document.doc_type in rule.doc_types and document.doc_date is not None and document.doc_date.year != year:
            return FailedRule(rule.id, "missing", _rule_params(rule, doc=document.doc_type,
                                                               date=document.doc_date.strftime("%d.%m.%Y"), year=year))
    return None


def check_all_covered(rule: EvidenceRule, values: dict[str, int] | None) -> FailedRule | None:
    """Every one counted in the whole is covered (new hires acquainted within the same days): part = whole."""
    if rule.part is None or rule.whole is None:
        return None
    values = values or {}
    if rule.part not in values or rule.whole not in values:
        return FailedRule(rule.id, "missing", _rule_params(rule, kind="all_covered_unreported"))
    if values[rule.part] < values[rule.whole]:
        return FailedRule(rule.id, "missing", _rule_params(rule, part=values[rule.part], whole=values[rule.whole]))
    return None


def required_documents(catalogue: Catalogue, task_id: str, row: EvidenceRow, period_end: dt.date
                       ) -> tuple[list[Document], list[FailedRule]]:
    """The task's documents that prove it, one per required type, and what is missing or wrong among them.

    For each type the guide requires, the complete document dated within the period is taken (else the most
    nearly complete one, to say what it lacks)."""
    doc_types = tuple(catalogue.task_field(task_id, "doc_types") or ())
    failed: list[FailedRule] = []
    chosen: list[Document] = []
    wanted: tuple[str | None, ...] = doc_types or (None,)
    for doc_type in wanted:
        candidates = row.documents if doc_type is None else row.documents_of(doc_type)
        if not candidates:
            failed.append(FailedRule("document_missing", "missing",
                                     {"_kind": "document_missing" if doc_type else "no_document",
                                      "doc": doc_type or "other", "fields": ", ".join(DOCUMENT_FIELDS)}))
            continue
        best = min(candidates, key=lambda d: (len(d.absent()), d.doc_date is not None and d.doc_date > period_end,
                                              -(d.doc_date or dt.date.min).toordinal()))
        chosen.append(best)
        absent = best.absent()
        if absent:
            failed.append(FailedRule("no_document", "missing", {"_kind": "document_incomplete",
                                                                "doc": best.doc_type or "other",
                                                                "fields": ", ".join(absent)}))
        elif best.doc_date is not None and best.doc_date > period_end:
            failed.append(FailedRule("document_after_period", "late", {
                "doc": best.doc_type or "other", "date": best.doc_date.strftime("%d.%m.%Y"),
                "end": period_end.strftime("%d.%m.%Y")}))
    return chosen, failed


def evaluate_task(catalogue: Catalogue, task_id: str, row: EvidenceRow | None, period: str,
                  values: dict[str, int] | None = None) -> tuple[str, list[FailedRule]]:
    """A task's compliance status for a period and the rules it failed."""
    year, quarter = parse_period(period)
    if row is None or row.status is None:
        return "missing", [FailedRule("no_row", "missing")]
    if row.status == "no_facts":
        return "not_applicable", []
    rules = catalogue.rules_for_task(task_id)
    cadence = [r for r in rules if r.kind == "cadence"]
    ongoing_ok = cadence and row.status == "in_progress"
    if row.status != "done" and not ongoing_ok:
        return "missing", [FailedRule("not_done", "missing", {"status": row.status})]
    chosen, failed = required_documents(catalogue, task_id, row, quarter_end(period))
    required = catalogue.task_field(task_id, "signatory")
    for rule in rules:
        result = None
        if rule.kind == "signatory":
            result = check_signatory(rule, chosen, required if isinstance(required, str) else None)
        elif rule.kind == "deadline":
            result = check_deadline(rule, row)
        elif rule.kind == "audit_years":
            result = check_audit_years(rule, row, year)
        elif rule.kind == "cadence":
            result = check_cadence(rule, row, quarter)
        elif rule.kind == "renewal":
            result = check_renewal(rule, chosen, year)
        elif rule.kind == "all_covered":
            result = check_all_covered(rule, values)
        if result is not None:
            failed.append(result)
    if not failed:
        return "proven", []
    return max(failed, key=lambda f: _SEVERITY[f.outcome]).outcome, failed


def _evidence_rows(cur: Cursor, period: str) -> tuple[dict[str, int], dict[tuple[str, str], EvidenceRow]]:
    returns = db(cur).returns.current_ids(period)
    rows = db(cur).returns.evidence(period)
    evidence = {}
    for entity, task, status, related, audit, events, people in rows:
        evidence[(entity, task)] = EvidenceRow(
            task_id=task, status=status or None, related_date=related, audit_years=audit,
            events=list(events or [0] * 12), participants=list(people or [0] * 12))
    documents = db(cur).returns.documents(period)
    for entity, task, doc_type, number, doc_date, signatory, reference, sheet_row in documents:
        row = evidence.setdefault((entity, task), EvidenceRow(task_id=task))
        row.documents.append(Document(doc_type, number, doc_date, signatory, reference, sheet_row or 0))
    return returns, evidence


def compliance(cur: Cursor, catalogue: Catalogue, registry: Registry, period: str, *,
               scope: AccessScope = FULL_ACCESS, entities: Iterable[str] | None = None) -> list[TaskCompliance]:
    """One result per entity × task the entity carries out, for a period."""
    parse_period(period)
    returns, evidence = _evidence_rows(cur, period)
    covered = [r for r in catalogue.evidence_rules if r.kind == "all_covered"]
    values = _values(cur, period) if covered else {}
    wanted = set(entities) if entities is not None else None
    out = []
    for entity in registry.entities:
        if not scope.allows(entity.code) or (wanted is not None and entity.code not in wanted):
            continue
        return_id = returns.get(entity.code)
        for task in tasks_for_entity(catalogue, registry, entity):
            if return_id is None:
                out.append(TaskCompliance(entity.code, task.id, "missing", [FailedRule("no_return", "missing")]))
                continue
            row = evidence.get((entity.code, task.id))
            status, failed = evaluate_task(catalogue, task.id, row, period, values.get(entity.code))
            out.append(TaskCompliance(entity.code, task.id, status, failed, row, return_id))
    return out


def compliance_scores(results: Iterable[TaskCompliance]) -> dict[str, float]:
    """Per entity: the share of its tasks that are proven or not applicable, in percent."""
    totals: dict[str, list[int]] = {}
    for r in results:
        counts = totals.setdefault(r.entity, [0, 0])
        counts[1] += 1
        counts[0] += r.status in ("proven", "not_applicable")
    return {entity: 100 * ok / total for entity, (ok, total) in totals.items() if total}


@dataclass(frozen=True)
class Flag:
    """A sign that a return may be formal rather than real."""

    entity: str
    period: str
    code: str
    subject: str | None
    params: dict[str, Any]
    return_id: int | None = None

    def message(self, lang: str | None = None) -> str:
        params = dict(self.params)
        if "measure" in params:
            params["measure"] = load_catalogue().measure_by_code[params["measure"]].label(lang or "kk")
        for key in ("value", "median"):
            if key in params:
                params[key] = format_number(params[key], lang, unit=params.get("unit", ""))
        params.pop("unit", None)
        return t(f"flag.{self.code}", lang, **params)

    def as_dict(self, lang: str | None = None) -> dict[str, Any]:
        return {"entity": self.entity, "period": self.period, "flag": self.code, "subject": self.subject,
                "return_id": self.return_id, "message": self.message(lang)}


def formalism_flags(cur: Cursor, catalogue: Catalogue, registry: Registry, engine: KpiEngine,
                    period: str, *, deadline_days: int = 10, scope: AccessScope = FULL_ACCESS,
                    tasks: list[TaskCompliance] | None = None) -> list[Flag]:
    """Every formalism and data-quality flag of a period, each explaining itself."""
    year, quarter = parse_period(period)
    flags: list[Flag] = []
    returns: dict[str, tuple[int | None, None]] = {
        e: (rid, None) for e, rid in db(cur).returns.current_ids(period).items()}
    first_submitted = db(cur).returns.first_submitted(period, AGENCY_TIME_ZONE)
    values = _values(cur, period)
    previous_period = shift_period(period, -1) if quarter > 1 else None
    previous = _values(cur, previous_period) if previous_period else {}
    tasks = tasks if tasks is not None else compliance(cur, catalogue, registry, period, scope=scope)
    proven = {(r.entity, r.task) for r in tasks if r.status == "proven"}
    stock = {m.code for m in catalogue.measures if m.stock}
    due = submission_deadline(period, deadline_days)
    kpi_values = engine.compute(cur, [period], levels=["entity"], metrics=[k.id for k in catalogue.kpis], scope=scope)
    for entity_code, (return_id, _submitted) in sorted(returns.items()):
        if not scope.allows(entity_code):
            continue
        mine = values.get(entity_code, {})
        before = previous.get(entity_code)
        if before and mine == before and any(v for m, v in mine.items() if m not in stock):
            flags.append(Flag(entity_code, period, "copied_from_previous_quarter", None,
                              {"previous": previous_period}, return_id))
        if before:
            for measure, value in mine.items():
                if measure not in stock and measure in before and value < before[measure]:
                    flags.append(Flag(entity_code, period, "cumulative_fall", measure, {
                        "measure": measure, "before": before[measure], "after": value,
                        "previous": previous_period}, return_id))
        submitted = first_submitted.get(entity_code)
        if submitted is not None and submitted.date() > due:
            flags.append(Flag(entity_code, period, "late_return", None, {
                "submitted": submitted.date().isoformat(), "due": due.isoformat()}, return_id))
    for r in tasks:
        if r.evidence is not None and any(f.kind in SIGNATORY_KINDS for f in r.failed):
            flags.append(Flag(r.entity, period, "signatory_below_level", r.task, {"task": r.task}, r.return_id))
    by_kpi_type: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for v in kpi_values:
        kpi = catalogue.kpi_by_id[v.kpi]
        if v.value is None or kpi.kind not in ("share", "flag_share", "ratio"):
            continue
        entity = registry.entity_by_code[str(v.key)]
        return_id = returns.get(entity.code, (None, None))[0]
        if kpi.kind == "share" and v.value == 100:
            task_ids = [t.id for p in kpi.projects for t in p.tasks]
            if not any((entity.code, task_id) in proven for task_id in task_ids):
                flags.append(Flag(entity.code, period, "share_100_without_evidence", kpi.id, {"kpi": kpi.id},
                                  return_id))
        if kpi.kind != "flag_share":
            by_kpi_type.setdefault((kpi.id, entity.type), []).append((entity.code, float(v.value)))
    for (kpi_id, _type), peers in by_kpi_type.items():
        if len(peers) < MIN_PEERS:
            continue
        numbers = [value for _, value in peers]
        median: float = statistics.median(numbers)
        mad = statistics.median(abs(x - median) for x in numbers)
        if mad == 0:
            continue
        unit = catalogue.kpi_by_id[kpi_id].unit
        for entity_code, peer_value in peers:
            z = 0.6745 * (peer_value - median) / mad
            if abs(z) > OUTLIER_Z:
                flags.append(Flag(entity_code, period, "outlier", kpi_id, {
                    "kpi": kpi_id, "value": peer_value, "median": median, "unit": unit},
                    returns.get(entity_code, (None, None))[0]))
    return flags


def _values(cur: Cursor, period: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for entity, measure, value in db(cur).returns.current_values(period):
        out.setdefault(entity, {})[measure] = value
    return out




# --------------------------------------------------------------------------- what the compliance page shows

STATUS_ORDER: tuple[str, ...] = ("proven", "not_applicable", "below_cadence", "late", "missing")
STATUS_COLOURS: dict[str, str] = {"proven": "#1E8E5A", "not_applicable": "#9DB8D6", "below_cadence": "#E0A526",
                                  "late": "#E07B39", "missing": "#C8372D"}


def compliance_frame(results: list[TaskCompliance], catalogue: Catalogue, registry: Registry,
                     lang: str) -> pd.DataFrame:
    """One row per entity × task: names, group, KPI, status and the failed rules in words."""
    rows = []
    for r in results:
        entity = registry.entity_by_code[r.entity]
        kpi = catalogue.kpi_for_project(catalogue.project_of(r.task).id)
        rows.append({
            "entity": r.entity, "entity_name": entity.name(lang), "entity_type": entity.type,
            "region": entity.region, "group": kpi.group_id, "kpi": kpi.id, "task": r.task,
            "task_title": catalogue.task_by_id[r.task].title(lang), "status": r.status,
            "status_label": t(f"compliance.status.{r.status}", lang),
            "reasons": " ".join(f.message(lang) for f in r.failed),
        })
    columns = ["entity", "entity_name", "entity_type", "region", "group", "kpi", "task", "task_title", "status",
               "status_label", "reasons"]
    return pd.DataFrame(rows, columns=columns)


def filter_frame(frame: pd.DataFrame, *, group: str | None = None, kpi: str | None = None,
                 entity_type: str | None = None, region: str | None = None) -> pd.DataFrame:
    """The rows of one project group, KPI, entity type and region (None means all)."""
    mask = pd.Series(True, index=frame.index)
    for column, value in (("group", group), ("kpi", kpi), ("entity_type", entity_type), ("region", region)):
        if value:
            mask &= frame[column] == value
    return frame[mask]


def entity_scores(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Per entity: the compliance score and how many tasks are in each status, weakest first."""
    if frame.empty:
        return pd.DataFrame(columns=["entity", "entity_name", "score", *STATUS_ORDER])
    counts = frame.pivot_table(index=["entity", "entity_name"], columns="status", values="task", aggfunc="count",
                               fill_value=0).reindex(columns=list(STATUS_ORDER), fill_value=0)
    counts["score"] = 100 * (counts["proven"] + counts["not_applicable"]) / counts.sum(axis=1)
    out = counts.reset_index().sort_values(["score", "entity_name"])
    return out[["entity", "entity_name", "score", *STATUS_ORDER]]


def missing_items(frame: pd.DataFrame, catalogue: Catalogue, entity: str, lang: str) -> pd.DataFrame:
    """What an entity still has to prove, in the guide's own words: the task and the document it requires."""
    rows = frame[(frame["entity"] == entity) & ~frame["status"].isin(("proven", "not_applicable"))]
    out = []
    for _, row in rows.iterrows():
        required = catalogue.task_field(row["task"], "evidence")
        out.append({"task": row["task"], "task_title": row["task_title"], "status": row["status_label"],
                    "why": row["reasons"], "evidence_required": required(lang) if required else ""})
    return pd.DataFrame(out, columns=["task", "task_title", "status", "why", "evidence_required"])


# Every column is at least this wide (a cell to aim at, its title upright above it); a matrix of more tasks
# than its box holds gets its own width and scrolls sideways inside the box (the page passes `figure_width`).
MATRIX_CELL_PX = 22
MATRIX_NAMES_PX = 230  # entity names on the left
MATRIX_FIT_TASKS = 24  # up to this many tasks fit a column of the page at 22 px or more


def task_label(catalogue: Catalogue, task_id: str, lang: str, width: int = 30) -> str:
    """A task named in words for an axis or a slide: its title, cut to fit."""
    return shorten(catalogue.task_by_id[task_id].title(lang), width)


def matrix_figure(frame: pd.DataFrame, lang: str, *, title: str = "", catalogue: Catalogue | None = None) -> go.Figure:
    """Entities × tasks as square markers coloured by status; each carries entity and task codes for a click.

    With the catalogue, the tooltip and the axis name the task in words and a thin line parts the tasks of one
    project from the next; columns are never narrower than a cell (see `matrix_width`)."""
    tasks = sorted(frame["task"].unique(), key=_task_sort_key)
    entities = list(dict.fromkeys(frame["entity"]))
    names: dict[str, str] = {}
    for _, same_type in frame.drop_duplicates("entity").groupby("entity_type", sort=False):
        # Each type's shared phrase goes ("… of the Republic of Kazakhstan" for ministries, "Akimat of …").
        names.update(zip(same_type["entity"], short_entity_names(list(same_type["entity_name"]))))
    worded = catalogue is not None
    titles = dict(zip(frame["task"], frame["task_title"])) if "task_title" in frame else {}
    figure = go.Figure()
    for status in STATUS_ORDER:
        rows = frame[frame["status"] == status]
        figure.add_trace(go.Scatter(
            x=rows["task"], y=[names[e] for e in rows["entity"]], mode="markers",
            name=t(f"compliance.status.{status}", lang),
            marker={"symbol": "square", "size": 15 if worded else 13, "color": STATUS_COLOURS[status],
                    "line": {"width": 0}},
            customdata=list(zip(rows["entity"], rows["task"], rows["reasons"],
                                [f"{task} — {shorten(titles.get(task, ''), 60)}" for task in rows["task"]])),
            hovertemplate="%{y}<br>%{customdata[3]}<br>" + t(f"compliance.status.{status}", lang) + "<extra></extra>",
        ))
    xaxis: dict[str, Any] = {"side": "top", "tickangle": -60, "tickfont": {"size": 10}, "categoryorder": "array",
                             "categoryarray": tasks, "showgrid": False, "automargin": True}
    if worded and catalogue is not None:
        xaxis |= {"tickmode": "array", "tickvals": tasks,  # upright, one line per column: they never overlap
                  "ticktext": [task_label(catalogue, task, lang, width=26) for task in tasks], "tickangle": -90}
    if catalogue is not None:  # tasks grouped by project: a line between one project's columns and the next
        projects = [catalogue.project_of(task).id for task in tasks]
        for index in range(1, len(tasks)):
            if projects[index] != projects[index - 1]:
                figure.add_vline(x=index - 0.5, line={"color": "#9AA5B1", "width": 1})
    figure.update_layout(
        title=title, height=max(320, 20 * len(entities) + (260 if worded else 170)),
        width=matrix_width(len(tasks)),
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        # The task labels above the columns get the room they need; the legend sits above them, at the top
        # of the figure, instead of over them.
        xaxis=xaxis,
        yaxis={"categoryorder": "array", "categoryarray": [names[e] for e in reversed(entities)],
               "tickfont": {"size": 11}, "showgrid": False, "automargin": True},
        plot_bgcolor="#FFFFFF",
        legend={"orientation": "h", "yref": "container", "y": 1.0, "yanchor": "top", "xref": "container", "x": 0,
                "xanchor": "left"},
        clickmode="event+select",
    )
    return figure


def matrix_width(tasks: int) -> int | None:
    """The matrix's own width in pixels when its columns would be narrower than a cell in the page, else None."""
    return MATRIX_NAMES_PX + MATRIX_CELL_PX * tasks + 20 if tasks > MATRIX_FIT_TASKS else None


def matrix_export(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """The matrix as a table in the user's language: entity, KPI, task, its title, status and what failed."""
    columns = {"entity_name": t("compliance.entity", lang), "kpi": t("compliance.kpi", lang),
               "task": t("compliance.col.task", lang), "task_title": t("compliance.col.task_title", lang),
               "status_label": t("compliance.col.status", lang), "reasons": t("compliance.col.why", lang)}
    return frame[list(columns)].rename(columns=columns).reset_index(drop=True)


def short_entity_names(names: Sequence[str], limit: int = 42) -> list[str]:
    """Entity names for a chart axis: without the phrase most of them share, cut to fit."""
    return [shorten(name, limit) for name in drop_shared_words(names)]


def short_entity_name(name: str, limit: int = 42) -> str:
    """One entity name for a chart axis."""
    return short_entity_names([name], limit)[0]


def _task_sort_key(task_id: str) -> tuple[int, ...]:
    return tuple(int(part[1:]) for part in task_id.split("."))


def cell_from_selection(event: Any) -> tuple[str, str] | None:
    """The (entity, task) of a clicked matrix cell from a Streamlit plotly selection event."""
    points = ((event or {}).get("selection") or {}).get("points") or []
    for point in points:
        data = point.get("customdata")
        if isinstance(data, (list, tuple)) and len(data) >= 2:
            return str(data[0]), str(data[1])
    return None


def evidence_details(result: TaskCompliance, catalogue: Catalogue, lang: str) -> dict[str, str]:
    """The evidence behind one cell, labelled in the user's language."""
    row = result.evidence
    required = catalogue.task_field(result.task, "evidence")
    details = {
        t("compliance.field.task", lang): f"{result.task} — {catalogue.task_by_id[result.task].title(lang)}",
        t("compliance.field.status", lang): t(f"compliance.status.{result.status}", lang),
        t("compliance.field.required", lang): required(lang) if required else "—",
    }
    if row is not None:
        documents = [" · ".join(x for x in (
            choice_label("doc", d.doc_type, lang) if d.doc_type else "",
            f"№ {d.doc_number}" if d.doc_number else "",
            d.doc_date.strftime("%d.%m.%Y") if d.doc_date else "",
            choice_label("signatory", d.signatory, lang) if d.signatory else "") if x) for d in row.documents]
        details.update({
            t("compliance.field.document", lang): "; ".join(documents) or "—",
            t("compliance.field.signatory", lang): ", ".join(dict.fromkeys(
                choice_label("signatory", d.signatory, lang) for d in row.documents if d.signatory)) or "—",
            t("compliance.field.reference", lang): ", ".join(d.reference for d in row.documents if d.reference) or "—",
        })
        if any(r.kind == "cadence" for r in catalogue.rules_for_task(result.task)):  # counts by month apply
            details[t("compliance.field.events", lang)] = ", ".join(str(n) for n in row.events if n is not None)
    doc_types = catalogue.task_field(result.task, "doc_types") or ()
    filed = {d.doc_type for d in row.documents} if row is not None else set()
    details[t("compliance.field.required_documents", lang)] = ", ".join(
        f"{choice_label('doc', code, lang)} {'✓' if code in filed else '✗'}" for code in doc_types) or "—"
    details[t("compliance.field.failed", lang)] = " ".join(f.message(lang) for f in result.failed) or "—"
    return details


def flags_frame(flags: list[Flag], registry: Registry, lang: str) -> pd.DataFrame:
    """Flags as a table: entity, flag, subject and the explanation in the user's language."""
    rows = [{"entity": f.entity, "entity_name": registry.entity_by_code[f.entity].name(lang), "flag": f.code,
             "flag_label": t(f"flag.label.{f.code}", lang), "subject": f.subject or "", "message": f.message(lang),
             "return_id": f.return_id} for f in flags]
    return pd.DataFrame(rows, columns=["entity", "entity_name", "flag", "flag_label", "subject", "message",
                                       "return_id"])


def gap_summary(result: TaskCompliance, lang: str, catalogue: Catalogue | None = None) -> str:
    """What one task lacks, shortly: the documents missing or wrong by their names, else the rule in the guide's
    words ('G1.P1.T1: Analytical report'); with the catalogue the task is named in words, as leadership reads it
    ('Risk analysis schedule approved: Order')."""
    parts: list[str] = []
    for failed in result.failed:
        doc = failed.params.get("doc")
        if doc:
            parts.append(choice_label("doc", str(doc), lang))
        elif isinstance(failed.params.get("_text"), dict):
            text = failed.params["_text"]
            parts.append(str(text.get(lang) or text["kk"]))
        else:
            parts.append(t(f"compliance.short.{failed.rule}", lang))
    task = task_label(catalogue, result.task, lang, width=48) if catalogue is not None else result.task
    return f"{task}: {', '.join(dict.fromkeys(parts))}"


def briefing_provider(catalogue: Catalogue, registry: Registry, engine: KpiEngine, *, deadline_days: int = 10,
                      top: int = 12) -> Any:
    """The compliance slide's rows for a briefing pack: the weakest entities' gaps, and flags by kind."""
    from kpi.briefing import ComplianceRow

    def provide(cur: Cursor, period: str, entities: tuple[str, ...], lang: str
                ) -> list[ComplianceRow]:
        results = compliance(cur, catalogue, registry, period, entities=entities)
        scores = compliance_scores(results)
        rows = []
        for entity in sorted(scores, key=lambda e: (scores[e], e))[:top]:
            if scores[entity] >= 100:
                continue
            mine = [r for r in results if r.entity == entity and r.status not in ("proven", "not_applicable")]
            counts = {s: sum(1 for r in mine if r.status == s) for s in ("missing", "late", "below_cadence")}
            status = " · ".join(f"{t(f'compliance.status.{s}', lang)}: {n}" for s, n in counts.items() if n)
            rows.append(ComplianceRow(entity, f"{t('compliance.scores', lang)}: "
                                              f"{format_number(scores[entity], lang, unit='percent')}",
                                      status, "; ".join(gap_summary(r, lang, catalogue) for r in mine[:4])
                                      + ("…" if len(mine) > 4 else ""), "gap"))
        flags = formalism_flags(cur, catalogue, registry, engine, period, deadline_days=deadline_days,
                                tasks=results)
        by_code: dict[str, list[Flag]] = {}
        for flag in flags:
            if flag.entity in entities:
                by_code.setdefault(flag.code, []).append(flag)
        for code, found in sorted(by_code.items()):
            names = sorted({registry.entity_by_code[f.entity].name(lang) for f in found})
            rows.append(ComplianceRow(found[0].entity if len(names) == 1 else "", t(f"flag.label.{code}", lang),
                                      str(len(found)), "; ".join(names[:4]) + ("…" if len(names) > 4 else ""),
                                      "flag"))
        return rows

    return provide
