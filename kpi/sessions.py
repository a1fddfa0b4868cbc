"""Signed-in sessions that survive a reload, a new tab or a shared link.

A random session id goes to the browser in an HttpOnly cookie; the store keeps only its sha256 with the
user, when it was created and last seen, and when it expires (after `session_idle_minutes` without use).
Signing out, disabling the user or changing the password ends the record, so the cookie is worthless on
every device at once. The cookie is set by a small route of the web server (`pages/web.py`): the page
hands it a one-time token that is good for a minute, so the session id itself never reaches a script.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import threading
import time

from kpi import audit, auth
from kpi.store import Store, db

COOKIE = "parasat_session"
ROUTE = "/_parasat/session"  # served by pages/web.py
TOKEN_SECONDS = 60
# last_seen is written at most this often, so a page run costs one indexed read and almost never a write.
TOUCH_SECONDS = 60
MAX_ID = 128

_served: list[Store] = []  # the store the web server checks download requests against
_handoffs: dict[str, tuple[str, float]] = {}
_handoffs_lock = threading.Lock()


def _id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def start(store: Store, username: str, *, idle_minutes: int, now: dt.datetime | None = None) -> str:
    """Open a session for a user who has just signed in; returns its random id (kept only as a hash)."""
    now = now or auth.now_utc()
    session_id = secrets.token_urlsafe(32)
    with store.transaction() as cur:
        db(cur).sessions.add(_id_hash(session_id), username, now, now + dt.timedelta(minutes=idle_minutes))
        db(cur).sessions.forget_expired(now - dt.timedelta(days=7))
    return session_id


def resolve(store: Store, session_id: str | None, *, idle_minutes: int,
            now: dt.datetime | None = None) -> auth.User | None:
    """The user of a live session (one indexed query), or None when it ended, expired or the user was disabled."""
    if not session_id or len(session_id) > MAX_ID:
        return None
    now = now or auth.now_utc()
    digest = _id_hash(session_id)
    cur = store.cursor()
    try:
        row = db(cur).sessions.live(digest, now)
    finally:
        cur.close()
    if row is None:
        return None
    if (now - row[4]).total_seconds() >= TOUCH_SECONDS:
        with store.transaction() as tx:
            db(tx).sessions.touch(digest, now, now + dt.timedelta(minutes=idle_minutes))
    return auth.User(str(row[0]), str(row[1]), str(row[2]), frozenset(row[3] or []))


def end(store: Store, session_id: str | None, *, actor: str) -> None:
    """End one session (sign-out): its cookie no longer signs anybody in, in any tab."""
    if not session_id or len(session_id) > MAX_ID:
        return
    with store.transaction() as cur:
        db(cur).sessions.end(_id_hash(session_id), auth.now_utc())
        audit.record(store, actor, "sign_out", actor, cur=cur)


def handoff(session_id: str) -> str:
    """A one-time token the browser exchanges for the session cookie within a minute."""
    token = secrets.token_urlsafe(32)
    now = time.monotonic()
    with _handoffs_lock:
        for stale in [k for k, (_, until) in _handoffs.items() if until < now]:
            del _handoffs[stale]
        _handoffs[_id_hash(token)] = (session_id, now + TOKEN_SECONDS)
    return token


def redeem(token: str) -> str | None:
    """The session id a token stands for, once; None when unknown, used or expired."""
    if not token or len(token) > MAX_ID:
        return None
    with _handoffs_lock:
        held = _handoffs.pop(_id_hash(token), None)
    if held is None or held[1] < time.monotonic():
        return None
    return held[0]


def serve(store: Store) -> None:
    """Name the store whose sessions the web server checks (the app's one store)."""
    _served[:] = [store]


def served_store() -> Store | None:
    """The store named by `serve`, if any."""
    return _served[0] if _served else None
