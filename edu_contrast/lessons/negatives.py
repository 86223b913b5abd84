r"""Notebook 13: good and bad negatives — false negatives, debiasing, hard negatives, the augmentation graph.

* **False negatives, measured**: in a random batch of N images, the share of the M = 2N − 2 negatives of
  an anchor that have its class (``false_negative_fraction``), against the class prior
  τ⁺ = Σ_c n_c(n_c − 1) / (n(n − 1)) ≈ 1/C (``class_prior``).
* **The debiased negative term** of Chuang et al. 2020 (``debiased_negative_term``, the exercise's
  reference) against the true sum over other-class negatives on real embeddings (``negative_sums``).
* **Hard-negative weights** w_ik ∝ exp(β s_ik/τ) of Robinson et al. 2021 (``negative_weights``) and the
  share of that weight on same-class negatives (``same_class_share``).
* **SimCLR, debiased, hard-negative** trained under one budget (``compare_methods``); each run's settings
  (``run_settings``) and the ablation that isolates the hardness weighting β (``hardness_ablation``).
* **The augmentation graph** (Arora et al. 2019; HaoChen et al. 2021): a small graph whose connected
  components are the latent classes (``augmentation_graph``); the population spectral contrastive loss
  (``population_spectral_loss``), its minimiser (``spectral_minimiser``) against the top eigenvectors of
  the normalised adjacency (``top_eigenvectors``, ``span_distance``), and a linear probe (``graph_probe``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from edu_contrast import data, measure, methods, models, probes, train
from edu_contrast._validation import check_choice, check_int, check_labels, fail
from edu_contrast.lessons._augmentation_graph import (  # noqa: F401  (re-exported: section 5)
    augmentation_graph,
    graph_probe,
    normalized_adjacency,
    population_spectral_loss,
    span_distance,
    spectral_minimiser,
    top_eigenvectors,
)
from edu_contrast.lessons._cache import cache_key, cached
from edu_contrast.lessons.methods import resized_subset
from edu_contrast.losses.negatives import check_tau_plus
from edu_contrast.utils import MODES

_SCALES = {  # every size and budget of notebook 13, per mode (train/test None: the whole split)
    "quick": dict(dataset="digits", image=8, train=None, test=None, pair=(3, 8), width=8, epochs=8,
                  batch=64, seeds=(0, 1, 2), temperature=0.5),
    "lab": dict(dataset="fashion-mnist", image=16, train=10_000, test=5000, pair=(2, 4), width=12, epochs=8,
                batch=128, seeds=(0, 1, 2), temperature=0.5),
    "full": dict(dataset="fashion-mnist", image=28, train=None, test=None, pair=(2, 4), width=32, epochs=30,
                 batch=256, seeds=(0, 1, 2), temperature=0.5),
}  # fmt: skip
TWO_GROUPS = {  # dataset → the 2-class grouping of its ten labels (group 1: these labels)
    "digits": (1, 3, 5, 7, 9),  # odd against even
    "fashion-mnist": (5, 7, 8, 9),  # sandal, sneaker, bag, ankle boot against the garments
}
METHODS = {  # name → SimCLR's τ⁺ and β; the values the papers used on STL-10 / CIFAR-10
    "SimCLR": {"tau_plus": 0.0, "beta": 0.0},
    "debiased (τ⁺ = 0.1)": {"tau_plus": 0.1, "beta": 0.0},
    "hard (β = 1, τ⁺ = 0.1)": {"tau_plus": 0.1, "beta": 1.0},
}
FIT = {"lr": 3e-3, "progress": False, "knn_train_size": 2000, "knn_test_size": 1000}


def scale(mode: str) -> dict:
    """The sizes of notebook 13 in ``mode``: data, the two training classes ``pair``, width, budget, seeds."""
    return dict(_SCALES[check_choice(mode, "mode", "scale", MODES)])


def load_data(mode: str, *, seed: int = 0) -> tuple[data.ImageTensors, data.ImageTensors]:
    """``(train, test)`` with all ten classes: 8×8 digits (quick), Fashion-MNIST at 16×16 (lab) or 28×28."""
    size = scale(mode)
    return tuple(
        resized_subset(size["dataset"], split, size[split], size["image"], seed=seed)
        for split in ("train", "test")
    )


def relabel(part: data.ImageTensors, keep, *, names=None) -> data.ImageTensors:
    """The images whose label is in ``keep`` (a sequence of labels), relabelled 0, 1, … in that order."""
    keep = list(keep)
    if len(keep) < 2:
        fail("keep", "relabel", "at least two labels", keep)
    mask = torch.isin(part.labels, torch.tensor(keep))
    new = torch.tensor([keep.index(int(y)) for y in part.labels[mask]], dtype=torch.long)
    classes = names or [part.classes[k] for k in keep]
    return data.ImageTensors(part.images[mask], new, list(classes))


def two_groups(labels: torch.Tensor, dataset: str) -> torch.Tensor:
    """``TWO_GROUPS[dataset]``'s coarse labels: 1 for the listed labels, 0 for the others."""
    check_choice(dataset, "dataset", "two_groups", TWO_GROUPS)
    return torch.isin(labels, torch.tensor(TWO_GROUPS[dataset])).long()


