"""timm classifier factory with visible fallback when pretrained weights cannot be had.

``pretrained`` may be ``"none"`` (random initialisation), ``"hub"`` (timm's default weights from
the Hugging Face Hub) or a local file path (``.safetensors``/``.pth``, loaded through timm's
``pretrained_cfg_overlay=dict(file=...)``). When the requested weights cannot be loaded, the model
falls back to random initialisation and the returned :class:`WeightsStatus` says why, so callers
log it and record it in the experiment tracker.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import timm
import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightsStatus:
    """Which initial weights a classifier got.

    Attributes:
        requested: what was asked for (``none``, ``hub`` or a file path).
        loaded: ``random_init``, ``hub`` or ``file``.
        reason: why the request fell back (empty when it did not).
    """

    requested: str
    loaded: str
    reason: str = ""

    @property
    def fell_back(self) -> bool:
        """True when pretrained weights were asked for and random init was used instead."""
        return self.requested != "none" and self.loaded == "random_init"


def create_classifier(arch: str, num_classes: int, in_chans: int = 3, pretrained: str = "none",
                      drop_rate: float = 0.0) -> tuple[torch.nn.Module, WeightsStatus]:
    """Build a timm model with a fresh ``num_classes`` head.

    Args:
        arch: a ``timm.list_models()`` name, e.g. ``mobilenetv3_small_100``.
        num_classes: output logits.
        in_chans: 3 for RGB images, 1 for spectrograms (timm adapts the stem of pretrained weights).
        pretrained: ``none``, ``hub`` or a weights file path.
        drop_rate: dropout before the classifier head.

    Returns:
        ``(model, status)``; the model maps ``(N, in_chans, H, W)`` to logits ``(N, num_classes)``.

    Raises:
        ValueError: unknown architecture.
    """
    if arch not in timm.list_models():
        raise ValueError(f"unknown timm architecture {arch!r}")
    kwargs = dict(num_classes=num_classes, in_chans=in_chans, drop_rate=drop_rate)
    if pretrained == "none":
        return timm.create_model(arch, pretrained=False, **kwargs), WeightsStatus("none", "random_init")
    try:
        if pretrained == "hub":
            model = timm.create_model(arch, pretrained=True, **kwargs)
            return model, WeightsStatus("hub", "hub")
        path = Path(pretrained)
        if not path.is_file():
            raise FileNotFoundError(f"weights file {path} not found")
        model = timm.create_model(arch, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
        return model, WeightsStatus(str(path), "file")
    except Exception as exc:  # noqa: BLE001 - any hub/network/file failure means "fall back"
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        log.warning("pretrained weights %r unavailable, training from random initialisation: %s", pretrained, reason)
        return timm.create_model(arch, pretrained=False, **kwargs), WeightsStatus(pretrained, "random_init", reason)


def norm_stats(arch: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel ``(mean, std)`` of an architecture's default pretrained config in timm.

    These are the statistics its pretrained weights expect (ImageNet's for most models); random
    initialisation uses them too, so a later switch to pretrained weights keeps the input pipeline.
    """
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
