"""Training-only augmentations on model-input batches ``(B, C, H, W)``; bypassed at inference.

Image: horizontal flip (p=0.5) and per-image brightness/contrast jitter. Audio: circular time
shift and SpecAugment-style frequency and time masking (Park et al. 2019).
"""

from __future__ import annotations

import torch


def augment_image(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Flip half of the batch horizontally; scale by ``U(0.8, 1.2)`` and shift by ``U(-0.2, 0.2)``."""
    b = x.shape[0]
    flip = torch.rand(b, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    scale = 0.8 + 0.4 * torch.rand(b, 1, 1, 1, generator=gen)
    shift = -0.2 + 0.4 * torch.rand(b, 1, 1, 1, generator=gen)
    return x * scale + shift


def augment_spectrogram(x: torch.Tensor, gen: torch.Generator, max_freq_mask: int = 8,
                        max_time_mask: int = 16) -> torch.Tensor:
    """Roll each spectrogram in time by a random offset, then zero one frequency band and one time span."""
    b, _, n_mels, frames = x.shape
    out = x.clone()
    for i in range(b):
        out[i] = torch.roll(out[i], int(torch.randint(0, frames, (1,), generator=gen)), dims=-1)
        f = int(torch.randint(0, max_freq_mask + 1, (1,), generator=gen))
        f0 = int(torch.randint(0, max(1, n_mels - f), (1,), generator=gen))
        out[i, :, f0 : f0 + f, :] = 0.0
        t = int(torch.randint(0, max_time_mask + 1, (1,), generator=gen))
        t0 = int(torch.randint(0, max(1, frames - t), (1,), generator=gen))
        out[i, :, :, t0 : t0 + t] = 0.0
    return out
