"""Every rule of the guide on task evidence, each with a return that breaks it and one that passes it."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kpi.compliance import compliance, compliance_scores, formalism_flags, working_days_between
from kpi.engine import KpiEngine
from kpi.i18n import t
from kpi.ingest.pipeline import ingest_files
from kpi.store import Store

DOC = {"status": "Орындалды", "doc_number": "12-ө", "doc_date": dt.date(2025, 3, 20),
       "signatory": "Бірінші басшы", "reference": "https://pmis.example/doc/12"}
DOCUMENT_KEYS = ("doc_type", "doc_number", "doc_date", "signatory", "reference")

pytestmark = pytest.mark.both_stores  # every test that takes `store` runs on DuckDB and PostgreSQL


def proven_doc(**changes: Any) -> dict[str, Any]:
    """A done task with every document its task requires (filled in by `check`), each as given."""
    return {**DOC, **changes}


def with_documents(catalogue, task_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    """The task's fields with one document per required type, unless the test names its documents itself."""
    if "documents" in fields or "doc_type" in fields or not any(k in fields for k in DOCUMENT_KEYS):
        return fields
    document = {k: fields[k] for k in DOCUMENT_KEYS if k in fields}
    dates = fields.get("dates", {})
    rest = {k: v for k, v in fields.items() if k not in DOCUMENT_KEYS and k != "dates"}
    return {**rest, "documents": [{**document, "doc_type": code, **({"doc_date": dates[code]} if code in dates else {})}
                                  for code in catalogue.task_field(task_id, "doc_types")]}


@pytest.fixture
def check(store: Store, catalogue, registry, make_return):
    """Ingest one return with the given evidence and give back {task: (status, [failed rule ids])}."""

    def run(entity: str, period: str, evidence: dict[str, dict[str, Any]], values: dict[str, Any] | None = None,
            **kwargs: Any):
        evidence = {task: with_documents(catalogue, task, fields) for task, fields in evidence.items()}
        path = make_return(entity, period, values, evidence=evidence, name=f"{entity}-{period}-{len(evidence)}.xlsx")
        report = ingest_files(store, catalogue, registry, [path], **kwargs)
        assert report.ok, report.as_dict("en")["rejected"]
        results = compliance(store.cursor(), catalogue, registry, period, entities=[entity])
        return {r.task: (r.status, [f.rule for f in r.failed]) for r in results}

    return run


def test_working_days_skip_weekends_and_kazakh_holidays() -> None:
    # Nauryz 2025: 21-23 March, observed on 24 and 25 March.
    assert working_days_between(dt.date(2025, 3, 14), dt.date(2025, 3, 31)) == 8
    assert working_days_between(dt.date(2025, 3, 3), dt.date(2025, 3, 7)) == 4
    assert working_days_between(dt.date(2025, 3, 7), dt.date(2025, 3, 7)) == 0


def test_action_plan_within_ten_working_days_across_a_holiday(check) -> None:
    # 17 calendar days and 11 weekdays, but only 8 working days: Nauryz falls in between. The deadline runs
    # from the analytical report's date to the action plan's, both documents of the task.
    on_time = check("akimat_abai", "2025Q1", {"G1.P2.T1": proven_doc(
        dates={"analytical_report": dt.date(2025, 3, 14), "plan": dt.date(2025, 3, 31)})})
    assert on_time["G1.P2.T1"] == ("proven", [])
    late = check("akimat_astana", "2025Q2", {"G1.P2.T1": proven_doc(
        dates={"analytical_report": dt.date(2025, 3, 14), "plan": dt.date(2025, 4, 3)})})
    assert late["G1.P2.T1"] == ("late", ["action_plan_within_10_working_days"])


def test_deadline_needs_both_dates(check) -> None:
    # The instruction's approval date is the task row's related date; without it the 3 days cannot be counted.
    got = check("qp_kmg", "2025Q1", {"G4.P1.T6": proven_doc()})
    assert got["G4.P1.T6"][1][0] == "staff_acquainted_within_3_days"


