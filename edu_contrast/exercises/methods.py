"""Checkers for notebook 06 (the methods): MoCo's momentum update and its queue of negatives.

``check_momentum_update(fn)``: ``fn(target, online, beta)`` moves the key (target) network towards the
query (online) network in place, for every parameter (He et al. 2020, "Momentum Contrast", Eq. 2, where
β is called m):

    ξ ← β·ξ + (1 − β)·θ

as ``methods.base.ema_update`` does (BatchNorm running statistics stay the target's own).

``check_enqueue(fn)``: ``fn(queue, ptr, keys)`` writes the n new keys into the ring buffer ``queue``
``(M, d)`` at slots ptr, ptr + 1, … (mod M), overwriting the oldest entries, and returns the new pointer
(ptr + n) mod M — ``lessons.methods.enqueue``, what ``MoCo.enqueue`` does to its ``queue`` and
``queue_ptr`` buffers (the MoCo paper writes K for the queue length M).

Both are registered exercises: ``check_NAME(fn, fallback=True)`` returns the function the notebook goes
on with (``_registry``); the references are ``methods.base.ema_update`` and ``lessons.methods.enqueue``.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from edu_contrast.exercises._core import ExerciseError, call_student, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.methods import enqueue
from edu_contrast.methods.base import ema_update, frozen_copy

__all__ = ["check_momentum_update", "check_enqueue"]


# ---------------------------------------------------------------------------- momentum update


def _small_network(seed: int) -> nn.Module:
    """A little MLP with BatchNorm (parameters and buffers), standing in for encoder + head."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3))


def _flat(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in module.parameters()])  # (P,) all parameters


def _pair(seed: int) -> tuple[nn.Module, nn.Module]:
    """(target, online) with different weights and BatchNorm statistics, as after some training."""
    online = _small_network(seed)
    with torch.no_grad():
        online[1].running_mean.uniform_(-1, 1)
    target = frozen_copy(_small_network(seed + 100))
    return target, online


def _implied_momentum(got: torch.Tensor, old: torch.Tensor, online: torch.Tensor) -> tuple[float, float]:
    """Least-squares β' with got ≈ β'·ξ + (1 − β')·θ, and the relative residual of that fit."""
    direction = old - online  # (P,)
    beta = float((got - online) @ direction / (direction @ direction))
    residual = float((got - online - beta * direction).norm() / direction.norm())
    return beta, residual


def _diagnose_update(
    got: torch.Tensor, old: torch.Tensor, online: torch.Tensor, beta: float, name: str
) -> None:
    implied, residual = _implied_momentum(got, old, online)
    if torch.allclose(got, old, atol=1e-7):
        raise ExerciseError(
            f"{name}: the target's weights did not change. The update must write the mix "
            f"β·ξ + (1 − β)·θ into the target's own parameters, in place."
        )
    if residual < 1e-4:
        hint = " (did you swap β and 1 − β?)" if abs(implied - (1 - beta)) < 1e-4 else ""
        raise ExerciseError(
            f"{name}: with β = {beta} each target weight should keep {beta:.0%} of itself and take "
            f"{1 - beta:.0%} of the online weight; yours keeps {implied:.1%}{hint}."
        )
    if torch.allclose(got, beta * old + online, atol=1e-5):
        raise ExerciseError(
            f"{name}: you added the online weights with factor 1: ξ ← β·ξ + θ. The two factors "
            f"must sum to one, ξ ← β·ξ + (1 − β)·θ, so the target stays an average."
        )
    raise ExerciseError(
        f"{name}: the new target weights are not a mix β·ξ + (1 − β)·θ of the old target ξ and "
        f"the online weights θ (the best such mix is off by {residual:.1%}). Update every "
        f"parameter p_ξ of the target with its partner p_θ at the same position."
    )


