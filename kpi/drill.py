"""Drill-down state as pure functions: the path from the nation through entity type and region to one entity."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kpi.catalogue import Entity

LEVELS: tuple[str, ...] = ("entity_type", "region", "entity")
_SEPARATOR = "/"


@dataclass(frozen=True)
class Step:
    """One step down: the level chosen and the key clicked at it (a type code, region code or entity code)."""

    level: str
    key: str


DrillPath = tuple[Step, ...]
ROOT: DrillPath = ()


def key_of(entity: Entity, level: str) -> str | None:
    """The key an entity has at a level: its type, its region (None for a national remit) or its own code."""
    if level == "entity_type":
        return entity.type
    if level == "region":
        return entity.region
    if level == "entity":
        return entity.code
    raise ValueError(f"unknown drill level {level!r}")


def members(entities: Iterable[Entity], path: DrillPath) -> list[Entity]:
    """The entities under a node of the path."""
    return [e for e in entities if all(key_of(e, step.level) == step.key for step in path)]


def child_level(entities: Sequence[Entity], path: DrillPath) -> str | None:
    """The level the ranking shows below a node, or None at a leaf (one entity).

    Levels that would show a single bar are skipped (a KPI only universities report goes straight to
    regions), and so is the region level when some members have no region (central bodies).
    """
    pool = members(entities, path)
    fixed = {step.level for step in path}
    if not pool or "entity" in fixed:
        return None
    for level in ("entity_type", "region"):
        if level in fixed:
            continue
        keys = {key_of(e, level) for e in pool}
        if None in keys:
            continue
        if len(keys) > 1:
            return level
    return "entity"


def children(entities: Sequence[Entity], path: DrillPath) -> list[str]:
    """The keys one can click below a node, in first-seen order."""
    level = child_level(entities, path)
    if level is None:
        return []
    seen: dict[str, None] = {}
    for entity in members(entities, path):
        key = key_of(entity, level)
        if key is not None:
            seen.setdefault(key, None)
    return list(seen)


def descend(entities: Sequence[Entity], path: DrillPath, key: str | None) -> DrillPath:
    """The path one level deeper through `key`; the same path when the key is not a child of this node."""
    level = child_level(entities, path)
    if level is None or key is None or key not in children(entities, path):
        return path
    return (*path, Step(level, key))


def descend_through(entities: Sequence[Entity], path: DrillPath, key: str | None) -> DrillPath:
    """`descend`, then on down while the node holds one entity: a region with one akimat opens the akimat
    (a ranking of one bar is no step worth a click)."""
    deeper = descend(entities, path, key)
    while deeper != path and child_level(entities, deeper) == "entity" and len(children(entities, deeper)) == 1:
        path, deeper = deeper, descend(entities, deeper, children(entities, deeper)[0])
    return deeper


def region_shortcut(entities: Sequence[Entity], path: DrillPath) -> list[str]:
    """At a node ranked by entity type, the types whose members spread over several regions (akimats): each
    one click from its ranking by region."""
    if child_level(entities, path) != "entity_type":
        return []
    shortcuts = []
    for entity_type in children(entities, path):
        below = (*path, Step("entity_type", entity_type))
        if child_level(entities, below) == "region":
            shortcuts.append(entity_type)
    return shortcuts


def ascend(path: DrillPath, depth: int) -> DrillPath:
    """The path cut back to `depth` steps (0 is the nation), as a breadcrumb click does."""
    return path[: max(0, min(depth, len(path)))]


def sanitise(entities: Sequence[Entity], path: DrillPath) -> DrillPath:
    """The longest prefix of a path that is still valid for these entities (filters or the KPI may have changed)."""
    valid: DrillPath = ROOT
    for step in path:
        if step.level not in LEVELS or child_level(entities, valid) != step.level:
            break
        if step.key not in children(entities, valid):
            break
        valid = (*valid, step)
    return valid


def leaf_entity(path: DrillPath) -> str | None:
    """The entity code when the path ends at one entity."""
    return path[-1].key if path and path[-1].level == "entity" else None


def encode(path: DrillPath) -> str:
    """The path as a URL-safe text, e.g. `entity_type:akimat/region:almaty`."""
    return _SEPARATOR.join(f"{step.level}:{step.key}" for step in path)


def decode(text: str | None) -> DrillPath:
    """A path from its text; anything malformed gives the nation."""
    if not text:
        return ROOT
    steps = []
    for part in text.split(_SEPARATOR):
        level, _, key = part.partition(":")
        if level not in LEVELS or not key:
            return ROOT
        steps.append(Step(level, key))
    return tuple(steps)


def crumbs(path: DrillPath, label: Callable[[Step], str], root_label: str) -> list[tuple[str, int]]:
    """Breadcrumb labels with the depth each one returns to: the nation first, the current node last."""
    return [(root_label, 0)] + [(label(step), depth) for depth, step in enumerate(path, start=1)]


def key_from_selection(selection: Mapping[str, Any] | None) -> str | None:
    """The key of the first point a Plotly selection event carries (customdata first, then location, then label)."""
    if not selection:
        return None
    inner = selection.get("selection", selection)
    points = inner.get("points", []) if isinstance(inner, Mapping) else []
    for point in points or []:
        if not isinstance(point, Mapping):
            continue
        custom = point.get("customdata")
        if isinstance(custom, list | tuple):
            custom = custom[0] if custom else None
        for candidate in (custom, point.get("location"), point.get("label")):
            if isinstance(candidate, str) and candidate:
                return candidate
    return None
