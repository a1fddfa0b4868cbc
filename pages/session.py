"""Who this browser session belongs to: the signed-in user checked against the store on every run, their access
scope, signing in and out, and the session record behind the HttpOnly cookie."""

from __future__ import annotations

from typing import cast

import streamlit as st

from kpi import audit, auth, sessions
from kpi.settings import get_settings
from kpi.store import AccessScope, Store
from pages.connection import get_store
from pages.language import CHOSEN_LANGUAGE_KEY, INITIAL_QUERY_KEY, LANGUAGE_KEY
from pages.upload_flow import discard_batch

USER_KEY = "_user"
SESSION_KEY = "_session_id"
COOKIE_TOKEN_KEY = "_cookie_token"
COOKIE_CLEAR_KEY = "_cookie_clear"
SESSION_ENDED_KEY = "_session_ended"


def current_scope() -> AccessScope:
    """Which entities the signed-in user may see: officers their own, analysts and admins all, nobody nothing."""
    user = signed_in_user()
    if user is not None:
        return user.scope
    if not get_settings().require_sign_in:
        return AccessScope(entities=None, actor="demo")
    return auth.scope_for(None)


def access_scope() -> AccessScope:
    """The caller's access for cache keys: which entities it may see, without who it is (every analyst shares
    one cache entry; an officer's entries are their entities')."""
    return AccessScope(entities=current_scope().entities, actor="")


def identity_provider_configured() -> bool:
    """Whether Streamlit's OpenID Connect sign-in is set up in secrets.toml (`[auth]`)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, st.errors.StreamlitSecretNotFoundError):
        return False


def signed_in_user() -> auth.User | None:
    """The user of this session, as `refresh_user` found it in the store at the start of this run."""
    user = st.session_state.get(USER_KEY)
    return cast(auth.User, user) if user is not None else None


def _session_cookie() -> str | None:
    """The session id the browser sent with this tab's connection (an HttpOnly cookie), if any."""
    try:
        value = st.context.cookies.get(sessions.COOKIE)
    except Exception:  # noqa: BLE001 - no browser connection (tests, scripts): no cookie
        return None
    return str(value) if value else None


def refresh_user() -> auth.User | None:
    """Check the signed-in user against the store, once per run (one indexed query).

    A session signed in with the form (or restored from the cookie after a reload, a new tab or a link)
    must still be live; otherwise the user must still be active. A user disabled or signed out elsewhere is
    signed out here on the next click, and a changed role or entity list applies at once.
    """
    store, settings = get_store(), get_settings()
    session_id = st.session_state.get(SESSION_KEY)
    held = signed_in_user()
    user: auth.User | None = None
    if session_id:
        user = sessions.resolve(store, str(session_id), idle_minutes=settings.session_idle_minutes)
    elif held is not None:  # signed in through the identity provider (or set up so by a test)
        user = auth.get_user(store, held.username)
    else:
        cookie = _session_cookie()
        user = sessions.resolve(store, cookie, idle_minutes=settings.session_idle_minutes) if cookie else None
        if user is not None:
            st.session_state[SESSION_KEY] = cookie
    if user is None and (session_id or held is not None):
        _forget_session()
        st.session_state[SESSION_ENDED_KEY] = True
    if user is None and identity_provider_configured() and getattr(st.user, "is_logged_in", False):
        user = _identity_provider_user(store)
    if user is not None:
        st.session_state[USER_KEY] = user
    return user


def _identity_provider_user(store: Store) -> auth.User | None:
    """The Parasat user of the identity provider's e-mail, given a session of its own."""
    found = auth.get_user(store, str(st.user.get("email", ""))[:auth.MAX_USERNAME + 1])
    if found is not None:
        _start_session(found)
        audit.record(store, found.username, "sign_in", found.username, via="oidc")
    return found


def _start_session(user: auth.User) -> None:
    """Forget what the session held before, open a session record and hand its cookie to the browser."""
    discard_batch()
    for key in [k for k in st.session_state if not str(k).startswith("$$")]:
        if key not in (LANGUAGE_KEY, INITIAL_QUERY_KEY):
            del st.session_state[key]
    session_id = sessions.start(get_store(), user.username, idle_minutes=get_settings().session_idle_minutes)
    st.session_state[USER_KEY] = user
    st.session_state[SESSION_KEY] = session_id
    st.session_state[COOKIE_TOKEN_KEY] = sessions.handoff(session_id)


def _forget_session() -> None:
    """Clear everything this browser session held but its language and link; the next run clears the cookie."""
    discard_batch()
    kept = {k: st.session_state[k] for k in (LANGUAGE_KEY, CHOSEN_LANGUAGE_KEY, INITIAL_QUERY_KEY)
            if k in st.session_state}
    st.session_state.clear()
    st.session_state.update(kept)
    st.session_state[COOKIE_CLEAR_KEY] = True


def sign_in(username: str, password: str) -> auth.SignInResult:
    """Check a password against the local user store; on success the session belongs to that user."""
    settings = get_settings()
    outcome = auth.sign_in(get_store(), username[:auth.MAX_USERNAME + 1], password[:auth.MAX_PASSWORD + 1],
                           max_failures=settings.login_max_failures, lockout_minutes=settings.login_lockout_minutes)
    if outcome.user is not None:
        _start_session(outcome.user)
    return outcome


def sign_out() -> None:
    """End the session everywhere (every tab and device using its cookie) and forget what it held."""
    user = signed_in_user()
    session_id = st.session_state.get(SESSION_KEY)
    if user is not None and session_id:
        sessions.end(get_store(), str(session_id), actor=user.username)
    elif user is not None:
        audit.record(get_store(), user.username, "sign_out", user.username)
    _forget_session()
    if identity_provider_configured() and getattr(st.user, "is_logged_in", False):
        st.logout()


def record_export(name: str, fmt: str, actor: str | None = None, store: Store | None = None) -> None:
    """An export on the audit trail: who took which data out, in which format.

    A download's bytes are built when clicked, by the web server outside the session, so the caller names
    the user and the store as they were when the button was drawn within the session.
    """
    audit.record(store or get_store(), actor or current_scope().actor, "export", name, format=fmt)
