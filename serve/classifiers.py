"""The service's loaded classifiers, one optional bundle per modality."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from models.learning.bundle import Classifier
from models.learning.onnx_bundle import OnnxClassifier, load_classifier
from models.media.errors import BiodivError

log = logging.getLogger(__name__)

MODALITIES = ("image", "audio")


@dataclass
class Classifiers:
    """Classifiers by modality; a modality without a bundle maps to None.

    Attributes:
        image, audio: the loaded classifiers (or None).
        missing: why a modality has no classifier, in words safe to show to clients.
    """

    image: Classifier | OnnxClassifier | None = None
    audio: Classifier | OnnxClassifier | None = None
    missing: dict[str, str] = field(default_factory=dict)

    def get(self, modality: str) -> Classifier | OnnxClassifier | None:
        """The classifier for ``image`` or ``audio`` (None when not loaded)."""
        return getattr(self, modality) if modality in MODALITIES else None

    def versions(self) -> dict[str, str | None]:
        """``{modality: model_version or None}``."""
        return {m: (c.meta.model_version if (c := self.get(m)) else None) for m in MODALITIES}


def load_classifiers(image_bundle: Path, audio_bundle: Path) -> Classifiers:
    """Load the image and audio bundles once.

    A bundle folder that does not exist leaves its modality unavailable (logged, service still
    starts). A folder that exists but is not a valid bundle of the right modality is an error.

    Raises:
        BiodivError: an invalid bundle, or a bundle of the other modality.
    """
    out = Classifiers()
    for modality, directory in (("image", image_bundle), ("audio", audio_bundle)):
        if not Path(directory).is_dir():
            log.warning("no %s model bundle at %s: %s uploads will be refused", modality, directory, modality)
            out.missing[modality] = f"no {modality} model is installed on this server"
            continue
        clf = load_classifier(directory)  # an ONNX export (no PyTorch) or a PyTorch bundle
        if clf.meta.modality != modality:
            raise BiodivError(f"{directory} holds a {clf.meta.modality} bundle, expected {modality}")
        log.info("loaded %s model %s from %s", modality, clf.meta.model_version, directory)
        setattr(out, modality, clf)
    return out
