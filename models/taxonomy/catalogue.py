"""Species catalogue: names, taxonomy, status in China and the invasive-species flag.

The catalogue is a CSV kept in git (``models/taxonomy/data/species.csv``), one row per taxon, with Darwin
Core column names where they exist (``scientificName``, ``taxonRank``, ``class``, ``order``,
``family``) plus ``vernacularNameEN``/``vernacularNameZH``, ``statusChina`` (native, introduced,
invasive, domestic, absent), ``statusSource`` (the list that says so, e.g. the 2023 list of key
managed invasive alien species, 重点管理外来入侵物种名录), ``sensitive`` (coordinates to generalise)
and an optional per-species ``detectionThreshold``.

Names are matched after Unicode NFC normalisation, trimming (spaces, tabs, CR), collapsing inner
whitespace and case folding, so ``" Procyon lotor\\r"`` matches ``Procyon lotor``.
"""

from __future__ import annotations

import csv
import logging
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from models.media.errors import CatalogueError

log = logging.getLogger(__name__)

#: Label of the "no animal" class (Camtrap DP ``observationType`` ``blank``).
BLANK = "blank"
# Detection threshold (probability) of species without a ``detectionThreshold`` in the catalogue: the
# usual 0.5 operating point (also ``predict_audio.threshold``'s default).
DEFAULT_DETECTION_THRESHOLD = 0.5
#: Labels that stand for a person or a vehicle rather than a taxon (normalised form) -> Camtrap DP
#: ``observationType``. Their media are never public (``models.store.privacy``) and they never roll up.
PRIVATE_KINDS = {"homo sapiens": "human", "human": "human", "person": "human", "vehicle": "vehicle"}
STATUSES = ("native", "introduced", "invasive", "domestic", "absent")
_BLANK_ALIASES = {"", "blank", "empty", "none", "no animal"}


def normalise_name(name: str) -> str:
    """Matching key of a scientific name: NFC, whitespace trimmed and collapsed, case-folded."""
    return " ".join(unicodedata.normalize("NFC", name).split()).casefold()


def private_kind(name: str | None) -> str:
    """``human`` / ``vehicle`` for a label that stands for a person or vehicle (:data:`PRIVATE_KINDS`),
    else ``''``."""
    return PRIVATE_KINDS.get(normalise_name(name or ""), "")


def clean_name(name: str) -> str:
    """Display form of a name: NFC with whitespace trimmed and collapsed; case kept."""
    return " ".join(unicodedata.normalize("NFC", name).split())


