"""Checkers for notebook 09 (SimCLR on CIFAR-10): the training step and the learning-rate schedule.

``check_simclr_step(fn)``: ``fn(encoder, projector, optimizer, x1, x2, temperature)`` takes one optimiser
step on the NT-Xent loss of two views (Chen et al. 2020, Algorithm 1) and returns that loss,

    z⁽¹⁾ = g(f(x̃⁽¹⁾)),  z⁽²⁾ = g(f(x̃⁽²⁾)),  L = NT-Xent(z⁽¹⁾, z⁽²⁾; τ),  θ ← optimizer step on ∇_θ L.

``check_warmup_cosine(fn)``: ``fn(step, *, total_steps, warmup_steps)`` is the learning-rate factor of
``train.warmup_cosine`` (linear warm-up, then cosine to 0; Loshchilov & Hutter 2017).

Both are registered exercises (``check_NAME(fn, fallback=True)``, ``_registry``); the references are
``lessons.simclr_cifar10.simclr_step`` and ``train.warmup_cosine``.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from edu_contrast import losses, train
from edu_contrast._validation import fail
from edu_contrast.exercises._core import ExerciseError, as_number, call_student, passed
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.simclr_cifar10 import simclr_step

__all__ = ["check_simclr_step", "check_warmup_cosine"]

TEMPERATURE = 0.2  # not nt_xent's default 0.5, so a forgotten temperature shows
LEARNING_RATE = 0.5  # plain SGD, Δθ = −lr·∇L: a missing, doubled or accumulated step is visible


# ----------------------------------------------------------------------------- the training step


def _networks(seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """A tiny f (conv → pool) and g (2-layer MLP) in float64, without BatchNorm.

    Without BatchNorm a forward pass over ``cat([x1, x2])`` and two separate passes give the same z,
    so both correct ways of writing the step pass.
    """
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        encoder = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )  # (B, 3, 8, 8) → (B, 8)
        projector = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 6))  # (B, 8) → (B, 6)
    return encoder.double(), projector.double()


def _views(seed: int, batch: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, 3, 8, 8, generator=g, dtype=torch.float64)
    return x, (x + 0.2 * torch.randn(x.shape, generator=g, dtype=torch.float64)).clamp(0, 1)  # two "views"


def _sgd(encoder: nn.Module, projector: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD([*encoder.parameters(), *projector.parameters()], lr=LEARNING_RATE)


class _KeepsGradients:
    """An optimizer whose ``zero_grad`` does nothing: the step of someone who never zeroes the gradients."""

    def __init__(self, optimizer: torch.optim.Optimizer):
        self.optimizer = optimizer

    def zero_grad(self, set_to_none: bool = True) -> None:
        pass

    def step(self) -> None:
        self.optimizer.step()


def _reference_step(encoder, projector, optimizer, x1, x2, temperature, *, zero_grad: bool = True) -> float:
    """``lessons.simclr_cifar10.simclr_step``; with ``zero_grad=False`` the gradients accumulate."""
    optimizer = optimizer if zero_grad else _KeepsGradients(optimizer)
    return float(simclr_step(encoder, projector, optimizer, x1, x2, temperature))


def _parameters(encoder: nn.Module, projector: nn.Module) -> dict[str, torch.Tensor]:
    named = [(f"encoder.{k}", v) for k, v in encoder.named_parameters()]
    named += [(f"projector.{k}", v) for k, v in projector.named_parameters()]
    return {k: v.detach().clone() for k, v in named}


def _as_float(value, name: str) -> float:
    return as_number(value, name, "the loss L, a 0-dim tensor (or a float)")


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def _diagnose_loss(loss: float, encoder, projector, x1, x2, name: str) -> None:
    """Raise with the likely mistake when ``loss`` is not NT-Xent(g(f(x1)), g(f(x2)); τ)."""
    tau = TEMPERATURE
    with torch.no_grad():
        h1, h2 = encoder(x1), encoder(x2)  # (N, 8) each
        z1, z2 = projector(h1), projector(h2)  # (N, 6) each
        expected = float(losses.nt_xent(z1, z2, temperature=tau))
        if _close(loss, expected):
            return
        mistakes = [
            (
                losses.nt_xent(h1, h2, temperature=tau),
                "the loss is computed on the encoder features h = f(x), not on the projections z = g(h): "
                "pass h through the projector before nt_xent",
            ),
            (
                losses.nt_xent(z1, z1, temperature=tau),
                "both arguments of nt_xent are the first view: pass z1 = g(f(x1)) and z2 = g(f(x2))",
            ),
            (
                losses.nt_xent(z2, z2, temperature=tau),
                "both arguments of nt_xent are the second view: pass z1 = g(f(x1)) and z2 = g(f(x2))",
            ),
            (
                losses.nt_xent(z1, z2),
                f"the loss uses nt_xent's default τ = 0.5, not the 'temperature' argument (τ = {tau}): "
                f"call nt_xent(z1, z2, temperature=temperature)",
            ),
            (
                losses.info_nce(z1, z2, temperature=tau),
                "this is InfoNCE in one direction (N anchors from view 1, negatives only from view 2); "
                "SimCLR's NT-Xent uses all 2N views as anchors, each against the 2N − 2 other views: use "
                "losses.nt_xent",
            ),
        ]
    for value, message in mistakes:
        if _close(loss, float(value)):
            raise ExerciseError(f"{name}: {message}. (Your loss {loss:.6f}, expected {expected:.6f}.)")
    raise ExerciseError(
        f"{name}: the returned loss is {loss:.6f}, expected NT-Xent(z1, z2; τ={tau}) = "
        f"{expected:.6f} for the parameters before the step."
    )


def _largest_difference(got: dict, expected: dict) -> tuple[str, float]:
    diffs = {k: float((got[k] - expected[k]).abs().max()) for k in expected}
    worst = max(diffs, key=diffs.get)
    return worst, diffs[worst]


def _check_update(before: dict, after: dict, expected: dict, name: str) -> None:
    """Raise unless ``after`` equals ``expected``, naming the way the update went wrong."""
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    if not moved:
        raise ExerciseError(
            f"{name}: no parameter changed. Call loss.backward() and then optimizer.step() "
            f"(zero the gradients before backward, not between backward and step)."
        )
    if not any(k.startswith("encoder.") for k in moved):
        raise ExerciseError(
            f"{name}: the projector g learned but the encoder f did not change: the gradient "
            f"does not reach f. Did you .detach() h = f(x) or compute it under torch.no_grad()?"
        )
    if not any(k.startswith("projector.") for k in moved):
        raise ExerciseError(
            f"{name}: the encoder changed but the projector g did not: compute the loss on "
            f"z = g(f(x)) so that g learns too."
        )
    key, diff = _largest_difference(after, expected)
    if diff > 1e-8:
        step = {k: expected[k] - before[k] for k in before}
        taken = {k: after[k] - before[k] for k in before}
        if all(torch.allclose(taken[k], 2 * step[k], atol=1e-9) for k in before):
            raise ExerciseError(
                f"{name}: the parameters moved twice as far as one step: call loss.backward() "
                f"and optimizer.step() once per training step."
            )
        raise ExerciseError(
            f"{name}: after the step, {key} differs from one optimizer step on ∇L by up to {diff:.3g}."
        )


STEP_HINT = (
    "z = projector(encoder(torch.cat([x1, x2]))) encodes both views in one pass; z.chunk(2) splits it\n"
    "into z1, z2. loss = losses.nt_xent(z1, z2, temperature=temperature). Then optimizer.zero_grad(),\n"
    "loss.backward(), optimizer.step(), in that order, and return loss.detach()."
)


@exercise("simclr_step", reference=simclr_step, hint=STEP_HINT)
def check_simclr_step(student_fn) -> bool:
    """Check ``student_fn(encoder, projector, optimizer, x1, x2, temperature) -> loss``.

    The function must compute z⁽ᵛ⁾ = g(f(x̃⁽ᵛ⁾)) for both views, L = NT-Xent(z⁽¹⁾, z⁽²⁾; τ), zero the
    gradients, backpropagate, take one optimizer step, and return L (computed before the step).
    Checked on two consecutive steps with plain SGD (lr = 0.5) against the reference.
    """
    name = "check_simclr_step"
    encoder, projector = _networks()
    ref_encoder, ref_projector = copy.deepcopy(encoder), copy.deepcopy(projector)
    ref_optimizer = _sgd(ref_encoder, ref_projector)
    views = [_views(1), _views(2)]

    expected_params = []
    for x1, x2 in views:  # the reference's two steps
        _reference_step(ref_encoder, ref_projector, ref_optimizer, x1, x2, TEMPERATURE)
        expected_params.append(_parameters(ref_encoder, ref_projector))

    optimizer = _sgd(encoder, projector)
    for step, (x1, x2) in enumerate(views):
        before_encoder, before_projector = copy.deepcopy(encoder), copy.deepcopy(projector)
        before = _parameters(encoder, projector)
        returned = call_student(
            student_fn, encoder, projector, optimizer, x1.clone(), x2.clone(), TEMPERATURE, name=name
        )
        loss = _as_float(returned, name)
        _diagnose_loss(loss, before_encoder, before_projector, x1, x2, name)
        after = _parameters(encoder, projector)
        if step == 1 and _accumulated_gradients(after, views):
            raise ExerciseError(
                f"{name}: the second step added the first step's gradients to its own: call "
                f"optimizer.zero_grad() before loss.backward() in every step."
            )
        _check_update(before, after, expected_params[step], name)
    return passed(
        name,
        f"L = NT-Xent(g(f(x1)), g(f(x2)); τ) = {loss:.4f}, and each call took one optimizer "
        f"step on fresh gradients.",
    )


def _accumulated_gradients(after: dict, views) -> bool:
    """Whether ``after`` is what two steps give when the gradients are never zeroed."""
    encoder, projector = _networks()
    optimizer = _sgd(encoder, projector)
    for x1, x2 in views:
        _reference_step(encoder, projector, optimizer, x1, x2, TEMPERATURE, zero_grad=False)
    _, diff = _largest_difference(after, _parameters(encoder, projector))
    return diff < 1e-8


# ----------------------------------------------------------------------------- the schedule

_SCHEDULES = ((100, 10), (37, 5), (20, 0))  # (S, W): typical, odd, no warm-up


def _factor(student_fn, step: int, total: int, warmup: int, name: str) -> float:
    try:
        value = student_fn(step, total_steps=total, warmup_steps=warmup)
    except Exception as error:
        raise ExerciseError(
            f"{name}: with total_steps={total}, warmup_steps={warmup}, step={step} your function "
            f"raised {type(error).__name__}: {error}"
            + (" (warmup_steps=0 means no warm-up: start the cosine at once)" if warmup == 0 else "")
        ) from error
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExerciseError(
            f"{name}: return the learning-rate factor as a number. Got {type(value).__name__} at step {step}."
        )
    return float(value)


def _schedule_mistake(got: list[float], total: int, warmup: int) -> str | None:
    """A plain-words explanation of a typical schedule bug, or None."""
    if warmup > 0 and got[0] == 0:
        return (
            f"the warm-up starts at 0: at step 0 the factor is (0 + 1)/W = {1 / warmup:.3g}, so the first "
            f"step already learns"
        )
    if warmup > 1 and math.isclose(got[0], 1.0):
        return (
            f"there is no warm-up: at step 0 the factor is (0 + 1)/W = {1 / warmup:.3g}, rising to 1 at "
            f"step W − 1"
        )
    if min(got) < -1e-9:
        return (
            f"the factor goes negative ({min(got):.3g}): the cosine part is ½·(1 + cos(π·progress)), which "
            f"falls from 1 to 0"
        )
    if warmup < total and not math.isclose(got[warmup], 1.0, abs_tol=1e-9):
        return (
            f"at step W = {warmup} the factor should be ½·(1 + cos 0) = 1, got {got[warmup]:.4g}: the "
            f"cosine starts when the warm-up ends and runs over the S − W remaining steps"
        )
    if not math.isclose(got[total], 0.0, abs_tol=1e-9):
        return f"at the last step S = {total} the factor should reach 0, got {got[total]:.4g}"
    return None


SCHEDULE_HINT = (
    "Two cases. During the warm-up (step < warmup_steps) return (step + 1) / warmup_steps, a line up to 1.\n"
    "After it, progress = (step − W) / (S − W) runs from 0 to 1 (guard S − W = 0 with max(1, ...)); return\n"
    "0.5 * (1 + math.cos(math.pi * progress)), which falls from 1 to 0."
)


@exercise("warmup_cosine", reference=train.warmup_cosine, hint=SCHEDULE_HINT)
def check_warmup_cosine(student_fn) -> bool:
    """Check ``student_fn(step, *, total_steps, warmup_steps) -> float`` against ``train.warmup_cosine``.

        f(s) = (s + 1)/W                               for s < W        (linear warm-up)
        f(s) = ½ (1 + cos(π (s − W)/(S − W)))          for W ≤ s ≤ S    (cosine decay to 0)

    on every step 0 … S of several (S, W), including W = 0 (no warm-up).
    """
    name = "check_warmup_cosine"
    if not callable(student_fn):
        fail("student_fn", name, "a function", type(student_fn).__name__, TypeError)
    for total, warmup in _SCHEDULES:
        got = [_factor(student_fn, s, total, warmup, name) for s in range(total + 1)]
        expected = [train.warmup_cosine(s, total_steps=total, warmup_steps=warmup) for s in range(total + 1)]
        wrong = [
            s for s in range(total + 1) if not math.isclose(got[s], expected[s], rel_tol=1e-6, abs_tol=1e-9)
        ]
        if not wrong:
            continue
        setting = f"with S = {total} total steps and W = {warmup} warm-up steps"
        mistake = _schedule_mistake(got, total, warmup)
        first = wrong[0]
        detail = f"step {first}: got {got[first]:.4g}, expected {expected[first]:.4g}"
        raise ExerciseError(
            f"{name}: {setting}, {mistake or 'the factor differs from the reference'} ({detail})."
        )
    return passed(name, "linear warm-up to 1, then cosine to 0, as train.warmup_cosine.")
