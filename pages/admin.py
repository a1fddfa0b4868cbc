"""Administration: users and their roles, KPI targets by year, the entity registry, and the audit trail."""

import pandas as pd
import streamlit as st

from kpi import audit, auth
from kpi.catalogue import ENTITY_TYPES
from kpi.i18n import t
from kpi.service import known_metrics, list_targets, set_target
from pages import ui

ui.ensure_routed()
lang = ui.lang()
user = ui.signed_in_user()
ui.page_header(ui.text("admin.title"), ui.text("admin.caption"))
if user is None or not user.is_admin:
    st.error(ui.text("auth.forbidden"))
    st.stop()
store, reg = ui.get_store(), ui.registry()


def localised(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names in the user's language."""
    return frame.rename(columns={c: t(f"admin.col.{c}", lang) for c in frame.columns})


users_tab, targets_tab, registry_tab, audit_tab = st.tabs(
    [ui.text("admin.users"), ui.text("admin.targets"), ui.text("admin.registry"), ui.text("admin.audit")])

with users_tab:
    st.dataframe(localised(pd.DataFrame(auth.list_users(store))), hide_index=True, width="stretch",
                 key="admin_users_table")
    with st.form("admin_add_user", clear_on_submit=True):
        st.markdown(f"**{ui.text('admin.add_user')}**")
        username = st.text_input(ui.text("auth.username"), key="admin_new_username", max_chars=auth.MAX_USERNAME)
        password = st.text_input(ui.text("auth.password"), type="password", key="admin_new_password",
                                 max_chars=auth.MAX_PASSWORD)
        role = st.selectbox(ui.text("admin.role"), auth.ROLES, key="admin_new_role",
                            format_func=lambda r: t(f"role.{r}", lang))
        entities = st.multiselect(ui.text("admin.entities"), [e.code for e in reg.entities], key="admin_new_entities",
                                  format_func=lambda c: reg.entity_by_code[c].name(lang))
        if st.form_submit_button(ui.text("admin.add"), type="primary"):
            try:
                auth.create_user(store, username.strip(), password, role, entities=entities, actor=user.username)
                st.success(ui.text("admin.user_added", username=username))
            except auth.AuthError as exc:
                st.error(ui.plain(exc))
    with st.form("admin_disable_user"):
        target = st.selectbox(ui.text("auth.username"), [u["username"] for u in auth.list_users(store)],
                              key="admin_disable_username")
        if st.form_submit_button(ui.text("admin.disable")) and target != user.username:
            auth.update_user(store, str(target), active=False, actor=user.username)
            st.success(ui.text("admin.user_disabled", username=target))
    locked = [str(u["username"]) for u in auth.list_users(store) if u["failed_attempts"] or u["locked_until"]]
    if locked:
        with st.form("admin_unlock_user"):
            st.markdown(f"**{ui.text('security.unlock_title')}**")
            chosen = st.selectbox(ui.text("auth.username"), locked, key="admin_unlock_username")
            if st.form_submit_button(ui.text("security.unlock")):
                auth.unlock(store, str(chosen), actor=user.username)
                st.success(ui.text("security.unlocked", username=chosen))

with targets_tab:
    st.dataframe(localised(pd.DataFrame(list_targets(store))), hide_index=True, width="stretch",
                 key="admin_targets_table")
    with st.form("admin_set_target"):
        metric = st.selectbox(ui.text("admin.metric"), sorted(known_metrics()), key="admin_target_metric")
        year = st.number_input(ui.text("admin.year"), 2020, 2100, 2026, key="admin_target_year")
        value = st.number_input(ui.text("admin.value"), 0.0, 1_000_000.0, 70.0, key="admin_target_value")
        if st.form_submit_button(ui.text("admin.save"), type="primary"):
            set_target(store, str(metric), int(year), float(value), actor=user.username)
            st.cache_data.clear()
            st.success(ui.text("admin.target_saved", metric=metric, year=year))

with registry_tab:
    st.caption(ui.text("admin.registry_caption"))
    frame = pd.DataFrame([{"code": e.code, "type": e.type, "region": e.region or "", "name": e.name(lang)}
                          for e in reg.entities])
    st.dataframe(localised(frame), hide_index=True, width="stretch", key="admin_registry_table")
    counts = {t: len(reg.of_type(t)) for t in ENTITY_TYPES}
    st.caption(" · ".join(f"{ui.text(f'type.{t}')}: {n}" for t, n in counts.items()))

with audit_tab:
    verdict = audit.verify(store)
    if verdict.ok:
        st.caption(verdict.message(lang))
    else:
        st.error(verdict.message(lang), icon=":material/gpp_bad:")
    events = pd.DataFrame(audit.read(store, limit=5000))
    if events.empty:
        ui.empty_state("admin.no_events")
    else:
        events = events[["seq", "at", "actor", "action", "subject", "detail"]].iloc[::-1]
        events["detail"] = events["detail"].astype(str)
        st.dataframe(localised(events), hide_index=True, width="stretch", key="admin_audit_table")
        ui.downloads(None, events, "audit", key="admin_audit_export")

# Reporting calendar: a quarter under way can be opened for filing before it ends (issue 11), on the audit trail.
with st.container(border=True, key="admin_periods"):
    from kpi import periods as calendar

    current = calendar.period_of(calendar.today())
    opened = set(ui.opened_periods())
    st.markdown(f"**{ui.text('periods.admin.title')}**")
    st.caption(ui.text("periods.admin.caption", latest=calendar.period_label(calendar.latest_ended(), lang),
                       current=calendar.period_label(current, lang),
                       opens=calendar.date_label(calendar.filing_opens(current), lang)))
    if current in opened:
        st.info(ui.text("periods.admin.is_open", period=calendar.period_label(current, lang)))
        if st.button(ui.text("periods.admin.close", period=calendar.period_label(current, lang)),
                     key="admin_period_close"):
            calendar.close_period(store, current, actor=user.username)
            st.rerun()
    elif st.button(ui.text("periods.admin.open", period=calendar.period_label(current, lang)),
                   key="admin_period_open", type="primary"):
        calendar.open_period(store, current, actor=user.username)
        st.rerun()
