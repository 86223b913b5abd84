"""Notebook 15's plots and explorers draw what the lesson computed (fake results: nothing is trained)."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from edu_contrast.lessons.clip import all_prompts
from edu_contrast.widgets import clip as W

matplotlib.use("Agg")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


RECALL = {"image→text": {1: 0.2, 5: 0.6, 10: 0.8}, "text→image": {1: 0.25, 5: 0.65, 10: 0.85}}
RANDOM = {d: {1: 0.0, 5: 0.01, 10: 0.03} for d in RECALL}


def test_logit_scale_plot_has_a_line_per_run_and_the_start_and_cap():
    fig = W.plot_logit_scale({"CLIP": [14.3, 15.0, 16.2], "NegCLIP": [14.3, 14.8, 15.1]})
    lines = fig.axes[0].get_lines()
    assert len(lines) == 4 and list(lines[0].get_ydata()) == [14.3, 15.0, 16.2]
    assert lines[2].get_ydata()[0] == pytest.approx(1 / 0.07) and lines[3].get_ydata()[0] == 100
    with pytest.raises(ValueError, match="'histories' parameter of plot_logit_scale"):
        W.plot_logit_scale({"CLIP": []})


def test_recall_plot_draws_trained_random_and_chance_per_direction():
    fig = W.plot_recall(RECALL, RANDOM, gallery=400)
    left, right = fig.axes
    assert list(left.get_lines()[0].get_ydata()) == [0.2, 0.6, 0.8]
    assert list(right.get_lines()[1].get_ydata()) == [0.0, 0.01, 0.03]
    assert list(left.get_lines()[2].get_ydata()) == pytest.approx([1 / 400, 5 / 400, 10 / 400])


def test_zero_shot_swap_and_batch_plots_draw_their_numbers():
    fig = W.plot_zero_shot({"CLIP": {"colour": 0.9, "shape": 0.4}}, {"colour": 0.2, "shape": 0.25})
    assert [bar.get_height() for bar in fig.axes[0].patches] == [0.9, 0.4]
    fig = W.plot_swap_test({"random init": 0.5, "CLIP": 0.65, "NegCLIP": 0.7})
    assert [bar.get_width() for bar in fig.axes[0].patches] == [0.5, 0.65, 0.7]
    runs = [("clip", 8, 0.2), ("clip", 32, 0.4), ("siglip", 8, 0.3), ("siglip", 32, 0.4)]
    rows = [dict(loss=loss, batch=b, recall5=r) for loss, b, r in runs]
    lines = W.plot_batch_study(rows).axes[0].get_lines()
    assert [list(line.get_ydata()) for line in lines] == [[0.2, 0.4], [0.3, 0.4]]


def _gallery(n=12, d=40):
    """Images whose embedding is the one-hot of their index, and prompts that point at one image each."""
    images = torch.randint(0, 255, (n, 3, 8, 8), dtype=torch.uint8)
    prompts = {
        p: torch.nn.functional.one_hot(torch.tensor(i % n), d).float() for i, p in enumerate(all_prompts())
    }
    return images, torch.eye(n, d), prompts


def test_prompt_explorer_ranks_the_gallery_for_the_chosen_prompt():
    images, embeddings, prompts = _gallery()
    box = W.prompt_explorer(images, embeddings, prompts, k=4)
    assert "a small red circle" in box.last_figure.texts[0].get_text()
    colour = box.children[0].children[1]
    colour.value = "blue"  # "a small blue circle" is prompt 8: image 8 first
    title = box.last_figure.texts[0].get_text()
    assert "a small blue circle" in title and len(box.last_figure.axes) == 4
    assert box.last_figure.axes[0].get_title() == "1.00"


def test_scale_explorer_redraws_at_the_chosen_scale_and_batch():
    s = torch.eye(20) * 0.8 + 0.1
    box = W.scale_explorer(s, learned=30.0, batch=8)
    t_slider, batch_slider = box.children[0].children
    batch_slider.value = 4
    t_slider.value = 100.0
    heatmap = box.last_figure.axes[0].get_images()[0].get_array()
    assert heatmap.shape == (4, 4) and heatmap[0, 0] > 0.99  # t = 100 puts all the weight on the match
    with pytest.raises(ValueError, match="'batch' parameter of plot_batch_softmax"):
        W.plot_batch_softmax(s, 10.0, 21)
