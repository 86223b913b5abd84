r"""Notebook 05: easy shared features crowd out the ones we want (Chen, Luo & Li 2021, Sec. 4).

"Intriguing Properties of Contrastive Losses" builds datasets whose two views share two *competing*
features and measures, with linear probes on the frozen encoder features h = f(x), which of them
contrastive learning picks up:

- **RandBit** (Sec. 4.4, Fig. 7): k constant channels spell a random integer u ∈ {0, …, 2^k − 1} that
  both views share, so I(x̃⁽¹⁾; x̃⁽²⁾) ≥ k bits of a feature useless for the label y and trivially easy
  to read. ``randbit_channels`` builds x̃ (the exercise's reference); ``randbit_run(k)`` trains SimCLR
  and probes h for y (the content) and for each bit of u:

      content_accuracy = acc(linear probe h ↦ y),   bit_accuracy = (1/k) Σ_j acc(linear probe h ↦ b_j),
      b_j = ⌊u / 2^j⌋ mod 2,   erank_h = exp H(σ/Σσ) of the test h (``measure``'s definition).

- **MultiDigits** (Sec. 4.3, Table 4): a small digit (side S) and a large one (side L) on one canvas.
  As L grows, SimCLR encodes the large digit and drops the small one; a supervised network trained on
  both labels (``methods.TwoDigitClassifier``) does not. ``multidigits_run(L, method)`` trains one of
  them and probes h for each digit.

``randbit_effects`` names what the RandBit check asserts: SimCLR's content probe against the untrained
encoder fed the same bits (the bits probe cannot tell them apart). Every run returns a plain dict of
numbers (and 2-D coordinates for plots), so ``cached_run`` can keep it for the session or as JSON on
disk, and ``widgets.feature_suppression`` browses the runs.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from edu_contrast import augment, data, diagnostics, measure, methods, probes, train
from edu_contrast._validation import check_choice, check_int, check_labels, check_positive, fail
from edu_contrast.lessons._cache import cache_key, cached
from edu_contrast.lessons._feature_suppression_effects import check_effect, randbit_effects

__all__ = [
    "QUICK_SETTINGS",
    "LAB_SETTINGS",
    "FULL_SETTINGS",
    "RANDBIT_METHODS",
    "MULTIDIGITS_METHODS",
    "bit_targets",
    "randbit_channels",
    "bit_probe_accuracy",
    "two_digit_labels",
    "multidigits_examples",
    "pca_2d",
    "randbit_data",
    "train_simclr",
    "randbit_probes",
    "randbit_run",
    "multidigits_run",
    "cached_run",
    "randbit_effects",
    "check_effect",
]

# Training recipes (SmallConvNet width, AdamW learning rate): quick mode runs a whole RandBit sweep
# (8 runs) in about 20 s of CPU time on 8×8 digits; lab mode trains on a few thousand 28×28
# Fashion-MNIST images; full mode trains 6× longer than quick, twice as wide.
QUICK_SETTINGS = {"epochs": 5, "width": 16, "batch_size": 128, "lr": 2e-3}
LAB_SETTINGS = {"epochs": 6, "width": 16, "batch_size": 128, "lr": 2e-3}
FULL_SETTINGS = {"epochs": 30, "width": 32, "batch_size": 128, "lr": 2e-3}
MULTIDIGITS_METHODS = ("simclr", "supervised", "random")
RANDBIT_METHODS = ("simclr", "random")


def bit_targets(values: torch.Tensor, bits: int) -> torch.Tensor:
    """b_j = ⌊u / 2^j⌋ mod 2 for j = 0 … k − 1: the (N, k) int64 bits of the integers u (N,), least first."""
    bits = check_int(bits, "bits", "bit_targets")
    values = torch.as_tensor(values)
    values = check_labels(values, values.shape[0] if values.dim() else 0, "values", "bit_targets")
    return (values[:, None] >> torch.arange(bits)) & 1  # (N, k)


def randbit_channels(images: torch.Tensor, values: torch.Tensor, bits: int) -> torch.Tensor:
    r"""RandBit's image (Chen, Luo & Li 2021, Sec. 4.4): the C image channels, then k constant bit planes,

        x̃ = [x ; b_0 … b_{k−1}],   b_j = 255 · (⌊u / 2^j⌋ mod 2)  on every pixel,

    plane j white where bit j of the image's integer u is 1 (least significant first, ``bit_targets``), as
    ``data.RandBit`` stores it. ``images``: uint8 ``(N, C, H, W)``; ``values``: the integers u, ``(N,)``;
    ``bits``: k ≥ 1. Returns uint8 ``(N, C + k, H, W)``. The planes go last: augmentation leaves the last
    ``protected_channels`` = k channels alone, so both views share u.
    """
    where = "randbit_channels"
    if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
        got = (
            f"dtype {images.dtype}, shape {tuple(images.shape)}"
            if isinstance(images, torch.Tensor)
            else images
        )
        fail("images", where, "a uint8 tensor of shape (N, C, H, W)", got, TypeError)
    n, _, height, width = images.shape
    bit = bit_targets(values, bits)  # (N, k): bit j of u
    if len(bit) != n:
        fail("values", where, f"one integer u per image ({n})", f"{len(bit)} values")
    planes = (255 * bit).to(torch.uint8)[:, :, None, None].expand(n, bits, height, width)  # (N, k, H, W)
    return torch.cat([images, planes], dim=1)  # (N, C + k, H, W)


def bit_probe_accuracy(train_h, train_values, test_h, test_values, bits: int) -> float:
    r"""Mean over j of the linear-probe test accuracy for bit b_j of u (one logistic regression per bit).

        acc_bits = (1/k) Σ_j acc(probe_j),   probe_j: h ↦ b_j

    1.0 means every bit of the shared random integer can be read off h linearly; 0.5 is chance. Bits
    that are constant in the training set (possible for tiny sets) count as chance.
    """
    bits = check_int(bits, "bits", "bit_probe_accuracy")
    y_train, y_test = bit_targets(train_values, bits), bit_targets(test_values, bits)  # (N, k), (M, k)
    scores = [
        probes.linear_probe(train_h, y_train[:, j], test_h, y_test[:, j])
        if y_train[:, j].unique().numel() > 1
        else 0.5
        for j in range(bits)
    ]
    return float(np.mean(scores))


def two_digit_labels(dataset: data.MultiDigits) -> data.ImageTensors:
    """The images of ``dataset`` with y = C·y_large + y_small, for ``fit`` with ``TwoDigitClassifier``."""
    if not isinstance(dataset, data.MultiDigits):
        fail("dataset", "two_digit_labels", "a data.MultiDigits", type(dataset).__name__, TypeError)
    c = len(dataset.classes)
    combined = dataset.labels_large * c + dataset.labels_small  # (N,)
    names = [f"{a}+{b}" for a in dataset.classes for b in dataset.classes]
    return data.ImageTensors(dataset.images, combined, names)


def pca_2d(h: torch.Tensor) -> list[list[float]]:
    """(h − h̄) V₂: the first two principal components of h (N, d), as a JSON-ready list (N × 2)."""
    centred = h.double() - h.double().mean(dim=0)  # (N, d)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)  # v: (min(N, d), d), rows = directions
    return (centred @ v[:2].T).float().tolist()  # (N, 2)


def multidigits_examples(
    base, small_size: int, large_size: int, canvas: int, *, count: int = 50, seed: int = 0
):
    """A small ``data.MultiDigits`` from ``count`` images of ``base``, for pictures (the same for every L)."""
    few = base.subset(min(len(base), count), torch.Generator().manual_seed(seed))
    return data.MultiDigits(
        few, small_size, large_size, canvas, generator=torch.Generator().manual_seed(seed)
    )


def _settings(settings: dict | None) -> dict:
    merged = dict(QUICK_SETTINGS, **(settings or {}))
    for key in ("epochs", "width", "batch_size"):
        check_int(merged[key], key, "settings", minimum=0 if key == "epochs" else 1)
    check_positive(merged["lr"], "lr", "settings")
    return merged


def _base(
    dataset: str, max_train: int | None, seed: int, max_test: int | None = None
) -> tuple[data.ImageTensors, data.ImageTensors]:
    """The ``dataset``'s splits, each cut to a stratified random subset of at most ``max_*`` images."""
    train_set, test_set = data.load_dataset(dataset, "train"), data.load_dataset(dataset, "test")
    g = torch.Generator().manual_seed(seed)
    if max_train is not None and max_train < len(train_set):
        train_set = train_set.subset(max_train, g)
    if max_test is not None and max_test < len(test_set):
        test_set = test_set.subset(max_test, g)
    return train_set, test_set


