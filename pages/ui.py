"""The app layer every page shares: store and cursor, the caller's scope, filters in the sidebar and the URL,
cached calls into `kpi.views`, and charts with their downloads. Pages import this; `kpi` never imports it."""

from __future__ import annotations

import datetime as dt
import functools
import gc
import html
import json
import queue
import re
import runpy
import shutil
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kpi import audit, auth, drill, export, sessions, views
from kpi.catalogue import ENTITY_TYPES, LANGUAGES, Catalogue, Entity, Registry, load_catalogue, load_registry
from kpi.engine import KpiEngine
from kpi.i18n import t
from kpi.service import engine, open_store
from kpi.settings import get_settings, resolve_db_path
from kpi.store import AccessScope, Cursor, Store

LANGUAGE_NAMES = {"kk": "Қаз", "ru": "Рус", "en": "Eng"}
LANGUAGE_KEY = "lang"
CHOSEN_LANGUAGE_KEY = "_lang"
PERIOD_KEY = "filter_period"
TYPE_KEY = "filter_type"
REGION_KEY = "filter_region"
FILTERS_KEY = "_filters"
INITIAL_QUERY_KEY = "_initial_query"
URL_WRITTEN_KEY = "_url_written"
FILTER_PARAMS = ("lang", "period", "type", "region")
ALL = "__all__"
APP_SCRIPT = Path(__file__).resolve().parent.parent / "app.py"


# --------------------------------------------------------------------------- who and what


USER_KEY = "_user"


def current_scope() -> AccessScope:
    """Which entities the signed-in user may see: officers their own, analysts and admins all, nobody nothing."""
    user = signed_in_user()
    if user is not None:
        return user.scope
    if not get_settings().require_sign_in:
        return AccessScope(entities=None, actor="demo")
    return auth.scope_for(None)


def identity_provider_configured() -> bool:
    """Whether Streamlit's OpenID Connect sign-in is set up in secrets.toml (`[auth]`)."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, st.errors.StreamlitSecretNotFoundError):
        return False


SESSION_KEY = "_session_id"
COOKIE_TOKEN_KEY = "_cookie_token"
COOKIE_CLEAR_KEY = "_cookie_clear"
SESSION_ENDED_KEY = "_session_ended"


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
        st.caption(t("auth.signed_in_as", lang(), name=user.display_name, role=t(f"role.{user.role}", lang())))
        st.button(t("auth.sign_out", lang()), on_click=sign_out, key="sign_out", icon=":material/logout:",
                  type="tertiary")


def record_export(name: str, fmt: str, actor: str | None = None, store: Store | None = None) -> None:
    """An export on the audit trail: who took which data out, in which format.

    A download's bytes are built when clicked, by the web server outside the session, so the caller names
    the user and the store as they were when the button was drawn within the session.
    """
    audit.record(store or get_store(), actor or current_scope().actor, "export", name, format=fmt)


def _close_store(store: Store) -> None:
    store.close()


@st.cache_resource(show_spinner=False, on_release=_close_store)
def _open_store(db_path: str) -> Store:
    store = open_store()
    settings = get_settings()
    secret = settings.admin_password.get_secret_value() if settings.admin_password else None
    generated = auth.ensure_admin(store, secret)
    if generated:  # printed once, to the server's log, never shown in the app
        print(f"Parasat: first admin created. Username: admin  Password: {generated}", flush=True)
    sessions.serve(store)
    sweep_staged_uploads()
    return store


def get_store() -> Store:
    """The process's one connection to the app's database (the default one gets the sample returns on first use)."""
    return _open_store(str(resolve_db_path()[0]))


# Cursors are lent to script runs, not kept by sessions: a cursor that has run the engine holds over a MB of
# DuckDB memory (its temporary tables of formulas and duties), which 30 sessions each holding one never gave
# back. Streamlit runs a script run on a thread of its own; the run's thread keeps its cursor in a thread-local
# lease, and when the thread ends the lease goes and the cursor returns to the pool, its tables still loaded.
# So the process holds as many cursors as runs ever went on at once, whatever the number of sessions.
_cursor_pool: queue.SimpleQueue[tuple[Store, Cursor]] = queue.SimpleQueue()
_run_local = threading.local()


class _CursorLease:
    def __init__(self, store: Store, cur: Cursor) -> None:
        self.store = store
        self.cursor = cur

    def __del__(self) -> None:  # the thread that held it has ended (or moved to another store)
        _cursor_pool.put((self.store, self.cursor))


def cursor() -> Cursor:
    """A cursor on the shared connection for this script run's thread alone (never used by two threads at once)."""
    store = get_store()
    lease: _CursorLease | None = getattr(_run_local, "lease", None)
    if lease is None or lease.store is not store:
        cur = None
        while cur is None:
            try:
                pooled_store, pooled = _cursor_pool.get_nowait()
            except queue.Empty:
                break
            if pooled_store is store:  # cursors of a store closed since are dropped
                cur = pooled
        lease = _CursorLease(store, cur if cur is not None else store.cursor())
        _run_local.lease = lease
    return lease.cursor


# Only this process writes the embedded database (DuckDB lets one process hold it), and every write the app makes
# clears this cache (an upload in `confirm_batch`, a target on the Administration page with every cached call),
# so the version is asked of the database at most once a second instead of several times on every page run.
DATA_VERSION_TTL_SECONDS = 1.0


