"""Notebook 06 checkers: the reference passes, each typical mistake fails with its own message."""

from __future__ import annotations

import pytest
import torch

from edu_contrast import exercises
from edu_contrast.exercises import ExerciseError
from edu_contrast.exercises.methods import check_enqueue, check_momentum_update

# ---------------------------------------------------------------- momentum update


def update_reference(target, online, m):
    with torch.no_grad():
        for p_t, p_o in zip(target.parameters(), online.parameters()):
            p_t.mul_(m).add_(p_o, alpha=1 - m)


def update_swapped(target, online, m):
    with torch.no_grad():
        for p_t, p_o in zip(target.parameters(), online.parameters()):
            p_t.mul_(1 - m).add_(p_o, alpha=m)


def update_hard_coded(target, online, m):
    with torch.no_grad():
        for p_t, p_o in zip(target.parameters(), online.parameters()):
            p_t.mul_(0.999).add_(p_o, alpha=0.001)


def update_without_no_grad(target, online, m):
    for p_t, p_o in zip(target.parameters(), online.parameters()):
        p_t.mul_(m).add_(p_o, alpha=1 - m)


def update_the_online_network(target, online, m):
    with torch.no_grad():
        for p_t, p_o in zip(target.parameters(), online.parameters()):
            p_o.mul_(m).add_(p_t, alpha=1 - m)


def update_returns_a_copy(target, online, m):
    import copy

    new = copy.deepcopy(target)
    update_reference(new, online, m)
    return new


def update_without_one_minus_m(target, online, m):
    with torch.no_grad():
        for p_t, p_o in zip(target.parameters(), online.parameters()):
            p_t.mul_(m).add_(p_o)


def update_does_nothing(target, online, m):
    for p_t, p_o in zip(target.parameters(), online.parameters()):
        _ = m * p_t + (1 - m) * p_o  # computed, never written back


def update_mixes_the_wrong_partners(target, online, m):
    with torch.no_grad():
        ps_o = list(online.parameters())
        for p_t, p_o in zip(target.parameters(), ps_o[::-1]):
            if p_t.shape == p_o.shape:
                p_t.mul_(m).add_(p_o, alpha=1 - m)
            else:
                p_t.mul_(m).add_(p_o.mean(), alpha=1 - m)


def update_with_buffers(target, online, m):
    with torch.no_grad():
        for p_t, p_o in zip(target.state_dict().values(), online.state_dict().values()):
            if p_t.dtype.is_floating_point:
                p_t.mul_(m).add_(p_o, alpha=1 - m)


def test_momentum_update_reference_passes(capsys):
    assert check_momentum_update(update_reference) is True
    assert "correct" in capsys.readouterr().out


def test_momentum_update_is_reexported():
    assert exercises.check_momentum_update is check_momentum_update
    assert exercises.check_enqueue is check_enqueue


@pytest.mark.parametrize(
    ("student", "message"),
    [
        (update_swapped, r"keeps 10\.0% \(did you swap β and 1 − β\?\)"),
        (update_hard_coded, r"should keep 90% of itself .* yours keeps 99\.9%"),
        (update_without_no_grad, r"carry gradient history .* torch\.no_grad"),
        (update_the_online_network, r"changed the online network's weights"),
        (update_returns_a_copy, r"returned a new network.* in place"),
        (update_without_one_minus_m, r"added the online weights with factor 1"),
        (update_does_nothing, r"target's weights did not change"),
        (update_mixes_the_wrong_partners, r"not a mix β·ξ \+ \(1 − β\)·θ"),
        (update_with_buffers, r"BatchNorm running statistics"),
    ],
)
def test_momentum_update_mistakes_are_named(student, message):
    with pytest.raises(ExerciseError, match=message):
        check_momentum_update(student)


def test_momentum_update_crash_is_reported_with_the_exercise_name():
    def crashes(target, online, m):
        raise KeyError("oops")

    with pytest.raises(ExerciseError, match=r"check_momentum_update: your function raised KeyError"):
        check_momentum_update(crashes)


# ---------------------------------------------------------------- enqueue


def enqueue_reference(queue, ptr, keys):
    size = queue.shape[0]
    for j in range(keys.shape[0]):
        queue[(ptr + j) % size] = keys[j]
    return (ptr + keys.shape[0]) % size


def enqueue_vectorised(queue, ptr, keys):
    size, n = queue.shape[0], keys.shape[0]
    if n > size:
        ptr, keys = (ptr + n - size) % size, keys[n - size :]
    slots = (ptr + torch.arange(keys.shape[0])) % size
    queue[slots] = keys
    return (ptr + keys.shape[0]) % size if n <= size else (ptr + size) % size


def enqueue_without_wrap(queue, ptr, keys):
    queue[ptr : ptr + keys.shape[0]] = keys
    return (ptr + keys.shape[0]) % queue.shape[0]


def enqueue_truncating(queue, ptr, keys):
    n = min(keys.shape[0], queue.shape[0] - ptr)  # drops the keys that do not fit before the end
    queue[ptr : ptr + n] = keys[:n]
    return (ptr + keys.shape[0]) % queue.shape[0]


def enqueue_pointer_not_wrapped(queue, ptr, keys):
    enqueue_reference(queue, ptr, keys)
    return ptr + keys.shape[0]


def enqueue_pointer_not_moved(queue, ptr, keys):
    enqueue_reference(queue, ptr, keys)
    return ptr


