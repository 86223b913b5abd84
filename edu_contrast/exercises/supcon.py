r"""Checkers for notebook 07 (supervised contrastive learning): SupCon's positives and one anchor's loss.

Over the M = N·V views of a batch, with unit rows ẑ, labels y per view and s_ia = ẑ_i · ẑ_a,

    A(i) = {a ≠ i},    P(i) = {p ∈ A(i) : y_p = y_i},
    ℓ_i  = −(1/|P(i)|) Σ_{p ∈ P(i)} log [ exp(s_ip/τ) / Σ_{a ∈ A(i)} exp(s_ia/τ) ]   (Khosla 2020, Eq. 2)

* ``check_positive_mask(fn)``: ``fn(labels)`` returns the ``(M, M)`` boolean mask of P.
* ``check_choose_baseline(fn)`` (designing the experiment): ``fn(method)`` gets the settings of the SupCon
  run (a dict: loss, temperature, epochs, width, batch_size, lr, seed) and returns the run of the baseline
  that answers "do labels help?". The checker refuses a baseline that uses labels, one that cannot win
  (untrained, fewer epochs, a smaller encoder or batch), one with more budget, and one that changes lr or
  seed (a second difference), saying which in one line.
* ``check_supcon_anchor(fn)``: ``fn(z, labels, i, temperature)`` returns ℓ_i; averaged over every anchor it
  must give ``losses.supcon`` (with τ_b = τ). A wrong value is matched against the usual mistakes: the anchor
  counted as its own positive, i left in its own denominator, positives averaged inside the log (L^sup_in),
  a sum instead of a mean over P(i), the positives left out of the denominator, no temperature, the sign.

All three are registered exercises (``check_NAME(fn, fallback=True)``, ``_registry``); the references are
``lessons.supcon.positive_mask``, ``lessons.supcon.supcon_anchor`` and ``lessons.supcon.label_free_baseline``.
"""

from __future__ import annotations

import math

import torch

from edu_contrast import losses
from edu_contrast.exercises._core import (
    ExerciseError,
    as_number,
    call_student,
    check_design,
    passed,
    setting_is_number,
)
from edu_contrast.exercises._registry import exercise
from edu_contrast.lessons.supcon import label_free_baseline, positive_mask, supcon_anchor

__all__ = ["check_positive_mask", "check_supcon_anchor", "check_choose_baseline"]


def _labels_case(seed: int) -> torch.Tensor:
    """Labels of M = 10 views: 5 samples × 2 views (view-major, like features.reshape(N·V, d))."""
    g = torch.Generator().manual_seed(seed)
    per_sample = torch.randint(0, 3, (5,), generator=g)  # (N,) 3 classes
    return per_sample.repeat_interleave(2)  # (NV,)


MASK_HINT = (
    "Compare every label with every other by broadcasting: labels[:, None] == labels[None, :] is the\n"
    "(M, M) bool matrix of 'same class'. Then take the anchor out of its own positives: & with the\n"
    "negated identity, ~torch.eye(M, dtype=torch.bool)."
)


@exercise("positive_mask", reference=positive_mask, hint=MASK_HINT)
def check_positive_mask(student_fn) -> bool:
    """Check ``student_fn(labels) -> (M, M) bool``: entry (i, p) is True iff p ∈ P(i) (p ≠ i, y_p = y_i)."""
    name = "check_positive_mask"
    for seed in range(3):
        labels = _labels_case(seed)
        expected = positive_mask(labels)
        got = call_student(student_fn, labels.clone(), name=name)
        if not isinstance(got, torch.Tensor):
            raise ExerciseError(
                f"{name}: return a torch.Tensor of shape {tuple(expected.shape)}. Got {type(got).__name__}."
            )
        if got.shape != expected.shape:
            raise ExerciseError(
                f"{name}: your mask has shape {tuple(got.shape)}; expected {tuple(expected.shape)}, "
                f"one row per anchor i and one column per view p."
            )
        if got.dtype != torch.bool:
            if got.is_floating_point() or not bool(((got == 0) | (got == 1)).all()):
                raise ExerciseError(
                    f"{name}: return a boolean mask (True for the positives). Got dtype {got.dtype}."
                )
            got = got.bool()
        if torch.equal(got, expected):
            continue
        if torch.equal(got, expected | torch.eye(len(labels), dtype=torch.bool)):
            raise ExerciseError(
                f"{name}: the anchor is counted as its own positive: the diagonal must be False "
                f"(P(i) ⊂ A(i), every view but i itself). labels = {labels.tolist()}."
            )
        if torch.equal(got, ~expected & ~torch.eye(len(labels), dtype=torch.bool)):
            raise ExerciseError(
                f"{name}: you marked the views of the *other* classes; positives share the anchor's label."
            )
        i, p = (int(v) for v in torch.nonzero(got != expected)[0])
        should = "is" if bool(expected[i, p]) else "is not"
        raise ExerciseError(
            f"{name}: entry ({i}, {p}) is {bool(got[i, p])}, but view {p} (label {int(labels[p])}) "
            f"{should} a positive of anchor {i} (label {int(labels[i])}). labels = {labels.tolist()}."
        )
    return passed(name, "P(i) = {p ≠ i : y_p = y_i}.")


