"""One project group: each KPI's trend, ranking against the target and breakdown, drilling nation → entity.

One script for every group of the catalogue: `routes.pages` registers it once per group (`group_<number>`),
and the run draws the group of the page `st.navigation` chose."""

import streamlit as st

from kpi import drill, figures, labels, views
from kpi.catalogue import Group
from pages import components, connection, drilldown, filters, routes, service, session
from pages.language import text


def render(group: Group) -> None:
    """Draw the page of one project group."""
    chosen, reg = filters.current(), connection.registry()
    lang, group_id = chosen.lang, group.id
    components.page_header(f"{text('nav.group', number=group.number)} · {labels.sentence_case(group.title(lang))}",
                           text("group.caption"))
    if chosen.period is None:
        return components.empty_state("app.no_returns")
    components.provisional_banner(chosen.period)
    kpi = components.kpi_picker(group.kpis, key=f"kpi_{group_id}")
    entities = views.drill_entities(connection.kpi_engine(), kpi.id, scope=session.current_scope(), within=filters.population())
    if not entities:
        return components.empty_state("group.not_reported")
    root, drill_key = views.filters_label(chosen, reg, session.current_scope()), f"drill_{group_id}"
    path = drilldown.drill_navigator(drill_key, entities, root_label=root, url={"kpi": kpi.id})
    node = labels.node_label(reg, path, lang, root=root)
    within = frozenset(e.code for e in drill.members(entities, path))
    trend = service.kpi_trend(kpi.id, views.history_periods(chosen.period), lang=lang, within=within)
    about = {"kpi": labels.kpi_label(kpi, lang), "scope": node}

    def name(view: str) -> str:
        return labels.export_name(kpi.id, view, node, period=chosen.period, lang=lang)

    parts = service.breakdown(kpi.id, chosen.period, lang=lang, within=within)
    left, right = st.columns(2) if not parts.empty else (st.container(), None)
    with left:
        components.chart(figures.trend_figure(trend, kpi, lang, node=node, compact=right is not None,
                                              provisional=[p for p in trend["period"] if service.is_provisional(p)]),
                         labels.export_frame(trend, views.TREND_COLUMNS, lang, unit=kpi.unit), name("trend"),
                         key=f"trend_{group_id}", about=about)
    if right is not None:
        with right:
            components.chart(figures.breakdown_figure(parts, kpi, lang, node=node, compact=True,
                                                      reference=views.latest_target(trend)),
                             labels.export_frame(parts, views.BREAKDOWN_COLUMNS, lang), name("breakdown"),
                             key=f"parts_{group_id}", about=about)
    extra = parts[parts["secondary"]] if not parts.empty else parts
    if not extra.empty:
        st.caption(text("kpi.secondary_figures"))
        st.dataframe(views.secondary_table(extra.assign(kpi=kpi.id), lang), hide_index=True, width="stretch",
                     key=f"secondary_{group_id}")
    level = drill.child_level(entities, path)
    if level is None:
        if st.button(text("group.open_profile", name=node), key=f"profile_{group_id}", type="primary"):
            routes.open_profile(path[-1].key, kpi.id, trail=routes.Trail(group_id, kpi.id, drill.encode(path)))
        return None
    for entity_type in drill.region_shortcut(entities, path):  # akimats by region: one click from the nation
        if st.button(text("analyst.by_region", type=labels.type_label(entity_type, lang)),
                     key=f"by_region_{group_id}_{entity_type}", help=text("analyst.by_region_help")):
            drilldown.set_drill(drill_key, (*path, drill.Step("entity_type", entity_type)))
    ranked = service.ranking(kpi.id, chosen.period, level, lang=lang, within=within)
    if ranked.empty:
        return components.empty_state()
    if len(ranked) < 2:  # a ranking of one ("1st of 1") is not drawn; the one member is a click away
        components.empty_state("periods.ranking_single")
        only, member = str(ranked["key"].iloc[0]), str(ranked["label"].iloc[0])
        if st.button(text("periods.open_single", name=member), key=f"single_{group_id}",
                     icon=":material/chevron_right:"):
            drilldown.set_drill(drill_key, drill.descend_through(entities, path, only))
        return None
    st.caption(text("group.click_to_drill"))
    clicked = components.chart(figures.ranking_figure(ranked, kpi, level, lang, node=node),
                               labels.export_frame(ranked, views.RANKING_COLUMNS, lang, unit=kpi.unit), name(level),
                               about=about, key=f"rank_{group_id}_{drill.encode(path)}", selectable=True)
    if clicked:
        drilldown.set_drill(drill_key, drill.descend_through(entities, path, clicked))
    return None


render(routes.current_group())