def test_staff_acquainted_within_three_days(check) -> None:
    hires = {"staff_total": 40, "staff_hired": 2, "staff_hired_acquainted": 2}
    ok = check("qp_kmg", "2025Q1", {"G4.P1.T6": proven_doc(related_date=dt.date(2025, 2, 3),
                                                          doc_date=dt.date(2025, 2, 6))}, hires)
    assert ok["G4.P1.T6"] == ("proven", [])
    late = check("qp_ktz", "2025Q1", {"G4.P1.T6": proven_doc(related_date=dt.date(2025, 2, 3),
                                                            doc_date=dt.date(2025, 2, 7))}, hires)
    assert late["G4.P1.T6"] == ("late", ["staff_acquainted_within_3_days"])


def test_audit_reports_of_the_last_three_years(check) -> None:
    deadline = {"dates": {"analytical_report": dt.date(2025, 3, 10), "plan": dt.date(2025, 3, 17)}}
    ok = check("akimat_abai", "2025Q1", {"G1.P2.T9": proven_doc(audit_years="2022, 2023, 2024", **deadline)})
    assert ok["G1.P2.T9"] == ("proven", [])
    short = check("akimat_astana", "2025Q1", {"G1.P2.T9": proven_doc(audit_years="2023, 2024", **deadline)})
    assert short["G1.P2.T9"] == ("missing", ["audit_reports_last_3_years"])


@pytest.mark.parametrize(("task", "entity", "good", "bad", "rule"), [
    ("G3.P1.T1", "akimat_abai", [1, 1, 1], [1, 0, 1], "residents_monthly"),
    ("G3.P1.T4", "akimat_abai", [2, 3, 2], [2, 1, 2], "youth_two_a_month"),
    ("G3.P2.T2", "min_finance", [1, 1, 2], [1, 1, 0], "civil_servants_monthly"),
    ("G4.P1.T9", "qp_kmg", [1, 1, 1], [0, 1, 1], "quasi_training_monthly"),
    ("G3.P1.T6", "akimat_abai", [0, 1, 0], [0, 0, 0], "statesmen_quarterly"),
    ("G3.P1.T7", "akimat_abai", [0, 0, 2], [0, 0, 0], "communities_quarterly"),
])
def test_cadence_by_month_and_quarter(check, task, entity, good, bad, rule) -> None:
    ok = check(entity, "2025Q1", {task: proven_doc(status="Орындалуда", events=good)})
    assert ok[task] == ("proven", [])
    below = check(entity, "2024Q1", {task: proven_doc(status="Орындалуда", events=bad, doc_date=dt.date(2024, 3, 1))})
    assert below[task] == ("below_cadence", [rule])


