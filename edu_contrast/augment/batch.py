"""``batched``: the augmentation a ~ 𝒯 of ``recipe.py``, drawn per image for a whole batch on its device.

``BatchAugment`` chains the steps in ``per_image``'s order — crop and flip (``geometry.py``), colour
jitter and grayscale (``color.py``), then kornia's blur and solarize — with independent random
parameters for every image. Many times faster than ``per_image`` on a CPU (docs/benchmarks.md) and
the only practical choice on a GPU.
"""

from __future__ import annotations

import kornia.augmentation as K
import torch
from torch import nn

from edu_contrast._validation import fail
from edu_contrast.augment.color import BatchColorJitter, BatchGrayscale
from edu_contrast.augment.geometry import BatchResizedCropFlip
from edu_contrast.augment.recipe import AugmentConfig, _checked, _ProtectLastChannels, blur_kernel_size

__all__ = ["BatchAugment", "batched"]


class BatchAugment(nn.Module):
    """a ~ 𝒯 drawn independently for every image of a ``(B, channels, H, W)`` float batch in [0, 1].

    Built by ``batched(...)``. Runs on the batch's device (CPU or GPU), without gradients. The
    per-sample distributions match ``per_image`` except one detail: the random order of the four jitter
    steps is drawn once per call of ``BatchColorJitter``, not per image — the same marginal for each image.

    On a CPU the batch goes through in chunks of ``cpu_chunk`` images: every intermediate tensor then
    stays in the processor's cache and is recycled by the memory allocator, about 1.5× faster than
    the whole batch at once (docs/benchmarks.md). A GPU takes the whole batch.
    """

    cpu_chunk = 128

    def __init__(self, size: int, channels: int, config: AugmentConfig, protected_channels: int = 0):
        super().__init__()
        self.size, self.channels, self.config = size, channels, config
        augmented = channels - protected_channels
        rgb = augmented == 3
        cfg = config
        steps: list[nn.Module] = [BatchResizedCropFlip(size, cfg.crop_scale, cfg.crop_ratio, cfg.flip_p)]
        saturation, hue = (cfg.saturation, cfg.hue) if rgb else (0.0, 0.0)
        if cfg.jitter_p > 0 and max(cfg.brightness, cfg.contrast, saturation, hue) > 0:
            steps.append(BatchColorJitter(cfg.brightness, cfg.contrast, saturation, hue, p=cfg.jitter_p))
        if rgb and cfg.grayscale_p > 0:
            steps.append(BatchGrayscale(cfg.grayscale_p))
        if cfg.blur_p > 0:
            k = blur_kernel_size(size)
            steps.append(K.RandomGaussianBlur((k, k), cfg.blur_sigma, p=cfg.blur_p))
        if cfg.solarize_p > 0:
            # thresholds=0 → threshold exactly 0.5, additions=0 → no shift: torchvision's solarize.
            steps.append(K.RandomSolarize(thresholds=0.0, additions=0.0, p=cfg.solarize_p))
        pipeline = nn.Sequential(*steps)
        self.pipeline = (
            _ProtectLastChannels(pipeline, protected_channels, size) if protected_channels else pipeline
        )

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: ``(B, channels, H, W)`` float in [0, 1] → ``(B, channels, size, size)``."""
        if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x):
            got = (
                f"dtype {x.dtype}" if isinstance(x, torch.Tensor) else f"an object of type {type(x).__name__}"
            )
            fail("x", "BatchAugment", "a float tensor in [0, 1]", got, TypeError)
        if x.dim() != 4 or x.shape[1] != self.channels:
            fail("x", "BatchAugment", f"of shape (batch, {self.channels}, H, W)", f"shape {tuple(x.shape)}")
        if x.device.type != "cpu" or len(x) <= self.cpu_chunk:
            return self.pipeline(x)
        out = x.new_empty(len(x), self.channels, self.size, self.size)
        for start in range(0, len(x), self.cpu_chunk):
            out[start : start + self.cpu_chunk] = self.pipeline(x[start : start + self.cpu_chunk])
        return out

    def extra_repr(self) -> str:
        return f"size={self.size}, channels={self.channels}"


def batched(
    size: int, channels: int, config: AugmentConfig | None = None, *, protected_channels: int = 0
) -> BatchAugment:
    """An ``nn.Module`` applying a ~ 𝒯 independently to each image of a batch, on its device.

    Same distribution as ``per_image(size, channels, config, protected_channels=...)``; ``config`` is 𝒯
    (default ``AugmentConfig.for_size(size)``). Use it after moving the batch to the GPU:
    ``aug = batched(32, 3); x1, x2 = aug(x), aug(x)``.
    """
    size, _, cfg = _checked(size, channels, config, protected_channels, "batched")
    return BatchAugment(size, channels, cfg, protected_channels)
