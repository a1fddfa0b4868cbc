"""Map: the 20 regions coloured by a chosen KPI; click a region to see its entities."""

import streamlit as st

from kpi import figures, labels, views
from pages import components, connection, filters, routes, service, session
from pages.language import text

chosen, reg, cat = filters.current(), connection.registry(), connection.catalogue()
lang = chosen.lang
components.page_header(text("map.title"), text("map.caption"))
if chosen.period is None:
    components.empty_state("app.no_returns")
    st.stop()
components.provisional_banner(chosen.period)

kpi_ids = [k.id for k in cat.kpis]
filters.page_choice("map_kpi", "kpi", kpi_ids, default="G2.K1")
kpi = cat.kpi_by_id[filters.select(text("group.kpi"), kpi_ids, "map_kpi",
                                   format_func=lambda k: labels.kpi_label(cat.kpi_by_id[k], lang))]
by_type = views.population(reg, entity_type=chosen.entity_type)
values = service.region_values(kpi.id, chosen.period, within=by_type)
filters.page_choice("map_region", "focus", [chosen.region or "", *values], default=chosen.region or "")
scope = views.filters_label(views.Filters(period=chosen.period, entity_type=chosen.entity_type, lang=lang), reg,
                            session.current_scope())  # the map keeps the type filter, every region
title = text("map.chart_title", kpi=kpi.id, title=kpi.short(lang),
             period=labels.period_label(chosen.period, lang)) + f" · {scope}"
# Colours follow each region's status against the target, as the rankings' bars do.
regional = service.ranking(kpi.id, chosen.period, "region", lang=lang, within=by_type)
targets = regional["target"].dropna()
legend = (f"{text('chart.target')}: {labels.fmt(float(targets.iloc[0]), kpi.unit, lang)}" if len(targets)
          else text("status.no_target"))
figure, kind = figures.map_figure(values, lang=lang, title=title, unit=kpi.unit, registry=reg,
                                  selected=st.session_state["map_region"] or None,
                                  statuses=dict(zip(regional["key"], regional["status"])),
                                  legend_title=legend)
about = {"kpi": labels.kpi_label(kpi, lang), "scope": scope}
clicked = components.chart(figure, views.region_frame(values, reg, lang, unit=kpi.unit),
                           labels.export_name(kpi.id, "map", scope, period=chosen.period, lang=lang),
                           key=f"map_{kpi.id}", selectable=True, about=about)
if kind != "boundaries":  # the boundary map carries its one credit inside the figure (and into its exports)
    st.caption(text("map.tiles_note"))
if clicked in values:
    st.session_state["map_region"] = clicked
region = st.session_state["map_region"]
filters.sync_url({"kpi": kpi.id, "focus": region or None})
if not region:
    components.empty_state("map.click_region")
    st.stop()

st.header(labels.region_label(reg, region, lang))
within = views.population(reg, entity_type=chosen.entity_type, region=region)
ranked = service.ranking(kpi.id, chosen.period, "entity", lang=lang, within=within)
if ranked.empty:
    components.empty_state("group.not_reported")
    st.stop()
if len(ranked) > 1:  # a ranking of one is not drawn; a click on a bar opens that entity's profile
    node = labels.region_label(reg, region, lang)
    picked = components.chart(figures.ranking_figure(ranked, kpi, "entity", lang, node=node),
                              labels.export_frame(ranked, views.RANKING_COLUMNS, lang, unit=kpi.unit),
                              labels.export_name(kpi.id, node, period=chosen.period, lang=lang),
                              key="map_entities", selectable=True, about=about | {"scope": node})
    if picked is not None and picked in set(ranked["key"]):
        routes.open_profile(picked, kpi.id)
else:  # the region's one entity: its figure and its profile
    only = ranked.iloc[0]
    st.markdown(f"**{only['label']}**: {only['value_text']} · {only['status_text']}")
    if st.button(text("group.open_profile", name=only["label"]), key="map_profile", type="primary"):
        routes.open_profile(str(only["key"]), kpi.id)
