"""Briefing pack: choose scope, period, language and KPIs; preview every slide; download the PowerPoint and PDF."""

from __future__ import annotations

from typing import get_args

import streamlit as st

from kpi import briefing, labels
from kpi.catalogue import LANGUAGES
from kpi.i18n import t
from pages import components, connection, language, routes, service, session
from pages.language import plain, text

routes.ensure_routed()
components.page_header(text("briefing.page.title"), text("briefing.page.intro"))
periods = service.periods()
if not periods:
    components.empty_state("briefing.page.no_data")
    st.stop()

lang, registry, catalogue = language.lang(), connection.registry(), connection.catalogue()
access = session.current_scope()
# Only scopes the user may build: an officer's own entities (a pack of the Republic is not theirs to make).
levels = list(get_args(briefing.ScopeLevel)) if access.entities is None else ["entity"]
if "brief_period" not in st.session_state and service.default_period() in periods:
    st.session_state["brief_period"] = service.default_period()  # the safe default, as on every page
with st.container(horizontal=True):
    level = st.segmented_control(text("briefing.page.scope_level"), levels, required=True,
                                 default=levels[0], format_func=lambda lv: t(f"level.{lv}", lang),
                                 key="brief_level") or levels[0]
    names = {c: n for c, n in briefing.scope_options(registry, level, lang) if level != "entity" or access.allows(c)}
    code = st.selectbox(text("briefing.page.scope_key"), list(names), format_func=lambda c: names[c],
                        key=f"brief_scope_{level}", disabled=level == "national") or "national"
    period = st.selectbox(text("briefing.page.period"), periods[::-1], key="brief_period", width=190,
                          format_func=lambda p: labels.period_label(p, lang))
    deck_lang = st.segmented_control(text("briefing.page.language"), LANGUAGES, default=lang, required=True,
                                     format_func=lambda code: language.LANGUAGE_NAMES[code], key="brief_lang") or lang
every_kpi = [k.id for k in catalogue.kpis]
kpis = st.multiselect(text("briefing.page.kpis"), every_kpi, default=every_kpi, key="brief_kpis",
                      format_func=lambda k: f"{k} · {catalogue.kpi_by_id[k].short(lang)}",
                      placeholder=text("analyst.briefing.choose_kpis"))
st.html("<style>.st-key-brief_kpis [data-baseweb='select'] div {max-height: none !important;}"  # every chip shown
        ".st-key-brief_kpis [data-baseweb='tag'] {max-width: none !important;}"
        ".st-key-brief_kpis [data-baseweb='tag'] span {overflow: visible !important; text-overflow: clip !important;}"
        "</style>")
breakdown = st.radio(text("briefing.page.breakdown"), ("region", "entity_type"), horizontal=True,
                     format_func=lambda lv: t(f"level.{lv}", lang), key="brief_breakdown", disabled=level != "national")
if not kpis:
    components.empty_state("briefing.page.no_kpis")
    st.stop()

allow = st.checkbox(text("periods.briefing_allow"), key="brief_allow_provisional")
appendix = st.checkbox(text("analyst.briefing.appendix"), key="brief_appendix", value=False,
                       help=text("analyst.briefing.appendix_help"))  # the default pack: summary and KPI slides
request = briefing.BriefingRequest(period=period, scope=briefing.resolve_scope(code, registry), lang=deck_lang,
                                   kpis=tuple(kpis), national_breakdown=breakdown, allow_provisional=allow,
                                   appendix=appendix)
try:
    plan, deck = service.deck(request)
except (briefing.BriefingError, PermissionError) as problem:
    st.warning(str(problem), icon=":material/info:")
    st.stop()

with st.container(horizontal=True):
    st.download_button(text("briefing.page.download_pptx"), deck, request.file_name(".pptx"),
                       mime="application/vnd.openxmlformats-officedocument.presentationml.presentation",
                       icon=":material/slideshow:", on_click="ignore", key="brief_pptx")
    if st.button(text("briefing.page.make_pdf"), icon=":material/picture_as_pdf:", key="brief_make_pdf"):
        st.session_state["brief_pdf_for"] = request  # the PDF takes seconds: made on demand, kept for this pack
    if st.session_state.get("brief_pdf_for") == request:
        try:
            pdf = service.pdf(request, deck)
            st.download_button(text("briefing.page.download_pdf"), pdf, request.file_name(".pdf"),
                               mime="application/pdf", icon=":material/picture_as_pdf:", on_click="ignore",
                               key="brief_pdf")
        except briefing.PdfUnavailable as problem:
            st.error(str(problem), icon=":material/error:")

st.header(text("briefing.page.preview", count=len(plan.slides)))
for number, slide in enumerate(plan.slides, start=1):
    with st.expander(f"{number}. {slide.title}", expanded=number <= 2):
        for line in (slide.subtitle, *slide.lines, slide.badge):
            if line:
                st.caption(plain(line))
        for chart in slide.charts:
            st.markdown(f"**{plain(chart.caption)}**")
            st.dataframe(chart.preview_rows(), hide_index=True)
        if slide.finding:
            st.info(plain(slide.finding))
        if slide.table is not None:
            st.dataframe(slide.table.preview_rows(), hide_index=True)