@st.cache_data(ttl=DATA_VERSION_TTL_SECONDS, max_entries=4, show_spinner=False)
def _cached_data_version(db_path: str) -> str:
    return get_store().data_version()


def data_version() -> str:
    """The token that changes when returns or targets change: part of every cache key."""
    return _cached_data_version(str(get_store().db_path))


def catalogue() -> Catalogue:
    return load_catalogue()


def registry() -> Registry:
    return load_registry()


def kpi_engine() -> KpiEngine:
    return engine()


# Streamlit's default is a full collection after every script run, over the whole heap (hundreds of MB of
# modules, catalogue and caches): most of a page run's time. Instead, once at start-up, that heap is frozen
# (never scanned again) and a janitor thread collects what the runs left (cycles of frames, figures, ended
# sessions) every few seconds, which over the rest of the heap (100,000-300,000 objects) takes tens of
# milliseconds of CPU, and hands freed memory back to the system.
COLLECT_EVERY_SECONDS = 2.0
TRIM_EVERY_SECONDS = 20.0
# glibc's malloc gives each thread that allocates at once an arena of its own (up to eight per core) and keeps
# what was freed in them; Streamlit runs every script run on a new thread. Two arenas keep memory compact.
MALLOC_ARENAS = 2
# A young collection every 10,000 net allocations instead of 700: a page run allocates tens of thousands of
# objects that die with it, and a larger nursery promotes fewer of them to the older generations.
GC_THRESHOLDS = (10_000, 10, 10)
_gc_tuned = False
_gc_lock = threading.Lock()


def tune_gc() -> None:
    """Once per process, when start-up has loaded the store, catalogue, registry and engine: freeze that heap
    (`gc.freeze`), raise the young generation's threshold, limit malloc's arenas and start the janitor thread.

    Only when Streamlit's own collection after every run is off (`runner.postScriptGC = false`, as the shipped
    config says); with it on (today's behaviour, the load benchmark's baseline) the collector is left alone.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    with _gc_lock:
        if _gc_tuned:
            return
        _gc_tuned = True
        if st.get_option("runner.postScriptGC"):
            return
        catalogue(), registry(), kpi_engine()
        import plotly.graph_objects  # noqa: F401  (its lazily loaded parts are large and live forever)

        libc = _libc()
        if libc is not None:
            libc.mallopt(-8, MALLOC_ARENAS)  # M_ARENA_MAX
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        threading.Thread(target=_janitor, name="parasat-gc", daemon=True).start()


@functools.lru_cache(maxsize=1)
def _libc() -> Any:
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:  # not glibc (macOS, Windows): nothing to tune
        return None


def _janitor() -> None:
    """Collect every COLLECT_EVERY_SECONDS, trim malloc every TRIM_EVERY_SECONDS (a daemon thread, for ever)."""
    import os
    import sys
    import time

    libc, last_trim, verbose = _libc(), time.monotonic(), bool(os.environ.get("PARASAT_GC_LOG"))
    while True:
        time.sleep(COLLECT_EVERY_SECONDS)
        started = time.perf_counter()
        found = gc.collect()
        collected = time.perf_counter() - started
        trimmed = 0.0
        if libc is not None and time.monotonic() - last_trim > TRIM_EVERY_SECONDS:
            last_trim = time.monotonic()
            libc.malloc_trim(0)
            trimmed = time.perf_counter() - started - collected
        if verbose:
            print(f"parasat-gc: {found} objects in {collected * 1000:.1f} ms, trim {trimmed * 1000:.1f} ms, "
                  f"{len(gc.get_objects())} tracked", file=sys.stderr, flush=True)


@st.cache_data(max_entries=1024, show_spinner=False)
def _cached_view(name: str, version: str, scope: AccessScope, args: tuple[Any, ...],
                 kwargs: tuple[tuple[str, Any], ...], _cur: Cursor) -> Any:
    function: Callable[..., Any] = getattr(views, name)
    return function(_cur, engine(), *args, scope=scope, **dict(kwargs))


def access_scope() -> AccessScope:
    """The caller's access for cache keys: which entities it may see, without who it is (every analyst shares
    one cache entry; an officer's entries are their entities')."""
    return AccessScope(entities=current_scope().entities, actor="")


def view(name: str, *args: Any, **kwargs: Any) -> Any:
    """`kpi.views.<name>(cursor, engine, *args, scope=<the caller's access>, **kwargs)`, cached on the data version
    and that access."""
    return _cached_view(name, data_version(), access_scope(), args, tuple(sorted(kwargs.items())), _cur=cursor())


@st.cache_data(max_entries=64, show_spinner=False)
def _cached_periods(version: str, scope: AccessScope, _cur: Cursor) -> list[str]:
    return views.available_periods(_cur, scope=scope)


def periods() -> list[str]:
    """Periods with data the caller may see, oldest first."""
    return _cached_periods(data_version(), access_scope(), _cur=cursor())


@st.cache_data(max_entries=64, show_spinner=False)
def _cached_calendar(version: str, day: str, available: tuple[str, ...], threshold: float,
                     _cur: Cursor) -> tuple[str | None, dict[str, Any]]:
    from kpi import periods as calendar

    coverage = calendar.registry_coverage(_cur, [e.code for e in registry().entities])
    chosen = calendar.default_period(coverage, available, threshold=threshold, on=dt.date.fromisoformat(day))
    return chosen, coverage


def period_coverage() -> dict[str, Any]:
    """Each period's returns received of those expected over the whole registry (`kpi.periods.PeriodCoverage`)."""
    return _calendar()[1]


