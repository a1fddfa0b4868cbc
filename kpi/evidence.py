"""Task evidence: the codes an officer chooses from, the layout of the evidence sheets, and their parsing.

Since template PARASAT-4.2026.3 a return carries two evidence sheets: «Дәлелдер» with one row per task
(status, related date, audit years, events and participants per month) and «Құжаттар» with one row per
proving document (task code first, then type, number, date, signatory, link), so a task may have several
documents. Returns of PARASAT-4.2026.2 held one document per task in the task row; they are still read
(`LEGACY_COLUMNS`), each task row's document becoming that task's one document.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from kpi import parsing
from kpi.catalogue import LANGUAGES, Catalogue, Entity, Registry, parse_period, tasks_for_entity
from kpi.i18n import t

EVIDENCE_SHEET = "Дәлелдер"
DOCUMENTS_SHEET = "Құжаттар"
LISTS_SHEET = "Тізімдер"
STATUSES: tuple[str, ...] = ("done", "in_progress", "not_started", "no_facts")
DOC_TYPES: tuple[str, ...] = (
    "order", "plan", "analytical_report", "certificate", "protocol", "letter", "memo", "link", "list",
    "certificate_of_conformity", "journal", "video", "publication", "audit_report", "standard", "policy",
    "instruction", "other",
)
SIGNATORIES: tuple[str, ...] = ("first_head", "chief_of_staff", "deputy_head", "collegial_body", "other")
HEADER_ROW = 3
FIRST_ROW = 4
MONTHS = 12  # events and participants are counted per month of the year


def _letters(index: int) -> str:
    """Column letters of a 0-based column index."""
    name, index = "", index + 1
    while index:
        index, rem = divmod(index - 1, 26)
        name = chr(65 + rem) + name
    return name


# The task sheet: fixed fields, then events and participants for each month (side by side).
COLUMNS = {"task": "A", "title": "B", "status": "C", "related_date": "D", "audit_years": "E"}
EVENT_COLUMNS = [_letters(5 + i) for i in range(MONTHS)]  # F..Q
PARTICIPANT_COLUMNS = [_letters(5 + MONTHS + i) for i in range(MONTHS)]  # R..AC
# The documents sheet: one row per document; the last column names the task for the reader's eye only.
DOCUMENT_COLUMNS = {"task": "A", "doc_type": "B", "doc_number": "C", "doc_date": "D", "signatory": "E",
                    "reference": "F", "hint": "G"}
DOCUMENT_FIELDS = ("doc_type", "doc_number", "doc_date", "signatory", "reference")
SPARE_DOCUMENT_ROWS = 60  # blank rows below the pre-filled ones, for further documents
# The previous template (PARASAT-4.2026.2): one document in each task row, months from K.
LEGACY_COLUMNS = {"task": "A", "title": "B", "status": "C", "doc_type": "D", "doc_number": "E", "doc_date": "F",
                  "signatory": "G", "reference": "H", "related_date": "I", "audit_years": "J"}
LEGACY_EVENT_COLUMNS = [_letters(10 + i) for i in range(MONTHS)]  # K..V
LEGACY_PARTICIPANT_COLUMNS = [_letters(10 + MONTHS + i) for i in range(MONTHS)]  # W..AH
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
class Document:
    """One proving document of a task: type, number, date, who signed it and its link."""

    doc_type: str | None = None
    doc_number: str | None = None
    doc_date: dt.date | None = None
    signatory: str | None = None
    reference: str | None = None
    row: int = 0

    def to_wire(self) -> list[Any]:
        return [self.doc_type, self.doc_number, _iso(self.doc_date), self.signatory, self.reference, self.row]

    @classmethod
    def from_wire(cls, item: list[Any]) -> Document:
        doc_type, number, doc_date, signatory, reference, row = item
        return cls(doc_type, number, _date_or_none(doc_date), signatory, reference, row)

    def absent(self) -> list[str]:
        """The fields a whole document has and this one lacks (the signatory is checked by its own rule)."""
        return [name for name in ("doc_number", "doc_date", "reference") if getattr(self, name) in (None, "")]


@dataclass
class EvidenceRow:
    """One task's evidence as the officer recorded it, with every document filed for it."""

    task_id: str
    status: str | None = None
    related_date: dt.date | None = None
    audit_years: str | None = None
    events: list[int] = field(default_factory=lambda: [0] * MONTHS)
    participants: list[int] = field(default_factory=lambda: [0] * MONTHS)
    row: int = 0
    documents: list[Document] = field(default_factory=list)

    def to_wire(self) -> list[Any]:
        """The row as a compact JSON list, for the sandboxed reader to send back (see `from_wire`)."""
        return [self.task_id, self.status, _iso(self.related_date), self.audit_years, self.events,
                self.participants, self.row, [d.to_wire() for d in self.documents]]

    @classmethod
    def from_wire(cls, item: list[Any]) -> EvidenceRow:
        task_id, status, related_date, audit_years, events, participants, row, documents = item
        return cls(task_id, status, _date_or_none(related_date), audit_years, events, participants, row,
                   [Document.from_wire(d) for d in documents])

    def documents_of(self, doc_type: str) -> list[Document]:
        return [d for d in self.documents if d.doc_type == doc_type]


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
    sheet: str = EVIDENCE_SHEET


