r"""Notebook 02: what the temperature τ does to the softmax over negatives, to the gradient and to training.

For one anchor with positive similarity s⁺ and negative similarities s⁻_1 … s⁻_M, the InfoNCE loss is

    ℓ = −s⁺/τ + log( exp(s⁺/τ) + Σ_m exp(s⁻_m/τ) ),

and its gradient pushes negative k away with the weight

    ∂ℓ/∂s⁻_k = p_k / τ,    p_k = exp(s⁻_k/τ) / ( exp(s⁺/τ) + Σ_m exp(s⁻_m/τ) ),

so a small τ puts almost all of the push on the few hardest (most similar) negatives and a large τ
spreads it evenly (Wang & Liu 2021, "Understanding the Behaviour of Contrastive Loss", CVPR, Sec. 3.1:
the "hardness-aware" property). The share of the push is π_k = p_k / Σ_m p_m, its entropy H(π) says how
many negatives effectively receive gradient (exp H(π)).

``temperature_run`` trains SimCLR at one τ and measures its test embeddings with ``measure`` (the keys
of ``measure.embedding_report``) plus the share of the variance of ẑ in its top 5 principal directions
(``top_eigenvalue_ratio``); ``temperature_runs`` repeats it over seeds and ``seed_table`` gives the mean
and spread per τ. Wang & Liu 2021 (Sec. 4, after 200 epochs on CIFAR/SVHN/ImageNet-100) report that a
smaller τ ends *more* uniform and less tolerant to semantically similar samples; notebook 02 measures
what our short schedules give, over 3 seeds, and says where the two differ. ``hardness_effects``
(``_temperature_effects``) is the notebook's check that the push of a small τ lands on the anchor's own class.
"""

from __future__ import annotations

import math
import statistics

import torch
import torch.nn.functional as F

from edu_contrast import augment, diagnostics, measure, methods, train
from edu_contrast._validation import check_embeddings, check_int, check_positive, fail
from edu_contrast.lessons._temperature_effects import check_effect, hardness_effects, same_class_push

__all__ = [
    "MAX_BATCH_SIZE",
    "similarity_batch",
    "negative_weights",
    "temperature_summary",
    "push_share",
    "top_eigenvalue_ratio",
    "temperature_run",
    "temperature_runs",
    "seed_table",
    "TABLE_KEYS",
    "AUGMENT_STEPS",
    "active_steps",
    "without_step",
    "two_views",
    "view_steps",
    "same_class_push",
    "hardness_effects",
    "check_effect",
]

TABLE_KEYS = ("alignment", "uniformity", "erank_z", "top5_ratio", "knn_accuracy", "linear_accuracy")

MAX_BATCH_SIZE = 1024


def similarity_batch(
    batch_size: int = MAX_BATCH_SIZE, *, dim: int = 32, hard_fraction: float = 0.1, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor]:
    """One anchor's similarities in an NT-Xent batch of N samples: s⁺ and the M = 2N − 2 negatives s⁻.

    Unit vectors in d = ``dim`` dimensions: the anchor ẑ, its positive (a noisy copy of ẑ), and negatives
    of which a fraction ``hard_fraction`` belong to the anchor's class (noisy copies of a class centre
    close to ẑ: the hard negatives) and the rest point anywhere. The draw for N is the first 2N − 2
    negatives of the draw for ``MAX_BATCH_SIZE`` with the same seed, so moving N keeps the batch fixed.

    Returns:
        ``(positive, negatives)``: a 0-dim float64 tensor s⁺ and a ``(2N − 2,)`` float64 tensor s⁻.
    """
    where = "similarity_batch"
    batch_size = check_int(batch_size, "batch_size", where, minimum=2)
    if batch_size > MAX_BATCH_SIZE:
        fail("batch_size", where, f"<= {MAX_BATCH_SIZE}", batch_size)
    hard_fraction = check_positive(hard_fraction, "hard_fraction", where, allow_zero=True)
    g = torch.Generator().manual_seed(seed)
    pool = 2 * MAX_BATCH_SIZE - 2
    unit = lambda *shape: F.normalize(torch.randn(*shape, dim, generator=g, dtype=torch.float64), dim=-1)
    anchor = unit()  # (d,)
    positive = F.normalize(anchor + 0.4 * unit(), dim=-1)  # (d,) cos ≈ 0.93
    centre = F.normalize(anchor + 0.9 * unit(), dim=-1)  # (d,) the anchor's class, cos ≈ 0.74
    hard = F.normalize(centre + 0.8 * unit(pool), dim=-1)  # (pool, d) same class as the anchor
    easy = unit(pool)  # (pool, d) other classes
    is_hard = torch.rand(pool, generator=g) < hard_fraction  # (pool,)
    negatives = torch.where(is_hard[:, None], hard, easy)  # (pool, d)
    return positive @ anchor, (negatives @ anchor)[: 2 * batch_size - 2]


