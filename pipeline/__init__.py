"""biodiv-obs pipeline: typed params, MLflow tracking and the thin DVC stages built on ``models``."""