def _col_index(letters: str) -> int:
    index = 0
    for ch in letters:
        index = index * 26 + ord(ch) - 64
    return index - 1


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


@dataclass(frozen=True)
class _Layout:
    """Where the fields of a task row sit (0-based), for the current or the previous template."""

    choices: tuple[tuple[str, str, int], ...]
    dates: tuple[tuple[str, str, int], ...]
    texts: tuple[tuple[str, str, int], ...]
    series: tuple[tuple[str, tuple[tuple[int, str, int], ...]], ...]
    status_index: int
    width: int


def _layout(columns: dict[str, str], events: list[str], participants: list[str]) -> _Layout:
    def at(names: tuple[str, ...]) -> tuple[tuple[str, str, int], ...]:
        return tuple((n, columns[n], _col_index(columns[n])) for n in names if n in columns)

    series = tuple((name, tuple((m, col, _col_index(col)) for m, col in enumerate(letters, start=1)))
                   for name, letters in (("events", events), ("participants", participants)))
    for _name, cols in series:  # the monthly columns sit side by side, so a row's months are read as one slice
        assert all(index == cols[0][2] + i for i, (_m, _c, index) in enumerate(cols))
    width = max(_col_index(c) for c in (*columns.values(), *events, *participants)) + 1
    return _Layout(at(("status", "doc_type", "signatory")), at(("doc_date", "related_date")),
                   at(("doc_number", "reference", "audit_years")), series, _col_index(columns["status"]), width)


CURRENT_LAYOUT = _layout(COLUMNS, EVENT_COLUMNS, PARTICIPANT_COLUMNS)
LEGACY_LAYOUT = _layout(LEGACY_COLUMNS, LEGACY_EVENT_COLUMNS, LEGACY_PARTICIPANT_COLUMNS)
_DOCUMENT_INDEX = {name: _col_index(letters) for name, letters in DOCUMENT_COLUMNS.items()}
_DOCUMENT_WIDTH = _DOCUMENT_INDEX["reference"] + 1


def parse_evidence(
    catalogue: Catalogue, registry: Registry, entity: Entity, period: str, table: list[list[Any]],
    documents: list[list[Any]] | None = None, *, legacy: bool = False,
) -> tuple[list[EvidenceRow], list[EvidenceProblem]]:
    """The evidence rows of a return's task sheet with the documents of its documents sheet, and every
    problem found in them. `legacy` reads a PARASAT-4.2026.2 return: one document in each task row."""
    applicable = {task.id for task in tasks_for_entity(catalogue, registry, entity)}
    lookups = dict(zip(("status", "doc_type", "signatory"), _choice_lookups()))
    layout = LEGACY_LAYOUT if legacy else CURRENT_LAYOUT
    _, quarter = parse_period(period)
    last_month = quarter * 3
    rows: list[EvidenceRow] = []
    problems: list[EvidenceProblem] = []
    seen: dict[str, EvidenceRow] = {}

    for offset, values in enumerate(table[FIRST_ROW - 1:], start=FIRST_ROW):
        if not values:
            continue
        if len(values) < layout.width:  # rows come without their trailing empty cells
            values = [*values, *([None] * (layout.width - len(values)))]
        task_id = str(_blank_none(values[0]) or "").strip()
        if not task_id:
            continue
        where = f"A{offset}"
        if not _known_task(catalogue, applicable, task_id, where, problems, EVIDENCE_SHEET):
            continue
        if task_id in seen:
            problems.append(EvidenceProblem("evidence_duplicate_task", where, task_id, {"task": task_id}))
            continue
        row = EvidenceRow(task_id=task_id, row=offset)
        seen[task_id] = row
        fields: dict[str, Any] = {}
        for name, letters, index in layout.choices:
            raw = _blank_none(values[index])
            if raw is None:
                continue
            code = lookups[name].get(str(raw).strip().lower())
            if code is None:
                problems.append(EvidenceProblem("evidence_bad_choice", f"{letters}{offset}", raw, {"field": name}))
            else:
                fields[name] = code
        row.status = fields.get("status")
        if row.status == "no_facts" and not catalogue.task_field(task_id, "no_facts_exempt"):
            letters = _letters(layout.status_index)
            problems.append(EvidenceProblem("evidence_no_facts_not_allowed", f"{letters}{offset}",
                                            _blank_none(values[layout.status_index])))
        for name, letters, index in layout.dates:
            raw = _blank_none(values[index])
            try:
                fields[name] = parse_date(raw)
            except ValueError:
                problems.append(EvidenceProblem("evidence_bad_date", f"{letters}{offset}", raw))
        for name, letters, index in layout.texts:
            text = _text(values[index], f"{letters}{offset}", problems, EVIDENCE_SHEET)
            if text is not None:
                fields[name] = text
        row.related_date = fields.get("related_date")
        row.audit_years = fields.get("audit_years")
        if legacy and any(fields.get(name) is not None for name in DOCUMENT_FIELDS):
            row.documents.append(Document(fields.get("doc_type"), fields.get("doc_number"), fields.get("doc_date"),
                                          fields.get("signatory"), fields.get("reference"), offset))
        for name, columns in layout.series:
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
    if not legacy:
        for task_id, document in _parse_documents(catalogue, applicable, documents or [], lookups, problems):
            if task_id not in seen:
                seen[task_id] = EvidenceRow(task_id=task_id)
                rows.append(seen[task_id])
            seen[task_id].documents.append(document)
    return rows, problems


