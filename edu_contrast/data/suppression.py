"""The feature-suppression datasets of Chen, Luo & Li 2021 ("Intriguing Properties of Contrastive
Losses", Sec. 4.1): images in which an easy feature competes with the one a probe asks for.

- ``RandBit``: random bits as extra constant channels, shared by both views.
- ``MultiDigits``: a large and a small digit on one canvas.
- ``DigitOnImage``: a digit stamped on a natural image.

Each is an ``ImageTensors`` (``datasets.py``) that also keeps the labels of the competing feature.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edu_contrast._validation import check_choice, check_int, fail
from edu_contrast.data.datasets import ImageTensors

__all__ = ["RandBit", "MultiDigits", "DigitOnImage"]


def _check_dataset(value, name: str, where: str, channels: tuple[int, ...] | None = None) -> ImageTensors:
    if not isinstance(value, ImageTensors):
        fail(
            name,
            where,
            "an ImageTensors (from load_dataset)",
            f"an object of type {type(value).__name__}",
            TypeError,
        )
    if channels is not None and value.channels not in channels:
        fail(
            name, where, f"an ImageTensors with {' or '.join(map(str, channels))} channel(s)", value.channels
        )
    return value


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` → uint8 ``(N, C, size, size)``, bilinear with antialiasing."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    resized = F.interpolate(
        images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
    )
    return resized.round_().clamp_(0, 255).to(torch.uint8)


def _paste_max(canvas: torch.Tensor, patches: torch.Tensor, top_left: torch.Tensor) -> None:
    """canvas[n, :, y:y+p, x:x+p] = max(canvas, patches[n]) in place; ``top_left`` ``(N, 2)`` = (y, x)."""
    p = patches.shape[-1]
    offsets = torch.arange(p)
    rows = (top_left[:, 0, None] + offsets)[:, None, :, None]  # (N, 1, p, 1)
    cols = (top_left[:, 1, None] + offsets)[:, None, None, :]  # (N, 1, 1, p)
    n = torch.arange(len(canvas))[:, None, None, None]  # (N, 1, 1, 1)
    c = torch.arange(canvas.shape[1])[None, :, None, None]  # (1, C, 1, 1)
    canvas[n, c, rows, cols] = torch.maximum(canvas[n, c, rows, cols], patches)


class RandBit(ImageTensors):
    """RandBit: ``base`` images with k = ``bits`` constant channels that spell a random integer.

        x̃ = [x ; b₁ … b_k],  b_j = 255 · (j-th bit of u) on every pixel,  u ~ U{0, …, 2^k − 1}

    u is drawn once per image (``bit_labels``), so both views of x̃ share it: I(view₁; view₂) ≥ k bits
    of a feature that is useless for ``labels`` but trivially easy to learn. Contrastive learning latches
    on to it and stops learning x (Chen, Luo & Li 2021, Sec. 4.4, Fig. 7). Augment only the first C
    channels: ``augment.batched(size, C + k, config, protected_channels=dataset.protected_channels)``.

    ``generator`` fixes the draw of u. ``labels`` and ``classes`` are those of ``base``.
    """

    per_sample = ImageTensors.per_sample + ("bit_labels",)

    def __init__(self, base: ImageTensors, bits: int, *, generator: torch.Generator | None = None):
        base = _check_dataset(base, "base", "RandBit")
        bits = check_int(bits, "bits", "RandBit")
        if bits > 62:
            fail("bits", "RandBit", "<= 62 (an int64 label)", bits)
        n, _, h, w = base.images.shape
        values = torch.randint(0, 2**bits, (n,), generator=generator)  # u, (N,)
        planes = (values[:, None] >> torch.arange(bits)) & 1  # (N, k), bit j of u
        planes = (planes * 255).to(torch.uint8)[:, :, None, None].expand(n, bits, h, w)  # (N, k, H, W)
        super().__init__(torch.cat([base.images, planes], dim=1), base.labels, base.classes)
        self.bits = bits
        self.bit_labels = values
        self.protected_channels = bits
        self.base_channels = base.channels


class MultiDigits(ImageTensors):
    """MultiDigits with two digits: a small and a large one on one blank canvas, not overlapping.

        x̃ = max(place(resize(d_large, L), p_large), place(resize(d_small, S), p_small))   (canvas × canvas)

    With L ≫ S, SimCLR learns the large digit and hardly the small one (Chen, Luo & Li 2021, Sec. 4.3,
    Table 4): the dominant object suppresses the other. ``base`` is a 1-channel dataset (digits or
    Fashion-MNIST); image i's large digit is ``base[i]``, its small digit ``base[partner[i]]`` with
    partner a random permutation. ``small_size`` = S, ``large_size`` = L, ``canvas`` the side (≥ S + L).

    Labels: ``labels_large`` and ``labels_small``; ``labels`` is ``labels_large``. ``only="small"``
    or ``"large"`` draws just that digit (same positions): the paper's linear-probe sets. Positions
    (top-left corners, ``(N, 2)`` as (y, x)) are in ``positions_large`` and ``positions_small``.
    """

    per_sample = ImageTensors.per_sample + (
        "labels_small",
        "labels_large",
        "positions_small",
        "positions_large",
    )

    def __init__(
        self,
        base: ImageTensors,
        small_size: int = 8,
        large_size: int = 16,
        canvas: int = 32,
        *,
        only: str | None = None,
        generator: torch.Generator | None = None,
    ):
        where = "MultiDigits"
        base = _check_dataset(base, "base", where, channels=(1,))
        small_size = check_int(small_size, "small_size", where)
        large_size = check_int(large_size, "large_size", where, minimum=small_size)
        canvas = check_int(canvas, "canvas", where, minimum=small_size + large_size)
        if only is not None:
            check_choice(only, "only", where, ("small", "large"))
        n = len(base)
        partner = torch.randperm(n, generator=generator)
        positions_large, positions_small = self._place(n, small_size, large_size, canvas, generator)
        image = torch.zeros(n, 1, canvas, canvas, dtype=torch.uint8)
        if only != "small":
            _paste_max(image, _resize(base.images, large_size), positions_large)
        if only != "large":
            _paste_max(image, _resize(base.images[partner], small_size), positions_small)
        super().__init__(image, base.labels, base.classes)
        self.labels_large, self.labels_small = base.labels, base.labels[partner]
        self.positions_large, self.positions_small = positions_large, positions_small
        self.small_size, self.large_size = small_size, large_size

    @staticmethod
    def _place(n: int, small: int, large: int, canvas: int, generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Uniform top-left corners (y, x) of both boxes, redrawn where they overlap (rejection sampling:
        uniform over the non-overlapping pairs; canvas ≥ S + L guarantees such pairs exist)."""
        large_at = torch.empty(n, 2, dtype=torch.int64)
        small_at = torch.empty(n, 2, dtype=torch.int64)
        pending = torch.arange(n)
        while len(pending):
            la = torch.randint(0, canvas - large + 1, (len(pending), 2), generator=generator)
            sa = torch.randint(0, canvas - small + 1, (len(pending), 2), generator=generator)
            apart = ((sa >= la + large) | (la >= sa + small)).any(dim=1)  # separated along y or x
            large_at[pending[apart]], small_at[pending[apart]] = la[apart], sa[apart]
            pending = pending[~apart]
        return large_at, small_at