def _check_one_update(student_fn, beta: float, seed: int, name: str) -> None:
    target, online = _pair(seed)
    expected = copy.deepcopy(target)
    ema_update(expected, online, beta)
    old_target, old_online = _flat(target), _flat(online)
    buffers = [b.clone() for b in target.buffers()]
    returned = call_student(student_fn, target, online, beta, name=name)
    if not torch.equal(_flat(online), old_online):
        raise ExerciseError(
            f"{name}: your function changed the online network's weights θ. Only the target ξ "
            f"moves here; θ is trained by the optimiser."
        )
    if isinstance(returned, nn.Module) and returned is not target and torch.equal(_flat(target), old_target):
        raise ExerciseError(
            f"{name}: you returned a new network, but the method keeps using the one it passed "
            f"in. Update `target` in place (e.g. p_ξ.mul_(beta).add_(p_θ, alpha=1 - beta))."
        )
    if any(p.requires_grad or p.grad_fn is not None for p in target.parameters()):
        raise ExerciseError(
            f"{name}: after your update the target's weights carry gradient history (they now "
            f"require grad). Wrap the update in `with torch.no_grad():`: no gradient flows into "
            f"the momentum network."
        )
    got = _flat(target)
    if not torch.allclose(got, _flat(expected), atol=1e-6, rtol=1e-5):
        _diagnose_update(got, old_target, old_online, beta, name)
    for before, after in zip(buffers, target.buffers()):
        if after.dtype.is_floating_point and not torch.allclose(before, after):
            raise ExerciseError(
                f"{name}: the parameters are right, but you also changed the target's BatchNorm "
                f"running statistics. Iterate over .parameters() only: in MoCo the buffers "
                f"stay the key encoder's own (they follow the keys it sees)."
            )


MOMENTUM_HINT = (
    "Loop over zip(target.parameters(), online.parameters()) and update each target parameter in place,\n"
    "without gradient (inside `with torch.no_grad():`, or with p_θ.detach()): p_ξ.mul_(β).add_(p_θ,\n"
    "alpha=1 − β), β the third argument (the package's ema_update calls it tau). Parameters only: the\n"
    "BatchNorm buffers stay the target's own. Return nothing; the caller keeps using `target`."
)


@exercise("momentum_update", reference=ema_update, hint=MOMENTUM_HINT)
def check_momentum_update(student_fn) -> bool:
    r"""Check ``student_fn(target, online, beta)`` against ``methods.base.ema_update``.

        ξ ← β·ξ + (1 − β)·θ     for every parameter (He et al. 2020, Eq. 2)

    ``target`` (ξ) and ``online`` (θ) are two small networks of the same architecture; the function
    updates ``target`` in place. Tried with β = 0.9, 0.99 and 0 (a plain copy). Returns True and prints
    a confirmation, or raises ``ExerciseError`` naming the mistake.
    """
    name = "check_momentum_update"
    for seed, beta in enumerate((0.9, 0.99, 0.0)):
        _check_one_update(student_fn, beta, seed, name)
    return passed(name, "ξ ← β·ξ + (1 − β)·θ, in place, without gradient.")


# ---------------------------------------------------------------------------- enqueue


