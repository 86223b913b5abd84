"""per_image and batched draw the same augmentation distribution, and each matches the config.

Every statistic is measured on an image built so that one number reveals one random parameter
(a coordinate ramp shows the crop box and the flip, a grey image the brightness factor, ...), with a
fixed seed and a tolerance of about 4 standard errors: a wrong range, probability or crop rule fails.
"""

import math

import pytest
import torch
from torchvision import transforms as T
from torchvision.transforms import v2
from torchvision.transforms.v2 import functional as TF

from edu_contrast.augment import (
    AugmentConfig,
    BatchAugment,
    BatchColorJitter,
    BatchResizedCropFlip,
    batched,
    blur_kernel_size,
    crop_boxes,
    hue_shift,
    per_image,
    resize_weights,
)

KINDS = ("per_image", "batched")
OFF = dict(flip_p=0.0, jitter_p=0.0, grayscale_p=0.0, blur_p=0.0, solarize_p=0.0)  # every step off
NO_CROP = dict(crop_scale=(1.0, 1.0), crop_ratio=(1.0, 1.0))  # the whole (square) image


def draw(kind: str, config: AugmentConfig, image: torch.Tensor, n: int, seed: int = 0) -> torch.Tensor:
    """n augmentations of one (C, H, W) image → (n, C, size, size), size = H."""
    torch.manual_seed(seed)
    channels, size = image.shape[0], image.shape[-1]
    if kind == "per_image":
        t = per_image(size, channels, config)
        return torch.stack([t(image) for _ in range(n)])
    t = batched(size, channels, config)
    return t(image.expand(n, -1, -1, -1).contiguous())


def coordinate_image(size: int) -> torch.Tensor:
    """Channel 0 = x / (W−1), channel 1 = y / (H−1), channel 2 = 0: every pixel says where it came from."""
    ramp = torch.linspace(0, 1, size)
    yy, xx = torch.meshgrid(ramp, ramp, indexing="ij")  # (H, W) each
    return torch.stack([xx, yy, torch.zeros_like(xx)])


