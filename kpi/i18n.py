"""Interface texts in Kazakh (default), Russian and English, with CLDR plural rules and locale-aware numbers.

A message is a mapping of language to text. A text is either a string with `{placeholders}`, or, for a
message about a count, a mapping of CLDR plural categories to strings (`one`, `few`, `many`, `other`;
`other` always present). The category comes from Babel's CLDR rules for the language applied to the
`count` parameter, or to the parameter the message names under `plural:`. Kazakh has one form for
every count after a numeral (only `one` and `other`, both the same noun), Russian three (`one` 1, 21;
`few` 2-4, 22; `many` 0, 5-20, 25), English two.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from babel import Locale

try:  # libyaml parses the catalogue ten times faster than the pure-Python loader
    from yaml import CSafeLoader as SafeLoader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader  # type: ignore[assignment]

from kpi.catalogue import DATA_DIR, LANGUAGES

DEFAULT_LANGUAGE = "kk"
PLURAL_CATEGORIES = ("zero", "one", "two", "few", "many", "other")
PLURAL_PARAM = "count"  # the parameter that picks a plural form unless the message names another
AGENCY_ZONE = ZoneInfo("Asia/Almaty")  # Kazakhstan's single time zone, UTC+5 since 1 March 2024

MESSAGES_DIR: Path = DATA_DIR / "messages"

Text = str | dict[str, str]


@lru_cache(maxsize=1)
def messages() -> dict[str, dict[str, Any]]:
    """Every interface text by key, each with kk, ru and en (one file per area, no key twice)."""
    data: dict[str, dict[str, Any]] = {}
    for path in sorted(MESSAGES_DIR.glob("*.yaml")):
        with open(path, encoding="utf-8") as fh:
            part: dict[str, dict[str, Any]] = yaml.load(fh, Loader=SafeLoader) or {}
        duplicated = set(part) & set(data)
        if duplicated:
            raise ValueError(f"{path.name} repeats message keys {sorted(duplicated)}")
        for key, entry in part.items():
            _check_entry(path.name, key, entry)
        data.update(part)
    return data


def _check_entry(file: str, key: str, entry: Any) -> None:
    """Refuse a message whose plural forms lack `other` or use a category CLDR does not know."""
    if not isinstance(entry, dict):
        raise ValueError(f"{file}: message {key} is not a mapping of languages")
    for lang in LANGUAGES:
        text = entry.get(lang)
        if isinstance(text, dict):
            unknown = set(text) - set(PLURAL_CATEGORIES)
            if unknown or "other" not in text:
                raise ValueError(f"{file}: message {key} ({lang}) needs plural forms among {PLURAL_CATEGORIES} "
                                 f"with 'other'; got {sorted(text)}")


def normalise_language(lang: str | None) -> str:
    """A supported language code, falling back to Kazakh."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


@lru_cache(maxsize=8)
def _plural_rule(lang: str) -> Any:
    return Locale.parse(lang).plural_form


def plural_category(count: Any, lang: str | None = None) -> str:
    """The CLDR plural category of `count` in `lang` ('one', 'few', 'many' or 'other')."""
    try:
        number = float(str(count).replace("\u202f", "").replace("\u00a0", "").replace(" ", "").replace(",", "."))
    except ValueError:
        return "other"
    value: int | float = int(number) if number.is_integer() else number
    return str(_plural_rule(normalise_language(lang))(value))


def is_plural(key: str) -> bool:
    """Whether the message `key` has plural forms in some language."""
    entry = messages().get(key) or {}
    return any(isinstance(entry.get(lang), dict) for lang in LANGUAGES)


def plural_param(key: str) -> str:
    """The parameter whose number picks the plural form of `key` (`count` unless the message says)."""
    return str((messages().get(key) or {}).get("plural", PLURAL_PARAM))


def t(key: str, lang: str | None = None, /, **params: Any) -> str:
    """The text for `key` in `lang`, in the plural form its count needs, with `{placeholders}` filled.

    Unknown keys come back as the key itself, so a missing text shows up on screen instead of failing.
    """
    entry = messages().get(key)
    if entry is None:
        return key
    lang = normalise_language(lang)
    template: Text = entry.get(lang) or entry.get(DEFAULT_LANGUAGE) or key
    if isinstance(template, dict):
        selector = params.get(plural_param(key))
        category = plural_category(selector, lang) if selector is not None else "other"
        template = template.get(category) or template["other"]
    return template.format(**params) if params else template


def agency_time(moment: dt.datetime, fmt: str = "%H:%M") -> str:
    """A moment as the clock reads in Astana (UTC+5); a naive moment is taken as UTC, as the store keeps it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(AGENCY_ZONE).strftime(fmt)


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
