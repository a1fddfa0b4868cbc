"""The guide as data: groups, KPIs, projects, tasks, measures and the entity registry, as typed models."""

from __future__ import annotations

import re
from datetime import date, timedelta
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml

try:  # libyaml parses the catalogue ten times faster than the pure-Python loader
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]
from pydantic import BaseModel, ConfigDict, Field, model_validator

DATA_DIR = Path(__file__).resolve().parent / "data"
LANGUAGES: tuple[str, ...] = ("kk", "ru", "en")
Language = Literal["kk", "ru", "en"]
EntityType = Literal["central_body", "akimat", "university", "quasi_public"]
ENTITY_TYPES: tuple[str, ...] = ("central_body", "akimat", "university", "quasi_public")
PERIOD_RE = re.compile(r"^(20\d\d)Q([1-4])$")


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Text(Frozen):
    """A text in the three interface languages."""

    kk: str
    ru: str
    en: str

    def __call__(self, lang: str) -> str:
        return str(getattr(self, lang, None) or self.kk)


class Direction(Frozen):
    """One of the nine corruption-risk directions of internal analysis."""

    code: str
    label: Text


class Measure(Frozen):
    """A figure an entity enters in its return."""

    code: str
    kind: Literal["count", "flag"]
    label: Text
    help: Text | None = None
    direction: str | None = None
    stock: bool = False  # a state at the quarter's end (a total, a flag), not a running sum from January
    optional: bool = False  # added after PARASAT-4.2026.2: a blank or absent cell means "not reported"


class Formula(Frozen):
    """Numerator and denominator of a figure: sums of measures, or the count of reporting entities."""

    key: str = ""
    label: Text | None = None
    numerator: tuple[str, ...]
    denominator: tuple[str, ...] | Literal["reporting_entities"] | None = None
    scale: float = 1
    targets: dict[int, float] = Field(default_factory=dict)


class Task(Frozen):
    """A task (міндет) of a project, with the evidence that proves it."""

    id: str
    number: int
    title: Text
    description: Text | None = None
    goal: Text | None = None
    executors: Text | None = None
    format: Text | None = None
    audience: Text | None = None
    evidence: Text | None = None
    notes: tuple[Text, ...] = ()
    no_facts_exempt: bool = False
    doc_types: tuple[str, ...] = ()
    signatory: str | None = None


class Project(Frozen):
    """A project (жоба) serving one KPI; its goal, executors and evidence apply to tasks lacking their own."""

    id: str
    number: int
    title: Text
    description: Text | None = None
    goal: Text | None = None
    executors: Text | None = None
    format: Text | None = None
    audience: Text | None = None
    evidence: Text | None = None
    notes: tuple[Text, ...] = ()
    no_facts_exempt: bool = False
    doc_types: tuple[str, ...] = ()
    signatory: str | None = None
    tasks: tuple[Task, ...]


class Kpi(Frozen):
    """A key performance indicator and the formula that computes it."""

    id: str
    number: int
    title: Text
    short: Text
    note: Text | None = None
    unit: Literal["percent", "units", "ratio"]
    kind: Literal["share", "ratio", "count", "flag_share"]
    direction: Literal["higher", "lower", "monitoring"]
    entity_types: tuple[EntityType, ...]
    measures: tuple[str, ...]
    numerator: tuple[str, ...]
    denominator: tuple[str, ...] | Literal["reporting_entities"] | None = None
    scale: float = 1
    breakdown: tuple[Formula, ...] = ()
    targets: dict[int, float] = Field(default_factory=dict)
    secondary: tuple[Formula, ...] = ()
    projects: tuple[Project, ...] = ()

    @property
    def group_id(self) -> str:
        return self.id.split(".")[0]

    @property
    def formula(self) -> Formula:
        return Formula(
            key=self.id, numerator=self.numerator, denominator=self.denominator, scale=self.scale
        )


class Group(Frozen):
    """A project group (жобалар тобы)."""

    id: str
    number: int
    title: Text
    kpis: tuple[Kpi, ...]