@pytest.mark.parametrize(("task", "rule", "needed"), [
    ("G3.P1.T2", "one_video", 1), ("G3.P1.T5", "honesty_hour_lecture", 1), ("G3.P1.T3", "twenty_videos_shown", 20),
])
def test_yearly_counts_are_due_pro_rata(check, task, rule, needed) -> None:
    # Half-way through the year half of the yearly count is due (a single video only by December).
    half = check("akimat_abai", "2025Q2", {task: proven_doc(events=[0, 0, 0, 0, 0, needed // 2])})
    assert half[task] == ("proven", [])
    year_short = [0] * 11 + [needed - 1]
    end = check("akimat_astana", "2025Q4", {task: proven_doc(events=year_short)})
    assert end[task] == ("below_cadence", [rule])
    year_full = [0] * 11 + [needed]
    full = check("akimat_jetisu", "2025Q4", {task: proven_doc(events=year_full)})
    assert full[task] == ("proven", [])


def test_signatory_level(check) -> None:
    got = check("akimat_abai", "2025Q1", {
        "G1.P1.T1": proven_doc(signatory="Заместитель первого руководителя"),
        "G1.P1.T2": proven_doc(signatory="Иное должностное лицо"),
        "G2.P1.T1": proven_doc(signatory="Deputy of the first head"),  # this task's evidence is signed by the first head
        "G2.P1.T2": proven_doc(),
    })
    assert got["G1.P1.T1"] == ("proven", [])
    assert got["G1.P1.T2"] == ("missing", ["signed_by_senior_official"])
    assert got["G2.P1.T1"] == ("missing", ["signed_by_senior_official"])
    assert got["G2.P1.T2"] == ("proven", [])


def test_no_facts_is_not_a_failure_where_the_guide_allows_it(check, store, catalogue, registry, make_return) -> None:
    got = check("akimat_abai", "2025Q1", {"G1.P4.T1": {"status": "Фактілер болмады"}, "G1.P1.T1": {}})
    assert got["G1.P4.T1"] == ("not_applicable", [])
    assert got["G1.P1.T1"] == ("missing", ["no_row"])
    bad = make_return("akimat_abai", "2025Q2", evidence={"G1.P1.T1": {"status": "No facts"}})
    report = ingest_files(store, catalogue, registry, [bad])
    issue = report.outcomes[0].issues[0]
    assert (issue.code, issue.sheet, issue.cell) == ("evidence_no_facts_not_allowed", "Дәлелдер", "C4")


def test_done_needs_a_whole_document(check) -> None:
    got = check("akimat_abai", "2025Q1", {
        "G1.P1.T3": proven_doc(doc_number=None, reference=None),
        "G1.P1.T4": proven_doc(status="Басталған жоқ"),
    })
    assert got["G1.P1.T3"] == ("missing", ["no_document", "no_document"])  # both the order and the report
    assert got["G1.P1.T4"] == ("missing", ["not_done"])


def test_no_return_means_every_task_missing(store, catalogue, registry) -> None:
    results = compliance(store.cursor(), catalogue, registry, "2025Q1", entities=["univ_enu"])
    assert len(results) == 7
    assert {(r.status, r.failed[0].rule) for r in results} == {("missing", "no_return")}
    assert compliance_scores(results) == {"univ_enu": 0}


def test_bad_evidence_cells_are_located(store, catalogue, registry, make_return) -> None:
    path = make_return("akimat_abai", "2025Q1", evidence={
        "G1.P1.T1": {"status": "Almost", "events": [1, -2, 1, 4],
                     "documents": [{"doc_type": "order", "doc_number": "1", "doc_date": "31.02.2025"}]},
        "G1.P1.T2": {"documents": [{"doc_type": "Бұйрық", "doc_number": "2", "signatory": "Almost the head"},
                                   {"doc_type": "order", "doc_number": "3"}]},
    })
    from openpyxl import load_workbook

    wb = load_workbook(path)
    documents = wb["Құжаттар"]
    spare = documents.max_row + 1  # a further document naming an unknown task
    documents[f"A{spare}"], documents[f"C{spare}"] = "G9.P9.T9", "7"
    wb.save(path)
    report = ingest_files(store, catalogue, registry, [path])
    issues = {(i.code, i.sheet, i.cell) for i in report.outcomes[0].issues}
    assert issues == {("evidence_bad_choice", "Дәлелдер", "C4"), ("evidence_bad_date", "Құжаттар", "D4"),
                      ("evidence_bad_count", "Дәлелдер", "G4"), ("evidence_future_month", "Дәлелдер", "I4"),
                      ("evidence_bad_choice", "Құжаттар", "E6"), ("evidence_unknown_task", "Құжаттар", f"A{spare}")}


def test_compliance_score_and_messages(check, store, catalogue, registry) -> None:
    check("univ_enu", "2025Q1", {
        "G3.P4.T1": proven_doc(), "G3.P4.T2": proven_doc(), "G3.P5.T1": proven_doc(signatory="Басқа лауазымды тұлға"),
    })
    results = compliance(store.cursor(), catalogue, registry, "2025Q1", entities=["univ_enu"])
    assert compliance_scores(results)["univ_enu"] == pytest.approx(100 * 2 / 7)
    failed = next(r for r in results if r.task == "G3.P5.T1").as_dict("en")
    assert failed["status"] == "missing"
    assert "Another official" in failed["failed_rules"][0]["message"]
    assert "first head" in failed["failed_rules"][0]["message"]


# Formalism and data-quality flags


@pytest.fixture
def flags(store: Store, catalogue, registry):
    engine = KpiEngine(catalogue, registry)

    def run(period: str) -> set[tuple[str, str, str | None]]:
        return {(f.entity, f.code, f.subject) for f in formalism_flags(store.cursor(), catalogue, registry, engine,
                                                                       period)}

    return run


def test_share_of_100_without_evidence(store, catalogue, registry, make_return, flags) -> None:
    formal = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 9, "subdivisions_analysed": 9})
    real = make_return("akimat_astana", "2025Q1", {"subdivisions_total": 9, "subdivisions_analysed": 9},
                       evidence={"G1.P1.T1": with_documents(catalogue, "G1.P1.T1", proven_doc())})
    assert ingest_files(store, catalogue, registry, [formal, real]).ok
    got = flags("2025Q1")
    assert ("akimat_abai", "share_100_without_evidence", "G1.K1") in got
    assert ("akimat_astana", "share_100_without_evidence", "G1.K1") not in got


def test_copied_and_falling_running_totals(store, catalogue, registry, make_return, flags) -> None:
    q1 = {"subdivisions_total": 9, "subdivisions_analysed": 5, "offences_criminal": 2}
    paths = [
        make_return("akimat_abai", "2025Q1", q1, name="a1.xlsx"),
        make_return("akimat_abai", "2025Q2", q1, name="a2.xlsx"),  # copied unchanged
        make_return("akimat_astana", "2025Q1", q1, name="b1.xlsx"),
        make_return("akimat_astana", "2025Q2", {**q1, "subdivisions_analysed": 4, "offences_criminal": 3},
                    name="b2.xlsx"),  # a running total fell
        make_return("akimat_jetisu", "2025Q1", q1, name="c1.xlsx"),
        make_return("akimat_jetisu", "2025Q2", {**q1, "subdivisions_analysed": 7}, name="c2.xlsx"),
    ]
    assert ingest_files(store, catalogue, registry, paths).ok
    got = flags("2025Q2")
    assert ("akimat_abai", "copied_from_previous_quarter", None) in got
    assert ("akimat_astana", "cumulative_fall", "subdivisions_analysed") in got
    assert not {f for f in got if f[0] == "akimat_jetisu" and f[1] in ("cumulative_fall", "copied_from_previous_quarter")}
    # A stock such as the number of subdivisions may fall without a flag.
    assert ("akimat_astana", "cumulative_fall", "subdivisions_total") not in got


def test_outlier_among_peers(store, catalogue, registry, make_return, flags) -> None:
    shares = {"akimat_abai": 80, "akimat_akmola": 82, "akimat_aktobe": 79, "akimat_atyrau": 81,
              "akimat_jetisu": 78, "akimat_astana": 5}
    paths = [make_return(code, "2025Q1", {"subdivisions_total": 100, "subdivisions_analysed": share})
             for code, share in shares.items()]
    assert ingest_files(store, catalogue, registry, paths).ok
    got = flags("2025Q1")
    outliers = {f[0] for f in got if f[1] == "outlier" and f[2] == "G1.K1"}
    assert outliers == {"akimat_astana"}


def test_late_return(store, catalogue, registry, make_return, flags) -> None:
    late = make_return("akimat_abai", "2025Q1", name="late.xlsx")
    on_time = make_return("akimat_astana", "2025Q1", name="on-time.xlsx")
    submitted = {str(late): dt.datetime(2025, 4, 21, 9, tzinfo=dt.UTC),
                 str(on_time): dt.datetime(2025, 4, 9, 9, tzinfo=dt.UTC)}
    assert ingest_files(store, catalogue, registry, [late, on_time], submitted_at=submitted).ok
    got = flags("2025Q1")
    assert ("akimat_abai", "late_return", None) in got
    assert ("akimat_astana", "late_return", None) not in got


def test_signature_below_level_flag(check, flags) -> None:
    check("akimat_abai", "2025Q1", {"G1.P1.T2": proven_doc(signatory="Басқа лауазымды тұлға")})
    assert ("akimat_abai", "signatory_below_level", "G1.P1.T2") in flags("2025Q1")


def test_compliance_cli_json(tmp_path, make_return, catalogue) -> None:
    db = tmp_path / "c.duckdb"
    path = make_return("univ_enu", "2025Q1", evidence={"G3.P4.T1": with_documents(catalogue, "G3.P4.T1", proven_doc())})
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONPATH": str(root)}
    subprocess.run([sys.executable, "-m", "kpi", "ingest", "--db", str(db), str(path)], check=True, cwd=root,
                   env=env, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "kpi", "compliance", "--db", str(db), "--period", "2025Q1",
                          "--json", "--lang", "en"], check=True, cwd=root, env=env, capture_output=True, text=True)
    rows = json.loads(out.stdout)
    univ = {r["task"]: r for r in rows if r["entity"] == "univ_enu"}
    assert univ["G3.P4.T1"]["status"] == "proven" and univ["G3.P4.T1"]["failed_rules"] == []
    assert univ["G3.P4.T2"]["status"] == "missing" and univ["G3.P4.T2"]["failed_rules"][0]["rule"] == "no_row"
    assert set(rows[0]) == {"entity", "task", "status", "failed_rules"}


# What the compliance page shows


def test_matrix_scores_missing_list_and_evidence_details(check, store, catalogue, registry) -> None:
    from kpi import compliance as comp

    check("univ_enu", "2025Q1", {
        "G3.P4.T1": proven_doc(), "G3.P4.T2": proven_doc(doc_number=None),
        "G3.P5.T1": proven_doc(signatory="Басқа лауазымды тұлға"),
    })
    results = compliance(store.cursor(), catalogue, registry, "2025Q1", entities=["univ_enu", "univ_kaznu"])
    frame = comp.compliance_frame(results, catalogue, registry, "ru")
    assert len(frame) == 14 and set(frame["group"]) == {"G3"}
    assert frame.set_index(["entity", "task"]).loc[("univ_enu", "G3.P4.T1"), "status_label"] == "Подтверждено"
    scores = comp.entity_scores(frame, "ru").set_index("entity")
    assert scores.loc["univ_enu", "score"] == pytest.approx(100 / 7)
    assert scores.loc["univ_enu", "missing"] == 6 and scores.loc["univ_kaznu", "missing"] == 7
    assert list(scores.index) == ["univ_kaznu", "univ_enu"]  # weakest first
    missing = comp.missing_items(frame, catalogue, "univ_enu", "kk")
    assert list(missing["task"])[:2] == ["G3.P4.T2", "G3.P5.T1"]
    required = catalogue.task_field("G3.P4.T2", "evidence").kk
    assert missing.iloc[0]["evidence_required"] == required  # the guide's own wording
    only_g3k5 = comp.filter_frame(frame, kpi="G3.K5")
    assert set(only_g3k5["task"]) == {"G3.P5.T1", "G3.P5.T2", "G3.P5.T3", "G3.P5.T4"}
    figure = comp.matrix_figure(frame, "en")
    assert list(figure.layout.xaxis.categoryarray) == [
        "G3.P4.T1", "G3.P4.T2", "G3.P5.T1", "G3.P5.T2", "G3.P5.T3", "G3.P5.T4", "G3.P7.T1"]
    by_status = {trace.name: trace for trace in figure.data}
    proven = by_status["Proven"]
    assert [tuple(c[:2]) for c in proven.customdata] == [("univ_enu", "G3.P4.T1")]
    assert list(proven.y) == [comp.short_entity_name(registry.entity_by_code["univ_enu"].name.ru)]  # built in Russian
    assert proven.marker.color == comp.STATUS_COLOURS["proven"]
    assert len(by_status["Missing"].customdata) == 13
    event = {"selection": {"points": [{"customdata": ["univ_enu", "G3.P5.T1"], "x": "G3.P5.T1"}]}}
    assert comp.cell_from_selection(event) == ("univ_enu", "G3.P5.T1")
    chosen = next(r for r in results if (r.entity, r.task) == ("univ_enu", "G3.P5.T1"))
    details = comp.evidence_details(chosen, catalogue, "en")
    assert details["Signed by"] == "Another official"
    assert details["Document"] == ("Certificate (spravka) · № 12-ө · 20.03.2025 · Another official; "
                                   "Order · № 12-ө · 20.03.2025 · Another official")


def test_matrix_names_tasks_in_words_groups_projects_and_exports_in_the_language(check, store, catalogue,
                                                                                 registry) -> None:
    """Issue 15: the tooltip and the axis name the task, a line parts projects, the export speaks the user's
    language, and the counts by month show only for a task the guide gives a cadence."""
    from kpi import compliance as comp

    check("univ_enu", "2025Q1", {"G3.P4.T1": proven_doc(), "G3.P5.T1": proven_doc(events=[1, 0, 0])})
    results = compliance(store.cursor(), catalogue, registry, "2025Q1", entities=["univ_enu", "univ_kaznu"])
    frame = comp.compliance_frame(results, catalogue, registry, "kk")
    figure = comp.matrix_figure(frame, "kk", catalogue=catalogue)
    tasks = ["G3.P4.T1", "G3.P4.T2", "G3.P5.T1", "G3.P5.T2", "G3.P5.T3", "G3.P5.T4", "G3.P7.T1"]
    assert list(figure.layout.xaxis.ticktext) == [comp.task_label(catalogue, task, "kk", width=26) for task in tasks]
    assert figure.layout.xaxis.ticktext[0].startswith(catalogue.task_by_id["G3.P4.T1"].title.kk[:15])
    assert [shape.x0 for shape in figure.layout.shapes] == [1.5, 5.5]  # P4 | P5 | P7
    proven = next(trace for trace in figure.data if trace.name == t("compliance.status.proven", "kk"))
    assert proven.customdata[0][3].startswith("G3.P4.T1 — " + catalogue.task_by_id["G3.P4.T1"].title.kk[:20])
    assert "%{customdata[3]}" in proven.hovertemplate
    assert comp.matrix_figure(frame, "kk").layout.xaxis.ticktext is None  # without the catalogue: codes
    # Seven columns fill the page's column; all 68 tasks keep 22 px each and scroll sideways in their box.
    assert figure.layout.width is None
    assert comp.matrix_width(len(catalogue.tasks)) == 230 + 22 * 68 + 20
    assert comp.matrix_width(24) is None and comp.matrix_width(25) == 230 + 22 * 25 + 20
    exported = comp.matrix_export(frame, "ru")
    assert list(exported.columns) == ["Организация", "Показатель", "Задача", "Наименование задачи", "Статус", "Причина"]
    assert set(exported["Статус"]) <= {t(f"compliance.status.{s}", "kk") for s in comp.STATUS_ORDER}  # the frame's words
    by_task = {r.task: r for r in results if r.entity == "univ_enu"}
    assert t("compliance.field.events", "en") not in comp.evidence_details(by_task["G3.P4.T1"], catalogue, "en")
    assert not any(r.kind == "cadence" for r in catalogue.rules_for_task("G3.P4.T1"))


def test_flags_table_in_three_languages(check, store, catalogue, registry, flags) -> None:
    from kpi import compliance as comp

    check("akimat_abai", "2025Q1", {"G1.P1.T2": proven_doc(signatory="Басқа лауазымды тұлға")})
    raw = formalism_flags(store.cursor(), catalogue, registry, KpiEngine(catalogue, registry), "2025Q1")
    for lang, word in (("kk", "қол қойған"), ("ru", "подписан"), ("en", "signed below")):
        table = comp.flags_frame(raw, registry, lang)
        row = table[table["flag"] == "signatory_below_level"].iloc[0]
        assert word in row["message"].lower()


# Several documents per task, signatories, yearly renewals and new hires (issue 14)


def test_every_required_document_type_is_needed(check, store, catalogue, registry) -> None:
    only_order = {"status": "Орындалды", "documents": [{**{k: DOC[k] for k in DOCUMENT_KEYS if k in DOC},
                                                       "doc_type": "Бұйрық"}]}
    video_instead = {"status": "Орындалды", "documents": [{**{k: DOC[k] for k in DOCUMENT_KEYS if k in DOC},
                                                          "doc_type": "Video"}]}
    got = check("akimat_abai", "2025Q1", {"G1.P1.T1": only_order, "G1.P2.T1": video_instead,
                                          "G1.P1.T2": proven_doc()})
    assert got["G1.P1.T1"] == ("missing", ["document_missing"])  # the analytical report is not there
    assert got["G1.P2.T1"] == ("missing", ["document_missing", "document_missing", "action_plan_within_10_working_days"])
    assert got["G1.P1.T2"] == ("proven", [])  # the order and the analytical report
    result = next(r for r in compliance(store.cursor(), catalogue, registry, "2025Q1", entities=["akimat_abai"])
                  if r.task == "G1.P1.T1")
    words = {lang: result.failed[0].message(lang) for lang in ("kk", "ru", "en")}
    assert "Талдамалық анықтама" in words["kk"] and "Аналитическая справка" in words["ru"]
    assert "Analytical report" in words["en"]


def test_a_document_dated_after_the_period_is_late(check) -> None:
    got = check("akimat_abai", "2025Q1", {"G1.P1.T1": proven_doc(dates={"order": dt.date(2025, 4, 2)})})
    assert got["G1.P1.T1"] == ("late", ["document_after_period"])


def test_blank_signatory_fails(check, store, catalogue, registry) -> None:
    got = check("akimat_abai", "2025Q1", {"G1.P1.T1": proven_doc(signatory=None),
                                          "G3.P1.T2": proven_doc(signatory=None, events=[1, 0, 0])})
    assert got["G1.P1.T1"] == ("missing", ["signed_by_senior_official"])
    # A video and its publication are signed by nobody of the body: no signatory needed.
    assert got["G3.P1.T2"] == ("proven", [])
    result = next(r for r in compliance(store.cursor(), catalogue, registry, "2025Q1", entities=["akimat_abai"])
                  if r.task == "G1.P1.T1")
    assert "No signatory" in result.failed[0].message("en")


def test_collegial_management_body_signs_where_the_guide_allows_it(check) -> None:
    board = "Алқалы басқару органы"
    g4 = check("qp_kmg", "2025Q1", {"G4.P1.T1": proven_doc(signatory=board)})
    assert g4["G4.P1.T1"] == ("proven", [])
    g1 = check("akimat_abai", "2025Q1", {"G1.P1.T1": proven_doc(signatory="Collegial management body")})
    assert g1["G1.P1.T1"] == ("missing", ["signed_by_senior_official"])


def test_anti_corruption_standard_approved_by_the_first_head(check) -> None:
    deputy = check("akimat_abai", "2025Q1", {"G2.P8.T1": proven_doc(signatory="Бірінші басшының орынбасары")})
    assert deputy["G2.P8.T1"] == ("missing", ["signed_by_senior_official"])
    head = check("akimat_astana", "2025Q1", {"G2.P8.T1": proven_doc(signatory="First head")})
    assert head["G2.P8.T1"] == ("proven", [])


@pytest.mark.parametrize(("entity", "task", "rule"), [
    ("qp_kmg", "G4.P1.T2", "renewed_every_year"), ("qp_kmg", "G4.P1.T3", "renewed_every_year"),
    ("qp_kmg", "G4.P1.T4", "renewed_every_year"), ("qp_kmg", "G4.P1.T5", "analysis_of_all_subdivisions_yearly"),
    ("univ_enu", "G3.P5.T1", "thesis_topics_renewed_yearly"),
])
def test_yearly_renewals(check, entity, task, rule) -> None:
    stale = check(entity, "2025Q4", {task: proven_doc(doc_date=dt.date(2019, 6, 3))})
    assert stale[task] == ("missing", [rule])  # a 2019 document does not prove the task in 2025
    fresh = check(entity, "2024Q4", {task: proven_doc(doc_date=dt.date(2024, 2, 12))})
    assert fresh[task] == ("proven", [])


def test_new_hires_acquainted_within_the_same_three_days(check, store, catalogue, registry) -> None:
    within = proven_doc(related_date=dt.date(2025, 2, 3), doc_date=dt.date(2025, 2, 5))
    ok = check("qp_kmg", "2025Q1", {"G4.P1.T6": within}, {"staff_total": 90, "staff_hired": 4,
                                                        "staff_hired_acquainted": 4})
    assert ok["G4.P1.T6"] == ("proven", [])
    short = check("qp_ktz", "2025Q1", {"G4.P1.T6": within}, {"staff_total": 90, "staff_hired": 4,
                                                           "staff_hired_acquainted": 3})
    assert short["G4.P1.T6"] == ("missing", ["new_hires_acquainted_within_3_days"])
    unreported = check("qp_samruk_kazyna", "2025Q1", {"G4.P1.T6": within})
    assert unreported["G4.P1.T6"] == ("missing", ["new_hires_acquainted_within_3_days"])
    result = next(r for r in compliance(store.cursor(), catalogue, registry, "2025Q1", entities=["qp_ktz"])
                  if r.task == "G4.P1.T6")
    assert result.failed[0].message("ru").startswith("Охвачено: 3 из 4")


def test_every_task_requires_document_types(catalogue) -> None:
    from kpi.evidence import DOC_TYPES

    missing = [t.id for t in catalogue.tasks if not catalogue.task_field(t.id, "doc_types")]
    assert missing == []
    assert {d for t in catalogue.tasks for d in catalogue.task_field(t.id, "doc_types")} <= set(DOC_TYPES)
    assert catalogue.task_field("G2.P8.T1", "signatory") == "first_head"
