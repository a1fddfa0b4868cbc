"""The app and the reporting calendar: the Upload page refuses a quarter that has not ended, offers ended
quarters only, and an admin opens a quarter early on the Administration page (clock: conftest, 1 Dec 2026)."""

from __future__ import annotations

from pathlib import Path

from kpi import audit, periods
from kpi.catalogue import load_catalogue, load_registry
from kpi.i18n import t
from kpi.sample import fill_by_names
from kpi.template import build_template
from tests.conftest import zero_values
from tests.test_app import _app_store, app_db, run, sample_db, texts, upload_db  # noqa: F401

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def blank_return(entity: str, period: str) -> bytes:
    catalogue, registry = load_catalogue(), load_registry()
    return fill_by_names(build_template(catalogue, registry, entity, period), zero_values(catalogue, registry, entity))


def counts() -> tuple[object, ...]:
    cur = _app_store().cursor()
    return (cur.execute("SELECT count(*) FROM return_version").fetchone(),
            cur.execute("SELECT count(*) FROM return_value").fetchone())


def test_upload_page_refuses_a_quarter_that_has_not_ended(upload_db: Path) -> None:  # noqa: F811
    before = counts()
    at = run("pages/upload.py", query={"lang": "en"})
    at.file_uploader[0].set_value(("abai_q4.xlsx", blank_return("akimat_abai", "2026Q4"), XLSX)).run()
    assert not at.exception
    assert at.error, texts(at)
    issues = at.table[0].value.reset_index().to_dict("records")
    assert issues == [{"Template row": "—", "Sheet": "Есеп", "Cell": "C6", "Value given": "2026Q4",
                       "What to fix": "Q4 2026 has not ended yet: its return can be submitted from 1 Jan 2027."}]
    assert not [b for b in at.button if b.key == "upload_confirm"]
    assert counts() == before
    # the template picker offers ended quarters only, newest first
    picker = next(s for s in at.selectbox if s.label == t("upload.template_period", "en"))
    assert picker.options[:2] == ["Q3 2026", "Q2 2026"] and "Q4 2026" not in picker.options


def test_admin_opens_the_quarter_under_way_and_the_upload_is_accepted(upload_db: Path) -> None:  # noqa: F811
    at = run("pages/admin.py", query={"lang": "ru"})
    at.button(key="admin_period_open").click().run()
    assert not at.exception
    assert periods.opened_periods(_app_store().cursor()) == {"2026Q4"}
    assert any("4 кв. 2026 г." in i.value for i in at.info)
    events = [e for e in audit.read(_app_store().audit_path) if e["action"] == "period_opened"]
    assert [(e["actor"], e["subject"]) for e in events] == [("admin", "2026Q4")]
    at.switch_page("pages/upload.py").run()
    at.file_uploader[0].set_value(("abai_q4.xlsx", blank_return("akimat_abai", "2026Q4"), XLSX)).run()
    assert not at.error and [b for b in at.button if b.key == "upload_confirm"]
    picker = next(s for s in at.selectbox if s.label == t("upload.template_period", "ru"))
    assert picker.options[0] == "4 кв. 2026 г."


def test_a_thin_later_quarter_does_not_become_the_default(upload_db: Path) -> None:  # noqa: F811
    from kpi.ingest.pipeline import ingest_files
    from tests.test_app import PAGES

    store = _app_store()
    path = upload_db.parent / "abai_2026Q1.xlsx"
    path.write_bytes(blank_return("akimat_abai", "2026Q1"))
    assert ingest_files(store, load_catalogue(), load_registry(), [path]).ok  # 2026Q1 ended; 1 of 92 returns
    import streamlit as st

    st.cache_data.clear()
    for page in PAGES:
        at = run(page, query={"lang": "en"})
        assert at.sidebar.selectbox[0].value == "2025Q4", page  # the sample's last quarter, fully covered
        assert not [w for w in at.warning if "Provisional" in w.value], page
        if page == "pages/briefing.py":
            assert at.selectbox(key="brief_period").value == "2025Q4"
    # the picker still reaches the new quarter, marked provisional, and the page says so in a banner
    at = run(query={"lang": "en"})
    sidebar = at.sidebar.selectbox[0]
    assert sidebar.options[0] == "Q1 2026 *" and sidebar.options[1] == "Q4 2025"
    assert "* — provisional" in str(sidebar.help)
    for lang, words in (("en", "Provisional: 1 of 92 returns for Q1 2026"),
                        ("ru", "Предварительные данные (1 кв. 2026 г.). Получено отчётов: 1, ожидается: 92"),
                        ("kk", "Алдын ала деректер (2026 ж. 1-тоқсан). Түскен есептер: 1, күтілетін есептер: 92")):
        at = run(query={"lang": lang, "period": "2026Q1"})
        assert at.sidebar.selectbox[0].value == "2026Q1"
        assert any(w.value.startswith(words) for w in at.warning), [w.value for w in at.warning]
        marked = [m for m in at.markdown if t("periods.provisional", lang) in m.value and "badge" in m.value]
        assert len(marked) == 20  # every tile is marked provisional
    for page in ("group_2", "pages/map.py", "pages/entity.py"):
        at = run(page, query={"lang": "en", "period": "2026Q1"})
        assert any("Provisional: 1 of 92" in w.value for w in at.warning), page


def test_an_officers_pages_name_their_entity_never_the_republic(app_db: Path) -> None:  # noqa: F811
    import json

    from tests.test_app import OFFICER, PAGES

    abai = load_registry().entity_by_code["akimat_abai"]
    for lang in ("kk", "ru", "en"):
        republic = {t("level.national", lang), "Republic", "Республика", "National"}
        for page in PAGES:
            if page == "pages/admin.py":
                continue
            at = run(page, user=OFFICER, query={"lang": lang})
            shown = texts(at) + [json.loads(e.proto.spec)["layout"].get("title", {}).get("text", "")
                                 for e in at.get("plotly_chart")]
            said = [s for s in shown if any(word in s for word in republic)]
            assert said == [], (page, lang, said)
            # the filters offer only what the officer may see
            assert at.sidebar.selectbox[1].options[1:] == [t("type.akimat", lang)]
            assert at.sidebar.selectbox[2].options[1:] == [load_registry().region_by_code["abai"].name(lang)]
            if page == "pages/overview.py":
                assert any(abai.name(lang) in c.value for c in at.caption), page
            if page == "pages/briefing.py":
                assert at.segmented_control(key="brief_level").options == [t("level.entity", lang)]


def test_a_ranking_of_one_is_not_drawn_and_its_member_is_a_click_away(app_db: Path) -> None:  # noqa: F811
    from kpi import drill

    at = run("group_2", query={"lang": "en"})
    at.session_state["drill_G2"] = (drill.Step("entity_type", "akimat"), drill.Step("region", "abai"))
    at.run()
    figures = [json_spec(e) for e in at.get("plotly_chart")]
    assert not any("ranking" in f["layout"]["title"]["text"] for f in figures)  # Abai Region: one akimat
    assert t("periods.ranking_single", "en") in [i.value for i in at.info]
    at.button(key="single_G2").click().run()
    assert not at.exception
    assert at.session_state["drill_G2"][-1] == drill.Step("entity", "akimat_abai")
    assert at.button(key="profile_G2").label.startswith("Open the profile")


def json_spec(element: object) -> dict[str, object]:
    import json

    spec: dict[str, object] = json.loads(element.proto.spec)  # type: ignore[attr-defined]
    return spec
