"""Nothing left behind: staged uploads are deleted on confirm, discard, sign-out and session end; workbooks with
parts the template never has are refused before they are read."""

from __future__ import annotations

import gc
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from kpi import views
from tests.test_app import APP, OFFICER, _app_store, corrected_return, provision, run, sample_db, upload_db  # noqa: F401

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _previewed() -> tuple[AppTest, Path]:
    at = run("pages/upload.py", query={"lang": "en"}, user=OFFICER)
    latest = views.available_periods(_app_store().cursor())[-1]
    content = corrected_return("akimat_abai", latest, {"subdivisions_analysed": 0})
    at.file_uploader[0].set_value(("abai.xlsx", content, XLSX)).run()
    assert not at.exception
    folder = Path(at.session_state["_upload_batch"].folder)
    assert folder.is_dir() and list(folder.iterdir())
    return at, folder


@pytest.mark.usefixtures("upload_db")
def test_staged_files_go_on_sign_out() -> None:
    """Attack replay: previewed but unconfirmed uploads stayed in the temp folder after sign-out."""
    at, folder = _previewed()
    next(b for b in at.button if b.key == "sign_out").click().run()
    assert not folder.exists()


@pytest.mark.usefixtures("upload_db")
def test_staged_files_go_on_confirm_and_on_discard() -> None:
    at, folder = _previewed()
    at.button(key="upload_confirm").click().run()
    assert not at.exception and not folder.exists()
    at, folder = _previewed()
    at.file_uploader[0].set_value(None).run()  # the officer removes the file instead
    assert not folder.exists()


@pytest.mark.usefixtures("upload_db")
def test_staged_files_go_when_the_session_ends() -> None:
    at, folder = _previewed()
    del at
    gc.collect()
    assert not folder.exists()


# --------------------------------------------------------------------------- parts the template never has


def _rezip(data: bytes, change: Any) -> bytes:
    """The workbook with its parts changed by `change(parts)` (a dict of name → bytes), zipped again."""
    source = zipfile.ZipFile(io.BytesIO(data))
    parts = {info.filename: source.read(info.filename) for info in source.infolist()}
    change(parts)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, content in parts.items():
            target.writestr(name, content)
    return out.getvalue()


def _external_link(parts: dict[str, bytes]) -> None:
    parts["xl/externalLinks/externalLink1.xml"] = (
        b'<externalLink xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"/>')
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", b'<Override PartName="/xl/externalLinks/externalLink1.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.externalLink+xml"/></Types>')


def _hyperlink(parts: dict[str, bytes]) -> None:
    parts["xl/worksheets/_rels/sheet2.xml.rels"] = parts["xl/worksheets/_rels/sheet2.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rIdX" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        b'relationships/hyperlink" Target="file:///etc/passwd" TargetMode="External"/></Relationships>')


def _many_names(parts: dict[str, bytes]) -> None:
    extra = "".join(f"<definedName name=\"n{i}\">'Есеп'!$A$1</definedName>" for i in range(20_000)).encode()
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(b"</definedNames>", extra + b"</definedNames>")


def _odd_sheet_name(parts: dict[str, bytes]) -> None:
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace("Нұсқаулық".encode(), b"../../etc/passwd")


def _external_name(parts: dict[str, bytes]) -> None:
    parts["xl/workbook.xml"] = parts["xl/workbook.xml"].replace(
        b"</definedNames>", b"<definedName name=\"stolen\">[1]Sheet1!$A$1</definedName></definedNames>")


@pytest.mark.parametrize(("attack", "code"), [(_external_link, "external_link"), (_hyperlink, "external_link"),
                                              (_many_names, "too_many_names"), (_odd_sheet_name, "bad_sheet_name"),
                                              (_external_name, "external_link")])
def test_a_workbook_with_parts_the_template_never_has_is_refused(store, catalogue, registry, make_return,
                                                                 tmp_path: Path, attack: Any, code: str) -> None:
    """Attack replay: an external-link part, a hyperlink to file:///etc/passwd, 20,000 defined names and a sheet
    named ../../etc/passwd were accepted and archived."""
    from kpi.ingest.pipeline import ingest_files

    good = make_return("akimat_abai", "2025Q1")
    bad = tmp_path / "crafted.xlsx"
    bad.write_bytes(_rezip(good.read_bytes(), attack))
    report = ingest_files(store, catalogue, registry, [bad], uploaded_by="officer1")
    (outcome,) = report.outcomes
    assert outcome.status == "rejected" and [i.code for i in outcome.issues] == [code]
    messages = {lang: outcome.issues[0].message(lang) for lang in ("kk", "ru", "en")}
    assert len(set(messages.values())) == 3 and not any("{" in m for m in messages.values()), messages
    assert store.cursor().execute("SELECT count(*) FROM return_version").fetchone() == (0,)
    assert not store.archive.shas()  # nothing archived either
    assert ingest_files(store, catalogue, registry, [good]).ok  # the template's own workbook still goes in


def test_a_web_hyperlink_in_the_reference_column_is_accepted(store, catalogue, registry, make_return,
                                                               tmp_path: Path) -> None:
    """Excel turns an address typed into a cell into a hyperlink by itself; a link to a web page (the
    project-management system's) is what the reference column is for, so it must not refuse the return."""
    from kpi.ingest.pipeline import ingest_files

    def web_link(parts: dict[str, bytes]) -> None:
        parts["xl/worksheets/_rels/sheet2.xml.rels"] = parts["xl/worksheets/_rels/sheet2.xml.rels"].replace(
            b"</Relationships>", b'<Relationship Id="rIdW" Type="http://schemas.openxmlformats.org/officeDocument/'
            b'2006/relationships/hyperlink" Target="https://easyproject.gov.kz/issues/4711" TargetMode="External"/>'
            b"</Relationships>")

    returned = tmp_path / "with-link.xlsx"
    returned.write_bytes(_rezip(make_return("akimat_abai", "2025Q1").read_bytes(), web_link))
    assert ingest_files(store, catalogue, registry, [returned], uploaded_by="officer1").ok


def test_a_hyperlink_to_a_file_hidden_behind_odd_markup_is_refused(store, catalogue, registry, make_return,
                                                                   tmp_path: Path) -> None:
    """A '>' inside an earlier attribute must not hide the file link that follows it."""
    from kpi.ingest.pipeline import ingest_files

    def hidden_link(parts: dict[str, bytes]) -> None:
        parts["xl/worksheets/_rels/sheet2.xml.rels"] = parts["xl/worksheets/_rels/sheet2.xml.rels"].replace(
            b"</Relationships>", b'<Relationship Id="a&gt;>" Type="http://schemas.openxmlformats.org/officeDocument/'
            b'2006/relationships/hyperlink" Target="file:///etc/passwd" TargetMode="External"/></Relationships>')

    crafted = tmp_path / "hidden.xlsx"
    crafted.write_bytes(_rezip(make_return("akimat_abai", "2025Q1").read_bytes(), hidden_link))
    (outcome,) = ingest_files(store, catalogue, registry, [crafted], uploaded_by="officer1").outcomes
    assert outcome.status == "rejected" and [i.code for i in outcome.issues] == ["external_link"]
