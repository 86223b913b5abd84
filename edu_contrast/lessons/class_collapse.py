r"""Notebook 14: class collapse as a cost, and the class-conditional term that prevents it.

Train on *coarse* labels (groups of the fine classes: clothing → tops / trouser / footwear / bag),
then probe the *fine* labels. SupCon (Khosla et al. 2020) pulls every member of a coarse class
together; at its optimum each coarse class is one point (Graf et al. 2021, notebook 07), and the fine
classes inside it can no longer be told apart. Chen, Fu et al. 2022 ("Perfectly Balanced") add
α·L_cNCE, an InfoNCE whose negatives are the other members of the anchor's own class
(``losses.class_conditional_nt_xent``; ``methods.SupConCNCE``): it spreads each class out again.

What is measured, per trained encoder (``collapse_scores``; probes on h = f(x), spread on z = g(h)):

    coarse_accuracy   linear probe on h, coarse labels     (what the labels asked for)
    fine_accuracy     linear probe on h, fine labels       (what transfer to the finer task keeps)
    fine_knn          kNN probe on h, fine labels
    fine_accuracy_z   linear probe on z, fine labels
    fine_knn_z        kNN probe on z, fine labels          (neighbourhoods in z: where collapse shows first)
    spread            within-class spread of z under the coarse labels, ``lessons.supcon.within_class_spread``

The probes are ``probes.linear_probe`` and ``probes.knn_probe`` (k = 20, τ = 0.07) on ``measure.embed``'s
features of the clean images, fitted on the training images' fine (or coarse) labels.

The floor is the SupCon run's own network, untrained, BatchNorm calibrated: ``supcon_run`` gives that
run's settings, ``untrained_floor`` the floor's (the notebook's design exercise), ``floor_scores``
measures it.

``collapse_study`` trains SimCLR, SupCon and SupCon + α·cNCE for a grid of α once (kept for the session,
``lessons._cache``), so the notebook's α slider only draws; with ``run_dir`` (full mode:
``simclr_cifar10.checkpoint_dir``) each finished run is also kept as JSON and read back after a disconnect.
Symbols as in ``notebooks/00_notation.md``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import data, measure, methods, models, probes, train
from edu_contrast._validation import check_choice, check_labels, fail
from edu_contrast.lessons._cache import cache_key, cached
from edu_contrast.lessons._checks import check_effect  # the notebooks' one asserting helper
from edu_contrast.lessons.methods import train_test_subsets
from edu_contrast.lessons.supcon import within_class_spread
from edu_contrast.utils import MODES

__all__ = [
    "COARSE_GROUPS",
    "METRICS",
    "scale",
    "coarse_labels",
    "with_coarse_labels",
    "load_data",
    "class_conditional_negatives",
    "class_conditional_loss_from_mask",
    "build",
    "collapse_scores",
    "supcon_run",
    "untrained_floor",
    "floor_scores",
    "random_encoder_scores",
    "collapse_study",
    "alpha_curve",
    "collapse_effects",
    "check_effect",
]

COARSE_GROUPS = {  # fine class indices of each coarse class, per dataset
    "digits": {"0 6 8 9 (loops)": (0, 6, 8, 9), "1 4 7 (strokes)": (1, 4, 7), "2 3 5 (curves)": (2, 3, 5)},
    "fashion-mnist": {"tops": (0, 2, 3, 4, 6), "trouser": (1,), "footwear": (5, 7, 9), "bag": (8,)},
    "cifar10": {"vehicles": (0, 1, 8, 9), "animals": (2, 3, 4, 5, 6, 7)},
}

_SCALES = {  # every size and budget of notebook 14, per mode (train/test None: the whole split)
    "quick": dict(dataset="digits", image=8, train=None, test=None, width=16, epochs=8, batch_size=128,
                  alphas=(0.0, 0.5, 2.0)),
    "lab": dict(dataset="fashion-mnist", image=16, train=4000, test=1000, width=16, epochs=10, batch_size=128,
                alphas=(0.0, 0.25, 0.5, 1.0, 2.0)),
    "full": dict(dataset="cifar10", image=32, train=None, test=2000, width=32, epochs=30, batch_size=256,
                 alphas=(0.0, 0.25, 0.5, 1.0, 2.0)),
}  # fmt: skip
FIT = {"lr": 3e-3, "progress": False, "knn_train_size": 2000, "knn_test_size": 500}
METRICS = ("coarse_accuracy", "fine_accuracy", "fine_knn", "fine_accuracy_z", "fine_knn_z", "spread")
TEMPERATURE = {"SimCLR": 0.5, "SupCon": 0.1}  # SupCon's τ is also the τ of both terms of SupCon + α·cNCE


def scale(mode: str) -> dict:
    """The sizes of notebook 14 in ``mode`` ("quick", "lab", "full"): data, width, budget, the α grid."""
    return dict(_SCALES[check_choice(mode, "mode", "scale", MODES)])


def coarse_labels(fine, groups: dict) -> torch.Tensor:
    """The coarse label of each fine label: k for the k-th group of ``groups`` that holds it.

    Args:
        fine: fine labels y, shape ``(N,)``.
        groups: ``{coarse name: fine classes}``; every fine label must be in exactly one group.
    """
    where = "coarse_labels"
    fine = check_labels(fine, len(fine), "fine", where)
    lookup = {}
    for k, members in enumerate(groups.values()):
        for c in members:
            if c in lookup:
                fail("groups", where, "groups that do not share a fine class", f"class {c} in two groups")
            lookup[c] = k
    missing = sorted(set(fine.tolist()) - set(lookup))
    if missing:
        fail("groups", where, "a group for every fine class present", f"no group for classes {missing}")
    table = torch.full((max(lookup) + 1,), -1, dtype=torch.int64)
    table[list(lookup)] = torch.tensor(list(lookup.values()))
    return table[fine]  # (N,)


def with_coarse_labels(dataset: data.ImageTensors, groups: dict) -> data.ImageTensors:
    """A shallow copy of ``dataset`` whose labels are the coarse ones and classes the group names."""
    coarse = copy.copy(dataset)
    coarse.labels, coarse.classes = coarse_labels(dataset.labels, groups), list(groups)
    return coarse


def load_data(mode: str, *, seed: int = 0) -> dict:
    """The data of ``scale(mode)``: ``{"train", "test"}`` with fine labels, ``"coarse_train"``,
    ``"coarse_test"`` with the coarse ones (same images), and the ``"groups"`` used."""
    size = scale(mode)
    train_set, test_set = train_test_subsets(size, seed=seed)
    groups = COARSE_GROUPS[size["dataset"]]
    return {
        "train": train_set,
        "test": test_set,
        "coarse_train": with_coarse_labels(train_set, groups),
        "coarse_test": with_coarse_labels(test_set, groups),
        "groups": groups,
    }


def class_conditional_negatives(labels) -> torch.Tensor:
    r"""K(i) of the class-conditional InfoNCE as a ``(2N, 2N)`` bool mask over the views [z1; z2].

    Row i is anchor i (view 1 of sample i for i < N, view 2 of sample i − N after); entry (i, k) is True
    iff view k has the anchor's label and is neither the anchor itself nor its positive
    i⁺ = (i + N) mod 2N: the other images of the anchor's own class, both views (Chen, Fu et al. 2022).

    Args:
        labels: y, shape ``(N,)`` integer labels of the N samples.
    """
    labels = check_labels(labels, len(labels), "labels", "class_conditional_negatives")
    per_view = labels.repeat(2)  # (2N,): view v of sample n at row v·N + n
    mask = per_view[:, None] == per_view[None, :]  # (2N, 2N): same label
    rows = torch.arange(len(per_view))  # (2N,)
    mask[rows, rows] = False  # not the anchor itself
    mask[rows, (rows + len(labels)) % len(per_view)] = False  # not its positive i⁺
    return mask


def class_conditional_loss_from_mask(z1, z2, negatives: torch.Tensor, *, temperature: float) -> torch.Tensor:
    r"""mean_{i: K(i) ≠ ∅} −log [e^{s_ii⁺/τ} / (e^{s_ii⁺/τ} + Σ_{k ∈ K(i)} e^{s_ik/τ})] from a mask.

    The class-conditional loss written from a mask of K(i) (``class_conditional_negatives``), a slow but
    plain loop over the anchors; ``losses.class_conditional_nt_xent`` is the same number, vectorised.
    ``z1``, ``z2``: ``(N, d)`` views (normalised here); ``negatives``: ``(2N, 2N)`` bool.
    """
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)  # (2N, d)
    n = z1.shape[0]
    logits = z @ z.T / temperature  # (2N, 2N): s_ik / τ
    per_anchor = []
    for i in range(2 * n):
        if negatives[i].any():
            positive = logits[i, (i + n) % (2 * n)]
            kept = torch.cat([positive[None], logits[i][negatives[i]]])  # (1 + |K(i)|,)
            per_anchor.append(torch.logsumexp(kept, dim=0) - positive)
    return torch.stack(per_anchor).mean() if per_anchor else z.new_zeros(())


def build(
    name: str, *, alpha: float = 0.0, in_channels: int = 1, width: int = 16, seed: int = 0
) -> nn.Module:
    """A fresh method on the same initial encoder for every ``name``: "SimCLR", "SupCon" (α = 0) or
    "SupCon + cNCE" (``methods.SupConCNCE`` with weight ``alpha``)."""
    check_choice(name, "name", "build", ("SimCLR", "SupCon", "SupCon + cNCE"))
    torch.manual_seed(seed)
    encoder = models.SmallConvNet(in_channels, width=width)
    if name == "SimCLR":
        return methods.SimCLR(encoder, temperature=TEMPERATURE["SimCLR"])
    tau = TEMPERATURE["SupCon"]
    if name == "SupCon":
        return methods.SupCon(encoder, temperature=tau, base_temperature=tau)
    return methods.SupConCNCE(encoder, temperature=tau, base_temperature=tau, alpha=alpha)


def collapse_scores(method: nn.Module, fine_train, fine_test, groups: dict) -> dict:
    """The ``METRICS`` of a trained ``method`` (module docstring): probes on h and z of the clean images,
    fitted on ``fine_train`` (fine labels, or their ``groups``), scored on ``fine_test``; and the
    ``within_class_spread`` of the test z under the coarse labels."""
    h_train, h_test = measure.embed(method, fine_train.images), measure.embed(method, fine_test.images)
    z_train = measure.embed(method, fine_train.images, project=True)  # (N, out_dim)
    z_test = measure.embed(method, fine_test.images, project=True)  # (M, out_dim)
    coarse_train, coarse_test = (
        coarse_labels(fine_train.labels, groups),
        coarse_labels(fine_test.labels, groups),
    )
    return {
        "coarse_accuracy": probes.linear_probe(h_train, coarse_train, h_test, coarse_test),
        "fine_accuracy": probes.linear_probe(h_train, fine_train.labels, h_test, fine_test.labels),
        "fine_knn": probes.knn_probe(h_train, fine_train.labels, h_test, fine_test.labels),
        "fine_accuracy_z": probes.linear_probe(z_train, fine_train.labels, z_test, fine_test.labels),
        "fine_knn_z": probes.knn_probe(z_train, fine_train.labels, z_test, fine_test.labels),
        "spread": within_class_spread(z_test, coarse_test),
    }


def supcon_run(mode: str, *, seed: int = 0) -> dict:
    """The settings of the SupCon run at ``scale(mode)``: loss, alpha, epochs, width, batch_size, seed and
    calibrate_bn (False: the probes see training's BatchNorm running averages, ``train.fit``'s default)."""
    size = scale(mode)
    return {"loss": "SupCon", "alpha": 0.0, "epochs": size["epochs"], "width": size["width"],
            "batch_size": size["batch_size"], "seed": seed, "calibrate_bn": False}  # fmt: skip


def untrained_floor(method: dict) -> dict:
    """The floor of the run ``method``: its own network (same loss, width and seed: the same initial
    weights) before any training (epochs = 0), BatchNorm calibrated on the training images."""
    return {**method, "epochs": 0, "calibrate_bn": True}


def floor_scores(floor: dict, datasets: dict) -> dict:
    """``collapse_scores`` of the untrained run ``floor`` (``untrained_floor``'s keys, epochs = 0)."""
    if floor.get("epochs") != 0:
        fail("floor", "floor_scores", "an untrained run (epochs = 0)", f"epochs = {floor.get('epochs')!r}")
    method = build(floor["loss"], alpha=floor["alpha"], in_channels=datasets["train"].channels,
                   width=floor["width"], seed=floor["seed"])  # fmt: skip
    if floor["calibrate_bn"]:
        measure.calibrate_batchnorm(method, datasets["train"].images)
    return collapse_scores(method, datasets["train"], datasets["test"], datasets["groups"])


def random_encoder_scores(datasets: dict, *, mode: str, seed: int = 0) -> dict:
    """``collapse_scores`` of the untrained encoder (same initial weights, BatchNorm calibrated on the
    training images): the floor a trained encoder must beat."""
    return floor_scores(untrained_floor(supcon_run(mode, seed=seed)), datasets)


def _trained_scores(name: str, alpha: float, datasets: dict, size: dict, seed: int) -> dict:
    method = build(name, alpha=alpha, in_channels=datasets["train"].channels, width=size["width"], seed=seed)
    train.fit(method, datasets["coarse_train"], epochs=size["epochs"], batch_size=size["batch_size"],
              seed=seed, eval_data=datasets["coarse_test"], **FIT)  # fmt: skip
    return collapse_scores(method, datasets["train"], datasets["test"], datasets["groups"])


def collapse_study(datasets: dict, *, mode: str, seed: int = 0, alphas=None, run_dir=None) -> dict:
    """Train every run on the coarse labels once and score it: ``{run name: collapse_scores}``.

    Runs: "SimCLR" (no labels), and SupCon + α·cNCE for each α of ``alphas`` (default
    ``scale(mode)["alphas"]``), named "SupCon" for α = 0 and "α = 0.5" etc. otherwise. Every run starts
    from the same weights; each is kept for the session (``lessons._cache``) and, with ``run_dir``, as
    ``run_dir/<run>.json``, so a study interrupted by a disconnect trains only the runs it had not finished.
    """
    size = scale(mode)
    alphas = size["alphas"] if alphas is None else tuple(alphas)
    runs = [("SimCLR", "SimCLR", 0.0)] + [
        ("SupCon", "SupCon", 0.0) if a == 0 else (f"α = {a:g}", "SupCon + cNCE", float(a)) for a in alphas
    ]
    study = {}
    for label, name, alpha in runs:
        key = cache_key(
            collapse_study, name=name, alpha=alpha, mode=mode, seed=seed, n=len(datasets["train"])
        )
        compute = lambda n=name, a=alpha: _trained_scores(n, a, datasets, size, seed)
        study[label] = cached(key, compute, cache_dir=run_dir)
    return study


def alpha_curve(study: dict, metric: str) -> tuple[list[float], list[float]]:
    """``(alphas, values)`` of ``metric`` over the SupCon + α·cNCE runs of a ``collapse_study``, by α."""
    check_choice(metric, "metric", "alpha_curve", METRICS)
    points = sorted((0.0 if k == "SupCon" else float(k.split("= ")[1]), v[metric])
                    for k, v in study.items() if k != "SimCLR")  # fmt: skip
    if not points:
        fail("study", "alpha_curve", "a collapse_study with a SupCon run", f"runs {list(study)}")
    return [a for a, _ in points], [v for _, v in points]


def collapse_effects(study: dict, random: dict) -> dict:
    """The differences the notebook's checks compare, from a ``collapse_study`` and the random floor.

    With "SupCon + α" the run of the largest α of the study (the one meant to undo the collapse):

    ``collapse``: the random encoder's spread − SupCon's (SupCon shrinks each coarse class);
    ``fine_lost``: SimCLR's fine kNN accuracy on z − SupCon's (what collapse costs against no labels);
    ``fine_regained``: SupCon + α's fine kNN accuracy on z − SupCon's; ``spread_regained``: SupCon + α's
    spread − SupCon's; ``coarse_kept``: SupCon + α's coarse accuracy − SupCon's (negative = lost).
    """
    alphas = [k for k in study if k not in ("SimCLR", "SupCon")]
    if "SupCon" not in study or "SimCLR" not in study or not alphas:
        fail("study", "collapse_effects", "a collapse_study with SimCLR, SupCon and an α > 0", list(study))
    supcon = study["SupCon"]
    combined = study[max(alphas, key=lambda k: float(k.split("= ")[1]))]
    return {
        "collapse": random["spread"] - supcon["spread"],
        "fine_lost": study["SimCLR"]["fine_knn_z"] - supcon["fine_knn_z"],
        "fine_regained": combined["fine_knn_z"] - supcon["fine_knn_z"],
        "spread_regained": combined["spread"] - supcon["spread"],
        "coarse_kept": combined["coarse_accuracy"] - supcon["coarse_accuracy"],
    }
