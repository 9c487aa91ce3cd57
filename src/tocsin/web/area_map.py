"""The area registry as GeoJSON for the dashboard's map: simplified outlines with
their codes, kinds and names in three languages."""

from __future__ import annotations

from typing import Any


def _round_coords(x: Any, nd: int) -> Any:
    if isinstance(x, float):
        return round(x, nd)
    if isinstance(x, list | tuple):
        return [_round_coords(v, nd) for v in x]
    return x


def areas_geojson(tolerance_deg: float = 0.01, digits: int = 3) -> dict[str, Any]:
    """The default area registry as a GeoJSON FeatureCollection (lon/lat),
    simplified (Douglas-Peucker, ``tolerance_deg``, topology preserved) and rounded
    to ``digits`` decimals (1e-3 degree is about 100 m). Empty, with a ``note``,
    when the registry is not installed."""
    try:
        import importlib

        from shapely.geometry import mapping

        registry = importlib.import_module("tocsin.warning.areas").AreaRegistry.default()
    except (ImportError, AttributeError) as exc:
        return {"type": "FeatureCollection", "features": [], "note": f"no area registry: {exc}"}
    feats = []
    for a in registry:
        geom = a.geometry.simplify(tolerance_deg, preserve_topology=True)
        if geom.is_empty:
            geom = a.geometry
        g = mapping(geom)
        feats.append(
            {
                "type": "Feature",
                "properties": {
                    "code": a.code,
                    "kind": a.kind,
                    "country": getattr(a, "country", ""),
                    "parent": getattr(a, "parent", ""),
                    "name_en": getattr(a, "name_en", a.code),
                    "name_ja": getattr(a, "name_ja", ""),
                    "name_ko": getattr(a, "name_ko", ""),
                },
                "geometry": {"type": g["type"], "coordinates": _round_coords(g["coordinates"], digits)},
            }
        )
    return {"type": "FeatureCollection", "features": feats}


__all__ = ["areas_geojson"]
