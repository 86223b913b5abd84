"""Notebook 03's explorers and plots: the floor of the uniformity, and the callbacks on made-up runs."""

from __future__ import annotations

import math

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from scipy.integrate import quad
from scipy.special import i0, ive

from edu_contrast import diagnostics
from edu_contrast.experiments import Run
from edu_contrast.widgets import geometry as G

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def fake_run(name="run", *, dim=3, epochs=3, n=30, seed=0, snapshots=True):
    """A Run with plausible numbers, no training."""
    g = torch.Generator().manual_seed(seed)
    history = [
        {
            "epoch": e,
            "loss": 2.0 - 0.1 * e,
            "knn_accuracy": 0.9,
            "alignment": 1.5 - 0.3 * e + 0.01 * seed,
            "uniformity": -1.0 - 0.2 * e - 0.02 * seed,
            "pair_distance": 1.5,
            "std_z": 0.5,
            "effective_rank_z": 2.5,
            "effective_rank_h": 6.0,
            "knn_z": 0.3 + 0.1 * e + 0.01 * seed,
        }
        for e in range(epochs + 1)
    ]
    unit = lambda: F.normalize(torch.randn(n, dim, generator=g), dim=1)
    shots = [unit() for _ in range(epochs + 1)] if snapshots else []
    z = shots[-1] if snapshots else unit()
    return Run(name, history, 0.9, z, torch.randn(n, 8, generator=g), torch.arange(n) % 4, shots)


# ----------------------------------------------------------------------------- the floor of L_uniform


def test_uniform_value_on_the_circle_and_the_sphere_in_closed_form():
    for t in (0.5, 2.0, 7.0):
        assert G.uniform_sphere_uniformity(2, t) == pytest.approx(math.log(i0(2 * t)) - 2 * t, rel=1e-12)
        assert G.uniform_sphere_uniformity(3, t) == pytest.approx(
            math.log(math.sinh(2 * t) / (2 * t)) - 2 * t, rel=1e-12
        )
    assert G.uniform_sphere_uniformity(2) == pytest.approx(-1.5750272, abs=1e-6)
    assert G.uniform_sphere_uniformity(3) == pytest.approx(-2.0797771, abs=1e-6)


@pytest.mark.parametrize("dim", [4, 5, 9])
def test_uniform_value_matches_the_integral_over_the_cosine_density(dim):
    t = 2.0
    density = lambda u: (1 - u * u) ** ((dim - 3) / 2)  # of u = x·y, x, y uniform on S^{d−1}
    numerator = quad(lambda u: math.exp(-2 * t + 2 * t * u) * density(u), -1, 1)[0]
    assert G.uniform_sphere_uniformity(dim, t) == pytest.approx(
        math.log(numerator / quad(density, -1, 1)[0]), rel=1e-8
    )


def test_uniform_value_tends_to_minus_two_t_and_matches_a_large_sample():
    assert G.uniform_sphere_uniformity(20_000) == pytest.approx(-4.0, abs=1e-3)
    points = F.normalize(
        torch.randn(3000, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64), dim=1
    )
    assert diagnostics.uniformity(points) == pytest.approx(G.uniform_sphere_uniformity(5), abs=0.02)


def test_lower_bound_holds_and_is_tight_for_the_best_configurations():
    # n equally spaced points on the circle: exp(−2t + 2t cos θ) = e^{−2t} Σ_k I_k(2t) e^{ikθ}, and the n-gon
    # keeps only the harmonics k ≡ 0 (mod n), so its mean over all n² pairs is e^{−2t}(I_0 + 2 I_n + 2 I_2n …)
    # — just above the uniform value e^{L*} = e^{−2t} I_0(2t) that the bound uses.
    t = 2.0
    for n in (6, 10, 100, 360):
        angle = 2 * math.pi * torch.arange(n, dtype=torch.float64) / n
        ring = torch.stack([angle.cos(), angle.sin()], dim=1)
        all_pairs = ive(0, 2 * t) + 2 * sum(ive(m * n, 2 * t) for m in range(1, 5))
        exact = math.log((n * all_pairs - 1) / (n - 1))
        value, bound = diagnostics.uniformity(ring), G.uniformity_lower_bound(n, 2)
        assert value == pytest.approx(exact, abs=1e-12)
        assert bound <= value + 1e-12  # equality up to round-off for large n
        assert n < 10 or value < bound + 2e-3  # tight as soon as n is moderate
    # Two antipodal points reach Jensen's bound −4t exactly.
    pair = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]], dtype=torch.float64)
    assert G.uniformity_lower_bound(2, 3) == -8.0 == pytest.approx(diagnostics.uniformity(pair))
    # Random points are above the bound too, and the bound tends to the uniform value.
    random = F.normalize(torch.randn(200, 3, generator=torch.Generator().manual_seed(1)), dim=1)
    assert diagnostics.uniformity(random) >= G.uniformity_lower_bound(200, 3)
    assert G.uniformity_lower_bound(10**7, 3) == pytest.approx(G.uniform_sphere_uniformity(3), abs=1e-6)


