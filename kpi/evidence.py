"""Task evidence: the codes an officer chooses from, the layout of the evidence sheet, and its parsing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from kpi.catalogue import LANGUAGES, Catalogue, Entity, Registry, parse_period, tasks_for_entity
from kpi.i18n import t

EVIDENCE_SHEET = "Дәлелдер"
LISTS_SHEET = "Тізімдер"
STATUSES: tuple[str, ...] = ("done", "in_progress", "not_started", "no_facts")
DOC_TYPES: tuple[str, ...] = (
    "order", "plan", "analytical_report", "certificate", "protocol", "letter", "memo", "link", "list",
    "certificate_of_conformity", "journal", "video", "publication", "audit_report", "other",
)
SIGNATORIES: tuple[str, ...] = ("first_head", "chief_of_staff", "deputy_head", "other")
HEADER_ROW = 3
FIRST_ROW = 4
# Column letters of the evidence sheet: fixed fields, then events and participants for each month.
COLUMNS = {"task": "A", "title": "B", "status": "C", "doc_type": "D", "doc_number": "E", "doc_date": "F",
           "signatory": "G", "reference": "H", "related_date": "I", "audit_years": "J"}
EVENT_COLUMNS = [chr(ord("K") + i) for i in range(12)]  # K..V
PARTICIPANT_COLUMNS = [chr(ord("W") + i) for i in range(4)] + [f"A{chr(ord('A') + i)}" for i in range(8)]  # W..AH
MAX_TEXT = 2000


def choice_label(kind: str, code: str, lang: str) -> str:
    """The localised label of a status, document type or signatory code."""
    return t(f"evidence.{kind}.{code}", lang)


def _choice_lookup(kind: str, codes: tuple[str, ...]) -> dict[str, str]:
    lookup = {code: code for code in codes}
    for code in codes:
        for lang in LANGUAGES:
            lookup[choice_label(kind, code, lang).strip().lower()] = code
    return lookup


@dataclass
class EvidenceRow:
    """One task's evidence as the officer recorded it."""

    task_id: str
    status: str | None = None
    doc_type: str | None = None
    doc_number: str | None = None
    doc_date: dt.date | None = None
    signatory: str | None = None
    reference: str | None = None
    related_date: dt.date | None = None
    audit_years: str | None = None
    events: list[int] = field(default_factory=lambda: [0] * 12)
    participants: list[int] = field(default_factory=lambda: [0] * 12)
    row: int = 0

    def as_db_row(self, return_id: int) -> tuple[Any, ...]:
        return (return_id, self.task_id, self.status or "", self.doc_type, self.doc_number, self.doc_date,
                self.signatory, self.reference, self.events, self.participants, self.related_date,
                self.audit_years)


@dataclass
class EvidenceProblem:
    """A problem in one evidence cell."""

    code: str
    cell: str
    value: Any
    params: dict[str, Any] = field(default_factory=dict)


def _col_index(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index - 1


_COLUMN_INDEX = {letters: _col_index(letters) for letters in (*COLUMNS.values(), *EVENT_COLUMNS, *PARTICIPANT_COLUMNS)}


def parse_date(value: Any) -> dt.date | None:
    """A date from a date cell, an ISO or DD.MM.YYYY text, or an Excel serial number; ValueError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if 20000 < value < 80000:
            return dt.date(1899, 12, 30) + dt.timedelta(days=int(value))
        raise ValueError(value)
    text = str(value).strip()
    try:
        return dt.date.fromisoformat(text[:10]) if len(text) in (10, 19) and text[4] == "-" else _dotted(text)
    except ValueError:
        pass
    for fmt in ("%d.%m.%Y", "%d/%m/%Y"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise ValueError(value)


def parse_evidence(
    catalogue: Catalogue, registry: Registry, entity: Entity, period: str, table: list[list[Any]]
) -> tuple[list[EvidenceRow], list[EvidenceProblem]]:
    """The evidence rows of a return's evidence sheet and every problem found in them."""
    applicable = {task.id: task for task in tasks_for_entity(catalogue, registry, entity)}
    statuses, doc_types, signatories = (_choice_lookup(k, c) for k, c in (
        ("status", STATUSES), ("doc", DOC_TYPES), ("signatory", SIGNATORIES)))
    _, quarter = parse_period(period)
    rows: list[EvidenceRow] = []
    problems: list[EvidenceProblem] = []
    seen: set[str] = set()

    def cell(values: list[Any], letters: str) -> Any:
        index = _COLUMN_INDEX[letters]
        value = values[index] if index < len(values) else None
        return None if value == "" else value

    for offset, values in enumerate(table[FIRST_ROW - 1:], start=FIRST_ROW):
        if not values:
            continue
        task_id = str(cell(values, "A") or "").strip()
        if not task_id:
            continue
        where = f"A{offset}"
        if task_id not in catalogue.task_by_id:
            problems.append(EvidenceProblem("evidence_unknown_task", where, task_id, {"task": task_id}))
            continue
        if task_id not in applicable:
            problems.append(EvidenceProblem("evidence_task_not_applicable", where, task_id, {"task": task_id}))
            continue
        if task_id in seen:
            problems.append(EvidenceProblem("evidence_duplicate_task", where, task_id, {"task": task_id}))
            continue
        seen.add(task_id)
        row = EvidenceRow(task_id=task_id, row=offset)
        for name, lookup in (("status", statuses), ("doc_type", doc_types), ("signatory", signatories)):
            raw = cell(values, COLUMNS[name])
            if raw is None:
                continue
            code = lookup.get(str(raw).strip().lower())
            if code is None:
                problems.append(EvidenceProblem("evidence_bad_choice", f"{COLUMNS[name]}{offset}", raw,
                                                {"field": name}))
            else:
                setattr(row, name, code)
        exempt = bool(catalogue.task_field(task_id, "no_facts_exempt"))
        if row.status == "no_facts" and not exempt:
            problems.append(EvidenceProblem("evidence_no_facts_not_allowed", f"C{offset}", cell(values, "C")))
        for name in ("doc_date", "related_date"):
            raw = cell(values, COLUMNS[name])
            try:
                setattr(row, name, parse_date(raw))
            except ValueError:
                problems.append(EvidenceProblem("evidence_bad_date", f"{COLUMNS[name]}{offset}", raw))
        for name in ("doc_number", "reference", "audit_years"):
            raw = cell(values, COLUMNS[name])
            if raw is None:
                continue
            text = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip()
            if len(text) > MAX_TEXT:
                problems.append(EvidenceProblem("evidence_text_too_long", f"{COLUMNS[name]}{offset}", text[:40] + "…",
                                                {"length": len(text), "limit": MAX_TEXT}))
                continue
            setattr(row, name, text or None)
        for series, letters in (("events", EVENT_COLUMNS), ("participants", PARTICIPANT_COLUMNS)):
            counts = []
            for month, col in enumerate(letters, start=1):
                raw = cell(values, col)
                count = _count(raw)
                if count is None:
                    problems.append(EvidenceProblem("evidence_bad_count", f"{col}{offset}", raw))
                    count = 0
                elif count and month > quarter * 3:
                    problems.append(EvidenceProblem("evidence_future_month", f"{col}{offset}", raw))
                counts.append(count)
            setattr(row, series, counts)
        rows.append(row)
    return rows, problems


def _dotted(text: str) -> dt.date:
    day, month, year = text.split(".")
    return dt.date(int(year), int(month), int(day))


def _count(raw: Any) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return 0
    if isinstance(raw, bool):
        return None
    if isinstance(raw, (int, float)) and float(raw).is_integer() and raw >= 0:
        return int(raw)
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return None
