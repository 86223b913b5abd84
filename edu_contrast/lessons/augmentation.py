r"""Notebook 12: how strong should the augmentations be? Colour strength s and crop scale s_min → probe.

SimCLR's family 𝒯 (Chen et al. 2020, Sec. 3 and Appendix A) with colour strength s and crop scale s_min:

    a = grayscale(p_g = 0.2) ∘ jitter(0.8s, 0.8s, 0.8s, 0.2s; p = 0.8) ∘ flip(½) ∘ crop(area ∈ [s_min, 1])

``probe_grid`` trains SimCLR once per (s, s_min) and measures the linear probe on the frozen encoder
features h: acc(s, s_min). Chen et al. 2020 (Sec. 3, Fig. 5–6) find that crops alone are not enough:
two crops of one image share its colour histogram, a shortcut that solves the contrastive task without
learning the object; colour distortion removes it. ``tinted_data`` builds a colour dataset where that
shortcut exists by construction (``data.Tinted``: Fashion-MNIST garments in a random colour per
image), the offline stand-in for CIFAR-10 in quick and lab mode; full mode uses CIFAR-10 on a GPU.
Full mode's grid takes hours on a T4, so ``probe_grid(..., run_dir=...)`` keeps each finished cell on
disk (``lessons._cache.cached``) and checkpoints the running one (``train.fit(out_dir=..., resume=True)``):
after a disconnect the grid trains only the cells it has not finished.

``color_jitters`` gives the package's ``augment.BatchColorJitter`` and kornia's
``kornia.augmentation.ColorJitter`` (the reference implementation) for the same s, and
``channel_summaries`` the per-channel mean and standard deviation of many jittered draws of one image,
so the two distributions can be compared (``jitter_agreement``).
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import kornia.augmentation as K
import numpy as np
import torch
from tqdm.auto import tqdm

from edu_contrast import augment, data, measure, methods, models, probes, train
from edu_contrast._validation import check_choice, check_int, fail
from edu_contrast.lessons._cache import cache_key, cached
from edu_contrast.lessons.simclr_cifar10 import simclr_augment_config

__all__ = [
    "STRENGTHS",
    "MIN_SCALES",
    "SETTINGS",
    "settings_for",
    "simclr_augment_config",
    "tinted_data",
    "load_data",
    "make_method",
    "probe_run",
    "random_encoder_probe",
    "probe_grid",
    "adjust_saturation",
    "color_jitters",
    "channel_summaries",
    "jitter_agreement",
    "COLOUR_CHOICES",
    "colour_outcome",
]

STRENGTHS = (0.0, 0.25, 0.5, 1.0)  # s
MIN_SCALES = (0.08, 0.2, 0.5, 1.0)  # s_min
COLOUR_CHOICES = ("s = 0", "s = 0.5")  # section 5's prediction: which row of the grid probes better

# Per mode: the data (Tinted Fashion-MNIST at `size`, or CIFAR-10) and SimCLR's training recipe. Quick runs
# 4 of lab's 16 cells at lab's scale (smaller runs, 3 epochs on 1024 images, did not separate s = 0 from 0.5).
SETTINGS = {
    "quick": dict(dataset="tinted", n_train=2048, n_test=1000, size=16, width=16, epochs=5, batch_size=256,
                  lr=2e-3, strengths=(0.0, 0.5), min_scales=(0.5, 1.0)),
    "lab": dict(dataset="tinted", n_train=2048, n_test=1000, size=16, width=16, epochs=5, batch_size=256,
                lr=2e-3, strengths=STRENGTHS, min_scales=MIN_SCALES),
    "full": dict(dataset="cifar10", n_train=None, n_test=None, size=32, width=None, epochs=30,
                 batch_size=512, lr=1e-3, strengths=STRENGTHS, min_scales=MIN_SCALES),
}  # fmt: skip


def settings_for(mode: str) -> dict:
    """A copy of ``SETTINGS[mode]`` (quick, lab or full)."""
    return dict(SETTINGS[check_choice(mode, "mode", "settings_for", tuple(SETTINGS))])


def tinted_data(
    n_train: int, n_test: int, size: int, seed: int = 0, *, root=None
) -> tuple[data.Tinted, data.Tinted]:
    """Stratified Fashion-MNIST subsets of ``n_train`` / ``n_test`` images, tinted (``data.Tinted``) at
    ``size``×``size``; ``seed`` fixes the subsets and the colours. ``root``: as ``data.load_dataset``'s."""
    generator = torch.Generator().manual_seed(seed)
    splits = []
    for split, n in (("train", n_train), ("test", n_test)):
        base = data.load_dataset("fashion-mnist", split, root=root).subset(n, generator=generator)
        splits.append(data.Tinted(base, size=size, generator=generator))
    return splits[0], splits[1]


