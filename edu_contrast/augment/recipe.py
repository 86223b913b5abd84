"""SimCLR data augmentation: the family 𝒯 (``AugmentConfig``) and its per-image pipeline (``per_image``).

A positive pair is two draws from the augmentation family 𝒯 applied to one image x:

    x̃⁽¹⁾ = a₁(x),  x̃⁽²⁾ = a₂(x),  a₁, a₂ ~ 𝒯 independently,

    a = solarize ∘ blur ∘ grayscale ∘ jitter ∘ flip ∘ crop,

each step applied with its own probability (Chen et al. 2020, "A Simple Framework for Contrastive
Learning of Visual Representations", Sec. 3 and Appendix A; solarize from BYOL, Grill et al. 2020).
What 𝒯 leaves unchanged is what the two views share, so 𝒯 decides which features the encoder learns.

Two implementations draw from the same distribution (tests/test_augment.py measures it):

- ``per_image(size, channels)``: a ``torchvision.transforms.v2`` pipeline for one ``(C, H, W)`` image,
  what a DataLoader worker calls per sample. This file; read this one.
- ``batched(size, channels)`` (``batch.py``): an ``nn.Module`` that augments a whole ``(B, C, H, W)``
  batch on the batch's device with independent parameters per sample — crop and flip as two batched
  matrix products (``geometry.py``), the colour steps in closed form (``color.py``; both equal
  torchvision's image by image), blur and solarize from kornia. Many times faster on a CPU
  (docs/benchmarks.md) and the only practical choice on a GPU.

Both take float images in [0, 1] and are grayscale-aware: on 1-channel images only brightness and
contrast jitter apply (saturation, hue and grayscale need colour). ``protected_channels=k`` leaves the
last k channels untouched: RandBit's constant bit planes, which must be identical in both views
(Chen, Luo & Li 2021, "Intriguing Properties of Contrastive Losses", Sec. 4.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast._validation import check_int, fail

__all__ = ["AugmentConfig", "per_image", "blur_kernel_size"]


def _check_probability(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        fail(name, "AugmentConfig", "a probability in [0, 1]", repr(value))


def _check_range(value, name: str, low: float, high: float) -> None:
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, float)) for v in value)
    )
    if not ok or not low <= value[0] <= value[1] <= high:
        fail(name, "AugmentConfig", f"a pair (lo, hi) with {low} <= lo <= hi <= {high}", repr(value))


@dataclass(frozen=True)
class AugmentConfig:
    """Parameters of the SimCLR augmentation family 𝒯; the defaults are SimCLR's CIFAR-10 recipe.

    crop_scale:  area fraction s ~ U(crop_scale) of the random resized crop.
    crop_ratio:  aspect ratio r, log r ~ U(log crop_ratio).
    flip_p:      probability of a horizontal flip.
    brightness, contrast, saturation: jitter factors ~ U(1 − value, 1 + value); hue shift ~ U(−hue, hue)
                 (in turns of the colour wheel), applied in random order, all with probability jitter_p.
    grayscale_p: probability of converting to grayscale (RGB only).
    blur_p, blur_sigma: Gaussian blur with σ ~ U(blur_sigma) and a kernel of 10% of the image side
                 (SimCLR omits blur on CIFAR-10: blur_p = 0).
    solarize_p:  probability of inverting every pixel ≥ 0.5 (BYOL).

    Presets: ``AugmentConfig()`` (SimCLR, CIFAR-10), ``weak()`` (mild crops and flips only: two views
    share almost everything, the setting where shortcuts and collapse show up), ``strong()`` (BYOL's
    ImageNet-style recipe with blur and solarize), ``for_size(size)`` (sane defaults for 8×8 digits,
    28×28 Fashion-MNIST, 32×32 CIFAR-10).
    """

    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: float = 0.0
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    solarize_p: float = 0.0

    def __post_init__(self):
        _check_range(self.crop_scale, "crop_scale", 1e-6, 1.0)
        _check_range(self.crop_ratio, "crop_ratio", 1e-6, math.inf)
        _check_range(self.blur_sigma, "blur_sigma", 1e-6, math.inf)
        for name in ("flip_p", "jitter_p", "grayscale_p", "blur_p", "solarize_p"):
            _check_probability(getattr(self, name), name)
        for name in ("brightness", "contrast", "saturation"):
            _check_range((0.0, getattr(self, name)), name, 0.0, 1.0)
        _check_range((0.0, self.hue), "hue", 0.0, 0.5)

    @classmethod
    def weak(cls) -> AugmentConfig:
        """Large crops and flips, no colour changes: the two views share colour and most of the content."""
        return cls(crop_scale=(0.8, 1.0), jitter_p=0.0, grayscale_p=0.0)

    @classmethod
    def strong(cls) -> AugmentConfig:
        """BYOL's recipe (Grill et al. 2020, Table 6): small crops, jitter, grayscale, blur and solarize."""
        return cls(crop_scale=(0.08, 1.0), saturation=0.2, blur_p=0.5, solarize_p=0.2)

    @classmethod
    def for_size(cls, size: int) -> AugmentConfig:
        """Defaults by image side: 8×8 digits keep ≥ 40% of the area and are not mirrored (a mirrored
        digit is another shape); 28×28 and 32×32 use SimCLR's CIFAR-10 recipe; ≥ 64 adds blur (ImageNet)."""
        size = check_int(size, "size", "AugmentConfig.for_size")
        if size <= 16:
            return cls(crop_scale=(0.4, 1.0), flip_p=0.0)
        if size >= 64:
            return cls(blur_p=0.5)
        return cls()

    def replace(self, **changes) -> AugmentConfig:
        """A copy with some fields changed: ``AugmentConfig().replace(jitter_p=0.0)``."""
        return replace(self, **changes)


