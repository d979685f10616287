"""Typed ``params.yaml``: one pydantic model per section, unknown keys rejected, loaded in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IngestParams(_Strict):
    max_pixels: int = Field(89_478_485, gt=0)
    limit_per_label: int = Field(0, ge=0)


class ImagePreParams(_Strict):
    size_px: int = Field(128, ge=32, le=1024)
    crop_top_frac: float = Field(0.0, ge=0, lt=0.5)
    crop_bottom_frac: float = Field(0.0, ge=0, lt=0.5)


class AudioPreParams(_Strict):
    sample_rate_hz: int = Field(22050, ge=4000, le=384000)
    window_s: float = Field(3.0, gt=0)
    hop_s: float = Field(3.0, gt=0)
    min_tail_s: float = Field(1.0, ge=0)
    n_fft: int = Field(1024, ge=64)
    hop_length: int = Field(512, ge=16)
    n_mels: int = Field(64, ge=8)
    fmin_hz: float = Field(50.0, ge=0)
    fmax_hz: float = Field(11025.0, gt=0)
    silence_dbfs: float = Field(-70.0, le=0)
    min_recordings_per_label: int = Field(3, ge=1)

    @model_validator(mode="after")
    def _check(self):
        if self.fmin_hz >= self.fmax_hz:
            raise ValueError("fmin_hz must be below fmax_hz")
        if self.hop_s > self.window_s:
            raise ValueError("hop_s larger than window_s would leave gaps between windows")
        return self


class PreprocessParams(_Strict):
    image: ImagePreParams
    audio: AudioPreParams


class SplitParams(_Strict):
    seed: int = 42
    image_groups: Literal["sequence", "deployment"] = "sequence"
    val_frac: float = Field(0.15, ge=0, lt=1)
    test_frac: float = Field(0.2, gt=0, lt=1)
    sequence_gap_s: float = Field(60, ge=0)
    sequence_gap_frames: int = Field(5, ge=0)


class TrainParams(_Strict):
    """One modality's training (``models.learning.training.TrainConfig``). ``pretrained``: ``none``,
    ``hub``, a weights card (``data/weights.card.yaml``) or a weights file; ``epochs``: fine-tuning
    epochs after the probe (0 = the probe alone, with ``probe``)."""

    arch: str = "mobilenetv3_small_100"
    pretrained: str = "none"
    epochs: int = Field(30, ge=0)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(0.002, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    patience: int = Field(6, ge=1)
    drop_rate: float = Field(0.2, ge=0, lt=1)
    augment: bool = True
    seed: int = 42
    threads: int = Field(2, ge=1)
    probe: bool = False
    probe_l2: tuple[float, ...] = (1e-4, 1e-3, 1e-2)
    bn_eval: bool = False
    backbone_lr_mult: float = Field(1.0, gt=0, le=1)
    warmup_epochs: float = Field(0.0, ge=0)
    target_precision: float = Field(0.9, gt=0, le=1)        # per-class thresholds (models.learning.thresholds)
    blank_max_animal_loss: float = Field(0.05, ge=0, lt=1)  # blank threshold: at most this share of animals lost

    @model_validator(mode="after")
    def _check(self):
        if self.epochs == 0 and not self.probe:
            raise ValueError("epochs: 0 trains nothing without probe: true")
        return self


class TrainSection(_Strict):
    image: TrainParams
    audio: TrainParams


class PredictParams(_Strict):
    top_k: int = Field(3, ge=1)
    batch_size: int = Field(32, ge=1)
    decode_workers: int = Field(2, ge=0)          # image decode processes (0 = decode in the stage's process)
    video_frame_rate_hz: float = Field(1.0, gt=0)  # frames per second of video that are classified
    video_max_frames: int = Field(300, ge=1)       # at most this many frames per video
    event_gap_s: float = Field(60, ge=0)           # media of one deployment closer than this form one event
    threads: int = Field(2, ge=1)                  # ONNX Runtime intra-op threads
    engine: Literal["local", "ray"] = "local"      # ray: Ray Data actors (pipeline/ray_engine.py)
    ray_address: str | None = None                 # a Ray cluster; None: RAY_ADDRESS, else a local instance
    ray_actors: int = Field(1, ge=1)               # classifier actors
    ray_cpus_per_actor: float = Field(0.5, gt=0)   # leave CPU for Ray's read tasks (a full pool hangs)


class DeploymentSettings(_Strict):
    """Per-deployment settings (``deployments:`` in params.yaml, keyed by deploymentID; the key
    ``default`` applies to deployments not listed). ``None`` means: take it from ``default``, and
    for the strip settings finally from the image bundle (the training camera's strips)."""

    clock_offset_s: float | None = None           # added to the camera's clock (s); a camera 1 h slow: 3600
    strip_mode: Literal["crop", "mask", "none"] | None = None
    strip_top_frac: float | None = Field(None, ge=0, lt=0.5)
    strip_bottom_frac: float | None = Field(None, ge=0, lt=0.5)


def deployment_settings(deployments: dict[str, DeploymentSettings], deployment_id: str) -> DeploymentSettings:
    """The settings of one deployment: its own entry over ``default`` (unset fields fall through)."""
    base = deployments.get("default", DeploymentSettings())
    own = deployments.get(deployment_id, DeploymentSettings())
    return base.model_copy(update=own.model_dump(exclude_none=True))


class AudioIndicesParams(_Strict):
    """Acoustic indices (``models.inference.acoustic_indices``): one row per ``segment_s`` of each recording."""

    enabled: bool = True
    segment_s: float = Field(60.0, gt=0)
    min_segment_s: float = Field(10.0, gt=0)


class PredictAudioParams(_Strict):
    """The ``predict_audio`` stage: windows, channels, thresholds, indices.

    ``window_s``/``hop_s`` of None take the audio bundle's (its training values); a hop shorter
    than the window gives overlapping windows. ``threshold`` is the detection threshold of species
    without a ``detectionThreshold`` in the catalogue.
    """

    channels: Literal["mix", "each"] = "mix"
    window_s: float | None = Field(None, gt=0)
    hop_s: float | None = Field(None, gt=0)
    threshold: float = Field(0.5, ge=0, le=1)
    speech: bool = True  # Silero VAD: windows with people talking become observationType human (never public)
    top_k: int = Field(3, ge=1)
    batch_size: int = Field(32, ge=1)
    block_s: float = Field(30.0, gt=0)
    threads: int = Field(2, ge=1)
    indices: AudioIndicesParams = AudioIndicesParams()
    engine: Literal["local", "ray"] = "local"      # ray: one Ray Data task per recording (pipeline/ray_engine.py)
    ray_address: str | None = None
    ray_actors: int = Field(1, ge=1)
    ray_cpus_per_actor: float = Field(0.5, gt=0)


class PublishParams(_Strict):
    database_url: str = "sqlite:///var/biodiv.db"


class TrackingParams(_Strict):
    uri: str = "sqlite:///mlflow.db"
    experiment: str = "biodiv-obs"
    register_model: bool = True


class Params(_Strict):
    """All of ``params.yaml``."""

    ingest: IngestParams
    preprocess: PreprocessParams
    split: SplitParams
    train: TrainSection
    predict: PredictParams
    predict_audio: PredictAudioParams = PredictAudioParams()
    publish: PublishParams
    tracking: TrackingParams
    deployments: dict[str, DeploymentSettings] = Field(default_factory=dict)


def load_params(path: str | Path = "params.yaml") -> Params:
    """Read and validate ``params.yaml``.

    Raises:
        FileNotFoundError: no such file.
        pydantic.ValidationError: a missing, unknown or out-of-range key (the message names it).
    """
    return Params.model_validate(yaml.safe_load(Path(path).read_text()))
