"""CPU-friendly training loop for timm classifiers with class weighting, early stopping and calibration.

- Class imbalance: cross-entropy weighted by ``n / (C * n_c)`` (scikit-learn's "balanced" weights).
- Optimiser: AdamW with a cosine learning-rate schedule (Loshchilov & Hutter 2017/2019).
- Early stopping: the epoch with the best validation macro-F1 is kept; training stops after
  ``patience`` epochs without improvement.
- Calibration: temperature scaling on the validation set (:func:`models.learning.classifier.fit_temperature`).

Augmentations are training-only functions passed in by the caller (see :mod:`models.learning.augment`).
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from sklearn.metrics import f1_score

from models.learning.classifier import WeightsStatus, create_classifier, fit_temperature

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters (see ``params.yaml`` ``train.image`` / ``train.audio``)."""

    arch: str
    pretrained: str = "none"
    epochs: int = 30
    batch_size: int = 32
    lr: float = 0.002
    weight_decay: float = 0.01
    patience: int = 6
    drop_rate: float = 0.2
    seed: int = 42
    threads: int = 2


@dataclass
class TrainResult:
    """Outcome of :func:`train_classifier`: the best model (eval mode) and its history."""

    model: torch.nn.Module
    weights_status: WeightsStatus
    best_epoch: int
    best_val_macro_f1: float
    temperature: float
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def class_weights(y: np.ndarray, num_classes: int) -> torch.Tensor:
    """Balanced class weights ``n / (C * n_c)``; classes absent from ``y`` get weight 0."""
    counts = np.bincount(y, minlength=num_classes).astype(np.float64)
    w = np.where(counts > 0, len(y) / (num_classes * np.maximum(counts, 1)), 0.0)
    return torch.tensor(w, dtype=torch.float32)


def _batches(n: int, size: int, rng: np.random.Generator | None):
    idx = rng.permutation(n) if rng is not None else np.arange(n)
    for i in range(0, n, size):
        yield idx[i : i + size]


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, x: np.ndarray, to_input: Callable[[np.ndarray], torch.Tensor],
                   batch_size: int = 128) -> torch.Tensor:
    """Logits ``(N, C)`` of ``model`` (eval mode) for raw items ``x`` converted by ``to_input``."""
    model.eval()
    outs = [model(to_input(x[b])) for b in _batches(len(x), batch_size, None)]
    return torch.cat(outs) if outs else torch.zeros((0, 0))


def train_classifier(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
                     num_classes: int, in_chans: int, cfg: TrainConfig,
                     to_input: Callable[[np.ndarray], torch.Tensor],
                     augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None,
                     on_epoch: Callable[[int, dict], None] | None = None) -> TrainResult:
    """Train a timm classifier on CPU.

    Args:
        x_train, x_val: raw items, e.g. ``(N, H, W, 3) uint8`` images or ``(N, n_mels, T)`` spectrograms.
        y_train, y_val: ``(N,)`` int class indices in ``[0, num_classes)``.
        num_classes, in_chans: head size and input channels.
        cfg: hyper-parameters.
        to_input: raw batch -> model input ``(B, in_chans, H, W)`` float32 (normalisation).
        augment: training-only transform of a model-input batch; None disables augmentation.
        on_epoch: called after each epoch with ``(epoch, metrics)`` (e.g. to log to MLflow).

    Returns:
        The best-validation model in eval mode, with history and temperature.

    Raises:
        ValueError: empty training set.
    """
    if len(x_train) == 0:
        raise ValueError("no training items")
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model, status = create_classifier(cfg.arch, num_classes, in_chans, cfg.pretrained, cfg.drop_rate)
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weights(y_train, num_classes))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * ((len(x_train) + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    best = dict(f1=-1.0, epoch=0, state=None)
    history = []
    t0 = time.perf_counter()
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        total, seen = 0.0, 0
        for b in _batches(len(x_train), cfg.batch_size, rng):
            if len(b) < 2:  # BatchNorm needs two items
                continue
            xb = to_input(x_train[b])
            if augment is not None:
                xb = augment(xb, gen)
            loss = loss_fn(model(xb), torch.from_numpy(y_train[b]).long())
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(b)
            seen += len(b)
        metrics = {"train_loss": total / max(seen, 1), "lr": sched.get_last_lr()[0]}
        if len(x_val):
            logits = predict_logits(model, x_val, to_input)
            pred = logits.argmax(1).numpy()
            metrics["val_loss"] = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y_val).long()))
            metrics["val_accuracy"] = float((pred == y_val).mean())
            metrics["val_macro_f1"] = float(f1_score(y_val, pred, average="macro", labels=np.unique(y_val),
                                                     zero_division=0))
            score = metrics["val_macro_f1"]
        else:
            score = -metrics["train_loss"]
        history.append({"epoch": epoch, **metrics})
        log.info("epoch %d %s", epoch, " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        if on_epoch:
            on_epoch(epoch, metrics)
        if score > best["f1"]:
            best = dict(f1=score, epoch=epoch, state=copy.deepcopy(model.state_dict()))
        elif epoch - best["epoch"] >= cfg.patience:
            log.info("early stop at epoch %d (best %d)", epoch, best["epoch"])
            break
    model.load_state_dict(best["state"])
    model.eval()
    temperature = 1.0
    if len(x_val):
        temperature = fit_temperature(predict_logits(model, x_val, to_input), torch.from_numpy(y_val).long())
    return TrainResult(model, status, best["epoch"], float(best["f1"]) if len(x_val) else float("nan"),
                       temperature, history, time.perf_counter() - t0)
