r"""Notebook 03: alignment and uniformity on the hypersphere (Wang & Isola 2020), and the floor of L_uniform.

The runs of the notebook are ``tracked_run``s (``lessons._runs``): SimCLR, ``methods.AlignUniform`` and
``methods.Generalized`` trained on digits with 2-D or 3-D projections, measured after every epoch:

    L_align   = (1/n) Σ_i ‖ẑ⁽¹⁾_i − ẑ⁽²⁾_i‖²                     (two augmented views)
    L_uniform = log 2/(n(n−1)) Σ_{i<j} exp(−t ‖ẑ_i − ẑ_j‖²),  t = 2   (clean z)

L_uniform has a floor. For the uniform distribution σ on S^{d−1}, u = x·y of two independent points has
density ∝ (1 − u²)^{(d−3)/2}, and ‖x − y‖² = 2 − 2u, so

    L*_d = log E_σ exp(−2t + 2t u) = log[ Γ(d/2) t^{1−d/2} I_{d/2−1}(2t) ] − 2t,

    S¹ (d = 2): L* = log I₀(2t) − 2t            = log I₀(4) − 4      ≈ −1.5750 at t = 2,
    S² (d = 3): L* = log(sinh(2t)/(2t)) − 2t    = log(sinh(4)/4) − 4 ≈ −2.0798 at t = 2,
    d → ∞:      L* → −2t = −4.

No set of n points goes much lower: the Gaussian kernel is positive definite on the sphere, so its mean
over all n² ordered pairs (i = j included) is at least its mean under σ, e^{L*} (Schoenberg: the constant
spherical harmonic carries e^{L*}, every other one adds a non-negative term). Removing the n terms i = j
(each exp(0) = 1) gives, for the mean over i < j,

    L_uniform ≥ log[(n e^{L*} − 1)/(n − 1)]    (→ L* as n → ∞)

and Jensen's inequality (log E e^X ≥ E X, with the mean of ‖ẑ_i − ẑ_j‖² over i ≠ j at most 2n/(n − 1))
gives the cruder L_uniform ≥ −2tn/(n − 1) ≈ −4 in any dimension. ``uniform_sphere_uniformity`` and
``uniformity_lower_bound`` compute these numbers; ``rank_correlation`` asks whether the final alignment
and uniformity of the runs predict their probe accuracy.

Every embedding obeys the bound, so "above the floor" is no finding. What training does is measured
against the untrained network (BatchNorm calibrated, entry 0 of a run's history): ``floor_effects``
gives, per run, the share of its distance to the floor that training closed,

    gap_closed = (L_uniform(before) − L_uniform(after)) / (L_uniform(before) − bound(n, d)),

1 at the floor, 0 for no change (an untrained encoder), < 0 when training ended less uniform.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import gammaln
from scipy.stats import spearmanr

from edu_contrast._validation import check_int, check_positive, fail
from edu_contrast.lessons._checks import check_effect
from edu_contrast.lessons._runs import Run, measure_geometry, pair_distance, track_run, tracked_run

__all__ = [
    "Run",
    "measure_geometry",
    "pair_distance",
    "track_run",
    "tracked_run",
    "uniform_sphere_uniformity",
    "uniformity_lower_bound",
    "rank_correlation",
    "floor_effects",
    "check_effect",
]


def _log_bessel_i(nu: float, x: float) -> float:
    """log I_ν(x) from its power series Σ_k (x/2)^{2k+ν} / (k! Γ(k+ν+1)), summed in log space.

    Every term is positive, so the sum is exact to rounding for any ν ≥ 0, even where I_ν(x) underflows.
    """
    k = np.arange(max(64, int(4 * x) + 64), dtype=np.float64)  # terms peak near k ≈ x/2
    log_terms = (2 * k + nu) * math.log(x / 2) - gammaln(k + 1) - gammaln(k + nu + 1)
    top = log_terms.max()
    return float(top + math.log(np.exp(log_terms - top).sum()))


def uniform_sphere_uniformity(dim: int, t: float = 2.0) -> float:
    r"""L*_d = log E exp(−t ‖x − y‖²) for x, y independent and uniform on the unit sphere S^{d−1} ⊂ ℝ^d.

        L*_d = log Γ(d/2) + (1 − d/2) log t + log I_{d/2−1}(2t) − 2t

    d = 2 gives log I₀(2t) − 2t, d = 3 gives log(sinh(2t)/(2t)) − 2t; large d tends to −2t.
    ``dim`` is d ≥ 2, ``t`` is t > 0.
    """
    where = "uniform_sphere_uniformity"
    dim = check_int(dim, "dim", where, minimum=2)
    t = check_positive(t, "t", where)
    return float(gammaln(dim / 2) + (1 - dim / 2) * math.log(t) + _log_bessel_i(dim / 2 - 1, 2 * t) - 2 * t)


def uniformity_lower_bound(n: int, dim: int, t: float = 2.0) -> float:
    r"""A lower bound on L_uniform = log [2/(n(n−1)) Σ_{i<j} exp(−t ‖ẑ_i − ẑ_j‖²)], any n points on S^{d−1}.

        max( log[(n e^{L*_d} − 1)/(n − 1)],  −2tn/(n − 1) )

    The first term comes from the positive definiteness of the Gaussian kernel (module docstring) and
    tends to L*_d (``uniform_sphere_uniformity``) as n grows; the second from Jensen's inequality.
    """
    where = "uniformity_lower_bound"
    n = check_int(n, "n", where, minimum=2)
    t = check_positive(t, "t", where)
    jensen = -2 * t * n / (n - 1)
    mean_potential = (n * math.exp(uniform_sphere_uniformity(dim, t)) - 1) / (n - 1)
    return max(jensen, math.log(mean_potential)) if mean_potential > 0 else jensen


def rank_correlation(x, y) -> float:
    """Spearman's ρ: the Pearson correlation of the ranks (ties share their mean rank); NaN for a constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 2:
        fail(
            "x",
            "rank_correlation",
            "two 1-D sequences of the same length >= 2",
            f"shapes {x.shape}, {y.shape}",
        )
    if np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    return float(spearmanr(x, y).statistic)


def floor_effects(runs: dict, dim: int, *, t: float = 2.0) -> dict:
    r"""``gap_closed`` (module docstring) of every run, and of the run that ends most uniform.

    ``runs`` maps names to ``Run``s whose ẑ live on S^{d−1}, d = ``dim``; the bound is
    ``uniformity_lower_bound(n, d, t)`` for the n tracked images.

    Returns:
        ``{name: gap_closed, ..., "most uniform run": gap_closed of the run with the lowest final
        uniformity}``.
    """
    where = "floor_effects"
    if not runs or not all(isinstance(r, Run) for r in runs.values()):
        fail("runs", where, "a non-empty dict of Run", repr(runs)[:80], TypeError)
    effects = {}
    for name, run in runs.items():
        before, after = run.history[0]["uniformity"], run.final["uniformity"]
        bound = uniformity_lower_bound(run.z.shape[0], dim, t)
        effects[name] = (before - after) / (before - bound)
    most_uniform = min(runs, key=lambda name: runs[name].final["uniformity"])
    effects["most uniform run"] = effects[most_uniform]
    return effects
