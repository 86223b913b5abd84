"""Checkers of notebook 09: the reference passes, each typical mistake gets its own message."""

from __future__ import annotations

import math

import pytest
import torch

from edu_contrast import exercises, losses
from edu_contrast.exercises import ExerciseError
from edu_contrast.exercises.simclr_cifar10 import check_simclr_step, check_warmup_cosine

# ----------------------------------------------------------------------------- the training step


def correct_step(encoder, projector, optimizer, x1, x2, temperature):
    z = projector(encoder(torch.cat([x1, x2])))  # (2N, d)
    z1, z2 = z.chunk(2)
    loss = losses.nt_xent(z1, z2, temperature=temperature)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.detach()


def separate_passes_returning_float(encoder, projector, optimizer, x1, x2, temperature):
    z1, z2 = projector(encoder(x1)), projector(encoder(x2))
    loss = losses.nt_xent(z2, z1, temperature=temperature)  # swapped views: NT-Xent is symmetric
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.item()


def zero_grad_after_step(encoder, projector, optimizer, x1, x2, temperature):
    loss = losses.nt_xent(projector(encoder(x1)), projector(encoder(x2)), temperature=temperature)
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()  # also fine: the next step starts from zero
    return loss


def test_correct_implementations_pass(capsys):
    assert check_simclr_step(correct_step) is True
    assert check_simclr_step(separate_passes_returning_float) is True
    assert check_simclr_step(zero_grad_after_step) is True
    assert "✓ check_simclr_step: correct" in capsys.readouterr().out


def test_reexported_from_exercises():
    assert exercises.check_simclr_step is check_simclr_step
    assert exercises.check_warmup_cosine is check_warmup_cosine


def _step(loss_fn, *, zero_grad=True, backward=True, steps=1):
    def student(encoder, projector, optimizer, x1, x2, temperature):
        loss = loss_fn(encoder, projector, x1, x2, temperature)
        if zero_grad:
            optimizer.zero_grad()
        if backward:
            loss.backward()
        for _ in range(steps):
            optimizer.step()
        return loss

    return student


def _z(encoder, projector, x1, x2):
    return projector(encoder(x1)), projector(encoder(x2))


@pytest.mark.parametrize(
    ("loss_fn", "message"),
    [
        (
            lambda f, g, x1, x2, t: losses.nt_xent(f(x1), f(x2), temperature=t),
            "the loss is computed on the encoder features h = f(x), not on the projections z = g(h)",
        ),
        (
            lambda f, g, x1, x2, t: losses.nt_xent(g(f(x1)), g(f(x1)), temperature=t),
            "both arguments of nt_xent are the first view",
        ),
        (
            lambda f, g, x1, x2, t: losses.nt_xent(*_z(f, g, x1, x2)),
            "the loss uses nt_xent's default τ = 0.5, not the 'temperature' argument (τ = 0.2)",
        ),
        (
            lambda f, g, x1, x2, t: losses.info_nce(*_z(f, g, x1, x2), temperature=t),
            "this is InfoNCE in one direction",
        ),
        (
            lambda f, g, x1, x2, t: 2 * losses.nt_xent(*_z(f, g, x1, x2), temperature=t),
            "the returned loss is",
        ),
    ],
    ids=["loss_on_h", "same_view", "default_temperature", "one_direction", "scaled"],
)
def test_wrong_loss_is_named(loss_fn, message):
    with pytest.raises(ExerciseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_simclr_step(_step(loss_fn))


def _right_loss(f, g, x1, x2, t):
    return losses.nt_xent(*_z(f, g, x1, x2), temperature=t)


def test_forgotten_step_or_backward():
    for student in (_step(_right_loss, steps=0), _step(_right_loss, backward=False)):
        with pytest.raises(ExerciseError, match="no parameter changed. Call loss.backward"):
            check_simclr_step(student)


def test_zero_grad_between_backward_and_step():
    def student(encoder, projector, optimizer, x1, x2, temperature):
        loss = _right_loss(encoder, projector, x1, x2, temperature)
        loss.backward()
        optimizer.zero_grad()
        optimizer.step()
        return loss

    with pytest.raises(ExerciseError, match="no parameter changed"):
        check_simclr_step(student)


def test_detached_encoder_features():
    def student(encoder, projector, optimizer, x1, x2, temperature):
        h = encoder(torch.cat([x1, x2])).detach()
        z1, z2 = projector(h).chunk(2)
        loss = losses.nt_xent(z1, z2, temperature=temperature)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    with pytest.raises(ExerciseError, match="the encoder f did not change: the gradient does not reach f"):
        check_simclr_step(student)


def test_gradients_never_zeroed():
    with pytest.raises(ExerciseError, match="added the first step's gradients.*optimizer.zero_grad"):
        check_simclr_step(_step(_right_loss, zero_grad=False))


def test_two_steps_per_call():
    with pytest.raises(ExerciseError, match="twice as far as one step"):
        check_simclr_step(_step(_right_loss, steps=2))


def test_returns_nothing_or_a_vector():
    def returns_none(encoder, projector, optimizer, x1, x2, temperature):
        correct_step(encoder, projector, optimizer, x1, x2, temperature)

    with pytest.raises(ExerciseError, match=r"return the loss L.*None \(no return statement\?\)"):
        check_simclr_step(returns_none)

    def per_anchor(encoder, projector, optimizer, x1, x2, temperature):
        correct_step(encoder, projector, optimizer, x1, x2, temperature)
        return torch.zeros(16)

    with pytest.raises(ExerciseError, match=r"a tensor of shape \(16,\)"):
        check_simclr_step(per_anchor)


def test_crash_is_reported_with_the_exercise_name():
    def crashes(encoder, projector, optimizer, x1, x2, temperature):
        raise KeyError("z")

    with pytest.raises(ExerciseError, match="check_simclr_step: your function raised KeyError"):
        check_simclr_step(crashes)


# ----------------------------------------------------------------------------- the schedule


def correct_schedule(step, *, total_steps, warmup_steps):
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * progress))


