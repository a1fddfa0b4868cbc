"""How figures and names are written for a reader: numbers in the language's way, periods, entities, regions,
statuses and KPIs in words, titles in sentence case, export frames and file names.

No Streamlit and no store here: the dashboard (`kpi.views`), the briefing deck and the compliance module all
write their words and numbers through these functions.
"""

from __future__ import annotations

import datetime as dt
import re
import textwrap
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from kpi import style
from kpi.catalogue import Kpi, Registry
from kpi.i18n import format_number, t

NOT_APPLICABLE = "not_applicable"


# --------------------------------------------------------------------------- labels and numbers


def decimals_for(unit: str) -> int:
    """Decimals a figure in this unit is shown with."""
    return {"percent": 1, "ratio": 2}.get(unit, 0)


def fmt(value: float | None, unit: str, lang: str) -> str:
    """A figure as the language writes it, with % for shares."""
    return format_number(value, lang, decimals=decimals_for(unit), unit=unit)


def fmt_delta(delta: float | None, unit: str, lang: str) -> str | None:
    """A change with its sign ('+2,3 п.т.'); percentage changes are in percentage points. None when unknown."""
    if delta is None:
        return None
    rounded = round(delta, decimals_for(unit))
    sign = "+" if rounded > 0 else "-" if rounded < 0 else "±"
    # format_number keeps decimals for a 'ratio'; a change in percent is shown with them too
    number = format_number(abs(rounded), lang, decimals=decimals_for(unit),
                           unit="ratio" if unit in ("ratio", "percent") else "")
    if unit == "percent":
        return f"{sign}{number}\u00a0{t('unit.pp', lang)}"
    return f"{sign}{number}"


def unit_label(unit: str, lang: str) -> str:
    """The unit as an axis or column title shows it."""
    return t(f"unit.{unit}", lang)


def date_label(day: Any, lang: str) -> str:
    """A date as the language writes it ('31.12.2025', '31 Dec 2025'); see `kpi.periods`."""
    from kpi import periods as calendar

    return calendar.date_label(day, lang)


def period_label(period: str, lang: str) -> str:
    """A period in words: '2025 ж. 4-тоқсан', '4 кв. 2025', 'Q4 2025'."""
    from kpi import periods as calendar

    return calendar.period_label(period, lang)


def type_label(entity_type: str, lang: str) -> str:
    """The name of an entity type."""
    return t(f"type.{entity_type}", lang)


def region_label(registry: Registry, code: str | None, lang: str) -> str:
    """The name of a region, or 'national remit' for an entity without one."""
    if code is None:
        return t("app.national_remit", lang)
    region = registry.region_by_code.get(code)
    return region.name(lang) if region else code


def entity_label(registry: Registry, code: str, lang: str) -> str:
    """The name of an entity (its code when unknown)."""
    entity = registry.entity_by_code.get(code)
    return entity.name(lang) if entity else code


def key_label(registry: Registry, level: str, key: str | None, lang: str) -> str:
    """The name of a key at a level: the nation, an entity type, a region or an entity."""
    if level == "national" or key is None:
        return t("level.national", lang)
    if level == "entity_type":
        return type_label(key, lang)
    if level == "region":
        return region_label(registry, key, lang)
    return entity_label(registry, key, lang)


def status_text(status: str, lang: str) -> str:
    """The status in words."""
    return t("app.not_applicable", lang) if status == NOT_APPLICABLE else t(f"status.{status}", lang)


def status_colour(status: str) -> str:
    """The colour a status is drawn in."""
    return style.STATUS_COLOURS.get(status, style.STATUS_COLOURS["no_data"])


def delta_colour(kpi: Kpi) -> str:
    """How a change is coloured: a rise is good, bad (for 'lower is better') or neutral (monitoring)."""
    return {"higher": "normal", "lower": "inverse"}.get(kpi.direction, "off")


def kpi_label(kpi: Kpi, lang: str) -> str:
    """'G2.K1 · Corruption risks eliminated'."""
    return f"{kpi.id} · {kpi.short(lang)}"


def metric_unit(kpi: Kpi, metric: str) -> str:
    """The unit of a KPI's main, breakdown or secondary metric."""
    if metric == kpi.id:
        return kpi.unit
    key = metric.split(":", 1)[1]
    formula = next(f for f in (*kpi.breakdown, *kpi.secondary) if f.key == key)
    return "percent" if formula.scale == 100 else "units"


def metric_label(kpi: Kpi, metric: str, lang: str) -> str:
    """The name of a KPI's main metric, or of a breakdown or secondary one (a risk direction, an offence type)."""
    if metric == kpi.id:
        return kpi.short(lang)
    key = metric.split(":", 1)[1]
    formula = next(f for f in (*kpi.breakdown, *kpi.secondary) if f.key == key)
    return formula.label(lang) if formula.label is not None else key


# Abbreviations that stay in capitals when a title in capitals is put in sentence case.
ACRONYMS = frozenset({"ISO", "ҚР", "СТ", "НҚА", "ЖОО", "ОМО", "ЖАО", "ҚІЖК", "ЖБАЖ", "ЦДИАӨМ", "KPI", "РК", "НПА",
                      "УПК", "ИСУП", "МЦРИАП", "ЦГО", "МИО"})
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def sentence_case(title: str) -> str:
    """A title in sentence case (the guide writes group and KPI titles in capitals, abbreviations kept:
    'ISO 37001 НЕМЕСЕ ҚР СТ 3049-2017 ... ЖОО-ЛАРДЫҢ' → 'ISO 37001 немесе ҚР СТ 3049-2017 ... ЖОО-лардың')."""
    letters = [ch for ch in title if ch.isalpha()]
    if not letters or sum(ch.isupper() for ch in letters) < 0.5 * len(letters):
        return title
    lowered = _WORD.sub(lambda m: m.group(0) if m.group(0).upper() in ACRONYMS else m.group(0).lower(), title)
    first = next((i for i, ch in enumerate(lowered) if ch.isalpha()), 0)
    return lowered[:first] + lowered[first].upper() + lowered[first + 1:]