def _fit(method, train_set, test_set, settings: dict, seed: int, augment_config=None) -> float:
    """Train with ``train.fit`` (a small per-epoch monitor); return the seconds it took."""
    start = time.perf_counter()
    train.fit(
        method, train_set, epochs=settings["epochs"], batch_size=settings["batch_size"], lr=settings["lr"],
        eval_data=test_set, augment_config=augment_config, seed=seed, progress=False,
        knn_train_size=500, knn_test_size=200,
    )  # fmt: skip
    return time.perf_counter() - start


def randbit_data(
    bits: int,
    *,
    dataset: str = "digits",
    max_train: int | None = None,
    max_test: int | None = None,
    seed: int = 0,
):
    """``(train, test)``: RandBit(``dataset``, k = ``bits``), the test images with their own integers u.

    ``bits`` = 0 is the plain dataset (the baseline); ``max_train`` and ``max_test`` keep stratified random
    subsets of the images.
    """
    bits = check_int(bits, "bits", "randbit_data", minimum=0)
    base_train, base_test = _base(dataset, max_train, seed, max_test)
    if not bits:
        return base_train, base_test
    train_set = data.RandBit(base_train, bits, generator=torch.Generator().manual_seed(seed + 1))
    return train_set, data.RandBit(base_test, bits, generator=torch.Generator().manual_seed(seed + 2))