def load_data(settings: dict, seed: int = 0):
    """The (train, test) ``ImageTensors`` that ``settings`` name: Tinted Fashion-MNIST or CIFAR-10."""
    if settings["dataset"] == "cifar10":
        return data.load_dataset("cifar10", "train"), data.load_dataset("cifar10", "test")
    return tinted_data(settings["n_train"], settings["n_test"], settings["size"], seed)


def make_method(settings: dict, seed: int = 0) -> methods.SimCLR:
    """SimCLR (τ = 0.5) on a SmallConvNet of ``settings["width"]`` (ResNet-18 when width is None)."""
    torch.manual_seed(seed)
    if settings["width"] is None:
        return methods.SimCLR(models.resnet18_cifar(), temperature=0.5)
    return methods.SimCLR(models.SmallConvNet(3, feature_dim=64, width=settings["width"]), temperature=0.5)


def probe_run(train_data, test_data, strength: float, min_scale: float, settings: dict, *, seed: int = 0,
              device=None, out_dir=None) -> dict:  # fmt: skip
    """Train SimCLR with 𝒯(s = ``strength``, s_min = ``min_scale``); return its linear probe on h.

    ``{"linear_accuracy", "knn_accuracy", "seconds"}``; the same initial weights for every (s, s_min).
    ``out_dir``: ``train.fit``'s checkpoint folder, resumed when it holds this run (a disconnect in
    the middle of a cell loses at most one epoch).
    """
    start = time.perf_counter()
    result = train.fit(
        make_method(settings, seed),
        train_data,
        epochs=settings["epochs"],
        eval_data=test_data,
        augment_config=simclr_augment_config(min_scale, strength),
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        seed=seed,
        device=device,
        progress=False,
        knn_test_size=256,
        knn_train_size=1024,
        out_dir=out_dir,
        resume=out_dir is not None,
    )
    return {
        "linear_accuracy": result["linear_accuracy"],
        "knn_accuracy": result["history"][-1]["knn_accuracy"],
        "seconds": time.perf_counter() - start,
    }


def random_encoder_probe(train_data, test_data, settings: dict, *, seed: int = 0, device=None) -> float:
    """The baseline: the linear probe on h of the untrained encoder, BatchNorm calibrated on training
    images (``measure.calibrate_batchnorm``), with the same initial weights as every ``probe_run``."""
    method = make_method(settings, seed)
    measure.calibrate_batchnorm(method, train_data.images, device=device)
    h_train = measure.embed(method, train_data.images, device=device)  # (N, feature_dim)
    h_test = measure.embed(method, test_data.images, device=device)  # (n, feature_dim)
    return probes.linear_probe(h_train, train_data.labels, h_test, test_data.labels)


def _cell_run(train_data, test_data, s, s_min, settings, *, seed, device, run_dir) -> dict:
    """``probe_run`` for one cell, once: kept for the session and, with ``run_dir``, as
    ``run_dir/<cell>.json`` (a finished cell is read back after a disconnect) beside the cell's
    checkpoint folder ``run_dir/<cell>/`` (an unfinished cell resumes from its last epoch)."""
    data_sizes = {"train": len(train_data), "test": len(test_data)}
    name = cache_key(probe_run, strength=s, min_scale=s_min, settings=settings, seed=seed, **data_sizes)
    out_dir = Path(run_dir) / name if run_dir is not None else None

    def compute() -> dict:
        return probe_run(train_data, test_data, s, s_min, settings, seed=seed, device=device, out_dir=out_dir)

    result = cached(name, compute, cache_dir=run_dir)
    if out_dir is not None:  # the result is on disk now: its checkpoint (≈ 0.1 GB for ResNet-18) can go
        shutil.rmtree(out_dir, ignore_errors=True)
    return result


