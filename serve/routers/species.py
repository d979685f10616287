"""``GET /v1/species``: the species catalogue with detection counts."""

from __future__ import annotations

from fastapi import APIRouter

from models.store.insights import detections_per_species
from models.taxonomy.catalogue import normalise_name
from serve.deps import CatalogueDep, SessionDep
from serve.schemas import SpeciesOut

router = APIRouter(prefix="/v1", tags=["species"])


@router.get("/species", response_model=list[SpeciesOut])
def list_species(session: SessionDep, catalogue: CatalogueDep, invasive: bool | None = None) -> list[SpeciesOut]:
    """Every catalogue entry (optionally only invasive or only non-invasive ones) with its detection count."""
    counts = detections_per_species(session)
    return [SpeciesOut(**sp.as_dict(), detections=counts.get(normalise_name(sp.scientificName), 0))
            for sp in catalogue if invasive is None or sp.is_invasive == invasive]
