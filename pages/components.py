"""What pages draw with: headers and empty states, KPI tiles, status tables, the provisional banner, the KPI
picker, and charts with their downloads (PNG/SVG/XLSX/CSV, each on the audit trail)."""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from kpi import drill, export, labels, views
from kpi.catalogue import Kpi
from kpi.i18n import t
from kpi.settings import get_settings
from pages import filters, routes, service
from pages.connection import catalogue, data_version, get_store, registry
from pages.language import lang, text
from pages.session import current_scope, record_export, signed_in_user


def empty_state(message_key: str = "app.no_data", **params: Any) -> None:
    """The explicit 'nothing to show' notice."""
    st.info(text(message_key, **params), icon=":material/info:")


def page_header(title: str, caption: str | None = None) -> None:
    """A page's title and the caption under it."""
    st.title(title)
    if caption:
        st.caption(caption)


def status_badge(status: str, label: str) -> None:
    """A status in words on a badge of its colour."""
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
        st.page_link(routes.group_page(catalogue().group(tile.group), language), label=f"**{tile.kpi}** · {tile.title}",
                     help=f"{tile.full_title}\n\n{t('analyst.open_kpi_help', language)}",
                     query_params=filters.current().to_query() | {"kpi": tile.kpi})
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

    chosen = filters.current()
    user = signed_in_user()
    about = dict(about or {})
    return export.ExportContext(
        lang=lang(), kpi=about.get("kpi", ""),
        period=about.get("period") or (labels.period_label(chosen.period, lang()) if chosen.period else ""),
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


def provisional_banner(period: str | None) -> bool:
    """The banner of a page showing a period below the coverage threshold; True when shown."""
    if period is None or not service.is_provisional(period):
        return False
    from kpi import periods as calendar

    received, expected = service.coverage_of(period)
    language = lang()
    st.warning(t("periods.provisional_banner", language, period=calendar.period_label(period, language),
                 received=received, expected=expected,
                 threshold=labels.fmt(100 * get_settings().coverage_threshold, "percent", language)),
               icon=":material/hourglass_top:")
    return True


def kpi_picker(kpis: Sequence[Kpi], key: str) -> Kpi:
    """One-click choice of a KPI (code and short title), from the link or as it was; returns the KPI."""
    language, by_id = lang(), {k.id: k for k in kpis}
    filters.page_choice(key, "kpi", list(by_id))
    st.segmented_control(text("group.kpi"), list(by_id), key=key, required=True,
                         format_func=lambda k: f"{k} · {labels.shorten(by_id[k].short(language), 34)}")
    chosen = by_id[st.session_state[key]]
    st.markdown(f"**{chosen.id}.** {labels.sentence_case(chosen.title(language))}")
    return chosen

