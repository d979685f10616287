"""``biodiv``: the one command of biodiv-obs.

    biodiv classify PHOTOS/ --out results.json        # MegaDetector batch JSON for Timelapse / AddaxAI
    biodiv classify data/raw/stations --out results.csv
    biodiv serve                                      # the web service on http://127.0.0.1:8000/
    biodiv keys create --role uploader --name station-1
    biodiv labels export
    biodiv export camtrap-dp exports/camtrap-dp

Exit status (scripts can rely on it):

- 0: done, every input file was classified (or was already in the output);
- 1: done, but some files were rejected (listed with their reason in the summary and ``OUT.rejected.csv``);
- 2: usage error (bad option, no such input, unknown output format); nothing was written;
- 3: no usable model bundle (run ``make run`` first, or pass ``--bundle DIR``); nothing was written;
- 4: the output exists but cannot be resumed (not ours, or damaged); move it away or choose another ``--out``.

Layering: ``pipeline`` and ``serve`` are sibling layers over ``models``. The ``serve``, ``keys`` and ``labels``
commands are ``serve.__main__``'s own typer apps, mounted here; that one import (``pipeline.cli ->
serve.__main__``) is the only exception to the layer contract and is listed in ``pyproject.toml``'s
``ignore_imports`` (``serve.__main__`` imports only typer and uvicorn at import time; the web app loads
when ``biodiv serve`` runs), so ``python -m serve`` keeps working unchanged.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from pathlib import Path

import typer

from pipeline.common import setup_logging
from pipeline.export import app as export_app
from serve.__main__ import cli as serve_cli
from serve.__main__ import keys_cli, labels_cli

log = logging.getLogger(__name__)

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_NO_BUNDLE, EXIT_OUTPUT = 0, 1, 2, 3, 4

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode="markdown", help=(
    "biodiv-obs: species from camera-trap images, videos and acoustic recordings.\n\n"
    "Exit status: 0 ok, 1 some files rejected, 2 usage error, 3 no model bundle, 4 output cannot be resumed."))
app.add_typer(serve_cli, name="serve", help="Run the web service and API (http://127.0.0.1:8000/).")
app.add_typer(keys_cli, name="keys")
app.add_typer(labels_cli, name="labels")
app.add_typer(export_app, name="export", help="Share the detections database: Camtrap DP package or Darwin Core CSV.")


import_app = typer.Typer(add_completion=False, no_args_is_help=True,
                         help="Bring data shared in other tools' formats into the station drops and training sets.")
app.add_typer(import_app, name="import")


class OutputFormat(StrEnum):
    csv = "csv"
    megadetector = "megadetector"
    camtrap_dp = "camtrap-dp"


def output_format(out: Path, given: OutputFormat | None) -> OutputFormat:
    """``--format`` or the output's suffix: ``.csv``, ``.json`` (MegaDetector), a folder or ``.zip`` (Camtrap DP).

    Raises:
        typer.BadParameter: a suffix that names no format.
    """
    if given is not None:
        return given
    suffix = out.suffix.lower()
    if suffix == ".csv":
        return OutputFormat.csv
    if suffix == ".json":
        return OutputFormat.megadetector
    if suffix in ("", ".zip") or out.is_dir():
        return OutputFormat.camtrap_dp
    raise typer.BadParameter(f"cannot tell the format from {out.name!r}: use .csv, .json (MegaDetector), "
                             "a folder or .zip (Camtrap DP), or pass --format", param_hint="--out")


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@app.command()
def classify(
    paths: list[Path] = typer.Argument(..., help="image, video and recording files, or folders of them "
                                       "(a station drop with deployments.csv keeps its deployments)"),
    out: Path = typer.Option(..., "--out", "-o", help="results file: .csv, .json (MegaDetector batch output) "
                             "or a folder / .zip (Camtrap DP package)"),
    fmt: OutputFormat | None = typer.Option(None, "--format", "-f", help="output format (default: from --out)"),
    bundle: list[Path] | None = typer.Option(None, "--bundle", "-b", help="model bundle folder (image or audio; "
                                             "repeat for both); default: artifacts/image_model_onnx and "
                                             "artifacts/audio_model_onnx"),
    artifacts: Path = typer.Option(Path("artifacts"), help="where the default bundles are (`make run` trains them)"),
    tables: Path | None = typer.Option(None, help="folder for the Raven selection tables and Audacity labels, "
                                       "one per recording (default: OUT_raven/ when there are recordings)"),
    params: Path = typer.Option(Path("params.yaml"), help="settings of the predict stages (defaults when absent)"),
    resume: bool = typer.Option(True, help="skip files already in --out with the same model version"),
) -> None:
    """Classify images, videos and recordings into one results file (no DVC, no database needed).

    Runs the same classification as the pipeline's predict stages. A second run with the same --out only
    classifies the files that are not in it yet. Rejected files (corrupt, unsupported...) never stop the run:
    they are listed with the reason in the summary and in OUT.rejected.csv (OUT: the --out path).
    """
    setup_logging("WARNING")
    from pipeline import classify as core

    fmt = output_format(out, fmt)
    try:
        job = core.ClassifyJob.prepare(paths, out, fmt.value, bundle or [], artifacts, params, tables, resume)
    except FileNotFoundError as exc:
        raise _fail(f"{exc}. Check the path (folders are searched recursively).", EXIT_USAGE) from exc
    except core.NoBundleError as exc:
        raise _fail(str(exc), EXIT_NO_BUNDLE) from exc
    except core.OutputError as exc:
        raise _fail(str(exc), EXIT_OUTPUT) from exc
    summary = job.run()
    typer.echo(summary.text())
    raise typer.Exit(EXIT_REJECTED if summary.rejected else EXIT_OK)


@import_app.command("camtrap-dp")
def import_camtrap_dp(
    package: Path = typer.Argument(..., help="Camtrap DP 1.0 package: folder with datapackage.json, or a .zip"),
    to: Path = typer.Option(..., "--to", help="station drop to add the deployments and media to "
                            "(e.g. data/raw/stations; created if missing)"),
    media_root: Path | None = typer.Option(None, help="folder the media filePath values are relative to "
                                           "(default: the package folder)"),
    labels: Path | None = typer.Option(None, help="also write the human classifications as a labelled training "
                                       "set here (manifest.csv + files, e.g. data/raw/camera_traps/imported/NAME)"),
) -> None:
    """Add a Camtrap DP package (deployments, media, observations) as a station drop; its human-classified
    observations become training labels with --labels. Then `dvc add` the folders and `make run`."""
    setup_logging("WARNING")
    from models.media.errors import BiodivError
    from pipeline import classify as core

    try:
        report = core.import_camtrap_dp(package, to, media_root, labels)
    except BiodivError as exc:
        raise _fail(f"{exc}", EXIT_USAGE) from exc
    typer.echo(report.text())
    raise typer.Exit(EXIT_REJECTED if report.rejected else EXIT_OK)


@import_app.command("raven")
def import_raven(
    tables: list[Path] = typer.Argument(..., help="Raven selection tables (.txt), e.g. annotated in Raven Pro"),
    labels: Path = typer.Option(..., "--labels", help="labelled acoustic set to add the clips to "
                                "(manifest.csv + WAV clips, e.g. data/raw/acoustic/imported/NAME)"),
    audio_root: Path | None = typer.Option(None, help="folder of the recordings (default: Begin Path, or "
                                           "beside each table)"),
    window_s: float = typer.Option(3.0, min=0.1, help="clip length in s (the audio model's window_s)"),
    hop_s: float = typer.Option(3.0, min=0.1, help="clip step in s"),
) -> None:
    """Turn annotated time-frequency boxes into labelled training clips for the acoustic model.

    Each analysis window takes the label of the box that overlaps it most (at least half a window, or the
    whole box when it is shorter); labels are scientific or common names from the species catalogue."""
    setup_logging("WARNING")
    from pipeline import classify as core

    counts, rejected = core.import_raven(tables, labels, audio_root, window_s, hop_s)
    typer.echo(f"{sum(counts.values())} clips in {labels}/manifest.csv: "
               + ", ".join(f"{n} {c}" for n, c in counts.most_common()))
    for r in rejected:
        typer.echo(f"rejected {r.filePath}: {r.reason} ({r.detail})")
    raise typer.Exit(EXIT_REJECTED if rejected else EXIT_OK)


__all__ = ["app", "classify", "import_camtrap_dp", "import_raven", "output_format", "EXIT_OK", "EXIT_REJECTED",
           "EXIT_USAGE", "EXIT_NO_BUNDLE", "EXIT_OUTPUT"]