def _check_similarities(positive, negatives, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    for name, value in (("positive", positive), ("negatives", negatives)):
        if not isinstance(value, torch.Tensor) or not torch.is_floating_point(value):
            fail(name, where, "a floating-point torch.Tensor", type(value).__name__, TypeError)
    if negatives.dim() == 0 or negatives.shape[-1] < 1:
        fail("negatives", where, "a tensor of shape (..., M) with M >= 1", f"shape {tuple(negatives.shape)}")
    if positive.shape != negatives.shape[:-1]:
        expected = f"shape {tuple(negatives.shape[:-1])} (one s⁺ per row of 'negatives')"
        fail("positive", where, expected, f"shape {tuple(positive.shape)}")
    return positive, negatives


def negative_weights(positive: torch.Tensor, negatives: torch.Tensor, temperature: float) -> torch.Tensor:
    r"""p_k = exp(s⁻_k/τ) / (exp(s⁺/τ) + Σ_m exp(s⁻_m/τ)): the softmax weight of each negative, = τ ∂ℓ/∂s⁻_k.

    Computed as a softmax over [s⁺, s⁻_1, …, s⁻_M] / τ (stable for τ → 0) without the positive's column.
    Wang & Liu 2021, Eq. 4–5 (their P_{i,j}).

    Args:
        positive: s⁺, shape ``(...)`` (0-dim for one anchor, ``(N,)`` for N anchors).
        negatives: s⁻, shape ``(..., M)``.
        temperature: τ > 0.

    Returns:
        ``(..., M)`` weights; each row sums to 1 − p⁺ < 1 (the rest is the positive's share).
    """
    where = "negative_weights"
    temperature = check_positive(temperature, "temperature", where)
    positive, negatives = _check_similarities(positive, negatives, where)
    logits = torch.cat([positive.unsqueeze(-1), negatives], dim=-1) / temperature  # (..., 1 + M)
    return torch.softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)[..., 1:]


def temperature_summary(
    positive: torch.Tensor, negatives: torch.Tensor, temperature: float, *, hardest: float = 0.05
) -> dict:
    r"""Numbers for one anchor at temperature τ.

    Returns a dict of floats:
        ``loss``: ℓ = −log p⁺;
        ``positive_weight``: p⁺, and ``positive_gradient``: |∂ℓ/∂s⁺| = (1 − p⁺)/τ;
        ``entropy``: H(π) in nats of the negatives' share π_k = p_k / Σ_m p_m of the push, and
        ``entropy_ratio``: H(π) / log M (1 = every negative pushed equally);
        ``hardest_share``: Σ π_k over the ⌈``hardest``·M⌉ most similar negatives;
        ``effective_negatives``: exp(H(π)), how many negatives effectively receive gradient.
    """
    where = "temperature_summary"
    hardest = check_positive(hardest, "hardest", where)
    if not isinstance(positive, torch.Tensor) or positive.dim() != 0:
        fail(
            "positive", where, "a 0-dim tensor (one anchor)", f"shape {tuple(getattr(positive, 'shape', ()))}"
        )
    p = negative_weights(positive, negatives, temperature).double()  # (M,)
    p_positive = 1.0 - float(p.sum())
    pi = p / p.sum()  # (M,) π_k, the share of the push on each negative
    entropy = float(torch.special.entr(pi).sum())
    top = max(1, math.ceil(min(hardest, 1.0) * len(pi)))
    temperature = float(temperature)
    lse = torch.logsumexp(torch.cat([positive[None], negatives]).double() / temperature, dim=0)
    return {
        "temperature": temperature,
        "loss": float(lse - positive.double() / temperature),
        "positive_weight": p_positive,
        "positive_gradient": (1.0 - p_positive) / temperature,
        "entropy": entropy,
        "entropy_ratio": entropy / math.log(len(pi)) if len(pi) > 1 else 1.0,
        "hardest_share": float(pi.sort(descending=True).values[:top].sum()),
        "effective_negatives": math.exp(entropy),
    }


def push_share(positive: torch.Tensor, negatives: torch.Tensor, temperature: float) -> dict:
    r"""The cumulative share of the push, hardest negatives first: Σ_{k ≤ j} π_(k) against j/M.

    π_(1) ≥ … are the shares π_k = p_k / Σ_m p_m ordered by the similarity s⁻_k, most similar first.

    Returns:
        ``{"weights": p (M,), "fraction": j/M (M,), "share": Σ_{k≤j} π_(k) (M,)}``, float64 tensors.
    """
    p = negative_weights(positive, negatives, temperature).double()  # (M,)
    order = torch.argsort(negatives, descending=True)  # (M,) hardest first
    share = torch.cumsum(p[order], dim=0) / p.sum()  # (M,)
    fraction = torch.arange(1, len(p) + 1, dtype=torch.float64) / len(p)  # (M,)
    return {"weights": p, "fraction": fraction, "share": share}