class DigitOnImage(ImageTensors):
    """DigitOnImage: a digit added to a natural image, repeated on a grid×grid layout of fixed cells.

        x̃ = clip(x + Σ_cells place(resize(d, s), cell), 0, 255)   (added to every colour channel)

    Both the image class (``labels``) and the digit (``digit_labels``) are shared by two crops of x̃.
    With few distinct digits, the digit is the easier feature and suppresses learning the image
    (Chen, Luo & Li 2021, Sec. 4.2, Fig. 6: "DigitOnImageNet"). ``digits``: a 1-channel dataset;
    ``images``: natural images (CIFAR-10, or ``make_fake_cifar10`` offline). Each image gets a random
    digit from a pool of ``num_unique`` digit images (all by default: use all for a test set).
    ``digit_size`` = s defaults to the cell side ⌊size / grid⌋.
    """

    per_sample = ImageTensors.per_sample + ("digit_labels", "digit_index")

    def __init__(
        self,
        digits: ImageTensors,
        images: ImageTensors,
        *,
        num_unique: int | None = None,
        grid: int = 3,
        digit_size: int | None = None,
        generator: torch.Generator | None = None,
    ):
        where = "DigitOnImage"
        digits = _check_dataset(digits, "digits", where, channels=(1,))
        images = _check_dataset(images, "images", where)
        grid = check_int(grid, "grid", where)
        cell = images.size // grid
        if cell < 1:
            fail("grid", where, f"<= the image size {images.size}", grid)
        digit_size = cell if digit_size is None else check_int(digit_size, "digit_size", where)
        if digit_size > cell:
            fail("digit_size", where, f"<= the cell side {cell} (= {images.size} // grid)", digit_size)
        pool_size = len(digits) if num_unique is None else check_int(num_unique, "num_unique", where)
        if pool_size > len(digits):
            fail("num_unique", where, f"<= the number of digits {len(digits)}", pool_size)
        pool = torch.randperm(len(digits), generator=generator)[:pool_size]
        digit_index = pool[torch.randint(0, pool_size, (len(images),), generator=generator)]  # (N,)
        stamp = _resize(digits.images[digit_index], digit_size).to(torch.int16)  # (N, 1, s, s)
        overlay = torch.zeros(len(images), 1, images.size, images.size, dtype=torch.int16)
        margin = (cell - digit_size) // 2
        for gy in range(grid):
            for gx in range(grid):
                y, x = gy * cell + margin, gx * cell + margin
                overlay[:, :, y : y + digit_size, x : x + digit_size] = stamp
        combined = (images.images.to(torch.int16) + overlay).clamp_(0, 255).to(torch.uint8)  # (N, C, H, W)
        super().__init__(combined, images.labels, images.classes)
        self.digit_labels, self.digit_index = digits.labels[digit_index], digit_index
        self.digit_classes = digits.classes
        self.num_unique, self.grid, self.digit_size = pool_size, grid, digit_size
