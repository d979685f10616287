"""Training and the model bundle: everything needed to make and package a classifier.

Owns the timm classifier factory and temperature calibration (:mod:`~models.learning.classifier`), the
training loop (:mod:`~models.learning.training`), training-only augmentations
(:mod:`~models.learning.augment`), group-aware splits (:mod:`~models.learning.split`), metrics
(:mod:`~models.learning.metrics`), the bundle of weights, ordered labels and preprocessing
(:mod:`~models.learning.bundle`) and its ONNX export and runtime (:mod:`~models.learning.onnx_bundle`).
It may import :mod:`models.media` and :mod:`models.taxonomy`, never ``inference`` or ``store``.
"""