@dataclass(frozen=True)
class Species:
    """One catalogue row."""

    scientificName: str
    taxonRank: str
    vernacularNameEN: str
    vernacularNameZH: str
    class_: str
    order: str
    family: str
    statusChina: str
    statusSource: str
    sensitive: bool = False
    detectionThreshold: float | None = None

    @property
    def is_invasive(self) -> bool:
        """True when listed as invasive in China."""
        return self.statusChina == "invasive"

    def as_dict(self) -> dict:
        """Plain dict with ``class`` as the key for ``class_``."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["class"] = d.pop("class_")
        d["isInvasive"] = self.is_invasive
        return d


@dataclass(frozen=True)
class NameList:
    """Result of reading a plain list of names (one per line).

    Attributes:
        names: cleaned names in file order, without duplicates.
        normalised: how many entries needed trimming or other normalisation.
        skipped_lines: 1-based numbers of blank lines that were ignored.
    """

    names: tuple[str, ...]
    normalised: int
    skipped_lines: tuple[int, ...] = field(default_factory=tuple)


def read_name_list(path: str | Path) -> NameList:
    """Read a list of scientific names, one per line (e.g. an invasive-species list).

    Stray spaces, tabs, CR and a UTF-8 BOM are removed; blank lines are ignored and reported by
    line number, never turned into an empty name.

    Raises:
        OSError: the file cannot be read.
    """
    # newline="" keeps CRs: read_text's universal newlines would drop a stray CR before it could be
    # counted. splitlines still ends lines at LF, CRLF or a lone CR (old Mac exports).
    with open(path, encoding="utf-8-sig", newline="") as fh:
        lines = fh.read().splitlines(keepends=True)
    names: list[str] = []
    seen: set[str] = set()
    normalised = 0
    skipped: list[int] = []
    for lineno, line in enumerate(lines, start=1):
        raw = line.removesuffix("\n")  # a CR (stray or CRLF) stays, so its removal counts as normalisation
        cleaned = clean_name(raw)
        if not cleaned:
            skipped.append(lineno)
            continue
        if cleaned != raw:
            normalised += 1
        if normalise_name(cleaned) not in seen:
            seen.add(normalise_name(cleaned))
            names.append(cleaned)
    if skipped:
        log.warning("%s: ignored blank line(s) %s", path, ", ".join(map(str, skipped)))
    log.info("%s: %d names read, %d normalised", path, len(names), normalised)
    return NameList(tuple(names), normalised, tuple(skipped))


def _to_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "y"}


class Catalogue:
    """Lookup of species by scientific name (normalised), with the invasive-species flag.

    Args:
        species: the catalogue rows.
        extra_invasive: further names to flag as invasive (e.g. from a regional list read with
            :func:`read_name_list`); names not in the catalogue are still flagged.
    """

    def __init__(self, species: list[Species], extra_invasive: tuple[str, ...] = ()) -> None:
        self._by_key: dict[str, Species] = {}
        for sp in species:
            key = normalise_name(sp.scientificName)
            if key in self._by_key:
                raise CatalogueError(f"duplicate catalogue entry {sp.scientificName!r}")
            self._by_key[key] = sp
        self._extra_invasive = {normalise_name(n) for n in extra_invasive}

    @classmethod
    def load(cls, path: str | Path | None = None, extra_invasive: tuple[str, ...] = ()) -> Catalogue:
        """Read the catalogue CSV (the packaged ``models/taxonomy/data/species.csv`` when ``path`` is None).

        Raises:
            CatalogueError: an invalid ``statusChina`` or threshold, or a duplicate name.
        """
        if path is None:
            text = resources.files("models.taxonomy").joinpath("data/species.csv").read_text(encoding="utf-8")
            source = "models/taxonomy/data/species.csv"
        else:
            text = Path(path).read_text(encoding="utf-8-sig")
            source = str(path)
        rows = list(csv.DictReader(text.splitlines()))
        species = []
        for i, row in enumerate(rows, start=2):
            status = row["statusChina"].strip()
            if status not in STATUSES:
                raise CatalogueError(f"{source} line {i}: statusChina {status!r} is not one of {STATUSES}")
            thr = row.get("detectionThreshold", "").strip()
            try:
                threshold = float(thr) if thr else None
            except ValueError as exc:
                raise CatalogueError(f"{source} line {i}: detectionThreshold {thr!r} is not a number") from exc
            species.append(Species(
                scientificName=clean_name(row["scientificName"]), taxonRank=row["taxonRank"].strip(),
                vernacularNameEN=row["vernacularNameEN"].strip(), vernacularNameZH=row["vernacularNameZH"].strip(),
                class_=row["class"].strip(), order=row["order"].strip(), family=row["family"].strip(),
                statusChina=status, statusSource=row["statusSource"].strip(),
                sensitive=_to_bool(row.get("sensitive", "")), detectionThreshold=threshold,
            ))
        return cls(species, extra_invasive)

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self):
        return iter(self._by_key.values())

    def get(self, name: str) -> Species | None:
        """The entry for ``name`` (matched after normalisation), or None."""
        return self._by_key.get(normalise_name(name))

    def search(self, text: str, limit: int = 20) -> list[Species]:
        """Entries whose scientific, English or Chinese name matches ``text`` (case-insensitive, trimmed):
        the exact matches when there are any (one name can be shared, e.g. a vernacular name), else those
        containing ``text``, by scientific name; at most ``limit``. Empty text matches nothing."""
        key = " ".join(text.split()).casefold()
        if not key:
            return []

        def names(sp: Species) -> tuple[str, ...]:
            return tuple(n.casefold() for n in (sp.scientificName, sp.vernacularNameEN, sp.vernacularNameZH) if n)

        exact = [sp for sp in self if key in names(sp)]
        found = exact or [sp for sp in self if any(key in n for n in names(sp))]
        return sorted(found, key=lambda sp: sp.scientificName)[:limit]

    def is_invasive(self, name: str | None) -> bool:
        """True when ``name`` is invasive in China (catalogue status or an extra list)."""
        if not name or is_blank(name):
            return False
        key = normalise_name(name)
        sp = self._by_key.get(key)
        return key in self._extra_invasive or (sp is not None and sp.is_invasive)

    def detection_threshold(self, name: str | None, default: float = DEFAULT_DETECTION_THRESHOLD) -> float:
        """The species' ``detectionThreshold`` (probability, 0-1) from the catalogue, or ``default``
        when it has none or ``name`` is not in the catalogue."""
        sp = self.get(name) if name else None
        thr = getattr(sp, "detectionThreshold", None)
        return float(default) if thr is None else float(thr)

    def invasive_detection(self, name: str | None, probability: float,
                           default: float = DEFAULT_DETECTION_THRESHOLD) -> bool:
        """The one invasive-alert rule: ``name`` is invasive and ``probability`` reaches its detection
        threshold (:meth:`detection_threshold`). Every machine path (station drop, upload, video
        frame, event, audio window, CLI) sets ``isInvasive`` from this, so a low-probability
        invasive call never raises an alert; a reviewer's confirmation uses :meth:`is_invasive`."""
        return self.is_invasive(name) and float(probability) >= self.detection_threshold(name, default)

    def resolve(self, label: str, where: str = "") -> str:
        """Canonical label for a dataset label: the catalogue's ``scientificName`` or :data:`BLANK`.

        Raises:
            CatalogueError: the label is not in the catalogue; the message names it and ``where``.
        """
        if is_blank(label):
            return BLANK
        sp = self.get(label)
        if sp is None:
            raise CatalogueError(
                f"label {clean_name(label)!r}{' in ' + where if where else ''} is not in the species "
                "catalogue; add a row to models/taxonomy/data/species.csv "
                "(scientificName, names, taxonomy, statusChina)"
            )
        return sp.scientificName


def is_blank(label: str | None) -> bool:
    """True for the empty/blank class (``''``, ``blank``, ``empty``, ``none``; any case/whitespace)."""
    return label is None or normalise_name(label) in _BLANK_ALIASES
