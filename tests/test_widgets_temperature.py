"""Notebook 02: the softmax weights of the negatives, their entropy against τ, the plots and the sliders."""

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from edu_contrast.widgets import temperature as w  # noqa: E402


def _weights_oracle(positive, negatives, tau):
    """p_k = exp(s⁻_k/τ) / (exp(s⁺/τ) + Σ_m exp(s⁻_m/τ)), one anchor, in Python floats."""
    values = [float(positive)] + [float(v) for v in negatives]
    top = max(values)
    denominator = sum(math.exp((v - top) / tau) for v in values)
    return [math.exp((v - top) / tau) / denominator for v in values[1:]]


def test_similarity_batch_is_fixed_and_nested_across_batch_sizes():
    positive, small = w.similarity_batch(8)
    _, large = w.similarity_batch(64)
    assert small.shape == (14,) and large.shape == (126,)
    assert torch.equal(large[:14], small)
    assert 0.8 < float(positive) <= 1.0
    assert float(large.abs().max()) <= 1.0
    _, full = w.similarity_batch()
    assert float(full.max()) > 0.6  # the anchor's own class gives hard negatives
    assert torch.equal(w.similarity_batch(seed=3)[1], w.similarity_batch(seed=3)[1])


def test_negative_weights_match_the_oracle_and_the_gradient():
    positive, negatives = w.similarity_batch(16)
    for tau in (0.05, 0.3, 2.0):
        p = w.negative_weights(positive, negatives, tau)
        torch.testing.assert_close(p, torch.tensor(_weights_oracle(positive, negatives, tau), dtype=p.dtype))
        s_pos, s_neg = positive.clone().requires_grad_(), negatives.clone().requires_grad_()
        loss = -s_pos / tau + torch.logsumexp(torch.cat([s_pos[None], s_neg]) / tau, dim=0)
        loss.backward()
        torch.testing.assert_close(tau * s_neg.grad, p)  # τ ∂ℓ/∂s⁻_k = p_k
        assert float(p.sum()) < 1.0  # the positive keeps its share


def test_negative_weights_batched_and_stable_in_low_precision():
    g = torch.Generator().manual_seed(0)
    positive, negatives = 0.9 + 0.1 * torch.rand(4, generator=g), torch.rand(4, 6, generator=g)
    p = w.negative_weights(positive, negatives, 0.01)
    assert p.shape == (4, 6) and torch.isfinite(p).all()
    for dtype in (torch.float16, torch.bfloat16):
        q = w.negative_weights(positive.to(dtype), negatives.to(dtype), 0.01)
        assert torch.isfinite(q).all()


def test_entropy_rises_and_the_hardest_share_falls_with_temperature():
    positive, negatives = w.similarity_batch(128)
    taus = [0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 5.0]
    stats = [w.temperature_summary(positive, negatives, tau) for tau in taus]
    entropy = [s["entropy"] for s in stats]
    hardest = [s["hardest_share"] for s in stats]
    assert all(b > a for a, b in zip(entropy, entropy[1:]))
    assert all(b < a for a, b in zip(hardest, hardest[1:]))
    assert stats[0]["hardest_share"] > 0.99 and stats[-1]["entropy_ratio"] > 0.99
    for s in stats:
        assert s["loss"] == pytest.approx(-math.log(s["positive_weight"]), rel=1e-9)
        assert 1.0 <= s["effective_negatives"] <= len(negatives)
        assert s["positive_gradient"] == pytest.approx((1 - s["positive_weight"]) / s["temperature"])


def test_plot_temperature_and_the_explorer():
    fig = w.plot_temperature(0.1, 32)
    assert len(fig.axes) == 2 and "τ = 0.100, N = 32 (M = 62 negatives)" in fig.axes[0].get_title()
    plt.close(fig)
    box = w.temperature_explorer(temperature=0.2, batch_size=64)
    tau, batch = box.children[0].children
    assert tau.description == "τ"  # tests/test_browser.py finds the slider by this label
    assert type(tau).__name__ == "FloatLogSlider"
    tau.value = 0.05
    assert box.last_figure.axes[0].get_title().startswith("τ = 0.050, N = 64")
    batch.value = 128
    assert "N = 128 (M = 254 negatives)" in box.last_figure.axes[0].get_title()
    assert plt.get_fignums() == []


def _unit_rows(directions, d):
    eye = torch.eye(d, dtype=torch.float64)
    return torch.cat([torch.stack([eye[j], -eye[j]]) for j in directions])  # ±e_j, mean zero


def test_top_eigenvalue_ratio_closed_forms():
    assert w.top_eigenvalue_ratio(_unit_rows(range(8), 8), k=5) == pytest.approx(5 / 8)  # isotropic
    assert w.top_eigenvalue_ratio(_unit_rows([0, 0, 0], 8), k=5) == pytest.approx(1.0)  # one direction
    scaled = 7.0 * _unit_rows(range(8), 8)  # rows are normalised first: the scale does not matter
    assert w.top_eigenvalue_ratio(scaled, k=2) == pytest.approx(2 / 8)


def test_plot_temperature_sweep_has_a_panel_per_metric():
    keys = ("alignment", "uniformity", "effective_rank", "knn_accuracy", "linear_accuracy")
    rows = [{"temperature": t, **{k: float(i) for i, k in enumerate(keys)}} for t in (0.5, 0.1)]
    fig = w.plot_temperature_sweep(rows)
    assert len(fig.axes) == 4
    assert list(fig.axes[0].lines[0].get_xdata()) == [0.1, 0.5]  # sorted by τ
    plt.close(fig)


def test_errors_name_the_parameter():
    positive, negatives = w.similarity_batch(8)
    with pytest.raises(ValueError, match="'temperature' parameter of negative_weights"):
        w.negative_weights(positive, negatives, 0.0)
    with pytest.raises(ValueError, match="'positive'"):
        w.negative_weights(torch.zeros(3), torch.zeros(2, 5), 0.1)
    with pytest.raises(ValueError, match="'batch_size' parameter of similarity_batch"):
        w.similarity_batch(w.MAX_BATCH_SIZE + 1)
    with pytest.raises(ValueError, match="'rows'"):
        w.plot_temperature_sweep([])
    with pytest.raises(ValueError, match="'positive' parameter of temperature_summary"):
        w.temperature_summary(torch.zeros(2), torch.zeros(2, 3), 0.1)
