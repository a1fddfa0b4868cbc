"""Text an officer typed into a return is shown as text: never as Markdown, HTML, a link or an image."""

from __future__ import annotations

import re

import pytest
from streamlit.testing.v1 import AppTest

from kpi import views
from tests.test_app import ADMIN, APP, _app_store, provision, sample_db, upload_db  # noqa: F401 - fixtures by name

BEACON = "![p](http://host/beacon.png)"
PHISH = "[Verify here](http://host/phish) <img src=x onerror=alert(1)> :red[urgent] www.host.kz"


def _unescaped(markdown: str) -> str:
    """What a CommonMark renderer shows for backslash-escaped text."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", markdown)


def _live_markdown(markdown: str) -> list[str]:
    """Markdown that would still act: an image or link opener, an autolink, a raw tag, a colour directive."""
    unescaped = re.sub(r"\\[!-/:-@\[-`{-~]", "", markdown)
    return re.findall(r"!\[|\]\(|https?://|www\.|<[a-z]|:red\[", unescaped)


@pytest.mark.usefixtures("upload_db")
def test_evidence_text_with_an_image_and_a_link_stays_literal() -> None:
    """Attack replay: a document number `![p](http://host/beacon.png)` made the analyst's browser fetch it."""
    cur = _app_store().cursor()
    period = views.available_periods(cur)[-1]
    row = cur.execute(
        "SELECT r.entity_code, d.task_id, d.return_id, min(d.seq) FROM current_return r "
        "JOIN evidence_document d USING (return_id) WHERE r.period = ? GROUP BY ALL ORDER BY 1, 2 LIMIT 1",
        [period]).fetchone()
    assert row is not None
    entity, task, return_id, seq = row
    cur.execute("UPDATE evidence_document SET doc_number = ?, reference = ? WHERE return_id = ? AND task_id = ? "
                "AND seq = ?", [BEACON, PHISH, return_id, task, seq])
    provision(ADMIN)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = "en"
    at.query_params["period"] = period
    at.session_state["_user"] = ADMIN
    at.run()
    at.session_state["compliance_matrix"] = {"selection": {"points": [{"customdata": [entity, task], "x": task}]}}
    at.switch_page("pages/compliance.py")
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    box = [m.value for m in at.markdown if BEACON in _unescaped(m.value)]
    assert box, "the evidence box is not shown"
    shown = _unescaped(box[0])
    assert f"№ {BEACON}" in shown and PHISH in shown  # both appear literally, character for character
    assert _live_markdown(box[0]) == []
    assert not at.get("imgs") and not at.get("image") and not at.get("link_button")


@pytest.mark.parametrize("text", [BEACON, PHISH, "**bold** _it_ `code` # heading\n- item", "$x^2$ :material/home:"])
def test_plain_leaves_no_markdown_alive(text: str) -> None:
    from pages.language import plain

    assert _unescaped(plain(text)) == " ".join(text.split())
    assert _live_markdown(plain(text)) == []
