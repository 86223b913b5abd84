"""The colour steps of the batched augmentation, one random factor per image, in closed form.

- ``hue_shift``: torchvision's ``adjust_hue`` (RGB → HSV, shift, HSV → RGB) as one formula.
- ``BatchColorJitter``: brightness, contrast, saturation and hue in a random order (``ColorJitter``).
- ``BatchGrayscale``: ``RandomGrayscale``.

Each equals torchvision's function image by image (tests/test_augment.py). Written out rather than
kornia's ColorJitter, which computes the same values several times slower on a CPU.
``batch.BatchAugment`` chains them after the crop (``geometry.py``).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["hue_shift", "BatchColorJitter", "BatchGrayscale"]


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


def _where_chosen(chosen: torch.Tensor, transformed: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """``transformed`` where ``chosen`` (B,) is True, ``images`` elsewhere, image by image. Every image is
    transformed and the mask picks: counting or indexing the chosen ones would read the mask's values, a
    device sync per batch on a GPU (tests/test_train_sync.py)."""
    return torch.where(chosen.view(-1, 1, 1, 1), transformed, images)  # mask (B, 1, 1, 1) over C, H, W


def draw_order(names: list[str]) -> list[str]:
    """``names`` in a random order drawn with the CPU generator (``device="cpu"`` on every device): a host
    tensor, so reading it never waits on the GPU."""
    return [names[i] for i in torch.randperm(len(names), device="cpu").tolist()]


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
        factors = self.sample(images.shape[0], images.device)  # one per image, chosen or not
        if not factors:
            return images
        return _where_chosen(chosen, self.apply(images, factors, draw_order(list(factors))), images)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.strengths.items()) + f", p={self.p}"


class BatchGrayscale(nn.Module):
    """``RandomGrayscale(p)``: each RGB image, with probability p, becomes its luma in all 3 channels."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        chosen = torch.rand(images.shape[0], device=images.device) < self.p  # (B,) bool
        return _where_chosen(chosen, _gray(images).expand_as(images), images)  # (B, 1, H, W) → (B, 3, H, W)

    def extra_repr(self) -> str:
        return f"p={self.p}"
