"""Overview: all 20 KPIs at a glance, by project group, with submission coverage."""

import streamlit as st

from kpi import views
from pages import ui

filters = ui.filters()
lang = filters.lang
ui.sync_url()
ui.page_header(ui.text("overview.title"), ui.text("overview.caption", scope=views.filters_label(filters, ui.registry(), ui.current_scope())))
if filters.period is None:
    ui.empty_state("app.no_returns")
    st.stop()

provisional = ui.provisional_banner(filters.period)
data: views.Overview = ui.view("overview", filters.period, lang=lang, within=ui.population())
coverage = data.coverage
with st.container(horizontal=True, key="overview_head"):
    st.metric(ui.text("overview.period"), views.period_label(filters.period, lang), border=True)
    st.metric(ui.text("overview.coverage"), f"{coverage.received} / {coverage.expected}", border=True,
              delta=views.fmt(coverage.share, "percent", lang), delta_color="off", delta_arrow="off")
    counts = {s: sum(1 for tile in data.tiles if tile.status == s) for s in ("met", "at_risk", "missed")}
    for status, count in counts.items():
        st.metric(views.status_text(status, lang), count, border=True)

ui.status_borders(data.tiles)
for group in data.groups:
    st.header(f"{ui.text('nav.group', number=group.number)} · {views.sentence_case(group.title)}", divider="blue")
    for row in range(0, len(group.tiles), 4):  # a row of four tiles at a time: tiles of one row share a height
        for column, tile in zip(st.columns(4), group.tiles[row:row + 4]):
            with column:
                ui.kpi_tile(tile, provisional=provisional)

with st.expander(ui.text("overview.table")):
    table = views.overview_table(data, lang)
    st.dataframe(table, hide_index=True, width="stretch")
    scope = views.filters_label(filters, ui.registry(), ui.current_scope())
    ui.downloads(None, table, views.export_name("overview", scope, period=filters.period, lang=lang),
                 key="overview_table")