def probe_grid(train_data, test_data, settings: dict, *, seed: int = 0, device=None, run_dir=None,
               progress=tqdm.write, bar: bool = True) -> dict:  # fmt: skip
    """acc(s, s_min) for every s in ``settings["strengths"]`` and s_min in ``settings["min_scales"]``.

    Each cell trains once (``_cell_run``): run again — in this session, or after a disconnect with the
    same ``run_dir`` (e.g. ``simclr_cifar10.checkpoint_dir``, on Drive) — the grid reads the finished
    cells back and trains only the rest. ``bar``: a tqdm bar over the cells with the projected end;
    ``progress``: called with one line per cell (None: silent).

    Returns ``{"strengths", "min_scales", "accuracy": (len(s), len(s_min)) array, "seconds": total}``.
    """
    strengths, scales = tuple(settings["strengths"]), tuple(settings["min_scales"])
    accuracy = np.zeros((len(strengths), len(scales)))
    start = time.perf_counter()
    cells = [(i, j) for i in range(len(strengths)) for j in range(len(scales))]
    with tqdm(total=len(cells), desc="(s, s_min) grid", unit="run", disable=not bar) as shown:
        for done, (i, j) in enumerate(cells, start=1):
            s, s_min = strengths[i], scales[j]
            run = _cell_run(train_data, test_data, s, s_min, settings, seed=seed, device=device,
                            run_dir=run_dir)  # fmt: skip
            accuracy[i, j] = run["linear_accuracy"]
            shown.update()
            left = (time.perf_counter() - start) / done * (len(cells) - done)  # seconds at this pace
            shown.set_postfix_str(f"ends ≈ {time.strftime('%H:%M', time.localtime(time.time() + left))}")
            if progress is not None:
                cell = f"s = {s:<4} s_min = {s_min:<4}"
                progress(f"{cell}: linear probe {accuracy[i, j]:.3f} ({run['seconds']:.0f} s)")
    return {"strengths": strengths, "min_scales": scales, "accuracy": accuracy,
            "seconds": time.perf_counter() - start}  # fmt: skip


def adjust_saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """SimCLR's saturation step, one factor f per image (torchvision's ``adjust_saturation``):

        gray = 0.2989·R + 0.587·G + 0.114·B   (ITU-R 601 luma, per pixel)
        out  = clamp(f·x + (1 − f)·gray, 0, 1)

    f = 0 gives the gray image, f = 1 the image itself, f > 1 more saturated colours.
    ``images``: ``(B, 3, H, W)`` in [0, 1]; ``factor``: ``(B,)``. Returns ``(B, 3, H, W)``.
    """
    r, g, b = images.unbind(dim=1)  # (B, H, W) each
    gray = (0.2989 * r + 0.587 * g + 0.114 * b).unsqueeze(1)  # (B, 1, H, W)
    f = factor.to(images.dtype).view(-1, 1, 1, 1)  # (B, 1, 1, 1): broadcast over C, H, W
    return (f * images + (1 - f) * gray).clamp(0, 1)


def color_jitters(strength: float) -> dict[str, torch.nn.Module]:
    """SimCLR's colour jitter of strength s, always applied (p = 1), from the package and from kornia:

        brightness, contrast, saturation ~ U[1 − 0.8s, 1 + 0.8s],  hue ~ U[−0.2s, 0.2s],  random order.

    ``{"augment": augment.BatchColorJitter, "kornia": kornia.augmentation.ColorJitter}``.
    """
    config = simclr_augment_config(color_strength=strength)
    factors = (config.brightness, config.contrast, config.saturation, config.hue)
    return {"augment": augment.BatchColorJitter(*factors, p=1.0), "kornia": K.ColorJitter(*factors, p=1.0)}


