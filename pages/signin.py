"""Sign-in: the local user store (argon2 hashes, lock-out), or the organisation's identity provider when configured."""

import streamlit as st

from pages import ui

lang = ui.lang()
ui.page_header(ui.text("auth.title"), ui.text("auth.caption"))
if ui.identity_provider_configured():
    st.button(ui.text("auth.sso"), on_click=st.login, type="primary", key="signin_sso")
    if getattr(st.user, "is_logged_in", False) and ui.signed_in_user() is None:
        st.error(ui.text("auth.not_provisioned", email=str(st.user.get("email", ""))))
else:
    with st.form("signin_form", border=True):
        username = st.text_input(ui.text("auth.username"), key="signin_username", autocomplete="username")
        password = st.text_input(ui.text("auth.password"), type="password", key="signin_password",
                                 autocomplete="current-password")
        submitted = st.form_submit_button(ui.text("auth.submit"), type="primary")
    if submitted:
        outcome = ui.sign_in(username.strip(), password)
        if outcome.user is not None:
            st.rerun()
        elif outcome.reason == "locked":
            st.error(ui.text("auth.locked", until=outcome.locked_until.strftime("%H:%M") if outcome.locked_until else ""))
        else:
            st.error(ui.text("auth.bad_credentials"))