def enqueue_always_at_the_start(queue, ptr, keys):
    n = min(keys.shape[0], queue.shape[0])
    queue[:n] = keys[:n]
    return (ptr + keys.shape[0]) % queue.shape[0]


def enqueue_slice_wrap_only(queue, ptr, keys):
    size, n = queue.shape[0], keys.shape[0]
    end = ptr + n
    if end <= size:
        queue[ptr:end] = keys
    else:
        first = size - ptr
        queue[ptr:] = keys[:first]
        queue[: n - first] = keys[first:]
    return end % size


def enqueue_returns_queue_and_pointer(queue, ptr, keys):
    return queue, enqueue_reference(queue, ptr, keys)


def enqueue_rebinds_the_queue(queue, ptr, keys):
    queue = torch.cat([queue[keys.shape[0] :], keys])  # a new tensor: the caller's queue is untouched
    return (ptr + keys.shape[0]) % queue.shape[0]


def test_enqueue_reference_and_vectorised_pass(capsys):
    assert check_enqueue(enqueue_reference) is True
    assert check_enqueue(enqueue_vectorised) is True
    assert "ring buffer" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("student", "message"),
    [
        (enqueue_without_wrap, r"raised RuntimeError.*must wrap around with % M"),
        (
            enqueue_truncating,
            r"M = 8 slots, ptr = 6, .* slot 0 should hold key 2 of this batch, but it holds the "
            r"old entry of slot 0\. The batch runs past the end",
        ),
        (enqueue_pointer_not_wrapped, r"new pointer should be 0, got 8 \(the pointer must wrap around too"),
        (enqueue_pointer_not_moved, r"new pointer should be 3, got 0 \(the pointer did not move"),
        (
            enqueue_always_at_the_start,
            r"ptr = 5, .* slot 0 should hold the old entry of slot 0, but it holds key 0",
        ),
        (enqueue_slice_wrap_only, r"raised RuntimeError.*larger than the queue.*only the newest M keys stay"),
        (enqueue_returns_queue_and_pointer, r"return only the new pointer"),
        (enqueue_rebinds_the_queue, r"the queue you were given did not change\. Write into it in place"),
    ],
)
def test_enqueue_mistakes_are_named(student, message):
    with pytest.raises(ExerciseError, match=message):
        check_enqueue(student)


# ---------------------------------------------------------------- registry: fallback, hint, solution

UPDATE_MISTAKES = [
    (update_swapped, "did you swap β and 1 − β"),
    (update_without_no_grad, "torch.no_grad"),
    (update_the_online_network, "changed the online network's weights"),
    (update_returns_a_copy, "returned a new network"),
    (update_without_one_minus_m, "factor 1"),
    (update_does_nothing, "did not change"),
    (update_with_buffers, "BatchNorm running statistics"),
]
ENQUEUE_MISTAKES = [
    (enqueue_without_wrap, "wrap around with % M"),
    (enqueue_truncating, "runs past the end"),
    (enqueue_pointer_not_wrapped, "the pointer must wrap around too"),
    (enqueue_pointer_not_moved, "the pointer did not move"),
    (enqueue_slice_wrap_only, "only the newest M keys stay"),
    (enqueue_returns_queue_and_pointer, "return only the new pointer"),
    (enqueue_rebinds_the_queue, "write into it in place"),
]


@pytest.mark.parametrize(
    ("check", "solution", "mistakes"),
    [
        (check_momentum_update, update_reference, UPDATE_MISTAKES),
        (check_enqueue, enqueue_reference, ENQUEUE_MISTAKES),
    ],
)
def test_verify_checker(check, solution, mistakes, capsys):
    exercises.verify_checker(check, solution, mistakes)
    assert "correct" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("check", "name", "reference"),
    [
        (check_momentum_update, "momentum_update", "edu_contrast.methods.base.ema_update"),
        (check_enqueue, "enqueue", "edu_contrast.lessons.methods.enqueue"),
    ],
)
def test_fallback_uses_the_reference_for_a_stub(check, name, reference, capsys):
    def stub(a, b, c):
        raise NotImplementedError("write it")

    chosen = check(stub, fallback=True)
    assert f"{chosen.__module__}.{chosen.__name__}" == reference
    out = capsys.readouterr().out
    assert "not written yet" in out and f"uses the package's {reference}" in out


def test_fallback_uses_the_students_function_once_it_passes(capsys):
    assert check_enqueue(enqueue_reference, fallback=True) is enqueue_reference
    assert check_momentum_update(update_reference, fallback=True) is update_reference
    out = capsys.readouterr().out
    assert "uses your enqueue" in out and "uses your momentum_update" in out


def test_hint_and_show_solution(capsys):
    exercises.hint("enqueue")
    out = capsys.readouterr().out
    assert out.startswith("enqueue(queue: torch.Tensor, ptr: int, keys: torch.Tensor) -> int")
    assert "(ptr + j) % M" in out and "show_solution('enqueue')" in out
    exercises.hint("momentum_update")
    out = capsys.readouterr().out
    assert out.startswith("momentum_update(target: nn.Module, online: nn.Module, tau: float)")
    assert "p_ξ.mul_(β)" in out and "ema_update calls it tau" in out
    exercises.show_solution("enqueue")
    out = capsys.readouterr().out
    assert "lessons.methods.enqueue" in out and "def enqueue(queue" in out and "% size" in out
    exercises.show_solution("momentum_update")
    out = capsys.readouterr().out
    assert "def momentum_update(target" in out and ".mul_(" in out