def wrap(text: str, width: int = 70) -> str:
    """A long title broken into lines for a Plotly title (Kazakh titles run long)."""
    return "<br>".join(textwrap.wrap(text, width=width, break_long_words=False)) or text


def shorten(text: str, width: int = 44) -> str:
    """A label cut to fit a chart axis."""
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def drop_shared_words(names: Sequence[str]) -> list[str]:
    """Names without the longest phrase (two words or more) most of them start or end with.

    Chart labels are short: "of the Republic of Kazakhstan" says nothing there and pushes out what
    tells the bars apart. Only one phrase goes, so "Ministry of" stays when the country's name went.
    """
    split = [n.split(" ") for n in names]

    def edge(words: list[str], size: int, from_end: bool) -> tuple[str, ...]:
        return tuple(words[-size:] if from_end else words[:size])

    best: tuple[str, ...] = ()
    best_from_end = False
    for from_end in (True, False):
        for words in split:
            for size in range(2, len(words)):
                phrase = edge(words, size, from_end)
                shared = sum(1 for w in split if len(w) > size and edge(w, size, from_end) == phrase)
                if shared >= 2 and shared * 2 >= len(split) and len(" ".join(phrase)) > len(" ".join(best)):
                    best, best_from_end = phrase, from_end
    size = len(best)
    return [" ".join((w[:-size] if best_from_end else w[size:])
                     if best and len(w) > size and edge(w, size, best_from_end) == best else w) for w in split]


def node_label(registry: Registry, path: Sequence[Any], lang: str, *, root: str | None = None) -> str:
    """The name of the node a drill path ends at (the root's own label at the top)."""
    if not path:
        return root or t("level.national", lang)
    step = path[-1]
    return key_label(registry, step.level, step.key, lang)


ROUNDED_COLUMNS = ("value", "target")


def rounded(value: Any, unit: str) -> float | None:
    """A figure rounded as every view shows it (tile, table, chart label, export, slide): `decimals_for(unit)`."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return round(float(value), decimals_for(unit))


def export_frame(frame: pd.DataFrame, columns: Mapping[str, str], lang: str, *, unit: str | None = None
                 ) -> pd.DataFrame:
    """Selected columns renamed to their interface titles (the data behind a chart, as exported and shown).

    Values and targets are rounded as the tiles and charts show them, by `unit` or by the frame's own `unit`
    column; `attrs["decimals"]` keeps the decimals of each rounded cell for the XLSX number format."""
    present = [c for c in columns if c in frame.columns]
    out = frame[present].copy()
    units = [str(u) for u in frame["unit"]] if "unit" in frame.columns else [unit] * len(frame) if unit else None
    decimals: dict[str, list[int]] = {}
    if units is not None:
        for column in ROUNDED_COLUMNS:
            if column in out.columns:
                out[column] = pd.array([rounded(v, u) for v, u in zip(out[column], units)], dtype="Float64")
                decimals[t(columns[column], lang)] = [decimals_for(u) for u in units]
    if "unit" in out.columns:
        out["unit"] = [unit_label(str(u), lang) for u in out["unit"]]
    for column in out.columns:
        out[column] = dates_as_text(out[column], lang)
    out = out.rename(columns={c: t(columns[c], lang) for c in present})
    out.attrs["decimals"] = decimals
    return out


def dates_as_text(series: pd.Series, lang: str) -> pd.Series:
    """Dates and moments written the language's way ('31.12.2025 14:05', '31 Dec 2025'); other columns as
    they are. A moment is shown in Almaty time with its hour, a date alone without."""
    from kpi import periods as calendar

    sample = next((v for v in series if v is not None and not (isinstance(v, float) and v != v)
                   and v is not pd.NaT), None)
    if isinstance(sample, dt.datetime):
        return pd.Series([calendar.datetime_label(v, lang) if isinstance(v, dt.datetime) and v is not pd.NaT
                          else None for v in series], index=series.index, dtype=object)
    if isinstance(sample, dt.date):
        return pd.Series([calendar.date_label(v, lang) if isinstance(v, dt.date) else None for v in series],
                         index=series.index, dtype=object)
    return series


def export_name(*parts: str | None, period: str | None = None, lang: str = "kk") -> str:
    """A download's file name (without extension) that says what it holds: KPI, view, period and scope, each
    written the language's way, in characters every file system accepts."""
    from kpi import periods as calendar

    words = [p for p in parts[:1] if p]
    if period:
        words.append(calendar.file_part(period, lang))
    words += [p for p in parts[1:] if p]
    return "_".join(filter(None, (_slug(w) for w in ["parasat", *words])))[:150]


def _slug(text: str) -> str:
    kept = "".join(ch if ch.isalnum() or ch in ".-" else "_" for ch in text.strip())
    while "__" in kept:
        kept = kept.replace("__", "_")
    return kept.strip("_.")

