"""A training step reads no tensor value: no ``.item()``, ``bool(t)``, ``float(t)``, ``.tolist()``, ``.cpu()``
or ``.numpy()``, each of which waits for the GPU to finish the queued work before the CPU may go on.

On this CPU the reads are counted by wrapping those methods of ``torch.Tensor`` while ``fit`` runs the
parts of its steps (``train_step``: forward, loss, backward, AdamW; ``on_step_end``); where CUDA exists
the same run is repeated under ``torch.cuda.set_sync_debug_mode("error")``, which raises on any
synchronisation, torch's own included. A loss called outside ``fit`` still checks every value
(tests/test_validation.py).
"""

from __future__ import annotations

import sys
from collections import Counter

import pytest
import torch

from edu_contrast import data, methods, train

FIT = sys.modules["edu_contrast.train.fit"]
COLOR = sys.modules["edu_contrast.augment.color"]  # the module (``train.fit`` is the function)
READS = ("item", "__bool__", "__float__", "__int__", "__index__", "tolist", "cpu", "numpy")
TINY = {
    "batch_size": 32,
    "samples_per_epoch": 96,  # 3 steps
    "progress": False,
    "knn_train_size": 64,
    "knn_test_size": 32,
    "amp": "off",
}
KNOWN_READS: dict[str, str] = {}  # methods whose loss still reads a value (none; add one with its reason)


@pytest.fixture(scope="module")
def digits():
    return data.load_dataset("digits", "train")


def _method(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    hyper = {"queue_size": 64} if name == "moco" else {}
    return methods.build_method(name, encoder="convnet", in_channels=1, width=4, feature_dim=16, **hyper)


def _count_reads_during_steps(monkeypatch, method, *, views: bool = False) -> Counter:
    """Wrap the reading methods of torch.Tensor; count the calls made while a part of a step runs
    (``train_step`` and ``on_step_end``; with ``views``, only the drawing of the two views)."""
    reads, inside, optimizers = Counter(), [False], []

    def is_step_counter(tensor) -> bool:
        """AdamW's step counter lives on the CPU on every device (not capturable): reading it is no sync."""
        return any(tensor is state.get("step") for opt in optimizers for state in opt.state.values())

    def counting(name, original):
        def read(tensor, *args, **kwargs):
            if inside[0] and not is_step_counter(tensor):
                reads[name] += 1
            return original(tensor, *args, **kwargs)

        return read

    def on_the_host(original):
        """The colour steps' order is drawn on the CPU on every device (augment.color.draw_order): no sync."""

        def draw(*args, **kwargs):
            was, inside[0] = inside[0], False
            try:
                return original(*args, **kwargs)
            finally:
                inside[0] = was

        return draw

    def during_step(original):
        def part(*args, **kwargs):
            inside[0] = True
            try:
                return original(*args, **kwargs)
            finally:
                inside[0] = False

        return part

    def recorded(init):
        def record(optimizer, *args, **kwargs):
            init(optimizer, *args, **kwargs)
            optimizers.append(optimizer)

        return record

    for name in READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name, getattr(torch.Tensor, name)))
    monkeypatch.setattr(torch.optim.AdamW, "__init__", recorded(torch.optim.AdamW.__init__))
    monkeypatch.setattr(COLOR, "draw_order", on_the_host(COLOR.draw_order))
    if views:
        monkeypatch.setattr(FIT.Run, "batch", during_step(FIT.Run.batch))
    else:
        monkeypatch.setattr(FIT, "train_step", during_step(FIT.train_step))
        monkeypatch.setattr(method, "on_step_end", during_step(method.on_step_end))
    return reads


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(strict=True, reason=KNOWN_READS[n]))
        if n in KNOWN_READS
        else n
        for n in methods.METHODS
        if n != "two_digit_classifier"  # trained on MultiDigits' two labels, not on digits
    ],
)
def test_a_training_step_reads_no_tensor_value(digits, monkeypatch, name):
    method = _method(name)
    reads = _count_reads_during_steps(monkeypatch, method)
    result = train.fit(method, digits, epochs=1, device="cpu", **TINY)
    assert dict(reads) == {}, f"{name}: a training step read tensor values {dict(reads)}"
    assert len(result["history"]) == 2  # the steps ran


def test_drawing_the_views_reads_no_tensor_value(digits, monkeypatch):
    method = _method("simclr")
    reads = _count_reads_during_steps(monkeypatch, method, views=True)
    train.fit(method, digits, epochs=1, device="cpu", **TINY)
    assert dict(reads) == {}, f"drawing the views read tensor values {dict(reads)}"


def test_the_counter_sees_a_read_inside_the_step(digits, monkeypatch):
    """The test above can fail: a loss that reads its value once per step is caught."""
    method = _method("simclr")
    real = method.loss
    method.loss = lambda x1, x2, labels=None: real(x1, x2, labels) * (1.0 if float(x1.mean()) else 1.0)
    reads = _count_reads_during_steps(monkeypatch, method)
    train.fit(method, digits, epochs=1, device="cpu", **TINY)
    assert reads["__float__"] == TINY["samples_per_epoch"] // TINY["batch_size"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("name", [n for n in ("simclr", "moco", "byol", "vicreg") if n in methods.METHODS])
def test_a_cuda_training_step_does_not_synchronise(digits, monkeypatch, name):
    """torch's sync debug mode raises on any device-to-host synchronisation inside the steps."""
    train.fit(_method(name), digits, epochs=1, device="cuda", **TINY)  # cuDNN's autotuning, outside
    method = _method(name)

    def strict(original):
        def part(*args, **kwargs):
            torch.cuda.set_sync_debug_mode("error")
            try:
                return original(*args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode("default")

        return part

    monkeypatch.setattr(FIT, "train_step", strict(FIT.train_step))
    monkeypatch.setattr(method, "on_step_end", strict(method.on_step_end))
    train.fit(method, digits, epochs=1, device="cuda", **TINY)
