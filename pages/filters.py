"""The sidebar's filters (period, entity type, region), kept across pages and in the URL, and the state of a
page's own controls: seeded from a link, handed over from another page, remembered for when the user comes back."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import streamlit as st

from kpi import labels, views
from kpi.catalogue import ENTITY_TYPES
from kpi.i18n import t
from kpi.settings import get_settings
from pages import routes, service
from pages.connection import registry
from pages.language import INITIAL_QUERY_KEY, lang
from pages.session import current_scope

PERIOD_KEY = "filter_period"
TYPE_KEY = "filter_type"
REGION_KEY = "filter_region"
FILTERS_KEY = "_filters"
URL_WRITTEN_KEY = "_url_written"
FILTER_PARAMS = ("lang", "period", "type", "region")
ALL = "__all__"


def sidebar_filters() -> views.Filters:
    """Period, entity type and region in the sidebar, seeded from the URL and kept across pages."""
    language = lang()
    available = service.periods()
    reg = registry()
    if PERIOD_KEY not in st.session_state:
        seeded = views.Filters.from_query(st.session_state.get(INITIAL_QUERY_KEY, {}), periods=available,
                                          registry=reg, default_period=service.default_period())
        st.session_state[PERIOD_KEY] = seeded.period
        st.session_state[TYPE_KEY] = seeded.entity_type or ALL
        st.session_state[REGION_KEY] = seeded.region or ALL
    options = list(reversed(available))
    if st.session_state.get(PERIOD_KEY) not in options:
        st.session_state[PERIOD_KEY] = service.default_period()
    provisional = {p for p in options if service.is_provisional(p)}
    select(t("filter.period", language), options, PERIOD_KEY, sidebar=True,
           format_func=lambda p: labels.period_label(p, language) + (" *" if p in provisional else ""),
           help=t("periods.picker_help", language,
                  threshold=labels.fmt(100 * get_settings().coverage_threshold, "percent", language)))
    # only what the user may see: the types and regions of the entities in their scope
    visible = views.visible_entities(reg, scope=current_scope())
    types = [c for c in ENTITY_TYPES if any(e.type == c for e in visible)]
    select(t("filter.entity_type", language), [ALL, *types], TYPE_KEY, sidebar=True,
           format_func=lambda c: t("filter.all_types", language) if c == ALL else labels.type_label(c, language))
    seen_regions = {e.region for e in visible}
    regions = sorted((r for r in reg.regions if r.code in seen_regions), key=lambda r: r.name(language))
    select(t("filter.region", language), [ALL, *[r.code for r in regions]], REGION_KEY, sidebar=True,
           format_func=lambda c: t("filter.all_regions", language) if c == ALL
           else labels.region_label(reg, c, language))
    chosen = views.Filters(
        period=st.session_state.get(PERIOD_KEY),
        entity_type=None if st.session_state[TYPE_KEY] == ALL else st.session_state[TYPE_KEY],
        region=None if st.session_state[REGION_KEY] == ALL else st.session_state[REGION_KEY],
        lang=language,
    )
    st.session_state[FILTERS_KEY] = chosen
    _write_url(chosen.to_query(), remove=[k for k in FILTER_PARAMS if k not in chosen.to_query()])
    return chosen


def current() -> views.Filters:
    """The filters the sidebar chose on this run (the page runs under app.py's router: see `routes.ensure_routed`)."""
    routes.ensure_routed()
    chosen: views.Filters | None = st.session_state.get(FILTERS_KEY)
    return chosen if chosen is not None else views.Filters(lang=lang())


def population() -> frozenset[str] | None:
    """The entities the sidebar filters keep."""
    return current().population(registry())


def sync_url(page_params: Mapping[str, str | None] | None = None) -> None:
    """Make the URL say exactly this view: the filters plus the page's own choices, nothing stale."""
    wanted = current().to_query() | {k: v for k, v in (page_params or {}).items() if v}
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


def page_choice(key: str, param: str, options: Sequence[str], default: str | None = None) -> None:
    """Set a page control's state before it draws: from a link if one names it, else as it was, else the default."""
    if routes.take_over(key, options):
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
