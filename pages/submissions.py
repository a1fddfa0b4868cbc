"""Submissions: for a period, who has submitted, who has not, who was late, and every version received."""

import streamlit as st

from kpi import views
from kpi.settings import get_settings
from pages import ui

filters = ui.filters()
lang = filters.lang
ui.sync_url()
ui.page_header(ui.text("submissions.title"), ui.text("submissions.caption",
                                                     days=get_settings().submission_deadline_days))
if filters.period is None:
    ui.empty_state("app.no_returns")
    st.stop()

days = get_settings().submission_deadline_days
table = ui.view("submissions", filters.period, lang=lang, deadline_days=days, within=ui.population())
if table.empty:
    ui.empty_state("app.no_entities")
    st.stop()
summary = views.submission_summary(table)
with st.container(horizontal=True, key="submission_counts"):
    st.metric(ui.text("submissions.deadline"), views.date_label(views.deadline(filters.period, days), lang), border=True)
    for name in ("expected", "submitted", "on_time", "late", "missing", "pending"):
        if name != "pending" or summary[name]:
            st.metric(ui.text(f"submissions.count_{name}"), summary[name], border=True)

ui.chart(views.submissions_figure(table, lang, period=filters.period),
         views.export_frame(table, views.SUBMISSION_COLUMNS, lang),
         views.export_name("submissions", views.filters_label(filters, ui.registry(), ui.current_scope()),
                           period=filters.period, lang=lang),
         key="submissions_chart")
shown = st.pills(ui.text("submissions.show"), list(views.SUBMISSION_STATUSES), selection_mode="multi",
                 default=["late", "missing"], format_func=lambda s: ui.text(f"submission.{s}"), key="submission_filter")
rows = table[table["status"].isin(shown or list(views.SUBMISSION_STATUSES))]
ui.status_table(views.export_frame(rows, views.SUBMISSION_COLUMNS, lang).drop(columns=[ui.text("col.code")]),
               ui.text("col.status"),
                [views.SUBMISSION_COLOURS[s] for s in rows["status"]])

st.header(ui.text("submissions.versions"))
versions = ui.view("submission_versions", filters.period, lang=lang, within=ui.population())
if versions.empty:
    ui.empty_state("submissions.no_versions")
else:
    frame = views.export_frame(versions, views.VERSION_COLUMNS, lang)
    st.dataframe(frame.drop(columns=[ui.text("col.code")]), hide_index=True, width="stretch")  # names on screen
    ui.downloads(None, frame, views.export_name("versions", period=filters.period, lang=lang), key="versions_table")
