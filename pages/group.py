"""One project group: each KPI's trend, ranking against the target and breakdown, drilling nation → entity."""

import streamlit as st

from kpi import drill, views
from pages import ui


def render(group_id: str) -> None:
    """Draw the page of one project group."""
    filters, cat, reg = ui.filters(), ui.catalogue(), ui.registry()
    lang, group = filters.lang, cat.group(group_id)
    ui.page_header(f"{ui.text('nav.group', number=group.number)} · {views.sentence_case(group.title(lang))}",
                   ui.text("group.caption"))
    if filters.period is None:
        return ui.empty_state("app.no_returns")
    ui.provisional_banner(filters.period)
    kpi = ui.kpi_picker(group.kpis, key=f"kpi_{group_id}")
    entities = views.drill_entities(ui.kpi_engine(), kpi.id, scope=ui.current_scope(), within=ui.population())
    if not entities:
        return ui.empty_state("group.not_reported")
    root, drill_key = views.filters_label(filters, reg, ui.current_scope()), f"drill_{group_id}"
    path = ui.drill_navigator(drill_key, entities, root_label=root, url={"kpi": kpi.id})
    node = views.node_label(reg, path, lang, root=root)
    within = frozenset(e.code for e in drill.members(entities, path))
    trend = ui.view("kpi_trend", kpi.id, views.history_periods(filters.period), lang=lang, within=within)
    about = {"kpi": views.kpi_label(kpi, lang), "scope": node}

    def name(view: str) -> str:
        return views.export_name(kpi.id, view, node, period=filters.period, lang=lang)

    parts = ui.view("breakdown", kpi.id, filters.period, lang=lang, within=within)
    left, right = st.columns(2) if not parts.empty else (st.container(), None)
    with left:
        ui.chart(views.trend_figure(trend, kpi, lang, node=node, compact=right is not None,
                                    provisional=[p for p in trend["period"] if ui.is_provisional(p)]),
                 views.export_frame(trend, views.TREND_COLUMNS, lang, unit=kpi.unit), name("trend"),
                 key=f"trend_{group_id}", about=about)
    if right is not None:
        with right:
            ui.chart(views.breakdown_figure(parts, kpi, lang, node=node, compact=True,
                                            reference=views.latest_target(trend)),
                     views.export_frame(parts, views.BREAKDOWN_COLUMNS, lang), name("breakdown"),
                     key=f"parts_{group_id}", about=about)
    extra = parts[parts["secondary"]] if not parts.empty else parts
    if not extra.empty:
        st.caption(ui.text("kpi.secondary_figures"))
        st.dataframe(views.secondary_table(extra.assign(kpi=kpi.id), lang), hide_index=True, width="stretch",
                     key=f"secondary_{group_id}")
    level = drill.child_level(entities, path)
    if level is None:
        if st.button(ui.text("group.open_profile", name=node), key=f"profile_{group_id}", type="primary"):
            ui.open_profile(path[-1].key, kpi.id, trail=ui.Trail(group_id, kpi.id, drill.encode(path)))
        return None
    for entity_type in drill.region_shortcut(entities, path):  # akimats by region: one click from the nation
        if st.button(ui.text("analyst.by_region", type=views.type_label(entity_type, lang)),
                     key=f"by_region_{group_id}_{entity_type}", help=ui.text("analyst.by_region_help")):
            ui.set_drill(drill_key, (*path, drill.Step("entity_type", entity_type)))
    ranked = ui.view("ranking", kpi.id, filters.period, level, lang=lang, within=within)
    if ranked.empty:
        return ui.empty_state()
    if len(ranked) < 2:  # a ranking of one ("1st of 1") is not drawn; the one member is a click away
        ui.empty_state("periods.ranking_single")
        only, member = str(ranked["key"].iloc[0]), str(ranked["label"].iloc[0])
        if st.button(ui.text("periods.open_single", name=member), key=f"single_{group_id}",
                     icon=":material/chevron_right:"):
            ui.set_drill(drill_key, drill.descend_through(entities, path, only))
        return None
    st.caption(ui.text("group.click_to_drill"))
    clicked = ui.chart(views.ranking_figure(ranked, kpi, level, lang, node=node),
                       views.export_frame(ranked, views.RANKING_COLUMNS, lang, unit=kpi.unit), name(level), about=about,
                       key=f"rank_{group_id}_{drill.encode(path)}", selectable=True)
    if clicked:
        ui.set_drill(drill_key, drill.descend_through(entities, path, clicked))
    return None
