"""timm classifier factory with weights cards and a visible fallback when pretrained weights cannot be had.

``pretrained`` may be

- ``"none"``: random initialisation;
- ``"hub"``: timm's default weights from the Hugging Face Hub;
- a **weights card** (``.yaml``/``.yml``/``.json``, see :class:`WeightsCard`, e.g. ``data/weights.card.yaml``):
  the card names the weights file, the architecture, the ``timm.create_model`` kwargs the weights
  need (``pad_type='same'`` for TF-converted weights), the input normalisation, the input size, the
  licence and the source;
- a weights file (``.safetensors``/``.pth``); a sidecar card ``<file>.card.yaml`` beside it is used
  when present, else timm's ``pretrained_cfg_overlay=dict(file=...)`` loads it with timm's defaults.

When the requested weights cannot be loaded, the model falls back to random initialisation and the
returned :class:`WeightsStatus` says why, so callers log it and record it in the experiment tracker.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import timm
import torch

log = logging.getLogger(__name__)

CARD_SUFFIXES = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class WeightsCard:
    """What a pretrained weights file needs (the "weights card" sidecar).

    Attributes:
        file: the weights file (resolved against the card's folder).
        arch: the ``timm`` architecture the state dict belongs to.
        create_model_kwargs: extra ``timm.create_model`` kwargs the weights need (e.g. ``pad_type``).
        mean, std: per-channel input normalisation in ``[0, 1]`` pixel units.
        input_size: the pretraining input side (px).
        head_prefix: state-dict key prefix of the pretraining head (dropped: the head is replaced).
        licence, source: provenance, copied into the bundle and the experiment tracker.
        sha256: expected SHA-256 of ``file`` (checked when set).
    """

    file: Path
    arch: str
    create_model_kwargs: dict = field(default_factory=dict)
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    input_size: int = 224
    head_prefix: str = "classifier."
    licence: str = ""
    source: str = ""
    sha256: str = ""

    def summary(self) -> dict:
        """JSON-ready fields for the bundle and the tracker (``file`` as given, no absolute paths)."""
        return {"file": self.file.name, "arch": self.arch, "create_model_kwargs": dict(self.create_model_kwargs),
                "mean": list(self.mean), "std": list(self.std), "input_size": self.input_size,
                "licence": self.licence, "source": self.source, "sha256": self.sha256}


def load_card(path: str | Path) -> WeightsCard:
    """Read a weights card (YAML or JSON).

    Raises:
        FileNotFoundError: no such card.
        ValueError: a required key (``file``, ``arch``) is missing, an unknown key is present, or
            ``mean``/``std`` are not three positive numbers.
    """
    import yaml

    path = Path(path)
    raw = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: a weights card is a mapping")
    known = set(WeightsCard.__dataclass_fields__)
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{path}: unknown weights-card keys {sorted(unknown)}")
    for key in ("file", "arch"):
        if not raw.get(key):
            raise ValueError(f"{path}: weights card lacks {key!r}")
    for key in ("mean", "std"):
        if key in raw:
            v = raw[key]
            if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, (int, float)) and x > 0 for x in v)):
                raise ValueError(f"{path}: {key} must be three positive numbers")
            raw[key] = tuple(float(x) for x in v)
    raw["file"] = (path.parent / raw["file"]).resolve() if not Path(raw["file"]).is_absolute() else Path(raw["file"])
    raw["create_model_kwargs"] = dict(raw.get("create_model_kwargs") or {})
    return WeightsCard(**raw)


def find_card(pretrained: str) -> WeightsCard | None:
    """The card for a ``pretrained`` value: the card itself, a ``<file>.card.yaml`` sidecar, or None."""
    if pretrained in ("none", "hub"):
        return None
    path = Path(pretrained)
    if path.suffix in CARD_SUFFIXES:
        return load_card(path)
    sidecar = path.with_name(path.name + ".card.yaml")
    return load_card(sidecar) if sidecar.is_file() else None


@dataclass(frozen=True)
class WeightsStatus:
    """Which initial weights a classifier got.

    Attributes:
        requested: what was asked for (``none``, ``hub``, a card or a file path).
        loaded: ``random_init``, ``hub`` or ``file``.
        reason: why the request fell back (empty when it did not).
        card: the weights card's :meth:`WeightsCard.summary` when one was used.
    """

    requested: str
    loaded: str
    reason: str = ""
    card: dict = field(default_factory=dict)

    @property
    def fell_back(self) -> bool:
        """True when pretrained weights were asked for and random init was used instead."""
        return self.requested != "none" and self.loaded == "random_init"


def model_kwargs_for(arch: str, pretrained: str) -> tuple[str, dict]:
    """``(arch, create_model kwargs)`` that a ``pretrained`` request implies (the card's, else ``(arch, {})``).

    A card naming another architecture than ``arch`` wins: its weights only fit its own architecture.
    Unreadable cards give ``(arch, {})`` here; :func:`create_classifier` reports the error.
    """
    try:
        card = find_card(pretrained)
    except (OSError, ValueError):
        return arch, {}
    return (card.arch, dict(card.create_model_kwargs)) if card else (arch, {})


def _load_card_weights(model: torch.nn.Module, card: WeightsCard, in_chans: int) -> None:
    from safetensors.torch import load_file

    from models.media.hashing import sha256_file

    if not card.file.is_file():
        raise FileNotFoundError(f"weights file {card.file} not found (run `dvc pull data/weights`)")
    if card.sha256 and sha256_file(card.file) != card.sha256:
        raise ValueError(f"weights file {card.file} does not match the card's sha256")
    if card.file.suffix == ".safetensors":
        state = load_file(str(card.file))
    else:
        state = torch.load(card.file, weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith(card.head_prefix)}
    stem = f"{getattr(model, 'pretrained_cfg', {}).get('first_conv') or 'conv_stem'}.weight"
    if stem in state and state[stem].shape[1] != in_chans:
        state[stem] = timm.models.adapt_input_conv(in_chans, state[stem])  # timm's stem adaptation (sum/repeat)
    missing, unexpected = model.load_state_dict(state, strict=False)
    head = [k for k in missing if not k.startswith(card.head_prefix)]
    if head or unexpected:
        raise ValueError(f"{card.file}: state dict does not fit {card.arch} (missing {head[:3]}, unexpected "
                         f"{list(unexpected)[:3]})")


def create_classifier(arch: str, num_classes: int, in_chans: int = 3, pretrained: str = "none",
                      drop_rate: float = 0.0,
                      model_kwargs: dict | None = None) -> tuple[torch.nn.Module, WeightsStatus]:
    """Build a timm model with a fresh ``num_classes`` head.

    Args:
        arch: a ``timm.list_models()`` name, e.g. ``mobilenetv2_100`` (a card's ``arch`` replaces it).
        num_classes: output logits.
        in_chans: 3 for RGB images, 1 for spectrograms (the pretrained stem is adapted by
            ``timm.models.adapt_input_conv``: summed over RGB for one channel).
        pretrained: ``none``, ``hub``, a weights card or a weights file path (module docstring).
        drop_rate: dropout before the classifier head.
        model_kwargs: extra ``timm.create_model`` kwargs (a bundle's ``model_kwargs``); a card's kwargs
            are used when None.

    Returns:
        ``(model, status)``; the model maps ``(N, in_chans, H, W)`` to logits ``(N, num_classes)``.
        On fallback to random initialisation the model still has the card's architecture and kwargs,
        so the bundle's input pipeline stays the same.

    Raises:
        ValueError: unknown architecture.
    """
    card, card_error = None, ""
    try:
        card = find_card(pretrained)
    except (OSError, ValueError) as exc:
        card_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
    if card is not None:
        arch = card.arch
        if model_kwargs is None:
            model_kwargs = dict(card.create_model_kwargs)
    if arch not in timm.list_models():
        raise ValueError(f"unknown timm architecture {arch!r}")
    kwargs = dict(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate, **(model_kwargs or {}))
    if pretrained == "none":
        return timm.create_model(arch, pretrained=False, **kwargs), WeightsStatus("none", "random_init")
    summary = card.summary() if card else {}
    try:
        if card_error:
            raise ValueError(card_error)
        if pretrained == "hub":
            model = timm.create_model(arch, pretrained=True, **kwargs)
            return model, WeightsStatus("hub", "hub")
        if card is not None:
            model = timm.create_model(arch, pretrained=False, **kwargs)
            _load_card_weights(model, card, in_chans)
            return model, WeightsStatus(pretrained, "file", card=summary)
        path = Path(pretrained)
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} not found")
        model = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
        return model, WeightsStatus(str(path), "file")
    except Exception as exc:  # noqa: BLE001 - any hub/network/file failure means "fall back"
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        log.warning("pretrained weights %r unavailable, training from random initialisation: %s", pretrained, reason)
        return (timm.create_model(arch, pretrained=False, **kwargs),
                WeightsStatus(pretrained, "random_init", reason, card=summary))


def norm_stats(arch: str, pretrained: str = "none") -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel ``(mean, std)`` the weights expect: the weights card's, else timm's default config.

    Random initialisation uses them too, so a later switch to pretrained weights keeps the input
    pipeline (and a visible fallback keeps the card's).
    """
    try:
        card = find_card(pretrained)
    except (OSError, ValueError):
        card = None
    if card is not None:
        return tuple(card.mean), tuple(card.std)
    cfg = timm.models.get_pretrained_cfg(arch)
    if cfg is None:
        return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return tuple(float(v) for v in cfg.mean), tuple(float(v) for v in cfg.std)


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor, max_iter: int = 100) -> float:
    """Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks").

    Finds ``T > 0`` minimising the negative log-likelihood of ``softmax(logits / T)`` on held-out
    data with L-BFGS over ``log T``.

    Args:
        logits: ``(N, C)`` validation logits.
        targets: ``(N,)`` integer class indices.

    Returns:
        The temperature; 1.0 when ``N == 0``.
    """
    if logits.shape[0] == 0:
        return 1.0
    log_t = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter)
    logits = logits.detach().float().clone()  # a normal tensor even if made in inference mode

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(logits / log_t.exp(), targets)
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp().clamp(0.05, 20.0))
