"""Notebook 01: the NT-Xent logits (``nt_xent_logits``, the exercise's reference) and InfoNCE as a
mutual-information estimator, on correlated Gaussians whose MI is known exactly.

Draw N pairs (x_i, y_i) from p(x, y); score every x_i against every y_j with a critic ψ; then

    I(X; Y) ≥ I_NCE = E[ log N + ψ(x_i, y_i) − log Σ_{j=1..N} exp ψ(x_i, y_j) ]
                    = log N − CrossEntropy(scores, labels = arange(N))

(van den Oord et al. 2018, Eq. 10; Poole et al. 2019, "On Variational Bounds of Mutual Information",
Eq. 12). Each term ψ(x_i, y_i) − log Σ_j exp ψ(x_i, y_j) ≤ 0, so I_NCE ≤ log N for any critic: a
batch of N can never certify more than log N nats. The best critic is the pointwise MI
ψ*(x, y) = log p(y | x) / p(y) (up to a function of x), and even it needs N ≫ e^I to get close to I.
(The letters f, g, h are kept for the encoder, the head and the features, ``notebooks/00_notation.md``.)

Test bed (Poole et al. 2019, Sec. 5): x ~ 𝒩(0, I_d) and y = ρ x + √(1 − ρ²) ε with ε ~ 𝒩(0, I_d),
i.e. d independent pairs of correlation ρ, whose MI is I = −(d/2) log(1 − ρ²).

    x, y = sample_correlated_gaussians(512, dim=10, rho=0.7)
    critic = SeparableCritic(dim=10)
    train_critic(critic, rho=0.7, batch_size=512, steps=300)
    estimate_mi(critic, rho=0.7, dim=10, batch_size=512)      # ≈ 3.1 nats, true MI 3.37
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import check_embeddings, check_int, check_positive, check_same_shape, fail
from edu_contrast.measure import eval_mode

__all__ = [
    "nt_xent_logits",
    "gaussian_mutual_information",
    "sample_correlated_gaussians",
    "optimal_critic",
    "infonce_bound",
    "SeparableCritic",
    "train_critic",
    "estimate_mi",
    "infonce_vs_batch_size",
    "bound_curve",
    "margin_loss_curves",
]


def nt_xent_logits(z1: torch.Tensor, z2: torch.Tensor, temperature: float):
    r"""The NT-Xent logits and labels of SimCLR (Chen et al. 2020, Eq. 1) for the 2N views z = [z1; z2]:

        logits_ij = ẑ_i · ẑ_j / τ  (j ≠ i),     logits_ii = −inf,     labels_i = i⁺ = (i + N) mod 2N,

    so that ``F.cross_entropy(logits, labels)`` is ``losses.nt_xent(z1, z2, temperature=τ)``. ``z1`` and
    ``z2`` are ``(N, d)``, row i of each a view of sample i; ``temperature`` is τ. Returns logits
    ``(2N, 2N)`` (row i = anchor i, column j = candidate j) and integer labels ``(2N,)``.
    """
    where = "nt_xent_logits"
    check_same_shape(check_embeddings(z1, "z1", where), check_embeddings(z2, "z2", where), "z1", "z2", where)
    temperature = check_positive(temperature, "temperature", where)
    n = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)  # (2N, d): views 1, then views 2
    logits = torch.einsum("id,jd->ij", z, z) / temperature  # (2N, 2N): s_ij / τ
    self_pairs = torch.eye(2 * n, dtype=torch.bool, device=z.device)  # (2N, 2N): the diagonal
    logits = logits.masked_fill(self_pairs, float("-inf"))  # an anchor is not its own candidate
    labels = torch.arange(2 * n, device=z.device).roll(n)  # (2N,): i⁺ = (i + N) mod 2N
    return logits, labels


def _check_rho(rho, where: str) -> float:
    """ρ in (−1, 1): |ρ| = 1 makes y a copy of ±x and the MI infinite."""
    if isinstance(rho, bool) or not isinstance(rho, (int, float)):
        fail("rho", where, "a real number in (-1, 1)", f"{rho!r} of type {type(rho).__name__}", TypeError)
    rho = float(rho)
    if not -1.0 < rho < 1.0:
        fail("rho", where, "in the open interval (-1, 1) (|ρ| = 1 has infinite mutual information)", rho)
    return rho


def gaussian_mutual_information(rho: float, dim: int) -> float:
    r"""I(X; Y) = −(d/2) log(1 − ρ²) nats, for d independent coordinate pairs of correlation ρ.

    ``rho`` is ρ ∈ (−1, 1), ``dim`` is d. Each pair is a bivariate normal with unit variances, whose MI is
    −½ log(1 − ρ²) (Cover & Thomas 2006, Example 8.5.1); MI adds over independent pairs.
    """
    where = "gaussian_mutual_information"
    rho = _check_rho(rho, where)
    dim = check_int(dim, "dim", where)
    return -0.5 * dim * math.log1p(-rho * rho)


def sample_correlated_gaussians(
    n: int, dim: int, rho: float, *, batches: int | None = None, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""N pairs (x_i, y_i): x ~ 𝒩(0, I_d), y = ρ x + √(1 − ρ²) ε, ε ~ 𝒩(0, I_d) (so y ~ 𝒩(0, I_d) too).

    Args:
        n: N, pairs per batch. dim: d. rho: ρ ∈ (−1, 1), the correlation of each coordinate pair.
        batches: B independent batches at once (shape ``(B, N, d)``), or None for one ``(N, d)`` batch.
        generator: a ``torch.Generator`` for repeatable draws.

    Returns:
        ``(x, y)``, float32, each ``(N, d)`` (or ``(B, N, d)``); row i of y is the partner of row i of x.
    """
    where = "sample_correlated_gaussians"
    n, dim, rho = check_int(n, "n", where), check_int(dim, "dim", where), _check_rho(rho, where)
    shape = (n, dim) if batches is None else (check_int(batches, "batches", where), n, dim)
    x = torch.randn(shape, generator=generator)
    noise = torch.randn(shape, generator=generator)
    return x, rho * x + math.sqrt(1.0 - rho * rho) * noise


