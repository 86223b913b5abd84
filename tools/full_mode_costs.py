"""Count each notebook's full-mode training cost; print edu_contrast/budget.py's ``FULL_MODE_COSTS``.

    OMP_NUM_THREADS=1 .venv/bin/python tools/full_mode_costs.py

For every training run a notebook makes in full mode: the forward FLOPs of one optimiser step, counted
with ``torch.utils.flop_counter.FlopCounterMode`` on the package's own model at that mode's input size
(on 8 images, scaled to the batch: the encoder's cost is linear in the batch), × 3 (forward + backward),
× the run's optimiser steps (epochs × ⌊images / batch⌋), × the runs. Every image run is costed as SimCLR
on that run's encoder and head (the encoder dominates; a momentum encoder's extra forward pass, the
per-epoch kNN evaluation and the final probes are not counted, so the figures are lower bounds). The
sizes come from the lessons' scale tables where they have one, else from the notebook cell named.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from edu_contrast import methods
from edu_contrast.data.scenes import Scenes, tokenize
from edu_contrast.lessons import (
    augmentation,
    class_collapse,
    feature_suppression,
    generalized,
    infonce,
    negatives,
    projection_head,
    retrieval,
    serving,
    simclr_cifar10,
    supcon,
)
from edu_contrast.lessons import clip as clip_lesson
from edu_contrast.lessons import methods as methods_lesson


@dataclass(frozen=True)
class Runs:
    """``count`` training runs of ``steps`` optimiser steps, each step ``step_flops()`` forward FLOPs;
    ``spec`` names the step (the arguments of ``image_runs`` or ``critic_runs``) for bench_gpu.py to time."""

    step_flops: Callable[[], float]
    steps: int
    count: int = 1
    spec: dict | None = None


def _forward_flops(run: Callable[[], object]) -> float:
    with FlopCounterMode(display=False) as counter:
        run()
    return float(counter.get_total_flops())


def image_runs(count, *, channels, side, batch, epochs, images, width=None, encoder="convnet", **kw) -> Runs:
    """``count`` SimCLR runs on ``encoder`` over ``images`` images of (channels, side, side)."""

    def step_flops() -> float:
        torch.manual_seed(0)
        method = methods.build_method("simclr", encoder=encoder, in_channels=channels, width=width, **kw)
        x1, x2 = torch.rand(2, 8, channels, side, side)  # 8 images, two views
        return _forward_flops(lambda: method.loss(x1, x2)) * batch / 8

    spec = dict(kind="image", channels=channels, side=side, batch=batch, encoder=encoder, width=width, **kw)
    return Runs(step_flops, steps=epochs * (images // batch), count=count, spec=spec)


def critic_runs(batch_sizes, steps, dim) -> list[Runs]:
    """Notebook 01: one ``SeparableCritic`` per N, ``steps`` InfoNCE steps on N × N scores."""

    def step_flops(n: int) -> float:
        critic, x = infonce.SeparableCritic(dim), torch.randn(n, dim)
        return _forward_flops(lambda: critic(x, x))

    return [
        Runs(lambda n=n: step_flops(n), steps=steps, spec=dict(kind="critic", batch=n, dim=dim))
        for n in batch_sizes
    ]


def clip_runs(count, *, batch, steps) -> Runs:
    """Notebook 15: ``count`` runs of ``steps`` steps of the CLIP towers (``lessons.clip.build_model``)."""

    def step_flops() -> float:
        model, scenes = clip_lesson.build_model(), Scenes(8, seed=0)
        tokens = tokenize(scenes.captions)
        return _forward_flops(lambda: model(scenes.images.float() / 255, tokens)) * batch / 8

    return Runs(step_flops, steps=steps, count=count)


def notebook_runs() -> dict[str, list[Runs]]:
    """Every notebook's full-mode training runs."""
    fashion = dict(channels=1, side=28)
    gen, meth, sup = generalized.scale("full"), methods_lesson.scale("full"), supcon.scale("full")
    head, serve = projection_head.scale("full"), serving.SETTINGS["full"]
    neg = negatives.scale("full")
    collapse = class_collapse.scale("full")
    clip = clip_lesson.scale("full")
    clip_steps = clip["epochs"] * (clip["train"] // clip["batch"])  # train_clip drops each epoch's last batch
    aug, suppress = augmentation.settings_for("full"), feature_suppression.FULL_SETTINGS
    head_kw = dict(channels=1, side=head["image"], width=head["width"], feature_dim=head["dim"])
    head_batches = [spec[1] for spec in projection_head.batch_queue_runs("full").values()]
    randbit_bits = (0, 1, 2, 3, 4, 6, 8, 12)  # 05 [3]: BITS in full mode
    randbit = dict(side=28, batch=suppress["batch_size"], epochs=suppress["epochs"], images=10_000)
    return {
        # 01 [17]: 10 batch sizes up to 1024, 2 000 steps each, d = 10
        "01_infonce": critic_runs([2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], 2000, dim=10),
        # 02 [15], [16], [19]: 5 + 4 models, 10 000 Fashion-MNIST images, 15 epochs (temperature_run's width)
        "02_temperature": [image_runs(9, **fashion, width=16, batch=256, epochs=15, images=10_000)],
        # 03 [10]: 12 runs of 30 epochs on the 1 437 training digits, width 16, out_dim 3
        "03_alignment_uniformity": [image_runs(12, channels=1, side=8, width=16, batch=256, epochs=30,
                                               images=1437, hidden_dim=256, out_dim=3)],
        # 04 [10]: six grid points (run_ablation: width 16), 20 000 images, 30 epochs; one at batch 32
        "04_collapse": [image_runs(5, **fashion, width=16, batch=256, epochs=30, images=20_000),
                        image_runs(1, **fashion, width=16, batch=32, epochs=30, images=20_000)],
        # 05 [3]: RandBit, 2 τ × 8 k (1 + k channels) on 10 000 images; MultiDigits: 3 sizes × 2 trained
        "05_feature_suppression": [
            *(image_runs(2, channels=1 + k, width=suppress["width"], **randbit) for k in randbit_bits),
            image_runs(6, channels=1, side=32, width=16, batch=suppress["batch_size"], epochs=40,
                       images=1437),
        ],
        # 06: five methods under one budget (the lesson's scale)
        "06_methods": [image_runs(5, **fashion, width=meth["width"], batch=meth["batch_size"],
                                  epochs=meth["epochs"], images=meth["train"])],
        # 07: seven trainings of samples_per_epoch images per epoch (the lesson's scale)
        "07_supcon": [image_runs(7, **fashion, width=sup["width"], batch=sup["batch_size"],
                                 epochs=sup["epochs"], images=sup["samples_per_epoch"])],
        # 08 [14]: four trainings, batch 128 (the lesson's scale; the 2-D λ–τ grid's toy MLP: negligible)
        "08_generalized": [image_runs(4, **fashion, width=gen["width"], batch=128, epochs=gen["epochs"],
                                      images=gen["train"])],
        # 09 [5], [20], [24]: ResNet-18, 50 000 CIFAR-10 images, batch 512: two 20-epoch pilots + 200 epochs
        "09_simclr_cifar10": [image_runs(2, channels=3, side=32, encoder="resnet18", batch=512, epochs=20,
                                         images=50_000),
                              image_runs(1, channels=3, side=32, encoder="resnet18", batch=512, epochs=200,
                                         images=50_000)],
        # 10: one training on all 60 000 Fashion-MNIST images (the lesson's scale), batch 256
        "10_serving": [image_runs(1, **fashion, width=serve["width"], batch=256, epochs=serve["epochs"],
                                  images=60_000, feature_dim=serve["feature_dim"])],
        # 11: 3 losses × 4 head depths, the ablations, then the batch/queue study at its batches
        "11_projection_head": [
            image_runs(3 * 4 + len(projection_head.ABLATIONS), **head_kw, batch=head["batch"],
                       epochs=head["epochs"], images=head["train"]),
            *(image_runs(1, **head_kw, batch=b, epochs=head["epochs"], images=head["train"])
              for b in head_batches),
        ],
        # 12: the (s, s_min) grid, one ResNet-18 run per cell (the lesson's settings)
        "12_augmentation": [image_runs(len(aug["strengths"]) * len(aug["min_scales"]), channels=3,
                                       side=aug["size"], encoder="resnet18", batch=aug["batch_size"],
                                       epochs=aug["epochs"], images=50_000)],
        # 13: SimCLR, debiased, hard negatives × 3 seeds on the training pair (6 000 images per class)
        "13_negatives": [image_runs(3 * len(negatives.METHODS), **fashion, width=neg["width"],
                                   batch=neg["batch"], epochs=neg["epochs"], images=12_000)],
        # 15: CLIP and NegCLIP (its extra captions not counted), then CLIP and SigLIP at each small batch
        "15_clip": [clip_runs(2, batch=clip["batch"], steps=clip_steps),
                    *(clip_runs(2, batch=b, steps=clip["small_steps"]) for b in clip["small_batches"])],
        # 16: one SimCLR on all of Fashion-MNIST (the lesson's scale; the small CLIP towers not counted)
        "16_retrieval": [image_runs(1, **fashion, width=retrieval.SETTINGS["full"]["width"], batch=256,
                                    epochs=retrieval.SETTINGS["full"]["epochs"], images=60_000,
                                    feature_dim=retrieval.SETTINGS["full"]["feature_dim"])],
        # 14: SimCLR + SupCon + α·cNCE for each α > 0 on CIFAR-10's coarse labels (the lesson's scale)
        "14_class_collapse": [image_runs(1 + len(collapse["alphas"]), channels=3, side=collapse["image"],
                                         width=collapse["width"], batch=collapse["batch_size"],
                                         epochs=collapse["epochs"], images=50_000)],
    }  # fmt: skip


def recipe_runs() -> dict[str, list[Runs]]:
    """The full-mode recipes a notebook offers besides its default (``RECIPE`` form fields)."""
    ref = simclr_cifar10.RECIPES["reference"]
    # 09, RECIPE = "reference": the course brief's ResNet-50, one run, no τ pilots (probes not counted)
    reference = image_runs(
        1, channels=3, side=32, encoder=ref.encoder, batch=ref.batch_size, epochs=ref.epochs, images=50_000
    )
    return {"09_simclr_cifar10:reference": [reference]}


def _costs(runs_of: dict[str, list[Runs]]) -> dict[str, tuple[float, int]]:
    costs = {}
    for stem, runs in runs_of.items():
        flops = sum(3 * r.step_flops() * r.steps * r.count for r in runs)
        costs[stem] = (round(flops / 1e15, 4), sum(r.steps * r.count for r in runs))
    return costs


def full_mode_costs() -> dict[str, tuple[float, int]]:
    """stem → (training PFLOP, optimiser steps) of its full mode."""
    return _costs(notebook_runs())


def recipe_costs() -> dict[str, tuple[float, int]]:
    """Each other full-mode recipe ("stem:recipe") → (training PFLOP, optimiser steps)."""
    return _costs(recipe_runs())


if __name__ == "__main__":
    for table, costs in (("FULL_MODE_COSTS", full_mode_costs()), ("RECIPE_COSTS", recipe_costs())):
        print(f"{table} = {{  # stem: (training PFLOP, optimiser steps)")
        for stem, (pflop, steps) in costs.items():
            print(f'    "{stem}": ({pflop:g}, {steps}),')
        print("}")
