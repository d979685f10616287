"""Regional species lists: which taxa can occur at a station or deployment (a geofence).

A region list is a plain text file of taxon names, one per line (species, genera, families, orders or
classes; ``models/taxonomy/data/regions/*.txt``). ``models/taxonomy/data/regions.csv`` says which list
applies where, one row per scope (columns ``scope`` = ``deployment`` or ``station``, ``id``,
``regionList`` = the list's file name in ``regions/``, ``note``). A deployment row wins over its
station's row; a station or deployment without a row has no restriction. The decision path
(``models.inference.decision``) rolls a prediction outside the list up to its nearest allowed ancestor,
as SpeciesNet's geofence does by country.

The sample stations hold public data from other continents, so the packaged ``regions.csv`` assigns no
list to them; ``jiangsu.txt`` is a starter list (families and species of the catalogue known from
Jiangsu) to be curated against the provincial checklist before it is assigned to a station.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

from models.media.errors import CatalogueError
from models.taxonomy.catalogue import normalise_name, read_name_list

SCOPES = ("deployment", "station")


class RegionList:
    """Taxa that can occur in a region; membership by normalised name (``name in region``).

    Args:
        name: the list's name (its file stem), for logs.
        taxa: listed names.
    """

    def __init__(self, name: str, taxa: Iterable[str]) -> None:
        self.name = name
        self.taxa = frozenset(normalise_name(t) for t in taxa)

    @classmethod
    def read(cls, path: str | Path) -> RegionList:
        """Read a list file (``read_name_list``: BOM, CR, stray spaces and blank lines handled).

        Raises:
            OSError: the file cannot be read.
        """
        return cls(Path(path).stem, read_name_list(path).names)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalise_name(name) in self.taxa

    def __len__(self) -> int:
        return len(self.taxa)


class RegionMap:
    """Which :class:`RegionList` applies to a deployment or station (module docstring).

    Args:
        by_deployment: ``deploymentID -> list``.
        by_station: ``stationID -> list``.
    """

    def __init__(self, by_deployment: dict[str, RegionList] | None = None,
                 by_station: dict[str, RegionList] | None = None) -> None:
        self.by_deployment = dict(by_deployment or {})
        self.by_station = dict(by_station or {})

    def region_for(self, deployment_id: str | None = "", station_id: str | None = "") -> RegionList | None:
        """The list for this deployment (else its station), or None (no restriction)."""
        return self.by_deployment.get(deployment_id or "") or self.by_station.get(station_id or "")

    @classmethod
    def load(cls, path: str | Path | None = None) -> RegionMap:
        """Read a ``regions.csv`` (the packaged one when ``path`` is None); lists from ``regions/`` beside it.

        Raises:
            CatalogueError: an unknown scope, a missing list file or a scope/id given twice.
        """
        if path is None:
            base = resources.files("models.taxonomy").joinpath("data")
            text = base.joinpath("regions.csv").read_text(encoding="utf-8")
            lists_dir = Path(str(base.joinpath("regions")))
            source = "models/taxonomy/data/regions.csv"
        else:
            text = Path(path).read_text(encoding="utf-8-sig")
            lists_dir = Path(path).parent / "regions"
            source = str(path)
        out: dict[str, dict[str, RegionList]] = {s: {} for s in SCOPES}
        cache: dict[str, RegionList] = {}
        for i, row in enumerate(csv.DictReader(text.splitlines()), start=2):
            scope, key, name = (row.get(c, "").strip() for c in ("scope", "id", "regionList"))
            if scope not in SCOPES:
                raise CatalogueError(f"{source} line {i}: scope {scope!r} is not one of {SCOPES}")
            if key in out[scope]:
                raise CatalogueError(f"{source} line {i}: {scope} {key!r} has two region lists")
            if name not in cache:
                file = lists_dir / name
                if not name or not file.is_file():
                    raise CatalogueError(f"{source} line {i}: region list {name!r} not found in {lists_dir}")
                cache[name] = RegionList.read(file)
            out[scope][key] = cache[name]
        return cls(out["deployment"], out["station"])
