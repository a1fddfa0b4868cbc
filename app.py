"""Parasat: the entry point. It only routes: page setup, the language switch and shared filters, the page list.

Streamlit runs this file as the script of every page run (`__main__`). `streamlit run app.py` also finds the
`st.App` below and imports the file as a module to serve it with the session-cookie route and the security
headers of `pages/web.py`.
"""

from __future__ import annotations

import streamlit as st

from kpi.catalogue import DATA_DIR
from kpi.i18n import t
from kpi.settings import get_settings
from pages import ui


def run() -> None:
    """One run of the app: the signed-in user checked against the store, then the page asked for."""
    # A local image: a Material icon as the page icon makes the browser fetch it from fonts.gstatic.com.
    st.set_page_config(page_title="Parasat", page_icon=str(DATA_DIR / "icon.png"), layout="wide",
                       initial_sidebar_state="expanded")

    ui.capture_initial_query()
    lang = ui.lang()

    with st.spinner(t("app.loading", lang)):
        ui.get_store()
        ui.tune_gc()  # once per process: freeze the start-up heap (the config has no full collection per run)
    user = ui.refresh_user()  # one indexed query: a disabled user, or a changed role, takes effect now
    groups = ui.catalogue().groups
    # Before sign-in every page is registered (hidden), so a shared link still opens its page afterwards.
    can_upload = user is None or user.can_upload
    can_administer = user is None or user.is_admin
    pages = {
        t("nav.dashboard", lang): [
            st.Page("pages/overview.py", title=t("nav.overview", lang), icon=":material/dashboard:", url_path="overview",
                    default=True),
            *[
                st.Page(f"pages/group_{g.number}.py", title=t("nav.group", lang, number=g.number),
                        icon=":material/stacked_bar_chart:", url_path=f"group_{g.number}")  # = the file name, see ui.ensure_routed
                for g in groups
            ],
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

    if user is None and get_settings().require_sign_in:
        st.navigation(pages, position="hidden")
        ui.language_switch()
        ui.sign_in_form()
        st.stop()

    page = st.navigation(pages, position="sidebar", expanded=True)
    ui.language_switch()
    ui.sidebar_filters()
    ui.account_box()
    st.sidebar.caption(t("app.footer", lang))
    page.run()


if __name__ == "__main__":
    run()
else:  # imported by the web server
    from pages import web

    app = st.App(__file__, routes=web.ROUTES, middleware=web.MIDDLEWARE)
