"""Notebook 12's lesson: the Tinted stand-in, the saturation step, the jitters, the probe grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from edu_contrast import augment, data
from edu_contrast.lessons import augmentation as lesson
from edu_contrast.lessons._cache import clear_cache
from edu_contrast.lessons._predict import compare_prediction


def _gray_base(n=40, side=12, seed=0) -> data.ImageTensors:
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, side, side), dtype=torch.uint8, generator=generator)
    return data.ImageTensors(images, torch.arange(n) % 4, ["a", "b", "c", "d"])


def test_tinted_paints_each_image_in_its_own_colours():
    base = _gray_base()
    tinted = data.Tinted(base, background=0.3, generator=torch.Generator().manual_seed(1))
    assert tinted.images.shape == (40, 3, 12, 12) and tinted.images.dtype == torch.uint8
    assert torch.equal(tinted.labels, base.labels) and tinted.classes == base.classes
    m = base.images.float() / 255  # (N, 1, H, W)
    fg, bg = tinted.foreground_colors[:, :, None, None], tinted.background_colors[:, :, None, None]
    expected = (m * fg + (1 - m) * bg) * 255  # x = m·c_fg + (1 − m)·c_bg
    assert (tinted.images.float() - expected).abs().max() <= 0.5 + 1e-4  # uint8 rounding only
    assert tinted.background_colors.max() <= 0.3 and tinted.foreground_colors.max() > 0.5
    assert len({tuple(c.tolist()) for c in tinted.foreground_colors}) == 40  # a colour per image


def test_tinted_resizes_subsets_and_checks_its_arguments():
    tinted = data.Tinted(_gray_base(), size=6, background=0.0, generator=torch.Generator().manual_seed(0))
    assert tinted.images.shape[-2:] == (6, 6)
    part = tinted.subset(8, generator=torch.Generator().manual_seed(0))
    assert part.foreground_colors.shape == (8, 3) and len(part) == 8
    rgb = data.ImageTensors(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="'base' parameter of Tinted"):
        data.Tinted(rgb)
    with pytest.raises(ValueError, match="'background' parameter of Tinted must be in \\[0, 1\\]"):
        data.Tinted(_gray_base(), background=1.5)


def test_tinted_data_from_fashion_mnist_files(fake_fashion_mnist_root):
    train, test = lesson.tinted_data(20, 10, 16, seed=3, root=fake_fashion_mnist_root)
    assert train.images.shape == (20, 3, 16, 16) and test.images.shape == (10, 3, 16, 16)
    again, _ = lesson.tinted_data(20, 10, 16, seed=3, root=fake_fashion_mnist_root)
    assert torch.equal(train.images, again.images)


def test_adjust_saturation_equals_torchvision_and_the_package():
    images = torch.rand(5, 3, 7, 7, generator=torch.Generator().manual_seed(0))
    factor = torch.tensor([0.0, 0.4, 1.0, 1.5, 2.0])
    ours = lesson.adjust_saturation(images, factor)
    theirs = torch.stack([TF.adjust_saturation(x, float(f)) for x, f in zip(images, factor)])
    assert torch.allclose(ours, theirs, atol=1e-6)
    package = augment.BatchColorJitter.apply(images, {"saturation": factor}, ["saturation"])
    assert torch.allclose(ours, package, atol=1e-6)
    assert torch.allclose(ours[2], images[2]) and torch.allclose(
        ours[0][0], ours[0][1]
    )  # f = 1: x; f = 0: gray


def test_color_jitters_use_simclrs_strengths():
    jitters = lesson.color_jitters(0.5)
    assert jitters["augment"].strengths == {"brightness": 0.4, "contrast": 0.4, "saturation": 0.4, "hue": 0.1}
    kornia = jitters["kornia"]
    assert (kornia.brightness, kornia.contrast, kornia.saturation, kornia.hue) == (0.4, 0.4, 0.4, 0.1)
    assert jitters["augment"].p == 1.0


def test_channel_summaries_shape_isolation_and_errors():
    image = torch.rand(3, 8, 8, generator=torch.Generator().manual_seed(0))
    state = torch.random.get_rng_state()
    a = lesson.channel_summaries(lesson.color_jitters(0.5)["augment"], image, 10, seed=4, batch=3)
    assert torch.equal(torch.random.get_rng_state(), state)  # the notebook's random state is untouched
    assert a.shape == (10, 6)
    assert torch.allclose(a[:, :3], a[:, :3].clamp(0, 1)) and (a[:, 3:] >= 0).all()
    b = lesson.channel_summaries(lesson.color_jitters(0.5)["augment"], image, 10, seed=4, batch=3)
    assert torch.equal(a, b)
    still = lesson.channel_summaries(lesson.color_jitters(0.0)["augment"], image, 4)
    assert torch.allclose(still[:, :3], image.mean(dim=(1, 2)).expand(4, 3))  # s = 0: nothing changes
    with pytest.raises(ValueError, match="'image' parameter of channel_summaries"):
        lesson.channel_summaries(lesson.color_jitters(0.5)["augment"], image[:1], 4)


def test_settings_per_mode():
    quick, lab = lesson.settings_for("quick"), lesson.settings_for("lab")
    assert set(quick["strengths"]) <= set(lesson.STRENGTHS) and 0.0 in quick["strengths"]
    assert lab["strengths"] == lesson.STRENGTHS and lab["min_scales"] == lesson.MIN_SCALES
    assert lesson.settings_for("full")["dataset"] == "cifar10"
    quick["epochs"] = 99
    assert lesson.SETTINGS["quick"]["epochs"] != 99  # a copy
    with pytest.raises(ValueError, match="'mode' parameter of settings_for"):
        lesson.settings_for("huge")


def _tiny_settings():
    return dict(dataset="tinted", n_train=None, n_test=None, size=8, width=4, epochs=1, batch_size=16,
                lr=1e-3, strengths=(0.0, 0.5), min_scales=(0.5,))  # fmt: skip


def test_probe_grid_and_random_baseline_on_tiny_data():
    generator = torch.Generator().manual_seed(0)
    train = data.Tinted(_gray_base(48, 8), generator=generator)
    test = data.Tinted(_gray_base(24, 8, seed=1), generator=generator)
    lines = []
    grid = lesson.probe_grid(train, test, _tiny_settings(), seed=0, progress=lines.append)
    assert grid["accuracy"].shape == (2, 1) and ((0 <= grid["accuracy"]) & (grid["accuracy"] <= 1)).all()
    assert grid["strengths"] == (0.0, 0.5) and len(lines) == 2 and "s = 0.5" in lines[1]
    assert grid["seconds"] > 0
    baseline = lesson.random_encoder_probe(train, test, _tiny_settings(), seed=0)
    assert 0 <= baseline <= 1
    assert lesson.random_encoder_probe(train, test, _tiny_settings(), seed=0) == baseline  # seeded


def test_make_method_is_seeded():
    a, b = lesson.make_method(_tiny_settings(), seed=2), lesson.make_method(_tiny_settings(), seed=2)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


class _Disconnected(Exception):
    pass


def test_probe_grid_resumes_after_a_disconnect_and_trains_only_the_rest(tmp_path, monkeypatch):
    """A grid interrupted inside its (k + 1)-th run: run again (a new session, the same run_dir), it
    reads the k finished cells back and trains only the other ones."""
    settings = _tiny_settings() | {"strengths": (0.0, 0.5, 1.0), "min_scales": (0.5, 1.0)}
    calls, k = [], 4
    disconnect_at = [k + 1]  # the (k + 1)-th run of the first session raises

    def fake_run(train, test, s, s_min, settings, *, seed, device, out_dir):
        calls.append((s, s_min))
        if len(calls) in disconnect_at:
            raise _Disconnected
        return {"linear_accuracy": s / 2 + s_min / 4, "knn_accuracy": 0.5, "seconds": 1.0}

    monkeypatch.setattr(lesson, "probe_run", fake_run)
    train = test = _gray_base(8, 8)
    clear_cache()
    with pytest.raises(_Disconnected):
        lesson.probe_grid(train, test, settings, run_dir=tmp_path, progress=None, bar=False)
    assert len(list(tmp_path.glob("*.json"))) == k  # every finished cell on disk
    clear_cache()  # a new session: only the files are left
    calls.clear()
    disconnect_at.clear()
    grid = lesson.probe_grid(train, test, settings, run_dir=tmp_path, progress=None, bar=False)
    assert calls == [(1.0, 0.5), (1.0, 1.0)]  # cells k + 1 … 6 only, in order
    expected = [[s / 2 + m / 4 for m in (0.5, 1.0)] for s in (0.0, 0.5, 1.0)]
    assert grid["accuracy"].tolist() == expected
    clear_cache()
    calls.clear()
    lesson.probe_grid(train, test, settings | {"epochs": 2}, run_dir=tmp_path, progress=None, bar=False)
    assert len(calls) == 6  # other settings: other cells, nothing read back
    clear_cache()


def test_probe_grid_cell_resumes_from_its_checkpoint(tmp_path):
    """A real (tiny) cell with run_dir: its result file is written and its checkpoint folder removed."""
    generator = torch.Generator().manual_seed(0)
    train = data.Tinted(_gray_base(48, 8), generator=generator)
    test = data.Tinted(_gray_base(24, 8, seed=1), generator=generator)
    settings = _tiny_settings() | {"strengths": (0.5,)}
    clear_cache()
    grid = lesson.probe_grid(train, test, settings, run_dir=tmp_path, progress=None, bar=False)
    assert [p.suffix for p in tmp_path.iterdir()] == [".json"]  # the cell's result; its checkpoint gone
    clear_cache()
    again = lesson.probe_grid(train, test, settings, run_dir=tmp_path, progress=None, bar=False)
    assert again["accuracy"].tolist() == grid["accuracy"].tolist()
    clear_cache()


def test_colour_outcome_names_the_row_the_check_compares_and_explains_either_way(capsys):
    grid = {
        "strengths": (0.0, 0.5),
        "min_scales": (0.5, 1.0),
        "accuracy": np.array([[0.60, 0.64], [0.66, 0.70]]),
    }
    answer, why = lesson.colour_outcome(grid)
    assert answer == "s = 0.5" and why.startswith(
        "Mean linear probe over s_min: s = 0 → 0.620, s = 0.5 → 0.680."
    )
    assert "stops here" not in why and "Chen et al. 2020" in why
    assert compare_prediction("s = 0.5", answer, lesson.COLOUR_CHOICES, why) is True
    assert "your prediction holds" in capsys.readouterr().out
    grid["accuracy"] = grid["accuracy"][::-1].copy()  # the colour shortcut did not hurt this time
    answer, why = lesson.colour_outcome(grid)
    assert answer == "s = 0" and "s = 0 → 0.680, s = 0.5 → 0.620" in why and "check below stops here" in why
    quick = lesson.colour_outcome(grid, asserted=False)[1]  # quick and lab mode only print the gap
    assert "stops here" not in quick and "this mode does not assert it" in quick
    lab = {"strengths": lesson.STRENGTHS, "min_scales": lesson.MIN_SCALES, "accuracy": np.zeros((4, 4))}
    lab["accuracy"][2] = 0.1  # the s = 0.5 row of the 4 × 4 grid, not the second row
    assert lesson.colour_outcome(lab)[0] == "s = 0.5"
