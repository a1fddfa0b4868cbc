"""The app's pages and the ways between them: the page list `app.py` hands to `st.navigation` (one group page
script registered once per project group of the catalogue), the page a run is drawing, and the moves from one
page to another with a choice handed over (a profile on the KPI the analyst came with, the evidence of a KPI).

The page scripts sit in `pages/`, the folder Streamlit's legacy multipage mode reads. Once `st.navigation` has been
called, Streamlit ignores that folder for good (across all sessions): the web server calls it as it starts
(`leave_legacy_pages`), so the first link opened finds its page (a group page has no file of its own name).
Where no server started first (every `AppTest` run), the legacy mode may run a page script alone, by its file
name: `ensure_routed` catches that and runs `app.py`, whose `st.navigation` call draws the page asked for.
"""

from __future__ import annotations

import logging
import runpy
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from kpi.catalogue import Group
from kpi.i18n import t
from pages.connection import catalogue

APP_SCRIPT = Path(__file__).resolve().parent.parent / "app.py"
GROUP_SCRIPT = "pages/group.py"
HANDOVER_PREFIX = "_handover_"
TRAIL_KEY = "_trail"
EVIDENCE_CELL_KEY = "_evidence_cell"

_run = threading.local()  # the page app.py is drawing on this script run's thread


def group_page(group: Group, lang: str = "kk") -> st.Page:
    """The page of one project group: the one group script, at `group_<number>`."""
    return st.Page(GROUP_SCRIPT, title=t("nav.group", lang, number=group.number),
                   icon=":material/stacked_bar_chart:", url_path=f"group_{group.number}")


def pages(lang: str, *, can_upload: bool, can_administer: bool) -> dict[str, list[st.Page]]:
    """Every page by section of the sidebar, in the user's language (upload and administration as the role allows)."""
    return {
        t("nav.dashboard", lang): [
            st.Page("pages/overview.py", title=t("nav.overview", lang), icon=":material/dashboard:",
                    url_path="overview", default=True),
            *[group_page(group, lang) for group in catalogue().groups],
            st.Page("pages/entity.py", title=t("nav.entity", lang), icon=":material/account_balance:",
                    url_path="entity"),
            st.Page("pages/map.py", title=t("nav.map", lang), icon=":material/map:", url_path="map"),
            st.Page("pages/compliance.py", title=t("nav.compliance", lang), icon=":material/task_alt:",
                    url_path="compliance"),
            st.Page("pages/briefing.py", title=t("briefing.page.title", lang), icon=":material/slideshow:",
                    url_path="briefing"),
        ],
        t("nav.returns", lang): [
            *([st.Page("pages/upload.py", title=t("nav.upload", lang), icon=":material/upload_file:",
                       url_path="upload")] if can_upload else []),
            st.Page("pages/submissions.py", title=t("nav.submissions", lang), icon=":material/fact_check:",
                    url_path="submissions"),
            *([st.Page("pages/admin.py", title=t("nav.admin", lang), icon=":material/admin_panel_settings:",
                       url_path="admin")] if can_administer else []),
        ],
    }


@contextmanager
def drawing(page: st.Page) -> Iterator[None]:
    """Mark the page `st.navigation` chose as the one this run draws, while it draws."""
    _run.url_path = page.url_path
    try:
        yield
    finally:
        _run.url_path = None


def _starting() -> None:
    """The page `leave_legacy_pages` names: never drawn (no session exists yet)."""


def leave_legacy_pages() -> None:
    """Call `st.navigation` once as the server starts, before any session: Streamlit then ignores the `pages/`
    folder for every session, so no first run goes to a page script by its file name (a link to a group
    page would get Streamlit's "Page not found"). Outside a script run it registers nothing and draws nothing."""
    context_log = logging.getLogger("streamlit.runtime.scriptrunner_utils.script_run_context")
    level = context_log.level
    context_log.setLevel(logging.ERROR)  # "missing ScriptRunContext": expected here, no session exists yet
    try:
        st.navigation([st.Page(_starting, title="Parasat", default=True)], position="hidden")
    finally:
        context_log.setLevel(level)


def ensure_routed() -> None:
    """Make sure the page runs under app.py's router: when Streamlit's legacy mode ran the page script alone, run
    app.py in this same run (so widget events of this run are not lost) and stop; app.py routes the same URL
    back to this page."""
    if getattr(_run, "url_path", None) is None:
        runpy.run_path(str(APP_SCRIPT), run_name="__main__")
        st.stop()


def current_group() -> Group:
    """The project group whose page this run draws (the group script is registered once per group)."""
    ensure_routed()
    url_path = getattr(_run, "url_path", None)
    for group in catalogue().groups:
        if url_path == group_page(group).url_path:
            return group
    raise LookupError(f"not a group page: {url_path!r}")


def hand_over(key: str, value: Any) -> None:
    """Choose a control on another page before switching to it (a widget's own key does not outlive a run
    in which the widget is not drawn, so the choice waits under a key of its own)."""
    st.session_state[HANDOVER_PREFIX + key] = value


def take_over(key: str, options: Sequence[Any] | None = None) -> bool:
    """Apply a choice another page handed over for this control (when it is one of the options, if given);
    it wins over the link, which may still carry what the page showed before."""
    if HANDOVER_PREFIX + key in st.session_state:
        value = st.session_state.pop(HANDOVER_PREFIX + key)
        if options is None or value in options:
            st.session_state[key] = value
            return True
    return False


@dataclass(frozen=True)
class Trail:
    """Where an entity's profile was opened from: a group page, its KPI and the drill path down to the entity."""

    group: str
    kpi: str
    drill: str


def open_group(group: Group) -> None:
    """Switch to a project group's page."""
    st.switch_page(group_page(group))


def open_profile(code: str, kpi_id: str, *, trail: Trail | None = None) -> None:
    """Open an entity's profile on the KPI the analyst came with; the trail lets its breadcrumbs walk back."""
    hand_over("entity_code", code)
    hand_over("entity_kpi", kpi_id)
    st.session_state[TRAIL_KEY] = trail
    st.switch_page("pages/entity.py")


def open_documents(code: str, kpi_id: str) -> None:
    """Open the supporting documents page on one entity and KPI, with the first of the KPI's tasks shown."""
    kpi = catalogue().kpi_by_id[kpi_id]
    tasks = [task.id for project in kpi.projects for task in project.tasks]
    hand_over("compliance_group", kpi.group_id)
    hand_over("compliance_kpi", kpi_id)
    hand_over("compliance_entity", code)
    st.session_state[EVIDENCE_CELL_KEY] = (code, tasks[0]) if tasks else None
    st.switch_page("pages/compliance.py")
