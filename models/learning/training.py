"""CPU-friendly training loop for timm classifiers with class weighting, early stopping and calibration.

- Class imbalance: cross-entropy weighted by ``n / (C * n_c)`` (scikit-learn's "balanced" weights).
- Pretrained start, "probe first, then fine-tune" (Kumar et al. 2022, "Fine-Tuning can Distort
  Pretrained Features and Underperform Out-of-Distribution", LP-FT): with ``probe``, the backbone
  features of the training and validation items are computed once (eval mode, no augmentation) and
  a class-weighted, L2-regularised logistic-regression head is fitted on them (L-BFGS; the L2
  strength picked from ``probe_l2`` by validation macro-F1). That head is epoch 0. Fine-tuning then
  starts from it with batch-norm layers in eval mode (``bn_eval``: their statistics and affine
  parameters fixed; small CPU batches make batch statistics noisy and collapsed the earlier
  full fine-tune), the backbone at ``lr * backbone_lr_mult``, a linear warm-up of ``warmup_epochs``
  and a cosine decay (Loshchilov & Hutter 2017), AdamW (Loshchilov & Hutter 2019).
- Without ``probe``: AdamW with a one-cycle schedule from the start, batch-norm in train mode.
- Early stopping: the epoch (0 = the probe) with the best validation macro-F1 is kept; training stops
  after ``patience`` epochs without improvement.
- Determinism: seeds (torch, NumPy, the augmentation generator), a fixed intra-op thread count and
  ``torch.use_deterministic_algorithms(True)``; no logic depends on wall-clock time, so the same
  inputs give the same weights on an idle or a loaded machine.
- Calibration: temperature scaling on the validation set (:func:`models.learning.classifier.fit_temperature`).

Augmentations are training-only functions passed in by the caller (see :mod:`models.learning.augment`).
"""

from __future__ import annotations

import copy
import logging
import math
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
    model_kwargs: dict | None = None  # extra timm.create_model kwargs (None: the weights card's)
    probe: bool = False               # fit a linear head on frozen features first (module docstring)
    probe_l2: tuple[float, ...] = (1e-4, 1e-3, 1e-2)  # L2 strengths tried for the probe (mean over weights)
    bn_eval: bool = False             # batch-norm layers stay in eval mode while fine-tuning
    backbone_lr_mult: float = 1.0     # backbone learning rate = lr * this (head: lr)
    warmup_epochs: float = 0.0        # linear warm-up (probe mode), then cosine decay


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


