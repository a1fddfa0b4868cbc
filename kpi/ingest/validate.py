"""Validation of a read workbook into a return: small named rules, each returning every problem it finds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from kpi import parsing, periods
from kpi.catalogue import LANGUAGES, Catalogue, Entity, Registry, measures_for_entity, parse_period
from kpi.evidence import DOCUMENTS_SHEET, EVIDENCE_SHEET, EvidenceRow, parse_evidence
from kpi.i18n import normalise_language, t
from kpi.layout import LEGACY_TEMPLATE_VERSIONS, META_NAMES, RETURN_SHEET, SUPPORTED_TEMPLATE_VERSIONS

FLAG_WORDS = {
    "1": 1, "0": 0, "true": 1, "false": 0, "иә": 1, "жоқ": 0, "да": 1, "нет": 0, "yes": 1, "no": 0,
    "ия": 1, "и": 1, "y": 1, "n": 0,
}


class Issue(BaseModel):
    """One problem with an uploaded file, located as precisely as possible."""

    model_config = ConfigDict(frozen=True)

    file: str
    code: str
    params: dict[str, Any] = Field(default_factory=dict)
    sheet: str | None = None
    cell: str | None = None
    measure: str | None = None
    value: Any = None

    def message(self, lang: str | None = None) -> str:
        """The problem in words, in the user's language."""
        language = normalise_language(lang)
        return t(f"ingest.{self.code}", lang, **{  # a parameter given in every language reads in the user's
            name: (value.get(language) or value.get("kk")) if isinstance(value, dict) and "kk" in value else value
            for name, value in self.params.items()})

    def as_dict(self, lang: str | None = None) -> dict[str, Any]:
        return {
            "file": self.file, "sheet": self.sheet, "cell": self.cell, "measure": self.measure,
            "value": self.value, "code": self.code, "message": self.message(lang),
        }


class ReturnData(BaseModel):
    """A validated return: the figures of one entity for one period, and its task evidence."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    file: str
    sha256: str
    entity: str
    period: str
    template_version: str
    values: dict[str, int]
    cells: dict[str, str]
    evidence: tuple[EvidenceRow, ...] = ()

    def to_wire(self) -> dict[str, Any]:
        """The return as compact JSON for the sandboxed reader to send back (see `from_wire`)."""
        return {"sha256": self.sha256, "entity": self.entity, "period": self.period,
                "template_version": self.template_version, "values": self.values, "cells": self.cells,
                "evidence": [row.to_wire() for row in self.evidence]}

    @classmethod
    def from_wire(cls, data: dict[str, Any], file: str) -> ReturnData:
        """A return the sandboxed reader validated, rebuilt without validating it a second time in the
        server: the worker ran every rule on it already, and JSON carries no objects."""
        return cls.model_construct(
            file=file, sha256=data["sha256"], entity=data["entity"], period=data["period"],
            template_version=data["template_version"], values=data["values"], cells=data["cells"],
            evidence=tuple(EvidenceRow.from_wire(item) for item in data["evidence"]),
        )


@dataclass
class Context:
    """What the rules read and write while checking one file."""

    catalogue: Catalogue
    registry: Registry
    file: str
    raw: dict[str, Any]
    today: dt.date
    issues: list[Issue] = field(default_factory=list)
    entity: Entity | None = None
    period: str | None = None
    values: dict[str, int] = field(default_factory=dict)
    cells: dict[str, str] = field(default_factory=dict)
    evidence: list[EvidenceRow] = field(default_factory=list)

    def cell(self, name: str) -> dict[str, Any] | None:
        cell: dict[str, Any] | None = self.raw.get("cells", {}).get(name)
        return cell

    def add(self, code: str, *, name: str | None = None, measure: str | None = None, value: Any = None,
            **params: Any) -> None:
        located = self.cell(name or measure or "") or {}
        self.issues.append(
            Issue(file=self.file, code=code, params=params, sheet=located.get("sheet"),
                  cell=located.get("cell"), measure=measure, value=value)
        )


Rule = Callable[[Context], None]


def rule_sheets_present(ctx: Context) -> None:
    """The return sheet exists and the template's header cells are named."""
    if RETURN_SHEET not in ctx.raw.get("sheets", []):
        ctx.add("missing_sheet", sheet=RETURN_SHEET)
        return
    for name in META_NAMES:
        if ctx.cell(name) is None:
            ctx.issues.append(Issue(file=ctx.file, code="missing_name", params={"name": name}, sheet=RETURN_SHEET))


