"""biodiv-obs core library: media value types, preprocessing, species catalogue, classifiers and bundles.

Nothing here imports an application framework (MLflow, DVC, FastAPI, typer); ``pipeline`` and
``serve`` build on this package, never the reverse. Importing it does no work.
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