def test_floor_arguments_are_checked():
    with pytest.raises(ValueError, match="'dim' parameter of uniform_sphere_uniformity must be an int >= 2"):
        G.uniform_sphere_uniformity(1)
    with pytest.raises(ValueError, match="'t' parameter of uniformity_lower_bound must be > 0"):
        G.uniformity_lower_bound(10, 3, t=0)


# ----------------------------------------------------------------------------- plots and explorers


@pytest.mark.parametrize("dim", [2, 3])
def test_plot_snapshot_marks_the_epoch_and_draws_the_floor(dim):
    run = fake_run(dim=dim)
    fig = G.plot_snapshot(run, 1)
    plane = fig.axes[1]
    assert "epoch 1" in fig.axes[0].get_title()
    labels = [t.get_text() for t in plane.get_legend().get_texts()]
    assert any(f"uniform on $S^{{{dim - 1}}}$" in label for label in labels)
    lines = [line.get_xdata()[0] for line in plane.get_lines() if line.get_linestyle() == "--"]
    assert lines == [pytest.approx(G.uniform_sphere_uniformity(dim))]
    assert "epoch 3" in G.plot_snapshot(run).axes[0].get_title()  # default: the last epoch


def test_plot_snapshot_checks_its_arguments():
    with pytest.raises(ValueError, match=r"'epoch' parameter of plot_snapshot must be <= 3"):
        G.plot_snapshot(fake_run(), 4)
    with pytest.raises(ValueError, match="a Run with snapshots"):
        G.plot_snapshot(fake_run(snapshots=False))
    with pytest.raises(TypeError, match="an experiments.Run"):
        G.plot_snapshot({"z": 1})


def test_plot_snapshots_draws_one_panel_per_epoch():
    fig = G.plot_snapshots(fake_run(dim=2, epochs=6))
    assert [ax.get_title().split("\n")[0] for ax in fig.axes] == ["epoch 0", "epoch 2", "epoch 4", "epoch 6"]
    assert len(G.plot_snapshots(fake_run(dim=3), epochs=[0, 3]).axes) == 2
    with pytest.raises(ValueError, match="a non-empty list of epochs in"):
        G.plot_snapshots(fake_run(), epochs=[5])


def test_snapshot_explorer_redraws_with_the_run_and_epoch():
    runs = {"a": fake_run("a", dim=3, epochs=3), "b": fake_run("b", dim=2, epochs=5)}
    box = G.snapshot_explorer(runs, run="a")
    menu, slider = box.children[0].children
    assert slider.max == 5 and "a: epoch 3" in box.last_figure.axes[0].get_title()
    slider.value = 1
    assert "a: epoch 1" in box.last_figure.axes[0].get_title()
    slider.value = 5
    assert "a: epoch 3" in box.last_figure.axes[0].get_title()  # clamped to the run's last epoch
    menu.value = "b"
    assert "b: epoch 5" in box.last_figure.axes[0].get_title()
    with pytest.raises(ValueError, match="'run' parameter of snapshot_explorer must be one of 'a', 'b'"):
        G.snapshot_explorer(runs, run="c")


def test_plot_weight_and_its_explorer():
    runs = {w: fake_run(f"λ={w}", dim=2, seed=k) for k, w in enumerate((0.0, 1.0, 2.0))}
    fig = G.plot_weight(runs, 1.0)
    assert "λ = 1" in fig.axes[0].get_title()
    knn_line = fig.axes[2].get_lines()[0]
    assert list(knn_line.get_ydata()) == [r.final["knn_z"] for r in runs.values()]
    with pytest.raises(ValueError, match="'weight' parameter of plot_weight must be one of 0, 1, 2"):
        G.plot_weight(runs, 0.5)
    box = G.weight_explorer(runs, weight=2.0)
    slider = box.children[0].children[0]
    assert "λ = 2" in box.last_figure.axes[0].get_title()
    slider.value = 0.0
    assert "λ = 0" in box.last_figure.axes[0].get_title()


def test_rank_correlation():
    assert G.rank_correlation([1, 2, 3, 4], [10, 20, 25, 100]) == pytest.approx(1.0)
    assert G.rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(G.rank_correlation([1, 1, 1], [1, 2, 3]))
    with pytest.raises(ValueError, match="two 1-D sequences of the same length"):
        G.rank_correlation([1, 2], [1, 2, 3])


def test_plot_probe_correlation_reports_spearman():
    runs = {f"r{k}": fake_run(f"r{k}", seed=k) for k in range(4)}  # alignment and kNN both grow with k
    fig = G.plot_probe_correlation(runs)
    assert "ρ = 1.00" in fig.axes[0].get_title() and "ρ = -1.00" in fig.axes[1].get_title()
    assert fig.axes[0].get_ylabel() == "kNN accuracy on ẑ"
    with pytest.raises(ValueError, match="at least 2 runs"):
        G.plot_probe_correlation({"r": fake_run()})
