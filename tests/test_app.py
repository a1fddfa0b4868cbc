"""Every page of the dashboard, rendered through Streamlit's AppTest on the sample data, in every language."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from kpi import audit, auth, drill, labels, views
from kpi.catalogue import load_catalogue, load_registry
from kpi.compliance import compliance, compliance_scores
from kpi.engine import KpiEngine
from kpi.i18n import t
from kpi.sample import fill_by_names
from kpi.service import engine, open_store
from kpi.settings import get_settings
from kpi.store import Store
from kpi.template import build_template
from tests.conftest import zero_values

ROOT = Path(__file__).resolve().parent.parent
APP = str(ROOT / "app.py")
LANGUAGES = ("kk", "ru", "en")
PAGES = ["pages/overview.py", *[f"group_{n}" for n in range(1, 5)], "pages/entity.py", "pages/map.py",
         "pages/upload.py", "pages/submissions.py", "pages/compliance.py", "pages/briefing.py", "pages/admin.py"]
RAW_KEY = re.compile(r"^(app|nav|filter|overview|tile|group|drill|chart|entity|map|upload|submissions?|col|"
                     r"export|status|type|unit|level|period|compliance|flag|auth|admin|role|briefing)\.[a-z_0-9.]+$")
ADMIN = auth.User("admin", "Administrator", "admin")
ANALYST = auth.User("analyst", "Analyst", "analyst")
OFFICER = auth.User("abai.officer", "Officer", "officer", frozenset({"akimat_abai"}))


@contextmanager
def app_database(path: Path) -> Iterator[None]:
    """Point the app (and every process-wide cache) at one database file for the duration."""
    saved = os.environ.get("PARASAT_DB_PATH")
    os.environ["PARASAT_DB_PATH"] = str(path)
    _forget_caches()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("PARASAT_DB_PATH", None)
        else:
            os.environ["PARASAT_DB_PATH"] = saved
        _forget_caches()


def _forget_caches() -> None:
    st.cache_resource.clear()  # closes the app's connection (on_release)
    st.cache_data.clear()
    get_settings.cache_clear()
    engine.cache_clear()


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default database loaded with the sample returns once per session (it takes seconds)."""
    path = tmp_path_factory.mktemp("app") / "parasat.duckdb"
    with app_database(path):
        store = open_store()
        try:
            assert not store.is_empty(), "the sample returns did not load: regenerate data/sample"
        finally:
            store.close()
    return path


@pytest.fixture(scope="session")
def app_db(sample_db: Path) -> Iterator[Path]:
    with app_database(sample_db):
        yield sample_db


@pytest.fixture(scope="session")
def latest(app_db: Path) -> str:
    return views.available_periods(_app_store().cursor())[-1]


def _app_store() -> Store:
    """The same connection the app uses (DuckDB allows one per database file and process)."""
    from pages import connection

    return connection.get_store()


def run(page: str | None = None, *, query: dict[str, str] | None = None, state: dict[str, Any] | None = None,
        timeout: float = 60, user: auth.User | None = ADMIN) -> AppTest:
    """Render the app signed in as `user` (the overview, or another page after a first run, as a link would)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for name, value in (query or {}).items():
        at.query_params[name] = value
    if user is not None:
        provision(user)
        at.session_state["_user"] = user
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    if page is not None and page != "pages/overview.py":
        for name, value in (state or {}).items():
            at.session_state[name] = value
        for name, value in (query or {}).items():  # a link to the page carries its own parameters
            at.query_params[name] = value
        open_page(at, page).run()
        assert not at.exception, [e.message for e in at.exception]
    return at


def open_page(at: AppTest, page: str) -> AppTest:
    """Go to a page as its link does: a page script (`pages/map.py`), or a project group's page by its URL path
    (`group_2`). The one group script is registered once per group and AppTest.switch_page finds a page by its
    script, so a group page is found by its URL path among the pages st.navigation registered."""
    if not page.startswith("group_"):
        return at.switch_page(page)
    registered = at._registered_pages  # AppTest keeps them to resolve switch_page()
    at._page_hash = next(h for h, info in registered.items() if info.get("url_pathname") == page)
    return at


def provision(user: auth.User) -> None:
    """Make sure the user exists in the app's store as given (each run checks its user against the store)."""
    store = _app_store()
    if auth.get_user(store, user.username) is None:
        auth.create_user(store, user.username, None, user.role, display_name=user.display_name,
                         entities=sorted(user.entities))
    elif auth.get_user(store, user.username) != auth.User(user.username, user.display_name, user.role, user.entities):
        auth.update_user(store, user.username, role=user.role, entities=sorted(user.entities), actor="test")