class ReturnRule(Frozen):
    """A rule every return must pass: the summed part never exceeds the summed whole."""

    id: str
    kind: Literal["part_le_whole"] = "part_le_whole"
    part: tuple[str, ...]
    whole: tuple[str, ...]


class EvidenceRule(Frozen):
    """A rule of the guide that a task's evidence must pass: cadence, deadline, audit years, signatory, yearly
    renewal of a document, or every one of a return's counted people covered (part equal to whole).

    `tasks` lists task ids; an entry ending in `*` names every task whose id starts with what precedes it."""

    id: str
    kind: Literal["cadence", "deadline", "audit_years", "signatory", "renewal", "all_covered"]
    tasks: tuple[str, ...] | Literal["all"]
    text: Text
    per: Literal["month", "quarter", "year"] | None = None
    minimum: int | None = None
    days: int | None = None
    working_days: bool = False
    years: int | None = None
    allowed: tuple[str, ...] = ()
    exempt_doc_types: tuple[str, ...] = ()  # signatory: documents nobody of the body signs (links, videos...)
    start_doc: str | None = None  # deadline: counted from this document's date (else the row's related date)
    end_doc: str | None = None  # deadline: up to this document's date (else the latest document's)
    doc_types: tuple[str, ...] = ()  # renewal: the documents that must be dated in the period's year
    part: str | None = None  # all_covered: the return's measure that must equal `whole`
    whole: str | None = None

    def applies_to(self, task_id: str) -> bool:
        if self.tasks == "all":
            return True
        return any(task_id == t or (t.endswith("*") and task_id.startswith(t[:-1])) for t in self.tasks)


class Catalogue(Frozen):
    """The whole guide: groups → KPIs → projects → tasks, plus measures, risk directions and rules."""

    schema_version: int
    directions: tuple[Direction, ...]
    measures: tuple[Measure, ...]
    groups: tuple[Group, ...]
    return_rules: tuple[ReturnRule, ...] = ()
    evidence_rules: tuple[EvidenceRule, ...] = ()

    @model_validator(mode="after")
    def _check_references(self) -> Catalogue:
        known = {m.code for m in self.measures}
        for kpi in self.kpis:
            formulas = (kpi.formula, *kpi.breakdown, *kpi.secondary)
            for formula in formulas:
                used = list(formula.numerator)
                if isinstance(formula.denominator, tuple):
                    used += list(formula.denominator)
                missing = [m for m in (*used, *kpi.measures) if m not in known]
                if missing:
                    raise ValueError(f"{kpi.id} uses unknown measures {missing}")
        for rule in self.return_rules:
            missing = [m for m in (*rule.part, *rule.whole) if m not in known]
            if missing:
                raise ValueError(f"rule {rule.id} uses unknown measures {missing}")
        task_ids = {t.id for t in self.tasks}
        for evidence_rule in self.evidence_rules:
            unknown = [] if evidence_rule.tasks == "all" else [
                t for t in evidence_rule.tasks
                if t not in task_ids and not (t.endswith("*") and any(i.startswith(t[:-1]) for i in task_ids))]
            if unknown:
                raise ValueError(f"evidence rule {evidence_rule.id} names unknown tasks {unknown}")
            for measure in (evidence_rule.part, evidence_rule.whole):
                if measure is not None and measure not in known:
                    raise ValueError(f"evidence rule {evidence_rule.id} uses unknown measure {measure}")
        return self

    @cached_property
    def kpis(self) -> tuple[Kpi, ...]:
        return tuple(k for g in self.groups for k in g.kpis)

    @cached_property
    def kpi_by_id(self) -> dict[str, Kpi]:
        return {k.id: k for k in self.kpis}

    @cached_property
    def measure_by_code(self) -> dict[str, Measure]:
        return {m.code: m for m in self.measures}

    @cached_property
    def projects(self) -> tuple[Project, ...]:
        return tuple(p for k in self.kpis for p in k.projects)

    @cached_property
    def tasks(self) -> tuple[Task, ...]:
        return tuple(t for p in self.projects for t in p.tasks)

    @cached_property
    def task_by_id(self) -> dict[str, Task]:
        return {t.id: t for t in self.tasks}

    @cached_property
    def _project_by_task(self) -> dict[str, Project]:
        return {t.id: p for p in self.projects for t in p.tasks}

    def project_of(self, task_id: str) -> Project:
        return self._project_by_task[task_id]

    def task_field(self, task_id: str, field: str) -> Any:
        """A task's own goal/executors/evidence/... or, when it has none, its project's."""
        own = getattr(self.task_by_id[task_id], field)
        return own if own not in (None, (), False) else getattr(self.project_of(task_id), field)

    def rules_for_task(self, task_id: str) -> list[EvidenceRule]:
        return [r for r in self.evidence_rules if r.applies_to(task_id)]

    def group(self, group_id: str) -> Group:
        return next(g for g in self.groups if g.id == group_id)

    def kpi_for_project(self, project_id: str) -> Kpi:
        return next(k for k in self.kpis if any(p.id == project_id for p in k.projects))