def train_simclr(train_set, test_set, *, temperature: float, settings: dict | None = None, seed: int = 0):
    """``(method, seconds)``: SimCLR at τ = ``temperature`` on a fresh SmallConvNet seeded with ``seed``."""
    settings = _settings(settings)
    method = _seeded_simclr(train_set, settings["width"], temperature, seed)
    return method, _fit(method, train_set, test_set, settings, seed)


def _seeded_simclr(train_set, width: int, temperature: float, seed: int):
    """A fresh SimCLR on a SmallConvNet of ``width``, its weights drawn with ``seed``."""
    torch.manual_seed(seed)
    return methods.build_method(
        "simclr", in_channels=train_set.channels, width=width, temperature=temperature
    )


def randbit_probes(method, train_set, test_set, bits: int) -> dict:
    r"""Probe h = f(x) of a trained ``method`` for the content y and for the bits of u.

    Returns ``{"content_accuracy", "bit_accuracy" (None for k = 0), "erank_h" (test h), "coords" (PCA of
    the test h, N × 2), "labels", "values" (u of the test images, zeros for k = 0)}``.
    """
    h_train, h_test = measure.embed(method, train_set.images), measure.embed(method, test_set.images)
    content = probes.linear_probe(h_train, train_set.labels, h_test, test_set.labels)
    bit_accuracy, values = None, torch.zeros(len(test_set), dtype=torch.long)
    if bits:
        bit_accuracy = bit_probe_accuracy(h_train, train_set.bit_labels, h_test, test_set.bit_labels, bits)
        values = test_set.bit_labels
    return {
        "content_accuracy": content,
        "bit_accuracy": bit_accuracy,
        "erank_h": diagnostics.effective_rank(h_test),
        "coords": pca_2d(h_test),
        "labels": test_set.labels.tolist(),
        "values": values.tolist(),
    }


def randbit_run(
    bits: int,
    *,
    temperature: float = 0.5,
    method: str = "simclr",
    dataset: str = "digits",
    settings: dict | None = None,
    max_train: int | None = None,
    max_test: int | None = None,
    seed: int = 0,
) -> dict:
    r"""Train SimCLR on RandBit(``dataset``, k = ``bits``) and probe its features h for content and bits.

    ``temperature`` is τ of NT-Xent; ``settings`` overrides ``QUICK_SETTINGS`` (epochs, width of the
    SmallConvNet, batch_size, lr). ``randbit_data`` → ``train_simclr`` → ``randbit_probes``.
    ``method="random"`` skips the training: the same seeded SmallConvNet with BatchNorm statistics
    calibrated on the training images (``measure.calibrate_batchnorm``), the baseline a trained encoder
    is compared with.

    Returns:
        ``{"bits", "temperature", "method", "seconds"}`` and the keys of ``randbit_probes``.
    """
    where = "randbit_run"
    bits = check_int(bits, "bits", where, minimum=0)
    temperature = check_positive(temperature, "temperature", where)
    check_choice(method, "method", where, RANDBIT_METHODS)
    settings = _settings(settings)
    sizes = {"max_train": max_train, "max_test": max_test}
    train_set, test_set = randbit_data(bits, dataset=dataset, seed=seed, **sizes)
    if method == "simclr":
        model, seconds = train_simclr(
            train_set, test_set, temperature=temperature, settings=settings, seed=seed
        )
    else:
        model, seconds = _seeded_simclr(train_set, settings["width"], temperature, seed), 0.0
        measure.calibrate_batchnorm(model, train_set.images)
    run = {"bits": bits, "temperature": temperature, "method": method, "seconds": seconds}
    return run | randbit_probes(model, train_set, test_set, bits)