def texts(at: AppTest) -> list[str]:
    """Every text the page shows: headings, markdown, captions, labels, metric labels, buttons."""
    shown: list[str] = []
    for kind in ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        shown += [str(e.value) for e in getattr(at, kind)]
    shown += [m.label for m in at.metric] + [str(m.value) for m in at.metric]
    shown += [b.label for b in at.button] + [s.label for s in at.selectbox]
    return shown


def plotly_figures(at: AppTest) -> list[dict[str, Any]]:
    import json

    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


# --------------------------------------------------------------------------- every page, every language


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_in_every_language(app_db: Path, page: str, lang: str) -> None:
    at = run(page, query={"lang": lang})
    shown = texts(at)
    assert at.title, f"{page} has no title"
    raw = [s for s in shown if RAW_KEY.match(s.strip())]
    assert raw == [], f"raw message keys on {page}: {raw}"
    assert at.query_params["lang"] == lang
    sidebar_labels = [s.label for s in at.sidebar.selectbox]
    assert sidebar_labels == [t("filter.period", lang), t("filter.entity_type", lang), t("filter.region", lang)]
    if lang != "en":
        assert not any(s.strip() in ("Overview", "Entity profile", "Submissions") for s in shown)


@pytest.mark.parametrize("page", PAGES)
def test_an_empty_database_shows_the_empty_state_on_every_page(app_db: Path, tmp_path: Path, page: str,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KPI_DB", str(tmp_path / "empty.duckdb"))
    _forget_caches()
    try:
        at = run(page, query={"lang": "en"})
        assert at.title
        if page not in ("pages/upload.py", "pages/admin.py"):
            assert t("app.no_returns", "en") in [i.value for i in at.info] or t(
                "briefing.page.no_data", "en") in [i.value for i in at.info]
            assert not at.get("plotly_chart")
    finally:
        monkeypatch.delenv("KPI_DB")
        _forget_caches()


# --------------------------------------------------------------------------- overview


@pytest.mark.parametrize("lang", LANGUAGES)
def test_overview_shows_twenty_tiles_with_the_engines_values(app_db: Path, latest: str, lang: str) -> None:
    at = run(query={"lang": lang})
    catalogue = load_catalogue()
    cur = _app_store().cursor()
    values = {v.kpi: v for v in KpiEngine(catalogue, load_registry()).compute(
        cur, [latest], levels=["national"], metrics=[k.id for k in catalogue.kpis])}
    tiles = {m.label.split(" · ")[0]: m for m in at.metric if re.match(r"^G\d\.K\d+ · ", m.label)}
    assert sorted(tiles) == sorted(k.id for k in catalogue.kpis)
    assert len(tiles) == 20
    for kpi in catalogue.kpis:
        assert tiles[kpi.id].value == labels.fmt(values[kpi.id].value, kpi.unit, lang), kpi.id
        assert tiles[kpi.id].label == f"{kpi.id} · {kpi.short(lang)}"
    headings = [h.value for h in at.header]
    assert len(headings) == 4 and all(t("nav.group", lang, number=n) in h for n, h in enumerate(headings, 1))


def test_overview_coverage_is_returns_received_of_expected(app_db: Path, latest: str) -> None:
    at = run(query={"lang": "en"})
    coverage = next(m for m in at.metric if m.label == t("overview.coverage", "en"))
    registry = load_registry()
    received = views.coverage(_app_store().cursor(), registry, latest)
    assert coverage.value == f"{received.received} / {len(registry.entities)}"


def test_filters_come_from_the_url_and_go_back_into_it(app_db: Path) -> None:
    at = run(query={"lang": "ru", "period": "2025Q2", "type": "akimat", "region": "abai"})
    assert at.sidebar.selectbox[0].value == "2025Q2"
    assert at.sidebar.selectbox[1].value == "akimat"
    assert at.sidebar.selectbox[2].value == "abai"
    assert {k: at.query_params[k] for k in ("lang", "period", "type", "region")} == {
        "lang": "ru", "period": "2025Q2", "type": "akimat", "region": "abai"}
    coverage = next(m for m in at.metric if m.label == t("overview.coverage", "ru"))
    assert coverage.value.endswith("/ 1"), "one akimat in Abai region"
    at.sidebar.selectbox[1].set_value("__all__").run()
    assert "type" not in at.query_params


def test_filters_are_kept_across_pages(app_db: Path) -> None:
    at = run(query={"lang": "en", "period": "2025Q1"})
    at.switch_page("pages/submissions.py").run()
    assert at.sidebar.selectbox[0].value == "2025Q1"
    assert at.query_params["period"] == "2025Q1"
    assert "Q1 2025" in plotly_figures(at)[0]["layout"]["title"]["text"]


def test_language_switch_relabels_the_filters_and_keeps_their_values(app_db: Path) -> None:
    """Bug: a selectbox keyed across languages went on showing the old language's label for its choice."""
    at = run(query={"lang": "kk", "type": "akimat"})
    assert at.sidebar.selectbox[1].value == "akimat"
    at.sidebar.segmented_control[0].set_value("ru").run()
    assert not at.exception
    assert at.sidebar.selectbox[1].value == "akimat"
    assert at.sidebar.selectbox[1].options[0] == t("filter.all_types", "ru")
    assert at.sidebar.selectbox[1].label == t("filter.entity_type", "ru")
    assert at.query_params["lang"] == "ru" and at.query_params["type"] == "akimat"
    at.run()
    assert at.sidebar.segmented_control[0].value == "ru", "the language survives the next run"


def test_an_unknown_period_in_the_link_falls_back_to_the_latest(app_db: Path, latest: str) -> None:
    at = run(query={"period": "1999Q1", "type": "nonsense"})
    assert at.sidebar.selectbox[0].value == latest
    assert at.query_params["period"] == latest


# --------------------------------------------------------------------------- group pages and drill-down


def test_group_page_shows_trend_breakdown_and_ranking_for_each_kpi(app_db: Path) -> None:
    at = run("group_2", query={"lang": "en"})
    control = at.segmented_control[0]
    assert list(control.options) == [k.id for k in load_catalogue().group("G2").kpis] or control.value == "G2.K1"
    figures = plotly_figures(at)
    titles = [f["layout"]["title"]["text"].replace("<br>", " ") for f in figures]
    assert len(figures) == 3, titles
    assert titles[0].startswith("G2.K1") and "trend" in titles[0]
    assert "breakdown" in titles[1]
    assert "ranking by entity type" in titles[2]
    ranking = figures[2]["data"][0]
    assert sorted(row[0] for row in ranking["customdata"]) == ["akimat", "central_body"]
    assert at.query_params["kpi"] == "G2.K1"


def test_the_drill_path_from_the_nation_to_one_entity(app_db: Path, latest: str) -> None:
    """Clicks cannot be driven from AppTest; the drill state they set is, and each level renders."""
    path: drill.DrillPath = ()
    at = run("group_2", query={"lang": "en"})
    expected_levels = ["entity type", "region", "entity"]
    for level_text, key in zip(expected_levels, ["akimat", "almaty", "akimat_almaty"]):
        figures = plotly_figures(at)
        if level_text == "entity":  # Almaty city has one akimat: a ranking of one is not drawn (issue 11)
            assert not any("ranking" in f["layout"]["title"]["text"] for f in figures)
            assert t("periods.ranking_single", "en") in [i.value for i in at.info]
            assert at.button(key="single_G2").label.startswith("Open: ")
        else:
            assert f"ranking by {level_text}" in figures[-1]["layout"]["title"]["text"].replace("<br>", " ")
            keys = [row[0] for row in figures[-1]["data"][0]["customdata"]]
            assert key in keys
        path = (*path, drill.Step({"entity type": "entity_type"}.get(level_text, level_text), key))
        at.session_state["drill_G2"] = path
        at.run()
        assert not at.exception
    crumbs = [b.label for b in at.button if b.key and b.key.startswith("drill_G2_crumb_")]
    assert crumbs[0] == t("level.national", "en") and "Almaty" in crumbs[-1]
    assert at.query_params["drill"] == drill.encode(path)
    assert at.button(key="profile_G2").label.startswith("Open the profile")
    at.button(key="drill_G2_crumb_1").click().run()
    assert at.session_state["drill_G2"] == path[:1]


def test_a_drill_link_reopens_the_same_view(app_db: Path) -> None:
    at = run("group_2", query={"lang": "en", "kpi": "G2.K3", "drill": "entity_type:central_body"})
    assert at.segmented_control[0].value == "G2.K3"
    title = plotly_figures(at)[-1]["layout"]["title"]["text"]
    assert "G2.K3" in title and "ranking by entity" in title.replace("<br>", " ")


def test_group_three_universities_start_at_regions(app_db: Path) -> None:
    at = run("group_3", query={"lang": "en"}, state={"kpi_G3": "G3.K4"})
    assert at.segmented_control[0].value == "G3.K4"
    assert "ranking by region" in plotly_figures(at)[-1]["layout"]["title"]["text"].replace("<br>", " ")


# --------------------------------------------------------------------------- entity, map, submissions


def test_entity_profile_lists_its_kpis_returns_and_rank(app_db: Path, latest: str) -> None:
    at = run("pages/entity.py", query={"lang": "en"}, state={"entity_code": "akimat_abai"})
    assert at.header[0].value == load_registry().entity_by_code["akimat_abai"].name("en")
    kpi_table = at.dataframe[0].value
    assert list(kpi_table["KPI"])[:2] == ["G1.K1", "G1.K2"]
    assert all(" of " in r or r == "—" for r in kpi_table["Rank"])
    returns = at.dataframe[1].value
    assert labels.period_label(latest, "en") in set(returns["Period"])  # periods written the language's way
    assert at.query_params["entity"] == "akimat_abai"


def test_map_page_colours_regions_and_lists_a_clicked_regions_entities(app_db: Path) -> None:
    at = run("pages/map.py", query={"lang": "ru"}, state={"map_kpi": "G3.K4"})
    figure = plotly_figures(at)[0]
    codes = {row[0] for trace in figure["data"] if trace.get("customdata") for row in trace["customdata"]}
    assert {r.code for r in load_registry().regions} <= codes
    at.session_state["map_region"] = "almaty"
    at.run()
    assert at.header[0].value == load_registry().region_by_code["almaty"].name("ru")
    ranking = plotly_figures(at)[-1]["data"][0]
    assert {row[0] for row in ranking["customdata"]} <= {e.code for e in load_registry().entities
                                                          if e.region == "almaty" and e.type == "university"}


def test_submissions_page_counts_match_the_views(app_db: Path, latest: str) -> None:
    at = run("pages/submissions.py", query={"lang": "en"})
    table = views.submissions(_app_store().cursor(), engine(), latest, lang="en",
                              deadline_days=get_settings().submission_deadline_days)
    summary = views.submission_summary(table)
    shown = {m.label: m.value for m in at.metric}
    assert shown["Expected"] == str(summary["expected"])
    assert shown["Late"] == str(summary["late"])
    assert shown["Missing"] == str(summary["missing"])
    assert len(at.dataframe) == 2


def test_every_chart_has_png_svg_xlsx_and_csv_downloads(app_db: Path) -> None:
    at = run("group_2", query={"lang": "kk"})
    labels = [b.label for b in at.download_button]
    charts = len(at.get("plotly_chart"))
    assert labels.count("XLSX") >= charts and labels.count("CSV") >= charts
    from kpi.export import chromium_path

    if chromium_path() is not None:
        assert labels.count("PNG") == charts and labels.count("SVG") == charts


# --------------------------------------------------------------------------- upload


@pytest.fixture
def upload_db(sample_db: Path, tmp_path: Path) -> Iterator[Path]:
    """A private copy of the sample database, so saving an upload does not change what other tests see."""
    copy = tmp_path / "parasat.duckdb"
    shutil.copy(sample_db, copy)
    shutil.copy(sample_db.with_suffix(".secret"), copy.with_suffix(".secret"))  # the audit trail's key goes with it
    with app_database(copy):
        yield copy
    # back to the shared database for the tests that follow
    os.environ["PARASAT_DB_PATH"] = str(sample_db)
    _forget_caches()


def corrected_return(entity: str, period: str, figures: dict[str, Any]) -> bytes:
    catalogue, registry = load_catalogue(), load_registry()
    cur = _app_store().cursor()
    current = dict(cur.execute(
        "SELECT measure, value FROM current_value WHERE entity_code = ? AND period = ?", [entity, period]).fetchall())
    values = zero_values(catalogue, registry, entity) | current | figures
    return fill_by_names(build_template(catalogue, registry, entity, period), values)


def test_upload_previews_then_saves_and_the_overview_changes(upload_db: Path, latest: str) -> None:
    """Also guards a fixed bug: a click on a page reached by a link was lost when the page rerouted itself."""
    at = run("pages/upload.py", query={"lang": "en"})
    assert any(i.value == t("upload.nothing_yet", "en") for i in at.info)
    cur = _app_store().cursor()
    current = dict(cur.execute(
        "SELECT measure, value FROM current_value WHERE entity_code = 'akimat_abai' AND period = ?",
        [latest]).fetchall())
    content = corrected_return("akimat_abai", latest, {"subdivisions_analysed": 0})
    at.file_uploader[0].set_value(("abai_fixed.xlsx", content,
                                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")).run()
    assert not at.exception
    assert any("will replace" in m.value for m in at.markdown), texts(at)
    changes = at.dataframe[0].value
    assert changes.to_dict("records")[0]["Old"] == current["subdivisions_analysed"]
    assert changes.to_dict("records")[0]["New"] == 0
    before = views.headline(cur, engine(), [latest], ["G1.K1"])[("G1.K1", latest)]
    at.button(key="upload_confirm").click().run()
    assert not at.exception
    assert any(t("upload.saved", "en", count=1) == s.value for s in at.success), (texts(at), at.session_state["_upload_result"].as_dict("en") if "_upload_result" in at.session_state else None)
    after = views.headline(_app_store().cursor(), engine(), [latest], ["G1.K1"])[("G1.K1", latest)]
    assert after.numerator == before.numerator - current["subdivisions_analysed"]
    at.switch_page("pages/overview.py").run()
    tile = next(m for m in at.metric if m.label.startswith("G1.K1 · "))
    assert tile.value == labels.fmt(after.value, "percent", "en")


def test_upload_preview_and_confirm_read_each_file_once(upload_db: Path, latest: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 12: the plan checked for the preview is what the confirmation writes; no second sandboxed read."""
    from kpi.ingest import sandbox

    reads: list[str] = []
    original = sandbox.ReaderPool.read

    def counting(self: sandbox.ReaderPool, paths: Any, on_result: Any = None) -> Any:
        reads.extend(paths)
        return original(self, paths, on_result)

    monkeypatch.setattr(sandbox.ReaderPool, "read", counting)
    at = run("pages/upload.py", query={"lang": "en"})
    files = [("abai.xlsx", corrected_return("akimat_abai", latest, {"subdivisions_analysed": 0})),
             ("astana.xlsx", corrected_return("akimat_astana", latest, {"subdivisions_analysed": 1}))]
    at.file_uploader[0].set_value([(name, content, "application/octet-stream") for name, content in files]).run()
    assert not at.exception and len(reads) == 2
    at.run()  # a rerun (any click) keeps the plan
    assert len(reads) == 2
    at.button(key="upload_confirm").click().run()
    assert not at.exception
    assert any(t("upload.saved", "en", count=2) == s.value for s in at.success), texts(at)
    assert len(reads) == 2, "confirming read the files again"
    assert "_upload_batch" not in at.session_state
    assert all(o.data is None for o in at.session_state["_upload_result"].outcomes), "session state stays small"


def test_the_template_picker_reruns_alone_and_keeps_the_choice(app_db: Path) -> None:
    """Issue 12: the blank-return picker is a fragment; choosing in it keeps the choice and the download."""
    at = run("pages/upload.py", query={"lang": "en"})
    code = "akimat_astana"
    assert at.selectbox(key="template_entity@en").value != code
    at.selectbox(key="template_entity@en").select(code).run()
    assert not at.exception
    assert at.selectbox(key="template_entity@en").value == code
    assert at.session_state["template_entity"] == code
    assert [b for b in at.get("download_button") if b.proto.id and "template_download" in b.proto.id]
    assert at.file_uploader, "the upload tab is still drawn"


def test_a_bad_file_is_listed_cell_by_cell_and_cannot_be_saved(upload_db: Path, latest: str) -> None:
    at = run("pages/upload.py", query={"lang": "ru"})
    content = corrected_return("akimat_abai", latest, {"subdivisions_total": 2, "subdivisions_analysed": 5})
    at.file_uploader[0].set_value(("bad.xlsx", content, "application/octet-stream")).run()
    assert at.error, "the file's errors are shown"
    issues = at.table[0].value.reset_index()  # few errors: a table that wraps each message whole
    assert t("col.cell", "ru") in issues.columns and issues[t("col.cell", "ru")].iloc[0]
    assert not [b for b in at.button if b.key == "upload_confirm"]


# --------------------------------------------------------------------------- sign-in and roles


def test_sign_in_form_checks_the_password_and_records_it(app_db: Path) -> None:
    store = _app_store()
    if not auth.get_user(store, "reader1"):
        auth.create_user(store, "reader1", "a long enough password", "analyst")
    at = run(user=None, query={"lang": "en"})
    assert [x.label for x in at.text_input] == [t("auth.username", "en"), t("auth.password", "en")]
    assert not at.get("plotly_chart")  # nothing is shown before sign-in
    at.text_input(key="signin_username").input("reader1")
    at.text_input(key="signin_password").input("wrong password")
    at.button[0].click().run()
    assert [e.value for e in at.error] == [t("security.refused", "en")]
    at.text_input(key="signin_username").input("reader1")
    at.text_input(key="signin_password").input("a long enough password")
    at.button[0].click().run()
    assert not at.exception and not at.error
    assert at.session_state["_user"].username == "reader1"
    assert at.title[0].value == t("overview.title", "en")
    actions = [(e["actor"], e["action"]) for e in audit.read(store.audit_path)]
    assert ("reader1", "sign_in_failed") in actions and ("reader1", "sign_in") in actions


@pytest.mark.parametrize(("user", "upload", "admin"), [(ANALYST, False, False), (OFFICER, True, False),
                                                       (ADMIN, True, True)])
def test_each_role_sees_its_pages(app_db: Path, user: auth.User, upload: bool, admin: bool) -> None:
    at = run(user=user, query={"lang": "en"})
    registered = _registered_pages(at)
    assert ("upload.py" in registered) is upload
    assert ("admin.py" in registered) is admin
    assert {"overview.py", "compliance.py", "briefing.py", "submissions.py"} <= registered


def _registered_pages(at: AppTest) -> set[str]:
    """The page scripts st.navigation registered for this session in its last run."""
    registered = at._registered_pages  # AppTest keeps them to resolve switch_page()
    return {Path(str(info["script_path"])).name for info in registered.values() if info.get("script_path")}


def test_an_officer_sees_only_the_assigned_entity(app_db: Path, latest: str) -> None:
    at = run("pages/compliance.py", user=OFFICER, query={"lang": "en"})
    assert [o for o in at.selectbox(key="compliance_entity").options] == [
        load_registry().entity_by_code["akimat_abai"].name.en]
    entity = run("pages/entity.py", user=OFFICER, query={"lang": "en"})
    assert entity.selectbox(key="entity_code@en").options == [
        load_registry().entity_by_code['akimat_abai'].name.en]  # names, no codes (issue 15)


def test_admin_page_sets_a_target_on_the_audit_trail(upload_db: Path, latest: str) -> None:
    at = run("pages/admin.py", user=ADMIN, query={"lang": "en"})
    assert [tab.label for tab in at.tabs] == [t(f"admin.{k}", "en") for k in ("users", "targets", "registry", "audit")]
    at.selectbox(key="admin_target_metric").set_value("G2.K1")
    at.number_input(key="admin_target_year").set_value(int(latest[:4]))
    at.number_input(key="admin_target_value").set_value(66.0)
    next(b for b in at.button if b.label == t("admin.save", "en")).click().run()
    assert not at.exception
    cur = _app_store().cursor()
    assert cur.execute("SELECT value, set_by FROM kpi_target WHERE metric = 'G2.K1' AND year = ?",
                       [int(latest[:4])]).fetchone() == (66.0, "admin")
    assert audit.read(_app_store().audit_path)[-1]["action"] == "target_set"


def test_compliance_page_shows_matrix_scores_and_flags(app_db: Path, latest: str) -> None:
    at = run("pages/compliance.py", query={"lang": "ru"})
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    assert [s.value for s in at.header] == [t("compliance.matrix", "ru"), t("compliance.scores", "ru"),
                                              t("compliance.flags", "ru")]
    results = compliance(_app_store().cursor(), load_catalogue(), load_registry(), latest)
    weakest = min(compliance_scores(results).items(), key=lambda item: (item[1], item[0]))
    assert at.selectbox(key="compliance_entity").value == weakest[0]


def test_map_colours_by_status_and_offers_a_regions_one_entity(app_db: Path, latest: str) -> None:
    """Issue 15: colours against the target with a titled legend; a region of one akimat offers its profile."""
    at = run("pages/map.py", query={"lang": "en"}, state={"map_kpi": "G2.K1"})
    figure = plotly_figures(at)[0]
    assert figure["layout"]["legend"]["title"]["text"].startswith(t("chart.target", "en") + ": ")
    legend = [trace["name"] for trace in figure["data"] if trace.get("showlegend")]
    assert legend and set(legend) <= {t(f"status.{s}", "en") for s in ("met", "at_risk", "missed", "no_data")}
    at.session_state["map_region"] = "karaganda"
    at.run()
    akimat = next(e for e in load_registry().entities if e.region == "karaganda" and e.type == "akimat")
    value = engine().compute(_app_store().cursor(), [latest], levels=["entity"], metrics=["G2.K1"],
                             within=frozenset({akimat.code}))[0]
    shown = " ".join(m.value for m in at.markdown)
    assert f"**{akimat.name('en')}**: {labels.fmt(value.value, 'percent', 'en')}" in shown
    assert t(f"status.{value.status}", "en") in shown
    assert at.button(key="map_profile").label == t("group.open_profile", "en", name=akimat.name("en"))
    assert at.query_params["focus"] == "karaganda"


@pytest.mark.parametrize("lang", ["kk", "ru", "en"])
def test_a_database_server_out_of_reach_is_said_in_the_users_language(lang: str) -> None:
    """KPI_DB names a PostgreSQL on a loopback port where nothing listens: every page run says so in words, with
    the address but never the password, and raises nothing."""
    import socket

    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql://parasat:hunter2secret@127.0.0.1:{port}/parasat"
    with app_database(url):  # type: ignore[arg-type]
        at = AppTest.from_file(APP, default_timeout=60)
        at.query_params["lang"] = lang
        at.run()
        assert not at.exception, [e.message for e in at.exception]
        [error] = at.error
        expected_start = t("db.unreachable", lang, location="@", reason="@").split("@")[0]
        assert error.value.startswith(expected_start), error.value
        assert f"127.0.0.1:{port}" in error.value and "hunter2secret" not in error.value
        assert not at.sidebar.radio and not at.text_input  # no page, no sign-in form behind a database it cannot reach
