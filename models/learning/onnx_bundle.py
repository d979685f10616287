"""Model bundles exported to ONNX and run with ONNX Runtime: the inference path without PyTorch.

A PyTorch bundle (``models.learning.bundle``) is exported once with ``torch.onnx.export`` (dynamic batch axis;
for audio also the time axis) into a folder holding ``model.onnx``, the bundle's ``bundle.json`` (labels,
preprocessing, temperature, decision thresholds, model version, plus ``onnx_sha256``) and, for audio,
``mel.npy`` (the mel filterbank of its preprocessing, from ``librosa.filters.mel``). Inference then needs
neither PyTorch, timm nor librosa: OpenCV decodes images, libsndfile / libsoxr / SciPy prepare audio, and
ONNX Runtime runs the network. This is what BirdNET does with its TFLite export and MegaDetector with its
ONNX one; probabilities match the PyTorch bundle to about 1e-5 (tests/test_onnx_bundle.py).
:func:`load_classifier` opens either kind of folder.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from models.learning.bundle import META, BundleMeta, read_meta, softmax
from models.media.errors import BiodivError
from models.media.hashing import sha256_file

log = logging.getLogger(__name__)

ONNX_MODEL = "model.onnx"
MEL = "mel.npy"
OPSET = 17


def static_same_padding(model, example) -> int:
    """Replace, in place, every timm ``Conv2dSame`` of ``model`` (TensorFlow ``SAME`` padding, used by
    TF-converted weights: ``pad_type='same'``) by a convolution whose padding is fixed for the input size of
    ``example``; returns how many were replaced.

    ``Conv2dSame`` computes its padding from the input's shape at run time, which ``torch.onnx.export`` writes
    as ``Shape``/``Gather``/``Ceil``/... nodes feeding a ``Pad`` before each strided convolution. ONNX Runtime
    cannot fold such a ``Pad`` into the ``Conv`` and, in its blocked (NCHWc) CPU layout, reorders the tensor
    out of and back into that layout around it: 28 % of the 192 px ``mobilenetv2_100`` export's run time
    (ORT profile; ``benchmarks/images.py``). Here the padding is one ONNX ``Conv`` ``pads`` attribute
    (asymmetric where ``SAME`` is: ``[top, left, bottom, right]``), so the export runs about 25 % faster with
    the same outputs (tests/test_onnx_bundle.py). Valid only for inputs of the example's spatial size: the
    image export's input is ``(N, C, S, S)`` with ``S`` fixed by the bundle.

    Args:
        model: a ``torch.nn.Module`` in eval mode.
        example: an input tensor ``(N, C, H, W)`` of the size the export will run at.
    """
    import torch
    import torch.nn.functional as F
    from timm.layers.conv2d_same import Conv2dSame
    from timm.layers.padding import pad_same_arg

    sizes: dict[str, tuple[int, int]] = {}
    hooks = [mod.register_forward_pre_hook(lambda _m, a, n=n: sizes.__setitem__(n, tuple(a[0].shape[-2:])))
             for n, mod in model.named_modules() if isinstance(mod, Conv2dSame)]
    try:
        with torch.no_grad():
            model(example)
    finally:
        for h in hooks:
            h.remove()

    class _PadConv(torch.autograd.Function):
        """``F.pad`` + ``F.conv2d``, exported as one ``Conv`` with ``pads``."""

        @staticmethod
        def forward(ctx, x, w, b, pad, stride, dilation, groups):
            return F.conv2d(F.pad(x, pad), w, b, stride, 0, dilation, groups)

        @staticmethod
        def symbolic(g, x, w, b, pad, stride, dilation, groups):
            left, right, top, bottom = pad
            args = (x, w) if b is None or b.node().mustBeNone() else (x, w, b)
            return g.op("Conv", *args, pads_i=[top, left, bottom, right], strides_i=list(stride),
                        dilations_i=list(dilation), group_i=groups, kernel_shape_i=list(w.type().sizes()[-2:]))

    class _StaticSameConv(torch.nn.Module):
        def __init__(self, conv, size: tuple[int, int]) -> None:
            super().__init__()
            self.conv = conv
            self.pad = tuple(int(v) for v in pad_same_arg(list(size), list(conv.weight.shape[-2:]),
                                                          list(conv.stride), list(conv.dilation)))

        def forward(self, x):
            c = self.conv
            return _PadConv.apply(x, c.weight, c.bias, self.pad, tuple(c.stride), tuple(c.dilation), c.groups)

    for name, size in sizes.items():
        parent, _, leaf = name.rpartition(".")
        owner = model.get_submodule(parent) if parent else model
        setattr(owner, leaf, _StaticSameConv(model.get_submodule(name), size))
    return len(sizes)


def export_onnx(bundle_dir: str | Path, out_dir: str | Path) -> Path:
    """Export an image or audio bundle to ``out_dir`` (``model.onnx``, ``bundle.json``; audio also ``mel.npy``).

    Image input ``(N, in_chans, S, S)`` float32 normalised as the bundle's preprocessing says; audio input
    ``(N, 1, n_mels, frames)`` log-mel spectrograms (any number of frames). Image models with TensorFlow
    ``SAME`` padding get it fixed for ``S`` (:func:`static_same_padding`).

    Raises:
        BiodivError: not a bundle (``Classifier.load``).
    """
    import torch

    from models.learning.bundle import Classifier

    clf = Classifier.load(bundle_dir)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MEL).unlink(missing_ok=True)
    if clf.meta.modality == "image":
        size = clf.meta.image_preprocessing().size_px
        example = torch.zeros(2, clf.meta.in_chans, size, size)
        if static_same_padding(clf.model, example):
            log.info("TensorFlow SAME padding fixed for %d px inputs", size)
        torch.onnx.export(clf.model, (example,), str(out / ONNX_MODEL), dynamo=False, input_names=["image"],
                          output_names=["logits"], opset_version=OPSET,
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    else:
        from models.media.audio import mel_filterbank

        pre = clf.meta.audio_preprocessing()
        frames = 1 + round(pre.window_s * pre.sample_rate_hz) // pre.hop_length
        example = torch.zeros(2, clf.meta.in_chans, pre.n_mels, frames)
        torch.onnx.export(clf.model, (example,), str(out / ONNX_MODEL), dynamo=False, input_names=["spectrogram"],
                          output_names=["logits"], opset_version=OPSET,
                          dynamic_axes={"spectrogram": {0: "batch", 3: "frames"}, "logits": {0: "batch"}})
        np.save(out / MEL, mel_filterbank(pre.sample_rate_hz, pre.n_fft, pre.n_mels, pre.fmin_hz, pre.fmax_hz))
    shutil.copy(Path(bundle_dir) / META, out / META)
    raw = json.loads((out / META).read_text())  # keep every key of the source bundle.json; add the ONNX digest
    raw["onnx_sha256"] = sha256_file(out / ONNX_MODEL)
    (out / META).write_text(json.dumps(raw, indent=2, ensure_ascii=False) + "\n")
    log.info("exported %s to %s", bundle_dir, out / ONNX_MODEL)
    return out


class OnnxClassifier:
    """An exported bundle on ONNX Runtime (CPU), with the interface of ``models.learning.bundle.Classifier``
    that the inference paths use (``meta``, ``labels``, ``predict``) plus, for audio, the stored mel
    ``filterbank``.

    Args:
        meta: the bundle's metadata.
        session: an ``onnxruntime.InferenceSession`` of ``model.onnx``.
        filterbank: ``(n_mels, n_fft // 2 + 1)`` mel filterbank of an audio bundle's preprocessing; None for
            images.
    """

    def __init__(self, meta: BundleMeta, session, filterbank: np.ndarray | None) -> None:
        self.meta = meta
        self.session = session
        self.filterbank = filterbank
        self._input = session.get_inputs()[0].name

    @classmethod
    def load(cls, directory: str | Path, threads: int = 1) -> OnnxClassifier:
        """Open an export made by :func:`export_onnx` with ``threads`` intra-op threads (idle ones sleep rather
        than spin: ``session.intra_op.allow_spinning`` 0).

        Raises:
            BiodivError: not an ONNX export (missing files: ``model.onnx`` and ``bundle.json``, and ``mel.npy``
                for audio); ``model.onnx`` whose SHA-256 differs from ``onnx_sha256`` in ``bundle.json``
                (both digests named); a label list whose length differs from the model's output size (both
                counts named).
        """
        import onnxruntime as ort

        d = Path(directory)
        if not (d / ONNX_MODEL).is_file() or not (d / META).is_file():
            raise BiodivError(f"{d} is not an ONNX export (needs {ONNX_MODEL} and {META})")
        meta = read_meta(d)
        if meta.modality == "audio" and not (d / MEL).is_file():
            raise BiodivError(f"{d} is not an ONNX audio export (needs {MEL} beside {ONNX_MODEL})")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        # Idle intra-op threads sleep instead of spinning: they share the cores with decode workers (images) or
        # the caller's decode and log-mel (audio). With 2 threads and 2 decode workers on 2 cores, spinning cost
        # 25-31 ms of CPU per station image against 20.4 without (benchmarks/images.py, docs/scaling.md).
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        actual = sha256_file(d / ONNX_MODEL)
        if actual != meta.onnx_sha256:
            raise BiodivError(f"{d / ONNX_MODEL}: SHA-256 is {actual} but bundle.json records "
                              f"{meta.onnx_sha256 or 'no onnx_sha256'}")
        session = ort.InferenceSession(str(d / ONNX_MODEL), opts, providers=["CPUExecutionProvider"])
        n_out = session.get_outputs()[0].shape[-1]
        if isinstance(n_out, int) and n_out != len(meta.labels):
            raise BiodivError(f"{d}: bundle.json lists {len(meta.labels)} labels but the model outputs {n_out} classes")
        return cls(meta, session, np.load(d / MEL) if meta.modality == "audio" else None)

    @property
    def labels(self) -> list[str]:
        """Ordered class labels."""
        return self.meta.labels

    def logits(self, batch: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Raw logits ``(N, C)`` for ``(N, in_chans, S, S)`` images or ``(N, 1, n_mels, frames)`` spectrograms."""
        batch = np.asarray(batch, dtype=np.float32)
        out = [self.session.run(None, {self._input: np.ascontiguousarray(batch[i : i + batch_size])})[0]
               for i in range(0, batch.shape[0], batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.labels)), np.float32)

    def predict(self, batch: np.ndarray, batch_size: int = 64) -> np.ndarray:
        """Calibrated probabilities ``(N, C)``: ``softmax(logits / temperature)`` as in the bundle."""
        return softmax(self.logits(batch, batch_size) / self.meta.temperature)


def load_classifier(directory: str | Path, threads: int = 1):
    """The classifier in ``directory``: an ONNX export (``model.onnx``: :class:`OnnxClassifier`, no PyTorch) or a
    PyTorch bundle (``models.learning.bundle.Classifier``, imported only then).

    Raises:
        BiodivError: neither, or a bundle that fails its checks.
    """
    d = Path(directory)
    if (d / ONNX_MODEL).is_file():
        return OnnxClassifier.load(d, threads)
    from models.learning.bundle import Classifier

    return Classifier.load(d)
