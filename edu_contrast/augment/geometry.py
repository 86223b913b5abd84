"""The crop and flip of the batched augmentation, as two batched matrix products per batch.

- ``crop_boxes``: torchvision's ``RandomResizedCrop.get_params`` for a whole batch.
- ``resize_weights``: the matrices of torchvision's antialiased bilinear resize of a crop.
- ``BatchResizedCropFlip``: ``RandomResizedCrop`` then ``RandomHorizontalFlip``, out_b = R_b · x_b · C_bᵀ.

Exact against torchvision's ``resized_crop`` image by image (tests/test_augment.py), and about twice
as fast on a CPU as kornia's warp with a sampling grid. ``batch.BatchAugment`` runs it first.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["crop_boxes", "resize_weights", "BatchResizedCropFlip"]


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
