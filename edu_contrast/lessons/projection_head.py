r"""Notebook 11: the projection head g, the stop-gradient, the predictor, the batch and the queue.

Three experiments, each changing one thing at a time on the same small ConvNet f:

* **head depth** (Chen, Luo & Li 2021, "Intriguing Properties of Contrastive Losses", Sec. 2.2, Table 2):
  z = g(h) with an L-layer head g (L = 0 is z = h), trained with NT-Xent and the generalized loss
  L = L_pos + λ·L_SWD to two priors; a linear probe on h and on z, and the spread between losses
  spread_L = max_loss acc − min_loss acc per depth L (``head_depth_study``, ``loss_spread``);
* **ablations** of one factor each — SimCLR without head, BYOL without stop-gradient or predictor, MoCo
  without queue (M = 0) or momentum (β = 0) — with the centred spectrum of z and erank(z), erank(h)
  measured before training and after every epoch (``ablation_run``);
* **batch against queue**: SimCLR with N images per batch (2N − 2 negatives) against MoCo with a small
  batch and M queued negatives, β ∈ {0, 0.99}, and the same batch without a queue (``batch_queue_study``).

The notebook's check cells assert on named effects (``head_depth_effects``, ``ablation_effects``,
``batch_queue_effects``: a difference that is > 0 when the taught effect is there) through
``check_effect(effects, name, margin=...)``; the margins follow the seed sweep of ``docs/check_margins.md``.
With ``run_dir`` (full mode) each finished run is also kept as JSON and read back after a disconnect.

The spectrum is that of the covariance of z over n tracked test images: its eigenvalues are
λ_k = σ_k² / (n − 1) with σ_k the singular values of the centred z (``diagnostics.singular_spectrum``).
erank is ``measure.report_embeddings``'s (Roy & Vetterli, ``notebooks/00_notation.md``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from edu_contrast import data, diagnostics, measure, methods, probes, train
from edu_contrast._validation import check_choice, check_int, fail
from edu_contrast.lessons._cache import cache_key, cached
from edu_contrast.lessons._projection_head_effects import (
    PROBE_SIDES,
    ablation_effects,
    batch_queue_effects_for,
    check_effect,
    head_depth_effects,
    probe_side_outcome,
)
from edu_contrast.lessons.methods import resized_subset
from edu_contrast.utils import MODES

__all__ = [
    "MODES",
    "scale",
    "load_data",
    "HEAD_LOSSES",
    "build_head_method",
    "probe_h_and_z",
    "head_depth_study",
    "loss_spread",
    "ABLATIONS",
    "build_ablation",
    "AblationRun",
    "ablation_run",
    "covariance_spectrum",
    "random_encoder_probe",
    "batch_queue_runs",
    "batch_queue_study",
    "head_depth_effects",
    "ablation_effects",
    "batch_queue_effects",
    "check_effect",
    "PROBE_SIDES",
    "probe_side_outcome",
]

_SCALES = {  # every size and budget of the notebook, per mode
    "quick": dict(image=16, train=1024, test=512, width=8, dim=32, epochs=2, batch=128, track=256,
                  simclr_batches=(32, 128, 512), moco_batch=32, queues=(128, 512)),
    "lab": dict(image=16, train=2000, test=1000, width=12, dim=48, epochs=4, batch=128, track=512,
                simclr_batches=(32, 128, 512), moco_batch=32, queues=(256, 2048)),
    "full": dict(image=28, train=20_000, test=5_000, width=32, dim=128, epochs=20, batch=256, track=1000,
                 simclr_batches=(32, 128, 512), moco_batch=32, queues=(256, 4096)),
}  # fmt: skip
FIT = {"lr": 2e-3, "weight_decay": 1e-4, "progress": False, "knn_train_size": 2000, "knn_test_size": 500}


def scale(mode: str) -> dict:
    """The sizes of a run in ``mode`` ("quick", "lab", "full"): images, widths, epochs, batches, queues."""
    return dict(_SCALES[check_choice(mode, "mode", "scale", MODES)])


def load_data(mode: str, *, seed: int = 0) -> tuple[data.ImageTensors, data.ImageTensors]:
    """Fashion-MNIST subsets of ``scale(mode)``'s sizes, area-resized to its image size (16×16 off the GPU).

    The subsets are drawn with ``seed``: ``(train, test)`` ``ImageTensors`` of uint8 ``(n, 1, S, S)``.
    """
    size = scale(mode)
    train_set, test_set = (
        resized_subset("fashion-mnist", split, size[split], size["image"], seed=seed)
        for split in ("train", "test")
    )
    return train_set, test_set


# ----------------------------------------------------------------------------- head depth × loss

HEAD_LOSSES = {  # name → methods.Generalized arguments; "swd" weights are λ = 4d (notebook 08, section 4)
    "NT-Xent": {"distribution": "lse", "prior": "hypersphere", "temperature": 0.2},
    "SWD → normal": {"distribution": "swd", "prior": "normal"},
    "SWD → hypercube": {"distribution": "swd", "prior": "hypercube"},
}


def build_head_method(loss: str, depth: int, *, width: int, dim: int) -> methods.ContrastiveMethod:
    """f (SmallConvNet, h ∈ ℝ^dim) and a ``depth``-layer head g: ℝ^dim → ℝ^dim trained with ``loss``.

    depth 0 is z = h (``methods.without_projector``), 1 a linear map, L ≥ 2 an MLP with L − 1 hidden
    layers of width 2·dim. d = dim in every case, so the SWD weight λ = 4d is the same for every depth.
    """
    where = "build_head_method"
    check_choice(loss, "loss", where, HEAD_LOSSES)
    depth = check_int(depth, "depth", where, minimum=0)
    options = dict(HEAD_LOSSES[loss])
    if options["distribution"] == "swd":
        options["weight"] = 4.0 * dim
    method = methods.build_method(
        "generalized", in_channels=1, width=width, feature_dim=dim, hidden_dim=2 * dim, out_dim=dim,
        num_layers=max(depth, 1), **options,
    )  # fmt: skip
    return methods.without_projector(method) if depth == 0 else method


def probe_h_and_z(method, train_data, test_data) -> dict:
    """Linear-probe accuracy on h = f(x) and on z = g(h) of clean images: ``{"h": float, "z": float}``."""
    result = {}
    for space, project in (("h", False), ("z", True)):
        train_x = measure.embed(method, train_data.images, project=project)  # (N, feature_dim or d)
        test_x = measure.embed(method, test_data.images, project=project)
        result[space] = probes.linear_probe(train_x, train_data.labels, test_x, test_data.labels)
    return result


def head_depth_study(train_data, test_data, *, depths, mode: str, seed: int = 0, run_dir=None) -> dict:
    """Train every (loss, depth) of ``HEAD_LOSSES`` × ``depths`` at ``scale(mode)`` and probe h and z.

    Each run starts from the same weights (``torch.manual_seed(seed)``). Returns
    ``{loss: {depth: {"h": acc, "z": acc}}}``; each run is kept (``lessons._cache``, ``run_dir``: on disk).
    """
    size = scale(mode)
    table: dict = {}
    for loss in HEAD_LOSSES:
        for depth in depths:
            key = cache_key(head_depth_study, loss=loss, depth=depth, mode=mode, seed=seed, n=len(train_data))
            run = lambda loss=loss, depth=depth: _head_run(loss, depth, train_data, test_data, size, seed)
            table.setdefault(loss, {})[depth] = cached(key, run, cache_dir=run_dir)
    return table


def _head_run(loss, depth, train_data, test_data, size, seed) -> dict:
    torch.manual_seed(seed)
    method = build_head_method(loss, depth, width=size["width"], dim=size["dim"])
    train.fit(method, train_data, epochs=size["epochs"], batch_size=size["batch"], seed=seed,
              eval_data=test_data, **FIT)  # fmt: skip
    return probe_h_and_z(method, train_data, test_data)


def loss_spread(table: dict, space: str = "h") -> dict:
    """spread_L = max over losses − min over losses of the probe on ``space`` ("h" or "z"), per depth L."""
    check_choice(space, "space", "loss_spread", ("h", "z"))
    if not table:
        fail("table", "loss_spread", "a head_depth_study result with at least one loss", "an empty dict")
    depths = next(iter(table.values())).keys()
    return {
        d: max(r[d][space] for r in table.values()) - min(r[d][space] for r in table.values()) for d in depths
    }


# ----------------------------------------------------------------------------- one factor at a time

ABLATIONS = {  # name → (build_method name, hyperparameters, projection head removed)
    "SimCLR": ("simclr", {"temperature": 0.2}, False),
    "SimCLR, no head": ("simclr", {"temperature": 0.2}, True),
    "BYOL": ("byol_ablation", {"predictor": True, "stop_gradient": True}, False),
    "BYOL, no stop-gradient": ("byol_ablation", {"predictor": True, "stop_gradient": False}, False),
    "BYOL, no predictor": ("byol_ablation", {"predictor": False, "stop_gradient": True}, False),
    "MoCo": ("moco", {"temperature": 0.2, "momentum": 0.99}, False),
    "MoCo, no queue (M = 0)": ("moco", {"temperature": 0.2, "momentum": 0.99, "queue_size": 0}, False),
    "MoCo, no momentum (β = 0)": ("moco", {"temperature": 0.2, "momentum": 0.0}, False),
}


def build_ablation(name: str, *, width: int, dim: int, queue_size: int) -> methods.ContrastiveMethod:
    """The method ``ABLATIONS[name]`` on a fresh SmallConvNet (h ∈ ℝ^dim, z ∈ ℝ^dim, head 2 layers).

    ``queue_size`` is MoCo's M where the ablation does not set it.
    """
    check_choice(name, "name", "build_ablation", ABLATIONS)
    key, hyper, no_head = ABLATIONS[name]
    if key == "moco":
        hyper = {"queue_size": queue_size, **hyper}
    method = methods.build_method(
        key, in_channels=1, width=width, feature_dim=dim, hidden_dim=2 * dim, out_dim=dim, **hyper
    )
    return methods.without_projector(method) if no_head else method


def covariance_spectrum(z: torch.Tensor) -> torch.Tensor:
    """λ_k = σ_k² / (n − 1): the eigenvalues of the covariance of z ``(n, d)``, descending, ``(min(n, d),)``.

    σ_k are the singular values of the centred z − z̄ (``diagnostics.singular_spectrum``).
    """
    return diagnostics.singular_spectrum(z).pow(2) / (z.shape[0] - 1)  # (min(n, d),) float64


@dataclass
class AblationRun:
    """An ablation's spectra and ranks before training (entry 0) and after every epoch.

    ``spectra[e]`` is ``covariance_spectrum`` of z of the tracked images after epoch e; ``erank_z[e]``,
    ``erank_h[e]``, ``knn_accuracy[e]`` (fit's monitor on h) likewise; ``linear_accuracy`` the final probe.
    """

    name: str
    spectra: list[torch.Tensor] = field(default_factory=list)
    erank_z: list[float] = field(default_factory=list)
    erank_h: list[float] = field(default_factory=list)
    knn_accuracy: list[float] = field(default_factory=list)
    linear_accuracy: float = float("nan")

    @property
    def epochs(self) -> int:
        return len(self.spectra) - 1

    def to_json(self) -> dict:
        """The run as JSON (spectra as lists) for ``cached(..., cache_dir=)``; ``from_json`` inverts it."""
        return {**vars(self), "spectra": [spectrum.tolist() for spectrum in self.spectra]}

    @classmethod
    def from_json(cls, form: dict) -> AblationRun:
        spectra = [torch.tensor(spectrum, dtype=torch.float64) for spectrum in form["spectra"]]  # (min(n,d),)
        return cls(**{**form, "spectra": spectra})


def ablation_run(name: str, train_data, test_data, *, mode: str, seed: int = 0, run_dir=None) -> AblationRun:
    """Train ``ABLATIONS[name]`` at ``scale(mode)`` (``train.fit``); measure the tracked test images after
    BatchNorm calibration (entry 0) and after every epoch (fit's ``callback``). Kept, in ``run_dir`` too."""
    key = cache_key(ablation_run, name=name, mode=mode, seed=seed, n=len(train_data))
    compute = lambda: _ablation_run(name, train_data, test_data, scale(mode), seed).to_json()
    return AblationRun.from_json(cached(key, compute, cache_dir=run_dir))


def _ablation_run(name, train_data, test_data, size, seed) -> AblationRun:
    torch.manual_seed(seed)
    method = build_ablation(name, width=size["width"], dim=size["dim"], queue_size=size["queues"][-1])
    tracked = test_data.images[: size["track"]]  # (n, 1, S, S): never trained on
    run = AblationRun(name)

    def record(_entry=None) -> None:
        emb = measure.measure_embeddings(method, tracked, aug=None, seed=seed)
        report = measure.report_embeddings(emb)
        run.spectra.append(covariance_spectrum(emb.z))
        run.erank_z.append(report["erank_z"])
        run.erank_h.append(report["erank_h"])

    measure.calibrate_batchnorm(method, train_data.images[:1024])
    record()  # entry 0: the untrained network with calibrated BatchNorm
    result = train.fit(method, train_data, epochs=size["epochs"], batch_size=size["batch"], seed=seed,
                       eval_data=test_data, callback=record, **FIT)  # fmt: skip
    run.knn_accuracy = [entry["knn_accuracy"] for entry in result["history"]]
    run.linear_accuracy = result["linear_accuracy"]
    return run


def random_encoder_probe(train_data, test_data, *, mode: str, seed: int = 0) -> dict:
    """The floor: ``probe_h_and_z`` of an untrained network (2-layer head), BatchNorm calibrated on training
    images (``measure.calibrate_batchnorm``), so the comparison with trained networks is a fair one."""
    size = scale(mode)
    torch.manual_seed(seed)
    method = build_head_method("NT-Xent", 2, width=size["width"], dim=size["dim"])
    measure.calibrate_batchnorm(method, train_data.images[:1024])
    return probe_h_and_z(method, train_data, test_data)


# ----------------------------------------------------------------------------- batch against queue


def batch_queue_runs(mode: str) -> dict:
    """The runs of ``batch_queue_study`` at ``scale(mode)``: name → (build_method name, N, hyperparameters).

    SimCLR at every N of ``simclr_batches`` (2N − 2 negatives); MoCo at N = ``moco_batch`` without a queue
    (M = 0, β = 0.99: the N − 1 other keys of the batch are the negatives, as in MoCo v3) and with every M
    of ``queues`` and β ∈ {0, 0.99}.
    """
    size = scale(mode)
    runs = {f"SimCLR N={n}": ("simclr", n, {"temperature": 0.2}) for n in size["simclr_batches"]}
    no_queue = {"temperature": 0.2, "queue_size": 0, "momentum": 0.99}
    n = size["moco_batch"]
    runs[f"MoCo N={n} M=0 β=0.99"] = ("moco", n, no_queue)
    for queue in size["queues"]:
        for momentum in (0.99, 0.0):
            hyper = {"temperature": 0.2, "queue_size": queue, "momentum": momentum}
            runs[f"MoCo N={n} M={queue} β={momentum:g}"] = ("moco", n, hyper)
    return runs


def batch_queue_study(train_data, test_data, *, mode: str, seed: int = 0, run_dir=None) -> dict:
    """Train every ``batch_queue_runs(mode)`` run for the same epochs (so a small N takes more steps).

    Returns ``{name: {"linear_accuracy", "knn_accuracy", "negatives", "steps", "seconds"}}``; negatives per
    query are 2N − 2 for SimCLR, M for MoCo with a queue and N − 1 for MoCo with M = 0. Each run is kept
    for the session and, with ``run_dir``, on disk."""
    return {
        name: cached(
            cache_key(batch_queue_study, name=name, mode=mode, seed=seed, n=len(train_data)),
            lambda spec=spec: _batch_queue_run(*spec, train_data, test_data, scale(mode), seed),
            cache_dir=run_dir,
        )
        for name, spec in batch_queue_runs(mode).items()
    }


def _batch_queue_run(key, batch, hyper, train_data, test_data, size, seed) -> dict:
    torch.manual_seed(seed)
    method = methods.build_method(
        key, in_channels=1, width=size["width"], feature_dim=size["dim"], hidden_dim=2 * size["dim"],
        out_dim=size["dim"], **hyper,
    )  # fmt: skip
    negatives = hyper.get("queue_size", 2 * batch - 2) or batch - 1  # M = 0: the other keys of the batch
    start = time.perf_counter()
    result = train.fit(method, train_data, epochs=size["epochs"], batch_size=batch, seed=seed,
                       eval_data=test_data, **FIT)  # fmt: skip
    return {
        "linear_accuracy": result["linear_accuracy"],
        "knn_accuracy": result["history"][-1]["knn_accuracy"],
        "negatives": negatives,
        "steps": size["epochs"] * (len(train_data) // batch),
        "seconds": time.perf_counter() - start,
    }


def batch_queue_effects(rows: dict, mode: str) -> dict:
    """Section 3's effects from ``batch_queue_study``'s rows in ``mode`` (``batch_queue_effects_for``)."""
    return batch_queue_effects_for(rows, scale(mode))
