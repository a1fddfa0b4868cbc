"""Parasat: the entry point. It only routes: page setup, the language switch and shared filters, the page list."""

from __future__ import annotations

import streamlit as st

from kpi.i18n import t
from pages import ui

st.set_page_config(page_title="Parasat", page_icon=":material/verified_user:", layout="wide",
                   initial_sidebar_state="expanded")

ui.capture_initial_query()
lang = ui.lang()

groups = ui.catalogue().groups
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
        # st.Page("pages/compliance.py", ...)  -- issue 4: task evidence and formalism flags
        # st.Page("pages/briefing.py", ...)    -- issue 5: briefing packs
    ],
    t("nav.returns", lang): [
        st.Page("pages/upload.py", title=t("nav.upload", lang), icon=":material/upload_file:", url_path="upload"),
        st.Page("pages/submissions.py", title=t("nav.submissions", lang), icon=":material/fact_check:",
                url_path="submissions"),
        # st.Page("pages/admin.py", ...)       -- issue 6: users, roles, registry, targets, audit
    ],
}

with st.spinner(t("app.loading", lang)):
    ui.get_store()
page = st.navigation(pages, position="sidebar", expanded=True)
ui.language_switch()
ui.sidebar_filters()
st.sidebar.caption(t("app.footer", lang))
page.run()