def default_period() -> str | None:
    """The safe period every page opens on: the latest ended quarter whose coverage reaches the threshold."""
    return _calendar()[0]


def _calendar() -> tuple[str | None, dict[str, Any]]:
    from kpi import periods as calendar

    return _cached_calendar(data_version(), calendar.today().isoformat(), tuple(periods()),
                            get_settings().coverage_threshold, _cur=cursor())


def coverage_of(period: str) -> tuple[int, int]:
    """Returns received and expected for a period: over the whole registry, or over an officer's entities."""
    scope = current_scope()
    if scope.entities is None:
        found = period_coverage().get(period)
        return (found.received, found.expected) if found is not None else (0, len(registry().entities))
    counted = views.coverage(cursor(), registry(), period, scope=scope)
    return counted.received, counted.expected


def is_provisional(period: str | None) -> bool:
    """Whether a period's figures rest on fewer returns than the coverage threshold asks for."""
    if period is None:
        return False
    received, expected = coverage_of(period)
    return expected > 0 and received / expected < get_settings().coverage_threshold


def provisional_banner(period: str | None) -> bool:
    """The banner of a page showing a period below the coverage threshold; True when shown."""
    if period is None or not is_provisional(period):
        return False
    from kpi import periods as calendar

    received, expected = coverage_of(period)
    language = lang()
    st.warning(t("periods.provisional_banner", language, period=calendar.period_label(period, language),
                 received=received, expected=expected,
                 threshold=views.fmt(100 * get_settings().coverage_threshold, "percent", language)),
               icon=":material/hourglass_top:")
    return True


def opened_periods() -> list[str]:
    """Quarters an admin opened for filing before they ended (a one-row query, read on each run)."""
    from kpi import periods as calendar

    return sorted(calendar.opened_periods(cursor()))


# --------------------------------------------------------------------------- language, filters and the URL


def capture_initial_query() -> None:
    """Keep the URL the session opened with, so page controls can start from a shared link."""
    if INITIAL_QUERY_KEY not in st.session_state:
        st.session_state[INITIAL_QUERY_KEY] = {k: st.query_params.get_all(k) for k in st.query_params}


def initial_query(name: str) -> str | None:
    values = st.session_state.get(INITIAL_QUERY_KEY, {}).get(name) or []
    return values[-1] if values else None


def language_switch() -> str:
    """The language control in the sidebar, drawn after st.navigation; Kazakh unless the URL or the user says otherwise."""
    st.session_state[LANGUAGE_KEY] = lang()
    st.sidebar.segmented_control("Тіл · Язык · Language", LANGUAGES, format_func=lambda code: LANGUAGE_NAMES[code],
                                 key=LANGUAGE_KEY, required=True, on_change=_language_chosen)
    return lang()


def _language_chosen() -> None:
    chosen = st.session_state.get(LANGUAGE_KEY)
    if chosen in LANGUAGES:
        st.session_state[CHOSEN_LANGUAGE_KEY] = chosen


def lang() -> str:
    """The interface language: chosen in the sidebar, else from the link the session opened with, else Kazakh."""
    if CHOSEN_LANGUAGE_KEY not in st.session_state:
        st.session_state[CHOSEN_LANGUAGE_KEY] = views.normalise_language(initial_query("lang"))
    return views.normalise_language(st.session_state[CHOSEN_LANGUAGE_KEY])


def sidebar_filters() -> views.Filters:
    """Period, entity type and region in the sidebar, seeded from the URL and kept across pages."""
    language = lang()
    available = periods()
    reg = registry()
    if PERIOD_KEY not in st.session_state:
        seeded = views.Filters.from_query(st.session_state.get(INITIAL_QUERY_KEY, {}), periods=available,
                                          registry=reg, default_period=default_period())
        st.session_state[PERIOD_KEY] = seeded.period
        st.session_state[TYPE_KEY] = seeded.entity_type or ALL
        st.session_state[REGION_KEY] = seeded.region or ALL
    options = list(reversed(available))
    if st.session_state.get(PERIOD_KEY) not in options:
        st.session_state[PERIOD_KEY] = default_period()
    provisional = {p for p in options if is_provisional(p)}
    select(t("filter.period", language), options, PERIOD_KEY, sidebar=True,
           format_func=lambda p: views.period_label(p, language) + (" *" if p in provisional else ""),
           help=t("periods.picker_help", language,
                  threshold=views.fmt(100 * get_settings().coverage_threshold, "percent", language)))
    # only what the user may see: the types and regions of the entities in their scope
    visible = views.visible_entities(reg, scope=current_scope())
    types = [c for c in ENTITY_TYPES if any(e.type == c for e in visible)]
    select(t("filter.entity_type", language), [ALL, *types], TYPE_KEY, sidebar=True,
           format_func=lambda c: t("filter.all_types", language) if c == ALL else views.type_label(c, language))
    seen_regions = {e.region for e in visible}
    regions = sorted((r for r in reg.regions if r.code in seen_regions), key=lambda r: r.name(language))
    select(t("filter.region", language), [ALL, *[r.code for r in regions]], REGION_KEY, sidebar=True,
           format_func=lambda c: t("filter.all_regions", language) if c == ALL
           else views.region_label(reg, c, language))
    chosen = views.Filters(
        period=st.session_state.get(PERIOD_KEY),
        entity_type=None if st.session_state[TYPE_KEY] == ALL else st.session_state[TYPE_KEY],
        region=None if st.session_state[REGION_KEY] == ALL else st.session_state[REGION_KEY],
        lang=language,
    )
    st.session_state[FILTERS_KEY] = chosen
    _write_url(chosen.to_query(), remove=[k for k in FILTER_PARAMS if k not in chosen.to_query()])
    return chosen