def top_eigenvalue_ratio(z: torch.Tensor, k: int = 5) -> float:
    r"""Σ_{i≤k} λ_i / Σ_i λ_i: the share of the variance of ẑ in its top k principal directions.

    λ_i = σ_i² / (N − 1) are the eigenvalues of the covariance of the normalised embeddings ẑ = z/‖z‖,
    with σ from ``diagnostics.singular_spectrum``. Near 1: a sharp spectrum (a few directions carry
    everything, the symptom of dimensional collapse); near k/d: a flat one.
    """
    where = "top_eigenvalue_ratio"
    check_embeddings(z, "z", where, min_rows=2)
    k = check_int(k, "k", where)
    sigma = diagnostics.singular_spectrum(F.normalize(z.detach().double(), dim=1))  # (min(N, d),)
    eigenvalues = sigma.pow(2)  # ∝ λ_i; the 1/(N − 1) cancels in the ratio
    return float(eigenvalues[:k].sum() / eigenvalues.sum())


def temperature_run(
    temperature: float,
    train_data,
    test_data,
    *,
    epochs: int,
    width: int = 16,
    batch_size: int = 256,
    lr: float = 3e-3,
    seed: int = 0,
    view_seed: int = 1,
) -> tuple[dict, torch.Tensor]:
    r"""Train SimCLR (NT-Xent at τ = ``temperature``) on ``train_data``; measure it on ``test_data``.

    Every τ starts from the same weights (``torch.manual_seed(seed)``) and is measured on the same two
    augmented views of the test images (``view_seed``), with ``measure.embedding_report``:
    alignment (two views), uniformity, erank_z, erank_h (clean images), kNN accuracy on h.

    Returns:
        ``(row, z)``: row = ``{"temperature", "seed", "alignment", "uniformity", "erank_z", "erank_h",
        "positive_cosine", "knn_accuracy", "top5_ratio", "linear_accuracy" (fit's final probe),
        "final_loss", "knn_gain"}`` and z ``(n_test, out_dim)``, the projections of the clean test
        images. ``knn_gain`` is fit's kNN accuracy after the last epoch minus that of epoch 0 (the
        untrained network with BatchNorm calibrated on training images), on the same watched images.
    """
    temperature = check_positive(temperature, "temperature", "temperature_run")
    torch.manual_seed(seed)  # the same initial weights for every τ
    method = methods.build_method(
        "simclr", in_channels=train_data.channels, width=width, temperature=temperature
    )
    result = train.fit(
        method, train_data, epochs=epochs, batch_size=batch_size, lr=lr, eval_data=test_data, seed=seed,
        progress=False, knn_train_size=2000, knn_test_size=500,
    )  # fmt: skip
    aug = augment.batched(test_data.size, test_data.channels)
    report = measure.embedding_report(
        method, test_data.images, aug=aug, seed=view_seed, labels=test_data.labels, train=train_data,
        probes=("knn",),
    )  # fmt: skip
    z = measure.embed(method, test_data.images, project=True)  # (n_test, out_dim) clean test images
    history = result["history"]
    row = {"temperature": temperature, "seed": seed, **report, "top5_ratio": top_eigenvalue_ratio(z, k=5)}
    row |= {"linear_accuracy": result["linear_accuracy"], "final_loss": history[-1]["loss"]}
    row["knn_gain"] = history[-1]["knn_accuracy"] - history[0]["knn_accuracy"]
    return row, z


def temperature_runs(temperatures, seeds, train_data, test_data, *, epochs: int, **settings) -> tuple:
    r"""``temperature_run`` for every τ in ``temperatures`` and every seed in ``seeds`` (τ varies fastest).

    ``settings`` go to ``temperature_run`` (width, batch_size, lr, view_seed).

    Returns:
        ``(rows, z)``: the rows in order, each with its ``seed``, and ``z[(τ, seed)]`` the projections.
    """
    where = "temperature_runs"
    temperatures, seeds = list(temperatures), list(seeds)
    if not temperatures or not seeds:
        fail("temperatures", where, "non-empty lists of temperatures and seeds", (temperatures, seeds))
    rows, projections = [], {}
    for seed in seeds:
        for tau in temperatures:
            row, projections[(float(tau), seed)] = temperature_run(
                tau, train_data, test_data, epochs=epochs, seed=check_int(seed, "seeds", where, minimum=0),
                **settings,
            )  # fmt: skip
            rows.append(row)
    return rows, projections


