"""The command line exactly as the contract fixes it, driven as a user (or an acceptance test) would, with `--db`
naming a DuckDB file and a PostgreSQL URL (`db_target`): the same answers from both."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from openpyxl import load_workbook

from kpi.sample import fill_by_names

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "KPI_DB"}
    full_env.update({"PYTHONPATH": str(ROOT), **(env or {})})
    return subprocess.run([sys.executable, "-m", "kpi", *args], capture_output=True, text=True, cwd=ROOT,
                          env=full_env, timeout=120)


def test_help_explains_the_flow() -> None:
    result = run("--help")
    assert result.returncode == 0
    for word in ("entities", "template", "ingest", "report", "KPI_DB"):
        assert word in result.stdout


def test_entities_json() -> None:
    result = run("entities", "--json")
    entities = json.loads(result.stdout)
    assert len(entities) >= 60
    assert {"code", "type", "region", "name_kk"} <= set(entities[0])
    akimats = json.loads(run("entities", "--type", "akimat", "--json").stdout)
    assert len(akimats) == 20 and {e["type"] for e in akimats} == {"akimat"}
    astana = next(e for e in akimats if e["code"] == "akimat_astana")
    assert astana["region"] == "astana" and astana["name_kk"].startswith("Астана")


@pytest.mark.both_stores
def test_template_fill_ingest_report_round_trip(tmp_path: Path, db_target: str) -> None:
    db = db_target
    out = tmp_path / "abai.xlsx"
    assert run("template", "--entity", "akimat_abai", "--period", "2025Q3", "--out", str(out)).returncode == 0
    wb = load_workbook(out)
    names = set(wb.defined_names)
    assert {"subdivisions_total", "risks_found_d09", "survey_ready_to_help", "anticorruption_standard_adopted",
            "meta_entity", "meta_period", "meta_template_version"} <= names
    assert "students_total" not in names  # a university measure has no cell in an akimat's return
    sheet = wb["Есеп"]
    assert sheet.protection.sheet
    assert sheet["C4"].value == "akimat_abai" and sheet["C6"].value == "2025Q3"
    flag_rules = [dv for dv in sheet.data_validations.dataValidation if dv.type == "list"]
    assert flag_rules and "Иә" in flag_rules[0].formula1
    assert "Нұсқаулық" in wb.sheetnames

    figures = {name: 0 for name in names if not name.startswith("meta_")}
    figures.update(subdivisions_total=8, subdivisions_analysed=6, risks_found_d01=4, risks_eliminated_d01=3,
                   anticorruption_standard_adopted="Иә")
    filled = tmp_path / "abai-filled.xlsx"
    filled.write_bytes(fill_by_names(out.read_bytes(), figures))
    ingest = run("ingest", "--db", str(db), str(filled), "--json")
    assert ingest.returncode == 0, ingest.stdout + ingest.stderr
    outcome = json.loads(ingest.stdout)
    assert outcome["accepted"][0]["entity"] == "akimat_abai" and outcome["rejected"] == []

    report = run("report", "--db", str(db), "--period", "2025Q3", "--json")
    rows = json.loads(report.stdout)
    keys = {"kpi", "period", "level", "key", "numerator", "denominator", "value", "unit", "target", "status",
            "reporting", "expected"}
    assert all(set(r) == keys for r in rows)
    by = {(r["kpi"], r["level"], r["key"]): r for r in rows}
    assert by[("G1.K1", "national", None)]["value"] == 75
    # the coverage behind a figure: 1 return of the 48 central bodies (28) and akimats (20) that report G1.K1
    assert (by[("G1.K1", "national", None)]["reporting"], by[("G1.K1", "national", None)]["expected"]) == (1, 48)
    assert by[("G1.K1", "entity_type", "akimat")]["expected"] == 20
    assert by[("G1.K1", "entity_type", "akimat")]["value"] == 75
    assert by[("G1.K1", "entity", "akimat_abai")]["numerator"] == 6
    assert by[("G2.K1", "entity", "akimat_abai")]["value"] == 75
    assert by[("G2.K8", "national", None)]["value"] == 100
    assert by[("G1.K1", "entity_type", "central_body")]["value"] is None
    assert by[("G3.K4", "national", None)]["target"] == 20
    assert {r["level"] for r in rows} == {"national", "entity_type", "region", "entity"}


@pytest.mark.both_stores
def test_rejected_file_exits_1_with_located_errors(tmp_path: Path, db_target: str) -> None:
    db = db_target
    out = tmp_path / "t.xlsx"
    run("template", "--entity", "univ_enu", "--period", "2025Q3", "--out", str(out))
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(fill_by_names(out.read_bytes(), {"students_total": 10, "students_trained": 12,
                                                     "theses_total": 1, "theses_anticorruption": 0,
                                                     "iso37001_certified": "Жоқ"}))
    result = run("ingest", "--db", str(db), str(bad), "--json", "--lang", "en")
    assert result.returncode == 1
    error = json.loads(result.stdout)["rejected"][0]["errors"][0]
    assert error["file"] == "bad.xlsx" and error["sheet"] == "Есеп" and error["cell"].startswith("C")
    assert error["measure"] == "students_trained" and error["value"] == 12
    assert "exceeds" in error["message"]
    text = run("ingest", "--db", str(db), str(bad))
    assert text.returncode == 1 and "students_trained" in text.stdout
    report = json.loads(run("report", "--db", str(db), "--period", "2025Q3", "--json").stdout)
    assert all(r["value"] is None for r in report)


@pytest.mark.both_stores
def test_kpi_db_environment_variable(tmp_path: Path, db_target: str, store_kind: str) -> None:
    result = run("report", "--period", "2025Q1", "--json", env={"KPI_DB": db_target})
    assert result.returncode == 0, result.stderr
    assert store_kind == "postgresql" or Path(db_target).exists()
    assert all(r["value"] is None for r in json.loads(result.stdout))  # a named database starts empty


def test_bad_arguments_are_explained(tmp_path: Path) -> None:
    result = run("template", "--entity", "nobody", "--period", "2025Q1", "--out", str(tmp_path / "x.xlsx"),
                 "--lang", "en")
    assert result.returncode == 2 and "Unknown entity: nobody" in result.stderr
    result = run("report", "--db", str(tmp_path / "d.duckdb"), "--period", "2025-Q1", "--lang", "ru")
    assert result.returncode == 2 and "ГГГГQn" in result.stderr
