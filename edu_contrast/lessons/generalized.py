"""Notebook 08: contrastive learning as alignment + matching a prior (Chen, Luo & Li 2021, Sec. 2, App. A.2).

    L = L_pos + λ · L_dist                            (Eq. 2, ``losses.generalized_contrastive``)

NT-Xent is the member whose L_dist is the log-sum-exp ("lse") term, which spreads ẑ uniformly on
the hypersphere. The sliced Wasserstein distance ("swd", ``losses.sliced_wasserstein``) can pull z
towards any prior we can sample: uniform on the hypersphere, uniform in the hypercube [−1, 1]^d,
or the standard normal. ``methods.Generalized`` trains an encoder with either loss; this module
has what the notebook needs around them:

* ``swd_to_prior``: the distance of a set of embeddings to a prior, measured with a fixed generator
  (so two models are compared on the same projections and prior samples);
* ``project_on_directions`` and ``sphere_projection_density``: the 1-D random projections of
  Figure A.1 and the exact density of a projection of the uniform hypersphere;
* ``scale`` and ``load_data``: the notebook's sizes and data per mode (8×8 digits in quick mode,
  Fashion-MNIST at 16×16 in lab mode and at 28×28 in full mode);
* a 2-D toy (``toy_inputs``, ``train_toy``, ``weight_temperature_grid``) small enough to train live:
  an MLP maps noisy 2-D points to z ∈ ℝ², so the fitted distribution can be seen directly;
  ``past_the_middle_runs`` and ``temperature_weight_effects`` (``_generalized_effects``): section 5's
  check, where τ stops acting like λ.

Symbols as in ``notebooks/00_notation.md``: z embeddings, ẑ = z/‖z‖, λ ``weight``, τ ``temperature``,
P prior samples, w_k the K projection directions.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from edu_contrast import diagnostics, losses
from edu_contrast._validation import check_choice, check_embeddings, check_int, check_positive, fail
from edu_contrast.lessons._generalized_effects import check_effect, temperature_weight_effects
from edu_contrast.lessons.methods import train_test_subsets
from edu_contrast.losses._common import normalize
from edu_contrast.losses.generalized import DISTRIBUTIONS, PRIORS, _orthogonal_directions
from edu_contrast.utils import MODES, one_thread

__all__ = [
    "scale",
    "load_data",
    "PRIORS",
    "DISTRIBUTIONS",
    "wasserstein_1d",
    "random_directions",
    "project_on_directions",
    "swd_to_prior",
    "sphere_projection_density",
    "toy_inputs",
    "ToyEncoder",
    "train_toy",
    "weight_temperature_grid",
    "doubling_effects",
    "past_the_middle_runs",
    "temperature_weight_effects",
    "check_effect",
]


_SCALES = {  # every size and budget of notebook 08, per mode (train/test None: the whole split)
    "quick": dict(dataset="digits", image=8, train=None, test=None, width=16, epochs=15,
                  grid_weights=(0.5, 1.0, 2.0), grid_steps=150),
    "lab": dict(dataset="fashion-mnist", image=16, train=4000, test=1000, width=16, epochs=10,
                grid_weights=(0.25, 0.5, 1.0, 2.0), grid_steps=300),
    "full": dict(dataset="fashion-mnist", image=28, train=20_000, test=2000, width=32, epochs=30,
                 grid_weights=(0.25, 0.5, 1.0, 2.0), grid_steps=300),
}  # fmt: skip


def scale(mode: str) -> dict:
    """The sizes of notebook 08 in ``mode`` ("quick", "lab", "full"): data, width, epochs, the λ–τ grid."""
    return dict(_SCALES[check_choice(mode, "mode", "scale", MODES)])


def load_data(mode: str, *, seed: int = 0):
    """``(train, test)`` ``ImageTensors`` of ``scale(mode)``: 8×8 digits (quick), Fashion-MNIST at 16×16
    (lab: 4000 / 1000 images) or 28×28 (full: 20 000 / 2000), subsets drawn with ``seed``."""
    return train_test_subsets(scale(mode), seed=seed)


def _check_loss_choice(distribution: str, prior: str, where: str) -> None:
    check_choice(distribution, "distribution", where, DISTRIBUTIONS)
    check_choice(prior, "prior", where, PRIORS)
    if distribution == "lse" and prior != "hypersphere":
        fail(
            "prior", where, "'hypersphere' when distribution='lse' (use 'swd' for other priors)", repr(prior)
        )


def wasserstein_1d(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    r"""W₂²(a, b) = (1/n) Σ_{i=1..n} (a_(i) − b_(i))², a_(1) ≤ … ≤ a_(n): two 1-D samples ``(n,)`` each.

    The squared 2-Wasserstein distance of their empirical distributions: in 1-D optimal transport pairs the
    i-th smallest with the i-th smallest (Chen, Luo & Li 2021, Algorithm 1). Averaged over K directions w_k,
    W₂²(Z w_k, P w_k) is ``losses.sliced_wasserstein``.
    """
    a_sorted, b_sorted = a.sort().values, b.sort().values  # (n,) each: i-th smallest ↔ i-th smallest
    return (a_sorted - b_sorted).pow(2).mean()


def random_directions(dim: int, num_projections: int | None = None, *, seed: int = 0) -> torch.Tensor:
    """K random orthonormal directions w_k as the columns of a float32 ``(d, K)`` tensor (K = d by default).

    The directions ``losses.sliced_wasserstein`` uses (blocks of d orthonormal vectors), drawn from a
    CPU generator seeded with ``seed``, so the same seed gives the same directions everywhere.
    """
    where = "random_directions"
    dim = check_int(dim, "dim", where)
    num_projections = dim if num_projections is None else check_int(num_projections, "num_projections", where)
    generator = torch.Generator().manual_seed(seed)
    return _orthogonal_directions(dim, num_projections, generator, torch.float32, "cpu")  # (d, K)


@torch.no_grad()
def project_on_directions(
    z: torch.Tensor, directions: torch.Tensor, *, prior: str = "normal"
) -> torch.Tensor:
    r"""The 1-D projections z·w_k, shape ``(N, K)``: what the SWD sorts and Figure A.1 draws as histograms.

    For the hypersphere prior the rows are normalised first (ẑ·w_k), as ``losses.sliced_wasserstein`` does.

    Args:
        z: embeddings ``(N, d)``.  directions: ``(d, K)`` (``random_directions``).  prior: as in the loss.
    """
    where = "project_on_directions"
    check_choice(prior, "prior", where, PRIORS)
    check_embeddings(z, "z", where)
    check_embeddings(directions, "directions", where, shape_hint="(dim, num_projections)")
    if directions.shape[0] != z.shape[1]:
        fail(
            "directions",
            where,
            f"of shape ({z.shape[1]}, K) to match z's dimension",
            f"shape {tuple(directions.shape)}",
        )
    z = normalize(z) if prior == "hypersphere" else z.float()
    return torch.einsum("id,dk->ik", z.cpu(), directions.to(z.dtype).cpu())  # (N, K)


@torch.no_grad()
def swd_to_prior(z: torch.Tensor, prior: str, *, num_projections: int | None = None, seed: int = 0) -> float:
    r"""L_SWD(z, P) as a float, with a generator seeded by ``seed`` (the same projections and prior samples).

    The exact ``losses.sliced_wasserstein`` value, computed on the CPU without gradient. A fixed seed
    makes a before/after comparison of one model, or a comparison of two models, a fair one: only the
    embeddings change. Its floor for N samples of the prior itself is of order 1/N (sampling noise).
    """
    check_choice(prior, "prior", "swd_to_prior", PRIORS)
    generator = torch.Generator().manual_seed(seed)
    z = z.detach().float().cpu()
    return float(
        losses.sliced_wasserstein(z, prior=prior, num_projections=num_projections, generator=generator)
    )


def sphere_projection_density(dim: int, t) -> torch.Tensor:
    r"""Density of w·u for u uniform on S^{d−1} and any unit w:  p(t) = c_d (1 − t²)^{(d−3)/2} on [−1, 1].

    c_d = Γ(d/2) / (√π Γ((d−1)/2)). Its variance is 1/d, and for large d it is close to N(0, 1/d): why
    Chen et al. say that random projections of a uniform hypersphere "should be Gaussian like".

    Args:
        dim: d ≥ 2.  t: points (a float, list, array or tensor).

    Returns:
        float64 tensor of densities, 0 outside [−1, 1] (d = 2 is infinite at ±1, an integrable singularity).
    """
    dim = check_int(dim, "dim", "sphere_projection_density", minimum=2)
    t = torch.as_tensor(t, dtype=torch.float64)
    log_c = math.lgamma(dim / 2) - 0.5 * math.log(math.pi) - math.lgamma((dim - 1) / 2)
    inside = t.abs() <= 1
    base = (1 - t.pow(2)).clamp(min=0)  # 0 at ±1, where 0 ** 0 = 1 keeps d = 3 flat
    return torch.where(inside, math.exp(log_c) * base.pow(0.5 * (dim - 3)), torch.zeros_like(t))


# ----------------------------------------------------------------------------- the 2-D toy

TOY_CENTRES = ((-1.0, 0.0), (1.0, 0.0), (0.0, 1.5))


def toy_inputs(n: int, *, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n points x ∈ ℝ² from three Gaussian blobs (σ = 0.35) and their blob index: ``(n, 2)``, ``(n,)``."""
    n = check_int(n, "n", "toy_inputs", minimum=3)
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % len(TOY_CENTRES)  # (n,) balanced blobs
    centres = torch.tensor(TOY_CENTRES)[labels]  # (n, 2)
    return centres + 0.35 * torch.randn(n, 2, generator=generator), labels