class Region(Frozen):
    """A first-level administrative unit: an oblast or a city of republican significance."""

    code: str
    iso: str
    kind: Literal["oblast", "city"]
    name: Text
    center: dict[str, float]
    tile: dict[str, int]


class Entity(Frozen):
    """A reporting entity: a state body, akimat, university or quasi-public company."""

    code: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    type: EntityType
    region: str | None
    name: Text
    extra_kpis: tuple[str, ...] = ()


class Registry(Frozen):
    """The registry of regions and reporting entities."""

    schema_version: int
    regions: tuple[Region, ...]
    entities: tuple[Entity, ...]

    @model_validator(mode="after")
    def _check_regions(self) -> Registry:
        codes = {r.code for r in self.regions}
        seen: set[str] = set()
        for entity in self.entities:
            if entity.region is not None and entity.region not in codes:
                raise ValueError(f"entity {entity.code} has unknown region {entity.region}")
            if entity.code in seen:
                raise ValueError(f"entity code {entity.code} is registered twice")
            seen.add(entity.code)
        return self

    @cached_property
    def entity_by_code(self) -> dict[str, Entity]:
        return {e.code: e for e in self.entities}

    @cached_property
    def region_by_code(self) -> dict[str, Region]:
        return {r.code: r for r in self.regions}

    @cached_property
    def named_only_kpis(self) -> frozenset[str]:
        """KPIs that some entity lists in `extra_kpis`: reported only by the entities that name them."""
        return frozenset(k for e in self.entities for k in e.extra_kpis)

    def of_type(self, entity_type: str | None) -> list[Entity]:
        return [e for e in self.entities if entity_type is None or e.type == entity_type]


ERRATA_PATH = DATA_DIR / "errata.yaml"