def ensure_routed() -> None:
    """Make sure the page runs under app.py's router.

    Until some session in the process has called `st.navigation`, Streamlit treats a `pages/` folder the
    legacy way and may run a page script alone (a shared link opened first on a freshly started server,
    or every AppTest run). Then switch the legacy mode off and run app.py in this same run, so widget
    events of this run are not lost; app.py routes the same URL back to this page.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(APP_SCRIPT), run_name="__main__")
        st.stop()


def filters() -> views.Filters:
    """The filters the sidebar chose on this run."""
    ensure_routed()
    chosen: views.Filters | None = st.session_state.get(FILTERS_KEY)
    return chosen if chosen is not None else views.Filters(lang=lang())


def sync_url(page_params: Mapping[str, str | None] | None = None) -> None:
    """Make the URL say exactly this view: the filters plus the page's own choices, nothing stale."""
    wanted = filters().to_query() | {k: v for k, v in (page_params or {}).items() if v}
    _write_url(wanted, remove=[k for k in st.query_params if k not in wanted])


def _write_url(wanted: Mapping[str, str], remove: Sequence[str] = ()) -> None:
    written: dict[str, str] = st.session_state.setdefault(URL_WRITTEN_KEY, {})
    for name in remove:
        if name in st.query_params:
            del st.query_params[name]
        written.pop(name, None)
    for name, value in wanted.items():
        if st.query_params.get(name) != value:
            st.query_params[name] = value
        written[name] = value


def url_change(param: str) -> str | None:
    """A query parameter the app did not write itself (a shared link, or a link from another page)."""
    value = st.query_params.get(param)
    written = st.session_state.get(URL_WRITTEN_KEY, {}).get(param)
    return value if value is not None and value != written else None


HANDOVER_PREFIX = "_handover_"


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


def page_choice(key: str, param: str, options: Sequence[str], default: str | None = None) -> None:
    """Set a page control's state before it draws: from a link if one names it, else as it was, else the default."""
    if take_over(key, options):
        return
    fresh = url_change(param)
    kept = st.session_state.get(f"_keep_{key}")
    if fresh in options:
        st.session_state[key] = fresh
    elif st.session_state.get(key) in options:
        return
    elif kept in options:
        st.session_state[key] = kept
    else:
        st.session_state[key] = default if default in options else options[0]


def select(label: str, options: Sequence[Any], key: str, *, format_func: Callable[[Any], str],
           sidebar: bool = False, help: str | None = None) -> Any:
    """A selectbox whose value lives in `session_state[key]`, kept across pages and language switches.

    The widget itself is keyed per language: its option labels change with the language, and a widget
    that kept its key would go on showing the old language's label for the chosen option.
    """
    options = list(options)
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0] if options else None
    widget = f"{key}@{lang()}"
    st.session_state[widget] = st.session_state[key]
    (st.sidebar if sidebar else st).selectbox(label, options, key=widget, format_func=format_func, help=help,
                                              on_change=_copy_state, args=(widget, key))
    return st.session_state[key]


def _copy_state(source: str, target: str) -> None:
    st.session_state[target] = st.session_state.get(source)


def remember(key: str) -> Any:
    """Keep a page control's value for when the user comes back to the page; returns the value."""
    st.session_state[f"_keep_{key}"] = st.session_state.get(key)
    return st.session_state.get(key)


def population() -> frozenset[str] | None:
    """The entities the sidebar filters keep."""
    return filters().population(registry())


# --------------------------------------------------------------------------- drawing


def text(key: str, **params: Any) -> str:
    """An interface text in the current language."""
    return t(key, lang(), **params)


_MARKDOWN_SIGNS = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark: CommonMark lets each be escaped


def plain(value: object) -> str:
    """User text made inert inside Markdown: no link, image, emphasis, HTML, emoji or colour directive, one line."""
    return _MARKDOWN_SIGNS.sub(r"\\\1", " ".join(str(value).split()))


def empty_state(message_key: str = "app.no_data", **params: Any) -> None:
    """The explicit 'nothing to show' notice."""
    st.info(text(message_key, **params), icon=":material/info:")


def page_header(title: str, caption: str | None = None) -> None:
    st.title(title)
    if caption:
        st.caption(caption)


def status_badge(status: str, label: str) -> None:
    colour = {"met": "green", "at_risk": "orange", "missed": "red", "monitoring": "blue"}.get(status, "gray")
    st.badge(label, color=colour)  # type: ignore[arg-type]  # no icon: a badge's icon name is read aloud


