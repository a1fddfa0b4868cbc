"""Briefing pack: choose scope, period, language and KPIs; preview every slide; download the PowerPoint and PDF."""

from __future__ import annotations

from typing import get_args

import streamlit as st

from kpi import briefing, views
from kpi.catalogue import LANGUAGES
from kpi.compliance import briefing_provider
from kpi.i18n import t
from kpi.settings import get_settings
from kpi.store import AccessScope, Cursor
from pages import ui


@st.cache_data(max_entries=16, show_spinner=False)
def _deck(request: briefing.BriefingRequest, version: str, scope: AccessScope,
          _cur: Cursor) -> tuple[briefing.Briefing, bytes]:
    provider = briefing_provider(ui.catalogue(), ui.registry(), ui.kpi_engine(),
                                 deadline_days=get_settings().submission_deadline_days)
    plan = briefing.plan_briefing(_cur, request, ui.kpi_engine(), access=scope, compliance=provider)
    return plan, briefing.render_pptx(plan)


@st.cache_data(max_entries=4, show_spinner=False)
def _pdf(request: briefing.BriefingRequest, version: str, scope: AccessScope, deck: bytes) -> bytes:
    return briefing.pptx_to_pdf(deck, lang=request.lang)


ui.ensure_routed()
ui.page_header(ui.text("briefing.page.title"), ui.text("briefing.page.intro"))
periods = ui.periods()
if not periods:
    ui.empty_state("briefing.page.no_data")
    st.stop()

lang, registry, catalogue = ui.lang(), ui.registry(), ui.catalogue()
access = ui.current_scope()
# Only scopes the user may build: an officer's own entities (a pack of the Republic is not theirs to make).
levels = list(get_args(briefing.ScopeLevel)) if access.entities is None else ["entity"]
if "brief_period" not in st.session_state and ui.default_period() in periods:
    st.session_state["brief_period"] = ui.default_period()  # the safe default, as on every page
with st.container(horizontal=True):
    level = st.segmented_control(ui.text("briefing.page.scope_level"), levels, required=True,
                                 default=levels[0], format_func=lambda lv: t(f"level.{lv}", lang),
                                 key="brief_level") or levels[0]
    names = {c: n for c, n in briefing.scope_options(registry, level, lang) if level != "entity" or access.allows(c)}
    code = st.selectbox(ui.text("briefing.page.scope_key"), list(names), format_func=lambda c: names[c],
                        key=f"brief_scope_{level}", disabled=level == "national") or "national"
    period = st.selectbox(ui.text("briefing.page.period"), periods[::-1], key="brief_period", width=190,
                          format_func=lambda p: views.period_label(p, lang))
    deck_lang = st.segmented_control(ui.text("briefing.page.language"), LANGUAGES, default=lang, required=True,
                                     format_func=lambda code: ui.LANGUAGE_NAMES[code], key="brief_lang") or lang
every_kpi = [k.id for k in catalogue.kpis]
kpis = st.multiselect(ui.text("briefing.page.kpis"), every_kpi, default=every_kpi, key="brief_kpis",
                      format_func=lambda k: f"{k} · {catalogue.kpi_by_id[k].short(lang)}",
                      placeholder=ui.text("analyst.briefing.choose_kpis"))
st.html("<style>.st-key-brief_kpis [data-baseweb='select'] div {max-height: none !important;}"  # every chip shown
        ".st-key-brief_kpis [data-baseweb='tag'] {max-width: none !important;}"
        ".st-key-brief_kpis [data-baseweb='tag'] span {overflow: visible !important; text-overflow: clip !important;}"
        "</style>")
breakdown = st.radio(ui.text("briefing.page.breakdown"), ("region", "entity_type"), horizontal=True,
                     format_func=lambda lv: t(f"level.{lv}", lang), key="brief_breakdown", disabled=level != "national")
if not kpis:
    ui.empty_state("briefing.page.no_kpis")
    st.stop()

allow = st.checkbox(ui.text("periods.briefing_allow"), key="brief_allow_provisional")
appendix = st.checkbox(ui.text("analyst.briefing.appendix"), key="brief_appendix", value=False,
                       help=ui.text("analyst.briefing.appendix_help"))  # the default pack: summary and KPI slides
request = briefing.BriefingRequest(period=period, scope=briefing.resolve_scope(code, registry), lang=deck_lang,
                                   kpis=tuple(kpis), national_breakdown=breakdown, allow_provisional=allow,
                                   appendix=appendix)
try:
    plan, deck = _deck(request, ui.data_version(), ui.access_scope(), _cur=ui.cursor())
except (briefing.BriefingError, PermissionError) as problem:
    st.warning(str(problem), icon=":material/info:")
    st.stop()

with st.container(horizontal=True):
    st.download_button(ui.text("briefing.page.download_pptx"), deck, request.file_name(".pptx"),
                       mime="application/vnd.openxmlformats-officedocument.presentationml.presentation",
                       icon=":material/slideshow:", on_click="ignore", key="brief_pptx")
    if st.button(ui.text("briefing.page.make_pdf"), icon=":material/picture_as_pdf:", key="brief_make_pdf"):
        st.session_state["brief_pdf_for"] = request  # the PDF takes seconds: made on demand, kept for this pack
    if st.session_state.get("brief_pdf_for") == request:
        try:
            pdf = _pdf(request, ui.data_version(), ui.access_scope(), deck)
            st.download_button(ui.text("briefing.page.download_pdf"), pdf, request.file_name(".pdf"),
                               mime="application/pdf", icon=":material/picture_as_pdf:", on_click="ignore",
                               key="brief_pdf")
        except briefing.PdfUnavailable as problem:
            st.error(str(problem), icon=":material/error:")

st.header(ui.text("briefing.page.preview", count=len(plan.slides)))
for number, slide in enumerate(plan.slides, start=1):
    with st.expander(f"{number}. {slide.title}", expanded=number <= 2):
        for line in (slide.subtitle, *slide.lines, slide.badge):
            if line:
                st.caption(ui.plain(line))
        for chart in slide.charts:
            st.markdown(f"**{ui.plain(chart.caption)}**")
            st.dataframe(chart.preview_rows(), hide_index=True)
        if slide.finding:
            st.info(ui.plain(slide.finding))
        if slide.table is not None:
            st.dataframe(slide.table.preview_rows(), hide_index=True)
