"""Training loop: balanced class weights, learning on a separable set, early stopping, augmentations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.learning.augment import augment_image, augment_spectrogram
from models.learning.training import TrainConfig, class_weights, predict_logits, train_classifier

ARCH = "mobilenetv3_small_050"


def _to_input(batch: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(batch)).permute(0, 3, 1, 2).float() / 127.5 - 1.0


def _dark_vs_bright(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """32 px images: class 0 dark (~40), class 1 bright (~215), with noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    base = np.where(y == 0, 40, 215)[:, None, None, None]
    x = np.clip(base + rng.normal(0, 15, (n, 32, 32, 3)), 0, 255).astype(np.uint8)
    return x, y


def test_class_weights_hand_computed():
    # n = 4, C = 3, counts (3, 1, 0): n / (C * n_c) = 4/9, 4/3, and 0 for the absent class
    w = class_weights(np.array([0, 0, 0, 1]), 3)
    assert w.dtype == torch.float32
    assert w.tolist() == pytest.approx([4 / 9, 4 / 3, 0.0])
    assert class_weights(np.array([0, 1, 0, 1]), 2).tolist() == [1.0, 1.0]


def test_learns_a_separable_problem():
    x_tr, y_tr = _dark_vs_bright(128, 0)
    x_va, y_va = _dark_vs_bright(20, 1)
    cfg = TrainConfig(arch=ARCH, epochs=2, batch_size=8, lr=0.01, patience=5, drop_rate=0.0, seed=0, threads=2)
    epochs_seen = []
    res = train_classifier(x_tr, y_tr, x_va, y_va, 2, 3, cfg, _to_input, augment_image,
                           on_epoch=lambda e, m: epochs_seen.append((e, set(m))))
    assert epochs_seen[0] == (1, {"train_loss", "lr", "val_loss", "val_accuracy", "val_macro_f1"})
    assert [h["epoch"] for h in res.history] == [1, 2]
    pred = predict_logits(res.model, x_va, _to_input).argmax(1).numpy()
    accuracy = float((pred == y_va).mean())
    assert accuracy >= 0.9  # chance is 0.5
    assert res.best_val_macro_f1 == pytest.approx(res.history[res.best_epoch - 1]["val_macro_f1"])
    assert not res.model.training
    assert 0.05 <= res.temperature <= 20.0
    assert (res.weights_status.loaded, res.weights_status.fell_back) == ("random_init", False)


def test_early_stopping_when_validation_cannot_improve():
    # Two identical validation items with different labels: whatever the model predicts, macro-F1 is
    # (2/3 + 0) / 2 = 1/3 in every epoch, so epoch 1 stays best and training stops at 1 + patience.
    x_tr, y_tr = _dark_vs_bright(16, 2)
    x_va = np.repeat(x_tr[:1], 2, axis=0)
    y_va = np.array([0, 1])
    cfg = TrainConfig(arch=ARCH, epochs=10, batch_size=8, lr=0.001, patience=2, drop_rate=0.0, seed=0, threads=2)
    res = train_classifier(x_tr, y_tr, x_va, y_va, 2, 3, cfg, _to_input)
    assert len(res.history) == 3 < cfg.epochs
    assert res.best_epoch == 1
    assert res.best_val_macro_f1 == pytest.approx(1 / 3)


def test_empty_training_set():
    cfg = TrainConfig(arch=ARCH, epochs=1)
    with pytest.raises(ValueError, match="no training items"):
        train_classifier(np.zeros((0, 32, 32, 3), np.uint8), np.zeros(0, int), np.zeros((0, 32, 32, 3), np.uint8),
                         np.zeros(0, int), 2, 3, cfg, _to_input)


def test_augment_image_flips_and_jitters_deterministically():
    x = torch.arange(2 * 3 * 2 * 4, dtype=torch.float32).reshape(2, 3, 2, 4)
    a = augment_image(x, torch.Generator().manual_seed(0))
    b = augment_image(x, torch.Generator().manual_seed(0))
    assert a.shape == x.shape and torch.equal(a, b)
    for i in range(2):  # each item is x or its mirror, scaled by [0.8, 1.2] and shifted by [-0.2, 0.2]
        candidates = [x[i], x[i].flip(-1)]
        fits = []
        for c in candidates:
            scale = (a[i, 0, 0, 1] - a[i, 0, 0, 0]) / (c[0, 0, 1] - c[0, 0, 0])
            shift = a[i, 0, 0, 0] - scale * c[0, 0, 0]
            fits.append(torch.allclose(a[i], c * scale + shift, atol=1e-4) and 0.8 <= abs(scale) <= 1.2
                        and -0.2 <= shift <= 0.2)
        assert any(fits)


def test_augment_spectrogram_masks_and_rolls():
    x = torch.ones(3, 1, 16, 40)
    out = augment_spectrogram(x, torch.Generator().manual_seed(1), max_freq_mask=4, max_time_mask=8)
    assert out.shape == x.shape and torch.equal(x, torch.ones(3, 1, 16, 40))  # the input is not modified
    for i in range(3):
        zero_rows = int((out[i, 0] == 0).all(dim=1).sum())
        zero_cols = int((out[i, 0] == 0).all(dim=0).sum())
        assert zero_rows <= 4 and zero_cols <= 8
        assert set(out[i].unique().tolist()) <= {0.0, 1.0}
