"""The drill-down path as pure functions: nation → entity type → region → entity, breadcrumbs, URL form."""

from __future__ import annotations

import pytest

from kpi import drill
from kpi.catalogue import Entity, Text
from kpi.drill import ROOT, Step


def entity(code: str, entity_type: str, region: str | None) -> Entity:
    return Entity(code=code, type=entity_type, region=region, name=Text(kk=code, ru=code, en=code))  # type: ignore[arg-type]


ENTITIES = [
    entity("akimat_abai", "akimat", "abai"),
    entity("akimat_astana", "akimat", "astana"),
    entity("min_finance", "central_body", None),
    entity("min_justice", "central_body", None),
    entity("univ_enu", "university", "astana"),
    entity("univ_kaznu", "university", "almaty"),
    entity("univ_satbayev", "university", "almaty"),
]
AKIMATS_AND_BODIES = [e for e in ENTITIES if e.type in ("akimat", "central_body")]
UNIVERSITIES = [e for e in ENTITIES if e.type == "university"]


def test_the_nation_drills_into_entity_types_first() -> None:
    assert drill.child_level(AKIMATS_AND_BODIES, ROOT) == "entity_type"
    assert drill.children(AKIMATS_AND_BODIES, ROOT) == ["akimat", "central_body"]


def test_a_type_drills_into_its_regions_then_one_entity() -> None:
    path = drill.descend(AKIMATS_AND_BODIES, ROOT, "akimat")
    assert path == (Step("entity_type", "akimat"),)
    assert drill.child_level(AKIMATS_AND_BODIES, path) == "region"
    path = drill.descend(AKIMATS_AND_BODIES, path, "astana")
    assert drill.child_level(AKIMATS_AND_BODIES, path) == "entity"
    path = drill.descend(AKIMATS_AND_BODIES, path, "akimat_astana")
    assert path == (Step("entity_type", "akimat"), Step("region", "astana"), Step("entity", "akimat_astana"))
    assert drill.child_level(AKIMATS_AND_BODIES, path) is None
    assert drill.leaf_entity(path) == "akimat_astana"


def test_central_bodies_without_a_region_skip_the_region_level() -> None:
    path = drill.descend(AKIMATS_AND_BODIES, ROOT, "central_body")
    assert drill.child_level(AKIMATS_AND_BODIES, path) == "entity"
    assert drill.children(AKIMATS_AND_BODIES, path) == ["min_finance", "min_justice"]


def test_a_kpi_only_universities_report_starts_at_regions() -> None:
    """A level with a single bar (one entity type) is skipped."""
    assert drill.child_level(UNIVERSITIES, ROOT) == "region"
    path = drill.descend(UNIVERSITIES, ROOT, "almaty")
    assert drill.children(UNIVERSITIES, path) == ["univ_kaznu", "univ_satbayev"]


def test_a_key_that_is_not_a_child_leaves_the_path_unchanged() -> None:
    assert drill.descend(AKIMATS_AND_BODIES, ROOT, "university") == ROOT
    assert drill.descend(AKIMATS_AND_BODIES, ROOT, None) == ROOT
    leaf = (Step("entity_type", "central_body"), Step("entity", "min_finance"))
    assert drill.descend(AKIMATS_AND_BODIES, leaf, "min_justice") == leaf


def test_members_follow_every_step() -> None:
    path = (Step("entity_type", "akimat"), Step("region", "abai"))
    assert [e.code for e in drill.members(ENTITIES, path)] == ["akimat_abai"]
    assert len(drill.members(ENTITIES, ROOT)) == len(ENTITIES)


@pytest.mark.parametrize("depth, expected", [(0, ()), (1, (Step("entity_type", "akimat"),)), (9, None)])
def test_ascend_cuts_the_path_back(depth: int, expected: tuple[Step, ...] | None) -> None:
    path = (Step("entity_type", "akimat"), Step("region", "abai"), Step("entity", "akimat_abai"))
    assert drill.ascend(path, depth) == (path if expected is None else expected)


def test_breadcrumbs_name_each_step_with_the_depth_it_returns_to() -> None:
    path = (Step("entity_type", "akimat"), Step("region", "abai"))
    crumbs = drill.crumbs(path, lambda s: s.key.upper(), "Nation")
    assert crumbs == [("Nation", 0), ("AKIMAT", 1), ("ABAI", 2)]


def test_sanitise_keeps_the_longest_valid_prefix() -> None:
    """When filters or the KPI change, a path that no longer fits is cut back, never trusted."""
    path = (Step("entity_type", "akimat"), Step("region", "almaty"))
    assert drill.sanitise(AKIMATS_AND_BODIES, path) == (Step("entity_type", "akimat"),)
    assert drill.sanitise(UNIVERSITIES, path) == ROOT
    bogus = (Step("entity", "akimat_abai"),)
    assert drill.sanitise(AKIMATS_AND_BODIES, bogus) == ROOT


def test_encode_and_decode_round_trip_and_reject_garbage() -> None:
    path = (Step("entity_type", "quasi_public"), Step("region", "almaty"), Step("entity", "qp.a-1"))
    assert drill.encode(path) == "entity_type:quasi_public/region:almaty/entity:qp.a-1"
    assert drill.decode(drill.encode(path)) == path
    assert drill.decode("") == ROOT
    assert drill.decode(None) == ROOT
    assert drill.decode("planet:earth") == ROOT
    assert drill.decode("region:") == ROOT


def test_key_from_selection_reads_customdata_location_or_label() -> None:
    event = {"selection": {"points": [{"customdata": ["akimat", "Akimats"], "x": 61.2, "y": "Akimats"}]}}
    assert drill.key_from_selection(event) == "akimat"
    assert drill.key_from_selection({"points": [{"location": "abai"}]}) == "abai"
    assert drill.key_from_selection({"selection": {"points": [{"label": "almaty"}]}}) == "almaty"
    assert drill.key_from_selection({"selection": {"points": []}}) is None
    assert drill.key_from_selection(None) is None


def test_a_level_that_is_unknown_is_refused() -> None:
    with pytest.raises(ValueError):
        drill.key_of(ENTITIES[0], "planet")


def test_a_region_with_one_member_opens_the_member_and_akimats_rank_by_region_from_the_nation() -> None:
    from kpi.catalogue import load_registry

    registry = load_registry()
    akimats_and_bodies = [e for e in registry.entities if e.type in ("akimat", "central_body")]
    at_region = drill.descend_through(akimats_and_bodies, (Step("entity_type", "akimat"),), "abai")
    assert at_region == (Step("entity_type", "akimat"), Step("region", "abai"), Step("entity", "akimat_abai"))
    assert drill.region_shortcut(akimats_and_bodies, ROOT) == ["akimat"]  # central bodies have no region
    universities = [e for e in registry.entities if e.type == "university"]
    regions = [r for r in drill.children(universities, ROOT) if len(drill.members(universities, (Step("region", r),))) > 1]
    assert regions, "the sample has a region with several universities"
    assert drill.descend_through(universities, ROOT, regions[0]) == (Step("region", regions[0]),)  # stops: several
    assert drill.region_shortcut(universities, ROOT) == []  # ranked by region already
