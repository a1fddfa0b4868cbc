"""Submissions: for a period, who has submitted, who has not, who was late, and every version received."""

import streamlit as st

from kpi import figures, labels, views
from kpi.settings import get_settings
from pages import components, connection, filters, service, session
from pages.language import text

chosen = filters.current()
lang = chosen.lang
filters.sync_url()
components.page_header(text("submissions.title"), text("submissions.caption",
                                                       days=get_settings().submission_deadline_days))
if chosen.period is None:
    components.empty_state("app.no_returns")
    st.stop()

days = get_settings().submission_deadline_days
table = service.submissions(chosen.period, lang=lang, deadline_days=days, within=filters.population())
if table.empty:
    components.empty_state("app.no_entities")
    st.stop()
summary = views.submission_summary(table)
with st.container(horizontal=True, key="submission_counts"):
    st.metric(text("submissions.deadline"), labels.date_label(views.deadline(chosen.period, days), lang), border=True)
    for name in ("expected", "submitted", "on_time", "late", "missing", "pending"):
        if name != "pending" or summary[name]:
            st.metric(text(f"submissions.count_{name}"), summary[name], border=True)

components.chart(figures.submissions_figure(table, lang, period=chosen.period),
                 labels.export_frame(table, views.SUBMISSION_COLUMNS, lang),
                 labels.export_name("submissions",
                                    views.filters_label(chosen, connection.registry(), session.current_scope()),
                                    period=chosen.period, lang=lang),
                 key="submissions_chart")
shown = st.pills(text("submissions.show"), list(views.SUBMISSION_STATUSES), selection_mode="multi",
                 default=["late", "missing"], format_func=lambda s: text(f"submission.{s}"), key="submission_filter")
rows = table[table["status"].isin(shown or list(views.SUBMISSION_STATUSES))]
components.status_table(labels.export_frame(rows, views.SUBMISSION_COLUMNS, lang).drop(columns=[text("col.code")]),
                        text("col.status"),
                        [views.SUBMISSION_COLOURS[s] for s in rows["status"]])

st.header(text("submissions.versions"))
versions = service.submission_versions(chosen.period, lang=lang, within=filters.population())
if versions.empty:
    components.empty_state("submissions.no_versions")
else:
    frame = labels.export_frame(versions, views.VERSION_COLUMNS, lang)
    st.dataframe(frame.drop(columns=[text("col.code")]), hide_index=True, width="stretch")  # names on screen
    components.downloads(None, frame, labels.export_name("versions", period=chosen.period, lang=lang),
                         key="versions_table")