def channel_summaries(jitter: torch.nn.Module, image: torch.Tensor, draws: int, *, seed: int = 0,
                      batch: int = 1) -> torch.Tensor:  # fmt: skip
    """Jitter one ``(3, H, W)`` image ``draws`` times; ``(draws, 6)``: each draw's per-channel mean (R, G, B)
    then per-channel standard deviation. ``batch`` images per call (each call draws one random order of
    the four steps in both implementations, so batch = 1 makes the draws independent)."""
    where = "channel_summaries"
    draws, batch = check_int(draws, "draws", where), check_int(batch, "batch", where)
    if image.dim() != 3 or image.shape[0] != 3:
        fail("image", where, "a (3, H, W) RGB image", f"shape {tuple(image.shape)}")
    rows = []
    with torch.random.fork_rng(), torch.no_grad():
        torch.manual_seed(seed)
        for start in range(0, draws, batch):
            x = image.expand(min(batch, draws - start), -1, -1, -1).contiguous()  # (b, 3, H, W)
            out = jitter(x)
            rows.append(torch.cat([out.mean(dim=(2, 3)), out.std(dim=(2, 3))], dim=1))  # (b, 6)
    return torch.cat(rows)  # (draws, 6)


def jitter_agreement(a: torch.Tensor, b: torch.Tensor) -> dict[str, np.ndarray]:
    """Compare two ``(draws, 6)`` summaries column by column: the z-score of the difference of means

        z = (ā − b̄) / √(var(a)/n_a + var(b)/n_b)      (sampling noise of two independent means)

    and the two-sample Kolmogorov–Smirnov distance D = sup_t |F_a(t) − F_b(t)| of the empirical CDFs.
    """
    a, b = a.double(), b.double()
    noise = (a.var(dim=0) / len(a) + b.var(dim=0) / len(b)).sqrt().clamp_min(1e-12)  # (6,)
    z = (a.mean(dim=0) - b.mean(dim=0)) / noise
    grid = torch.cat([a, b]).T.contiguous()  # (6, n_a + n_b): every observed value, per column
    cdf_a = torch.searchsorted(a.T.sort(dim=1).values.contiguous(), grid, right=True) / len(
        a
    )  # (6, n_a + n_b): F_a(t)
    cdf_b = torch.searchsorted(b.T.sort(dim=1).values.contiguous(), grid, right=True) / len(b)  # F_b(t)
    ks = (cdf_a - cdf_b).abs().amax(dim=1)  # (6,)
    return {"z": z.numpy(), "ks": ks.numpy()}


def colour_outcome(grid: dict, *, asserted: bool = True) -> tuple[str, str]:
    """Section 5's prediction, measured: with colour jitter (s = 0.5) or without (s = 0), which row of
    ``probe_grid``'s accuracy has the higher mean over s_min. Returns (one of ``COLOUR_CHOICES``, the
    explanation the notebook prints, true whichever row won). ``asserted``: whether the notebook's check
    asserts the gap in this mode (full; quick and lab mode only print it)."""
    rows = {s: float(grid["accuracy"][i].mean()) for i, s in enumerate(grid["strengths"])}
    without, with_jitter = rows[0.0], rows[0.5]
    answer = "s = 0.5" if with_jitter > without else "s = 0"
    means = f"Mean linear probe over s_min: s = 0 → {without:.3f}, s = 0.5 → {with_jitter:.3f}."
    if answer == "s = 0":
        stops = (
            "the check below stops here." if asserted else "this mode does not assert it (full mode does)."
        )
        means += (
            " In this run the row without colour jitter probed as well or better: the gap is a few points "
            f"and varies from seed to seed, and {stops}"
        )
    why = (
        " Without colour jitter the two views of an image share its colours (on the Tinted stand-in a random "
        "colour per image, which nearly identifies it): the contrastive task can be solved largely by "
        "colour, which tells little about the class (the easy shared feature of notebook 05). With s = 0.5 "
        "the colours of two views differ, and matching them takes the shape (Chen et al. 2020, Sec. 3)."
    )
    return answer, means + why
