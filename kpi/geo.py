"""Maps of Kazakhstan's 20 first-level regions coloured by a KPI value, drawn without any network access.

Boundaries come from kpi/data/regions.geojson (built once by scripts/build_regions_geojson.py) and
are read with `json`; the map style is Plotly's built-in plain background, so no tile, font or sprite is
ever fetched. The tile map is the fallback that needs no map at all.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.colors import get_colorscale, sample_colorscale

from kpi.catalogue import DATA_DIR, Region, load_registry
from kpi.i18n import format_number, normalise_language, t
from kpi.style import ACCENT, FONT_FAMILY, MUTED, SEQUENTIAL, STATUS_COLOURS, TEXT

GEOJSON_PATH: Path = DATA_DIR / "regions.geojson"

# Plotly's built-in "white-bg" style: a plain background, no sources, glyphs or sprite, so nothing is fetched.
# (A custom style dict also fetches nothing, but Streamlit's second draw of the figure lost its empty
# `sources`, and MapLibre then stopped answering hover and click on the region shapes.)
MAP_STYLE = "white-bg"
MAP_CENTER: dict[str, float] = {"lat": 48.3, "lon": 66.9}
MAP_ZOOM = 3.35  # Kazakhstan spans about 600 x 320 px at this zoom: whole in a 704 px Streamlit column
MAP_HEIGHT = 470
TILE_HEIGHT = 480

DEFAULT_COLORSCALE: list[list[Any]] = [
    [i / (len(SEQUENTIAL) - 1), colour] for i, colour in enumerate(SEQUENTIAL)
]
NO_DATA_COLOUR = STATUS_COLOURS["no_data"]
BORDER_COLOUR = "#8C99A6"  # region borders: visible on the palest fill and on the background
TILE_BORDER = "#FFFFFF"
SELECTED_BORDER = ACCENT  # gold stands out on every blue of the scale and on the no-data grey
CITY_MARKER_SIZE = 11
# Plotly's number separators per language: decimal mark, then thousands mark (as format_number).
SEPARATORS = {"kk": ",\u202f", "ru": ",\u202f", "en": ".,"}


def attribution(lang: str = "kk") -> str:
    """The boundary attribution line in the language."""
    return t("geo.attribution", lang)


@lru_cache(maxsize=1)
def region_geojson() -> dict[str, Any]:
    """The regions' FeatureCollection, one feature per region with `properties.code` (shared: do not mutate)."""
    with open(GEOJSON_PATH, encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def short_name(region: Region, lang: str = "kk") -> str:
    """A region's short name for tight spaces (tile labels), in the language."""
    key = f"geo.short.{region.code}"
    text = t(key, lang)
    return region.name(normalise_language(lang)) if text == key else text


def region_map_figure(
    values: Mapping[str, float | None],
    *,
    lang: str = "kk",
    title: str = "",
    unit: str = "percent",
    colorscale: str | Sequence[Any] | None = None,
    selected: str | None = None,
    statuses: Mapping[str, str] | None = None,
    legend_title: str = "",
) -> go.Figure:
    """A choropleth of the regions on an offline MapLibre map; customdata[0] of every point is the region code.

    With `statuses` (region code → met / at_risk / missed / ...) and at least one judged against a target,
    each region is filled in its status colour, as the rankings are, with a legend titled `legend_title`
    (the target); otherwise the value runs along a sequential scale.
    """
    lang = normalise_language(lang)
    regions = load_registry().regions
    features = {f["properties"]["code"]: f for f in region_geojson()["features"]}
    if statuses and any(statuses.get(r.code) in JUDGED for r in regions):
        return _status_map_figure(values, statuses, features, lang=lang, title=title, unit=unit,
                                  selected=selected, legend_title=legend_title)
    with_value = [r for r in regions if _number(values.get(r.code)) is not None and r.code in features]
    without_value = [r for r in regions if r not in with_value and r.code in features]
    zmin, zmax = _value_range([_number(values.get(r.code)) for r in with_value])
    scale = _colorscale(colorscale)

    def common(group: list[Region]) -> dict[str, Any]:
        return _shapes(group, features, values, lang, unit, selected)

    fig = go.Figure()
    if without_value:
        fig.add_trace(
            go.Choroplethmap(
                name=t("geo.no_data", lang),
                z=[0] * len(without_value),
                colorscale=[[0, NO_DATA_COLOUR], [1, NO_DATA_COLOUR]],
                showscale=False,
                showlegend=bool(with_value),
                **common(without_value),
            )
        )
    if with_value:
        fig.add_trace(
            go.Choroplethmap(
                name=title or "",
                z=[_number(values.get(r.code)) for r in with_value],
                zmin=zmin,
                zmax=zmax,
                colorscale=scale,
                showlegend=False,
                colorbar=_colorbar(unit),
                **common(with_value),
            )
        )
    cities = [r for r in regions if r.kind == "city"]
    fills = {r.code: NO_DATA_COLOUR for r in cities}
    present = [(r, n) for r in cities if (n := _number(values.get(r.code))) is not None]
    fills.update(_sample(scale, [n for _, n in present], zmin, zmax, [r for r, _ in present]))
    _add_city_markers(fig, cities, values, lang, unit, fills, selected)
    _map_layout(fig, lang, title)
    return fig


# Statuses judged against a target, and the order the map's legend lists every status in (as the rankings).
JUDGED = ("met", "at_risk", "missed")
STATUS_ORDER = (*JUDGED, "no_target", "monitoring", "no_data")


def _status_map_figure(
    values: Mapping[str, float | None],
    statuses: Mapping[str, str],
    features: Mapping[str, Any],
    *,
    lang: str,
    title: str,
    unit: str,
    selected: str | None,
    legend_title: str,
) -> go.Figure:
    """The regions filled in their status colours: one trace (and legend entry) per status present."""
    regions = [r for r in load_registry().regions if r.code in features]

    def status(region: Region) -> str:
        found = statuses.get(region.code) or "no_data"
        return "no_data" if _number(values.get(region.code)) is None else found

    fig = go.Figure()
    for name in STATUS_ORDER:
        group = [r for r in regions if status(r) == name]
        if not group:
            continue
        colour = STATUS_COLOURS.get(name, NO_DATA_COLOUR)
        fig.add_trace(
            go.Choroplethmap(
                name=t(f"status.{name}", lang),
                z=[1] * len(group),
                colorscale=[[0, colour], [1, colour]],
                showscale=False,
                showlegend=True,
                legendgroup=name,
                **_shapes(group, features, values, lang, unit, selected, status_of=status),
            )
        )
    cities = [r for r in load_registry().regions if r.kind == "city"]
    fills = {r.code: STATUS_COLOURS.get(status(r), NO_DATA_COLOUR) for r in cities}
    _add_city_markers(fig, cities, values, lang, unit, fills, selected, status_of=status)
    _map_layout(fig, lang, title, legend_title=legend_title)
    return fig


def _shapes(
    group: list[Region],
    features: Mapping[str, Any],
    values: Mapping[str, float | None],
    lang: str,
    unit: str,
    selected: str | None,
    *,
    status_of: Callable[[Region], str] | None = None,
) -> dict[str, Any]:
    """A choropleth trace's regions: their shapes, what hover shows, a thick border on the selected one."""
    return {
        "geojson": {"type": "FeatureCollection", "features": [features[r.code] for r in group]},
        "featureidkey": "properties.code",
        "locations": [r.code for r in group],
        "customdata": [_customdata(r, values.get(r.code), lang, unit, status_of) for r in group],
        "hovertemplate": _hovertemplate(status_of),
        "marker": {
            "line": {
                "color": [SELECTED_BORDER if r.code == selected else BORDER_COLOUR for r in group],
                "width": [3 if r.code == selected else 0.7 for r in group],
            }
        },
        "unselected": {"marker": {"opacity": 0.55}},
    }


def _hovertemplate(status_of: Callable[[Region], str] | None) -> str:
    status = "<br>%{customdata[3]}" if status_of is not None else ""
    return "<b>%{customdata[1]}</b><br>%{customdata[2]}" + status + "<extra></extra>"


def _map_layout(fig: go.Figure, lang: str, title: str, *, legend_title: str = "") -> None:
    fig.update_layout(
        map={"style": MAP_STYLE, "center": MAP_CENTER, "zoom": MAP_ZOOM},
        legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.8)", "itemclick": False,
                "itemdoubleclick": False, "title": {"text": legend_title}},
        annotations=[_attribution_annotation(lang)],
        **_layout(lang, title, MAP_HEIGHT),
    )


