"""DVC stages: each module has a pure ``run(...)`` core and a thin ``main()`` (``python -m pipeline.stages.X``)."""
