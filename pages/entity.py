"""Entity profile: one entity across all its KPIs and periods, its returns and versions, its rank among peers."""

import streamlit as st

from kpi import views
from kpi.settings import get_settings
from pages import ui

filters, reg, cat = ui.filters(), ui.registry(), ui.catalogue()
lang = filters.lang
ui.page_header(ui.text("entity.title"), ui.text("entity.caption"))
entities = views.visible_entities(reg, scope=ui.current_scope(), within=ui.population())
if filters.period is None or not entities:
    ui.empty_state("app.no_returns" if filters.period is None else "app.no_entities")
    st.stop()
ui.provisional_banner(filters.period)

codes = [e.code for e in sorted(entities, key=lambda e: (e.type, e.name(lang)))]
ui.page_choice("entity_code", "entity", codes)
code = ui.select(ui.text("entity.choose"), codes, "entity_code",
                 format_func=lambda c: views.entity_label(reg, c, lang))
ui.sync_url({"entity": code})
axis = views.axis_periods(ui.periods())  # every quarter in order: one without a return is a gap
profile = ui.view("entity_profile", code, filters.period, axis, lang=lang,
                  deadline_days=get_settings().submission_deadline_days)
if profile is None:
    ui.empty_state("app.no_entities")
    st.stop()

ui.trail_breadcrumbs(code)
st.header(profile.name)
st.caption(f"{profile.type_label} · {profile.region_label}")
ui.status_table(views.entity_kpi_table(profile, lang), ui.text("col.status"),
                [views.status_colour(s) for s in profile.kpis["status"]], all_rows=True)

kpi_ids = list(profile.kpis["kpi"])
ui.page_choice("entity_kpi", "kpi", kpi_ids)
kpi = cat.kpi_by_id[ui.select(ui.text("group.kpi"), kpi_ids, "entity_kpi",
                              format_func=lambda k: views.kpi_label(cat.kpi_by_id[k], lang))]
ui.sync_url({"entity": code, "kpi": kpi.id})
if st.button(ui.text("analyst.open_documents", kpi=views.kpi_label(kpi, lang)), key="entity_documents",
             icon=":material/task_alt:"):
    ui.open_documents(code, kpi.id)
peers = views.population(reg, entity_type=reg.entity_by_code[code].type)
comparison = ui.view("kpi_trend", kpi.id, axis, lang=lang, within=peers)
ui.chart(views.entity_trend_figure(profile, kpi, comparison, lang),
         views.entity_history_frame(profile, kpi.id, lang, unit=kpi.unit),
         views.export_name(kpi.id, "trend", profile.name, lang=lang), key="entity_trend",
         about={"kpi": views.kpi_label(kpi, lang), "scope": profile.name, "period": ui.text("periods.all_periods")})

st.header(ui.text("entity.returns"))
returns = views.entity_returns_table(profile, lang)
if returns.empty:
    ui.empty_state("entity.no_returns")
else:
    st.dataframe(returns, hide_index=True, width="stretch")
    ui.downloads(None, returns, views.export_name("returns", profile.name, lang=lang), key="entity_returns",
                 about={"scope": profile.name, "period": ui.text("periods.all_periods")})

# Secondary figures (the counts added after the contract's measures) close the page, after the returns.
if profile.secondary is not None and not profile.secondary.empty:
    st.caption(ui.text("kpi.secondary_figures"))
    st.dataframe(views.secondary_table(profile.secondary, lang), hide_index=True, width="stretch",
                 key="entity_secondary")
