"""The species catalogue: which taxa exist for this project and what is known about them.

Owns ``data/species.csv`` (one row per taxon: scientific, English and Chinese names, Darwin Core taxonomy,
invasive and sensitive status, per-species detection thresholds) and its reader
(:mod:`~models.taxonomy.catalogue`). It may import only :mod:`models.media` (for the error types).
"""