def test_schedule_reference_passes(capsys):
    assert check_warmup_cosine(correct_schedule) is True
    assert "✓ check_warmup_cosine: correct" in capsys.readouterr().out


def test_schedule_accepts_a_tensor_result():
    assert check_warmup_cosine(lambda step, **kw: torch.tensor(correct_schedule(step, **kw)))


@pytest.mark.parametrize(
    ("student", "message"),
    [
        (
            lambda s, *, total_steps, warmup_steps: (
                s / warmup_steps
                if s < warmup_steps
                else correct_schedule(s, total_steps=total_steps, warmup_steps=warmup_steps)
            ),
            r"the warm-up starts at 0: at step 0 the factor is \(0 \+ 1\)/W = 0.1",
        ),
        (
            lambda s, *, total_steps, warmup_steps: 0.5 * (1 + math.cos(math.pi * s / total_steps)),
            "there is no warm-up",
        ),
        (
            lambda s, *, total_steps, warmup_steps: (
                (s + 1) / warmup_steps
                if s < warmup_steps
                else math.cos(math.pi * (s - warmup_steps) / (total_steps - warmup_steps))
            ),
            r"the factor goes negative \(-1\)",
        ),
        (
            lambda s, *, total_steps, warmup_steps: (
                (s + 1) / warmup_steps
                if s < warmup_steps
                else 0.5 * (1 + math.cos(math.pi * s / total_steps))
            ),
            "at step W = 10 the factor should be ½·\\(1 \\+ cos 0\\) = 1, got 0.9755",
        ),
        (
            lambda s, *, total_steps, warmup_steps: (
                (s + 1) / warmup_steps
                if s < warmup_steps
                else 0.5 * (1 + math.cos(math.pi * (s - warmup_steps) / (total_steps - warmup_steps + 1)))
            ),
            "at the last step S = 100 the factor should reach 0",
        ),
        (
            lambda s, *, total_steps, warmup_steps: (
                ((s + 1) / warmup_steps) ** 2
                if s < warmup_steps
                else correct_schedule(s, total_steps=total_steps, warmup_steps=warmup_steps)
            ),
            r"S = 100 total steps and W = 10 warm-up steps, the factor differs from the reference \(step 0",
        ),
    ],
    ids=[
        "warmup_from_zero",
        "no_warmup",
        "no_half_one_plus",
        "cosine_from_zero",
        "never_reaches_zero",
        "other",
    ],
)
def test_schedule_mistakes_are_named(student, message):
    with pytest.raises(ExerciseError, match=message):
        check_warmup_cosine(student)