def kpi_tile(tile: views.KpiTile, *, provisional: bool = False) -> None:
    """One KPI's tile: code, short title, value, target, changes, sparkline and status colour; a provisional
    period's value says so."""
    language = lang()
    with st.container(border=True, key=f"tile_{tile.kpi.replace('.', '_')}", height="stretch"):  # row's height
        if provisional:  # both badges on one line
            colour = {"met": "green", "at_risk": "orange", "missed": "red", "monitoring": "blue"}.get(tile.status, "gray")
            icon = {"met": ":material/check_circle:", "at_risk": ":material/warning:", "missed": ":material/cancel:",
                    "monitoring": ":material/visibility:"}.get(tile.status, ":material/remove:")
            st.markdown(f":{colour}-badge[{icon} {tile.status_text}] "
                        f":violet-badge[:material/hourglass_top: {t('periods.provisional', language)}]")
        else:
            status_badge(tile.status, tile.status_text)
        # the tile's title opens its KPI on the group page (the filters go along in the link)
        st.page_link(f"pages/group_{catalogue().group(tile.group).number}.py", label=f"**{tile.kpi}** · {tile.title}",
                     help=f"{tile.full_title}\n\n{t('analyst.open_kpi_help', language)}",
                     query_params=filters().to_query() | {"kpi": tile.kpi})
        st.metric(
            label=f"{tile.kpi} · {tile.title}", label_visibility="collapsed", value=tile.value_text,
            delta=tile.qoq_text,
            delta_color="off" if (tile.qoq_text or "").startswith("±") else tile.delta_colour,  # type: ignore[arg-type]
            delta_description=t("tile.qoq_short", language) if tile.qoq_text else None,
            delta_arrow="off" if (tile.qoq_text or "").startswith("±") else "auto",
            chart_data=[v for v in tile.trend if v is not None] or None, chart_type="area",
        )
        st.caption(
            (f"{t('tile.target', language)}: **{tile.target_text}** · " if tile.target is not None
             else f"**{tile.target_text}** · ")  # "no target" said once, not "Target: No target"
            + f"{t('tile.vs_year_ago', language)}: **{tile.yoy_text or '—'}** · "
            f"{t('tile.reporting', language, reporting=tile.reporting, expected=tile.expected)}"
        )


def status_borders(tiles: Sequence[views.KpiTile]) -> None:
    """Colour each tile's left edge by its status (the tiles' container keys become CSS classes)."""
    rules = "".join(
        f".st-key-tile_{tile.kpi.replace('.', '_')} {{border-left: 6px solid {tile.colour} !important;}}"
        for tile in tiles
    ) + (
         # the tile's title (a link to its KPI) wraps instead of being cut with an ellipsis
         "[class*='st-key-tile_'] [data-testid='stPageLink'] * {white-space: normal !important; "
         "overflow: visible !important; text-overflow: clip !important; height: auto !important;}")
    st.html(f"<style>{rules}</style>")


def status_table(frame: pd.DataFrame, column: str, colours: Sequence[str], *, key: str | None = None,
                 all_rows: bool = False) -> None:
    """A table whose status column is tinted with each row's status colour."""
    tints = list(colours)

    def tint(values: pd.Series) -> list[str]:
        return [f"background-color: {tints[i]}26; border-left: 4px solid {tints[i]}" for i in range(len(values))]

    styled = frame.reset_index(drop=True).style.apply(tint, subset=[column])
    height: Any = min(36 * len(frame) + 40, 1400) if all_rows else "auto"
    st.dataframe(styled, hide_index=True, width="stretch", height=height, key=key)


def export_context(about: Mapping[str, str] | None = None) -> export.ExportContext:
    """What a download holds (KPI, period, scope as the page says) and where it comes from: the filters, who,
    when (Almaty time) and the data version."""
    from kpi import periods as calendar

    chosen = filters()
    user = signed_in_user()
    about = dict(about or {})
    return export.ExportContext(
        lang=lang(), kpi=about.get("kpi", ""),
        period=about.get("period") or (views.period_label(chosen.period, lang()) if chosen.period else ""),
        scope=about.get("scope") or views.filters_label(chosen, registry(), current_scope()),
        filters=views.filters_label(chosen, registry()), made_by=user.username if user else current_scope().actor,
        made_at=calendar.now(), data_version=data_version())


def chart(figure: go.Figure, data: pd.DataFrame, name: str, *, key: str, selectable: bool = False,
          title: str | None = None, about: Mapping[str, str] | None = None, width: int | None = None) -> str | None:
    """A chart with PNG/SVG/XLSX/CSV downloads; returns the key of a clicked point when `selectable`. `about`
    names the KPI, period and scope the downloads record (the filters' period and scope otherwise). `width`
    (pixels) keeps a wide figure at its own width, to scroll sideways inside a box; otherwise it fills the column.

    Screen readers get a text alternative: the chart's title (or `title`) and how many values it shows.
    """
    config = {"displaylogo": False, "responsive": True,
              "toImageButtonOptions": {"format": "png", "filename": name, "scale": 2},
              "modeBarButtonsToRemove": list(MODEBAR_REMOVED), **plotly_locale(lang())}
    event = st.plotly_chart(figure, key=key, theme=None, config=config, width=width or "stretch",
                            on_select="rerun" if selectable else "ignore", selection_mode="points")
    downloads(figure, data, name, key=key, description=chart_description(figure, data, title), about=about)
    if selectable and event is not None:
        return drill.key_from_selection(cast(Mapping[str, Any], event))
    return None


