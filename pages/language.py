"""The interface's language (chosen in the sidebar, else from the link the session opened with, else Kazakh),
its texts, and user text made inert before any Markdown draws it."""

from __future__ import annotations

import re
from typing import Any

import streamlit as st

from kpi.catalogue import LANGUAGES
from kpi.i18n import normalise_language, t

LANGUAGE_NAMES = {"kk": "Қаз", "ru": "Рус", "en": "Eng"}
LANGUAGE_KEY = "lang"
CHOSEN_LANGUAGE_KEY = "_lang"
INITIAL_QUERY_KEY = "_initial_query"


def capture_initial_query() -> None:
    """Keep the URL the session opened with, so page controls can start from a shared link."""
    if INITIAL_QUERY_KEY not in st.session_state:
        st.session_state[INITIAL_QUERY_KEY] = {k: st.query_params.get_all(k) for k in st.query_params}


def initial_query(name: str) -> str | None:
    """The last value of a parameter in the URL the session opened with."""
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
        st.session_state[CHOSEN_LANGUAGE_KEY] = normalise_language(initial_query("lang"))
    return normalise_language(st.session_state[CHOSEN_LANGUAGE_KEY])


def text(key: str, **params: Any) -> str:
    """An interface text in the current language."""
    return t(key, lang(), **params)


_MARKDOWN_SIGNS = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation mark: CommonMark lets each be escaped


def plain(value: object) -> str:
    """User text made inert inside Markdown: no link, image, emphasis, HTML, emoji or colour directive, one line."""
    return _MARKDOWN_SIGNS.sub(r"\\\1", " ".join(str(value).split()))
