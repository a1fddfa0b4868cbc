"""Administration: users and their roles, KPI targets by year, the entity registry, and the audit trail."""

import pandas as pd
import streamlit as st

from kpi import audit, auth
from kpi.catalogue import ENTITY_TYPES
from kpi.i18n import t
from kpi.service import known_metrics, list_targets, set_target
from pages import components, connection, language, routes, service, session
from pages.language import plain, text

routes.ensure_routed()
lang = language.lang()
user = session.signed_in_user()
components.page_header(text("admin.title"), text("admin.caption"))
if user is None or not user.is_admin:
    st.error(text("auth.forbidden"))
    st.stop()
store, reg = connection.get_store(), connection.registry()


def localised(frame: pd.DataFrame) -> pd.DataFrame:
    """Column names in the user's language."""
    return frame.rename(columns={c: t(f"admin.col.{c}", lang) for c in frame.columns})


users_tab, targets_tab, registry_tab, audit_tab = st.tabs(
    [text("admin.users"), text("admin.targets"), text("admin.registry"), text("admin.audit")])

FLASH_KEY = "_admin_flash"


def entity_label(code: str) -> str:
    return reg.entity_by_code[code].name(lang) if code in reg.entity_by_code else code


def users_table() -> pd.DataFrame:
    """The users with roles in words, entities by name, '—' where nothing is set."""
    frame = pd.DataFrame(auth.list_users(store))
    if frame.empty:
        return frame
    frame["role"] = [t(f"role.{r}", lang) for r in frame["role"]]
    frame["entities"] = [", ".join(entity_label(c) for c in (codes or [])) or "—" for codes in frame["entities"]]
    return localised(frame.astype(object).where(frame.notna(), "—"))


def entity_chooser(prefix: str, current: list[str]) -> list[str]:
    """Entities chosen by type and region first, then by name: a typed search cannot reach beyond them."""
    held = f"{prefix}_chosen"
    if held not in st.session_state:
        st.session_state[held] = list(current)
    left, right = st.columns(2)
    entity_type = left.selectbox(text("filter.entity_type"), ENTITY_TYPES, key=f"{prefix}_type",
                                 format_func=lambda c: t(f"type.{c}", lang))
    regions = sorted({e.region for e in reg.of_type(entity_type) if e.region},
                     key=lambda r: reg.region_by_code[r].name(lang))
    region = right.selectbox(text("filter.region"), [None, *regions], key=f"{prefix}_region",
                             format_func=lambda r: t("filter.all_regions", lang) if r is None
                             else reg.region_by_code[r].name(lang), disabled=not regions)
    fitting = [e.code for e in reg.of_type(entity_type) if region is None or e.region == region]
    kept = [c for c in st.session_state[held] if c not in fitting]  # chosen under another type or region
    picked = st.multiselect(text("admin.entities"), fitting, key=f"{prefix}_entities@{entity_type}@{region}",
                            default=[c for c in st.session_state[held] if c in fitting], format_func=entity_label,
                            placeholder=text("analyst.admin.choose_entities"),
                            help=text("analyst.admin.entities_help"))
    st.session_state[held] = [*kept, *picked]
    if kept:
        st.caption(text("analyst.admin.kept", names=", ".join(entity_label(c) for c in st.session_state[held])))
    return list(st.session_state[held])


def forget(prefix: str) -> None:
    for key in [k for k in st.session_state if str(k).startswith(prefix)]:
        del st.session_state[key]


with users_tab:
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.success(flash)
    st.dataframe(users_table(), hide_index=True, width="stretch", key="admin_users_table")
    with st.container(border=True, key="admin_add_user"):
        st.markdown(f"**{text('admin.add_user')}**")
        username = st.text_input(text("auth.username"), key="admin_new_username", max_chars=auth.MAX_USERNAME)
        password = st.text_input(text("auth.password"), type="password", key="admin_new_password",
                                 max_chars=auth.MAX_PASSWORD)
        role = st.selectbox(text("admin.role"), auth.ROLES, key="admin_new_role",
                            format_func=lambda r: t(f"role.{r}", lang))
        entities = entity_chooser("admin_new", []) if role == "officer" else []
        if st.button(text("admin.add"), type="primary", key="admin_add"):
            try:
                auth.create_user(store, username.strip(), password, role, entities=entities, actor=user.username)
                st.session_state[FLASH_KEY] = text("admin.user_added", username=username.strip())
                forget("admin_new")
                st.rerun()
            except auth.AuthError as exc:
                st.error(plain(exc))
    with st.container(border=True, key="admin_edit_user"):
        st.markdown(f"**{text('analyst.admin.edit_user')}**")
        everyone = {str(u["username"]): u for u in auth.list_users(store)}
        chosen_name = st.selectbox(text("auth.username"), list(everyone), key="admin_edit_username")
        if chosen_name is not None:
            record = everyone[chosen_name]
            prefix = f"admin_edit_{chosen_name}"
            new_role = st.selectbox(text("admin.role"), auth.ROLES, key=f"{prefix}_role",
                                    index=auth.ROLES.index(str(record["role"])),
                                    format_func=lambda r: t(f"role.{r}", lang))
            held = record["entities"]
            assigned = [str(code) for code in held] if isinstance(held, (list, tuple)) else []
            new_entities = entity_chooser(prefix, assigned) if new_role == "officer" else []
            if st.button(text("analyst.admin.save"), type="primary", key="admin_edit_save"):
                try:
                    auth.update_user(store, chosen_name, role=new_role, entities=new_entities, actor=user.username)
                    st.session_state[FLASH_KEY] = text("analyst.admin.saved", username=chosen_name)
                    forget(prefix)
                    st.rerun()
                except auth.AuthError as exc:
                    st.error(plain(exc))
    with st.form("admin_disable_user"):
        target = st.selectbox(text("auth.username"), [u["username"] for u in auth.list_users(store)],
                              key="admin_disable_username")
        if st.form_submit_button(text("admin.disable")) and target != user.username:
            auth.update_user(store, str(target), active=False, actor=user.username)
            st.session_state[FLASH_KEY] = text("admin.user_disabled", username=target)
            st.rerun()
    locked = [str(u["username"]) for u in auth.list_users(store) if u["failed_attempts"] or u["locked_until"]]
    if locked:
        with st.form("admin_unlock_user"):
            st.markdown(f"**{text('security.unlock_title')}**")
            chosen = st.selectbox(text("auth.username"), locked, key="admin_unlock_username")
            if st.form_submit_button(text("security.unlock")):
                auth.unlock(store, str(chosen), actor=user.username)
                st.session_state[FLASH_KEY] = text("security.unlocked", username=chosen)
                st.rerun()

