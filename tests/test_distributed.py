"""gather_with_grad: 2 CPU processes (gloo) reproduce the single-process full-batch loss and gradients."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from fast_train import FAST
from torch import nn

from edu_contrast import distributed, losses
from edu_contrast.methods import SimCLR

WORLD = 2
BATCH = 6  # global batch, 3 rows per process
TEMPERATURE = 0.5


class TinyEncoder(nn.Module):
    feature_dim = 16

    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(64, 16), nn.ReLU())

    def forward(self, x):
        return self.net(x)


def _data():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(BATCH, 5, generator=g)  # inputs of a shared linear map z = x W
    w = torch.randn(5, 4, generator=g)
    images = torch.rand(2, BATCH, 1, 8, 8, generator=g)  # two views for the SimCLR module
    return x, w, images


def _simclr():
    torch.manual_seed(0)
    # eval(): BatchNorm with running statistics is per sample, so a process's half-batch gives the same
    # z as the full batch (SyncBatchNorm, which fixes this in training, needs CUDA).
    return SimCLR(TinyEncoder(), hidden_dim=32, out_dim=8, temperature=TEMPERATURE).eval()


def _nt_xent_grad(x, w, gather):
    """Loss and DDP-averaged dL/dW when each process holds its rows of z = xW, gathered by ``gather``."""
    w = w.clone().requires_grad_(True)
    x1, x2 = x @ w, (x + 0.1) @ w  # (b, 4) this process's rows of the two views
    loss = losses.nt_xent(gather(x1), gather(x2), temperature=TEMPERATURE)
    loss.backward()
    grad = w.grad.clone()
    dist.all_reduce(grad)
    return loss.detach(), grad / WORLD  # what DistributedDataParallel does to every parameter's gradient


def _without_autograd(z):
    """The classic bug: all_gather has no backward, so the other processes' rows carry no gradient."""
    chunks = [torch.empty_like(z) for _ in range(WORLD)]
    dist.all_gather(chunks, z.detach())
    chunks[dist.get_rank()] = z
    return torch.cat(chunks)


def _worker(rank, port, out_dir):
    os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD)
    try:
        x, w, images = _data()
        rows = slice(rank * BATCH // WORLD, (rank + 1) * BATCH // WORLD)
        result = {"rank": rank}
        result["loss"], result["grad"] = _nt_xent_grad(x[rows], w, distributed.gather_with_grad)
        result["buggy_loss"], result["buggy_grad"] = _nt_xent_grad(x[rows], w, _without_autograd)
        result["gathered"] = distributed.gather(torch.arange(3) + 10 * rank)
        result["objects"] = distributed.gather_objects({"rank": rank})
        result["broadcast"] = distributed.broadcast_object(f"from rank {rank}")

        model, method = distributed.wrap_for_training(_simclr(), torch.device("cpu"))
        result["wrapped"] = isinstance(model, nn.parallel.DistributedDataParallel) and model.module is method
        loss = model(images[0, rows], images[1, rows])
        loss.backward()  # DDP averages the gradients over the processes here
        result["simclr_loss"] = loss.detach()
        result["simclr_grads"] = {n: p.grad.clone() for n, p in method.named_parameters()}
        torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    mp.spawn(_worker, args=(distributed.free_port(), str(out)), nprocs=WORLD, join=True)
    return [torch.load(out / f"rank{r}.pt", weights_only=True) for r in range(WORLD)]


@pytest.mark.slow  # spawns two processes
def test_gather_with_grad_reproduces_the_full_batch_loss_and_gradient(results):
    x, w, _ = _data()
    expected_loss, expected_grad = _nt_xent_grad_single(x, w)
    for r in results:
        assert torch.allclose(r["loss"], expected_loss, atol=1e-6)
        assert torch.allclose(r["grad"], expected_grad, atol=1e-6), r["rank"]


@pytest.mark.slow  # spawns two processes
def test_gather_without_autograd_gets_the_gradient_wrong(results):
    # The same check fails for the classic bug, so the test above can fail.
    x, w, _ = _data()
    expected_loss, expected_grad = _nt_xent_grad_single(x, w)
    assert torch.allclose(results[0]["buggy_loss"], expected_loss, atol=1e-6)  # the loss looks right...
    assert not torch.allclose(results[0]["buggy_grad"], expected_grad, atol=1e-4)  # ...the gradient is not


@pytest.mark.slow  # spawns two processes
def test_gather_concatenates_in_rank_order(results):
    for r in results:
        assert r["gathered"].tolist() == [0, 1, 2, 10, 11, 12]


@pytest.mark.slow  # spawns two processes
def test_objects_are_gathered_in_rank_order_and_broadcast_from_rank_0(results):
    for r in results:
        assert r["objects"] == [{"rank": 0}, {"rank": 1}]
        assert r["broadcast"] == "from rank 0"


@pytest.mark.slow  # spawns two processes
def test_simclr_under_ddp_matches_the_single_process_full_batch(results):
    _, _, images = _data()
    model = _simclr()
    loss = model(images[0], images[1])
    loss.backward()
    for r in results:
        assert r["wrapped"]  # wrap_for_training: a DDP model around the method fit saves
        assert torch.allclose(r["simclr_loss"], loss.detach(), atol=1e-6)
        for name, p in model.named_parameters():
            assert torch.allclose(r["simclr_grads"][name], p.grad, atol=1e-6), name


def _nt_xent_grad_single(x, w):
    w = w.clone().requires_grad_(True)
    loss = losses.nt_xent(x @ w, (x + 0.1) @ w, temperature=TEMPERATURE)
    loss.backward()
    return loss.detach(), w.grad


def test_identity_without_a_process_group():
    z = torch.randn(3, 4, requires_grad=True)
    assert distributed.gather_with_grad(z) is z
    assert distributed.gather(z) is z
    assert distributed.world_size() == 1 and distributed.rank() == 0 and not distributed.is_distributed()
    with pytest.raises(TypeError, match="'z' parameter of gather_with_grad"):
        distributed.gather_with_grad([1, 2])
    assert distributed.gather_objects("x") == ["x"] and distributed.broadcast_object("x") == "x"
    method = nn.Linear(2, 2)
    assert distributed.wrap_for_training(method, torch.device("cpu")) == (method, method)


@pytest.mark.slow
def test_torchrun_trains_with_ddp_and_only_rank_0_writes(tmp_path):
    torchrun = shutil.which("torchrun", path=os.path.dirname(sys.executable))
    if torchrun is None:
        pytest.skip("torchrun is not installed next to this Python")
    out = tmp_path / "run"
    command = [
        torchrun,
        "--nproc_per_node=2",
        "--master_port",
        str(distributed.free_port()),
        "-m",
        "edu_contrast",
        "train",
        "--epochs",
        "1",
        *FAST,
        "--out",
        str(out),
    ]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("linear-probe accuracy") == 1  # one summary: rank 0 prints
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "metrics.json"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert [h["epoch"] for h in metrics["history"]] == [0, 1] and 0 < metrics["linear_accuracy"] <= 1
    assert {"erank_z", "erank_h", "alignment", "uniformity", "knn_accuracy"} <= set(metrics["history"][-1])
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert state["config"]["world_size"] == 2 and len(state["rng"]) == 2  # each rank's generators