def _reference_enqueue(queue: torch.Tensor, ptr: int, keys: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``lessons.methods.enqueue`` (= ``MoCo.enqueue``) on a copy of ``queue``: (new queue, new ptr)."""
    queue = queue.clone()
    return queue, enqueue(queue, ptr, keys)


def _labelled_keys(n: int, dim: int, start: int) -> torch.Tensor:
    """n unit keys that are easy to tell apart: key j points along axis (start + j) mod dim, with a tilt."""
    keys = torch.zeros(n, dim)
    for j in range(n):
        keys[j, (start + j) % dim] = 1.0
        keys[j, (start + j + 1) % dim] = 0.1 * (1 + j)
    return F.normalize(keys, dim=1)  # (n, dim), already unit length like MoCo's keys


def _describe(row: torch.Tensor, old: torch.Tensor, keys: torch.Tensor) -> str:
    """Say what a queue row holds: 'key j of this batch', 'the old entry of slot s', or 'something else'."""
    for j, key in enumerate(keys):
        if torch.allclose(row, key, atol=1e-6):
            return f"key {j} of this batch"
    for s, entry in enumerate(old):
        if torch.allclose(row, entry, atol=1e-6):
            return f"the old entry of slot {s}"
    return "something else (a mix or a modified key?)"


def _as_pointer(value, name: str) -> int:
    if isinstance(value, tuple):
        raise ExerciseError(
            f"{name}: return only the new pointer (an int); the queue is written in place, so "
            f"it need not be returned. Got a tuple of {len(value)} values."
        )
    if isinstance(value, torch.Tensor) and value.numel() == 1 and not value.dtype.is_floating_point:
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    got = "None (no return statement?)" if value is None else type(value).__name__
    raise ExerciseError(f"{name}: return the new pointer, an int in [0, M). Got {got}.")


def _check_one_enqueue(student_fn, size: int, ptr: int, n: int, dim: int, name: str) -> None:
    g = torch.Generator().manual_seed(size * 100 + ptr * 10 + n)
    old = F.normalize(torch.randn(size, dim, generator=g), dim=1)  # (M, d) random old entries
    keys = _labelled_keys(n, dim, start=ptr)  # (n, d)
    expected_queue, expected_ptr = _reference_enqueue(old, ptr, keys)
    queue = old.clone()
    situation = f"queue of M = {size} slots, ptr = {ptr}, a batch of n = {n} keys"
    try:
        returned = call_student(student_fn, queue, ptr, keys.clone(), name=name)
    except ExerciseError as error:
        if n > size:
            raise ExerciseError(
                f"{error} (In this call the batch is larger than the queue: {situation}; only "
                f"the newest M keys stay, e.g. write them one by one at (ptr + j) % M.)"
            ) from error
        if ptr + n > size:
            raise ExerciseError(
                f"{error} (In this call the batch runs past the end of the queue: {situation}; "
                f"slots ptr, ptr + 1, … must wrap around with % M.)"
            ) from error
        raise
    if queue.shape != old.shape:
        raise ExerciseError(
            f"{name}: the queue changed shape to {tuple(queue.shape)}; it must stay "
            f"{tuple(old.shape)} (a ring buffer of fixed size M)."
        )
    if torch.equal(queue, old):
        raise ExerciseError(
            f"{name}: {situation}: the queue you were given did not change. Write into it in place "
            f"(queue[i] = ...); `queue = torch.cat(...)` makes a new tensor the caller never sees."
        )
    for slot in range(size):
        if not torch.allclose(queue[slot], expected_queue[slot], atol=1e-6):
            holds, wanted = _describe(queue[slot], old, keys), _describe(expected_queue[slot], old, keys)
            advice = ""
            if n > size:
                advice = (
                    " When a batch has more keys than the queue holds, only the newest M keys stay: "
                    "writing them one by one in order at (ptr + j) % M does exactly that."
                )
            elif ptr + n > size:
                advice = " The batch runs past the end of the queue, so it must wrap around to slot 0."
            elif holds.startswith("the old") and wanted.startswith("key"):
                advice = " The new keys go at slots ptr, ptr + 1, …, overwriting the oldest entries."
            raise ExerciseError(
                f"{name}: {situation}: slot {slot} should hold {wanted}, but it holds {holds}." + advice
            )
    new_ptr = _as_pointer(returned, name)
    if new_ptr != expected_ptr:
        if new_ptr == ptr:
            why = "the pointer did not move; it must advance by n"
        elif new_ptr == ptr + n:
            why = "the pointer must wrap around too: return (ptr + n) % M"
        else:
            why = "the next write must start right after the last key written"
        raise ExerciseError(
            f"{name}: {situation}: the new pointer should be {expected_ptr}, got {new_ptr} ({why})."
        )


ENQUEUE_HINT = (
    "For j = 0 … n − 1 write keys[j] into queue[(ptr + j) % M] (M = queue.shape[0]), in place: assign\n"
    "to queue[...], never rebind `queue`. Then return the new pointer (ptr + n) % M, an int. Writing the\n"
    "keys one by one in order also handles a batch larger than the queue (the newest M stay)."
)


@exercise("enqueue", reference=enqueue, hint=ENQUEUE_HINT)
def check_enqueue(student_fn) -> bool:
    r"""Check ``student_fn(queue, ptr, keys) -> new_ptr`` against ``lessons.methods.enqueue``.

        queue[(ptr + j) mod M] ← k_j   for j = 0 … n − 1,     new ptr = (ptr + n) mod M

    ``queue`` is ``(M, d)`` and written in place, ``keys`` is ``(n, d)`` (unit vectors), ``ptr`` an int.
    Tried on a first batch, a batch that ends exactly at the end, one that wraps around, a partial
    batch, and a batch larger than the queue (only the newest M keys stay).
    """
    name = "check_enqueue"
    cases = [(8, 0, 3), (8, 5, 3), (8, 6, 4), (5, 4, 1), (4, 3, 6)]  # (M, ptr, n)
    for size, ptr, n in cases:
        _check_one_enqueue(student_fn, size, ptr, n, dim=6, name=name)
    return passed(name, "a ring buffer: writes at (ptr + j) % M, returns (ptr + n) % M.")
