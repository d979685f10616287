"""Weights cards (models.learning.classifier): reading, pretrained loading, visible fallback."""

from __future__ import annotations

from pathlib import Path

import pytest

from models.learning.classifier import create_classifier, load_card, norm_stats

CARD = Path("data/weights.card.yaml")


def test_card_fields():
    card = load_card(CARD)
    assert card.arch == "mobilenetv2_100" and card.create_model_kwargs == {"pad_type": "same"}
    assert card.mean == card.std == (0.50196,) * 3 and card.input_size == 224
    assert norm_stats("resnet18", str(CARD)) == (card.mean, card.std)


def test_bad_card_is_rejected(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("arch: mobilenetv2_100\n")
    with pytest.raises(ValueError, match="file"):
        load_card(bad)
    bad.write_text("file: w.safetensors\narch: mobilenetv2_100\ncolour: red\n")
    with pytest.raises(ValueError, match="unknown"):
        load_card(bad)


def test_missing_weights_fall_back_visibly(tmp_path):
    card = tmp_path / "c.yaml"
    card.write_text("file: absent.safetensors\narch: mobilenetv2_100\ncreate_model_kwargs: {pad_type: same}\n")
    model, status = create_classifier("resnet18", 4, 1, str(card))
    assert status.fell_back and "not found" in status.reason
    assert status.card["arch"] == "mobilenetv2_100" and model.conv_stem.weight.shape[1] == 1


@pytest.mark.skipif(not load_card(CARD).file.is_file(), reason="dvc pull data/weights first")
def test_pretrained_file_loads_for_rgb_and_spectrograms():
    for chans in (3, 1):
        model, status = create_classifier("mobilenetv2_100", 5, chans, str(CARD))
        assert (status.loaded, status.fell_back) == ("file", False)
        assert model.conv_stem.weight.shape[1] == chans and model.get_classifier().out_features == 5