def _anchor_variants(z: torch.Tensor, labels: torch.Tensor, i: int, temperature: float) -> dict:
    """ℓ_i and the values the usual mistakes give, by name."""
    m = len(labels)
    logits = z @ z[i] / temperature  # (M,) s_ia / τ
    others = torch.arange(m) != i  # A(i)
    positives = others & (labels == labels[i])  # P(i)
    with_self = positives | ~others  # P(i) ∪ {i}
    lse = torch.logsumexp(logits[others], dim=0)
    lse_self = torch.logsumexp(logits, dim=0)  # the denominator with i itself
    lse_negatives = torch.logsumexp(logits[others & ~positives], dim=0)
    raw = z @ z[i]  # (M,) without τ
    return {
        "correct": supcon_anchor(z, labels, i, temperature),
        "self_positive": -(logits[with_self] - lse_self).mean(),
        "self_in_denominator": -(logits[positives] - lse_self).mean(),
        "log_inside": -(torch.logsumexp(logits[positives], dim=0) - math.log(int(positives.sum())) - lse),
        "sum": -(logits[positives] - lse).sum(),
        "no_positives_in_denominator": -(logits[positives] - lse_negatives).mean(),
        "no_temperature": -(raw[positives] - torch.logsumexp(raw[others], dim=0)).mean(),
        "sign": (logits[positives] - lse).mean(),
    }


MISTAKES = {
    "self_positive": "the anchor is counted as its own positive: P(i) must leave out i itself (s_ii/τ = 1/τ "
    "is the largest logit, so it makes the loss look much better than it is)",
    "self_in_denominator": "the anchor is in its own denominator: A(i) is every view *but* i, so drop s_ii "
    "from the log-sum-exp",
    "log_inside": "the positives are averaged inside the log (L^sup_in): Khosla et al.'s loss averages the "
    "log-probabilities outside, −(1/|P(i)|) Σ_p log(...), which they found trains better",
    "sum": "you summed over the positives: divide by |P(i)|, the number of positives of the anchor",
    "no_positives_in_denominator": "the other positives are missing from the denominator: Σ_{a ∈ A(i)} runs "
    "over every view but i, positives included",
    "no_temperature": "the temperature is missing: divide the similarities by τ before the exponential",
    "sign": "the sign is flipped: ℓ_i is the *negative* mean log-probability, a positive number",
}


def _case(seed: int, temperature: float):
    g = torch.Generator().manual_seed(seed)
    labels = _labels_case(seed)  # (M,)
    z = torch.nn.functional.normalize(
        torch.randn(len(labels), 4, generator=g, dtype=torch.float64), dim=1
    )  # (M, 4)
    return z, labels


def _as_float(value, name: str) -> float:
    return as_number(value, name, "one number, the loss ℓ_i of anchor i")


ANCHOR_HINT = (
    "logits = z @ z[i] / temperature is the row s_ia/τ. The denominator runs over A(i), every view but i:\n"
    "torch.logsumexp(logits[others], dim=0) with others = torch.arange(M) != i. Subtract it from the\n"
    "logits (log-probabilities), keep the positives P(i) (same label, not i) and return minus their mean."
)


