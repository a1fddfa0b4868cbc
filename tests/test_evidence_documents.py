"""Issue 14: returns of the previous template keep counting, new measures are optional and checked, an existing
database keeps its documents."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
from openpyxl import load_workbook

from kpi.compliance import compliance
from kpi.engine import KpiEngine
from kpi.ingest.pipeline import ingest_files
from kpi.layout import TEMPLATE_VERSION
from kpi.store import Store

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OLD_RETURNS = ["old_layout_akimat_abai_2025Q4.xlsx", "old_layout_qp_kmg_2025Q4.xlsx"]


def _named_values(path: Path) -> dict[str, object]:
    wb = load_workbook(path)
    out = {}
    for name, defined in wb.defined_names.items():
        for sheet, ref in defined.destinations:
            out[name] = wb[sheet][ref.replace("$", "")].value
    return out


def test_previous_layout_returns_still_ingest_and_count(store: Store, catalogue, registry, tmp_path) -> None:
    paths = [Path(shutil.copy(FIXTURES / name, tmp_path / name)) for name in OLD_RETURNS]
    cells = {p: _named_values(p) for p in paths}
    assert {c["meta_template_version"] for c in cells.values()} == {"PARASAT-4.2026.2"} != {TEMPLATE_VERSION}
    report = ingest_files(store, catalogue, registry, paths)
    assert report.ok, report.as_dict("en")["rejected"]
    cur = store.cursor()
    stored = dict(cur.execute("SELECT measure, value FROM current_value WHERE entity_code = 'akimat_abai' "
                              "AND period = '2025Q4'").fetchall())
    abai = cells[paths[0]]
    assert stored["subdivisions_total"] == abai["subdivisions_total"]
    assert "hidden_services_found" not in stored  # a measure the old template lacks: not reported, not zero
    found = sum(int(abai[f"risks_found_d{i:02}"]) for i in range(1, 10))  # type: ignore[call-overload]
    eliminated = sum(int(abai[f"risks_eliminated_d{i:02}"]) for i in range(1, 10))  # type: ignore[call-overload]
    value = next(v for v in KpiEngine(catalogue, registry).compute(cur, ["2025Q4"], levels=["entity"],
                                                                  metrics=["G2.K1"]) if v.key == "akimat_abai")
    assert (value.numerator, value.denominator) == (eliminated, found)
    # Each task row's one document became that task's document.
    wb = load_workbook(paths[0])
    ws = wb["Дәлелдер"]
    row = next(r for r in range(4, ws.max_row + 1) if ws[f"E{r}"].value)
    task, number = ws[f"A{row}"].value, str(ws[f"E{row}"].value)
    documents = cur.execute("SELECT doc_number FROM evidence_document d JOIN current_return r USING (return_id) "
                            "WHERE r.entity_code = 'akimat_abai' AND d.task_id = ?", [task]).fetchall()
    assert documents == [(number,)]
    results = compliance(cur, catalogue, registry, "2025Q4", entities=["akimat_abai", "qp_kmg"])
    assert {r.entity for r in results} == {"akimat_abai", "qp_kmg"} and all(r.return_id for r in results)


def test_blank_new_measure_is_not_reported_and_parts_stay_within_wholes(store: Store, catalogue, registry,
                                                                          make_return) -> None:
    blank = make_return("qp_kmg", "2025Q1", {"staff_total": 50})
    assert ingest_files(store, catalogue, registry, [blank]).ok
    measures = {m for (m,) in store.cursor().execute(
        "SELECT measure FROM current_value WHERE entity_code = 'qp_kmg'").fetchall()}
    assert "staff_hired" not in measures and "staff_total" in measures
    too_many = make_return("qp_ktz", "2025Q1", {"staff_total": 50, "staff_hired": 4, "staff_hired_acquainted": 5},
                           name="hired.xlsx")
    political = make_return("akimat_abai", "2025Q1", {"managers_liable": 2, "managers_disciplined": 1,
                                                      "political_officials_liable": 3,
                                                      "political_officials_disciplined": 1}, name="pol.xlsx")
    report = ingest_files(store, catalogue, registry, [too_many, political])
    issues = {o.file: [(i.code, i.measure, i.cell) for i in o.issues] for o in report.outcomes}
    assert [code for code, _m, _c in issues["hired.xlsx"]] == ["part_exceeds_whole"]
    assert issues["hired.xlsx"][0][1] == "staff_hired_acquainted" and issues["hired.xlsx"][0][2]
    assert [(code, measure) for code, measure, _c in issues["pol.xlsx"]] == [
        ("part_exceeds_whole", "political_officials_liable")]


def test_new_measures_are_secondary_figures(store: Store, catalogue, registry, make_return) -> None:
    paths = [
        make_return("qp_kmg", "2025Q1", {"conflicts_of_interest_found": 4, "conflicts_of_interest_eliminated": 3,
                                         "corruption_reports_received": 7}, name="a.xlsx"),
        make_return("qp_ktz", "2025Q1", {"conflicts_of_interest_found": 6, "conflicts_of_interest_eliminated": 6,
                                         "corruption_reports_received": 2}, name="b.xlsx"),
        make_return("qp_samruk_kazyna", "2025Q1", name="c.xlsx"),  # reports none of them: counts in no sum
        make_return("akimat_abai", "2025Q1", {"managers_liable": 5, "managers_disciplined": 4,
                                              "political_officials_liable": 2, "political_officials_disciplined": 1},
                    name="d.xlsx"),
    ]
    assert ingest_files(store, catalogue, registry, paths).ok
    values = {(v.metric, v.level): v for v in KpiEngine(catalogue, registry).compute(
        store.cursor(), ["2025Q1"], levels=["national"],
        metrics=["G4.K1:conflicts_eliminated_share", "G4.K1:corruption_reports_received",
                 "G2.K5:political_officials"])}
    share = values[("G4.K1:conflicts_eliminated_share", "national")]
    assert (share.numerator, share.denominator, share.value) == (9, 10, 90.0)
    assert values[("G4.K1:corruption_reports_received", "national")].value == 9
    assert values[("G2.K5:political_officials", "national")].value == 50.0


def test_existing_database_opens_and_keeps_its_documents(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("""
        CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR);
        CREATE TABLE evidence (return_id BIGINT NOT NULL, task_id VARCHAR NOT NULL, status VARCHAR NOT NULL,
            doc_type VARCHAR, doc_number VARCHAR, doc_date DATE, signatory VARCHAR, reference VARCHAR,
            events INTEGER[], participants INTEGER[], related_date DATE, audit_years VARCHAR,
            PRIMARY KEY (return_id, task_id));
        INSERT INTO meta VALUES ('schema_version', '1');
        INSERT INTO evidence VALUES (7, 'G1.P1.T1', 'done', 'order', '12-ө', DATE '2025-03-20', 'first_head',
            'https://pmis.example/12', NULL, NULL, NULL, NULL),
            (7, 'G1.P1.T2', 'not_started', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    """)
    con.close()
    with Store(path) as store:
        rows = store.cursor().execute("SELECT return_id, task_id, seq, doc_type, doc_number, signatory "
                                      "FROM evidence_document").fetchall()
    assert rows == [(7, "G1.P1.T1", 1, "order", "12-ө", "first_head")]
    with Store(path) as store:  # opened again: copied once, not twice
        assert store.cursor().execute("SELECT count(*) FROM evidence_document").fetchone() == (1,)


def test_briefing_compliance_slide_names_the_missing_document(store: Store, catalogue, registry,
                                                             make_return) -> None:
    from kpi.briefing import BriefingRequest, plan_briefing, resolve_scope
    from kpi.compliance import briefing_provider

    order_only = {"status": "done", "documents": [{"doc_type": "order", "doc_number": "5", "signatory": "first_head",
                                                   "doc_date": "2025-02-03", "reference": "https://pmis.example/5"}]}
    path = make_return("akimat_abai", "2025Q1", evidence={"G1.P1.T1": order_only})
    assert ingest_files(store, catalogue, registry, [path]).ok
    engine = KpiEngine(catalogue, registry)
    provider = briefing_provider(catalogue, registry, engine)
    from kpi.compliance import task_label

    for lang, document in (("kk", "Талдамалық анықтама"), ("ru", "Аналитическая справка"),
                           ("en", "Analytical report")):
        words = f"{task_label(catalogue, 'G1.P1.T1', lang, width=48)}: {document}"  # the task in words (issue 15)
        assert "G1.P1.T1" not in words
        request = BriefingRequest(period="2025Q1", scope=resolve_scope("akimat_abai", registry), lang=lang)
        briefing = plan_briefing(store.cursor(), request, engine, compliance=provider)
        slide = next(s for s in briefing.slides if s.kind == "compliance")
        assert slide.table is not None
        assert slide.table.rows[0][3].startswith(words), slide.table.rows[0]


def test_evidence_details_list_required_documents(store: Store, catalogue, registry, make_return) -> None:
    from kpi.compliance import evidence_details

    order_only = {"status": "done", "documents": [{"doc_type": "order", "doc_number": "5", "signatory": "first_head",
                                                   "doc_date": "2025-02-03", "reference": "https://pmis.example/5"}]}
    assert ingest_files(store, catalogue, registry, [make_return("akimat_abai", "2025Q1",
                                                                 evidence={"G1.P1.T1": order_only})]).ok
    result = next(r for r in compliance(store.cursor(), catalogue, registry, "2025Q1", entities=["akimat_abai"])
                  if r.task == "G1.P1.T1")
    assert evidence_details(result, catalogue, "en")["Documents the guide requires"] == "Order ✓, Analytical report ✗"
    assert "Аналитическая справка" in evidence_details(result, catalogue, "ru")["Невыполненные требования"]


def test_secondary_figures_on_the_entity_profile_and_the_briefing_appendix(store: Store, catalogue, registry,
                                                                           make_return) -> None:
    from kpi.briefing import BriefingRequest, plan_briefing, resolve_scope
    from kpi.views import entity_profile

    paths = [make_return("qp_kmg", "2025Q1", {"conflicts_of_interest_found": 4, "conflicts_of_interest_eliminated": 3,
                                              "corruption_reports_received": 7}, name="a.xlsx"),
             make_return("akimat_abai", "2025Q1", {"managers_liable": 5, "managers_disciplined": 4,
                                                   "political_officials_liable": 4,
                                                   "political_officials_disciplined": 1}, name="b.xlsx")]
    assert ingest_files(store, catalogue, registry, paths).ok
    engine = KpiEngine(catalogue, registry)
    profile = entity_profile(store.cursor(), engine, "qp_kmg", "2025Q1", ["2025Q1"], lang="en")
    assert profile is not None and profile.secondary is not None
    shown = dict(zip(profile.secondary["label"], profile.secondary["value_text"]))
    assert shown["Share of conflicts of interest eliminated"] == "75.0\u00a0%"
    assert shown["Corruption reports received"] == "7"
    assert shown["Share of new hires acquainted within 3 days"] == "—"  # not reported: no value, not zero
    request = BriefingRequest(period="2025Q1", scope=resolve_scope("akimat_abai", registry), lang="ru")
    briefing = plan_briefing(store.cursor(), request, engine)
    rows = [row for s in briefing.slides if s.kind == "appendix" and s.table for row in s.table.rows]
    political = next(row for row in rows if row[1].startswith("↳ Политические должностные лица"))
    assert political[0] == "G2.K5" and political[2:5] == ("1", "4", "25,0\u00a0%")


def test_kazakh_titles_in_sentence_case_keep_abbreviations(catalogue) -> None:
    from kpi.labels import sentence_case

    assert sentence_case(catalogue.kpi_by_id["G3.K6"].title.kk) == \
        "ISO 37001 немесе ҚР СТ 3049-2017 стандартына сәйкестікті растаған ЖОО-лардың үлесі"
    assert sentence_case(catalogue.kpi_by_id["G1.K2"].title.kk).startswith("Бір НҚА-ның жобасында анықталған")
    assert all(not sentence_case(k.title.kk)[1:].isupper() for k in catalogue.kpis)
    assert [sentence_case(k.title.ru) for k in catalogue.kpis] == [k.title.ru for k in catalogue.kpis]