def optimal_critic(x: torch.Tensor, y: torch.Tensor, rho: float) -> torch.Tensor:
    r"""The scores ψ*(x_i, y_j) = log p(y_j | x_i) / p(y_j) of every x_i against every y_j.

    For the Gaussians of ``sample_correlated_gaussians``, with v = 1 − ρ²,

        ψ*(x, y) = −(d/2) log v + (ρ/v) x·y − ρ²‖x‖²/(2v) − ρ²‖y‖²/(2v),

    the pointwise mutual information, whose mean over the positive pairs is I. It is the critic that
    maximises the InfoNCE bound (Poole et al. 2019, Sec. 2.3), so ``infonce_bound(optimal_critic(...))``
    is the best any learned critic can do with N samples.

    Args:
        x: ``(N, d)`` or ``(B, N, d)``. y: the same shape. rho: ρ, the correlation used to draw them.

    Returns:
        Scores of shape ``(N, N)`` (or ``(B, N, N)``): row i is x_i, column j is y_j; positives on the
        diagonal.
    """
    where = "optimal_critic"
    rho = _check_rho(rho, where)
    x, y = _check_pair(x, y, where)
    v = 1.0 - rho * rho
    cross = torch.einsum("...id,...jd->...ij", x, y)  # (…, N, N) x_i · y_j
    x_sq = x.pow(2).sum(-1).unsqueeze(-1)  # (…, N, 1) ‖x_i‖²
    y_sq = y.pow(2).sum(-1).unsqueeze(-2)  # (…, 1, N) ‖y_j‖²
    return -0.5 * x.shape[-1] * math.log(v) + (rho * cross - 0.5 * rho * rho * (x_sq + y_sq)) / v


