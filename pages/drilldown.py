"""The drill-down of a KPI (nation → entity type or region → entity): its path kept in session state and in the
URL, shown as breadcrumbs that step back up, and the way back from a profile opened from a group page."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from kpi import drill, labels
from kpi.catalogue import Entity
from pages import filters, routes
from pages.connection import catalogue, registry
from pages.language import lang, text


def breadcrumbs(path: drill.DrillPath, *, root_label: str, key: str) -> int | None:
    """The drill path as buttons; returns the depth clicked (0 is the top), if any."""
    reg, language = registry(), lang()
    crumbs = drill.crumbs(path, lambda s: labels.key_label(reg, s.level, s.key, language), root_label)
    clicked = None
    with st.container(horizontal=True, gap="small", vertical_alignment="center", key=f"crumbs_{key}"):
        st.markdown(f"**{text('drill.you_are_here')}:**")  # no icon: markdown icon names are read aloud
        for index, (label, depth) in enumerate(crumbs):
            last = index == len(crumbs) - 1
            if st.button(labels.shorten(label, 48), key=f"{key}_crumb_{depth}", type="tertiary" if last else "secondary",
                         disabled=last, icon=":material/chevron_right:" if index else ":material/public:"):
                clicked = depth
    return clicked


def drill_state(key: str, entities: Sequence[Entity]) -> drill.DrillPath:
    """This page's drill path: from its session state, else from the link, always valid for these entities."""
    fresh = None if routes.take_over(key) else filters.url_change("drill")
    if fresh is not None or key not in st.session_state:
        st.session_state[key] = drill.decode(fresh)
    path: drill.DrillPath = drill.sanitise(entities, st.session_state[key])
    st.session_state[key] = path
    return path


def drill_navigator(key: str, entities: Sequence[Entity], *, root_label: str,
                    url: dict[str, str]) -> drill.DrillPath:
    """The drill path of a page: kept in state and in the URL, shown as breadcrumbs that step back up."""
    path = drill_state(key, entities)
    filters.sync_url({**url, "drill": drill.encode(path) or None})
    depth = breadcrumbs(path, root_label=root_label, key=key)
    if depth is not None:
        set_drill(key, drill.ascend(path, depth))
    return path


def set_drill(key: str, path: drill.DrillPath) -> None:
    """Move a page's drill-down to another node and draw the page again."""
    st.session_state[key] = path
    st.rerun()


def trail_breadcrumbs(code: str) -> None:
    """On a profile opened from a group page's drill-down, the way back: the KPI at the nation, each level below."""
    trail: routes.Trail | None = st.session_state.get(routes.TRAIL_KEY)
    if trail is None:
        return
    path = drill.decode(trail.drill)
    if drill.leaf_entity(path) != code or trail.group not in {g.id for g in catalogue().groups}:
        return
    group = catalogue().group(trail.group)
    depth = breadcrumbs(path, root_label=f"{text('nav.group', number=group.number)} · {trail.kpi}", key="trail")
    if depth is not None:
        routes.hand_over(f"drill_{trail.group}", drill.ascend(path, depth))
        routes.hand_over(f"kpi_{trail.group}", trail.kpi)
        routes.open_group(group)
