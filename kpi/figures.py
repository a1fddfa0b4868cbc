"""The dashboard's Plotly figures: trends, rankings, breakdowns, the region map, an entity's trend and the
submission bars, each drawn from a view model of `kpi.views`. No Streamlit here."""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from kpi import style
from kpi.catalogue import ENTITY_TYPES, Kpi, Registry
from kpi.i18n import normalise_language, t
from kpi.labels import fmt, metric_label, metric_unit, period_label, shorten, type_label, unit_label, wrap
from kpi.views import SUBMISSION_COLOURS, SUBMISSION_STATUSES, EntityProfile, axis_periods

# --------------------------------------------------------------------------- figures


def _separators(lang: str) -> str:
    return ".," if normalise_language(lang) == "en" else ",\u00a0"


def _style(fig: go.Figure, title: str, lang: str, *, height: int = 420, x_title: str | None = None,
           y_title: str | None = None, title_width: int = 80) -> go.Figure:
    wrapped = wrap(title, title_width)
    lines = wrapped.count("<br>") + 1
    fig.update_layout(
        title={"text": wrapped, "x": 0.01, "xanchor": "left", "font": {"size": 18, "color": style.TEXT}},
        font={"family": style.FONT_FAMILY, "size": 14, "color": style.TEXT},
        paper_bgcolor="#FFFFFF", plot_bgcolor="#FFFFFF", height=height,
        margin={"l": 10, "r": 30, "t": 40 + 26 * lines, "b": 90},
        colorway=list(style.SERIES), separators=_separators(lang),
        hoverlabel={"font": {"family": style.FONT_FAMILY, "size": 14}},
        legend={"orientation": "h", "yanchor": "top", "y": -0.2, "xanchor": "left", "x": 0},
    )
    fig.update_xaxes(title_text=x_title, gridcolor="#E3E8EE", zerolinecolor="#C9D1D9", automargin=True)
    fig.update_yaxes(title_text=y_title, gridcolor="#E3E8EE", zerolinecolor="#C9D1D9", automargin=True)
    return fig


def _legend_below_axis_title(fig: go.Figure) -> None:
    fig.update_layout(legend={"y": -0.32}, margin={"b": 120})


def _time_axis(fig: go.Figure, periods: Sequence[str], lang: str) -> None:
    """A category axis with every quarter in order, each written the language's way."""
    labels = [period_label(p, lang) for p in axis_periods(periods)]
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=labels)


def trend_figure(trend: pd.DataFrame, kpi: Kpi, lang: str, *, node: str, metric: str | None = None,
                 compact: bool = False, provisional: Sequence[str] = ()) -> go.Figure:
    """A metric's value over periods with its target, for one node of the drill-down. Every quarter is on the
    axis in order (one without data is a gap in the line); a provisional quarter's point is hollow."""
    metric = metric or kpi.id
    unit = metric_unit(kpi, metric)
    fig = go.Figure()
    texts = [fmt(v if pd.notna(v) else None, unit, lang) for v in trend["value"]]
    labels = [period_label(p, lang) for p in trend["period"]]
    thin = [p in set(provisional) for p in trend["period"]]
    note = f" ({t('periods.provisional', lang)})"
    fig.add_trace(go.Scatter(
        x=labels, y=trend["value"], mode="lines+markers+text", name=t("chart.value", lang),
        line={"color": style.PRIMARY, "width": 3},
        marker={"size": 9, "color": style.PRIMARY, "line": {"color": style.PRIMARY, "width": 2},
                "symbol": ["circle-open" if p else "circle" for p in thin]},
        text=[f"{text}*" if p and text != "—" else text for text, p in zip(texts, thin)],
        textposition="top center", textfont={"size": 12}, connectgaps=False,
        customdata=[[label, note if p else ""] for label, p in zip(labels, thin)],
        hovertemplate="%{customdata[0]}: %{text}%{customdata[1]}<extra></extra>",
    ))
    if trend["target"].notna().any():
        fig.add_trace(go.Scatter(
            x=labels, y=trend["target"], mode="lines", name=t("chart.target", lang),
            line={"color": style.ACCENT, "width": 2, "dash": "dash", "shape": "hv"},
            hovertemplate=f"{t('chart.target', lang)}: %{{y}}<extra></extra>",
        ))
    title = t("chart.trend_title", lang, kpi=kpi.id, title=metric_label(kpi, metric, lang),
              node=node)
    _style(fig, title, lang, x_title=t("chart.period", lang), y_title=unit_label(unit, lang),
           title_width=48 if compact else 80)
    _legend_below_axis_title(fig)
    if any(thin):
        fig.add_annotation(text=f"* {t('periods.provisional', lang)}", xref="paper", yref="paper", x=1, y=-0.32,
                           xanchor="right", yanchor="top", showarrow=False, font={"size": 12, "color": style.MUTED})
    _time_axis(fig, list(trend["period"]), lang)
    fitted = fitted_range([*trend["value"], *trend["target"]], unit)
    if fitted is not None:
        fig.update_yaxes(range=list(fitted))
    else:
        fig.update_yaxes(rangemode="tozero")
    return fig


