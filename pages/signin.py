"""The sign-in screen (the identity provider's button when configured, else the local form) and the account box
with its sign-out button; the session cookie is set and cleared through the web server's session route."""

from __future__ import annotations

import json

import streamlit as st

from kpi import auth, sessions
from pages.components import page_header
from pages.language import text
from pages.session import (
    COOKIE_CLEAR_KEY,
    COOKIE_TOKEN_KEY,
    SESSION_ENDED_KEY,
    identity_provider_configured,
    sign_in,
    sign_out,
    signed_in_user,
)


def _cookie_request(method: str, token: str = "") -> None:
    """Ask the browser to fetch the session route, which sets or clears the HttpOnly cookie."""
    body = json.dumps(token)
    st.html(f"<script>fetch({json.dumps(sessions.ROUTE)}, {{method: {json.dumps(method)}, body: {body}, "
            "credentials: 'same-origin'}).catch(() => null);</script>", unsafe_allow_javascript=True)


def sign_in_form() -> None:
    """The sign-in screen: the identity provider's button when configured, else the local form."""
    page_header(text("auth.title"), text("auth.caption"))
    if st.session_state.pop(COOKIE_CLEAR_KEY, False):
        _cookie_request("DELETE")
    if st.session_state.pop(SESSION_ENDED_KEY, False):
        st.info(text("security.session_ended"), icon=":material/logout:")
    if identity_provider_configured():
        st.button(text("auth.sso"), on_click=st.login, type="primary", key="signin_sso")
        if getattr(st.user, "is_logged_in", False):
            st.error(text("auth.not_provisioned", email=str(st.user.get("email", ""))[:auth.MAX_USERNAME]))
        return
    with st.form("signin_form", border=True):
        username = st.text_input(text("auth.username"), key="signin_username", autocomplete="username",
                                 max_chars=auth.MAX_USERNAME)
        password = st.text_input(text("auth.password"), type="password", key="signin_password",
                                 autocomplete="current-password", max_chars=auth.MAX_PASSWORD)
        submitted = st.form_submit_button(text("auth.submit"), type="primary")
    if submitted:
        outcome = sign_in(username.strip(), password)
        if outcome.user is not None:
            st.rerun()
        else:  # one answer to every refusal: nothing tells a wrong password from an unknown or locked account
            st.error(text("security.refused"))


def account_box() -> None:
    """Who is signed in, with the sign-out button, at the bottom of the sidebar."""
    user = signed_in_user()
    if user is None:
        return
    with st.sidebar:
        token = st.session_state.pop(COOKIE_TOKEN_KEY, None)
        if token:
            _cookie_request("POST", str(token))
        st.caption(text("auth.signed_in_as", name=user.display_name, role=text(f"role.{user.role}")))
        st.button(text("auth.sign_out"), on_click=sign_out, key="sign_out", icon=":material/logout:",
                  type="tertiary")