@exercise("supcon_anchor", reference=supcon_anchor, hint=ANCHOR_HINT)
def check_supcon_anchor(student_fn) -> bool:
    r"""Check ``student_fn(z, labels, i, temperature) -> ℓ_i`` for every anchor, then with ``losses.supcon``.

    ``z``: ``(M, d)`` unit rows (all views of the batch, sample-major: row n·V + v is view v of sample n);
    ``labels``: ``(M,)`` the class of each view; ``i``: the anchor's row; ``temperature``: τ.
    """
    name = "check_supcon_anchor"
    temperature = 0.5
    for seed in range(3):
        z, labels = _case(seed, temperature)
        values = []
        for i in range(len(labels)):
            got = _as_float(
                call_student(student_fn, z.clone(), labels.clone(), i, temperature, name=name), name
            )
            variants = _anchor_variants(z, labels, i, temperature)
            expected = float(variants["correct"])
            if not math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-9):
                for key, message in MISTAKES.items():
                    value = float(variants[key])
                    if math.isclose(got, value, rel_tol=1e-6, abs_tol=1e-9) and not math.isclose(
                        value, expected
                    ):
                        raise ExerciseError(
                            f"{name}: {message}. (Anchor {i} of labels {labels.tolist()}, τ = "
                            f"{temperature}: yours {got:.6f}, expected {expected:.6f}.)"
                        )
                raise ExerciseError(
                    f"{name}: anchor {i} of labels {labels.tolist()} (τ = {temperature}) gives "
                    f"{got:.6f}, expected {expected:.6f}. Check A(i) (every view but i), P(i) (the "
                    f"views with label {int(labels[i])}) and the mean of the log-probabilities."
                )
            values.append(got)
        features = z.reshape(len(labels) // 2, 2, -1)  # (N, V=2, d): rows n·2 + v
        per_sample = labels[::2]  # (N,) one label per sample
        reference = float(
            losses.supcon(features, per_sample, temperature=temperature, base_temperature=temperature)
        )
        if not math.isclose(sum(values) / len(values), reference, rel_tol=1e-6):
            raise ExerciseError(
                f"{name}: the mean of your ℓ_i over the anchors is {sum(values) / len(values):.6f} "
                f"but losses.supcon gives {reference:.6f}."
            )
    return passed(name, "the mean of your ℓ_i over all anchors equals losses.supcon (L^sup_out).")


# ----------------------------------------------------------------------------- designing the experiment

BASELINE_HINT = (
    "Copy the run you were given and change only what the question needs, dict(method, loss=...,\n"
    "temperature=...): the loss to one that uses no label (SimCLR) and its temperature to SimCLR's own\n"
    "(0.5, the τ of this notebook's table). Keep epochs, width, batch_size, lr and seed: with less budget\n"
    "the baseline cannot win, with more (or another lr or seed) the comparison has a second difference."
)
LABELLED, LABEL_FREE = ("SupCon", "cross-entropy"), ("SimCLR",)
BUDGET = {  # setting → why a smaller value handicaps the baseline
    "epochs": "fewer epochs (less training)",
    "width": "a smaller encoder",
    "batch_size": "a smaller batch (SimCLR's negatives come from the batch)",
}
RUNS = (  # the SupCon runs the design is asked for: the notebook's quick run, and another
    dict(loss="SupCon", temperature=0.1, epochs=15, width=16, batch_size=128, lr=3e-3, seed=0),
    dict(loss="SupCon", temperature=0.07, epochs=10, width=32, batch_size=256, lr=1e-3, seed=3),
)


def _baseline_problem(method: dict, baseline: dict, name: str) -> str | None:
    """Why ``baseline`` cannot answer "do labels help?" against ``method``, or None."""
    if baseline["loss"] in LABELLED:
        return (
            f"the loss {baseline['loss']!r} uses labels: the question is whether labels help, so the "
            f"baseline learns without them ({', '.join(map(repr, LABEL_FREE))})"
        )
    if baseline["loss"] not in LABEL_FREE:
        return f"loss must be one of {', '.join(map(repr, LABELLED + LABEL_FREE))}, not {baseline['loss']!r}"
    setting_is_number(baseline, "temperature", name=name)
    if baseline["temperature"] == 0:
        return "temperature must be positive: τ divides the similarities"
    for key in (*BUDGET, "seed"):
        setting_is_number(baseline, key, name=name, integer=True)
    setting_is_number(baseline, "lr", name=name)
    if baseline["epochs"] == 0:
        return (
            "epochs = 0 is an untrained encoder: that is the floor every method must beat (the random "
            "encoder below), not a baseline that can win"
        )
    for key, smaller in BUDGET.items():
        ours, theirs = baseline[key], method[key]
        if ours < theirs:
            return f"{smaller}, {key} {ours} < {theirs}: a baseline with less budget cannot win"
        if ours > theirs:
            return (
                f"more {key} than the SupCon run ({ours} > {theirs}): the comparison is no longer at one "
                f"budget, and a gain could come from the extra {key}"
            )
    if baseline["lr"] != method["lr"]:
        return "another learning rate: the runs share one optimiser, so the loss is the only difference"
    if baseline["seed"] != method["seed"]:
        return (
            "another seed: every run starts from the same initial weights and sees the same batches (the "
            "seed), so that the loss is the only difference"
        )
    return None


@exercise("choose_baseline", reference=label_free_baseline, hint=BASELINE_HINT)
def check_choose_baseline(student_fn) -> bool:
    """Check ``student_fn(method) -> baseline``: the label-free run that can answer "do labels help?"."""
    name = "check_choose_baseline"
    return check_design(
        student_fn,
        RUNS,
        lambda run, baseline: _baseline_problem(run, baseline, name),
        name=name,
        run_label="SupCon run",
        changes_of="your baseline",
        success="Same network, data, budget and seed; only the labels (and SimCLR's own τ) differ.",
    )