def tile_map_figure(
    values: Mapping[str, float | None],
    *,
    lang: str = "kk",
    title: str = "",
    unit: str = "percent",
    colorscale: str | Sequence[Any] | None = None,
    selected: str | None = None,
) -> go.Figure:
    """One square tile per region at its registry row/column, coloured as the map; customdata[0] is the code."""
    lang = normalise_language(lang)
    regions = load_registry().regions
    with_value = [r for r in regions if _number(values.get(r.code)) is not None]
    without_value = [r for r in regions if r not in with_value]
    zmin, zmax = _value_range([_number(values.get(r.code)) for r in with_value])
    scale = _colorscale(colorscale)

    fills = {r.code: NO_DATA_COLOUR for r in without_value}
    fills.update(_sample(scale, [_number(values.get(r.code)) for r in with_value], zmin, zmax, with_value))

    def bars(group: list[Region], colours: Any, **extra: Any) -> go.Bar:
        # The label is the bar's own inside text: Plotly shrinks it to fit a narrow figure, and a click
        # on it is a click on the tile.
        return go.Bar(
            x=[r.tile["col"] for r in group],
            y=[0.92] * len(group),
            base=[r.tile["row"] - 0.46 for r in group],
            width=0.92,
            text=[f"<b>{short_name(r, lang)}</b><br>{format_number(_number(values.get(r.code)), lang, unit=unit)}"
                  for r in group],
            textposition="inside",
            insidetextanchor="middle",
            textangle=0,
            textfont={"size": 12, "color": [_text_colour(fills[r.code]) for r in group]},
            customdata=[_customdata(r, values.get(r.code), lang, unit) for r in group],
            hovertemplate="<b>%{customdata[1]}</b><br>%{customdata[2]}<extra></extra>",
            marker={
                "color": colours,
                "line": {
                    "color": [SELECTED_BORDER if r.code == selected else TILE_BORDER for r in group],
                    "width": [4 if r.code == selected else 1 for r in group],
                },
            },
            unselected={"marker": {"opacity": 0.55}},
            **extra,
        )

    fig = go.Figure()
    if without_value:
        fig.add_trace(bars(without_value, NO_DATA_COLOUR, name=t("geo.no_data", lang), showlegend=bool(with_value)))
    if with_value:
        numbers = [_number(values.get(r.code)) for r in with_value]
        fig.add_trace(
            bars(
                with_value,
                numbers,
                name=title or "",
                showlegend=False,
                marker_colorscale=scale,
                marker_cmin=zmin,
                marker_cmax=zmax,
                marker_showscale=True,
                marker_colorbar=_colorbar(unit),
            )
        )
    rows = max(r.tile["row"] for r in regions)
    cols = max(r.tile["col"] for r in regions)
    fig.update_layout(
        barmode="overlay",
        bargap=0,
        xaxis={"range": [-0.55, cols + 0.55], "visible": False, "fixedrange": True},
        yaxis={"range": [rows + 0.55, -0.55], "visible": False, "fixedrange": True,
               "scaleanchor": "x", "scaleratio": 1},
        plot_bgcolor="rgba(0,0,0,0)",
        uniformtext={"minsize": 7, "mode": "show"},
        legend={"x": 0.0, "y": 0.0, "yanchor": "bottom", "itemclick": False, "itemdoubleclick": False},
        **_layout(lang, title, TILE_HEIGHT),
    )
    return fig


