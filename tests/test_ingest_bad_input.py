"""Every kind of bad upload gets a clear, located message and changes nothing in the database."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from kpi.catalogue import Catalogue, Registry
from kpi.ingest.pipeline import ingest_files
from kpi.store import Store


def rezip(data: bytes, *, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None) -> bytes:
    """A copy of a workbook's zip with some parts replaced or added."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = (replace or {}).get(info.filename, source.read(info.filename))
            target.writestr(info.filename, content)
        for name, content in (add or {}).items():
            target.writestr(name, content)
    return out.getvalue()


def snapshot(store: Store) -> tuple[object, ...]:
    cur = store.cursor()
    return (
        cur.execute("SELECT count(*) FROM return_version").fetchone(),
        cur.execute("SELECT count(*) FROM return_value").fetchone(),
        sorted(p.name for p in store.archive_dir.rglob("*") if p.is_file()) if store.archive_dir.exists() else [],
    )


@pytest.fixture
def ingest(store: Store, catalogue: Catalogue, registry: Registry) -> Callable[..., list[dict[str, object]]]:
    """Ingest one file that must be rejected; return its errors after checking nothing changed."""

    def run(path: Path, lang: str = "en") -> list[dict[str, object]]:
        before = snapshot(store)
        report = ingest_files(store, catalogue, registry, [path])
        assert not report.ok
        assert snapshot(store) == before
        errors = report.as_dict(lang)["rejected"][0]["errors"]
        assert errors, "a rejection must say why"
        for error in errors:
            assert error["file"] == path.name
            assert error["message"] and not str(error["message"]).startswith("ingest.")
        return errors

    return run


def codes(errors: list[dict[str, object]]) -> list[object]:
    return [e["code"] for e in errors]


def test_not_a_spreadsheet(tmp_path: Path, ingest) -> None:
    path = tmp_path / "notes.xlsx"
    path.write_text("Quarterly figures: 12, 14, 15", encoding="utf-8")
    assert codes(ingest(path)) == ["not_spreadsheet"]


