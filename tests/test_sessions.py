"""Staying signed in, and being signed out: session records, the cookie route, and each run's check of its user."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from kpi import audit, auth, sessions
from kpi.i18n import t
from kpi.store import Store, db
from tests.test_app import APP, _app_store, app_db, sample_db, upload_db  # noqa: F401 - the fixtures are used by name

PASSWORD = "a long enough password"


@pytest.mark.both_stores
def test_a_session_lives_until_idle_and_ends_everywhere(store: Store) -> None:
    auth.create_user(store, "s.user", PASSWORD, "analyst")
    start = dt.datetime(2026, 3, 2, 9, 0)
    sid = sessions.start(store, "s.user", idle_minutes=480, now=start)
    other = sessions.start(store, "s.user", idle_minutes=480, now=start)
    assert len(sid) >= 40 and sid != other
    assert db(store.cursor()).sessions.live(sid, start) is None  # kept by its hash, never by the id itself
    # Used within eight hours it slides on; eight idle hours end it.
    assert sessions.resolve(store, sid, idle_minutes=480, now=start + dt.timedelta(hours=7)).username == "s.user"
    assert sessions.resolve(store, sid, idle_minutes=480, now=start + dt.timedelta(hours=14)) is not None
    assert sessions.resolve(store, sid, idle_minutes=480, now=start + dt.timedelta(hours=23)) is None
    assert sessions.resolve(store, "forged", idle_minutes=480) is None
    assert sessions.resolve(store, "x" * 10_000, idle_minutes=480) is None
    # A password change ends every session of the user; so does disabling.
    now = auth.now_utc()
    first, second = (sessions.start(store, "s.user", idle_minutes=480) for _ in range(2))
    auth.set_password(store, "s.user", "another long password", actor="admin")
    assert sessions.resolve(store, first, idle_minutes=480, now=now) is None
    assert sessions.resolve(store, second, idle_minutes=480, now=now) is None
    third = sessions.start(store, "s.user", idle_minutes=480)
    auth.update_user(store, "s.user", active=False, actor="admin")
    assert sessions.resolve(store, third, idle_minutes=480) is None


def test_a_cookie_token_is_good_once_and_briefly(monkeypatch) -> None:
    token = sessions.handoff("the-session-id")
    assert sessions.redeem(token) == "the-session-id"
    assert sessions.redeem(token) is None
    late = sessions.handoff("x")
    monkeypatch.setattr(sessions.time, "monotonic", lambda: 10.0**9)
    assert sessions.redeem(late) is None


def _call(app: Any, method: str, path: str, *, body: bytes = b"", headers: dict[str, str] | None = None,
          scheme: str = "http") -> tuple[int, dict[str, list[str]]]:
    """One request through an ASGI app; the status and the headers (repeated ones kept)."""
    sent: list[dict[str, Any]] = []
    raw = [(k.lower().encode(), v.encode()) for k, v in {"host": "parasat.local", **(headers or {})}.items()]
    scope = {"type": "http", "method": method, "path": path, "raw_path": path.encode(), "query_string": b"",
             "headers": raw, "scheme": scheme, "server": ("parasat.local", 443 if scheme == "https" else 80),
             "client": ("127.0.0.1", 5), "root_path": "", "http_version": "1.1", "asgi": {"version": "3.0"}}
    chunks = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        return chunks.pop(0) if chunks else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    found: dict[str, list[str]] = {}
    for key, value in start["headers"]:
        found.setdefault(key.decode().lower(), []).append(value.decode())
    return start["status"], found


@pytest.fixture
def web_app(store: Store) -> Any:
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from pages import web

    async def media(request: Any) -> PlainTextResponse:
        return PlainTextResponse("exported figures")

    sessions.serve(store)
    yield Starlette(routes=[*web.ROUTES, Route("/media/{name}", media), Route("/", media)], middleware=web.MIDDLEWARE)
    sessions._served.clear()


@pytest.mark.both_stores
def test_the_session_route_sets_an_httponly_lax_cookie_and_clears_it(web_app: Any, store: Store) -> None:
    auth.create_user(store, "web.user", PASSWORD, "analyst")
    sid = sessions.start(store, "web.user", idle_minutes=480)
    status, headers = _call(web_app, "POST", "/_parasat/session", body=sessions.handoff(sid).encode())
    assert status == 204
    (cookie,) = headers["set-cookie"]
    assert cookie.startswith(f"{sessions.COOKIE}={sid};")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie and "Secure" not in cookie
    status, headers = _call(web_app, "POST", "/_parasat/session", body=sessions.handoff(sid).encode(), scheme="https")
    assert "Secure" in headers["set-cookie"][0]
    # A token used twice, a made-up one, or a request from another site gets nothing.
    token = sessions.handoff(sid)
    assert _call(web_app, "POST", "/_parasat/session", body=token.encode())[0] == 204
    assert _call(web_app, "POST", "/_parasat/session", body=token.encode())[0] == 403
    assert _call(web_app, "POST", "/_parasat/session", body=b"guess")[0] == 403
    assert _call(web_app, "POST", "/_parasat/session", body=sessions.handoff(sid).encode(),
                 headers={"origin": "https://evil.example"})[0] == 403
    status, headers = _call(web_app, "DELETE", "/_parasat/session")
    assert status == 204 and 'parasat_session="";' in headers["set-cookie"][0] or "Max-Age=0" in headers["set-cookie"][0]


def test_every_response_forbids_framing_by_other_sites(web_app: Any) -> None:
    """Attack replay: no frame-ancestors / X-Frame-Options header let another site frame the app (clickjacking)."""
    _, headers = _call(web_app, "GET", "/")
    assert headers["content-security-policy"] == ["frame-ancestors 'self'"]
    assert headers["x-frame-options"] == ["SAMEORIGIN"]


@pytest.mark.both_stores
def test_exports_are_served_only_to_a_live_session(web_app: Any, store: Store) -> None:
    """Attack replay: an export link worked without a session until Streamlit swept it."""
    auth.create_user(store, "media.user", PASSWORD, "analyst")
    sid = sessions.start(store, "media.user", idle_minutes=480)
    assert _call(web_app, "GET", "/media/abc.csv")[0] == 403
    assert _call(web_app, "GET", "/media/abc.csv", headers={"cookie": f"{sessions.COOKIE}=forged"})[0] == 403
    assert _call(web_app, "GET", "/media/abc.csv", headers={"cookie": f"{sessions.COOKIE}={sid}"})[0] == 200
    sessions.end(store, sid, actor="media.user")
    assert _call(web_app, "GET", "/media/abc.csv", headers={"cookie": f"{sessions.COOKIE}={sid}"})[0] == 403


# --------------------------------------------------------------------------- the app


def _signed_in(username: str, lang: str = "en") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lang"] = lang
    at.run()
    at.text_input(key="signin_username").input(username)
    at.text_input(key="signin_password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception and at.session_state["_user"].username == username
    return at


def _user(username: str, role: str = "analyst", entities: list[str] | None = None) -> None:
    store = _app_store()
    if auth.get_user(store, username) is None:
        auth.create_user(store, username, PASSWORD, role, entities=entities)


@pytest.mark.usefixtures("app_db")
def test_a_disabled_user_is_signed_out_on_the_next_click() -> None:
    """Attack replay: a disabled officer kept working in a session opened before (and saved a new version)."""
    _user("soon.disabled", "officer", ["akimat_abai"])
    at = _signed_in("soon.disabled")
    auth.update_user(_app_store(), "soon.disabled", active=False, actor="admin")
    at.run()
    assert "_user" not in at.session_state
    assert [x.label for x in at.text_input] == [t("auth.username", "en"), t("auth.password", "en")]
    assert [i.value for i in at.info] == [t("security.session_ended", "en")]
    auth.update_user(_app_store(), "soon.disabled", active=True, actor="admin")


@pytest.mark.usefixtures("app_db")
def test_a_changed_role_applies_on_the_next_click() -> None:
    _user("role.changes", "analyst")
    at = _signed_in("role.changes")
    assert at.session_state["_user"].scope.entities is None
    auth.update_user(_app_store(), "role.changes", role="officer", entities=["akimat_abai"], actor="admin")
    at.run()
    assert at.session_state["_user"].role == "officer"
    assert at.session_state["_user"].scope.entities == frozenset({"akimat_abai"})
    auth.update_user(_app_store(), "role.changes", role="analyst", entities=[], actor="admin")


@pytest.mark.usefixtures("app_db")
def test_a_new_tab_with_the_cookie_is_signed_in_and_sign_out_ends_it(monkeypatch) -> None:
    from pages import session

    _user("two.tabs")
    first = _signed_in("two.tabs")
    session_id = first.session_state["_session_id"]
    monkeypatch.setattr(session, "_session_cookie", lambda: session_id)  # what the browser sends after the route set it
    second = AppTest.from_file(APP, default_timeout=60)
    second.query_params["lang"] = "en"
    second.run()
    assert not second.exception and second.session_state["_user"].username == "two.tabs"
    assert not [x for x in second.text_input if x.key == "signin_username"]
    next(b for b in first.button if b.key == "sign_out").click().run()
    assert "_user" not in first.session_state
    second.run()  # the other tab's next click
    assert "_user" not in second.session_state
    assert [x.key for x in second.text_input] == ["signin_username", "signin_password"]
    assert [e["action"] for e in audit.read(_app_store())][-1] == "sign_out"


@pytest.mark.usefixtures("app_db")
def test_an_export_is_audited_under_the_user_who_clicked_it(monkeypatch) -> None:
    """Attack replay: exports were on the trail as actor `demo` (the download callback runs outside the session)."""
    import streamlit as st

    from tests.test_app import ANALYST, run

    drawn: list[Any] = []
    real = st.download_button

    def spy(*args: Any, **kwargs: Any) -> Any:
        drawn.append(kwargs.get("data", args[1] if len(args) > 1 else None))
        return real(*args, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    at = run("group_1", query={"lang": "en"}, user=ANALYST)
    assert not at.exception
    exports = [d for d in drawn if callable(d) and d.__qualname__.startswith("_audited")]
    assert exports
    before = len(audit.read(_app_store()))
    exports[-1]()  # what the web server does when the button is clicked: outside the session
    (event,) = audit.read(_app_store())[before:]
    assert (event["actor"], event["action"]) == ("analyst", "export")
    assert event["detail"]["format"] in ("png", "svg", "xlsx", "csv")


@pytest.mark.usefixtures("upload_db")
def test_the_admin_page_names_the_first_bad_event_and_lifts_a_lock() -> None:
    from tests.test_app import ADMIN, run

    store = _app_store()
    _user("locked.out")
    for _ in range(5):
        auth.sign_in(store, "locked.out", "wrong password")
    at = run("pages/admin.py", query={"lang": "en"}, user=ADMIN)
    assert not at.exception and not at.error
    assert any(c.value.startswith("The audit trail is intact.") for c in at.caption)
    at.selectbox(key="admin_unlock_username").set_value("locked.out")
    next(b for b in at.button if b.label == t("security.unlock", "en")).click().run()
    assert [s.value for s in at.success] == [t("security.unlocked", "en", username="locked.out")]
    assert auth.sign_in(store, "locked.out", PASSWORD).user is not None
    seq = audit.read(store)[-3]["seq"]
    store.cursor().execute("UPDATE audit_event SET actor = 'nobody' WHERE seq = ?", [seq])
    at.run()
    (error,) = at.error
    assert error.value.startswith(f"WARNING: the audit trail is broken. First bad event: No. {seq}.")