@lru_cache(maxsize=4)
def load_catalogue(path: Path = DATA_DIR / "catalogue.yaml", errata: Path | None = ERRATA_PATH) -> Catalogue:
    """The catalogue file parsed and checked, with the errata applied to the texts people read
    (`errata=None` gives the guide's words as the catalogue keeps them)."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.load(fh, Loader=SafeLoader)
    if errata is not None:
        apply_errata(raw, load_errata(errata))
    return Catalogue.model_validate(raw)


def load_errata(path: Path = ERRATA_PATH) -> list[dict[str, Any]]:
    """The corrections of `errata.yaml`, in order."""
    with open(path, encoding="utf-8") as fh:
        return list((yaml.load(fh, Loader=SafeLoader) or {}).get("errata") or [])


def apply_errata(raw: dict[str, Any], errata: list[dict[str, Any]]) -> None:
    """Apply each correction to the raw catalogue in place; one that no longer matches anything is an error."""
    every_node = _nodes(raw)
    every_text = [n for n in every_node if {"kk", "ru", "en"} <= set(n)]  # walked once, not once per erratum
    for erratum in errata:
        ids = set(erratum.get("ids") or ())
        nodes = [raw] if not ids else [n for n in every_node if n.get("id") in ids]
        field, lang = erratum.get("field"), erratum["lang"]
        if field:
            texts = [n[field] for n in nodes if isinstance(n.get(field), dict)]
        else:
            texts = every_text if not ids else [t for n in nodes for t in _texts(n)]
        hits = 0
        for text in texts:
            value = text.get(lang)
            if isinstance(value, str) and erratum["find"] in value:
                text[lang] = value.replace(erratum["find"], erratum["replace"])
                hits += 1
        if not hits:
            raise ValueError(f"erratum {erratum['find']!r} ({lang}) matches no text of the catalogue")


def _nodes(node: Any) -> list[dict[str, Any]]:
    """Every mapping in the raw catalogue (groups, KPIs, projects, tasks, ...)."""
    if isinstance(node, dict):
        return [node, *(n for v in node.values() for n in _nodes(v))]
    if isinstance(node, list):
        return [n for v in node for n in _nodes(v)]
    return []


def _texts(node: Any) -> list[dict[str, Any]]:
    """Every text (a mapping with kk, ru and en) inside a raw node."""
    return [n for n in _nodes(node) if {"kk", "ru", "en"} <= set(n)]


@lru_cache(maxsize=4)
def load_registry(path: Path | None = None) -> Registry:
    """The entity registry file parsed and checked."""
    path = path or Path(_registry_path())
    with open(path, encoding="utf-8") as fh:
        return Registry.model_validate(yaml.load(fh, Loader=SafeLoader))


def _registry_path() -> str:
    import os

    return os.environ.get("PARASAT_ENTITIES_FILE", str(DATA_DIR / "entities.yaml"))


def kpis_for_entity(catalogue: Catalogue, registry: Registry, entity: Entity) -> list[Kpi]:
    """The KPIs an entity reports: those of its type, and the registry's named extras.

    A KPI that some entity lists in `extra_kpis` (G3.K3, the Ministry of Education) is reported
    only by the entities that list it, even though its type would otherwise qualify.
    """
    named_only = registry.named_only_kpis  # once per registry: per entity it made a national report quadratic
    return [
        k
        for k in catalogue.kpis
        if k.id in entity.extra_kpis or (entity.type in k.entity_types and k.id not in named_only)
    ]


def tasks_for_entity(catalogue: Catalogue, registry: Registry, entity: Entity) -> list[Task]:
    """The tasks whose evidence an entity records: those of the projects of the KPIs it reports."""
    return [t for k in kpis_for_entity(catalogue, registry, entity) for p in k.projects for t in p.tasks]


def measures_for_entity(catalogue: Catalogue, registry: Registry, entity: Entity) -> list[Measure]:
    """The measures an entity's return carries, in catalogue order, each once."""
    wanted = {code for kpi in kpis_for_entity(catalogue, registry, entity) for code in kpi.measures}
    return [m for m in catalogue.measures if m.code in wanted]


def parse_period(period: str) -> tuple[int, int]:
    """Year and quarter of a `YYYYQn` period; ValueError when it is not one."""
    match = PERIOD_RE.match(period or "")
    if not match:
        raise ValueError(f"not a period of the form YYYYQn: {period!r}")
    return int(match.group(1)), int(match.group(2))


def quarter_end(period: str) -> date:
    """The last day of a period's quarter."""
    year, quarter = parse_period(period)
    return date(year, 12, 31) if quarter == 4 else date(year, 3 * quarter + 1, 1) - timedelta(days=1)


def submission_deadline(period: str, deadline_days: int) -> date:
    """The day a period's return is due: the quarter's end plus the deadline in calendar days."""
    return quarter_end(period) + timedelta(days=deadline_days)


def shift_period(period: str, quarters: int) -> str:
    """The period `quarters` quarters after (or before, when negative) the given one."""
    year, quarter = parse_period(period)
    index = year * 4 + (quarter - 1) + quarters
    return f"{index // 4}Q{index % 4 + 1}"


def previous_quarter_of_year(period: str) -> str | None:
    """The quarter before within the same year; none for a first quarter. Figures run from 1 January, so a
    first quarter's total set against the previous year's fourth would read as a collapse."""
    _, quarter = parse_period(period)
    return shift_period(period, -1) if quarter > 1 else None


def period_range(first: str, last: str) -> list[str]:
    """Every period from first to last inclusive."""
    out = [first]
    while out[-1] != last:
        out.append(shift_period(out[-1], 1))
        if len(out) > 400:
            raise ValueError("period range too long")
    return out
