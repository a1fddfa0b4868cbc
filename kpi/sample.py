"""A deterministic generator of realistic sample returns for every registered entity, 2024Q1-2025Q4.

Figures are cumulative from January; parts never exceed wholes; regions and entities differ in
diligence; a few returns are missing, late, corrected by a later upload, or look formal.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from kpi.catalogue import (
    Catalogue,
    Entity,
    Registry,
    load_catalogue,
    load_registry,
    measures_for_entity,
    parse_period,
    submission_deadline,
    tasks_for_entity,
)
from kpi.evidence import COLUMNS as EVIDENCE_COLUMNS
from kpi.evidence import (
    DOC_TYPES,
    DOCUMENT_COLUMNS,
    DOCUMENT_FIELDS,
    DOCUMENTS_SHEET,
    EVENT_COLUMNS,
    EVIDENCE_SHEET,
    PARTICIPANT_COLUMNS,
    _choice_lookup,
    choice_label,
)
from kpi.evidence import FIRST_ROW as EVIDENCE_FIRST_ROW
from kpi.template import YES_NO, build_template

SAMPLE_PERIODS = [f"{year}Q{q}" for year in (2024, 2025) for q in (1, 2, 3, 4)]

# Typical size of each whole for a year, by entity type: (low, high). Stocks stay constant within a year.
SIZE = {
    "subdivisions_total": {"central_body": (12, 40), "akimat": (18, 34)},
    "nla_drafts_examined": {"central_body": (8, 60), "akimat": (4, 25)},
    "nla_expertise_passed": {"central_body": (6, 50), "akimat": (3, 20)},
    "expert_recommendations_made": {"central_body": (10, 80), "akimat": (4, 30)},
    "external_recommendations_made": {"central_body": (5, 30), "akimat": (5, 25)},
    "circumstances_found": {"central_body": (2, 15), "akimat": (2, 12)},
    "managers_liable": {"central_body": (0, 6), "akimat": (0, 8)},
    "former_offenders_found": {"central_body": (0, 3), "akimat": (0, 3)},
    "survey_respondents": {"akimat": (600, 2500)},
    "civil_servants_total": {"central_body": (300, 3000), "akimat": (600, 2500)},
    "school_curricula_total": {"central_body": (120, 160)},
    "students_total": {"university": (4000, 30000)},
    "theses_total": {"university": (600, 5000)},
    "staff_total": {"quasi_public": (800, 40000)},
    "offences_administrative": {"central_body": (0, 25), "akimat": (2, 30)},
    "offences_criminal": {"central_body": (0, 12), "akimat": (1, 15)},
    "offences_discrediting": {"central_body": (0, 10), "akimat": (0, 12)},
    "managers_moved_unexamined": {"central_body": (0, 2), "akimat": (0, 3)},
    "risks_found": {"central_body": (1, 12), "akimat": (2, 14)},
    "hidden_services_found": {"central_body": (0, 5), "akimat": (0, 6)},
    "conflicts_of_interest_found": {"quasi_public": (0, 9)},
    "staff_hired": {"quasi_public": (10, 600)},
}
# Yearly rate of each part against its whole (base for an average entity in 2024).
RATE = {
    "subdivisions_analysed": 0.82, "risks_eliminated": 0.64, "expert_recommendations_accepted": 0.71,
    "external_recommendations_done": 0.68, "circumstances_eliminated": 0.6, "managers_disciplined": 0.55,
    "former_offenders_dismissed": 0.7, "survey_ready_to_help": 0.58, "civil_servants_trained": 0.3,
    "school_curricula_with_component": 0.74, "students_trained": 0.27, "theses_anticorruption": 0.09,
    "staff_trained_iso37001": 0.17, "nla_adopted": 0.7, "nla_not_adopted": 0.2,
    "corruption_factors_found": 0.6,
    "hidden_services_sent": 0.7, "political_officials_liable": 0.25, "political_officials_disciplined": 0.5,
    "theses_sent_to_state_bodies": 0.3, "conflicts_of_interest_eliminated": 0.75, "staff_acquainted_instruction": 0.93,
    "staff_hired_acquainted": 0.9, "staff_equated_total": 0.3, "staff_accepted_restrictions": 0.9,
}
FORMAL_FAMILIES = {"subdivisions_analysed", "risks_eliminated", "external_recommendations_done",
                   "circumstances_eliminated"}
FLAG_RATE = {"anticorruption_standard_adopted": 0.72, "iso37001_certified": 0.16, "compliance_service_established": 0.8}


@dataclass(frozen=True)
class Profile:
    """How diligent an entity is, and how its figures are shaped."""

    diligence: float  # added to every rate
    size: float  # 0..1 position inside the type's size range
    late: float  # chance a return comes in late
    formal: bool  # reports 100 % shares and copies figures


def _profile(rng: random.Random, entity: Entity, region_effect: dict[str, float]) -> Profile:
    base = region_effect.get(entity.region or "", 0.0)
    return Profile(
        diligence=base + rng.gauss(0, 0.08), size=rng.random(), late=rng.choice([0.02, 0.05, 0.1, 0.3]),
        formal=rng.random() < 0.06,
    )


def _quarter_share(quarter: int, rng: random.Random) -> float:
    return min(1.0, quarter / 4 * rng.uniform(0.9, 1.08)) if quarter < 4 else 1.0


def year_figures(catalogue: Catalogue, registry: Registry, entity: Entity, year: int, profile: Profile,
                 rng: random.Random) -> list[dict[str, int]]:
    """Four cumulative quarterly returns of one entity for one year."""
    codes = [m.code for m in measures_for_entity(catalogue, registry, entity)]
    stocks = {m.code for m in catalogue.measures if m.stock}
    kinds = {m.code: m.kind for m in catalogue.measures}
    improvement = 0.05 * (year - 2024)
    annual: dict[str, int] = {}
    for code in codes:
        if kinds[code] == "flag":
            continue
        family = "risks_found" if code.startswith("risks_found_") else code
        if family in SIZE:
            low, high = SIZE[family].get(entity.type, (0, 10))
            annual[code] = int(low + (high - low) * min(1.0, max(0.0, profile.size + rng.gauss(0, 0.1))))
    for rule in catalogue.return_rules:
        if not all(m in codes for m in (*rule.part, *rule.whole)):
            continue
        whole = sum(annual.get(m, 0) for m in rule.whole)
        remaining = whole
        if all(part in annual for part in rule.part):
            continue  # already drawn as another whole's part; `_clip` keeps it within this one too
        for part in rule.part:
            family = "risks_eliminated" if part.startswith("risks_eliminated_") else part
            base = RATE.get(family, 0.6)
            rate = base * (1 + 1.5 * profile.diligence + improvement)
            if profile.formal and family in FORMAL_FAMILIES:
                rate = 1.0
            value = min(remaining, max(0, round(whole * min(1.0, max(0.0, rate + rng.gauss(0, 0.05))))))
            annual[part] = value
            remaining -= value
    _clip(catalogue, annual)
    for code in codes:
        if code not in annual and kinds[code] == "count":
            whole = annual.get("nla_drafts_examined", 10)
            annual[code] = max(0, round(whole * RATE.get(code, 0.3) * rng.uniform(0.5, 1.5)))
    flags = {}
    for code in codes:
        if kinds[code] == "flag":
            chance = FLAG_RATE.get(code, 0.5) + profile.diligence + improvement
            flags[code] = (rng.random() < chance, rng.randint(1, 4))
    quarters = []
    previous: dict[str, int] = {}
    for quarter in range(1, 5):
        share = _quarter_share(quarter, rng)
        figures: dict[str, int] = {}
        for code, value in annual.items():
            if code in stocks:
                figures[code] = value
            else:
                figures[code] = max(previous.get(code, 0), round(value * share))
        _clip(catalogue, figures)  # keep every part within its whole after rounding
        for code, (adopted, from_quarter) in flags.items():
            figures[code] = int(adopted and quarter >= from_quarter)
        if profile.formal and quarter > 1 and rng.random() < 0.5:
            figures = dict(previous)  # copied unchanged from the previous quarter
        elif quarter > 1 and rng.random() < 0.04:
            parts = sorted(p for rule in catalogue.return_rules for p in rule.part if figures.get(p))
            if parts:  # a running total that falls during the year: a typo or a rewritten history
                victim = rng.choice(parts)
                figures[victim] = max(0, previous.get(victim, figures[victim]) - rng.randint(1, 3))
        quarters.append(figures)
        previous = figures
    return quarters


def _clip(catalogue: Catalogue, figures: dict[str, int]) -> None:
    """Cut parts down to their wholes, again until nothing changes (a part may be another part's whole)."""
    for _ in range(4):
        changed = False
        for rule in catalogue.return_rules:
            if all(m in figures for m in (*rule.part, *rule.whole)):
                excess = sum(figures[m] for m in rule.part) - sum(figures[m] for m in rule.whole)
                for part in reversed(rule.part):
                    if excess <= 0:
                        break
                    cut = min(excess, figures[part])
                    figures[part] -= cut
                    excess -= cut
                    changed = True
        if not changed:
            return


def fill_by_names(template: bytes, values: dict[str, Any],
                  evidence: dict[str, dict[str, Any]] | None = None) -> bytes:
    """Fill a template's input cells through their defined names, as any program may.

    `evidence` maps a task id to its evidence fields (see `kpi.evidence.COLUMNS`, plus `events` and
    `participants` as lists of up to twelve monthly counts); rows are found by the task id in column A.
    A task's documents go to the documents sheet: `documents` as a list of dicts of `DOCUMENT_FIELDS`, or
    those fields given on the task itself for a single document. Each fills the template's slot of its task
    and type, else a spare row.
    """
    wb = load_workbook(io.BytesIO(template))
    for name, value in values.items():
        for sheet, ref in wb.defined_names[name].destinations:
            wb[sheet][ref.replace("$", "")].value = value
    if evidence:
        ws = wb[EVIDENCE_SHEET]
        rows = {ws[f"A{r}"].value: r for r in range(EVIDENCE_FIRST_ROW, ws.max_row + 1)}
        documents: list[tuple[str, dict[str, Any]]] = []
        for task_id, fields in evidence.items():
            row = rows[task_id]
            single = {name: fields[name] for name in DOCUMENT_FIELDS if name in fields}
            if single:
                documents.append((task_id, single))
            documents += [(task_id, document) for document in fields.get("documents", ())]
            for name, value in fields.items():
                if name == "events":
                    for col, count in zip(EVENT_COLUMNS, value):
                        ws[f"{col}{row}"] = count
                elif name == "participants":
                    for col, count in zip(PARTICIPANT_COLUMNS, value):
                        ws[f"{col}{row}"] = count
                elif name in EVIDENCE_COLUMNS:
                    ws[f"{EVIDENCE_COLUMNS[name]}{row}"] = value
        if documents:
            _fill_documents(wb[DOCUMENTS_SHEET], documents)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _fill_documents(ws: Any, documents: list[tuple[str, dict[str, Any]]]) -> None:
    types = _choice_lookup("doc", DOC_TYPES)
    slots = [(r, ws[f"A{r}"].value, types.get(str(ws[f"B{r}"].value or "").strip().lower()))
             for r in range(EVIDENCE_FIRST_ROW, ws.max_row + 1)]
    free = [r for r, task, _type in slots if not task]
    next_free = max((r for r, task, _type in slots if task), default=EVIDENCE_FIRST_ROW - 1) + 1
    used: set[int] = set()
    for task_id, fields in documents:
        wanted = types.get(str(fields.get("doc_type") or "").strip().lower())
        row = next((r for r, task, kind in slots if task == task_id and kind == wanted and r not in used), None)
        if row is None:
            row = next((r for r in free if r not in used and r >= next_free), None) or next_free
            next_free = row + 1
        used.add(row)
        ws[f"A{row}"] = task_id
        for name, value in fields.items():
            ws[f"{DOCUMENT_COLUMNS[name]}{row}"] = value


def render_values(catalogue: Catalogue, figures: dict[str, int], rng: random.Random, lang: str = "kk") -> dict[str, Any]:
    """Figures as an officer types them: flags as localised Yes/No (sometimes 1/0)."""
    kinds = {m.code: m.kind for m in catalogue.measures}
    yes, no = YES_NO[lang]
    out: dict[str, Any] = {}
    for code, value in figures.items():
        if kinds[code] == "flag" and rng.random() < 0.85:
            out[code] = yes if value else no
        else:
            out[code] = value
    return out


def generate_sample(out_dir: Path, *, seed: int = 4, periods: list[str] | None = None) -> int:
    """Write sample returns and `manifest.json` (upload order, submission times, example targets)."""
    catalogue, registry = load_catalogue(), load_registry()
    periods = periods or SAMPLE_PERIODS
    rng = random.Random(seed)
    region_effect = {r.code: rng.gauss(0, 0.07) for r in registry.regions}
    uploads: list[dict[str, Any]] = []
    out_dir.mkdir(parents=True, exist_ok=True)
    years = sorted({parse_period(p)[0] for p in periods})
    for entity in registry.entities:
        profile = _profile(rng, entity, region_effect)
        for year in years:
            quarters = year_figures(catalogue, registry, entity, year, profile, rng)
            plan = year_evidence(catalogue, registry, entity, year, profile, rng)
            for quarter, figures in enumerate(quarters, start=1):
                period = f"{year}Q{quarter}"
                if period not in periods:
                    continue
                if rng.random() < 0.03 and period != periods[-1]:
                    continue  # a missing return
                due = submission_deadline(period, 10)
                late = rng.random() < profile.late
                submitted = due + dt.timedelta(days=rng.randint(1, 25) if late else -rng.randint(0, 9))
                at = dt.datetime.combine(submitted, dt.time(9 + rng.randint(0, 8), rng.randint(0, 59)),
                                         tzinfo=dt.UTC)
                lang = rng.choice(["kk", "kk", "ru"])
                evidence = evidence_for_quarter(plan, quarter, lang)
                name = f"{period}/{entity.code}.xlsx"
                correction = rng.random() < 0.04
                first = dict(figures)
                if correction:  # the first upload had a typo, corrected a few days later
                    code = rng.choice(sorted(k for k in first if catalogue.measure_by_code[k].kind == "count"))
                    first[code] = max(0, first[code] - rng.randint(1, 3))
                    for rule in catalogue.return_rules:
                        if code in rule.whole and all(m in first for m in rule.part):
                            while sum(first[m] for m in rule.part) > sum(first[m] for m in rule.whole):
                                victim = next(m for m in rule.part if first[m] > 0)
                                first[victim] -= 1
                _write_return(out_dir / name, catalogue, registry, entity, period, first, rng, lang, evidence)
                uploads.append({"file": name, "submitted_at": at.isoformat(), "entity": entity.code,
                                "period": period})
                if correction:
                    fixed = f"{period}/{entity.code}.v2.xlsx"
                    _write_return(out_dir / fixed, catalogue, registry, entity, period, figures, rng, lang, evidence)
                    uploads.append({"file": fixed, "submitted_at": (at + dt.timedelta(days=rng.randint(2, 9))).isoformat(),
                                    "entity": entity.code, "period": period})
    uploads.sort(key=lambda u: (u["submitted_at"], u["file"]))
    manifest = {
        "generator": "python -m kpi sample", "seed": seed, "periods": periods,
        "targets": [
            {"metric": metric, "year": year, "value": value}
            for metric, value in EXAMPLE_TARGETS.items() for year in years
        ],
        "uploads": uploads,
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
    return len(uploads)


def year_evidence(catalogue: Catalogue, registry: Registry, entity: Entity, year: int, profile: Profile,
                  rng: random.Random) -> dict[str, dict[str, Any]]:
    """How an entity proves its tasks over a year: mostly real documents, with gaps, lateness and formal ones."""
    plan: dict[str, dict[str, Any]] = {}
    care = min(0.97, max(0.35, 0.8 + 2 * profile.diligence))
    for task in tasks_for_entity(catalogue, registry, entity):
        rules = catalogue.rules_for_task(task.id)
        exempt = bool(catalogue.task_field(task.id, "no_facts_exempt"))
        doc_types = tuple(catalogue.task_field(task.id, "doc_types") or ("certificate",))
        if exempt and rng.random() < 0.55:
            plan[task.id] = {"status": "no_facts"}
            continue
        done_quarter = 1 + int(rng.random() * 4 * (1.15 - care))  # careful entities prove tasks early
        if rng.random() > care + 0.05:
            done_quarter = 5  # never done this year
        month = rng.randint(1, 3)
        doc_date = dt.date(year, 3 * (min(done_quarter, 4) - 1) + month, rng.randint(1, 28))
        levels = ["first_head", "deputy_head", "chief_of_staff", "other"]
        if entity.type == "quasi_public":
            levels[2] = "collegial_body"
        documents = []
        for doc_type in doc_types:
            documents.append({
                "doc_type": doc_type,
                "doc_number": f"{rng.randint(1, 480)}-{rng.choice(['ө', 'б', 'қ', 'ж'])}",
                "doc_date": doc_date,
                "signatory": rng.choices(levels, weights=[6, 3, 2, 0.1 + 0.8 * (1 - care)])[0],
                "reference": f"https://easyproject.gov.kz/ybb4/{entity.code}/{task.id}/{year}/{doc_type}",
            })
            if task.signatory == "first_head" and rng.random() < care + 0.15:
                documents[-1]["signatory"] = "first_head"
        if profile.formal or rng.random() > care + 0.1:
            documents[-1]["doc_number"] = None  # marked done on paper, a document missing behind it
        if len(documents) > 1 and rng.random() > care + 0.12:
            documents.pop(rng.randrange(len(documents)))  # one of the required documents never filed
        entry: dict[str, Any] = {"done_quarter": done_quarter, "documents": documents}
        for rule in rules:
            if rule.kind == "deadline":
                allowed = rule.days or 0
                lag = rng.randint(1, allowed) if rng.random() < care else allowed + rng.randint(2, 8)
                start = doc_date - dt.timedelta(days=int(lag * (1.5 if rule.working_days else 1)))
                entry["related_date"] = start
                for document in documents:
                    if rule.start_doc and document["doc_type"] == rule.start_doc:
                        document["doc_date"] = start
            elif rule.kind == "audit_years":
                years = [year - 3, year - 2, year - 1]
                if rng.random() > care:
                    years.pop(rng.randrange(3))
                entry["audit_years"] = ", ".join(map(str, years))
            elif rule.kind == "cadence":
                per_month = {"month": rule.minimum or 1, "quarter": 1, "year": 0}[rule.per or "year"]
                events = []
                for m in range(1, 13):
                    if rule.per == "month":
                        count = per_month + (1 if rng.random() < 0.3 else 0)
                        if rng.random() > care:
                            count = max(0, count - rng.randint(1, per_month))
                    elif rule.per == "quarter":
                        count = 1 if (m % 3 == 2 and rng.random() < care + 0.05) else 0
                    else:
                        count = 0
                    events.append(count)
                if rule.per == "year":
                    total = (rule.minimum or 1) + (0 if rng.random() < care else -1)
                    for _ in range(max(0, total)):
                        events[rng.randint(0, 11)] += 1
                entry["events"] = events
                entry["participants"] = [count * rng.randint(15, 120) for count in events]
                entry["done_quarter"] = 1  # ongoing work: reported as in progress through the year
                entry["ongoing"] = True
        plan[task.id] = entry
    return plan


def evidence_for_quarter(plan: dict[str, dict[str, Any]], quarter: int, lang: str) -> dict[str, dict[str, Any]]:
    """The evidence sheet of one quarter's return, cumulative from January."""
    out: dict[str, dict[str, Any]] = {}
    months = quarter * 3
    for task_id, entry in plan.items():
        if entry.get("status") == "no_facts":
            out[task_id] = {"status": choice_label("status", "no_facts", lang)}
            continue
        if entry.get("ongoing"):
            status = "done" if quarter == 4 else "in_progress"
        elif quarter >= entry["done_quarter"]:
            status = "done"
        elif quarter + 1 == entry["done_quarter"]:
            status = "in_progress"
        else:
            out[task_id] = {"status": choice_label("status", "not_started", lang)} if quarter > 1 else {}
            continue
        fields: dict[str, Any] = {"status": choice_label("status", status, lang)}
        if status == "done" or entry.get("ongoing"):
            for name in ("related_date", "audit_years"):
                if entry.get(name) is not None:
                    fields[name] = entry[name]
            fields["documents"] = [
                {**{k: v for k, v in document.items() if v is not None},
                 "doc_type": choice_label("doc", document["doc_type"], lang),
                 "signatory": choice_label("signatory", document["signatory"], lang)}
                for document in entry["documents"]]
        if "events" in entry:
            fields["events"] = entry["events"][:months]
            fields["participants"] = entry["participants"][:months]
        out[task_id] = fields
    return out


# Illustrative analyst targets for the demo database (the guide states only G3.K4-G3.K6 and G4.K2 staff).
EXAMPLE_TARGETS = {
    "G1.K1": 100, "G2.K1": 70, "G2.K2": 75, "G2.K3": 80, "G2.K4": 70, "G2.K5": 60, "G2.K6": 90, "G2.K8": 90,
    "G3.K1": 60, "G3.K2": 35, "G3.K3": 80, "G4.K1": 90, "G4.K2": 25, "G1.K2": 0.8, "G1.K3": 0,
}


def _write_return(path: Path, catalogue: Catalogue, registry: Registry, entity: Entity, period: str,
                  figures: dict[str, int], rng: random.Random, lang: str,
                  evidence: dict[str, dict[str, Any]] | None = None) -> None:
    template = build_template(catalogue, registry, entity.code, period, lang=lang)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fill_by_names(template, render_values(catalogue, figures, rng, lang), evidence))