def rule_template_version(ctx: Context) -> None:
    """The file was made from a template version this release reads."""
    cell = ctx.cell("meta_template_version")
    if cell is None:
        return
    if str(cell["value"] or "").strip() not in SUPPORTED_TEMPLATE_VERSIONS:
        ctx.add("template_version", name="meta_template_version", value=cell["value"],
                expected=", ".join(SUPPORTED_TEMPLATE_VERSIONS))


def rule_entity_and_period(ctx: Context) -> None:
    """The entity is registered, its type matches the template's, and the period is a valid one."""
    entity_cell, type_cell, period_cell = (ctx.cell(n) for n in META_NAMES[:3])
    if entity_cell is not None:
        code = str(entity_cell["value"] or "").strip()
        entity = ctx.registry.entity_by_code.get(code)
        if entity is None:
            ctx.add("unknown_entity", name="meta_entity", value=entity_cell["value"])
        else:
            ctx.entity = entity
            declared_type = str((type_cell or {}).get("value") or "").strip()
            if type_cell is not None and declared_type != entity.type:
                ctx.add("wrong_entity_type", name="meta_entity_type", value=declared_type,
                        expected=entity.type)
                ctx.entity = None
    if period_cell is not None:
        period = str(period_cell["value"] or "").strip()
        try:
            year, quarter = parse_period(period)
        except ValueError:
            ctx.add("bad_period", name="meta_period", value=period_cell["value"])
            return
        # A quarter that has not ended is refused in the server, which knows the periods opened early
        # (kpi.periods.refusal); here only a period no calendar could make fileable soon.
        if year < 2020 or year > ctx.today.year + 1:
            ctx.add("period_out_of_range", name="meta_period", value=period)
            return
        ctx.period = period
        ctx.cells["meta_period"] = period_cell["cell"]  # where the server's calendar check points to


def _as_count(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        return parsing.digits(value)  # ASCII digits only: '²' passes str.isdigit() and then breaks int()
    return None


def rule_measure_values(ctx: Context) -> None:
    """Every measure of the entity's type is present and holds a non-negative whole number or a Yes/No."""
    if ctx.entity is None:
        return
    for measure in measures_for_entity(ctx.catalogue, ctx.registry, ctx.entity):
        cell = ctx.cell(measure.code)
        if measure.optional and (cell is None or cell["value"] is None
                                 or (isinstance(cell["value"], str) and not cell["value"].strip())):
            continue  # a measure added after the entity's template, or left blank: not reported, never zero
        if cell is None:
            ctx.issues.append(Issue(file=ctx.file, code="missing_cell", sheet=RETURN_SHEET,
                                    measure=measure.code, params={"measure": measure.code}))
            continue
        value = cell["value"]
        if value is None or (isinstance(value, str) and not value.strip()):
            ctx.add("blank", measure=measure.code, value=None)
            continue
        if measure.kind == "flag":
            flag = _as_flag(value)
            if flag is None:
                ctx.add("bad_flag", measure=measure.code, value=value)
                continue
            ctx.values[measure.code] = flag
        else:
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                ctx.add("negative", measure=measure.code, value=value)
                continue
            if isinstance(value, float) and not value.is_integer():
                ctx.add("fraction", measure=measure.code, value=value)
                continue
            count = _as_count(value)
            if count is None:
                ctx.add("not_a_number", measure=measure.code, value=value)
                continue
            if count > 10_000_000_000:
                ctx.add("too_big", measure=measure.code, value=value)
                continue
            ctx.values[measure.code] = count
        ctx.cells[measure.code] = cell["cell"]


def _as_flag(value: Any) -> int | None:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)) and value in (0, 1):
        return int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if "/" in text:  # a bilingual label such as "Иә / Да"
            words = {FLAG_WORDS.get(part.strip()) for part in text.split("/")}
            return words.pop() if len(words) == 1 and None not in words else None
        return FLAG_WORDS.get(text)
    return None


