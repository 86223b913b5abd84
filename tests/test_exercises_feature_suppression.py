"""Notebook 05 checker: the RandBit channels, reference and typical mistakes."""

from __future__ import annotations

import pytest
import torch

from edu_contrast import exercises
from edu_contrast.exercises import ExerciseError
from edu_contrast.exercises.feature_suppression import check_randbit_channels
from edu_contrast.lessons import feature_suppression as lesson


def planes_of(values, bits, h, w):
    bit = (values[:, None] >> torch.arange(bits)) & 1  # (N, k)
    return (bit * 255).to(torch.uint8)[:, :, None, None].expand(-1, -1, h, w)  # (N, k, H, W)


def reference(images, values, bits):
    n, _, h, w = images.shape
    return torch.cat([images, planes_of(values, bits, h, w)], dim=1)


def with_a_loop(images, values, bits):
    out = torch.zeros(images.shape[0], images.shape[1] + bits, *images.shape[2:], dtype=torch.uint8)
    out[:, : images.shape[1]] = images
    for i, u in enumerate(values.tolist()):
        for j in range(bits):
            out[i, images.shape[1] + j] = 255 * ((u >> j) & 1)
    return out


def bits_first(images, values, bits):
    n, _, h, w = images.shape
    return torch.cat([planes_of(values, bits, h, w), images], dim=1)


def zero_one_planes(images, values, bits):
    n, _, h, w = images.shape
    return torch.cat([images, planes_of(values, bits, h, w) // 255], dim=1)


def most_significant_first(images, values, bits):
    n, _, h, w = images.shape
    return torch.cat([images, planes_of(values, bits, h, w).flip(1)], dim=1)


def only_planes(images, values, bits):
    n, _, h, w = images.shape
    return planes_of(values, bits, h, w)


def one_pixel_planes(images, values, bits):
    return torch.cat([images[:, :, :1, :1], planes_of(values, bits, 1, 1)], dim=1)


def float_result(images, values, bits):
    return reference(images, values, bits).float()


def ignores_values(images, values, bits):
    return reference(
        images, torch.randint(0, 2**bits, values.shape, generator=torch.Generator().manual_seed(9)), bits
    )


def plane_off_by_one(images, values, bits):
    return reference(images, values + 1, bits)


def one_hot_pixel(images, values, bits):
    out = reference(images, values, bits).clone()
    out[:, -1, 0, 0] = 128  # a mark in one corner: the plane is no longer constant
    return out


def returns_nothing(images, values, bits):
    reference(images, values, bits)


def test_reference_passes(capsys):
    assert check_randbit_channels(reference) is True
    assert check_randbit_channels(with_a_loop) is True
    assert "least significant bit first" in capsys.readouterr().out


def test_is_reexported():
    assert exercises.check_randbit_channels is check_randbit_channels


@pytest.mark.parametrize(
    ("student", "message"),
    [
        (bits_first, r"the bit planes come first\. .*last\* k channels"),
        (zero_one_planes, r"your planes hold 0 and 1\. .* must be 255"),
        (most_significant_first, r"reverse order\. Plane j holds bit j, the 2\^j place"),
        (
            only_planes,
            r"should have shape \(6, 4, 8, 8\) .* yours has \(6, 3, 8, 8\)\. You returned only the bit "
            r"planes",
        ),
        (one_pixel_planes, r"yours has \(6, 4, 1, 1\)\. Each bit plane must fill the whole 8 × 8 image"),
        (float_result, r"return uint8 images .* Got torch\.float32"),
        (ignores_values, r"image \d has u = \d+ = 0b\d{3}; its planes \(bit 0 first\) should be"),
        (plane_off_by_one, r"its planes \(bit 0 first\) should be \[.*\], yours are \[.*\]\. Bit j of u is"),
        (one_hot_pixel, r"a bit plane is not constant"),
        (returns_nothing, r"return a torch\.Tensor of shape \(6, 4, 8, 8\)\. Got None"),
    ],
)
def test_mistakes_are_named(student, message):
    with pytest.raises(ExerciseError, match=message):
        check_randbit_channels(student)


def test_reference_matches_randbit_for_every_value():
    """The checker's reference is data.RandBit: all 2^k integers give the planes of their binary digits."""
    from edu_contrast.data import ImageTensors, RandBit

    base = ImageTensors(torch.zeros(64, 1, 2, 2, dtype=torch.uint8), torch.zeros(64, dtype=torch.long), ["x"])
    randbit = RandBit(base, 4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(reference(base.images, randbit.bit_labels, 4), randbit.images)


# ----------------------------------------------------------------------------- the exercise convention

NAMED = [  # (wrong function, words its message must contain)
    (bits_first, "the bit planes come first"),
    (zero_one_planes, "your planes hold 0 and 1"),
    (most_significant_first, "reverse order"),
    (only_planes, "You returned only the bit planes"),
    (one_pixel_planes, "Each bit plane must fill the whole"),
    (float_result, "return uint8 images"),
    (ignores_values, "its planes (bit 0 first) should be"),
    (one_hot_pixel, "a bit plane is not constant"),
    (returns_nothing, "no return statement"),
]


def test_verify_checker_accepts_the_reference_and_names_every_mistake():
    exercises.verify_checker(check_randbit_channels, lesson.randbit_channels, NAMED)


def test_hint_and_show_solution_print_the_signature_and_the_reference(capsys):
    exercises.hint("randbit_channels")
    out = capsys.readouterr().out
    assert out.startswith("randbit_channels(images") and "values" in out and "(u >> j) & 1" in out
    exercises.show_solution("randbit_channels")
    out = capsys.readouterr().out
    assert "edu_contrast.lessons.feature_suppression.randbit_channels" in out
    assert (
        "def randbit_channels(images" in out
        and "from edu_contrast.lessons.feature_suppression import bit_targets" in out
    )


def test_fallback_uses_the_students_function_once_it_passes(capsys):
    assert check_randbit_channels(with_a_loop, fallback=True) is with_a_loop
    assert "uses your randbit_channels" in capsys.readouterr().out


def test_fallback_uses_the_reference_for_a_stub_or_a_mistake(capsys):
    def stub(images, values, bits):
        raise NotImplementedError("bits of u, 255 · bit, expand over H and W, cat after the image")

    assert check_randbit_channels(stub, fallback=True) is lesson.randbit_channels
    out = capsys.readouterr().out
    assert "not written yet" in out and "edu_contrast.lessons.feature_suppression.randbit_channels" in out
    assert check_randbit_channels(bits_first, fallback=True) is lesson.randbit_channels
    assert "the bit planes come first" in capsys.readouterr().out