def region_code_from_selection(selection: Mapping[str, Any] | None) -> str | None:
    """The region code of the first clicked point in a Streamlit plotly selection event, or None."""
    if not selection:
        return None
    inner = selection.get("selection", selection)
    points = inner.get("points") if isinstance(inner, Mapping) else None
    codes = {r.code for r in load_registry().regions}
    for point in points or ():
        if not isinstance(point, Mapping):
            continue
        custom = point.get("customdata")
        if isinstance(custom, Sequence) and not isinstance(custom, str):
            custom = custom[0] if custom else None
        for candidate in (custom, point.get("location")):
            if isinstance(candidate, str) and candidate in codes:
                return candidate
    return None


# --- helpers ---------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _value_range(numbers: Sequence[float | None]) -> tuple[float, float]:
    present = [n for n in numbers if n is not None]
    if not present:
        return 0.0, 1.0
    low, high = min(present), max(present)
    if low == high:
        return (low - 1, high + 1) if low else (0.0, 1.0)
    return low, high


def _colorscale(colorscale: str | Sequence[Any] | None) -> list[list[Any]]:
    """The scale as [[position, colour], ...]: the product's sequential blues, a Plotly scale name, or a list."""
    if colorscale is None:
        return [list(step) for step in DEFAULT_COLORSCALE]
    scale = [list(step) for step in (get_colorscale(colorscale) if isinstance(colorscale, str) else colorscale)]
    try:  # tiles and city markers need the colours themselves, not just Plotly's rendering of them
        sample_colorscale(scale, [0.5])
    except (TypeError, ValueError) as exc:
        raise ValueError(f"colorscale colours must be '#rrggbb' or 'rgb(r, g, b)': {colorscale!r}") from exc
    return scale