def seed_table(rows, keys=TABLE_KEYS) -> dict:
    r"""Mean and spread over seeds, per τ: ``{τ: {key: (mean, std, min, max)}}``.

    std is the sample standard deviation, √(Σ_s (v_s − v̄)² / (S − 1)) over the S seeds (0 for S = 1).
    ``rows`` are ``temperature_run`` rows (several seeds per τ); ``keys`` the numbers to summarise.
    """
    if not rows or not all(isinstance(r, dict) and "temperature" in r for r in rows):
        fail("rows", "seed_table", "a non-empty list of temperature_run rows", repr(rows)[:80])
    table = {}
    for tau in sorted({r["temperature"] for r in rows}):
        values = {key: [r[key] for r in rows if r["temperature"] == tau] for key in keys}
        table[tau] = {
            key: (statistics.fmean(v), statistics.stdev(v) if len(v) > 1 else 0.0, min(v), max(v))
            for key, v in values.items()
        }
    return table


# Each step of the recipe a ~ 𝒯 (augment/recipe.py), in its order, and the AugmentConfig change that
# switches it off (a crop of scale 1 and ratio 1 is the whole image: the identity).
AUGMENT_STEPS = {
    "crop": {"crop_scale": (1.0, 1.0), "crop_ratio": (1.0, 1.0)},
    "flip": {"flip_p": 0.0},
    "colour jitter": {"jitter_p": 0.0},
    "grayscale": {"grayscale_p": 0.0},
    "blur": {"blur_p": 0.0},
    "solarize": {"solarize_p": 0.0},
}


def active_steps(config: augment.AugmentConfig, channels: int) -> list[str]:
    """The steps of ``AUGMENT_STEPS`` that can change a ``channels``-channel image under ``config``
    (on 1-channel images only brightness and contrast jitter apply; grayscale needs colour)."""
    rgb = check_int(channels, "channels", "active_steps") == 3
    jitter = max(config.brightness, config.contrast, *((config.saturation, config.hue) if rgb else ()))
    changes = {
        "crop": (config.crop_scale, config.crop_ratio) != ((1.0, 1.0), (1.0, 1.0)),
        "flip": config.flip_p > 0,
        "colour jitter": config.jitter_p > 0 and jitter > 0,
        "grayscale": rgb and config.grayscale_p > 0,
        "blur": config.blur_p > 0,
        "solarize": config.solarize_p > 0,
    }
    return [step for step, changes_images in changes.items() if changes_images]


def without_step(config: augment.AugmentConfig, step: str | None) -> augment.AugmentConfig:
    """``config`` with ``step`` (a key of ``AUGMENT_STEPS``) switched off; None or "nothing": unchanged."""
    if step in (None, "nothing"):
        return config
    if step not in AUGMENT_STEPS:
        fail(
            "step", "without_step", "one of " + ", ".join(map(repr, ["nothing", *AUGMENT_STEPS])), repr(step)
        )
    return config.replace(**AUGMENT_STEPS[step])


def two_views(images: torch.Tensor, config: augment.AugmentConfig, *, seed: int = 0) -> tuple:
    """A positive pair per image, x̃⁽¹⁾ = a₁(x), x̃⁽²⁾ = a₂(x) with a₁, a₂ ~ 𝒯 (``config``), as training
    draws them (``augment.batched``). The draws depend on ``seed`` only: with the same seed, switching a
    step off leaves the draws of the steps before it (e.g. the crop when the jitter is off) as they were."""
    aug = augment.batched(images.shape[-1], images.shape[1], config)
    with torch.random.fork_rng():  # the notebook's global random stream is left as it was
        torch.manual_seed(seed)
        return aug(images), aug(images)  # (B, C, H, W) each


def view_steps(images: torch.Tensor, config: augment.AugmentConfig, *, seed: int = 0, index: int = 0) -> list:
    """The first view of image ``index`` of ``two_views(images, config, seed=seed)``, step by step:
    ``[("x", x), (step, the image after it), ...]``; crop and flip are one module ("crop + flip")."""
    aug = augment.batched(images.shape[-1], images.shape[1], config)
    names = {"BatchResizedCropFlip": "crop + flip", "BatchColorJitter": "colour jitter"}
    names |= {"BatchGrayscale": "grayscale", "RandomGaussianBlur": "blur", "RandomSolarize": "solarize"}
    x, steps = images, [("x", images[index])]  # x: (B, C, H, W)
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        for module in aug.pipeline:
            x = module(x)
            steps.append((names.get(type(module).__name__, type(module).__name__), x[index]))
    return steps
