"""Evidence and formalism: entities × tasks coloured by status, the evidence behind a cell, scores and flags."""

import streamlit as st

from kpi import compliance as comp
from kpi.i18n import t
from kpi.settings import get_settings
from kpi.store import AccessScope
from pages import ui


@st.cache_data(max_entries=64, show_spinner=False)
def _results(version: str, scope: AccessScope, period: str, _cur) -> list[comp.TaskCompliance]:  # type: ignore[no-untyped-def]
    return comp.compliance(_cur, ui.catalogue(), ui.registry(), period, scope=scope)


@st.cache_data(max_entries=64, show_spinner=False)
def _flags(version: str, scope: AccessScope, period: str, days: int, _cur) -> list[comp.Flag]:  # type: ignore[no-untyped-def]
    return comp.formalism_flags(_cur, ui.catalogue(), ui.registry(), ui.kpi_engine(), period, deadline_days=days,
                                scope=scope, tasks=_results(version, scope, period, _cur))


filters, cat, reg = ui.filters(), ui.catalogue(), ui.registry()
lang = filters.lang
ui.sync_url()
ui.page_header(ui.text("compliance.title"), ui.text("compliance.caption"))
if filters.period is None:
    ui.empty_state("app.no_returns")
    st.stop()

results = _results(ui.data_version(), ui.access_scope(), filters.period, _cur=ui.cursor())
frame = comp.compliance_frame(results, cat, reg, lang)
groups = [None, *(g.id for g in cat.groups)]
left, right = st.columns(2)
ui.take_over("compliance_group", groups)
group = left.selectbox(ui.text("compliance.group"), groups, key="compliance_group",
                       format_func=lambda g: t("compliance.all", lang) if g is None else f"{g} · {cat.group(g).title(lang)}")
kpis = [None, *(k.id for k in cat.kpis if group is None or k.group_id == group)]
ui.take_over("compliance_kpi", kpis)
kpi = right.selectbox(ui.text("compliance.kpi"), kpis, key="compliance_kpi",
                      format_func=lambda k: t("compliance.all", lang) if k is None else f"{k} · {cat.kpi_by_id[k].short(lang)}")
shown = comp.filter_frame(frame, group=group, kpi=kpi, entity_type=filters.entity_type, region=filters.region)
if shown.empty:
    ui.empty_state("app.no_entities")
    st.stop()

st.header(ui.text("compliance.matrix"))
st.caption(ui.text("compliance.click_hint"))
matrix, beside = st.columns([3, 2], gap="medium")  # the supporting document of a clicked cell stays in view
figure = comp.matrix_figure(shown, lang, catalogue=cat)
with matrix, st.container(key="compliance_matrix_box"):  # a wide matrix scrolls sideways inside this box
    if figure.layout.width:  # Streamlit fits a chart to its column: the chart's box is held at the figure's width
        st.html("<style>.st-key-compliance_matrix_box {overflow-x: auto; overflow-y: hidden;}"
                f".st-key-compliance_matrix_box [data-testid='stElementContainer']:has(.js-plotly-plot) "
                f"{{min-width: {figure.layout.width}px;}}</style>")
    ui.chart(figure, comp.matrix_export(shown, lang), f"compliance_{filters.period}", key="compliance_matrix",
             selectable=True, title=ui.text("compliance.matrix"), width=figure.layout.width)
picked = comp.cell_from_selection(st.session_state.get("compliance_matrix"))
if picked is not None and picked != st.session_state.get("_evidence_picked"):  # a new click on the matrix
    st.session_state["_evidence_picked"] = picked
    st.session_state[ui.EVIDENCE_CELL_KEY] = picked
cell = st.session_state.get(ui.EVIDENCE_CELL_KEY)
chosen = next((r for r in results if (r.entity, r.task) == cell), None) if cell is not None else None
with beside:
    if chosen is None:
        ui.empty_state("compliance.click_hint")
    else:
        with st.container(border=True, key="compliance_evidence"):
            st.markdown(f"**{ui.text('compliance.evidence')}: {ui.plain(reg.entity_by_code[chosen.entity].name(lang))}**")
            st.markdown("\n".join(f"- **{label}:** {ui.plain(value)}"  # officers' text, shown as text
                                   for label, value in comp.evidence_details(chosen, cat, lang).items()))

st.header(ui.text("compliance.scores"))
scores = comp.entity_scores(shown, lang)
st.dataframe(scores.drop(columns=["entity"]).rename(columns={"entity_name": ui.text("compliance.entity"),
                                    "score": ui.text("compliance.col.score"),
                                    **{s: ui.text(f"compliance.status.{s}") for s in comp.STATUS_ORDER}}),
             hide_index=True, width="stretch",
             column_config={ui.text("compliance.col.score"): st.column_config.NumberColumn(format="%.1f")},
             key="compliance_scores")
ui.take_over("compliance_entity", list(scores["entity"]))
if st.session_state.get("compliance_entity") not in set(scores["entity"]):
    st.session_state.pop("compliance_entity", None)  # an entity the filters no longer show
entity = st.selectbox(ui.text("compliance.entity"), list(scores["entity"]), key="compliance_entity",
                      format_func=lambda code: reg.entity_by_code[code].name(lang))
missing = comp.missing_items(shown, cat, entity, lang)
st.markdown(f"**{ui.text('compliance.missing_for', entity=reg.entity_by_code[entity].name(lang))}**")
if missing.empty:
    st.success(ui.text("compliance.nothing_missing"))
else:
    st.dataframe(missing.rename(columns={c: ui.text(f"compliance.col.{c}") for c in
                                         ("task", "task_title", "status", "why")} | {
                                            "evidence_required": ui.text("compliance.col.required")}),
                 hide_index=True, width="stretch")

st.header(ui.text("compliance.flags"))
flags = comp.flags_frame(_flags(ui.data_version(), ui.access_scope(), filters.period,
                                get_settings().submission_deadline_days, _cur=ui.cursor()), reg, lang)
flags = flags[flags["entity"].isin(shown["entity"])]
if flags.empty:
    ui.empty_state("compliance.no_flags")
else:
    measures = cat.measure_by_code  # a flag's subject: a task code, or a measure named by its template row
    flags = flags.assign(subject=[measures[x].label(lang) if x in measures else (x or "—") for x in flags["subject"]])
    shown_flags = flags.drop(columns=["return_id", "entity", "flag"]).rename(columns={
        "entity_name": ui.text("compliance.entity"), "flag_label": ui.text("compliance.col.flag"),
        "subject": ui.text("compliance.col.subject"), "message": ui.text("compliance.col.message")})
    st.dataframe(shown_flags, hide_index=True, width="stretch")
    ui.downloads(None, flags, f"flags_{filters.period}", key="compliance_flags_export")