def _sample(
    scale: list[list[Any]], numbers: Sequence[float | None], zmin: float, zmax: float, group: Sequence[Region]
) -> dict[str, str]:
    fractions = [min(1.0, max(0.0, ((n or 0.0) - zmin) / (zmax - zmin))) for n in numbers]
    colours = sample_colorscale(scale, fractions, colortype="rgb") if fractions else []
    return {r.code: c for r, c in zip(group, colours)}


def _text_colour(fill: str) -> str:
    """Dark text on a light fill, white on a dark one ('#rrggbb' or 'rgb(r, g, b)'; dark text otherwise)."""
    try:
        if fill.startswith("#") and len(fill) == 7:
            red, green, blue = (float(int(fill[i : i + 2], 16)) for i in (1, 3, 5))
        else:
            red, green, blue = (float(c) for c in fill[fill.index("(") + 1 : fill.index(")")].split(",")[:3])
    except ValueError:
        return TEXT
    luminance = 0.2126 * red + 0.7152 * green + 0.0722 * blue
    return TEXT if luminance > 140 else "#FFFFFF"


def _customdata(region: Region, value: Any, lang: str, unit: str,
                status_of: Callable[[Region], str] | None = None) -> list[str]:
    number = _number(value)
    shown = t("geo.no_data", lang) if number is None else format_number(number, lang, unit=unit)
    row = [region.code, region.name(lang), shown]
    if status_of is not None:
        row.append(t(f"status.{status_of(region)}", lang))
    return row


def _add_city_markers(
    fig: go.Figure,
    cities: list[Region],
    values: Mapping[str, float | None],
    lang: str,
    unit: str,
    fills: Mapping[str, str],
    selected: str | None,
    *,
    status_of: Callable[[Region], str] | None = None,
) -> None:
    """Cities are a few pixels wide at country zoom: a ringed dot at each centre, in the city's colour, to click."""
    if not cities:
        return
    lat = [r.center["lat"] for r in cities]
    lon = [r.center["lon"] for r in cities]
    fig.add_trace(
        go.Scattermap(
            lat=lat,
            lon=lon,
            mode="markers",
            marker={
                "size": [CITY_MARKER_SIZE + (7 if r.code == selected else 4) for r in cities],
                "color": [SELECTED_BORDER if r.code == selected else BORDER_COLOUR for r in cities],
            },
            hoverinfo="skip",
            showlegend=False,
            name="",
        )
    )
    fig.add_trace(
        go.Scattermap(
            lat=lat,
            lon=lon,
            mode="markers",
            marker={"size": CITY_MARKER_SIZE, "color": [fills[r.code] for r in cities]},
            customdata=[_customdata(r, values.get(r.code), lang, unit, status_of) for r in cities],
            hovertemplate=_hovertemplate(status_of),
            unselected={"marker": {"opacity": 0.55}},
            showlegend=False,
            name="",
        )
    )


def _colorbar(unit: str) -> dict[str, Any]:
    return {
        "thickness": 12,
        "len": 0.7,
        "x": 1.01,  # outside the plot area, so it never covers East Kazakhstan on a narrow page
        "xanchor": "left",
        "ticksuffix": "\u00a0%" if unit == "percent" else "",
        "outlinewidth": 0,
        "bgcolor": "rgba(255,255,255,0.7)",
    }


def _attribution_annotation(lang: str) -> dict[str, Any]:
    return {
        "text": attribution(lang),
        "xref": "paper",
        "yref": "paper",
        "x": 0,
        "y": 0,
        "xanchor": "left",
        "yanchor": "bottom",
        "showarrow": False,
        "font": {"size": 10, "color": MUTED},
        "bgcolor": "rgba(255,255,255,0.75)",
    }


def _layout(lang: str, title: str, height: int) -> dict[str, Any]:
    return {
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        "height": height,
        "margin": {"l": 4, "r": 4, "t": 44 if title else 4, "b": 4},
        "font": {"family": FONT_FAMILY, "color": TEXT},
        "separators": SEPARATORS.get(lang, SEPARATORS["kk"]),
        "clickmode": "event+select",
        "hoverlabel": {"font": {"family": FONT_FAMILY}},
    }
