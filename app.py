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
from kpi.store import StoreUnavailable
from pages import connection, filters, language, routes, runtime, session, signin


def run() -> None:
    """One run of the app: the signed-in user checked against the store, then the page asked for."""
    # A local image: a Material icon as the page icon makes the browser fetch it from fonts.gstatic.com.
    st.set_page_config(page_title="Parasat", page_icon=str(DATA_DIR / "icon.png"), layout="wide",
                       initial_sidebar_state="expanded")

    language.capture_initial_query()
    lang = language.lang()
    try:
        _route(lang)
    except StoreUnavailable as problem:  # a database server out of reach, a missing key: said in the user's words
        st.error(problem.message(lang), icon=":material/cloud_off:")
        st.stop()


def _route(lang: str) -> None:
    with st.spinner(t("app.loading", lang)):
        connection.get_store()
        runtime.tune_gc()  # once per process: freeze the start-up heap (the config has no full collection per run)
    user = session.refresh_user()  # one indexed query: a disabled user, or a changed role, takes effect now
    # Before sign-in every page is registered (hidden), so a shared link still opens its page afterwards.
    pages = routes.pages(lang, can_upload=user is None or user.can_upload,
                         can_administer=user is None or user.is_admin)

    if user is None and get_settings().require_sign_in:
        st.navigation(pages, position="hidden")
        language.language_switch()
        signin.sign_in_form()
        st.stop()

    page = st.navigation(pages, position="sidebar", expanded=True)
    language.language_switch()
    filters.sidebar_filters()
    signin.account_box()
    st.sidebar.caption(t("app.footer", lang))
    with routes.drawing(page):
        page.run()


if __name__ == "__main__":
    run()
else:  # imported by the web server
    from pages import web

    routes.leave_legacy_pages()  # before any session: a link to any page, group pages too, opens it first time
    app = st.App(__file__, routes=web.ROUTES, middleware=web.MIDDLEWARE)