# A small toolbar: the picture download (and a map's zoom); the rest of Plotly's buttons, English-only and
# seldom used, go. Plotly.js has no Kazakh locale, so its remaining tooltips come from the message files.
MODEBAR_REMOVED = ("zoom2d", "pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d", "resetScale2d", "lasso2d", "select2d",
                   "hoverClosestCartesian", "hoverCompareCartesian", "toggleSpikelines", "hoverClosestGeo",
                   "hoverClosestPie")
PLOTLY_WORDS = {"Download plot as a png": "analyst.plotly.download_png", "Download plot": "analyst.plotly.download_png",
                "Zoom in": "analyst.plotly.zoom_in", "Zoom out": "analyst.plotly.zoom_out",
                "Reset view": "analyst.plotly.reset_view", "Double-click to zoom back out": "analyst.plotly.double_click"}


def plotly_locale(language: str) -> dict[str, Any]:
    """Plotly's `locale` and `locales` config: its toolbar tooltips in the user's language."""
    return {"locale": language,
            "locales": {language: {"dictionary": {word: t(key, language) for word, key in PLOTLY_WORDS.items()}}}}


def chart_description(figure: go.Figure, data: pd.DataFrame, title: str | None = None) -> str:
    """What a screen reader says for a chart: its title and how many values its table holds."""
    shown = title or str(figure.layout.title.text or "")
    shown = " ".join(re.sub(r"<[^>]+>", " ", shown).split())
    return text("a11y.chart", title=shown, count=len(data))


def downloads(figure: go.Figure | None, data: pd.DataFrame, name: str, *, key: str,
              description: str | None = None, about: Mapping[str, str] | None = None) -> None:
    """A row of download buttons; images are rendered only when clicked, through the shared Kaleido server.
    Images carry a footer and XLSX files a context sheet (`export_context`)."""
    language = lang()
    context = export_context(about)
    with st.container(horizontal=True, gap="small", key=f"dl_{key}"):
        if figure is not None and export.chromium_path() is not None and not export.image_export_failed():
            for fmt, mime in (("png", "image/png"), ("svg", "image/svg+xml")):
                st.download_button(
                    fmt.upper(), data=_audited(_image_callable(figure, fmt, context), name, fmt),
                    file_name=f"{name}.{fmt}",
                    mime=mime,
                    key=f"{key}_{fmt}", on_click="ignore", icon=":material/image:", type="tertiary",
                )
        st.download_button("XLSX", data=_audited(lambda: export.to_xlsx_bytes(data, name, context=context), name,
                                                 "xlsx"),
                           file_name=f"{name}.xlsx",
                           mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                           key=f"{key}_xlsx", on_click="ignore", icon=":material/table:", type="tertiary")
        st.download_button("CSV", data=_audited(lambda: export.to_csv_bytes(data), name, "csv"),
                           file_name=f"{name}.csv", mime="text/csv",
                           key=f"{key}_csv", on_click="ignore", icon=":material/table:", type="tertiary")
        if figure is not None and (export.chromium_path() is None or export.image_export_failed()):
            st.caption(t("export.modebar_hint", language))
        if description:  # read by screen readers, not shown (WCAG 1.1.1 text alternative for the chart)
            st.html(f'<p class="parasat-chart-alt" style="{SCREEN_READER_ONLY}">{html.escape(description)}</p>')


SCREEN_READER_ONLY = ("position:absolute;width:1px;height:1px;margin:-1px;padding:0;overflow:hidden;"
                      "clip:rect(0,0,0,0);white-space:nowrap;border:0")


def _audited(build: Callable[[], bytes], name: str, fmt: str) -> Callable[[], bytes]:
    """A download's bytes, built when clicked, with the export put on the audit trail under the session's user."""
    store, actor = get_store(), current_scope().actor  # taken now, in the session; the click is served outside it

    def run() -> bytes:
        record_export(name, fmt, actor, store)
        return build()

    return run


def _image_callable(figure: go.Figure, fmt: str, context: export.ExportContext | None = None
                    ) -> Callable[[], bytes]:
    def render() -> bytes:
        try:
            return export.figure_image(figure, fmt, context=context)
        except export.ImageExportUnavailable:
            return b""

    return render


def breadcrumbs(path: drill.DrillPath, *, root_label: str, key: str) -> int | None:
    """The drill path as buttons; returns the depth clicked (0 is the top), if any."""
    reg, language = registry(), lang()
    crumbs = drill.crumbs(path, lambda s: views.key_label(reg, s.level, s.key, language), root_label)
    clicked = None
    with st.container(horizontal=True, gap="small", vertical_alignment="center", key=f"crumbs_{key}"):
        st.markdown(f"**{t('drill.you_are_here', language)}:**")  # no icon: markdown icon names are read aloud
        for index, (label, depth) in enumerate(crumbs):
            last = index == len(crumbs) - 1
            if st.button(views.shorten(label, 48), key=f"{key}_crumb_{depth}", type="tertiary" if last else "secondary",
                         disabled=last, icon=":material/chevron_right:" if index else ":material/public:"):
                clicked = depth
    return clicked


