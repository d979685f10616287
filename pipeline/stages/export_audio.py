"""Stage ``export_audio``: the audio bundle exported to ONNX for the ``predict_audio`` stage.

Reads ``artifacts/audio_model`` and writes ``artifacts/audio_model_onnx`` (``model.onnx``, the
bundle's ``bundle.json`` and its mel filterbank ``mel.npy``; see ``models.learning.audio_onnx``), so that
recordings are analysed by ONNX Runtime without loading PyTorch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from models.learning.audio_onnx import export_onnx
from pipeline.common import setup_logging

log = logging.getLogger(__name__)


def main(bundle: Path = Path("artifacts/audio_model"), out: Path = Path("artifacts/audio_model_onnx")) -> None:
    """Export the audio bundle to ONNX."""
    setup_logging()
    export_onnx(bundle, out)


if __name__ == "__main__":
    typer.run(main)