def bar_range(values: Sequence[Any], unit: str) -> list[float] | None:
    """A bar chart's value axis: from zero to a little past the longest bar or the target, leaving room for
    the target's label (a share stops at 112 %). None (Plotly's own) when there is nothing to fit."""
    found = [float(v) for v in values if v is not None and pd.notna(v)]
    if not found or max(found) <= 0:
        return None
    high = max(found) * 1.15
    return [0.0, min(high, 112.0) if unit == "percent" else high]


def fitted_range(values: Sequence[Any], unit: str) -> tuple[float, float] | None:
    """A value axis fitted to the data and the target (a 65-70 % trend is not drawn flat on 0-100): the span
    padded by a fifth on each side (room for the value labels above the points), never below zero, a share
    never past 100 % by more than the padding. None when there is nothing to fit."""
    found = [float(v) for v in values if v is not None and pd.notna(v)]
    if not found:
        return None
    low, high = min(found), max(found)
    span = max(high - low, 10.0 if unit == "percent" else max(abs(high) * 0.2, 1.0))
    low, high = max(0.0, low - span / 5), high + span / 5
    if unit == "percent":
        high = min(high, 108.0)
    return low, high


def ranking_figure(frame: pd.DataFrame, kpi: Kpi, level: str, lang: str, *, node: str,
                   metric: str | None = None) -> go.Figure:
    """Horizontal bars of the children of a node, coloured by status, with the target; click a bar to drill."""
    metric = metric or kpi.id
    unit = metric_unit(kpi, metric)
    values = [v if pd.notna(v) else 0 for v in frame["value"]]
    texts = [text if pd.notna(v) else t("status.no_data", lang) for text, v in zip(frame["value_text"], frame["value"])]
    fig = go.Figure(go.Bar(
        y=[shorten(label) for label in frame["label"]], x=values, orientation="h",
        marker={"color": list(frame["colour"]), "line": {"width": 0}},
        # values written inside each bar at its base, clear of the target line; "no data" outside its empty bar
        text=texts, textposition=["inside" if pd.notna(v) else "outside" for v in frame["value"]],
        insidetextanchor="start", insidetextfont={"color": "#FFFFFF"}, cliponaxis=False,
        customdata=frame[["key", "label", "status_text"]].to_numpy(),
        hovertemplate="%{customdata[1]}<br>%{text} · %{customdata[2]}<extra></extra>",
        name=t("chart.value", lang),
    ))
    targets = frame["target"].dropna()
    if not targets.empty:
        target = float(targets.iloc[0])
        fig.add_vline(x=target, line={"color": style.ACCENT, "width": 2, "dash": "dash"},
                      annotation_text=f"{t('chart.target', lang)} {fmt(target, unit, lang)}",
                      annotation_position="top", annotation_font={"color": style.TEXT, "size": 12})
    title = t("chart.ranking_title", lang, kpi=kpi.id, level=t(f"chart.by_{level}", lang), node=node)
    height = max(240, 34 * len(frame) + 170)
    _style(fig, title, lang, height=height, x_title=unit_label(unit, lang))
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(clickmode="event+select", dragmode=False, showlegend=False,
                      bargap=0.25 if len(frame) > 2 else 0.5)
    fig.update_xaxes(range=bar_range([*values, *frame["target"]], unit))
    return fig