def metric_label(metric: str) -> str:
    """A target's figure in words: the KPI, or a KPI's secondary figure by its label (not its measure code)."""
    kpi_id, _, key = str(metric).partition(":")
    kpi = connection.catalogue().kpi_by_id.get(kpi_id)
    if kpi is None:
        return str(metric)
    if not key:
        return f"{kpi.id} · {kpi.short(lang)}"
    formula = next((f for f in (*kpi.secondary, *kpi.breakdown) if f.key == key), None)
    return f"{kpi.id} · {formula.label(lang)}" if formula is not None and formula.label else f"{kpi.id} · {key}"


with targets_tab:
    targets = pd.DataFrame(list_targets(store))
    if not targets.empty:
        targets["metric"] = [metric_label(m) for m in targets["metric"]]
    st.dataframe(localised(targets.astype(object).where(targets.notna(), "—")), hide_index=True, width="stretch",
                 key="admin_targets_table")
    with st.form("admin_set_target"):
        metric = st.selectbox(text("admin.metric"), sorted(known_metrics()), key="admin_target_metric",
                              format_func=metric_label)
        year = st.number_input(text("admin.year"), 2020, 2100, 2026, key="admin_target_year")
        value = st.number_input(text("admin.value"), 0.0, 1_000_000.0, 70.0, key="admin_target_value")
        if st.form_submit_button(text("admin.save"), type="primary"):
            set_target(store, str(metric), int(year), float(value), actor=user.username)
            st.cache_data.clear()
            st.success(text("admin.target_saved", metric=metric, year=year))

with registry_tab:
    st.caption(text("admin.registry_caption"))
    frame = pd.DataFrame([{"code": e.code, "type": e.type, "region": e.region or "", "name": e.name(lang)}
                          for e in reg.entities])
    st.dataframe(localised(frame), hide_index=True, width="stretch", key="admin_registry_table")
    counts = {t: len(reg.of_type(t)) for t in ENTITY_TYPES}
    st.caption(" · ".join(f"{text(f'type.{t}')}: {n}" for t, n in counts.items()))

with audit_tab:
    verdict = audit.verify(store)
    if verdict.ok:
        st.caption(verdict.message(lang))
    else:
        st.error(verdict.message(lang), icon=":material/gpp_bad:")
    events = pd.DataFrame(audit.read(store, limit=5000))
    if events.empty:
        components.empty_state("admin.no_events")
    else:
        events = events[["seq", "at", "actor", "action", "subject", "detail"]].iloc[::-1]
        events["detail"] = events["detail"].astype(str)
        st.dataframe(localised(events), hide_index=True, width="stretch", key="admin_audit_table")
        components.downloads(None, events, "audit", key="admin_audit_export")

# Reporting calendar: a quarter under way can be opened for filing before it ends (issue 11), on the audit trail.
with st.container(border=True, key="admin_periods"):
    from kpi import periods as calendar

    current = calendar.period_of(calendar.today())
    opened = set(service.opened_periods())
    st.markdown(f"**{text('periods.admin.title')}**")
    st.caption(text("periods.admin.caption", latest=calendar.period_label(calendar.latest_ended(), lang),
                    current=calendar.period_label(current, lang),
                    opens=calendar.date_label(calendar.filing_opens(current), lang)))
    if current in opened:
        st.info(text("periods.admin.is_open", period=calendar.period_label(current, lang)))
        if st.button(text("periods.admin.close", period=calendar.period_label(current, lang)),
                     key="admin_period_close"):
            calendar.close_period(store, current, actor=user.username)
            st.rerun()
    elif st.button(text("periods.admin.open", period=calendar.period_label(current, lang)),
                   key="admin_period_open", type="primary"):
        calendar.open_period(store, current, actor=user.username)
        st.rerun()
