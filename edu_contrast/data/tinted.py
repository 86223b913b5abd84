"""``Tinted``: grayscale images painted in a random colour per image, so colour is an instance shortcut.

A colour stand-in for CIFAR-10 that needs no download (notebook 12). Each grayscale image m ∈ [0, 1]
(a Fashion-MNIST garment, bright on black) becomes an RGB image

    x = m · c_fg + (1 − m) · c_bg,   c_fg ~ U[0, 1]³,   c_bg ~ U[0, background]³,

with its own random colours c_fg, c_bg. The class is in the shape m only; the colours say nothing about
it, but they almost identify the image among a batch — and two crops of one image share them. That is
the shortcut of Chen et al. 2020 (SimCLR, Sec. 3, Fig. 6): without colour distortion, two views of one
image can be matched by their colour histogram alone.
"""

from __future__ import annotations

import torch

from edu_contrast._validation import check_int, check_positive, fail
from edu_contrast.data.datasets import ImageTensors
from edu_contrast.data.suppression import _check_dataset, _resize

__all__ = ["Tinted"]


class Tinted(ImageTensors):
    """``base`` (1-channel) images resized to ``size`` and coloured: x = m·c_fg + (1 − m)·c_bg per image.

    ``foreground_colors`` (N, 3) and ``background_colors`` (N, 3) keep c_fg and c_bg in [0, 1];
    ``background`` bounds c_bg (0 keeps the black background). ``generator`` fixes the colours.
    ``labels`` and ``classes`` are those of ``base``.
    """

    per_sample = ImageTensors.per_sample + ("foreground_colors", "background_colors")

    def __init__(
        self,
        base: ImageTensors,
        *,
        size: int | None = None,
        background: float = 0.3,
        generator: torch.Generator | None = None,
    ):
        where = "Tinted"
        base = _check_dataset(base, "base", where, channels=(1,))
        size = base.size if size is None else check_int(size, "size", where)
        background = check_positive(background, "background", where, allow_zero=True)
        if background > 1:
            fail("background", where, "in [0, 1]", background)
        n = len(base)
        mask = _resize(base.images, size).float().div_(255)  # m, (N, 1, size, size)
        fg = torch.rand(n, 3, generator=generator)  # c_fg, (N, 3)
        bg = torch.rand(n, 3, generator=generator) * background  # c_bg, (N, 3)
        rgb = mask * fg[:, :, None, None] + (1 - mask) * bg[:, :, None, None]  # (N, 3, size, size)
        super().__init__(rgb.mul_(255).round_().to(torch.uint8), base.labels, base.classes)
        self.foreground_colors, self.background_colors = fg, bg
