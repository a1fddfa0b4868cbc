"""Map: the 20 regions coloured by a chosen KPI; click a region to see its entities."""

import streamlit as st

from kpi import views
from pages import ui

filters, reg, cat = ui.filters(), ui.registry(), ui.catalogue()
lang = filters.lang
ui.page_header(ui.text("map.title"), ui.text("map.caption"))
if filters.period is None:
    ui.empty_state("app.no_returns")
    st.stop()
ui.provisional_banner(filters.period)

kpi_ids = [k.id for k in cat.kpis]
ui.page_choice("map_kpi", "kpi", kpi_ids, default="G2.K1")
kpi = cat.kpi_by_id[ui.select(ui.text("group.kpi"), kpi_ids, "map_kpi",
                              format_func=lambda k: views.kpi_label(cat.kpi_by_id[k], lang))]
by_type = views.population(reg, entity_type=filters.entity_type)
values = ui.view("region_values", kpi.id, filters.period, within=by_type)
ui.page_choice("map_region", "focus", [filters.region or "", *values], default=filters.region or "")
scope = views.filters_label(views.Filters(period=filters.period, entity_type=filters.entity_type, lang=lang), reg,
                            ui.current_scope())  # the map keeps the type filter, every region
title = ui.text("map.chart_title", kpi=kpi.id, title=kpi.short(lang),
                period=views.period_label(filters.period, lang)) + f" · {scope}"
# Colours follow each region's status against the target, as the rankings' bars do.
regional = ui.view("ranking", kpi.id, filters.period, "region", lang=lang, within=by_type)
targets = regional["target"].dropna()
legend = (f"{ui.text('chart.target')}: {views.fmt(float(targets.iloc[0]), kpi.unit, lang)}" if len(targets)
          else ui.text("status.no_target"))
figure, kind = views.map_figure(values, lang=lang, title=title, unit=kpi.unit, registry=reg,
                                selected=st.session_state["map_region"] or None,
                                statuses=dict(zip(regional["key"], regional["status"])),
                                legend_title=legend)
about = {"kpi": views.kpi_label(kpi, lang), "scope": scope}
clicked = ui.chart(figure, views.region_frame(values, reg, lang, unit=kpi.unit),
                   views.export_name(kpi.id, "map", scope, period=filters.period, lang=lang), key=f"map_{kpi.id}",
                   selectable=True, about=about)
if kind != "boundaries":  # the boundary map carries its one credit inside the figure (and into its exports)
    st.caption(ui.text("map.tiles_note"))
if clicked in values:
    st.session_state["map_region"] = clicked
region = st.session_state["map_region"]
ui.sync_url({"kpi": kpi.id, "focus": region or None})
if not region:
    ui.empty_state("map.click_region")
    st.stop()

st.header(views.region_label(reg, region, lang))
within = views.population(reg, entity_type=filters.entity_type, region=region)
ranked = ui.view("ranking", kpi.id, filters.period, "entity", lang=lang, within=within)
if ranked.empty:
    ui.empty_state("group.not_reported")
    st.stop()
if len(ranked) > 1:  # a ranking of one is not drawn; a click on a bar opens that entity's profile
    picked = ui.chart(views.ranking_figure(ranked, kpi, "entity", lang, node=views.region_label(reg, region, lang)),
                      views.export_frame(ranked, views.RANKING_COLUMNS, lang, unit=kpi.unit),
                      views.export_name(kpi.id, views.region_label(reg, region, lang), period=filters.period,
                                        lang=lang),
                      key="map_entities", selectable=True,
                      about=about | {"scope": views.region_label(reg, region, lang)})
    if picked is not None and picked in set(ranked["key"]):
        ui.open_profile(picked, kpi.id)
else:  # the region's one entity: its figure and its profile
    only = ranked.iloc[0]
    st.markdown(f"**{only['label']}**: {only['value_text']} · {only['status_text']}")
    if st.button(ui.text("group.open_profile", name=only["label"]), key="map_profile", type="primary"):
        ui.open_profile(str(only["key"]), kpi.id)