def multidigits_run(
    large_size: int,
    *,
    method: str = "simclr",
    small_size: int = 4,
    canvas: int = 20,
    temperature: float = 0.2,
    dataset: str = "digits",
    settings: dict | None = None,
    max_train: int | None = None,
    seed: int = 0,
    crop_scale: tuple[float, float] = (0.3, 1.0),
) -> dict:
    r"""Train on MultiDigits (small digit S, large digit L); probe h of the two-digit scenes for each digit.

    ``method``: "simclr" (NT-Xent at ``temperature``), "supervised" (``methods.TwoDigitClassifier``) or
    "random" (no training, BatchNorm statistics estimated on the training canvases with
    ``measure.calibrate_batchnorm``: the floor). Each probe is a linear classifier on h of the two-digit
    canvases that predicts one digit's class: can the small digit still be read off the representation
    of the whole scene? (Chen, Luo & Li 2021 probe canvases holding a single digit instead; with
    BatchNorm that is a change of input statistics for every method, which blurs the comparison.)

    Returns:
        ``{"large_size", "small_size", "method", "small_accuracy", "large_accuracy", "seconds"}``.
    """
    where = "multidigits_run"
    check_choice(method, "method", where, MULTIDIGITS_METHODS)
    small_size = check_int(small_size, "small_size", where)
    large_size = check_int(large_size, "large_size", where, minimum=small_size)
    canvas = check_int(canvas, "canvas", where, minimum=small_size + large_size)
    settings = _settings(settings)
    base_train, base_test = _base(dataset, max_train, seed)
    g = lambda offset: torch.Generator().manual_seed(seed + offset)
    train_set = data.MultiDigits(base_train, small_size, large_size, canvas, generator=g(1))
    test_set = data.MultiDigits(base_test, small_size, large_size, canvas, generator=g(2))
    torch.manual_seed(seed)
    encoder = methods.build_method("simclr", in_channels=1, width=settings["width"]).encoder
    config = augment.AugmentConfig(crop_scale=tuple(crop_scale), flip_p=0.0)
    seconds = 0.0
    if method == "simclr":
        model = methods.SimCLR(encoder, temperature=temperature)
        seconds = _fit(model, train_set, test_set, settings, seed, config)
    elif method == "supervised":
        model = methods.TwoDigitClassifier(encoder, num_classes=len(base_train.classes))
        seconds = _fit(model, two_digit_labels(train_set), two_digit_labels(test_set), settings, seed, config)
    else:
        model = methods.SimCLR(encoder)
        measure.calibrate_batchnorm(model, train_set.images)
    result = {"large_size": large_size, "small_size": small_size, "method": method, "seconds": seconds}
    h_train, h_test = measure.embed(model, train_set.images), measure.embed(model, test_set.images)
    for which in ("small", "large"):
        y_train, y_test = getattr(train_set, f"labels_{which}"), getattr(test_set, f"labels_{which}")
        result[f"{which}_accuracy"] = probes.linear_probe(h_train, y_train, h_test, y_test)
    return result


def cached_run(run, cache_dir=None, **kwargs) -> dict:
    """``run(**kwargs)`` once per session (``lessons._cache.cached``), and as JSON in ``cache_dir`` if given.

    The name hashes the function, the arguments and the package version, so a changed setting (or a new
    release) trains again instead of reusing a stale result.
    """
    if not callable(run):
        fail("run", "cached_run", "a function such as randbit_run", type(run).__name__, TypeError)
    return cached(cache_key(run, **kwargs), lambda: run(**kwargs), cache_dir=cache_dir)
