"""Entity profile: one entity across all its KPIs and periods, its returns and versions, its rank among peers."""

import streamlit as st

from kpi import figures, labels, views
from kpi.settings import get_settings
from pages import components, connection, drilldown, filters, routes, service, session
from pages.language import text

chosen, reg, cat = filters.current(), connection.registry(), connection.catalogue()
lang = chosen.lang
components.page_header(text("entity.title"), text("entity.caption"))
entities = views.visible_entities(reg, scope=session.current_scope(), within=filters.population())
if chosen.period is None or not entities:
    components.empty_state("app.no_returns" if chosen.period is None else "app.no_entities")
    st.stop()
components.provisional_banner(chosen.period)

codes = [e.code for e in sorted(entities, key=lambda e: (e.type, e.name(lang)))]
filters.page_choice("entity_code", "entity", codes)
code = filters.select(text("entity.choose"), codes, "entity_code",
                      format_func=lambda c: labels.entity_label(reg, c, lang))
filters.sync_url({"entity": code})
axis = views.axis_periods(service.periods())  # every quarter in order: one without a return is a gap
profile = service.entity_profile(code, chosen.period, axis, lang=lang,
                                 deadline_days=get_settings().submission_deadline_days)
if profile is None:
    components.empty_state("app.no_entities")
    st.stop()

drilldown.trail_breadcrumbs(code)
st.header(profile.name)
st.caption(f"{profile.type_label} · {profile.region_label}")
components.status_table(views.entity_kpi_table(profile, lang), text("col.status"),
                        [labels.status_colour(s) for s in profile.kpis["status"]], all_rows=True)

kpi_ids = list(profile.kpis["kpi"])
filters.page_choice("entity_kpi", "kpi", kpi_ids)
kpi = cat.kpi_by_id[filters.select(text("group.kpi"), kpi_ids, "entity_kpi",
                                   format_func=lambda k: labels.kpi_label(cat.kpi_by_id[k], lang))]
filters.sync_url({"entity": code, "kpi": kpi.id})
if st.button(text("analyst.open_documents", kpi=labels.kpi_label(kpi, lang)), key="entity_documents",
             icon=":material/task_alt:"):
    routes.open_documents(code, kpi.id)
peers = views.population(reg, entity_type=reg.entity_by_code[code].type)
comparison = service.kpi_trend(kpi.id, axis, lang=lang, within=peers)
components.chart(figures.entity_trend_figure(profile, kpi, comparison, lang),
                 views.entity_history_frame(profile, kpi.id, lang, unit=kpi.unit),
                 labels.export_name(kpi.id, "trend", profile.name, lang=lang), key="entity_trend",
                 about={"kpi": labels.kpi_label(kpi, lang), "scope": profile.name,
                        "period": text("periods.all_periods")})

st.header(text("entity.returns"))
returns = views.entity_returns_table(profile, lang)
if returns.empty:
    components.empty_state("entity.no_returns")
else:
    st.dataframe(returns, hide_index=True, width="stretch")
    components.downloads(None, returns, labels.export_name("returns", profile.name, lang=lang), key="entity_returns",
                         about={"scope": profile.name, "period": text("periods.all_periods")})

# Secondary figures (the counts added after the contract's measures) close the page, after the returns.
if profile.secondary is not None and not profile.secondary.empty:
    st.caption(text("kpi.secondary_figures"))
    st.dataframe(views.secondary_table(profile.secondary, lang), hide_index=True, width="stretch",
                 key="entity_secondary")
