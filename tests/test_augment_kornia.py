"""augment.BatchColorJitter against kornia.augmentation.ColorJitter (the reference implementation).

Step by step with the same factor (like with like: the formulas agree), then in distribution: many
jittered draws of one image, same s, per-channel mean and standard deviation compared by the z-score of
the difference of means and the Kolmogorov–Smirnov distance, with thresholds sized from the sampling
noise — and a real difference (s = 0.5 against s = 1, and 0.5 against 0.6) must be caught.
"""

import math

import kornia.enhance as KE
import pytest
import torch

from edu_contrast.augment import BatchColorJitter
from edu_contrast.lessons import augmentation as lesson

DRAWS = 2000
BATCH = 8  # images per call; each call draws one order of the four steps in both implementations
# KS at α = 1e-4 per column: D_crit = c(α)·√((n + m)/(n·m)), c(α) = √(−½ ln(α/2)) (asymptotic);
# 2 strengths × 6 columns = 12 tests, so a false alarm has probability ≤ 1.2e-3.
ALPHA = 1e-4
KS_CRITICAL = math.sqrt(-0.5 * math.log(ALPHA / 2)) * math.sqrt(2 / DRAWS)
# z of two means: |z| > 4.5 has probability 7e-6 for independent draws; the shared order within a call
# makes the draws slightly dependent, which the margin absorbs.
Z_CRITICAL = 4.5


def _image(seed=0):
    """A smooth colourful (3, 16, 16) image: every hue and a range of saturations and values."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, 4, 4, generator=generator)
    return torch.nn.functional.interpolate(coarse, size=(16, 16), mode="bilinear", align_corners=False)[0]


def _summaries(name, strength, seed):
    jitter = lesson.color_jitters(strength)[name]
    return lesson.channel_summaries(jitter, _image(), DRAWS, seed=seed, batch=BATCH)


@pytest.mark.parametrize(
    "step, kornia_fn, factor",
    [
        ("brightness", KE.adjust_brightness_accumulative, 1.3),
        ("contrast", KE.adjust_contrast_with_mean_subtraction, 0.6),
        ("saturation", KE.adjust_saturation_with_gray_subtraction, 1.4),
        ("hue", lambda x, f: KE.adjust_hue(x, f * 2 * math.pi), 0.15),  # kornia's hue is in radians
    ],
)
def test_each_step_agrees_with_kornia_for_the_same_factor(step, kornia_fn, factor):
    images = torch.stack([_image(seed) for seed in range(4)])  # (4, 3, 16, 16)
    ours = BatchColorJitter.apply(images, {step: torch.full((4,), factor)}, [step])
    theirs = kornia_fn(images, torch.full((4,), factor)).clamp(0, 1)
    # the gray weights differ in the 4th decimal (0.2989 vs kornia's 0.299): ≤ 1e-3 after a blend
    assert (ours - theirs).abs().max() < 1e-3


@pytest.mark.parametrize("strength", [0.5, 1.0])
def test_package_and_kornia_agree_in_distribution(strength):
    ours, kornia = _summaries("augment", strength, seed=0), _summaries("kornia", strength, seed=1)
    agreement = lesson.jitter_agreement(ours, kornia)
    assert abs(agreement["z"]).max() < Z_CRITICAL, agreement
    assert agreement["ks"].max() < KS_CRITICAL, agreement


@pytest.mark.parametrize("other", [1.0, 0.6])
def test_a_real_difference_in_strength_is_caught(other):
    ours, kornia = _summaries("augment", 0.5, seed=0), _summaries("kornia", other, seed=1)
    agreement = lesson.jitter_agreement(ours, kornia)
    assert abs(agreement["z"]).max() > Z_CRITICAL or agreement["ks"].max() > KS_CRITICAL, agreement


def test_the_same_implementation_with_other_seeds_agrees():
    """The thresholds are not too tight: two independent samples of one distribution pass them."""
    agreement = lesson.jitter_agreement(
        _summaries("augment", 0.5, seed=2), _summaries("augment", 0.5, seed=3)
    )
    assert abs(agreement["z"]).max() < Z_CRITICAL and agreement["ks"].max() < KS_CRITICAL, agreement


def test_jitter_agreement_of_known_samples():
    """z and D computed by hand on tiny samples."""
    a = torch.tensor([[0.0], [1.0], [2.0], [3.0]]).expand(-1, 6)
    b = torch.tensor([[2.0], [3.0], [4.0], [5.0]]).expand(-1, 6)
    result = lesson.jitter_agreement(a, b)
    # means 1.5 and 3.5, variances 5/3 each: z = −2 / √(2·(5/3)/4) = −2/√(5/6)
    assert result["z"] == pytest.approx([-2 / math.sqrt(5 / 6)] * 6)
    assert result["ks"] == pytest.approx([0.5] * 6)  # F_a(1) = 1/2, F_b(1) = 0
