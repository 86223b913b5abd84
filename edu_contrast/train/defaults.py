"""The per-dataset defaults: encoder, batch, learning rate, views, epochs. The one place they are written.

The CLI (``python -m edu_contrast train``), the lessons and the benchmarks read them here, and so can
any call of ``fit``::

    d = train.dataset_defaults("fashion-mnist", "simclr")
    torch.manual_seed(seed)                                  # the encoder's initial weights, as the CLI
    method = methods.build_method("simclr", in_channels=1, **d.method)
    result = train.fit(method, train_data, epochs=d.epochs, eval_data=test_data, seed=seed, **d.fit)

is the run of ``python -m edu_contrast train --dataset fashion-mnist --seed SEED``, bit for bit
(tests/test_defaults.py). ``fit`` called without them uses ``FitConfig``'s own defaults, which are
general and tuned to no dataset (batch 256, lr 3·10⁻⁴, whole-image views, no BatchNorm calibration).
What each setting means is documented once, in ``FitConfig``; why these values, in docs/benchmarks.md.
Settings shared by every dataset (weight decay, seed, mixed precision) are ``FitConfig``'s defaults.
"""

from __future__ import annotations

from typing import NamedTuple

from edu_contrast._validation import check_choice

ENCODER_KEYS = ("encoder", "width", "feature_dim", "last_kernel", "last_stride")  # build_method's, in spec
FIT_KEYS = ("batch_size", "lr", "samples_per_epoch", "view_size", "calibrate_bn")  # fit's

# Tuned so that each default run is short on its usual machine (2 CPU cores for digits and
# Fashion-MNIST, a Colab GPU for CIFAR-10); see docs/benchmarks.md.
DATASET_DEFAULTS = {
    "digits": {"encoder": "convnet", "width": 32, "feature_dim": 128, "last_kernel": 3, "last_stride": 1,
               "epochs": 20, "batch_size": 256, "lr": 2e-3, "samples_per_epoch": None, "view_size": None,
               "calibrate_bn": True},
    "fashion-mnist": {"encoder": "convnet", "width": 16, "feature_dim": 512, "last_kernel": 3,
                      "last_stride": 2, "epochs": 3, "batch_size": 128, "lr": 3e-3,
                      "samples_per_epoch": None, "view_size": 20, "calibrate_bn": True},
    "cifar10": {"encoder": "resnet18", "width": None, "feature_dim": None, "last_kernel": None,
                "last_stride": None, "epochs": 100, "batch_size": 512, "lr": 2e-3, "samples_per_epoch": None,
                "view_size": None, "calibrate_bn": True},
}  # fmt: skip
METHOD_DEFAULTS = {  # τ of the methods that have one
    "simclr": {"temperature": 0.2},
    "moco": {"temperature": 0.2},
    "supcon": {"temperature": 0.1},
    "byol": {},
    "vicreg": {},
}

__all__ = ["DATASET_DEFAULTS", "METHOD_DEFAULTS", "ENCODER_KEYS", "FIT_KEYS", "Defaults", "dataset_defaults"]


class Defaults(NamedTuple):
    """``method``: keyword arguments of ``methods.build_method`` (encoder settings, τ); ``fit``: keyword
    arguments of ``train.fit`` (``FIT_KEYS``); ``epochs``: the default E."""

    method: dict
    fit: dict
    epochs: int


def dataset_defaults(dataset: str, method: str = "simclr") -> Defaults:
    """The defaults of ``dataset`` ("digits", "fashion-mnist", "cifar10") for ``method``, as fresh dicts."""
    where = "dataset_defaults"
    settings = DATASET_DEFAULTS[check_choice(dataset, "dataset", where, DATASET_DEFAULTS)]
    hyper = METHOD_DEFAULTS[check_choice(method, "method", where, METHOD_DEFAULTS)]
    return Defaults(
        method={**{key: settings[key] for key in ENCODER_KEYS}, **hyper},
        fit={key: settings[key] for key in FIT_KEYS},
        epochs=settings["epochs"],
    )
