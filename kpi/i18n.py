"""Interface texts in Kazakh (default), Russian and English, and locale-aware number formatting."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

try:  # libyaml parses the catalogue ten times faster than the pure-Python loader
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]

from kpi.catalogue import DATA_DIR, LANGUAGES

DEFAULT_LANGUAGE = "kk"


MESSAGES_DIR: Path = DATA_DIR / "messages"


@lru_cache(maxsize=1)
def messages() -> dict[str, dict[str, str]]:
    """Every interface text by key, each with kk, ru and en (one file per area, no key twice)."""
    data: dict[str, dict[str, str]] = {}
    for path in sorted(MESSAGES_DIR.glob("*.yaml")):
        with open(path, encoding="utf-8") as fh:
            part: dict[str, dict[str, str]] = yaml.load(fh, Loader=SafeLoader) or {}
        duplicated = set(part) & set(data)
        if duplicated:
            raise ValueError(f"{path.name} repeats message keys {sorted(duplicated)}")
        data.update(part)
    return data


def normalise_language(lang: str | None) -> str:
    """A supported language code, falling back to Kazakh."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def t(key: str, lang: str | None = None, /, **params: Any) -> str:
    """The text for `key` in `lang`, with `{placeholders}` filled; the key itself when unknown."""
    entry = messages().get(key)
    if entry is None:
        return key
    template = entry.get(normalise_language(lang)) or entry.get(DEFAULT_LANGUAGE) or key
    return template.format(**params) if params else template


def format_number(value: float | None, lang: str | None = None, *, decimals: int = 1, unit: str = "") -> str:
    """A number as people write it in the language: kk/ru use a space for thousands and a comma for decimals."""
    if value is None:
        return "—"
    lang = normalise_language(lang)
    if float(value).is_integer() and unit != "percent" and unit != "ratio":
        text = f"{int(value):,}"
    else:
        text = f"{value:,.{decimals}f}"
    if lang in ("kk", "ru"):
        text = text.replace(",", "\u202f").replace(".", ",")
    if unit == "percent":
        return f"{text}\u00a0%"
    return text