def _parse_documents(catalogue: Catalogue, applicable: set[str], table: list[list[Any]],
                     lookups: dict[str, dict[str, str]], problems: list[EvidenceProblem]
                     ) -> list[tuple[str, Document]]:
    """The documents sheet's rows. A row holding only its task code and type is an empty slot of the template."""
    out: list[tuple[str, Document]] = []
    sheet = DOCUMENTS_SHEET
    index = _DOCUMENT_INDEX
    for offset, values in enumerate(table[FIRST_ROW - 1:], start=FIRST_ROW):
        if not values:
            continue
        if len(values) < _DOCUMENT_WIDTH:
            values = [*values, *([None] * (_DOCUMENT_WIDTH - len(values)))]
        filled = [_blank_none(values[index[name]]) for name in ("doc_number", "doc_date", "signatory", "reference")]
        if all(v is None or (isinstance(v, str) and not v.strip()) for v in filled):
            continue
        task_id = str(_blank_none(values[0]) or "").strip()
        if not task_id:
            problems.append(EvidenceProblem("evidence_document_without_task", f"A{offset}", None, sheet=sheet))
            continue
        if not _known_task(catalogue, applicable, task_id, f"A{offset}", problems, sheet):
            continue
        document = Document(row=offset)
        for name in ("doc_type", "signatory"):
            raw = _blank_none(values[index[name]])
            if raw is None:
                continue
            code = lookups[name].get(str(raw).strip().lower())
            if code is None:
                problems.append(EvidenceProblem("evidence_bad_choice", f"{DOCUMENT_COLUMNS[name]}{offset}", raw,
                                                {"field": name}, sheet=sheet))
            else:
                setattr(document, name, code)
        raw = _blank_none(values[index["doc_date"]])
        try:
            document.doc_date = parse_date(raw)
        except ValueError:
            problems.append(EvidenceProblem("evidence_bad_date", f"{DOCUMENT_COLUMNS['doc_date']}{offset}", raw,
                                            sheet=sheet))
        for name in ("doc_number", "reference"):
            setattr(document, name, _text(values[index[name]], f"{DOCUMENT_COLUMNS[name]}{offset}", problems, sheet))
        out.append((task_id, document))
    return out


def _known_task(catalogue: Catalogue, applicable: set[str], task_id: str, where: str,
                problems: list[EvidenceProblem], sheet: str) -> bool:
    if task_id not in catalogue.task_by_id:
        problems.append(EvidenceProblem("evidence_unknown_task", where, task_id, {"task": task_id}, sheet=sheet))
        return False
    if task_id not in applicable:
        problems.append(EvidenceProblem("evidence_task_not_applicable", where, task_id, {"task": task_id},
                                        sheet=sheet))
        return False
    return True


def _text(raw: Any, where: str, problems: list[EvidenceProblem], sheet: str) -> str | None:
    raw = _blank_none(raw)
    if raw is None:
        return None
    text = str(int(raw)) if isinstance(raw, float) and raw.is_integer() else str(raw).strip()
    if len(text) > MAX_TEXT:
        problems.append(EvidenceProblem("evidence_text_too_long", where, text[:40] + "…",
                                        {"length": len(text), "limit": MAX_TEXT}, sheet=sheet))
        return None
    return text or None


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