def crop_box(out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop width and height as fractions of the image side, read from augmented coordinate images.

    The outermost output pixels sample the crop's outermost pixel centres, so the x range seen spans
    w − 1 pixels out of W − 1: w / W = (range · (W − 1) + 1) / W."""
    side = out.shape[-1]
    x_range = out[:, 0].amax((1, 2)) - out[:, 0].amin((1, 2))  # (n,)
    y_range = out[:, 1].amax((1, 2)) - out[:, 1].amin((1, 2))
    return (x_range * (side - 1) + 1) / side, (y_range * (side - 1) + 1) / side


def crop_area_oracle(scale, ratio, n: int, generator: torch.Generator) -> torch.Tensor:
    """Area fraction of the crop box from the Inception/SimCLR rule on a 1×1 image, by Monte Carlo:
    s ~ U(scale), log r ~ U(log ratio), w = √(s r), h = √(s / r), redrawn (10 tries) until w, h ≤ 1."""
    areas = torch.ones(n)  # fallback after 10 failures: the whole image (ratio contains 1)
    pending = torch.ones(n, dtype=torch.bool)
    for _ in range(10):
        s = torch.empty(n).uniform_(*scale, generator=generator)
        r = torch.exp(torch.empty(n).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=generator))
        fits = pending & (torch.sqrt(s * r) <= 1) & (torch.sqrt(s / r) <= 1)
        areas[fits] = s[fits]
        pending &= ~fits
    return areas


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scale", [(0.2, 1.0), (0.5, 0.9)])
def test_crop_area_fraction_follows_the_inception_rule(kind, scale):
    config = AugmentConfig(crop_scale=scale, **OFF)
    width, height = crop_box(draw(kind, config, coordinate_image(64), n=1500))
    area = width * height
    oracle = crop_area_oracle(scale, config.crop_ratio, 50_000, torch.Generator().manual_seed(1))
    assert area.mean().item() == pytest.approx(oracle.mean().item(), abs=0.025)
    q = torch.tensor([0.1, 0.5, 0.9])
    assert torch.allclose(area.quantile(q), oracle.quantile(q), atol=0.04)
    assert area.min().item() >= scale[0] - 0.03
    aspect = width / height
    assert aspect.min().item() >= 3 / 4 - 0.03 and aspect.max().item() <= 4 / 3 + 0.03


def test_per_image_and_batched_crops_agree_with_each_other():
    config = AugmentConfig(**OFF)
    areas = []
    for kind in KINDS:
        width, height = crop_box(draw(kind, config, coordinate_image(64), n=1500, seed=3))
        areas.append(width * height)
    assert areas[0].mean().item() == pytest.approx(areas[1].mean().item(), abs=0.03)
    assert areas[0].std().item() == pytest.approx(areas[1].std().item(), abs=0.03)


@pytest.mark.parametrize("size", [32, 20])  # enlarging (bilinear) and shrinking (antialiased) crops
def test_batch_resized_crop_flip_equals_torchvision_image_by_image(size):
    """BatchResizedCropFlip.apply = torchvision's resized_crop (+ horizontal_flip) on each image with
    its own box, on non-square images, in float64 so that only the formulas can differ."""
    torch.manual_seed(0)
    images = torch.rand(40, 3, 40, 36, dtype=torch.float64)
    crop = BatchResizedCropFlip(size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), flip_p=0.5)
    boxes = crop.sample(40, 40, 36)
    assert 0 < boxes["flip"].sum() < 40
    expected = []
    for image, top, left, h, w, flip in zip(images, *boxes.values()):
        out = TF.resized_crop(image, int(top), int(left), int(h), int(w), [size, size], antialias=True)
        expected.append(TF.horizontal_flip(out) if flip else out)
    got = BatchResizedCropFlip.apply(images, boxes, size)
    assert torch.allclose(got, torch.stack(expected), atol=1e-12)


def test_resize_weights_rows_are_averages_inside_the_crop():
    start, length = torch.tensor([3.0, 0.0]), torch.tensor([5.0, 16.0])
    weights = resize_weights(start, length, in_size=16, out_size=8)  # (2, 8, 16)
    assert torch.allclose(weights.sum(dim=2), torch.ones(2, 8))
    assert (weights[0, :, :3] == 0).all() and (weights[0, :, 8:] == 0).all()  # outside [3, 8)
    # Halving 16 → 8 pixels: each output pixel is σ = 2 wide, weights (1, 3, 3, 1)/8 (edges renormalised).
    assert torch.allclose(weights[1, 3, 5:9], torch.tensor([1.0, 3.0, 3.0, 1.0]) / 8)


def test_crop_boxes_fit_the_image_and_fall_back_to_torchvisions_central_crop():
    torch.manual_seed(0)
    top, left, h, w = crop_boxes(2000, 24, 40, (0.08, 1.0), (3 / 4, 4 / 3))
    assert (top >= 0).all() and (left >= 0).all() and (top + h <= 24).all() and (left + w <= 40).all()
    assert (top == top.round()).all() and (h >= 1).all()
    # No try fits (every box is wider than the image): the central crop of the closest ratio.
    image = torch.zeros(1, 32, 32)
    expected = T.RandomResizedCrop.get_params(image, scale=[1.0, 1.0], ratio=[2.0, 3.0])
    got = crop_boxes(3, 32, 32, (1.0, 1.0), (2.0, 3.0))
    assert all(torch.equal(value, torch.full((3,), float(e))) for value, e in zip(got, expected))
    assert expected == (8, 0, 16, 32)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("flip_p", [0.5, 0.2])
def test_flip_rate(kind, flip_p):
    config = AugmentConfig(**{**OFF, **NO_CROP, "flip_p": flip_p})
    out = draw(kind, config, coordinate_image(8), n=2000)
    flipped = out[:, 0, 0, 0] > out[:, 0, 0, -1]  # the x ramp now decreases
    assert flipped.float().mean().item() == pytest.approx(flip_p, abs=0.04)


@pytest.mark.parametrize("kind", KINDS)
def test_brightness_factor_is_uniform_on_1_plus_minus_strength(kind):
    strength = 0.4
    config = AugmentConfig(**{**OFF, **NO_CROP, "jitter_p": 1.0, "brightness": strength, "contrast": 0.0})
    out = draw(kind, config, torch.full((3, 8, 8), 0.5), n=3000)
    factor = out[:, 0, 0, 0] / 0.5  # brightness multiplies: x ↦ b·x
    assert factor.mean().item() == pytest.approx(1.0, abs=0.01)
    assert factor.std().item() == pytest.approx(2 * strength / math.sqrt(12), abs=0.01)  # std of U(1 ± s)
    assert factor.min().item() >= 1 - strength - 1e-4 and factor.max().item() <= 1 + strength + 1e-4


@pytest.mark.parametrize("kind", KINDS)
def test_jitter_probability(kind):
    config = AugmentConfig(**{**OFF, **NO_CROP, "jitter_p": 0.3, "brightness": 0.4, "contrast": 0.0})
    out = draw(kind, config, torch.full((3, 8, 8), 0.5), n=2000)
    changed = (out[:, 0, 0, 0] - 0.5).abs() > 1e-6
    assert changed.float().mean().item() == pytest.approx(0.3, abs=0.04)


@pytest.mark.parametrize("kind", KINDS)
def test_contrast_on_grayscale_images(kind):
    """x ↦ μ + c·(x − μ) with μ the image mean: a 0.25/0.75 half-and-half image has half-gap 0.25·c."""
    image = torch.full((1, 8, 8), 0.25)
    image[:, :, 4:] = 0.75
    config = AugmentConfig(**{**OFF, **NO_CROP, "jitter_p": 1.0, "brightness": 0.0, "contrast": 0.4})
    out = draw(kind, config, image, n=3000)
    c = (out[:, 0, 0, -1] - out[:, 0, 0, 0]) / 0.5
    assert c.mean().item() == pytest.approx(1.0, abs=0.01)
    assert c.std().item() == pytest.approx(0.8 / math.sqrt(12), abs=0.01)


@pytest.mark.parametrize("kind", KINDS)
def test_saturation_blends_with_the_gray_image(kind):
    """x ↦ g + s·(x − g) with g the luminance: for (0.8, 0.4, 0.4) the red–green gap is 0.4·s."""
    image = torch.tensor([0.8, 0.4, 0.4]).view(3, 1, 1).expand(3, 8, 8)
    config = AugmentConfig(**{**OFF, **NO_CROP, "jitter_p": 1.0, "brightness": 0.0, "contrast": 0.0})
    config = config.replace(saturation=0.4, hue=0.0)
    out = draw(kind, config, image, n=3000)
    s = (out[:, 0, 0, 0] - out[:, 1, 0, 0]) / 0.4
    assert s.mean().item() == pytest.approx(1.0, abs=0.01)
    assert s.std().item() == pytest.approx(0.8 / math.sqrt(12), abs=0.01)


@pytest.mark.parametrize("kind", KINDS)
def test_hue_shift_is_uniform(kind):
    """A pure red pixel rotated by h turns: its hue is h, h ~ U(−0.1, 0.1) → std 0.2/√12."""
    image = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1).expand(3, 8, 8)
    config = AugmentConfig(**{**OFF, **NO_CROP, "jitter_p": 1.0, "brightness": 0.0, "contrast": 0.0})
    config = config.replace(saturation=0.0, hue=0.1)
    out = draw(kind, config, image, n=3000)
    r, g, b = out[:, 0, 0, 0], out[:, 1, 0, 0], out[:, 2, 0, 0]
    hue = torch.where(g >= b, (g - b) / 6, -(b - g) / 6)  # HSV hue of (1, g, b) near red, in turns
    assert hue.mean().item() == pytest.approx(0.0, abs=0.005)
    assert hue.std().item() == pytest.approx(0.2 / math.sqrt(12), abs=0.005)
    assert torch.allclose(r, torch.ones_like(r), atol=1e-4)


def test_hue_shift_equals_torchvisions_adjust_hue_per_image():
    """The closed form against torchvision's RGB → HSV → RGB round trip, one factor per image,
    including gray pixels (no hue), saturated primaries and the ends ±0.5 of the range."""
    torch.manual_seed(0)
    images = torch.rand(12, 3, 9, 9)
    images[0] = 0.4  # gray: unchanged by any hue shift
    images[1] = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    images[2, :, :4] = images[2, :1, :4]  # two equal channels on part of the image
    turns = torch.cat([torch.tensor([0.3, -0.5, 0.5, 0.0]), torch.empty(8).uniform_(-0.5, 0.5)])
    expected = torch.stack([TF.adjust_hue(image, float(t)) for image, t in zip(images, turns)])
    assert torch.allclose(hue_shift(images, turns), expected, atol=1e-5)
    assert torch.allclose(hue_shift(images.double(), turns.double()), expected.double(), atol=1e-5)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float16, 0.01), (torch.bfloat16, 0.06)])
def test_half_precision_stays_finite_and_close(dtype, tolerance):
    """Gray pixels (C = 0) must not divide 0 by 0 in float16, where 1e-12 rounds to 0."""
    torch.manual_seed(0)
    images = torch.rand(64, 3, 8, 8)
    images[:8] = 0.5  # gray images
    turns = torch.empty(64).uniform_(-0.5, 0.5)
    shifted = hue_shift(images.to(dtype), turns)
    assert torch.isfinite(shifted).all()
    assert (shifted.float() - hue_shift(images, turns)).abs().max().item() < tolerance
    out = batched(8, 3, AugmentConfig(jitter_p=1.0, grayscale_p=0.5))(images.to(dtype))
    assert out.dtype == dtype and torch.isfinite(out).all()
    assert out.min().item() >= 0 and out.max().item() <= 1


TORCHVISION_JITTER = {
    "brightness": TF.adjust_brightness,
    "contrast": TF.adjust_contrast,
    "saturation": TF.adjust_saturation,
    "hue": TF.adjust_hue,
}


@pytest.mark.parametrize("channels", [3, 1])
@pytest.mark.parametrize("seed", range(4))
def test_batch_color_jitter_equals_torchvision_image_by_image(channels, seed):
    """BatchColorJitter.apply with given factors and order = torchvision's functional adjust_* on each
    image with its own factor, in the same order (including clamping between the steps)."""
    torch.manual_seed(seed)
    images = torch.rand(10, channels, 7, 7)
    names = ["brightness", "contrast"] + (["saturation", "hue"] if channels == 3 else [])
    order = [names[i] for i in torch.randperm(len(names)).tolist()]
    factors = {name: torch.empty(10).uniform_(-0.5, 0.5) if name == "hue" else torch.empty(10).uniform_(0, 2)
               for name in names}  # fmt: skip
    expected = []
    for i, image in enumerate(images):
        for name in order:
            image = TORCHVISION_JITTER[name](image, float(factors[name][i]))
        expected.append(image)
    assert torch.allclose(BatchColorJitter.apply(images, factors, order), torch.stack(expected), atol=1e-5)


def test_batch_color_jitter_leaves_unchosen_images_alone():
    torch.manual_seed(0)
    images = torch.rand(400, 3, 4, 4)
    out = BatchColorJitter(0.4, 0.4, 0.4, 0.1, p=0.3)(images)
    unchanged = (out == images).flatten(1).all(dim=1).float().mean().item()
    assert unchanged == pytest.approx(0.7, abs=4 * math.sqrt(0.21 / 400))
    assert torch.equal(BatchColorJitter(0.4, 0.4, 0.4, 0.1, p=0.0)(images), images)


@pytest.mark.parametrize("kind", KINDS)
def test_grayscale_rate(kind):
    image = torch.tensor([0.9, 0.1, 0.1]).view(3, 1, 1).expand(3, 8, 8)
    config = AugmentConfig(**{**OFF, **NO_CROP, "grayscale_p": 0.2})
    out = draw(kind, config, image, n=2000)
    gray = (out[:, 0, 0, 0] - out[:, 1, 0, 0]).abs() < 1e-4
    assert gray.float().mean().item() == pytest.approx(0.2, abs=0.035)
    assert out[gray, 0, 0, 0].sub(0.299 * 0.9 + 0.587 * 0.1 + 0.114 * 0.1).abs().max().item() < 1e-3


@pytest.mark.parametrize("kind", KINDS)
def test_solarize_rate_and_rule(kind):
    image = torch.full((3, 8, 8), 0.9)
    image[:, :, :4] = 0.3  # below the 0.5 threshold: never inverted
    config = AugmentConfig(**{**OFF, **NO_CROP, "solarize_p": 0.3})
    out = draw(kind, config, image, n=2000)
    solarized = (out[:, 0, 0, -1] - 0.1).abs() < 1e-5  # 0.9 ↦ 1 − 0.9
    assert solarized.float().mean().item() == pytest.approx(0.3, abs=0.04)
    assert torch.allclose(out[:, :, :, :4], torch.full_like(out[:, :, :, :4], 0.3))


def checkerboard_blur_gains(sigma_range, n: int = 100_001) -> torch.Tensor:
    """The 3×3 Gaussian blur's gain on a ±1 checkerboard for σ on a fine grid of sigma_range.

    The 1-D kernel is (e, 1, e)/(1 + 2e), e = exp(−1/(2σ²)); on (−1)^i it gives (1 − 2e)/(1 + 2e),
    and the separable 2-D blur gives its square."""
    sigmas = torch.linspace(*sigma_range, n, dtype=torch.float64)
    e = torch.exp(-1 / (2 * sigmas**2))
    return ((1 - 2 * e) / (1 + 2 * e)) ** 2


@pytest.mark.parametrize("kind", KINDS)
def test_blur_sigma_and_rate_on_a_checkerboard(kind):
    """gain = 1 without blur (probability 1 − p), g(σ) with σ ~ U(0.1, 2) otherwise."""
    assert blur_kernel_size(32) == 3 and blur_kernel_size(224) == 23 and blur_kernel_size(8) == 3
    i = torch.arange(32)
    board = 0.5 + 0.5 * (-1.0) ** (i[:, None] + i[None, :])  # (32, 32), 0/1 checkerboard
    image = board.expand(3, 32, 32).contiguous()
    p = 0.5
    config = AugmentConfig(**{**OFF, **NO_CROP, "blur_p": p})
    out = draw(kind, config, image, n=2000)
    gain = (out[:, 0, 10, 10] - 0.5).abs() / 0.5
    oracle = checkerboard_blur_gains(config.blur_sigma)
    assert gain.mean().item() == pytest.approx((1 - p) + p * oracle.mean().item(), abs=0.02)
    for level in (0.1, 0.5, 0.9):  # the whole distribution, not just its mean
        expected = p * (oracle < level).double().mean().item()
        assert (gain < level).float().mean().item() == pytest.approx(expected, abs=0.04)


def test_batched_draws_independent_parameters_per_sample():
    torch.manual_seed(0)
    aug = batched(32, 3, AugmentConfig())
    x = torch.rand(1, 3, 32, 32).expand(64, -1, -1, -1).contiguous()
    out = aug(x)
    flat = out.flatten(1)  # (64, 3·32·32)
    distances = torch.cdist(flat, flat) + torch.eye(64) * 1e3
    assert distances.min().item() > 1e-3  # no two samples got the same transformation
    assert not torch.equal(aug(x), out)  # and a new call draws again
    # A CPU batch larger than one chunk: every chunk draws its own parameters.
    many = aug(torch.rand(1, 3, 32, 32).expand(2 * BatchAugment.cpu_chunk + 5, -1, -1, -1).contiguous())
    assert many.shape == (2 * BatchAugment.cpu_chunk + 5, 3, 32, 32)
    flat = many.flatten(1)
    assert (torch.cdist(flat, flat) + torch.eye(len(flat)) * 1e3).min().item() > 1e-3


@pytest.mark.parametrize("kind", KINDS)
def test_grayscale_data_skips_colour_steps(kind):
    config = AugmentConfig(jitter_p=1.0, grayscale_p=1.0, saturation=0.4, hue=0.1, blur_p=0.5, solarize_p=0.2)
    out = draw(kind, config, torch.rand(1, 28, 28), n=8)
    assert out.shape == (8, 1, 28, 28)
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0
    modules = per_image(28, 1, config).modules() if kind == "per_image" else batched(28, 1, config).modules()
    names = {type(m).__name__ for m in modules}
    assert "RandomGrayscale" not in names and "BatchGrayscale" not in names


@pytest.mark.parametrize("kind", KINDS)
def test_protected_channels_are_identical_in_both_views(kind):
    """RandBit: 3 image channels + 2 constant bit planes; the bits must survive augmentation exactly."""
    torch.manual_seed(0)
    bits = torch.tensor([1.0, 0.0]).view(2, 1, 1).expand(2, 40, 40)
    x = torch.cat([torch.rand(3, 40, 40), bits])  # (5, 40, 40), resized to 32 by the crop
    config = AugmentConfig.strong()
    if kind == "per_image":
        t = per_image(32, 5, config, protected_channels=2)
        v1, v2_ = t(x), t(x)
    else:
        t = batched(32, 5, config, protected_channels=2)
        v1, v2_ = t(x[None].expand(4, -1, -1, -1).contiguous()).unbind(0)[:2]
    expected = bits[:, :32, :32]
    assert torch.equal(v1[3:], expected) and torch.equal(v2_[3:], expected)
    assert not torch.equal(v1[:3], v2_[:3])


def test_per_image_is_a_torchvision_v2_pipeline_and_batched_a_module():
    assert isinstance(per_image(32, 3), v2.Compose)
    assert isinstance(batched(32, 3), BatchAugment) and isinstance(batched(32, 3), torch.nn.Module)


def test_presets():
    default = AugmentConfig()
    assert default.crop_scale == (0.2, 1.0) and default.jitter_p == 0.8 and default.blur_p == 0.0
    weak, strong = AugmentConfig.weak(), AugmentConfig.strong()
    assert weak.crop_scale[0] > strong.crop_scale[0] and weak.jitter_p == 0 and weak.grayscale_p == 0
    assert strong.blur_p > 0 and strong.solarize_p > 0
    assert AugmentConfig.for_size(8).flip_p == 0 and AugmentConfig.for_size(8).crop_scale[0] >= 0.4
    assert AugmentConfig.for_size(32) == default and AugmentConfig.for_size(224).blur_p == 0.5


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"flip_p": 1.5}, "'flip_p' parameter of AugmentConfig"),
        ({"crop_scale": (0.9, 0.2)}, "'crop_scale'"),
        ({"crop_scale": (0.0, 1.0)}, "'crop_scale'"),
        ({"hue": 0.6}, "'hue'"),
        ({"brightness": -0.1}, "'brightness'"),
        ({"blur_sigma": (2.0, 0.1)}, "'blur_sigma'"),
    ],
)
def test_bad_config_raises(changes, match):
    with pytest.raises(ValueError, match=match):
        AugmentConfig(**changes)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="'channels' parameter of per_image"):
        per_image(32, 2)
    with pytest.raises(ValueError, match="'protected_channels' parameter of batched"):
        batched(32, 3, protected_channels=3)
    with pytest.raises(ValueError, match="'channels' parameter of batched"):
        batched(32, 5, protected_channels=1)  # 4 augmented channels: neither gray nor RGB
    with pytest.raises(TypeError, match="'config' parameter of per_image"):
        per_image(32, 3, config={"flip_p": 0.5})
    with pytest.raises(TypeError, match="'size' parameter of batched"):
        batched(32.0, 3)
    aug = batched(32, 3)
    with pytest.raises(ValueError, match=r"shape \(batch, 3, H, W\)"):
        aug(torch.rand(2, 1, 32, 32))
    with pytest.raises(TypeError, match="float tensor"):
        aug(torch.zeros(2, 3, 32, 32, dtype=torch.uint8))
