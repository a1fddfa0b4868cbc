"""Evidence and formalism: entities × tasks coloured by status, the evidence behind a cell, scores and flags."""

import streamlit as st

from kpi import compliance as comp
from kpi.i18n import t
from kpi.settings import get_settings
from pages import components, connection, filters, routes, service
from pages.language import plain, text

chosen, cat, reg = filters.current(), connection.catalogue(), connection.registry()
lang = chosen.lang
filters.sync_url()
components.page_header(text("compliance.title"), text("compliance.caption"))
if chosen.period is None:
    components.empty_state("app.no_returns")
    st.stop()

results = service.compliance(chosen.period)
frame = comp.compliance_frame(results, cat, reg, lang)
groups = [None, *(g.id for g in cat.groups)]
left, right = st.columns(2)
routes.take_over("compliance_group", groups)
group = left.selectbox(text("compliance.group"), groups, key="compliance_group",
                       format_func=lambda g: t("compliance.all", lang) if g is None else f"{g} · {cat.group(g).title(lang)}")
kpis = [None, *(k.id for k in cat.kpis if group is None or k.group_id == group)]
routes.take_over("compliance_kpi", kpis)
kpi = right.selectbox(text("compliance.kpi"), kpis, key="compliance_kpi",
                      format_func=lambda k: t("compliance.all", lang) if k is None else f"{k} · {cat.kpi_by_id[k].short(lang)}")
shown = comp.filter_frame(frame, group=group, kpi=kpi, entity_type=chosen.entity_type, region=chosen.region)
if shown.empty:
    components.empty_state("app.no_entities")
    st.stop()

st.header(text("compliance.matrix"))
st.caption(text("compliance.click_hint"))
matrix, beside = st.columns([3, 2], gap="medium")  # the supporting document of a clicked cell stays in view
figure = comp.matrix_figure(shown, lang, catalogue=cat)
with matrix, st.container(key="compliance_matrix_box"):  # a wide matrix scrolls sideways inside this box
    if figure.layout.width:  # Streamlit fits a chart to its column: the chart's box is held at the figure's width
        st.html("<style>.st-key-compliance_matrix_box {overflow-x: auto; overflow-y: hidden;}"
                f".st-key-compliance_matrix_box [data-testid='stElementContainer']:has(.js-plotly-plot) "
                f"{{min-width: {figure.layout.width}px;}}</style>")
    components.chart(figure, comp.matrix_export(shown, lang), f"compliance_{chosen.period}", key="compliance_matrix",
                     selectable=True, title=text("compliance.matrix"), width=figure.layout.width)
picked = comp.cell_from_selection(st.session_state.get("compliance_matrix"))
if picked is not None and picked != st.session_state.get("_evidence_picked"):  # a new click on the matrix
    st.session_state["_evidence_picked"] = picked
    st.session_state[routes.EVIDENCE_CELL_KEY] = picked
cell = st.session_state.get(routes.EVIDENCE_CELL_KEY)
evidence_of = next((r for r in results if (r.entity, r.task) == cell), None) if cell is not None else None
with beside:
    if evidence_of is None:
        components.empty_state("compliance.click_hint")
    else:
        with st.container(border=True, key="compliance_evidence"):
            st.markdown(f"**{text('compliance.evidence')}: {plain(reg.entity_by_code[evidence_of.entity].name(lang))}**")
            st.markdown("\n".join(f"- **{label}:** {plain(value)}"  # officers' text, shown as text
                                  for label, value in comp.evidence_details(evidence_of, cat, lang).items()))

st.header(text("compliance.scores"))
scores = comp.entity_scores(shown, lang)
st.dataframe(scores.drop(columns=["entity"]).rename(columns={
                 "entity_name": text("compliance.entity"), "score": text("compliance.col.score"),
                 **{s: text(f"compliance.status.{s}") for s in comp.STATUS_ORDER}}),
             hide_index=True, width="stretch",
             column_config={text("compliance.col.score"): st.column_config.NumberColumn(format="%.1f")},
             key="compliance_scores")
routes.take_over("compliance_entity", list(scores["entity"]))
if st.session_state.get("compliance_entity") not in set(scores["entity"]):
    st.session_state.pop("compliance_entity", None)  # an entity the filters no longer show
entity = st.selectbox(text("compliance.entity"), list(scores["entity"]), key="compliance_entity",
                      format_func=lambda code: reg.entity_by_code[code].name(lang))
missing = comp.missing_items(shown, cat, entity, lang)
st.markdown(f"**{text('compliance.missing_for', entity=reg.entity_by_code[entity].name(lang))}**")
if missing.empty:
    st.success(text("compliance.nothing_missing"))
else:
    st.dataframe(missing.rename(columns={c: text(f"compliance.col.{c}") for c in
                                         ("task", "task_title", "status", "why")} | {
                                            "evidence_required": text("compliance.col.required")}),
                 hide_index=True, width="stretch")

st.header(text("compliance.flags"))
flags = comp.flags_frame(service.formalism_flags(chosen.period, deadline_days=get_settings().submission_deadline_days),
                         reg, lang)
flags = flags[flags["entity"].isin(shown["entity"])]
if flags.empty:
    components.empty_state("compliance.no_flags")
else:
    measures = cat.measure_by_code  # a flag's subject: a task code, or a measure named by its template row
    flags = flags.assign(subject=[measures[x].label(lang) if x in measures else (x or "—") for x in flags["subject"]])
    shown_flags = flags.drop(columns=["return_id", "entity", "flag"]).rename(columns={
        "entity_name": text("compliance.entity"), "flag_label": text("compliance.col.flag"),
        "subject": text("compliance.col.subject"), "message": text("compliance.col.message")})
    st.dataframe(shown_flags, hide_index=True, width="stretch")
    components.downloads(None, flags, f"flags_{chosen.period}", key="compliance_flags_export")