def blur_kernel_size(size: int) -> int:
    """SimCLR's blur kernel: 10% of the image side, odd, at least 3 (3 for 32×32, 23 for 224×224)."""
    return max(3, int(0.1 * size) // 2 * 2 + 1)


def _checked(size, channels, config, protected_channels, where) -> tuple[int, int, AugmentConfig]:
    """Validate the shared arguments; return (size, number of augmented channels, config)."""
    size = check_int(size, "size", where)
    channels = check_int(channels, "channels", where)
    protected_channels = check_int(protected_channels, "protected_channels", where, minimum=0)
    if protected_channels >= channels:
        fail(
            "protected_channels",
            where,
            f"< channels ({channels}): at least one channel must be augmented",
            protected_channels,
        )
    augmented = channels - protected_channels
    if augmented not in (1, 3):
        fail(
            "channels",
            where,
            f"one that leaves 1 (grayscale) or 3 (RGB) augmented channels after the {protected_channels} "
            "protected ones",
            f"channels={channels}",
        )
    if config is None:
        config = AugmentConfig.for_size(size)
    if not isinstance(config, AugmentConfig):
        fail(
            "config",
            where,
            "an AugmentConfig or None",
            f"an object of type {type(config).__name__}",
            TypeError,
        )
    return size, augmented, config


class _ProtectLastChannels(nn.Module):
    """Augment channels [0, C − k) and pass the last k through: x = [x_aug ; x_protected] along C."""

    def __init__(self, augment: nn.Module, protected_channels: int, size: int):
        super().__init__()
        self.augment, self.k, self.size = augment, protected_channels, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head, tail = x[..., : -self.k, :, :], x[..., -self.k :, :, :]  # (..., C−k, H, W), (..., k, H, W)
        if tail.shape[-2:] != (self.size, self.size):  # constant planes: nearest resize keeps them exact
            batch = tail if tail.dim() == 4 else tail.unsqueeze(0)
            tail = F.interpolate(batch, size=(self.size, self.size), mode="nearest").reshape(
                *tail.shape[:-2], self.size, self.size
            )  # (..., k, size, size)
        return torch.cat([self.augment(head), tail], dim=-3)

    def extra_repr(self) -> str:
        return f"protected_channels={self.k}"


def per_image(size: int, channels: int, config: AugmentConfig | None = None, *, protected_channels: int = 0):
    """A torchvision v2 pipeline a ~ 𝒯: float ``(channels, H, W)`` in [0, 1] → ``(channels, size, size)``.

    Every call draws new random parameters, so ``x1, x2 = a(x), a(x)`` is a positive pair
    (Chen et al. 2020, Sec. 3). ``config`` is 𝒯 (default ``AugmentConfig.for_size(size)``); the last
    ``protected_channels`` channels are returned unchanged (RandBit's bits).
    """
    # Imported here: torchvision costs ~2 CPU-s at start-up (it loads torch._dynamo).
    from torchvision.transforms import v2

    size, augmented, cfg = _checked(size, channels, config, protected_channels, "per_image")
    rgb = augmented == 3
    steps = [v2.RandomResizedCrop(size, scale=cfg.crop_scale, ratio=cfg.crop_ratio, antialias=True)]
    if cfg.flip_p > 0:
        steps.append(v2.RandomHorizontalFlip(cfg.flip_p))
    saturation, hue = (cfg.saturation, cfg.hue) if rgb else (0.0, 0.0)
    if cfg.jitter_p > 0 and max(cfg.brightness, cfg.contrast, saturation, hue) > 0:
        jitter = v2.ColorJitter(cfg.brightness, cfg.contrast, saturation, hue)
        steps.append(v2.RandomApply([jitter], p=cfg.jitter_p))
    if rgb and cfg.grayscale_p > 0:
        steps.append(v2.RandomGrayscale(cfg.grayscale_p))
    if cfg.blur_p > 0:
        blur = v2.GaussianBlur(blur_kernel_size(size), sigma=cfg.blur_sigma)
        steps.append(v2.RandomApply([blur], p=cfg.blur_p))
    if cfg.solarize_p > 0:
        steps.append(v2.RandomSolarize(threshold=0.5, p=cfg.solarize_p))
    pipeline = v2.Compose(steps)
    return _ProtectLastChannels(pipeline, protected_channels, size) if protected_channels else pipeline
