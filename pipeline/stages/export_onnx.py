"""Stages ``export_images`` / ``export_audio``: a bundle exported to ONNX for the predict stages.

``python -m pipeline.stages.export_onnx image`` reads ``artifacts/image_model`` and writes
``artifacts/image_model_onnx``; ``... audio`` does the same for the audio bundle (plus its mel filterbank
``mel.npy``); see ``models.learning.onnx_bundle``. The ``predict`` and ``predict_audio`` stages, the service
and the CLI then classify with ONNX Runtime, without loading PyTorch.
"""

from __future__ import annotations

import logging
from pathlib import Path

import typer

from models.learning.onnx_bundle import export_onnx
from pipeline.common import setup_logging

log = logging.getLogger(__name__)


def main(modality: str = typer.Argument(..., help="image or audio"), artifacts: Path = Path("artifacts")) -> None:
    """Export the ``image`` or ``audio`` bundle to ONNX."""
    setup_logging()
    if modality not in ("image", "audio"):
        raise typer.BadParameter("modality must be image or audio")
    export_onnx(artifacts / f"{modality}_model", artifacts / f"{modality}_model_onnx")


if __name__ == "__main__":
    typer.run(main)