class ToyEncoder(nn.Module):
    """A small MLP ℝ² → ℝ^out_dim (two hidden layers of ``width`` with ReLU), the toy's f."""

    def __init__(self, out_dim: int = 2, width: int = 64):
        super().__init__()
        out_dim = check_int(out_dim, "out_dim", "ToyEncoder")
        width = check_int(width, "width", "ToyEncoder")
        self.net = nn.Sequential(
            nn.Linear(2, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, out_dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)  # (B, 2) → (B, out_dim)


def train_toy(
    prior: str = "hypersphere",
    *,
    distribution: str = "swd",
    weight: float = 1.0,
    temperature: float = 0.5,
    steps: int = 200,
    batch_size: int = 128,
    noise: float = 0.1,
    lr: float = 1e-2,
    out_dim: int = 2,
    seed: int = 0,
) -> dict:
    r"""Train ``ToyEncoder`` with ``losses.generalized_contrastive`` on noisy pairs of toy points.

    Two views of x are x + ε₁ and x + ε₂, ε ~ N(0, ``noise``² I): alignment asks f to ignore the
    noise, the distribution term asks f(x) to fill the prior. Adam, ``steps`` steps of ``batch_size``
    fresh points. Everything is seeded by ``seed``.

    Returns:
        A dict with ``z`` (``(512, out_dim)`` embeddings of fixed evaluation points), ``labels`` (their
        blob), ``alignment`` (E‖ẑ1 − ẑ2‖² on the hypersphere prior, E‖z1 − z2‖² otherwise, over two noisy
        views of the evaluation points), ``uniformity`` (of ẑ) and ``swd`` (``swd_to_prior``).
    """
    where = "train_toy"
    _check_loss_choice(distribution, prior, where)
    weight = check_positive(weight, "weight", where, allow_zero=True)
    temperature = check_positive(temperature, "temperature", where)
    steps = check_int(steps, "steps", where, minimum=0)
    batch_size = check_int(batch_size, "batch_size", where, minimum=2)
    noise = check_positive(noise, "noise", where, allow_zero=True)
    lr = check_positive(lr, "lr", where)
    with torch.random.fork_rng(), one_thread():  # the loss draws SWD directions from the global generator
        torch.manual_seed(seed)
        model = ToyEncoder(out_dim)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(steps):
            x, _ = toy_inputs(batch_size, seed=int(torch.randint(0, 2**31 - 1, ())))  # (B, 2)
            z1, z2 = model(x + noise * torch.randn_like(x)), model(x + noise * torch.randn_like(x))
            loss = losses.generalized_contrastive(
                z1, z2, distribution=distribution, prior=prior, weight=weight, temperature=temperature
            )
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            x, labels = toy_inputs(512, seed=seed + 10_000)  # fixed evaluation points, never trained on
            z = model(x)
            z1, z2 = model(x + noise * torch.randn_like(x)), model(x + noise * torch.randn_like(x))
    if prior == "hypersphere":
        alignment = diagnostics.alignment(z1, z2)  # E‖ẑ1 − ẑ2‖²
    else:
        alignment = float((z1 - z2).pow(2).sum(dim=1).mean())  # E‖z1 − z2‖²: the prior lives off the sphere
    return {
        "z": z,
        "labels": labels,
        "alignment": alignment,
        "uniformity": diagnostics.uniformity(z),
        "swd": swd_to_prior(z, prior),
    }


def weight_temperature_grid(
    weights, temperatures, *, steps: int = 150, out_dim: int = 8, seed: int = 0
) -> dict:
    r"""Train the toy with the "lse" loss for every (λ, τ) and return its alignment and uniformity grids.

    L = −(1/2N) Σ_i s_{ii⁺}/τ + λ·(1/2N) Σ_i log Σ_{k≠i} exp(s_ik/τ) (``losses.generalized_contrastive``).
    Chen, Luo & Li 2021 (Appendix A.2) report that, within a range of τ, a higher temperature acts like a
    larger weight of the distribution term: the grid measures it. Where it holds, the iso-lines of both
    measures run along λτ ≈ const (``doubling_effects`` fits the two slopes). ``out_dim`` is the dimension
    of z; every run uses the same ``seed``.

    Returns:
        ``{"weights": (W,), "temperatures": (T,), "alignment": (T, W), "uniformity": (T, W)}`` tensors.
    """
    weights = [check_positive(w, "weights", "weight_temperature_grid") for w in weights]
    temperatures = [check_positive(t, "temperatures", "weight_temperature_grid") for t in temperatures]
    alignment = torch.zeros(len(temperatures), len(weights))
    uniformity = torch.zeros(len(temperatures), len(weights))
    for row, temperature in enumerate(temperatures):
        for col, weight in enumerate(weights):
            run = train_toy(
                "hypersphere",
                distribution="lse",
                weight=weight,
                temperature=temperature,
                steps=steps,
                out_dim=out_dim,
                seed=seed,
            )
            alignment[row, col], uniformity[row, col] = run["alignment"], run["uniformity"]
    return {
        "weights": torch.tensor(weights),
        "temperatures": torch.tensor(temperatures),
        "alignment": alignment,
        "uniformity": uniformity,
    }


def doubling_effects(grid: dict, key: str) -> dict:
    r"""The least-squares fit value ≈ a·log₂λ + b·log₂τ + c over a ``weight_temperature_grid``.

    ``{"weight": a, "temperature": b}``: how much ``key`` ("alignment" or "uniformity") changes when λ,
    resp. τ, doubles. λ and τ trade off (only λτ matters) when a ≈ b: doubling τ does what doubling λ does.
    """
    check_choice(key, "key", "doubling_effects", ("alignment", "uniformity"))
    log_w = torch.log2(grid["weights"].double())  # (W,)
    log_t = torch.log2(grid["temperatures"].double())  # (T,)
    rows, cols = torch.meshgrid(log_t, log_w, indexing="ij")  # (T, W) each
    design = torch.stack(
        [cols.flatten(), rows.flatten(), torch.ones(rows.numel(), dtype=torch.float64)], dim=1
    )
    coefficients = torch.linalg.lstsq(design, grid[key].double().reshape(-1, 1)).solution  # (3, 1)
    return {"weight": float(coefficients[0]), "temperature": float(coefficients[1])}


def past_the_middle_runs(
    *, weight: float = 1.0, temperatures=(0.2, 1.0), steps: int = 150, out_dim: int = 8, seed: int = 0
) -> dict:
    r"""The toy's uniformity at (λ, τ_mid), (λ, τ_high) and (λ·τ_high/τ_mid, τ_mid), "lse" loss.

    The last two have the same λτ: they train alike if τ only scaled λ (``_generalized_effects``).

    ``weight`` is λ, ``temperatures`` (τ_mid, τ_high); ``steps``, ``out_dim``, ``seed`` as in
    ``weight_temperature_grid`` (the same toy, the same seed for every run).

    Returns:
        ``{"middle": ..., "large_temperature": ..., "large_weight": ...}``: L_uniform of the three runs.
    """
    where = "past_the_middle_runs"
    weight = check_positive(weight, "weight", where)
    middle, high = (check_positive(t, "temperatures", where) for t in temperatures)
    if not middle < high:
        fail("temperatures", where, "(τ_mid, τ_high) with τ_mid < τ_high", tuple(temperatures))
    points = {"middle": (weight, middle), "large_temperature": (weight, high)}
    points["large_weight"] = (weight * high / middle, middle)  # the same λτ as large_temperature
    settings = dict(distribution="lse", steps=steps, out_dim=out_dim, seed=seed)
    return {
        name: train_toy("hypersphere", weight=w, temperature=t, **settings)["uniformity"]
        for name, (w, t) in points.items()
    }
