"""Task evidence: the codes an officer chooses from, the layout of the evidence sheet, and its parsing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kpi import parsing
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
MONTHS = 12  # events and participants are counted per month of the year
EVENT_COLUMNS = [chr(ord("K") + i) for i in range(MONTHS)]  # K..V
PARTICIPANT_COLUMNS = [chr(ord("W") + i) for i in range(4)] + [f"A{chr(ord('A') + i)}" for i in range(8)]  # W..AH
MAX_TEXT = 2000


def choice_label(kind: str, code: str, lang: str) -> str:
    """The localised label of a status, document type or signatory code."""
    return t(f"evidence.{kind}.{code}", lang)


def _choice_lookups() -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """The status, document-type and signatory lookups."""
    return (_choice_lookup("status", STATUSES), _choice_lookup("doc", DOC_TYPES),
            _choice_lookup("signatory", SIGNATORIES))


def warm_up() -> None:
    """Build the lookups now (a reader forked afterwards shares them instead of building its own)."""
    _choice_lookups()


@lru_cache(maxsize=8)
def _choice_lookup(kind: str, codes: tuple[str, ...]) -> dict[str, str]:
    """Code by code itself or by its label in any language, lower-cased (the messages never change)."""
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
    events: list[int] = field(default_factory=lambda: [0] * MONTHS)
    participants: list[int] = field(default_factory=lambda: [0] * MONTHS)
    row: int = 0

    def to_wire(self) -> list[Any]:
        """The row as a compact JSON list, for the sandboxed reader to send back (see `from_wire`)."""
        return [self.task_id, self.status, self.doc_type, self.doc_number, _iso(self.doc_date), self.signatory,
                self.reference, _iso(self.related_date), self.audit_years, self.events, self.participants, self.row]

    @classmethod
    def from_wire(cls, item: list[Any]) -> EvidenceRow:
        (task_id, status, doc_type, doc_number, doc_date, signatory, reference, related_date, audit_years,
         events, participants, row) = item
        return cls(task_id, status, doc_type, doc_number, _date_or_none(doc_date), signatory, reference,
                   _date_or_none(related_date), audit_years, events, participants, row)


def _iso(day: dt.date | None) -> str | None:
    return day.isoformat() if day else None


def _date_or_none(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


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
_WIDTH = max(_COLUMN_INDEX.values()) + 1
# The monthly columns sit side by side, so a row's months are read as one slice.
assert all(_COLUMN_INDEX[col] == _COLUMN_INDEX[letters[0]] + i
           for letters in (EVENT_COLUMNS, PARTICIPANT_COLUMNS) for i, col in enumerate(letters))


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
    statuses, doc_types, signatories = _choice_lookups()
    _, quarter = parse_period(period)
    last_month = quarter * 3
    rows: list[EvidenceRow] = []
    problems: list[EvidenceProblem] = []
    seen: set[str] = set()
    choices = [(name, COLUMNS[name], _COLUMN_INDEX[COLUMNS[name]], lookup) for name, lookup in (
        ("status", statuses), ("doc_type", doc_types), ("signatory", signatories))]
    dates = [(name, COLUMNS[name], _COLUMN_INDEX[COLUMNS[name]]) for name in ("doc_date", "related_date")]
    texts = [(name, COLUMNS[name], _COLUMN_INDEX[COLUMNS[name]]) for name in ("doc_number", "reference", "audit_years")]
    series_columns = [(name, [(month, col, _COLUMN_INDEX[col]) for month, col in enumerate(letters, start=1)])
                      for name, letters in (("events", EVENT_COLUMNS), ("participants", PARTICIPANT_COLUMNS))]

    for offset, values in enumerate(table[FIRST_ROW - 1:], start=FIRST_ROW):
        if not values:
            continue
        if len(values) < _WIDTH:  # rows come without their trailing empty cells
            values = [*values, *([None] * (_WIDTH - len(values)))]
        task_id = str(_blank_none(values[0]) or "").strip()
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
        for name, letters, index, lookup in choices:
            raw = _blank_none(values[index])
            if raw is None:
                continue
            code = lookup.get(str(raw).strip().lower())
            if code is None:
                problems.append(EvidenceProblem("evidence_bad_choice", f"{letters}{offset}", raw, {"field": name}))
            else:
                setattr(row, name, code)
        if row.status == "no_facts" and not catalogue.task_field(task_id, "no_facts_exempt"):
            problems.append(EvidenceProblem("evidence_no_facts_not_allowed", f"C{offset}",
                                            _blank_none(values[_COLUMN_INDEX["C"]])))
        for name, letters, index in dates:
            raw = _blank_none(values[index])
            try:
                setattr(row, name, parse_date(raw))
            except ValueError:
                problems.append(EvidenceProblem("evidence_bad_date", f"{letters}{offset}", raw))
        for name, letters, index in texts:
            raw = _blank_none(values[index])
            if raw is None:
                continue
            text = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip()
            if len(text) > MAX_TEXT:
                problems.append(EvidenceProblem("evidence_text_too_long", f"{letters}{offset}", text[:40] + "…",
                                                {"length": len(text), "limit": MAX_TEXT}))
                continue
            setattr(row, name, text or None)
        for name, columns in series_columns:
            first = columns[0][2]
            # One pass for the usual row: empty cells and plain counts (the reader gives numbers as floats).
            counts: list[int | None] = [
                0 if raw == "" or raw is None
                else int(raw) if type(raw) is float and 0 <= raw <= parsing.MAX_COUNT and raw.is_integer()
                else _count(raw)
                for raw in values[first:first + MONTHS]
            ]
            if None in counts or any(counts[last_month:]):
                for month, col, index in columns:
                    if counts[month - 1] is None:
                        problems.append(EvidenceProblem("evidence_bad_count", f"{col}{offset}", values[index]))
                        counts[month - 1] = 0
                    elif counts[month - 1] and month > last_month:
                        problems.append(EvidenceProblem("evidence_future_month", f"{col}{offset}", values[index]))
            setattr(row, name, counts)
        rows.append(row)
    return rows, problems


def _blank_none(value: Any) -> Any:
    return None if value == "" else value


def _dotted(text: str) -> dt.date:
    day, month, year = (parsing.digits(part, max_digits=4) for part in text.split("."))
    if day is None or month is None or year is None:
        raise ValueError(text)
    return dt.date(year, month, day)


def _count(raw: Any) -> int | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return 0
    if isinstance(raw, bool):
        return None
    return parsing.whole_number(raw, maximum=parsing.MAX_COUNT)  # ASCII digits, bounded; never raises