def _check_pair(x, y, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    ndim = x.dim() if isinstance(x, torch.Tensor) and x.dim() in (2, 3) else 2
    check_embeddings(x, "x", where, ndim=ndim, shape_hint="(N, d) or (B, N, d)")
    check_embeddings(y, "y", where, ndim=ndim, shape_hint="(N, d) or (B, N, d)")
    check_same_shape(x, y, "x", "y", where)
    return x, y


def infonce_bound(scores: torch.Tensor) -> torch.Tensor:
    r"""I_NCE = log N + (1/N) Σ_i [ ψ(x_i, y_i) − log Σ_j exp ψ(x_i, y_j) ] = log N − CE(scores, arange(N)).

    ``scores`` holds ψ(x_i, y_j): row i is x_i, column j is y_j, and the positive pair of row i sits in
    column i, which is why the cross-entropy labels are ``arange(N)``. The value is a lower bound on
    I(X; Y) in expectation and is ≤ log N for every critic (van den Oord et al. 2018, Eq. 10).

    Args:
        scores: ``(N, N)``, or ``(B, N, N)`` for B batches (the bound is averaged over them), N ≥ 2.

    Returns:
        A 0-dim tensor in nats that backpropagates into the critic (maximise it to train the critic).
    """
    where = "infonce_bound"
    expected = "a square floating-point torch.Tensor, (N, N) or (B, N, N) with N >= 2"
    if not isinstance(scores, torch.Tensor) or not torch.is_floating_point(scores):
        fail("scores", where, expected, type(scores).__name__, TypeError)
    if scores.dim() not in (2, 3) or scores.shape[-1] != scores.shape[-2] or scores.shape[-1] < 2:
        fail("scores", where, expected, f"shape {tuple(scores.shape)}")
    n = scores.shape[-1]
    flat = scores.reshape(-1, n)  # (B·N, N): one row per x_i
    labels = torch.arange(n, device=scores.device).repeat(flat.shape[0] // n)  # (B·N,) positive of row i is i
    return math.log(n) - F.cross_entropy(flat, labels)


def _mlp(dim: int, hidden: int, out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, out))


class SeparableCritic(nn.Module):
    r"""ψ(x, y) = φ(x) · χ(y): two small MLP encoders and a dot product (Poole et al. 2019, Sec. 5).

    The same shape as contrastive learning: φ and χ embed each side, the score is their inner product,
    and all N² scores of a batch cost one matrix product. ``dim`` is d, ``hidden`` the MLP width,
    ``embed_dim`` the size of φ(x) and χ(y).
    """

    def __init__(self, dim: int, hidden: int = 64, embed_dim: int = 32):
        super().__init__()
        for name, value in (("dim", dim), ("hidden", hidden), ("embed_dim", embed_dim)):
            check_int(value, name, "SeparableCritic")
        self.dim = dim
        self.phi, self.chi = _mlp(dim, hidden, embed_dim), _mlp(dim, hidden, embed_dim)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Scores ``(…, N, N)`` of x ``(…, N, d)`` against y ``(…, N, d)``: row i is x_i, column j is y_j."""
        return torch.einsum("...ik,...jk->...ij", self.phi(x), self.chi(y))  # (…, N, N)


def train_critic(
    critic: nn.Module,
    *,
    rho: float,
    batch_size: int,
    steps: int = 300,
    lr: float = 1e-3,
    generator: torch.Generator | None = None,
) -> list[float]:
    r"""Maximise I_NCE over the critic with Adam, on a fresh batch of N correlated pairs per step.

        θ ← θ + Adam(∇_θ I_NCE(ψ_θ; x_{1..N}, y_{1..N}))

    Args:
        critic: a module ``critic(x, y) -> (N, N) scores`` with a ``dim`` attribute (``SeparableCritic``).
        rho: ρ of the data. batch_size: N, the batch (1 positive and N − 1 negatives per x_i).
        steps: optimiser steps. lr: Adam's learning rate.
        generator: seeds the data stream (the critic's initial weights come from ``torch.manual_seed``).

    Returns:
        The training bound (nats) of every step, for a learning curve.
    """
    where = "train_critic"
    rho = _check_rho(rho, where)
    batch_size = check_int(batch_size, "batch_size", where, minimum=2)
    steps = check_int(steps, "steps", where)
    lr = check_positive(lr, "lr", where)
    dim = _critic_dim(critic, where)
    optimizer = torch.optim.Adam(critic.parameters(), lr=lr)
    history = []
    critic.train()
    for _ in range(steps):
        x, y = sample_correlated_gaussians(batch_size, dim, rho, generator=generator)
        bound = infonce_bound(critic(x, y))
        optimizer.zero_grad(set_to_none=True)
        (-bound).backward()
        optimizer.step()
        history.append(float(bound.detach()))
    return history


def _critic_dim(critic, where: str) -> int:
    dim = getattr(critic, "dim", None)
    if not isinstance(critic, nn.Module) or not isinstance(dim, int):
        expected = "an nn.Module with an int attribute 'dim' (e.g. SeparableCritic)"
        fail("critic", where, expected, f"an object of type {type(critic).__name__}", TypeError)
    return dim


@torch.no_grad()
def estimate_mi(
    critic: nn.Module | None,
    *,
    rho: float,
    dim: int,
    batch_size: int,
    samples: int = 16384,
    generator: torch.Generator | None = None,
) -> float:
    r"""The InfoNCE estimate of I(X; Y) with batches of N: I_NCE averaged over fresh held-out batches.

    Args:
        critic: a trained critic, or None for ``optimal_critic`` (the tightest bound at this N).
        rho: ρ. dim: d. batch_size: N.
        samples: about this many pairs in total, split into ⌈samples / N⌉ batches of N.
        generator: for repeatable batches.

    Returns:
        float (nats), ≤ log N always, and ≤ I(X; Y) up to sampling noise.
    """
    where = "estimate_mi"
    rho, dim = _check_rho(rho, where), check_int(dim, "dim", where)
    batch_size = check_int(batch_size, "batch_size", where, minimum=2)
    samples = check_int(samples, "samples", where)
    if critic is not None and _critic_dim(critic, where) != dim:
        fail("dim", where, f"the critic's input size {critic.dim}", dim)
    batches = max(1, math.ceil(samples / batch_size))  # B batches of N: x and y are (B, N, d)
    x, y = sample_correlated_gaussians(batch_size, dim, rho, batches=batches, generator=generator)
    if critic is None:
        return float(infonce_bound(optimal_critic(x, y, rho)))
    with eval_mode(critic):
        return float(infonce_bound(critic(x, y)))


def infonce_vs_batch_size(
    batch_sizes, *, rho: float, dim: int, steps: int = 300, lr: float = 1e-3, seed: int = 0
) -> list[dict]:
    r"""The experiment of notebook 01: for each N, train a fresh critic with batches of N, then estimate I.

    Args:
        batch_sizes: the values of N (each ≥ 2), e.g. ``[2, 8, 32, 128, 512]``.
        rho, dim: ρ and d of the data; the true MI is ``gaussian_mutual_information(rho, dim)``.
        steps, lr: training of each critic (``train_critic``). seed: seeds weights and data.

    Returns:
        One dict per N: ``batch_size`` N, ``log_n`` = log N, ``true_mi`` I, ``learned`` (the trained
        critic's estimate), ``untrained`` (the same critic's estimate before training: the baseline),
        ``optimal`` (the optimal critic's estimate), ``train_history``. All three estimates use the same
        held-out batches.
    """
    where = "infonce_vs_batch_size"
    sizes = list(batch_sizes) if not isinstance(batch_sizes, int) else [batch_sizes]
    if not sizes:
        fail("batch_sizes", where, "a non-empty list of batch sizes N >= 2", batch_sizes)
    for n in sizes:
        check_int(n, "batch_sizes", where, minimum=2)
    rho, dim = _check_rho(rho, where), check_int(dim, "dim", where)
    true_mi = gaussian_mutual_information(rho, dim)
    rows = []
    for n in sizes:
        with torch.random.fork_rng():  # seeded weights without touching the caller's random stream
            torch.manual_seed(seed + n)
            critic = SeparableCritic(dim)
        held_out = 10_000 + seed + n  # the same held-out batches for every critic
        kw = {"rho": rho, "dim": dim, "batch_size": n}
        untrained = estimate_mi(critic, **kw, generator=torch.Generator().manual_seed(held_out))
        data = torch.Generator().manual_seed(seed + n)
        history = train_critic(critic, rho=rho, batch_size=n, steps=steps, lr=lr, generator=data)
        learned, optimal = (
            estimate_mi(c, **kw, generator=torch.Generator().manual_seed(held_out)) for c in (critic, None)
        )
        row = {"batch_size": n, "log_n": math.log(n), "true_mi": true_mi, "learned": learned}
        rows.append({**row, "untrained": untrained, "optimal": optimal, "train_history": history})
    return rows


def bound_curve(rho: float, dim: int, batch_sizes, *, samples: int = 8192, seed: int = 0) -> np.ndarray:
    """The optimal critic's I_NCE(N) in nats for each N in ``batch_sizes`` (held-out batches: ``seed``)."""
    kw = {"rho": rho, "dim": dim, "samples": samples}
    held_out = lambda: torch.Generator().manual_seed(seed)  # the same batches' seed for every N
    return np.array([estimate_mi(None, batch_size=int(n), generator=held_out(), **kw) for n in batch_sizes])


def margin_loss_curves(margin: float = 1.0, *, max_distance: float = 2.5, points: int = 101) -> dict:
    r"""The margin loss of one pair against its distance d (Chopra 2005; Hadsell 2006, Eq. 4).

        positive pair (y = 1): d²        negative pair (y = 0): max(0, m − d)²

    computed with ``losses.margin_contrastive`` on 1-D pairs placed d apart; ``margin`` is m.
    Returns ``{"distance", "positive", "negative"}``, each a ``(points,)`` float64 numpy array.
    """
    margin = check_positive(margin, "margin", "margin_loss_curves")
    distance = torch.linspace(0, max_distance, points, dtype=torch.float64)  # (P,)
    origin = torch.zeros(1, 1, dtype=torch.float64)  # (1, 1): each pair is (0, d) on a line
    curves = {"distance": distance.numpy()}
    for name, y in (("positive", 1), ("negative", 0)):
        label = torch.full((1,), y)
        loss = [losses.margin_contrastive(origin, d.view(1, 1), label, margin=margin) for d in distance]
        curves[name] = torch.stack(loss).numpy()
    return curves
