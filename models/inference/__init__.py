"""From media to predictions: what a trained bundle says about station media.

Owns top-k predictions for images, video frames and audio windows (:mod:`~models.inference.detect`),
camera-trap batches with parallel decoding (:mod:`~models.inference.camtrap`), camera-trap events
(:mod:`~models.inference.events`), acoustic detection events and per-recording summaries
(:mod:`~models.inference.audio_events`) and soundscape indices (:mod:`~models.inference.acoustic_indices`).
It may import :mod:`models.learning`, :mod:`models.taxonomy` and :mod:`models.media`, never ``store``.
"""