def breakdown_figure(frame: pd.DataFrame, kpi: Kpi, lang: str, *, node: str, compact: bool = False,
                     reference: float | None = None) -> go.Figure:
    """The KPI's breakdown as horizontal bars: the guide's breakdown, else its secondary figure.

    Parts with their own target are coloured by status; others are drawn in the agency blue against the
    KPI's target (`reference`) when there is one.
    """
    rows = frame[~frame["secondary"]] if "secondary" in frame else frame
    if rows.empty and "secondary" in frame:
        rows = frame[frame["secondary"]]
    unit = str(rows["unit"].iloc[0]) if not rows.empty else kpi.unit
    colours = [colour if status in ("met", "at_risk", "missed") else style.PRIMARY
               for colour, status in zip(rows["colour"], rows["status"])]
    texts = [text if pd.notna(v) else t("status.no_data", lang) for text, v in zip(rows["value_text"], rows["value"])]
    fig = go.Figure(go.Bar(
        y=[wrap(label, 24 if compact else 40) for label in rows["label"]],
        x=[v if pd.notna(v) else 0 for v in rows["value"]],
        orientation="h", marker={"color": colours}, text=texts, cliponaxis=False,
        # values inside each bar at its base, clear of the target line; "no data" outside its empty bar
        textposition=["inside" if pd.notna(v) else "outside" for v in rows["value"]], insidetextanchor="start",
        insidetextfont={"color": "#FFFFFF"},
        customdata=rows[["metric", "label"]].to_numpy(),
        hovertemplate="%{customdata[1]}: %{text}<extra></extra>",
    ))
    own_targets = rows["target"].dropna() if "target" in rows else pd.Series(dtype=float)
    line = float(own_targets.iloc[0]) if not own_targets.empty else reference if unit == "percent" else None
    if line is not None:
        fig.add_vline(x=line, line={"color": style.ACCENT, "width": 2, "dash": "dash"},
                      annotation_text=f"{t('chart.target', lang)} {fmt(line, unit, lang)}",
                      annotation_position="top", annotation_font={"color": style.TEXT, "size": 12})
    title = t("chart.breakdown_title", lang, kpi=kpi.id, title=kpi.short(lang), node=node)
    _style(fig, title, lang, height=max(300, (44 if compact else 36) * len(rows) + 150),
           x_title=unit_label(unit, lang), title_width=48 if compact else 80)
    fig.update_yaxes(autorange="reversed", type="category")
    fig.update_layout(showlegend=False, dragmode=False)
    fig.update_xaxes(range=bar_range([*rows["value"], line], unit))
    return fig


def tile_map_figure(values: Mapping[str, float | None], *, lang: str, title: str, unit: str,
                    registry: Registry | None = None, selected: str | None = None) -> go.Figure:
    """Kazakhstan's 20 regions as a tile map (one square per region, laid out roughly geographically)."""
    from kpi.catalogue import load_registry

    registry = registry or load_registry()
    regions = list(registry.regions)
    known = [v for v in values.values() if v is not None]
    low, high = (min(known), max(known)) if known else (0.0, 1.0)
    if high == low:
        high = low + 1
    fig = go.Figure()
    with_value = [r for r in regions if values.get(r.code) is not None]
    without = [r for r in regions if values.get(r.code) is None]
    if with_value:
        fig.add_trace(go.Scatter(
            x=[r.tile["col"] for r in with_value], y=[r.tile["row"] for r in with_value], mode="markers+text",
            marker={"symbol": "square", "size": 78, "color": [values[r.code] for r in with_value],
                    "colorscale": [[i / (len(style.SEQUENTIAL) - 1), c] for i, c in enumerate(style.SEQUENTIAL)],
                    "cmin": low, "cmax": high, "showscale": True,
                    "colorbar": {"title": {"text": unit_label(unit, lang)}, "thickness": 14},
                    "line": {"color": [style.ACCENT if r.code == selected else "#FFFFFF" for r in with_value],
                             "width": [4 if r.code == selected else 1 for r in with_value]}},
            text=[f"{shorten(_short_region(r.name(lang)), 12)}<br><b>{fmt(values[r.code], unit, lang)}</b>"
                  for r in with_value],
            textfont={"size": 11, "color": [_ink(values[r.code], low, high) for r in with_value]},
            customdata=[[r.code, r.name(lang)] for r in with_value],
            hovertemplate="%{customdata[1]}<extra></extra>", name="",
        ))
    if without:
        fig.add_trace(go.Scatter(
            x=[r.tile["col"] for r in without], y=[r.tile["row"] for r in without], mode="markers+text",
            marker={"symbol": "square", "size": 78, "color": style.STATUS_COLOURS["no_data"]},
            text=[f"{shorten(_short_region(r.name(lang)), 12)}<br>—" for r in without],
            textfont={"size": 11, "color": style.TEXT},
            customdata=[[r.code, r.name(lang)] for r in without],
            hovertemplate="%{customdata[1]}<extra></extra>", name="",
        ))
    _style(fig, title, lang, height=560)
    fig.update_xaxes(visible=False, range=[-0.7, 8.7])
    fig.update_yaxes(visible=False, range=[4.7, -0.7])
    fig.update_layout(showlegend=False, clickmode="event+select", dragmode=False)
    return fig