def test_truncated_zip(tmp_path: Path, make_return, ingest) -> None:
    good = make_return("akimat_abai", "2025Q1").read_bytes()
    path = tmp_path / "truncated.xlsx"
    path.write_bytes(good[: len(good) // 2])
    assert codes(ingest(path)) == ["corrupt_zip"]


def test_zip_bomb_by_declared_size(tmp_path: Path, make_return, ingest) -> None:
    good = make_return("akimat_abai", "2025Q1").read_bytes()
    bomb = rezip(good, add={"xl/media/padding.xml": b" " * (48 * 1024 * 1024)})
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(bomb)
    assert path.stat().st_size < 1024 * 1024
    errors = ingest(path)
    assert codes(errors) == ["zip_bomb"]
    assert "zip bomb" in str(errors[0]["message"])


def test_zip_bomb_by_ratio(tmp_path: Path, make_return, ingest) -> None:
    good = make_return("akimat_abai", "2025Q1").read_bytes()
    path = tmp_path / "ratio.xlsx"
    path.write_bytes(rezip(good, add={"xl/padding.xml": b"a" * (8 * 1024 * 1024)}))
    assert codes(ingest(path)) == ["zip_bomb"]


def test_xml_entity_bomb(tmp_path: Path, make_return, ingest) -> None:
    good = make_return("akimat_abai", "2025Q1").read_bytes()
    original = zipfile.ZipFile(io.BytesIO(good)).read("xl/workbook.xml")
    lol = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>')
    body = original.split(b"?>", 1)[1] if original.startswith(b"<?xml") else original
    hostile = lol + body
    path = tmp_path / "entities.xlsx"
    path.write_bytes(rezip(good, replace={"xl/workbook.xml": hostile}))
    errors = ingest(path)
    assert codes(errors) == ["xml_entities"]
    assert "xl/workbook.xml" in str(errors[0]["message"])


def test_macro_enabled_workbook(tmp_path: Path, make_return, ingest) -> None:
    good = make_return("akimat_abai", "2025Q1").read_bytes()
    types = zipfile.ZipFile(io.BytesIO(good)).read("[Content_Types].xml").replace(
        b"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
        b"application/vnd.ms-excel.sheet.macroEnabled.main+xml",
    )
    path = tmp_path / "macro.xlsm"
    path.write_bytes(rezip(good, replace={"[Content_Types].xml": types}, add={"xl/vbaProject.bin": b"\x00" * 64}))
    assert codes(ingest(path)) == ["macro"]


def test_encrypted_or_legacy_workbook(tmp_path: Path, ingest) -> None:
    path = tmp_path / "encrypted.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4096)
    assert codes(ingest(path)) == ["ole_file"]


def test_file_far_larger_than_a_return(tmp_path: Path, ingest) -> None:
    path = tmp_path / "huge.xlsx"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * (6 * 1024 * 1024))
    assert codes(ingest(path)) == ["file_too_large"]


def test_cell_far_outside_the_template(tmp_path: Path, make_return, ingest) -> None:
    """The 2 KB workbook with one cell at XFD1048576 that makes native readers allocate hundreds of GiB."""
    good = make_return("akimat_abai", "2025Q1").read_bytes()
    archive = zipfile.ZipFile(io.BytesIO(good))
    sheet_part = sorted(n for n in archive.namelist() if n.startswith("xl/worksheets/sheet"))[-1]
    xml = archive.read(sheet_part)
    xml = xml.replace(b"</sheetData>", b'<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row></sheetData>')
    path = tmp_path / "far.xlsx"
    path.write_bytes(rezip(good, replace={sheet_part: xml}))
    errors = ingest(path)
    assert codes(errors) == ["out_of_bounds"]
    assert errors[0]["cell"] == "XFD1048576"


def test_template_of_another_version(tmp_path: Path, make_return, ingest) -> None:
    path = make_return("akimat_abai", "2025Q1", {"meta_template_version": "PARASAT-4.2023.1"})
    errors = ingest(path)
    assert codes(errors) == ["template_version"]
    assert errors[0]["sheet"] == "Есеп" and errors[0]["cell"] == "C7"
    assert errors[0]["value"] == "PARASAT-4.2023.1"


def test_template_of_another_entity_type(tmp_path: Path, make_return, ingest) -> None:
    path = make_return("akimat_abai", "2025Q1", {"meta_entity": "min_finance"})
    errors = ingest(path)
    assert codes(errors) == ["wrong_entity_type"]
    assert errors[0]["cell"] == "C5"
    assert "central_body" in str(errors[0]["message"])


def test_unknown_entity_and_invalid_period(tmp_path: Path, make_return, ingest) -> None:
    path = make_return("akimat_abai", "2025Q1", {"meta_entity": "akimat_atlantis", "meta_period": "2025Q5"})
    errors = ingest(path)
    assert sorted(codes(errors)) == ["bad_period", "unknown_entity"]
    by_code = {e["code"]: e for e in errors}
    assert by_code["unknown_entity"]["cell"] == "C4" and by_code["unknown_entity"]["value"] == "akimat_atlantis"
    assert by_code["bad_period"]["cell"] == "C6"


def test_future_period(tmp_path: Path, make_return, ingest) -> None:
    path = make_return("akimat_abai", "2025Q1", {"meta_period": "2099Q1"})
    assert codes(ingest(path)) == ["period_out_of_range"]


def test_missing_sheet(tmp_path: Path, ingest) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    assert wb.active is not None
    wb.active.title = "Sheet1"
    wb.active["A1"] = "subdivisions_total"
    path = tmp_path / "plain.xlsx"
    wb.save(path)
    errors = ingest(path)
    assert codes(errors) == ["missing_sheet"]
    assert "Есеп" in str(errors[0]["message"])


def test_missing_named_cell(tmp_path: Path, make_return, ingest) -> None:
    good = make_return("akimat_abai", "2025Q1").read_bytes()
    workbook_xml = zipfile.ZipFile(io.BytesIO(good)).read("xl/workbook.xml")
    start = workbook_xml.index(b'<definedName name="risks_found_d03"')
    end = workbook_xml.index(b"</definedName>", start) + len(b"</definedName>")
    path = tmp_path / "no-name.xlsx"
    path.write_bytes(rezip(good, replace={"xl/workbook.xml": workbook_xml[:start] + workbook_xml[end:]}))
    errors = ingest(path)
    assert codes(errors) == ["missing_cell"]
    assert errors[0]["measure"] == "risks_found_d03"


def test_text_negative_fraction_and_blank_all_reported_in_one_pass(make_return, ingest) -> None:
    path = make_return(
        "akimat_abai", "2025Q1",
        {"subdivisions_total": "twelve", "risks_found_d01": -3, "risks_found_d02": 2.5, "offences_criminal": None},
    )
    errors = ingest(path, "ru")
    by_measure = {e["measure"]: e for e in errors}
    assert by_measure["subdivisions_total"]["code"] == "not_a_number"
    assert by_measure["subdivisions_total"]["value"] == "twelve"
    assert by_measure["risks_found_d01"]["code"] == "negative"
    assert by_measure["risks_found_d01"]["value"] == -3
    assert by_measure["risks_found_d02"]["code"] == "fraction"
    assert by_measure["offences_criminal"]["code"] == "blank"
    assert by_measure["offences_criminal"]["message"].startswith("Ячейка пуста")
    assert all(str(e["cell"]).startswith("C") for e in errors)
    assert len(errors) == 4


def test_part_larger_than_whole(make_return, ingest) -> None:
    path = make_return("akimat_abai", "2025Q1", {
        "subdivisions_total": 10, "subdivisions_analysed": 11,
        "nla_expertise_passed": 5, "nla_adopted": 4, "nla_not_adopted": 2,
    })
    errors = ingest(path, "kk")
    assert sorted(codes(errors)) == ["part_exceeds_whole", "part_exceeds_whole"]
    by_measure = {e["measure"]: e for e in errors}
    assert by_measure["subdivisions_analysed"]["value"] == 11
    assert "nla_not_adopted" in by_measure
    message = str(by_measure["subdivisions_analysed"]["message"])
    assert "бөлік бүтіннен асып кетті" in message
    # in the template's words, with the cells (issue 15): no measure codes
    cells = {e["measure"]: e["cell"] for e in errors}
    from kpi.catalogue import load_catalogue

    labels = load_catalogue().measure_by_code
    assert message.startswith(f"{labels['subdivisions_analysed'].label.kk} ({cells['subdivisions_analysed']}) = 11 > "
                              f"{labels['subdivisions_total'].label.kk} (C"), message
    assert "subdivisions_" not in message


def test_bad_flag_word(make_return, ingest) -> None:
    path = make_return("akimat_abai", "2025Q1", {"anticorruption_standard_adopted": "maybe"})
    errors = ingest(path)
    assert codes(errors) == ["bad_flag"]


def test_one_bad_file_does_not_stop_the_good_ones(store: Store, catalogue, registry, make_return, tmp_path) -> None:
    good = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 4, "subdivisions_analysed": 2})
    bad = tmp_path / "bad.xlsx"
    bad.write_text("nope")
    report = ingest_files(store, catalogue, registry, [good, bad])
    assert [o.status for o in report.outcomes] == ["new", "rejected"]
    cur = store.cursor()
    assert cur.execute("SELECT count(*) FROM return_version").fetchone() == (1,)


