"""Checker for notebook 05 (feature suppression): build RandBit's extra channels.

``check_randbit_channels(fn)``: ``fn(images, values, bits)`` returns the RandBit image of Chen, Luo & Li 2021
("Intriguing Properties of Contrastive Losses", Sec. 4.1): the C image channels followed by k = ``bits``
constant planes, plane j holding bit j of the image's integer u (least significant first), white (255)
where the bit is 1 and black (0) where it is 0,

    x̃ = [x ; b₀ … b_{k−1}],   b_j = 255 · (⌊u / 2^j⌋ mod 2)  on every pixel,

exactly what ``data.RandBit`` stores. The planes go *last* because augmentation leaves the last
``protected_channels`` channels untouched, so both views share them. The reference is
``lessons.feature_suppression.randbit_channels``; ``check_randbit_channels(fn, fallback=True)`` returns the
function the notebook goes on with (``_registry``).
"""

from __future__ import annotations

import torch

from edu_contrast import data
from edu_contrast.exercises._core import ExerciseError, call_student, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.feature_suppression import randbit_channels

__all__ = ["check_randbit_channels"]


def _reference(images: torch.Tensor, bits: int, seed: int) -> data.RandBit:
    base = data.ImageTensors(images, torch.zeros(len(images), dtype=torch.long), ["x"])
    return data.RandBit(base, bits, generator=torch.Generator().manual_seed(seed))


def _binary(u: int, bits: int) -> str:
    return format(u, f"0{bits}b")


def _diagnose(got: torch.Tensor, images: torch.Tensor, values: torch.Tensor, bits: int, expected, name: str):
    n, c, h, w = images.shape
    if not torch.equal(got[:, :c], images):
        if torch.equal(got[:, bits:].to(images.dtype), images):
            raise ExerciseError(
                f"{name}: the bit planes come first. Put the {c} image channel(s) first and the "
                f"{bits} bit planes after them: augmentation leaves the *last* k channels alone "
                f"(protected_channels), which is what keeps the bits identical in both views."
            )
        raise ExerciseError(f"{name}: the first {c} channel(s) must be the image itself, unchanged.")
    planes, wanted = got[:, c:].long(), expected[:, c:].long()  # (N, k, H, W) each
    if not bool((planes == planes[..., :1, :1]).all()):
        raise ExerciseError(
            f"{name}: a bit plane is not constant: every pixel of plane j must hold the same "
            f"value, 255·(bit j of u) (the bit is 'painted' over the whole image)."
        )
    if torch.equal(planes * 255, wanted):
        raise ExerciseError(
            f"{name}: your planes hold 0 and 1. The images are uint8 in 0…255, so a set bit must "
            f"be 255 (white), like the brightest pixels; 1 would be a nearly black plane."
        )
    if torch.equal(planes.flip(1), wanted):
        u = int(values[1])
        raise ExerciseError(
            f"{name}: the planes are in reverse order. Plane j holds bit j, the 2^j place, least "
            f"significant first: for u = {u} = 0b{_binary(u, bits)} the planes are "
            f"{[int(b) * 255 for b in reversed(_binary(u, bits))]}."
        )
    for i in range(n):
        if not torch.equal(planes[i], wanted[i]):
            u = int(values[i])
            yours = [int(v) for v in planes[i, :, 0, 0]]
            ref = [int(v) for v in wanted[i, :, 0, 0]]
            raise ExerciseError(
                f"{name}: image {i} has u = {u} = 0b{_binary(u, bits)}; its planes (bit 0 first) "
                f"should be {ref}, yours are {yours}. Bit j of u is (u >> j) & 1."
            )


HINT = (
    "Bit j of u is (u >> j) & 1, so (values[:, None] >> torch.arange(bits)) & 1 is all k bits, (N, k),\n"
    "least significant first. Multiply by 255, convert to uint8, add two axes ([:, :, None, None]) and\n"
    ".expand(N, k, H, W) so each plane fills the image; then torch.cat([images, planes], dim=1)."
)


@exercise("randbit_channels", reference=randbit_channels, hint=HINT)
def check_randbit_channels(student_fn) -> bool:
    r"""Check ``student_fn(images, values, bits)`` against ``data.RandBit``.

    ``images``: uint8 ``(N, C, H, W)``; ``values``: int64 ``(N,)`` with u ∈ [0, 2^k); ``bits``: k. The
    function returns uint8 ``(N, C + k, H, W)``. Tried on 8×8 one-channel images and on 5×6 three-channel
    ones. Returns True and prints a confirmation, or raises ``ExerciseError`` naming the mistake.
    """
    name = "check_randbit_channels"
    g = torch.Generator().manual_seed(0)
    for (n, c, h, w), bits in (((6, 1, 8, 8), 3), ((5, 3, 5, 6), 5)):
        images = torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8)
        reference = _reference(images, bits, seed=bits)
        values, expected = reference.bit_labels, reference.images  # (N,), (N, C + k, H, W)
        got = call_student(student_fn, images.clone(), values.clone(), bits, name=name)
        if not isinstance(got, torch.Tensor):
            kind = "None (no return statement?)" if got is None else type(got).__name__
            raise ExerciseError(
                f"{name}: return a torch.Tensor of shape {tuple(expected.shape)}. Got {kind}."
            )
        if got.shape != expected.shape:
            hint = ""
            if got.shape[:2] == (n, bits):
                hint = " You returned only the bit planes: concatenate them after the image channels."
            elif got.dim() == 4 and got.shape[:2] == expected.shape[:2]:
                hint = f" Each bit plane must fill the whole {h} × {w} image (expand it over H and W)."
            raise ExerciseError(
                f"{name}: for {n} images of shape ({c}, {h}, {w}) and k = {bits} bits the result "
                f"should have shape {tuple(expected.shape)} (N, C + k, H, W); yours has "
                f"{tuple(got.shape)}.{hint}"
            )
        if got.dtype != torch.uint8:
            raise ExerciseError(
                f"{name}: return uint8 images like the input (values 0…255). Got {got.dtype}."
            )
        if not torch.equal(got, expected):
            _diagnose(got, images, values, bits, expected, name)
    return passed(name, "the last k channels spell u in binary, 255 for a 1, least significant bit first.")