def test_schedule_without_warmup_must_not_divide_by_zero():
    def divides(step, *, total_steps, warmup_steps):
        if step < warmup_steps or step == 0:
            return (step + 1) / warmup_steps
        return correct_schedule(step, total_steps=total_steps, warmup_steps=warmup_steps)

    with pytest.raises(
        ExerciseError, match="warmup_steps=0, step=0 your function raised ZeroDivisionError.*no warm-up"
    ):
        check_warmup_cosine(divides)


def test_schedule_must_return_a_number():
    with pytest.raises(ExerciseError, match="return the learning-rate factor as a number. Got NoneType"):
        check_warmup_cosine(lambda step, **kw: None)
    with pytest.raises(TypeError, match="'student_fn' parameter of check_warmup_cosine must be a function"):
        check_warmup_cosine(0.5)


# ------------------------------------------------------------ registry: fallback, hint, solution

STEP_MISTAKES = [
    (_step(lambda f, g, x1, x2, t: losses.nt_xent(f(x1), f(x2), temperature=t)), "not on the projections"),
    (_step(lambda f, g, x1, x2, t: losses.nt_xent(*_z(f, g, x1, x2))), "nt_xent's default τ = 0.5"),
    (_step(lambda f, g, x1, x2, t: losses.info_nce(*_z(f, g, x1, x2), temperature=t)), "one direction"),
    (_step(_right_loss, steps=0), "no parameter changed"),
    (_step(_right_loss, zero_grad=False), "optimizer.zero_grad() before loss.backward()"),
    (_step(_right_loss, steps=2), "twice as far as one step"),
]


def warmup_from_zero(step, *, total_steps, warmup_steps):
    if step < warmup_steps:
        return step / warmup_steps
    return correct_schedule(step, total_steps=total_steps, warmup_steps=warmup_steps)


def cosine_over_all_steps(step, *, total_steps, warmup_steps):
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return 0.5 * (1 + math.cos(math.pi * step / total_steps))


SCHEDULE_MISTAKES = [
    (warmup_from_zero, "the warm-up starts at 0"),
    (lambda s, *, total_steps, warmup_steps: 0.5 * (1 + math.cos(math.pi * s / total_steps)), "no warm-up"),
    (cosine_over_all_steps, "the cosine starts when the warm-up ends"),
]


@pytest.mark.parametrize(
    ("check", "solution", "mistakes"),
    [
        (check_simclr_step, separate_passes_returning_float, STEP_MISTAKES),
        (check_warmup_cosine, correct_schedule, SCHEDULE_MISTAKES),
    ],
)
def test_verify_checker(check, solution, mistakes):
    exercises.verify_checker(check, solution, mistakes)


@pytest.mark.parametrize(
    ("name", "reference", "hint"),
    [
        ("simclr_step", "edu_contrast.lessons.simclr_cifar10.simclr_step", "optimizer.zero_grad(),"),
        ("warmup_cosine", "edu_contrast.train.fit.warmup_cosine", "(step + 1) / warmup_steps"),
    ],
)
def test_solution_fallback_and_hint(name, reference, hint, capsys):
    check = getattr(exercises, f"check_{name}")
    namespace = {}
    exec(exercises.solution_source(name), namespace)  # noqa: S102
    assert check(namespace[name]) is True
    exercises.show_solution(name)
    out = capsys.readouterr().out
    assert reference in out and f"def {name}(" in out

    def stub(*args, **kwargs):
        raise NotImplementedError("not yet")

    chosen = check(stub, fallback=True)
    assert f"{chosen.__module__}.{chosen.__name__}" == reference
    out = capsys.readouterr().out
    assert "not written yet" in out and f"uses the package's {reference}" in out
    assert check(namespace[name], fallback=True) is namespace[name]
    assert f"uses your {name}" in capsys.readouterr().out
    exercises.hint(name)
    out = capsys.readouterr().out
    assert out.startswith(f"{name}(") and hint in out and f"show_solution({name!r})" in out
