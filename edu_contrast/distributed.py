"""Several processes, one batch: the all-gather that contrastive losses need under DDP.

With DistributedDataParallel each of the W processes (ranks) sees only its own B rows,
but a contrastive loss wants the negatives of the whole global batch of W·B rows. So
every rank gathers the embeddings of all ranks, Z = [z_0; z_1; …; z_{W−1}], and computes
the loss L(Z) of the full batch. ``torch.distributed.all_gather`` has no autograd, so we
write the backward ourselves:

    ∂L/∂z_r (what rank r must get) = Σ_{s=0..W−1} ∂L_s/∂Z [rows of rank r]

rank s holds the gradient of its own copy of the loss with respect to *every* row, and
only rank r can push the gradient of rows r into its encoder, so the backward sums the
incoming gradients over the ranks (all-reduce) and keeps the slice of its own rows.
The classic bugs are returning the local slice without the sum (the other ranks' terms
are lost) or gathering without autograd (the gradient through the negatives is lost).

Scaling: every rank computes the same full-batch loss L, so after the summed backward
rank r holds W·∂L/∂θ|_r; DDP *averages* over ranks (divides by W), which leaves exactly
Σ_r ∂L/∂θ|_r = ∂L/∂θ of the single-process full batch. No extra loss factor is needed.
"""

from __future__ import annotations

import os
import socket

import torch
import torch.distributed as dist
from torch import nn

from edu_contrast._validation import fail


def is_distributed() -> bool:
    """True inside an initialised ``torch.distributed`` process group."""
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    """This process's index in the group (0 when not distributed)."""
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    """Number of processes in the group (1 when not distributed)."""
    return dist.get_world_size() if is_distributed() else 1


def _gather_padded(x: torch.Tensor) -> tuple[list[torch.Tensor], list[int]]:
    """All-gather tensors whose first axis may differ between ranks (gloo wants equal sizes)."""
    size = torch.tensor([x.shape[0]], device=x.device)
    sizes = [torch.zeros_like(size) for _ in range(world_size())]
    dist.all_gather(sizes, size)
    sizes = [int(s) for s in sizes]
    padded = x.new_zeros((max(sizes), *x.shape[1:]))  # (max_rows, ...)
    padded[: x.shape[0]] = x
    chunks = [torch.empty_like(padded) for _ in sizes]
    dist.all_gather(chunks, padded.contiguous())
    return [chunk[:n] for chunk, n in zip(chunks, sizes)], sizes


class _GatherWithGrad(torch.autograd.Function):
    """Forward: Z = [z_0; …; z_{W−1}]. Backward: Σ over ranks of ∂L/∂Z, rows of this rank."""

    @staticmethod
    def forward(ctx, z: torch.Tensor) -> torch.Tensor:
        chunks, sizes = _gather_padded(z)
        ctx.start = sum(sizes[: rank()])
        ctx.rows = z.shape[0]
        return torch.cat(chunks)  # (Σ_r B_r, ...)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)  # every rank's ∂L_s/∂Z, summed over s
        return grad[ctx.start : ctx.start + ctx.rows]  # (B_r, ...): this rank's rows


def gather_with_grad(z: torch.Tensor) -> torch.Tensor:
    """Concatenate ``z`` of every process along axis 0, keeping the gradient path to each rank.

    Args:
        z: this rank's rows, shape ``(B_r, ...)`` (B_r may differ between ranks).

    Returns:
        Z, shape ``(Σ_r B_r, ...)``, rank 0's rows first. Its backward gives each rank the
        gradient of its own rows summed over all ranks (see the module docstring for why, and
        why DDP's averaging then reproduces the single-process full-batch gradient). The
        identity when ``torch.distributed`` is not initialised, so single-process code is unchanged.
    """
    if not isinstance(z, torch.Tensor):
        fail("z", "gather_with_grad", "a torch.Tensor", type(z).__name__, TypeError)
    if not is_distributed() or world_size() == 1:
        return z
    return _GatherWithGrad.apply(z)


@torch.no_grad()
def gather(x: torch.Tensor) -> torch.Tensor:
    """All-gather without gradient (labels, MoCo keys): ``(B_r, ...) -> (Σ_r B_r, ...)``."""
    if not is_distributed() or world_size() == 1:
        return x
    chunks, _ = _gather_padded(x)
    return torch.cat(chunks)


def all_reduce_mean(value: float, device: torch.device | str = "cpu") -> float:
    """Mean of a Python float over the ranks (for logging the epoch loss)."""
    if not is_distributed():
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t) / world_size()


def gather_objects(obj) -> list:
    """One picklable object per rank, in rank order (``[obj]`` in a single process)."""
    if not is_distributed():
        return [obj]
    out = [None] * world_size()
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj):
    """Rank 0's picklable object on every rank (``obj`` itself in a single process)."""
    if not is_distributed():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def wrap_for_training(method: nn.Module, device: torch.device) -> tuple[nn.Module, nn.Module]:
    """``(model, method)``: call ``model`` for the loss, save and measure ``method``.

    In a single process both are ``method``. Under DDP, BatchNorm becomes SyncBatchNorm on CUDA
    (batch statistics over the global batch, as one process would compute them; gloo has no
    SyncBatchNorm, so on the CPU each rank normalises its own rows) and ``model`` is the
    ``DistributedDataParallel`` wrapper that averages the gradients over the ranks.
    """
    if not is_distributed():
        return method, method
    if device.type == "cuda":
        method = nn.SyncBatchNorm.convert_sync_batchnorm(method)
    ids = [device.index] if device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(method, device_ids=ids), method


def launched_by_torchrun() -> bool:
    """True when the environment of ``torchrun`` (RANK and WORLD_SIZE) is present."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_from_env() -> torch.device:
    """Join the process group torchrun describes; return this rank's device.

    gloo on CPU, nccl on CUDA (one GPU per rank, ``LOCAL_RANK``). Call once per process,
    before building the DDP model; :func:`cleanup` at the end.
    """
    if not launched_by_torchrun():
        raise RuntimeError(
            "init_from_env needs the RANK and WORLD_SIZE environment variables set by torchrun."
        )
    if torch.cuda.is_available():
        local_rank = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
        backend = "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not is_distributed():
        dist.init_process_group(backend=backend)
    return device


def cleanup() -> None:
    """Leave the process group (no-op when not distributed)."""
    if is_distributed():
        dist.destroy_process_group()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now (for spawning test process groups)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
