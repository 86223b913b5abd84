"""Per-epoch training curves from ``train.fit``'s history (keys as in ``measure.REPORT_KEYS``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from edu_contrast._validation import fail

_PRETTY = {
    "loss": "training loss",
    "knn_accuracy": "kNN accuracy",
    "linear_accuracy": "linear-probe accuracy",
    "positive_cosine": "positive cosine",
    "alignment": "alignment",
    "uniformity": "uniformity",
    "erank_z": "effective rank of z",
    "erank_h": "effective rank of h",
    "seconds": "seconds per epoch",
}


def _history_keys(history: Sequence[Mapping], keys, where: str) -> list[str]:
    present = [k for record in history for k in record]
    available = list(dict.fromkeys(k for k in present if k != "epoch"))
    if keys is None:
        return [k for k in available if k != "seconds"]
    keys = [keys] if isinstance(keys, str) else list(keys)
    missing = [k for k in keys if k not in available]
    if not keys or missing:
        fail("keys", where, f"a non-empty list of history keys among {available}", keys)
    return keys


def plot_history(history, keys=None, ax=None, *, title: str | None = None):
    """Per-epoch training curves, one subplot per key (or all keys on the one ``ax`` given).

    Args:
        history: list of per-epoch dicts, e.g. ``train.fit``'s {"epoch", "loss", "seconds",
            "knn_accuracy", "alignment", "uniformity", "erank_z", "erank_h", "positive_cosine"};
            an epoch that lacks a key (kNN every few epochs) is skipped for that key.
        keys: a key or list of keys to plot; default every key except "epoch" and "seconds".
        ax: None (one new subplot per key), one Axes (all keys on it), or one Axes per key.
    """
    where = "plot_history"
    if isinstance(history, Mapping) or not isinstance(history, Sequence) or not history:
        fail("history", where, "a non-empty list of per-epoch dicts", repr(history)[:80], TypeError)
    if not all(isinstance(record, Mapping) for record in history):
        fail("history", where, "a list of dicts", f"items of type {type(history[0]).__name__}", TypeError)
    keys = _history_keys(history, keys, where)
    own_figure = ax is None
    if own_figure:
        fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3.2), squeeze=False)
        axes = list(axes[0])
    elif isinstance(ax, (Sequence, np.ndarray)):
        axes = list(np.ravel(ax))
        if len(axes) != len(keys):
            fail("ax", where, f"{len(keys)} axes, one per key {keys}", f"{len(axes)} axes")
        fig = axes[0].figure
    else:
        fig, axes = ax.figure, [ax] * len(keys)
    shared = len(set(map(id, axes))) == 1 and len(keys) > 1
    for key, axis in zip(keys, axes):
        rows = [(r.get("epoch", i + 1), r[key]) for i, r in enumerate(history) if r.get(key) is not None]
        epochs, values = zip(*rows) if rows else ((), ())
        axis.plot(epochs, values, marker="o", markersize=3, label=_PRETTY.get(key, key))
        axis.set(xlabel="epoch", title=None if shared else _PRETTY.get(key, key))
    if shared:
        axes[0].legend(fontsize="small")
    if title:
        fig.suptitle(title)
    if own_figure:
        fig.tight_layout()
    return fig
