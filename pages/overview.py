"""Overview: all 20 KPIs at a glance, by project group, with submission coverage."""

import streamlit as st

from kpi import labels, views
from pages import components, connection, filters, service, session
from pages.language import text

chosen = filters.current()
lang = chosen.lang
filters.sync_url()
scope = views.filters_label(chosen, connection.registry(), session.current_scope())
components.page_header(text("overview.title"), text("overview.caption", scope=scope))
if chosen.period is None:
    components.empty_state("app.no_returns")
    st.stop()

provisional = components.provisional_banner(chosen.period)
data = service.overview(chosen.period, lang=lang, within=filters.population())
coverage = data.coverage
with st.container(horizontal=True, key="overview_head"):
    st.metric(text("overview.period"), labels.period_label(chosen.period, lang), border=True)
    st.metric(text("overview.coverage"), f"{coverage.received} / {coverage.expected}", border=True,
              delta=labels.fmt(coverage.share, "percent", lang), delta_color="off", delta_arrow="off")
    counts = {s: sum(1 for tile in data.tiles if tile.status == s) for s in ("met", "at_risk", "missed")}
    for status, count in counts.items():
        st.metric(labels.status_text(status, lang), count, border=True)

components.status_borders(data.tiles)
for group in data.groups:
    st.header(f"{text('nav.group', number=group.number)} · {labels.sentence_case(group.title)}", divider="blue")
    for row in range(0, len(group.tiles), 4):  # a row of four tiles at a time: tiles of one row share a height
        for column, tile in zip(st.columns(4), group.tiles[row:row + 4]):
            with column:
                components.kpi_tile(tile, provisional=provisional)

with st.expander(text("overview.table")):
    table = views.overview_table(data, lang)
    st.dataframe(table, hide_index=True, width="stretch")
    components.downloads(None, table, labels.export_name("overview", scope, period=chosen.period, lang=lang),
                         key="overview_table")
