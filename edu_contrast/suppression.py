"""Feature suppression: easy shared features crowd out the ones we want (Chen et al. 2020b, Sec. 4).

Chen, Luo & Li 2020, "Intriguing Properties of Contrastive Losses", build datasets whose two views share
two *competing* features and measure, with linear probes on the frozen encoder features h, which of them
contrastive learning picks up:

- **RandBit** (Sec. 4.4, Fig. 7): k constant channels spell a random integer u ∈ {0, …, 2^k − 1} that both
  views share. I(x̃⁽¹⁾; x̃⁽²⁾) ≥ k bits of a feature useless for the label y and trivially easy to read.
  ``randbit_run(k)`` trains SimCLR and probes h for y (the content) and for each bit of u.
- **MultiDigits** (Sec. 4.3, Table 4): a small digit (side S) and a large one (side L) on one canvas.
  As L grows, SimCLR encodes the large digit and drops the small one; a supervised network trained on
  both labels does not. ``multidigits_run(L, method)`` trains one of them and probes each digit.

Every run returns a plain dict of numbers (and 2-D coordinates for plots), so runs can be cached as
JSON (``cached``) and browsed by ``widgets.suppression``.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import augment, data, diagnostics, methods, probes, train
from edu_contrast._validation import _fail, check_choice, check_int, check_labels, check_positive
from edu_contrast.methods.base import ContrastiveMethod

__all__ = [
    "bit_targets",
    "bit_probe_accuracy",
    "TwoDigitClassifier",
    "two_digit_labels",
    "randbit_run",
    "multidigits_run",
    "cached",
    "QUICK_SETTINGS",
    "FULL_SETTINGS",
]

# Training recipes of notebook 05 (SmallConvNet width, AdamW learning rate): quick mode runs a whole RandBit
# sweep (8 runs) in about 20 s of CPU time on 8×8 digits; full mode trains 6× longer, twice as wide.
QUICK_SETTINGS = {"epochs": 5, "width": 16, "batch_size": 128, "lr": 2e-3}
FULL_SETTINGS = {"epochs": 30, "width": 32, "batch_size": 128, "lr": 2e-3}


# ---------------------------------------------------------------------------- probes of the bits


def bit_targets(values: torch.Tensor, bits: int) -> torch.Tensor:
    """b_j = ⌊u / 2^j⌋ mod 2 for j = 0 … k − 1: the (N, k) int64 bits of the integers u (N,), least first."""
    bits = check_int(bits, "bits", "bit_targets")
    values = torch.as_tensor(values)
    values = check_labels(values, values.shape[0] if values.dim() else 0, "values", "bit_targets")
    return (values[:, None] >> torch.arange(bits)) & 1  # (N, k)


def bit_probe_accuracy(train_h, train_values, test_h, test_values, bits: int) -> float:
    r"""Mean over j of the linear-probe test accuracy for bit b_j of u (one logistic regression per bit).

        acc_bits = (1/k) Σ_j acc(probe_j),   probe_j: h ↦ b_j

    1.0 means every bit of the shared random integer can be read off h linearly; 0.5 is chance. Bits
    that are constant in the training set (possible for tiny sets) count as chance.
    """
    where = "bit_probe_accuracy"
    bits = check_int(bits, "bits", where)
    y_train, y_test = bit_targets(train_values, bits), bit_targets(test_values, bits)  # (N, k), (M, k)
    scores = []
    for j in range(bits):
        if y_train[:, j].unique().numel() < 2:
            scores.append(0.5)
            continue
        scores.append(probes.linear_probe(train_h, y_train[:, j], test_h, y_test[:, j]))
    return float(np.mean(scores))


# ---------------------------------------------------------------------------- the supervised baseline


class TwoDigitClassifier(ContrastiveMethod):
    r"""Supervised baseline for MultiDigits: one linear classifier per digit on h, cross-entropy on both.

        L = ½ Σ_views [ CE(W_S h, y_S) + CE(W_L h, y_L) ],   h = f(x̃)

    trained on the same augmented views as SimCLR (Chen et al. 2020b, Sec. 4.3 compare against "supervised
    learning with the same augmentation policy"). ``labels`` carry both digits as y = C·y_L + y_S
    (``two_digit_labels``); ``num_classes`` is C. ``project`` returns the 2C logits.
    """

    def __init__(self, encoder: nn.Module, *, num_classes: int = 10):
        self.num_classes = check_int(num_classes, "num_classes", "TwoDigitClassifier", minimum=2)
        super().__init__(
            encoder, out_dim=2 * self.num_classes, num_layers=1
        )  # g: one linear layer, 2C logits

    def loss(self, x1: torch.Tensor, x2: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        where = "TwoDigitClassifier.loss"
        if labels is None:
            _fail("labels", where, "the combined labels C·y_large + y_small (two_digit_labels)", "None")
        self._check_views(x1, x2)
        labels = check_labels(labels, x1.shape[0], "labels", where).to(x1.device)
        logits = self.project(torch.cat([x1, x2]))  # (2B, 2C)
        large, small = (labels // self.num_classes).repeat(2), (labels % self.num_classes).repeat(2)  # (2B,)
        c = self.num_classes
        return 0.5 * (F.cross_entropy(logits[:, :c], large) + F.cross_entropy(logits[:, c:], small))


def two_digit_labels(dataset: data.MultiDigits) -> data.ImageTensors:
    """The images of ``dataset`` with y = C·y_large + y_small, for ``fit`` with ``TwoDigitClassifier``."""
    if not isinstance(dataset, data.MultiDigits):
        _fail("dataset", "two_digit_labels", "a data.MultiDigits", type(dataset).__name__, TypeError)
    c = len(dataset.classes)
    combined = dataset.labels_large * c + dataset.labels_small  # (N,)
    names = [f"{a}+{b}" for a in dataset.classes for b in dataset.classes]
    return data.ImageTensors(dataset.images, combined, names)


# ---------------------------------------------------------------------------- runs


def _base(dataset: str, max_train: int | None, seed: int) -> tuple[data.ImageTensors, data.ImageTensors]:
    train_set, test_set = data.load_dataset(dataset, "train"), data.load_dataset(dataset, "test")
    if max_train is not None and max_train < len(train_set):
        train_set = train_set.subset(max_train, torch.Generator().manual_seed(seed))
    return train_set, test_set


def _fit(method, train_set, test_set, settings: dict, seed: int, augment_config=None) -> float:
    """Train with ``train.fit``; return the seconds it took (the per-epoch monitor is kept small)."""
    start = time.perf_counter()
    train.fit(
        method,
        train_set,
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        eval_data=test_set,
        augment_config=augment_config,
        seed=seed,
        progress=False,
        knn_train_size=500,
        knn_test_size=200,
    )
    return time.perf_counter() - start


def _calibrate_batchnorm(model, images: torch.Tensor) -> None:
    """BatchNorm statistics of an untrained model from ``images`` (``experiments.calibrate_batchnorm``)."""
    from edu_contrast.experiments import calibrate_batchnorm

    calibrate_batchnorm(model, images)


def _pca_2d(h: torch.Tensor) -> list[list[float]]:
    """The first two principal components of h (N, d), as a JSON-ready list (N × 2)."""
    centred = h.double() - h.double().mean(dim=0)  # (N, d)
    _, _, v = torch.linalg.svd(centred, full_matrices=False)  # v: (min(N, d), d)
    return (centred @ v[:2].T).float().tolist()  # (N, 2)


def _settings(settings: dict | None) -> dict:
    merged = dict(QUICK_SETTINGS, **(settings or {}))
    for key in ("epochs", "width", "batch_size"):
        check_int(merged[key], key, "settings", minimum=0 if key == "epochs" else 1)
    check_positive(merged["lr"], "lr", "settings")
    return merged


def randbit_run(
    bits: int,
    *,
    temperature: float = 0.5,
    dataset: str = "digits",
    settings: dict | None = None,
    max_train: int | None = None,
    seed: int = 0,
) -> dict:
    r"""Train SimCLR on RandBit(``dataset``, k = ``bits``) and probe its features h for content and bits.

    ``bits`` = 0 is the plain dataset (the baseline). Test images get their own random integers, so
    the content probe cannot use them. ``temperature`` is τ of NT-Xent; ``settings`` overrides
    ``QUICK_SETTINGS`` (epochs, width of the SmallConvNet, batch_size, lr).

    Returns:
        ``{"bits", "temperature", "content_accuracy" (linear probe for y), "bit_accuracy" (mean per-bit
        probe accuracy, None for k = 0), "effective_rank" (of test h), "seconds", "coords" (PCA of test h,
        N × 2), "labels", "values" (u of the test images)}``.
    """
    where = "randbit_run"
    bits = check_int(bits, "bits", where, minimum=0)
    temperature = check_positive(temperature, "temperature", where)
    settings = _settings(settings)
    base_train, base_test = _base(dataset, max_train, seed)
    if bits:
        train_set = data.RandBit(base_train, bits, generator=torch.Generator().manual_seed(seed + 1))
        test_set = data.RandBit(base_test, bits, generator=torch.Generator().manual_seed(seed + 2))
    else:
        train_set, test_set = base_train, base_test
    torch.manual_seed(seed)
    method = methods.build_method(
        "simclr", in_channels=train_set.channels, width=settings["width"], temperature=temperature
    )
    seconds = _fit(method, train_set, test_set, settings, seed)
    h_train, h_test = (
        train.embed_images(method, train_set.images),
        train.embed_images(method, test_set.images),
    )
    bit_accuracy = None
    values = torch.zeros(len(test_set), dtype=torch.long)
    if bits:
        bit_accuracy = bit_probe_accuracy(h_train, train_set.bit_labels, h_test, test_set.bit_labels, bits)
        values = test_set.bit_labels
    return {
        "bits": bits,
        "temperature": temperature,
        "content_accuracy": probes.linear_probe(h_train, train_set.labels, h_test, test_set.labels),
        "bit_accuracy": bit_accuracy,
        "effective_rank": diagnostics.effective_rank(h_test),
        "seconds": seconds,
        "coords": _pca_2d(h_test),
        "labels": test_set.labels.tolist(),
        "values": values.tolist(),
    }


MULTIDIGITS_METHODS = ("simclr", "supervised", "random")


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

    ``method``: "simclr" (NT-Xent at ``temperature``), "supervised" (``TwoDigitClassifier``) or "random"
    (no training, BatchNorm statistics estimated on the training canvases: the floor). Each probe is a
    linear classifier on h of the two-digit canvases that predicts one digit's class: can the small digit
    still be read off the representation of the whole scene? (Chen et al. 2020b probe canvases holding a
    single digit instead; with BatchNorm that is a change of input statistics for every method, which
    blurs the comparison on small canvases.)

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
    g = lambda offset: torch.Generator().manual_seed(seed + offset)  # noqa: E731
    train_set = data.MultiDigits(base_train, small_size, large_size, canvas, generator=g(1))
    test_set = data.MultiDigits(base_test, small_size, large_size, canvas, generator=g(2))
    torch.manual_seed(seed)
    encoder = methods.build_method("simclr", in_channels=1, width=settings["width"]).encoder
    seconds = 0.0
    config = augment.AugmentConfig(crop_scale=tuple(crop_scale), flip_p=0.0)
    if method == "simclr":
        model = methods.SimCLR(encoder, temperature=temperature)
        seconds = _fit(model, train_set, test_set, settings, seed, config)
    elif method == "supervised":
        model = TwoDigitClassifier(encoder, num_classes=len(base_train.classes))
        seconds = _fit(model, two_digit_labels(train_set), two_digit_labels(test_set), settings, seed, config)
    else:
        model = methods.SimCLR(encoder)
        _calibrate_batchnorm(model, train_set.images)
    result = {"large_size": large_size, "small_size": small_size, "method": method, "seconds": seconds}
    h_train, h_test = train.embed_images(model, train_set.images), train.embed_images(model, test_set.images)
    for which in ("small", "large"):
        y_train, y_test = getattr(train_set, f"labels_{which}"), getattr(test_set, f"labels_{which}")
        result[f"{which}_accuracy"] = probes.linear_probe(h_train, y_train, h_test, y_test)
    return result


# ---------------------------------------------------------------------------- caching


def cached(run, cache_dir: str | os.PathLike | None = None, **kwargs) -> dict:
    """``run(**kwargs)``, stored as JSON in ``cache_dir`` and read back next time (None: no cache).

    The file name hashes the function's name, the arguments and the package version, so a changed
    setting (or a new release) trains again instead of reusing a stale result.
    """
    from edu_contrast import __version__

    if not callable(run):
        _fail("run", "cached", "a function such as randbit_run", type(run).__name__, TypeError)
    if cache_dir is None:
        return run(**kwargs)
    key = json.dumps({"run": run.__name__, "version": __version__, **kwargs}, sort_keys=True, default=str)
    path = Path(cache_dir) / f"{run.__name__}-{hashlib.sha1(key.encode()).hexdigest()[:16]}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            path.unlink()  # a half-written file from an interrupted run: compute it again
    result = run(**kwargs)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result))
    os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one
    return result
