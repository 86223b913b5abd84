"""SimCLR data augmentation, per image (readable) and batched on the device (fast).

A positive pair is two draws from the augmentation family 𝒯 applied to one image x:

    x̃⁽¹⁾ = a₁(x),  x̃⁽²⁾ = a₂(x),  a₁, a₂ ~ 𝒯 independently,

    a = solarize ∘ blur ∘ grayscale ∘ jitter ∘ flip ∘ crop,

each step applied with its own probability (Chen et al. 2020, "A Simple Framework for Contrastive
Learning of Visual Representations", Sec. 3 and Appendix A; solarize from BYOL, Grill et al. 2020).
What 𝒯 leaves unchanged is what the two views share, so 𝒯 decides which features the encoder learns.

Two implementations draw from the same distribution (tests/test_augment.py measures it):

- ``per_image(size, channels)``: a ``torchvision.transforms.v2`` pipeline for one ``(C, H, W)`` image,
  what a DataLoader worker calls per sample. Read this one.
- ``batched(size, channels)``: an ``nn.Module`` that augments a whole ``(B, C, H, W)`` batch on the
  batch's device with independent parameters per sample — crop and flip as two batched matrix products,
  the colour steps in closed form (both equal torchvision's image by image), blur and solarize from
  kornia. Many times faster on a CPU (docs/benchmarks.md) and the only practical choice on a GPU.

Both take float images in [0, 1] and are grayscale-aware: on 1-channel images only brightness and
contrast jitter apply (saturation, hue and grayscale need colour). ``protected_channels=k`` leaves the
last k channels untouched: RandBit's constant bit planes, which must be identical in both views
(Chen et al. 2020b, "Intriguing Properties of Contrastive Losses", Sec. 4.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.transforms import v2

from edu_contrast._validation import check_int

__all__ = [
    "AugmentConfig",
    "per_image",
    "batched",
    "BatchAugment",
    "blur_kernel_size",
    "hue_shift",
    "BatchColorJitter",
    "BatchResizedCropFlip",
    "BatchGrayscale",
    "crop_boxes",
    "resize_weights",
]


def _check_probability(value, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(
            f"The '{name}' parameter of AugmentConfig must be a probability in [0, 1]. Got {value!r} instead."
        )


def _check_range(value, name: str, low: float, high: float) -> None:
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, float)) for v in value)
    )
    if not ok or not low <= value[0] <= value[1] <= high:
        raise ValueError(
            f"The '{name}' parameter of AugmentConfig must be a pair (lo, hi) with "
            f"{low} <= lo <= hi <= {high}. Got {value!r} instead."
        )


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
        raise ValueError(
            f"The 'protected_channels' parameter of {where} must be < channels ({channels}): at least one "
            f"channel must be augmented. Got {protected_channels} instead."
        )
    augmented = channels - protected_channels
    if augmented not in (1, 3):
        raise ValueError(
            f"The 'channels' parameter of {where} must leave 1 (grayscale) or 3 (RGB) augmented channels "
            f"after the {protected_channels} protected ones. Got channels={channels} instead."
        )
    if config is None:
        config = AugmentConfig.for_size(size)
    if not isinstance(config, AugmentConfig):
        raise TypeError(
            f"The 'config' parameter of {where} must be an AugmentConfig or None. "
            f"Got an object of type {type(config).__name__} instead."
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


def hue_shift(images: torch.Tensor, turns: torch.Tensor) -> torch.Tensor:
    """Rotate the HSV hue of each RGB image by its own ``turns`` ∈ [−0.5, 0.5] of the colour wheel.

        V = max(r, g, b),  C = V − min(r, g, b),
        H = (g − b)/C if V = r,  (b − r)/C + 2 if V = g,  (r − g)/C + 4 if V = b   (sextants),
        H' = H + 6·turns,
        out_n = V − C · clamp(min(k, 4 − k), 0, 1),   k = (n + H') mod 6,   n = 5, 3, 1 for R, G, B

    — torchvision's ``adjust_hue`` (RGB → HSV, shift, HSV → RGB) in closed form, to float precision,
    with one factor per image. ``images``: ``(B, 3, H, W)`` in [0, 1]; ``turns``: ``(B,)``. BatchAugment
    uses it in ``BatchColorJitter``: kornia's HSV round trip gives the same values, slower on a CPU.
    """
    r, g, b = images.unbind(dim=1)  # (B, H, W) each
    top, bottom = images.amax(dim=1), images.amin(dim=1)  # V and V − C, (B, H, W)
    chroma = top - bottom  # C
    # H·C per sextant, then one division; C = 0 (gray): any H works, out = V. The sextant is picked by
    # lerp with a 0/1 weight (exact at 0 and 1): torch.where is several times slower on a CPU. Where two
    # channels tie for the top, both formulas give the same H; r wins, then g, as in torchvision.
    r_top = torch.eq(r, top, out=torch.empty_like(top))  # (B, H, W) 0/1, straight into floats (fast)
    g_top = torch.eq(g, top, out=torch.empty_like(top))
    sextant = torch.lerp((r - g).add_(chroma, alpha=4), (b - r).add_(chroma, alpha=2), g_top)
    sextant = torch.lerp(sextant, g - b, r_top)  # H·C
    shift = 6 * turns.to(images.dtype).view(-1, 1, 1)  # (B, 1, 1): turns → sextants
    hue = sextant.div_(chroma.clamp_min(torch.finfo(images.dtype).tiny)).add_(shift)  # H', (B, H, W)
    n = torch.arange(5.0, 0.0, -2.0, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)  # 5, 3, 1
    k = hue.unsqueeze(1) + n  # (B, 3, H, W): H' + n for R, G, B
    k.sub_(k.div(6).floor_(), alpha=6)  # mod 6, in [0, 6) (faster than torch.remainder on a CPU)
    # V − C·clamp(min(k, 4 − k), 0, 1) = (V − C) + C·clamp(|k − 2| − 1, 0, 1), with fewer passes:
    return torch.addcmul(bottom.unsqueeze(1), chroma.unsqueeze(1), k.sub_(2).abs_().sub_(1).clamp_(0, 1))


def _gray(images: torch.Tensor) -> torch.Tensor:
    """ITU-R 601 luma of (B, C, H, W) images, (B, 1, H, W); 1-channel images are their own gray."""
    if images.shape[1] == 1:
        return images
    r, g, b = images.unbind(dim=1)  # (B, H, W) each
    return (0.2989 * r).add_(g, alpha=0.587).add_(b, alpha=0.114).unsqueeze(1)  # torchvision's weights


def _replace_chosen(images: torch.Tensor, chosen: torch.Tensor, transform) -> torch.Tensor:
    """A copy of ``images`` (B, ...) in which the images where ``chosen`` (B,) is True are replaced by
    ``transform`` of them; the others are left exactly as they were."""
    index = chosen.nonzero().squeeze(1)  # (b,): the chosen images
    return images.index_copy(0, index, transform(images.index_select(0, index)))


def _blend(images: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """clamp(f·x + (1 − f)·o, 0, 1), one f per image; o is an image or one value per image."""
    if other[0].numel() == 1:  # one value per image: scale and shift, faster than lerp's broadcast
        return (images * factor).add_(other * (1 - factor)).clamp_(0, 1)
    return torch.lerp(other, images, factor).clamp_(0, 1)


class BatchColorJitter(nn.Module):
    r"""torchvision's ``ColorJitter`` for a (B, C, H, W) batch, one random factor per image:

        brightness  x ← clamp(f_b · x)                        f_b ~ U[max(0, 1 − b), 1 + b]
        contrast    x ← clamp(f_c · x + (1 − f_c) · mean(gray(x)))   f_c ~ U[max(0, 1 − c), 1 + c]
        saturation  x ← clamp(f_s · x + (1 − f_s) · gray(x))        f_s ~ U[max(0, 1 − s), 1 + s]
        hue         rotate the HSV hue by f_h turns (``hue_shift``)  f_h ~ U[−h, h]

    in a random order, each image jittered with probability ``p``. The order is drawn once per call
    (torchvision draws it per image): the same marginal law for each image. Written out rather than
    kornia's ColorJitter, which computes the same values several times slower on a CPU
    (``benchmarks/bench_augment.py --breakdown``).
    """

    def __init__(self, brightness: float, contrast: float, saturation: float, hue: float, p: float):
        super().__init__()
        self.strengths = {
            "brightness": brightness,
            "contrast": contrast,
            "saturation": saturation,
            "hue": hue,
        }
        self.p = p

    def sample(self, batch: int, device: torch.device) -> dict[str, torch.Tensor]:
        """One factor per image and step, shape (batch,); steps of strength 0 are left out."""
        factors = {}
        for name, strength in self.strengths.items():
            if strength > 0:
                low, high = (-strength, strength) if name == "hue" else (max(0.0, 1 - strength), 1 + strength)
                factors[name] = torch.empty(batch, device=device).uniform_(low, high)
        return factors

    @staticmethod
    def apply(images: torch.Tensor, factors: dict[str, torch.Tensor], order: list[str]) -> torch.Tensor:
        """The steps named in ``order`` with the given per-image factors (deterministic; tested against
        torchvision's functional adjust_* image by image)."""
        x = images
        for name in order:
            f = factors[name].to(x.dtype)
            if name == "hue":
                x = hue_shift(x, f)
                continue
            f = f.view(-1, 1, 1, 1)  # (B, 1, 1, 1): broadcast over C, H, W
            if name == "brightness":
                x = (x * f).clamp_(0, 1)
            elif name == "contrast":
                x = _blend(x, _gray(x).mean(dim=(1, 2, 3), keepdim=True), f)  # mean: (B, 1, 1, 1)
            else:
                x = _blend(x, _gray(x), f)  # saturation; gray: (B, 1, H, W)
        return x

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        chosen = torch.rand(images.shape[0], device=images.device) < self.p  # (B,) bool
        factors = self.sample(int(chosen.sum()), images.device)
        if not factors or not chosen.any():
            return images
        order = [list(factors)[i] for i in torch.randperm(len(factors)).tolist()]
        return _replace_chosen(images, chosen, lambda x: self.apply(x, factors, order))

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.strengths.items()) + f", p={self.p}"


def crop_boxes(
    batch: int, height: int, width: int, scale, ratio, device=None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """torchvision's ``RandomResizedCrop.get_params`` for a whole batch: (top, left, h, w), each (batch,).

    Ten tries per image: area A = s·H·W with s ~ U(scale), log r ~ U(log ratio), w = round(√(A·r)),
    h = round(√(A/r)); the first try that fits inside the image wins, at a uniform integer position.
    If none fits, the central crop with the aspect ratio clamped into ``ratio`` (Szegedy et al. 2015,
    "Going Deeper with Convolutions"). Integer-valued float tensors, ready for ``resize_weights``.
    """
    tries = 10
    area = torch.empty(batch, tries, device=device).uniform_(*scale) * (height * width)  # (B, tries)
    log_r = torch.empty(batch, tries, device=device).uniform_(math.log(ratio[0]), math.log(ratio[1]))
    w, h = (area * log_r.exp()).sqrt().round(), (area / log_r.exp()).sqrt().round()  # (B, tries)
    fits = (w >= 1) & (w <= width) & (h >= 1) & (h <= height)
    first = fits.int().argmax(dim=1, keepdim=True)  # (B, 1): index of the first try that fits
    w, h, found = w.gather(1, first).squeeze(1), h.gather(1, first).squeeze(1), fits.any(dim=1)  # (B,)
    if width / height < ratio[0]:  # the fallback central crop
        fallback_w, fallback_h = width, round(width / ratio[0])
    elif width / height > ratio[1]:
        fallback_w, fallback_h = round(height * ratio[1]), height
    else:
        fallback_w, fallback_h = width, height
    w = torch.where(found, w, float(fallback_w))
    h = torch.where(found, h, float(fallback_h))
    top = torch.where(found, (torch.rand(batch, device=device) * (height - h + 1)).floor(), (height - h) // 2)
    left = torch.where(found, (torch.rand(batch, device=device) * (width - w + 1)).floor(), (width - w) // 2)
    return top, left, h, w


def resize_weights(
    start: torch.Tensor, length: torch.Tensor, in_size: int, out_size: int, flip: torch.Tensor | None = None
) -> torch.Tensor:
    """(B, out_size, in_size) matrices: row i holds the weights with which output pixel i averages the
    input pixels of the crop [start, start + length) — torchvision's antialiased bilinear resize:

        c_i = start + (i + ½)·ℓ/S     output pixel i's centre in input pixels (ℓ = length, S = out_size)
        σ   = max(ℓ/S, 1)             the triangle's half-width: 1 is bilinear; > 1 averages when shrinking
        w_ij ∝ max(0, σ − |j + ½ − c_i|)   for start ≤ j < start + ℓ, normalised so Σ_j w_ij = 1.

    ``start``, ``length``: (B,) float tensors of whole pixels. ``flip``: (B,) bool, optional: those
    images' rows come in reverse order (i ↦ S − 1 − i), a mirror image.
    """
    step = (length / out_size).unsqueeze(1)  # (B, 1): ℓ/S
    positions = torch.arange(out_size, device=start.device, dtype=start.dtype) + 0.5  # (S,): i + ½
    if flip is not None:
        positions = torch.where(flip.unsqueeze(1), out_size - positions, positions)  # (B, S)
    centres = start.unsqueeze(1) + positions * step  # (B, S): c_i
    pixels = torch.arange(in_size, device=start.device, dtype=start.dtype) + 0.5  # (in,): j + ½
    in_crop = (pixels >= start.unsqueeze(1)) & (pixels < (start + length).unsqueeze(1))  # (B, in)
    distance = (pixels - centres.unsqueeze(2)).abs_()  # (B, S, in): |j + ½ − c_i|
    weights = (step.clamp(min=1).unsqueeze(2) - distance).clamp_(min=0)  # σ − |·|, (B, S, in)
    weights.mul_(in_crop.unsqueeze(1).to(weights.dtype))  # zero outside the crop
    return weights.div_(weights.sum(dim=2, keepdim=True))  # (B, S, in)


class BatchResizedCropFlip(nn.Module):
    r"""``RandomResizedCrop(size)`` then ``RandomHorizontalFlip(flip_p)`` for a (B, C, H, W) batch.

    Both are linear in the pixels, so each image takes two small matrix products:

        out_b = R_b · x_b · C_bᵀ    R_b: resize_weights of the crop's rows (S × H), C_b its columns' (S × W),

    and a flip reverses the order of C_b's rows. ``apply`` equals torchvision's ``resized_crop`` (then
    ``horizontal_flip``) image by image (tests/test_augment.py). Written out rather than kornia's
    RandomResizedCrop + RandomHorizontalFlip, which warp with a sampling grid and cost about twice as
    much on a CPU (``benchmarks/bench_augment.py --breakdown``).
    """

    def __init__(self, size: int, scale, ratio, flip_p: float):
        super().__init__()
        self.size, self.scale, self.ratio, self.flip_p = size, scale, ratio, flip_p

    def sample(self, batch: int, height: int, width: int, device=None) -> dict[str, torch.Tensor]:
        """Crop boxes (``crop_boxes``) and flips, one per image: each value has shape (batch,)."""
        top, left, h, w = crop_boxes(batch, height, width, self.scale, self.ratio, device)
        flip = torch.rand(batch, device=device) < self.flip_p
        return {"top": top, "left": left, "height": h, "width": w, "flip": flip}

    @staticmethod
    def apply(x: torch.Tensor, boxes: dict[str, torch.Tensor], size: int) -> torch.Tensor:
        """Crop ``boxes`` (from ``sample``) out of ``x`` (B, C, H, W), resize to size × size, flip."""
        batch, channels, height, width = x.shape
        exact = torch.promote_types(x.dtype, torch.float32)  # weights in at least float32
        top, left, h, w = (boxes[k].to(exact) for k in ("top", "left", "height", "width"))
        rows = resize_weights(top, h, height, size).to(x.dtype)  # (B, S, H)
        cols = resize_weights(left, w, width, size, flip=boxes["flip"]).to(x.dtype)  # (B, S, W)
        # x·Cᵀ for all channels at once: x as (B, C·H, W); then R· per (image, channel) pair.
        out = torch.bmm(x.reshape(batch, channels * height, width), cols.transpose(1, 2))  # (B, C·H, S)
        rows = rows.unsqueeze(1).expand(-1, channels, -1, -1).reshape(batch * channels, size, height)
        out = torch.bmm(rows, out.view(batch * channels, height, size))  # (B·C, S, S)
        return out.view(batch, channels, size, size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.apply(x, self.sample(x.shape[0], x.shape[2], x.shape[3], x.device), self.size)

    def extra_repr(self) -> str:
        return f"size={self.size}, scale={self.scale}, ratio={self.ratio}, flip_p={self.flip_p}"


class BatchGrayscale(nn.Module):
    """``RandomGrayscale(p)``: each RGB image, with probability p, becomes its luma in all 3 channels."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        chosen = torch.rand(images.shape[0], device=images.device) < self.p  # (B,) bool
        if not chosen.any():
            return images
        return _replace_chosen(images, chosen, lambda x: _gray(x).expand(-1, 3, -1, -1))  # (b, 3, H, W)

    def extra_repr(self) -> str:
        return f"p={self.p}"


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
            raise TypeError(
                f"The 'x' parameter of BatchAugment must be a float tensor in [0, 1]. Got {got} instead."
            )
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(
                f"The 'x' parameter of BatchAugment must have shape (batch, {self.channels}, H, W). "
                f"Got shape {tuple(x.shape)} instead."
            )
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