def test_far_cells_written_in_other_ways(tmp_path: Path, make_return, ingest) -> None:
    """Single quotes, a far dimension, or rows without numbers piled past the template: refused before parsing."""
    good = make_return("akimat_abai", "2025Q1").read_bytes()
    archive = zipfile.ZipFile(io.BytesIO(good))
    sheet_part = sorted(n for n in archive.namelist() if n.startswith("xl/worksheets/sheet"))[-1]
    xml = archive.read(sheet_part)
    variants = {
        "quotes": xml.replace(b"</sheetData>", b"<row r='9000'><c r='XFD9000' t='n'><v>1</v></c></row></sheetData>"),
        "dimension": re.sub(rb'<dimension ref="[^"]*"', b"<dimension ref='A1:XFD1048576'", xml, count=1),
        "unnumbered": xml.replace(b"</sheetData>", b"<row><c><v>1</v></c></row>" * 2100 + b"</sheetData>"),
    }
    for label, hostile in variants.items():
        assert hostile != xml, label
        path = tmp_path / f"{label}.xlsx"
        path.write_bytes(rezip(good, replace={sheet_part: hostile}))
        errors = ingest(path)
        assert codes(errors) == ["out_of_bounds"], label
    assert errors[0]["sheet"] == "Құжаттар"  # the last sheet: the documents