def set_determinism(seed: int, threads: int) -> None:
    """Seed torch / NumPy, fix the intra-op thread count and ask for deterministic kernels.

    Reduction order in CPU kernels depends on the number of threads; with it fixed (and
    ``torch.use_deterministic_algorithms``), results do not depend on how busy the machine is.
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def _head(model: torch.nn.Module) -> torch.nn.Linear:
    head = model.get_classifier()
    if not isinstance(head, torch.nn.Linear):
        raise ValueError(f"{type(model).__name__}: the probe needs a Linear classifier head")
    return head


@torch.no_grad()
def extract_features(model: torch.nn.Module, x: np.ndarray, to_input: Callable[[np.ndarray], torch.Tensor],
                     batch_size: int = 64) -> torch.Tensor:
    """Pooled backbone features ``(N, num_features)`` (timm ``forward_head(..., pre_logits=True)``), eval mode."""
    model.eval()
    outs = [model.forward_head(model.forward_features(to_input(x[b])), pre_logits=True)
            for b in _batches(len(x), batch_size, None)]
    return torch.cat(outs).float() if outs else torch.zeros((0, model.num_features))


def fit_linear_probe(features: torch.Tensor, y: np.ndarray, num_classes: int, weight: torch.Tensor,
                     l2: float, max_iter: int = 200) -> tuple[torch.Tensor, torch.Tensor]:
    """Class-weighted multinomial logistic regression on fixed features (L-BFGS, deterministic).

    Minimises ``weighted CE(f W^T + b, y) + l2 * mean(W**2)``; features are used as given.

    Args:
        features: ``(N, D)`` float32.
        y: ``(N,)`` class indices.
        weight: ``(C,)`` class weights of the cross-entropy.
        l2: L2 strength on ``W`` (not the bias).

    Returns:
        ``(W, b)`` of shapes ``(C, D)`` and ``(C,)``.
    """
    d = features.shape[1]
    w = torch.zeros(num_classes, d, requires_grad=True)
    b = torch.zeros(num_classes, requires_grad=True)
    target = torch.from_numpy(np.asarray(y)).long()
    opt = torch.optim.LBFGS([w, b], lr=1.0, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(features @ w.T + b, target, weight=weight) + l2 * (w**2).mean() * d
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return w.detach(), b.detach()


def _macro_f1(y: np.ndarray, pred: np.ndarray) -> float:
    return float(f1_score(y, pred, average="macro", labels=np.unique(y), zero_division=0))


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
    set_determinism(cfg.seed, cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    model, status = create_classifier(cfg.arch, num_classes, in_chans, cfg.pretrained, cfg.drop_rate,
                                      model_kwargs=cfg.model_kwargs)
    weights = class_weights(y_train, num_classes)
    loss_fn = torch.nn.CrossEntropyLoss(weight=weights)
    steps_per_epoch = (len(x_train) + cfg.batch_size - 1) // cfg.batch_size
    steps = max(1, cfg.epochs * steps_per_epoch)
    best = dict(f1=-1.0, epoch=0, state=None)
    history = []
    t0 = time.perf_counter()
    if cfg.probe:
        best, history = _probe(model, x_train, y_train, x_val, y_val, num_classes, cfg, to_input, weights, on_epoch)
        head_params = list(_head(model).parameters())
        head_ids = {id(p) for p in head_params}
        backbone = [p for p in model.parameters() if id(p) not in head_ids]
        opt = torch.optim.AdamW([{"params": backbone, "lr": cfg.lr * cfg.backbone_lr_mult},
                                 {"params": head_params, "lr": cfg.lr}], weight_decay=cfg.weight_decay)
        warm = max(1, int(round(cfg.warmup_epochs * steps_per_epoch)))

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, steps - warm))))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        if cfg.bn_eval:
            for m in model.modules():
                if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                    m.eval()
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
            metrics["val_macro_f1"] = _macro_f1(y_val, pred)
            score = metrics["val_macro_f1"]
        else:
            score = -metrics["train_loss"]
        history.append({"epoch": epoch, **metrics})
        log.info("epoch %d %s", epoch, " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
        if on_epoch:
            on_epoch(epoch, metrics)
        if score > best["f1"] or best["state"] is None:
            best = dict(f1=score, epoch=epoch, state=copy.deepcopy(model.state_dict()))
        elif epoch - best["epoch"] >= cfg.patience:
            log.info("early stop at epoch %d (best %d)", epoch, best["epoch"])
            break
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    model.eval()
    temperature = 1.0
    if len(x_val):
        temperature = fit_temperature(predict_logits(model, x_val, to_input), torch.from_numpy(y_val).long())
    return TrainResult(model, status, best["epoch"], float(best["f1"]) if len(x_val) else float("nan"),
                       temperature, history, time.perf_counter() - t0)


def _probe(model, x_train, y_train, x_val, y_val, num_classes, cfg, to_input, weights, on_epoch):
    """Epoch 0: fit the linear head on cached frozen features; returns ``(best, history)``."""
    f_train = extract_features(model, x_train, to_input)
    f_val = extract_features(model, x_val, to_input) if len(x_val) else None
    head = _head(model)
    trials = []
    for l2 in cfg.probe_l2:
        w, b = fit_linear_probe(f_train, y_train, num_classes, weights, l2)
        score = _macro_f1(y_val, (f_val @ w.T + b).argmax(1).numpy()) if f_val is not None else 0.0
        trials.append((score, -l2, w, b))
        log.info("probe l2=%g val_macro_f1=%.4f", l2, score)
    score, neg_l2, w, b = max(trials, key=lambda t: (t[0], t[1]))  # ties: the strongest regularisation
    with torch.no_grad():
        head.weight.copy_(w)
        head.bias.copy_(b)
    metrics = {"train_loss": float(torch.nn.functional.cross_entropy(f_train @ w.T + b,
                                                                     torch.from_numpy(y_train).long(), weight=weights)),
               "lr": 0.0, "probe_l2": -neg_l2}
    if f_val is not None:
        logits = f_val @ w.T + b
        metrics["val_loss"] = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(y_val).long()))
        metrics["val_accuracy"] = float((logits.argmax(1).numpy() == y_val).mean())
        metrics["val_macro_f1"] = score
    if on_epoch:
        on_epoch(0, metrics)
    log.info("epoch 0 (probe) %s", " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    best = dict(f1=score if f_val is not None else -metrics["train_loss"], epoch=0,
                state=copy.deepcopy(model.state_dict()))
    return best, [{"epoch": 0, **metrics}]