def drill_state(key: str, entities: Sequence[Entity]) -> drill.DrillPath:
    """This page's drill path: from its session state, else from the link, always valid for these entities."""
    fresh = None if take_over(key) else url_change("drill")
    if fresh is not None or key not in st.session_state:
        st.session_state[key] = drill.decode(fresh)
    path: drill.DrillPath = drill.sanitise(entities, st.session_state[key])
    st.session_state[key] = path
    return path


def kpi_picker(kpis: Sequence[Any], key: str) -> Any:
    """One-click choice of a KPI (code and short title), from the link or as it was; returns the KPI."""
    language, by_id = lang(), {k.id: k for k in kpis}
    page_choice(key, "kpi", list(by_id))
    st.segmented_control(text("group.kpi"), list(by_id), key=key, required=True,
                         format_func=lambda k: f"{k} · {views.shorten(by_id[k].short(language), 34)}")
    chosen = by_id[st.session_state[key]]
    st.markdown(f"**{chosen.id}.** {views.sentence_case(chosen.title(language))}")
    return chosen


def drill_navigator(key: str, entities: Sequence[Entity], *, root_label: str,
                    url: Mapping[str, str]) -> drill.DrillPath:
    """The drill path of a page: kept in state and in the URL, shown as breadcrumbs that step back up."""
    path = drill_state(key, entities)
    sync_url({**url, "drill": drill.encode(path) or None})
    depth = breadcrumbs(path, root_label=root_label, key=key)
    if depth is not None:
        set_drill(key, drill.ascend(path, depth))
    return path


def set_drill(key: str, path: drill.DrillPath) -> None:
    st.session_state[key] = path
    st.rerun()


TRAIL_KEY = "_trail"
EVIDENCE_CELL_KEY = "_evidence_cell"


@dataclass(frozen=True)
class Trail:
    """Where an entity's profile was opened from: a group page, its KPI and the drill path down to the entity."""

    group: str
    kpi: str
    drill: str


def open_profile(code: str, kpi_id: str, *, trail: Trail | None = None) -> None:
    """Open an entity's profile on the KPI the analyst came with; the trail lets its breadcrumbs walk back."""
    hand_over("entity_code", code)
    hand_over("entity_kpi", kpi_id)
    st.session_state[TRAIL_KEY] = trail
    st.switch_page("pages/entity.py")


def trail_breadcrumbs(code: str) -> None:
    """On a profile opened from a group page's drill-down, the way back: the KPI at the nation, each level below."""
    trail: Trail | None = st.session_state.get(TRAIL_KEY)
    if trail is None:
        return
    path = drill.decode(trail.drill)
    if drill.leaf_entity(path) != code or trail.group not in {g.id for g in catalogue().groups}:
        return
    group = catalogue().group(trail.group)
    depth = breadcrumbs(path, root_label=f"{text('nav.group', number=group.number)} · {trail.kpi}", key="trail")
    if depth is not None:
        hand_over(f"drill_{trail.group}", drill.ascend(path, depth))
        hand_over(f"kpi_{trail.group}", trail.kpi)
        st.switch_page(f"pages/group_{group.number}.py")


def open_documents(code: str, kpi_id: str) -> None:
    """Open the supporting documents page on one entity and KPI, with the first of the KPI's tasks shown."""
    kpi = catalogue().kpi_by_id[kpi_id]
    tasks = [task.id for project in kpi.projects for task in project.tasks]
    hand_over("compliance_group", kpi.group_id)
    hand_over("compliance_kpi", kpi_id)
    hand_over("compliance_entity", code)
    st.session_state[EVIDENCE_CELL_KEY] = (code, tasks[0]) if tasks else None
    st.switch_page("pages/compliance.py")


# --------------------------------------------------------------------------- upload


class UploadBatch:
    """Uploaded files staged in a temporary folder with their checked plan (read and validated once per set of
    files): kept in this session's state between the preview and the confirmation, so confirming writes the
    plan without reading or validating the files again."""

    def __init__(self, fingerprint: tuple[str, ...], folder: str, paths: list[str], names: dict[str, str],
                 plan: Any) -> None:
        self.fingerprint = fingerprint
        self.folder = folder
        self.paths = paths
        self.names = names
        self.plan = plan
        # When the browser session ends, its state (and this batch) is dropped: the staged files go with it.
        self.remove = weakref.finalize(self, shutil.rmtree, folder, True)

    @property
    def report(self) -> Any:
        """What saving would do, file by file (the plan's dry-run report)."""
        return self.plan.report


def preview_batch(files: Sequence[tuple[str, bytes]]) -> UploadBatch:
    """Stage the files and check them without saving; the same files are not read again on a rerun."""
    import hashlib
    import tempfile
    from pathlib import Path

    from kpi.ingest.pipeline import check_files

    fingerprint = tuple(f"{name}:{hashlib.sha256(content).hexdigest()}" for name, content in files)
    held: UploadBatch | None = st.session_state.get("_upload_batch")
    if held is not None and held.fingerprint == fingerprint and held.plan is not None:
        return held
    discard_batch()
    folder = tempfile.mkdtemp(prefix="parasat-upload-")
    paths, names = [], {}
    for index, (name, content) in enumerate(files):
        path = Path(folder) / f"{index:03d}.xlsx"
        path.write_bytes(content)
        paths.append(str(path))
        names[str(path)] = name
    scope = current_scope()
    with st.spinner(text("upload.checking", count=len(files))):
        plan = check_files(get_store(), catalogue(), registry(), paths, scope=scope, display_names=names)
    batch = UploadBatch(fingerprint, folder, paths, names, plan)
    st.session_state["_upload_batch"] = batch
    return batch