def rule_parts_within_wholes(ctx: Context) -> None:
    """A part never exceeds its whole (analysed ≤ total, eliminated ≤ found, ...)."""
    for rule in ctx.catalogue.return_rules:
        if not all(m in ctx.values for m in (*rule.part, *rule.whole)):
            continue
        part = sum(ctx.values[m] for m in rule.part)
        whole = sum(ctx.values[m] for m in rule.whole)
        if part > whole:  # named as the officer sees the rows in the template, with their cells
            ctx.add("part_exceeds_whole", measure=rule.part[-1], value=part,
                    part=_row_labels(ctx, rule.part), part_cell=_row_cells(ctx, rule.part), part_value=part,
                    whole=_row_labels(ctx, rule.whole), whole_cell=_row_cells(ctx, rule.whole), whole_value=whole)


def _row_labels(ctx: Context, measures: Sequence[str]) -> dict[str, str]:
    """The template rows' labels in every language (JSON, so the sandboxed reader can send them back)."""
    known = ctx.catalogue.measure_by_code
    return {lang: " + ".join(known[m].label(lang) if m in known else m for m in measures) for lang in LANGUAGES}


def _row_cells(ctx: Context, measures: Sequence[str]) -> str:
    return " + ".join(str(ctx.cells.get(m) or (ctx.cell(m) or {}).get("cell") or "?") for m in measures)


def rule_evidence(ctx: Context) -> None:
    """The evidence sheet: known tasks of the entity, choices from the lists, real dates, whole counts."""
    if ctx.entity is None or ctx.period is None:
        return
    table = ctx.raw.get("tables", {}).get(EVIDENCE_SHEET)
    if table is None:
        ctx.issues.append(Issue(file=ctx.file, code="missing_sheet", params={"sheet": EVIDENCE_SHEET},
                                sheet=EVIDENCE_SHEET))
        return
    version = str((ctx.cell("meta_template_version") or {}).get("value") or "").strip()
    legacy = version in LEGACY_TEMPLATE_VERSIONS
    documents = ctx.raw.get("tables", {}).get(DOCUMENTS_SHEET)
    if documents is None and not legacy:
        ctx.issues.append(Issue(file=ctx.file, code="missing_sheet", params={"sheet": DOCUMENTS_SHEET},
                                sheet=DOCUMENTS_SHEET))
        return
    rows, problems = parse_evidence(ctx.catalogue, ctx.registry, ctx.entity, ctx.period, table, documents,
                                    legacy=legacy)
    for problem in problems:
        ctx.issues.append(Issue(file=ctx.file, code=problem.code, params=problem.params, sheet=problem.sheet,
                                cell=problem.cell, value=problem.value))
    ctx.evidence = rows


RULES: tuple[Rule, ...] = (
    rule_sheets_present,
    rule_template_version,
    rule_entity_and_period,
    rule_measure_values,
    rule_parts_within_wholes,
    rule_evidence,
)


def validate(
    catalogue: Catalogue, registry: Registry, file: str, raw: dict[str, Any], *,
    today: dt.date | None = None, extra_rules: tuple[Rule, ...] = (),
) -> tuple[ReturnData | None, list[Issue]]:
    """Run every rule over one read workbook; a return only when no rule found a problem."""
    ctx = Context(catalogue, registry, file, raw, today or periods.today())
    for rule in (*RULES, *extra_rules):
        rule(ctx)
    if ctx.issues or ctx.entity is None or ctx.period is None:
        return None, ctx.issues
    version_cell = ctx.cell("meta_template_version") or {}
    return (
        ReturnData(
            file=file, sha256=raw["sha256"], entity=ctx.entity.code, period=ctx.period,
            template_version=str(version_cell.get("value")), values=ctx.values, cells=ctx.cells,
            evidence=tuple(ctx.evidence),
        ),
        [],
    )


def problem_issue(file: str, problem: dict[str, Any]) -> Issue:
    """The issue for a file the reader refused (not a spreadsheet, zip bomb, crash...)."""
    return Issue(file=file, code=problem["code"], params=problem.get("params") or {},
                 sheet=problem.get("sheet"), cell=problem.get("cell"))