# ----------------------------------------------------------------------------- false negatives


def _labels(labels, where: str) -> torch.Tensor:
    return check_labels(labels, len(labels), "labels", where)


def class_prior(labels) -> float:
    """τ⁺ = Σ_c n_c(n_c − 1) / (n(n − 1)): the chance that another random sample has the anchor's class.

    For C balanced classes and large n this is 1/C; Chuang et al. 2020 write τ⁺ for it.
    """
    labels = _labels(labels, "class_prior")
    n = len(labels)
    if n < 2:
        fail("labels", "class_prior", "at least two labels", n)
    counts = torch.bincount(labels).double()  # (C,) n_c
    return float((counts * (counts - 1)).sum() / (n * (n - 1)))


def false_negative_fraction(labels, batch_size: int, *, batches: int = 200, shuffle: bool = True,
                            seed: int = 0) -> float:  # fmt: skip
    """The mean share of an anchor's M = 2N − 2 negatives that have its class, over ``batches`` batches.

    Each batch holds N = ``batch_size`` samples: a random draw without replacement (``shuffle``) or, with
    ``shuffle=False``, consecutive runs of ``labels`` as they are ordered (a loader that does not shuffle).
    Both views of each other sample are negatives, so the share is #{j ≠ i : y_j = y_i} / (N − 1).
    """
    where = "false_negative_fraction"
    labels = _labels(labels, where)
    n = check_int(batch_size, "batch_size", where, minimum=2)
    if n > len(labels):
        fail("batch_size", where, f"at most the number of labels ({len(labels)})", n)
    g = torch.Generator().manual_seed(seed)
    shares = []
    for b in range(check_int(batches, "batches", where, minimum=1)):
        if shuffle:
            y = labels[torch.randperm(len(labels), generator=g)[:n]]  # (N,)
        else:
            start = (b * n) % (len(labels) - n + 1)
            y = labels[start : start + n]  # (N,) as the data is stored
        same = (y[:, None] == y[None, :]).sum(dim=1) - 1  # (N,) other samples of the anchor's class
        shares.append(same.double().mean() / (n - 1))
    return float(torch.stack(shares).mean())


def prior_matches(measured: float, labels, *, tolerance: float) -> bool:
    """The check of section 1: |measured share − τ⁺| < ``tolerance``."""
    return abs(measured - class_prior(labels)) < tolerance


# ----------------------------------------------------------------------------- debiased and hard negatives


def debiased_negative_term(s_neg, s_pos, tau_plus: float, temperature: float) -> torch.Tensor:
    r"""N_g = max( (Σ_k e^{s_k/τ} − τ⁺ M e^{s⁺/τ}) / (1 − τ⁺),  M e^{−1/τ} ), one per anchor.

    ``s_neg`` ``(A, M)``: cosine similarities s_k of each of A anchors with its M negatives;
    ``s_pos`` ``(A,)``: s⁺ with its positive; τ⁺ = ``tau_plus``, τ = ``temperature``. Chuang et al. 2020,
    Eq. 6 and the clamp of their code; ``losses.debiased_nt_xent`` computes the same in log space.
    Returns ``(A,)``.
    """
    m = s_neg.shape[1]
    raw = torch.exp(s_neg / temperature).sum(dim=1)  # (A,) Σ_k e^{s_k/τ}
    estimate = (raw - tau_plus * m * torch.exp(s_pos / temperature)) / (1 - tau_plus)  # (A,)
    return estimate.clamp(min=m * math.exp(-1 / temperature))  # every negative at s = −1, the least it can be