def _short_region(name: str) -> str:
    for suffix in (" облысы", " қаласы", " Region", " область", "область ", " city", "город "):
        name = name.replace(suffix, "")
    return name.strip()


def _ink(value: float | None, low: float, high: float) -> str:
    if value is None:
        return style.TEXT
    return "#FFFFFF" if (value - low) / (high - low) > 0.45 else style.TEXT


def map_figure(values: Mapping[str, float | None], *, lang: str, title: str, unit: str,
               registry: Registry | None = None, selected: str | None = None,
               statuses: Mapping[str, str] | None = None, legend_title: str = "") -> tuple[go.Figure, str]:
    """The regions coloured by status against the target (or by value): kpi.geo's boundary map, else tiles.

    Returns the figure and its kind ('boundaries' or 'tiles'). The boundary map is optional: any failure
    to draw it (module missing, data missing) falls back to tiles rather than breaking the page.
    """
    try:
        geo = importlib.import_module("kpi.geo")
    except ImportError:
        geo = None
    if geo is not None:
        for function, kind in (("region_map_figure", "boundaries"), ("tile_map_figure", "tiles")):
            extra = {"statuses": statuses, "legend_title": legend_title} if kind == "boundaries" else {}
            try:
                figure = getattr(geo, function)(dict(values), lang=lang, title=title, unit=unit, selected=selected,
                                                **extra)
                return figure, kind
            except Exception:  # noqa: S112 - try the next, lighter map
                continue
    return tile_map_figure(values, lang=lang, title=title, unit=unit, registry=registry, selected=selected), "tiles"


def entity_trend_figure(profile: EntityProfile, kpi: Kpi, comparison: pd.DataFrame, lang: str) -> go.Figure:
    """One entity's KPI over periods against the aggregate of its entity type."""
    own = profile.history[profile.history["kpi"] == kpi.id]
    fig = go.Figure()

    def labels(periods: pd.Series) -> list[str]:
        return [period_label(p, lang) for p in periods]

    fig.add_trace(go.Scatter(x=labels(own["period"]), y=own["value"], mode="lines+markers",
                             name=shorten(profile.name, 40), connectgaps=False,
                             line={"color": style.PRIMARY, "width": 3}, marker={"size": 9}))
    if not comparison.empty:
        fig.add_trace(go.Scatter(x=labels(comparison["period"]), y=comparison["value"], mode="lines+markers",
                                 name=profile.type_label, connectgaps=False,
                                 line={"color": style.MUTED, "width": 2, "dash": "dot"}))
        if comparison["target"].notna().any():
            fig.add_trace(go.Scatter(x=labels(comparison["period"]), y=comparison["target"], mode="lines",
                                     name=t("chart.target", lang),
                                     line={"color": style.ACCENT, "width": 2, "dash": "dash", "shape": "hv"}))
    title = t("chart.entity_trend_title", lang, kpi=kpi.id, title=kpi.short(lang), node=profile.name)
    _style(fig, title, lang, x_title=t("chart.period", lang), y_title=unit_label(kpi.unit, lang))
    _legend_below_axis_title(fig)
    _time_axis(fig, [*own["period"], *comparison["period"]], lang)
    fig.update_yaxes(rangemode="tozero")
    return fig


def submissions_figure(frame: pd.DataFrame, lang: str, *, period: str) -> go.Figure:
    """Stacked bars of submission status by entity type."""
    colours = SUBMISSION_COLOURS
    types = [et for et in ENTITY_TYPES if et in set(frame["type"])]
    fig = go.Figure()
    for status in SUBMISSION_STATUSES:
        counts = [int(((frame["type"] == et) & (frame["status"] == status)).sum()) for et in types]
        if not any(counts):
            continue
        fig.add_trace(go.Bar(
            y=[wrap(type_label(et, lang), 28) for et in types], x=counts, orientation="h",
            name=t(f"submission.{status}", lang), marker={"color": colours[status]},
            text=[c or "" for c in counts], textposition="inside",
        ))
    title = t("chart.submissions_title", lang, period=period_label(period, lang))
    _style(fig, title, lang, height=max(300, 64 * len(types) + 200), x_title=t("chart.entities", lang))
    _legend_below_axis_title(fig)
    fig.update_layout(barmode="stack", dragmode=False, legend_traceorder="normal")
    fig.update_yaxes(autorange="reversed")
    return fig

