"""Model bundle: everything needed to rebuild a classifier and its input pipeline, in one folder.

Layout (``<dir>/``):

- ``model.safetensors``: the weights (safetensors, no pickle);
- ``bundle.json``: modality, timm architecture, ordered labels, the preprocessing config, the
  calibration temperature, the code version (git commit), the weights status (with the weights
  card), the ``timm.create_model`` kwargs the architecture was built with (``model_kwargs``, e.g.
  ``pad_type='same'``), the decision thresholds chosen on validation data (``decision``, see
  :mod:`models.learning.thresholds`), the training data hash and, once registered, the model
  registry name and version.

As in zamba and timm, the ordered species list and the data config travel with the weights, so the
service rebuilds exactly the training-time transform.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.media.audio import AudioPreprocessing
from models.media.errors import BiodivError
from models.media.hashing import sha256_file

if TYPE_CHECKING:  # torch, safetensors, timm and OpenCV are imported where used, so that reading a bundle's
    import torch  # metadata (or running its ONNX export, models.learning.onnx_bundle) never loads them

    from models.media.imaging import ImagePreprocessing

log = logging.getLogger(__name__)

BUNDLE_FORMAT = 1
WEIGHTS = "model.safetensors"
META = "bundle.json"


@dataclass
class BundleMeta:
    """Contents of ``bundle.json``."""

    modality: str  # "image" or "audio"
    arch: str
    in_chans: int
    labels: list[str]
    preprocessing: dict
    temperature: float = 1.0
    code_version: str = "unknown"
    weights_status: dict = field(default_factory=dict)
    train_data_hash: str = ""
    registry_name: str = ""
    registry_version: str = ""
    weights_sha256: str = ""
    onnx_sha256: str = ""  # set in an ONNX export's bundle.json (models.learning.onnx_bundle): SHA-256 of model.onnx
    model_kwargs: dict = field(default_factory=dict)
    decision: dict = field(default_factory=dict)
    format: int = BUNDLE_FORMAT

    def image_preprocessing(self) -> ImagePreprocessing:
        """The image pipeline (raises ``BiodivError`` for an audio bundle)."""
        if self.modality != "image":
            raise BiodivError(f"bundle is for {self.modality}, not image")
        from models.media.imaging import ImagePreprocessing

        p = dict(self.preprocessing)
        p["mean"], p["std"] = tuple(p["mean"]), tuple(p["std"])
        return ImagePreprocessing(**p)

    def audio_preprocessing(self) -> AudioPreprocessing:
        """The audio pipeline (raises ``BiodivError`` for an image bundle)."""
        if self.modality != "audio":
            raise BiodivError(f"bundle is for {self.modality}, not audio")
        return AudioPreprocessing(**self.preprocessing)

    @property
    def model_version(self) -> str:
        """``<registry name>/<version>`` once registered, else ``local-<first 12 hex of weights SHA-256>``."""
        if self.registry_name and self.registry_version:
            return f"{self.registry_name}/{self.registry_version}"
        return f"local-{self.weights_sha256[:12]}"


def save_bundle(directory: str | Path, model: torch.nn.Module, meta: BundleMeta) -> BundleMeta:
    """Write weights and ``bundle.json`` into ``directory`` (created if needed).

    Returns:
        ``meta`` with ``weights_sha256`` filled in.
    """
    from safetensors.torch import save_file

    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(d / WEIGHTS))
    meta.weights_sha256 = sha256_file(d / WEIGHTS)
    write_meta(d, meta)
    return meta


def write_meta(directory: str | Path, meta: BundleMeta) -> None:
    """(Re)write ``bundle.json``, e.g. after the model registry assigned a version."""
    Path(directory, META).write_text(json.dumps(dataclasses.asdict(meta), indent=2, ensure_ascii=False) + "\n")


def read_meta(directory: str | Path) -> BundleMeta:
    """Read ``bundle.json``.

    Raises:
        BiodivError: missing file or an unsupported bundle format.
    """
    path = Path(directory, META)
    if not path.is_file():
        raise BiodivError(f"{directory} is not a model bundle (no {META})")
    raw = json.loads(path.read_text())
    if raw.get("format") != BUNDLE_FORMAT:
        raise BiodivError(f"{path}: bundle format {raw.get('format')} is not supported (expected {BUNDLE_FORMAT})")
    return BundleMeta(**raw)


def check_weights(directory: str | Path, meta: BundleMeta, weights: str = WEIGHTS) -> None:
    """Refuse weights that are not the ones ``bundle.json`` was written for.

    Raises:
        BiodivError: no ``weights_sha256`` recorded, a missing weights file, or a SHA-256 mismatch
            (the recorded and the actual digest are both named).
    """
    path = Path(directory, weights)
    if not path.is_file():
        raise BiodivError(f"{directory}: weights file {weights} is missing")
    if not meta.weights_sha256:
        raise BiodivError(f"{directory}: bundle.json records no weights_sha256; refusing unverifiable weights")
    actual = sha256_file(path)
    if actual != meta.weights_sha256:
        raise BiodivError(f"{path}: weights SHA-256 is {actual} but bundle.json records {meta.weights_sha256}")


class Classifier:
    """A loaded bundle ready for inference on CPU.

    Call :meth:`predict` with a preprocessed batch; probabilities are temperature-calibrated.
    """

    def __init__(self, meta: BundleMeta, model: torch.nn.Module) -> None:
        self.meta = meta
        self.model = model.eval()

    @classmethod
    def load(cls, directory: str | Path) -> Classifier:
        """Load ``bundle.json`` and the weights from ``directory``.

        Raises:
            BiodivError: not a bundle / unsupported format; weights whose SHA-256 differs from the
                ``weights_sha256`` recorded in ``bundle.json`` (both digests named); a label list whose
                length differs from the model's output size (both counts named). Both checks run before
                any media is read.
        """
        from safetensors.torch import load_file

        from models.learning.classifier import create_classifier

        meta = read_meta(directory)
        check_weights(directory, meta)
        state = load_file(str(Path(directory, WEIGHTS)))
        model, _ = create_classifier(meta.arch, len(meta.labels), meta.in_chans, "none",
                                     model_kwargs=meta.model_kwargs)
        head = model.get_classifier()
        head_key = next(f"{n}.weight" for n, m in model.named_modules() if m is head)
        if head_key in state and state[head_key].shape[0] != len(meta.labels):
            raise BiodivError(f"{directory}: bundle.json lists {len(meta.labels)} labels but the model "
                              f"outputs {state[head_key].shape[0]} classes")
        model.load_state_dict(state)
        return cls(meta, model)

    @property
    def labels(self) -> list[str]:
        """Ordered class labels (index ``i`` of the probability vector)."""
        return self.meta.labels

    def logits(self, batch: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Raw logits ``(N, C)`` for model input ``(N, in_chans, H, W)`` float32."""
        import torch

        with torch.inference_mode():
            out = [self.model(torch.from_numpy(batch[i : i + batch_size])).float().numpy()
                   for i in range(0, batch.shape[0], batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)

    def predict(self, batch: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Calibrated class probabilities ``(N, C)``: ``softmax(logits / temperature)``."""
        return softmax(self.logits(batch, batch_size) / self.meta.temperature)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Numerically stable softmax over the last axis."""
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def top_k(probs: np.ndarray, labels: list[str], k: int) -> list[list[tuple[str, float]]]:
    """Per row, the ``k`` most probable ``(label, probability)`` pairs, most probable first."""
    k = min(k, probs.shape[1]) if probs.ndim == 2 else 0
    idx = np.argsort(-probs, axis=1)[:, :k]
    return [[(labels[j], float(probs[i, j])) for j in row] for i, row in enumerate(idx)]
