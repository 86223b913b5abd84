"""Self-supervised (and supervised-contrastive) methods: encoder + head + loss, as ``nn.Module``s.

Every method has ``loss(x1, x2, labels=None)`` (two augmented views → scalar loss),
``embed(x)`` (encoder features h, for probes), ``project(x)`` (z, what the loss sees) and
``on_step_end(progress)`` (momentum updates; called by ``train.fit`` after each step).
``build_method("simclr", encoder="convnet", in_channels=1)`` builds one by name and records
the recipe in ``method.spec`` so a checkpoint can rebuild it.
``CLIP`` (image and text towers, ``clip.py``) is apart: it pairs two modalities, not two views, and
trains with its own ``train_clip``.
"""

from __future__ import annotations

import numpy as np

from edu_contrast import models
from edu_contrast._validation import check_choice, check_int
from edu_contrast.methods.align_uniform import AlignUniform
from edu_contrast.methods.base import ContrastiveMethod
from edu_contrast.methods.byol import BYOL, target_momentum
from edu_contrast.methods.byol_ablation import BYOLAblation
from edu_contrast.methods.clip import CLIP, train_clip
from edu_contrast.methods.cross_entropy import CrossEntropyBaseline
from edu_contrast.methods.generalized import Generalized
from edu_contrast.methods.moco import MoCo
from edu_contrast.methods.simclr import SimCLR
from edu_contrast.methods.supcon import SupCon
from edu_contrast.methods.supcon_cnce import SupConCNCE
from edu_contrast.methods.two_digit_classifier import TwoDigitClassifier
from edu_contrast.methods.vicreg import VICReg
from edu_contrast.methods.without_projector import without_projector

METHODS = {"simclr": SimCLR, "moco": MoCo, "byol": BYOL, "supcon": SupCon, "vicreg": VICReg}
METHODS |= {  # the notebooks' variants
    "align_uniform": AlignUniform,
    "generalized": Generalized,
    "byol_ablation": BYOLAblation,
    "cross_entropy": CrossEntropyBaseline,
    "two_digit_classifier": TwoDigitClassifier,
    "supcon_cnce": SupConCNCE,
}


def build_method(
    name: str,
    *,
    encoder: str = "convnet",
    in_channels: int = 3,
    width: int | None = None,
    feature_dim: int | None = None,
    last_kernel: int | None = None,
    last_stride: int | None = None,
    **hyperparameters,
) -> ContrastiveMethod:
    """Build a method by name on a fresh encoder.

    Args:
        name: one of ``METHODS`` ("simclr", "moco", "byol", "supcon", "vicreg").
        encoder: name for ``models.build_encoder`` ("convnet", "resnet18", "resnet50").
        in_channels: image channels (1 for digits and Fashion-MNIST, 3 for CIFAR-10).
        width, feature_dim, last_kernel, last_stride: channel width w, output size, last kernel size
            (3 or 1) and last stride (1 or 2) of the small "convnet" (``models.SmallConvNet``); None
            keeps its defaults.
        **hyperparameters: passed to the method class (``temperature=0.2``, ``queue_size=...``).

    Returns:
        The method, with ``method.spec`` holding these arguments (plain values, checkpointable).
    """
    where = "build_method"
    check_choice(name, "name", where, METHODS)
    in_channels = check_int(in_channels, "in_channels", where)
    given = dict(width=width, feature_dim=feature_dim, last_kernel=last_kernel, last_stride=last_stride)
    options = {k: check_int(v, k, where) for k, v in given.items() if v is not None}
    if options:
        check_choice(encoder, "encoder", f"{where} (with {', '.join(options)})", ["convnet"])
    method = METHODS[name](models.build_encoder(encoder, in_channels, **options), **hyperparameters)
    method.spec = {
        "name": name,
        "encoder": encoder,
        "in_channels": in_channels,
        "width": options.get("width"),
        "feature_dim": options.get("feature_dim"),
        "last_kernel": options.get("last_kernel"),
        **{k: v.item() if isinstance(v, np.generic) else v for k, v in hyperparameters.items()},
    }  # NumPy scalars as Python numbers; an nn.Parameter τ stays the parameter (torch.save keeps it)
    if "last_stride" in options:  # only when given: checkpoints from before it existed still resume
        method.spec["last_stride"] = options["last_stride"]
    return method


__all__ = [
    "ContrastiveMethod",
    "SimCLR",
    "MoCo",
    "BYOL",
    "SupCon",
    "SupConCNCE",
    "VICReg",
    "AlignUniform",
    "Generalized",
    "BYOLAblation",
    "without_projector",
    "CrossEntropyBaseline",
    "TwoDigitClassifier",
    "METHODS",
    "build_method",
    "target_momentum",
    "CLIP",
    "train_clip",
]
