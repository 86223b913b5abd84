"""Probe an encoder on frozen features: ``fit``'s final linear probe, and ``evaluate`` of a checkpoint.

h = f(x) of the clean train and test images (``measure.embed``, eval mode)
linear_accuracy = logistic regression fitted on (h_train, y_train), scored on (h_test, y_test)
knn_accuracy    = cosine-weighted kNN of h_test among h_train (k neighbours, Wu et al. 2018)
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch
from torch import nn

from edu_contrast import data, measure, methods, probes
from edu_contrast.train.monitor import ProbeSplit, split_for_eval
from edu_contrast.train.precision import autocast_dtype, check_device
from edu_contrast.train.storage import load_checkpoint

__all__ = ["probe_split", "evaluate"]


def probe_split(
    method: nn.Module,
    split: ProbeSplit,
    *,
    run: Sequence[str] = ("linear", "knn"),
    knn_k: int = 20,
    amp_dtype: torch.dtype | None = None,
) -> dict:
    """``{"linear_accuracy", "knn_accuracy"}`` (the probes in ``run``) of ``method``'s h on ``split``."""
    h_train = measure.embed(method, split.train_images, amp_dtype=amp_dtype)  # (N, feature_dim)
    h_test = measure.embed(method, split.test_images, amp_dtype=amp_dtype)  # (M, feature_dim)
    result = {}
    if "linear" in run:
        result["linear_accuracy"] = probes.linear_probe(
            h_train, split.train_labels, h_test, split.test_labels
        )
    if "knn" in run:
        k = min(knn_k, h_train.shape[0])
        result["knn_accuracy"] = probes.knn_probe(h_train, split.train_labels, h_test, split.test_labels, k=k)
    return result


def _rebuilt_method(config: dict) -> nn.Module:
    """The method a checkpoint was trained with, rebuilt from the recipe ``methods.build_method`` recorded."""
    spec = config.get("method")
    if not isinstance(spec, dict):
        raise ValueError(
            f"The checkpoint's method ({spec!r}) was not built by methods.build_method, so it "
            f"cannot be rebuilt; pass the module as evaluate(..., method=...)."
        )
    spec = dict(spec)
    return methods.build_method(spec.pop("name"), **spec)


def evaluate(
    checkpoint: str | os.PathLike,
    *,
    method: nn.Module | None = None,
    train_data=None,
    eval_data=None,
    device=None,
    root=None,
    download: bool = True,
    knn_k: int = 20,
) -> dict:
    """Re-probe a checkpoint: linear and kNN accuracy of its encoder features h.

    Args:
        checkpoint: ``checkpoint.pt`` or the run directory holding it.
        method: the module to load the weights into (default: rebuilt from the checkpoint's recipe,
            which ``methods.build_method`` recorded).
        train_data, eval_data: ``ImageTensors`` (default: the checkpoint's dataset, train and test split).
        device: default CUDA when available, else CPU.
        root: data directory for ``data.load_dataset``.
        download: let ``data.load_dataset`` download a dataset it does not find.
        knn_k: k of the kNN probe.

    Returns:
        ``{"epoch", "linear_accuracy", "knn_accuracy"}``.
    """
    device = check_device(device, "evaluate")
    state = load_checkpoint(checkpoint)
    config = state["config"]
    method = method if method is not None else _rebuilt_method(config)
    method.load_state_dict(state["model"])
    if train_data is None:
        dataset = config.get("dataset")
        if dataset is None:
            raise ValueError("The checkpoint does not name its dataset; pass train_data (and eval_data).")
        train_data = data.load_dataset(dataset, "train", root=root, download=download)
        if eval_data is None:
            eval_data = data.load_dataset(dataset, "test", root=root, download=download)
    method.to(device, memory_format=torch.channels_last)
    amp_dtype = autocast_dtype(config.get("amp", "auto"), device)  # the features fit's final probe saw
    split = split_for_eval(train_data, eval_data, config.get("seed", 0))
    return {"epoch": int(state["epoch"]), **probe_split(method, split, knn_k=knn_k, amp_dtype=amp_dtype)}