def anchor_similarities(z1, z2, labels) -> dict:
    """NT-Xent's 2N anchors: ``{"pos": (2N,), "neg": (2N, M), "same": (2N, M) bool}``, M = 2N − 2.

    s on the unit sphere; "same" marks negatives with the anchor's label (false negatives).
    """
    labels = check_labels(labels, z1.shape[0], "labels", "anchor_similarities")
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)  # (2N, d)
    n2 = z.shape[0]
    y = labels.repeat(2)  # (2N,)
    s = z @ z.T  # (2N, 2N)
    partner = torch.arange(n2).roll(n2 // 2)  # (2N,): i⁺ = i ± N
    keep = torch.ones(n2, n2, dtype=torch.bool)
    keep[torch.arange(n2), torch.arange(n2)] = False
    keep[torch.arange(n2), partner] = False  # (2N, 2N): the M negatives of each row
    neg = s[keep].reshape(n2, n2 - 2)  # (2N, M)
    same = (y[:, None] == y[None, :])[keep].reshape(n2, n2 - 2)  # (2N, M)
    return {"pos": s[torch.arange(n2), partner], "neg": neg, "same": same}


def negative_sums(sims: dict, temperature: float, tau_pluses) -> dict:
    """Per anchor: ``"true"`` = M·mean of e^{s/τ} over its other-class negatives (what N_g estimates),
    ``"raw"`` = Σ_k e^{s_k/τ} over all M, and ``"estimate"`` {τ⁺: N_g} (``debiased_negative_term``)."""
    neg, same = sims["neg"], sims["same"]
    m = neg.shape[1]
    exp_neg = torch.exp(neg / temperature)  # (2N, M)
    other = (~same).sum(dim=1)  # (2N,)
    keep = other > 0
    true = m * (exp_neg * ~same).sum(dim=1)[keep] / other[keep]  # (A,)
    estimates = {
        float(t): debiased_negative_term(neg[keep], sims["pos"][keep], check_tau_plus(t, "negative_sums"),
                                         temperature)
        for t in tau_pluses
    }  # fmt: skip
    return {"true": true, "raw": exp_neg.sum(dim=1)[keep], "estimate": estimates}


def log_ratio(estimate: torch.Tensor, true: torch.Tensor) -> float:
    """mean_i log(N_g,i / true_i): > 0 when the estimate is too large (false negatives counted)."""
    return float(torch.log(estimate / true).mean())


def negative_weights(sims: dict, temperature: float, beta: float) -> torch.Tensor:
    """w_ik = e^{β s_ik/τ} / Σ_k e^{β s_ik/τ}: Robinson et al. 2021's importance weights, ``(2N, M)``."""
    return torch.softmax(beta * sims["neg"] / temperature, dim=1)


def same_class_share(weights: torch.Tensor, same: torch.Tensor) -> float:
    """mean_i Σ_k w_ik [y_k = y_i]: how much of the negatives' weight falls on false negatives."""
    return float((weights * same).sum(dim=1).mean())


# ----------------------------------------------------------------------------- training under one budget


def build_method(name: str, *, channels: int, width: int, temperature: float) -> methods.SimCLR:
    """``METHODS[name]``: SimCLR with that τ⁺ and β on a fresh SmallConvNet."""
    check_choice(name, "name", "build_method", METHODS)
    encoder = models.SmallConvNet(channels, width=width)
    return methods.SimCLR(encoder, temperature=temperature, **METHODS[name])


def run_settings(name: str, mode: str) -> dict:
    """The settings of run ``name`` (``METHODS``) at ``scale(mode)``: its τ⁺ and β, then τ, epochs, width
    and batch, the budget every run shares (the designs of the notebook's ablation exercise)."""
    size = scale(mode)
    method = METHODS[check_choice(name, "name", "run_settings", METHODS)]
    return {**method, **{key: size[key] for key in ("temperature", "epochs", "width", "batch")}}


def hardness_ablation(method: dict) -> dict:
    """The ablation that measures what the hardness weighting adds to the run ``method``: the same run with
    β = 0 (every negative weighted alike), τ⁺ and the budget unchanged, so β is the only difference."""
    return {**method, "beta": 0.0}


def _train_one(name, train_data, test_data, size, seed) -> dict:
    torch.manual_seed(seed)  # the same initial weights for every method of a seed
    method = build_method(name, channels=train_data.channels, width=size["width"],
                          temperature=size["temperature"])  # fmt: skip
    result = train.fit(method, train_data, epochs=size["epochs"], batch_size=size["batch"], seed=seed,
                       eval_data=test_data, **FIT)  # fmt: skip
    return {
        "linear": result["linear_accuracy"],
        "knn": result["history"][-1]["knn_accuracy"],
        "method": method,
    }


def compare_methods(train_data, test_data, mode: str, *, seeds=None) -> dict:
    """Train every method of ``METHODS`` for every seed at ``scale(mode)``: ``{name: {seed: result}}``.

    A result holds the linear-probe and kNN accuracy of h and the trained ``method``; runs are kept
    for the session (``lessons._cache``).
    """
    size = scale(mode)
    table: dict = {}
    for seed in size["seeds"] if seeds is None else seeds:
        for name in METHODS:
            key = cache_key(compare_methods, name=name, mode=mode, seed=seed, n=len(train_data))
            table.setdefault(name, {})[seed] = cached(
                key, lambda name=name, seed=seed: _train_one(name, train_data, test_data, size, seed)
            )
    return table


def random_encoder_probe(train_data, test_data, mode: str, *, seed: int = 0) -> float:
    """The linear probe on h of the untrained encoder, BatchNorm calibrated on the training images."""
    size = scale(mode)
    torch.manual_seed(seed)
    method = build_method("SimCLR", channels=train_data.channels, width=size["width"], temperature=0.5)
    measure.calibrate_batchnorm(method, train_data.images)
    h_train, h_test = measure.embed(method, train_data.images), measure.embed(method, test_data.images)
    return probes.linear_probe(h_train, train_data.labels, h_test, test_data.labels)


def summary(table: dict, metric: str = "linear") -> dict:
    """``{name: (mean, min, max)}`` of ``metric`` over the seeds."""
    out = {}
    for name, runs in table.items():
        values = torch.tensor([r[metric] for r in runs.values()], dtype=torch.float64)
        out[name] = (float(values.mean()), float(values.min()), float(values.max()))
    return out