def confirm_batch(batch: UploadBatch) -> None:
    """Save the checked plan for real (each staged file must still have the hash it was checked with) and clear
    the uploader."""
    from kpi.ingest.pipeline import commit_plan

    scope = current_scope()
    with st.spinner(text("upload.saving")):
        report = commit_plan(get_store(), batch.plan, uploaded_by=scope.actor, scope=scope)
    _cached_data_version.clear()
    for outcome in report.outcomes:  # the session keeps what the confirmation shows, not the figures saved
        outcome.data = None
    st.session_state["_upload_result"] = report
    st.session_state["upload_nonce"] = st.session_state.get("upload_nonce", 0) + 1
    discard_batch()


def discard_batch() -> None:
    """Delete the staged files of the previewed batch (on confirm, discard, sign-out and session end)."""
    held: UploadBatch | None = st.session_state.pop("_upload_batch", None)
    if held is not None:
        held.remove()


def sweep_staged_uploads(max_age_hours: float = 12) -> int:
    """Delete staged upload folders a stopped server left behind; returns how many."""
    import tempfile
    import time

    removed = 0
    for folder in Path(tempfile.gettempdir()).glob("parasat-upload-*"):
        try:
            if folder.is_dir() and not folder.is_symlink() and time.time() - folder.stat().st_mtime > max_age_hours * 3600:
                shutil.rmtree(folder, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


def show_upload_result() -> None:
    """The confirmation of the last saved batch, file by file."""
    report = st.session_state.get("_upload_result")
    if report is None:
        return
    language = lang()
    saved = [p for p in views.upload_preview(report, catalogue(), registry(), language) if p.accepted]
    with st.container(border=True, key="upload_result"):
        st.success(text("upload.saved", count=len(saved)), icon=":material/check_circle:")
        for preview in saved:
            st.markdown(f"- **{plain(preview.file)}** — {preview.entity_name}, "
                        f"{views.period_label(preview.period or '', language) if preview.period else ''}: "
                        f"{preview.status_text} ({text('upload.version', version=preview.version)})")
        if st.button(text("upload.dismiss"), key="upload_dismiss", type="tertiary"):
            st.session_state.pop("_upload_result", None)
            st.rerun()


ISSUES_AS_TABLE = 30  # up to this many errors show in a table that wraps; more, in a grid that scrolls


def file_preview(preview: views.FilePreview) -> None:
    """One file's verdict: its errors cell by cell, or what saving it will change."""
    language = lang()
    with st.container(border=True, key=f"preview_{abs(hash(preview.file))}"):
        st.markdown(f"**{plain(preview.file)}** — {preview.status_text}")  # no icon: its name would be read aloud
        if not preview.accepted:
            st.error(text("upload.errors", count=len(preview.issues)))
            if len(preview.issues) <= ISSUES_AS_TABLE:  # a static table wraps each message whole
                st.table(preview.issues.set_index(preview.issues.columns[0]))
            else:
                st.dataframe(preview.issues, hide_index=True, width="stretch", column_config={
                    text("col.message"): st.column_config.TextColumn(width="large"),
                    text("analyst.col.row"): st.column_config.TextColumn(width="medium")})
            return
        where = f"{preview.entity_name} (`{preview.entity}`), {views.period_label(preview.period or '', language)}"
        if preview.status == "new":
            st.markdown(text("upload.will_create", where=where, version=preview.version))
        elif preview.status == "unchanged":
            st.markdown(text("upload.already_there", where=where, version=preview.version))
        else:
            st.markdown(text("upload.will_replace", where=where, version=preview.version,
                             old=preview.replaces_version, count=len(preview.changes)))
            st.dataframe(preview.changes, hide_index=True, width="stretch")


def localise_uploader() -> None:
    """Replace the file uploader's built-in English words ('Upload', '10MB per file') with the interface's."""
    limit = st.get_option("server.maxUploadSize")
    browse = text("upload.browse").replace('"', "")
    hint = text("upload.limit", mb=limit).replace('"', "")
    st.html(
        "<style>"
        "[data-testid='stFileUploaderDropzone'] button [data-testid='stMarkdownContainer'] p {font-size: 0;}"
        f"[data-testid='stFileUploaderDropzone'] button [data-testid='stMarkdownContainer'] p::after "
        f"{{content: \"{browse}\"; font-size: 0.9rem;}}"
        "[data-testid='stFileUploaderDropzoneInstructions'] span {font-size: 0;}"
        f"[data-testid='stFileUploaderDropzoneInstructions'] span::after {{content: \"{hint}\"; font-size: 0.875rem;}}"
        "</style>"
    )


def template_download(entity_code: str, period: str) -> None:
    """A button that builds the blank return for an entity and period when clicked."""
    from kpi.template import build_template

    language = lang()

    def build() -> bytes:
        return build_template(catalogue(), registry(), entity_code, period, lang=language)

    st.download_button(text("upload.template_download"), data=build, file_name=f"{entity_code}_{period}.xlsx",
                       mime="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                       key="template_download", on_click="ignore", icon=":material/download:", type="primary")
