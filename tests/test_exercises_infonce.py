"""check_nt_xent_logits passes the reference and names each typical mistake."""

import pytest
import torch
import torch.nn.functional as F

from edu_contrast import exercises
from edu_contrast.exercises import ExerciseError
from edu_contrast.lessons import infonce as lesson


def make(*, normalise=True, temperature="divide", mask=True, labels="shifted", dim=1, drop_diagonal=False):
    """An NT-Xent logits builder with one step done right or wrong."""

    def fn(z1, z2, tau):
        n = z1.shape[0]
        z = torch.cat([z1, z2])  # (2N, d)
        if normalise:
            z = F.normalize(z, dim=dim)
        logits = z @ z.T  # (2N, 2N)
        if temperature == "divide":
            logits = logits / tau
        elif temperature == "multiply":
            logits = logits * tau
        if mask:
            logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool), float("-inf"))
        if drop_diagonal:
            logits = logits[~torch.eye(2 * n, dtype=torch.bool)].view(2 * n, 2 * n - 1)  # (2N, 2N − 1)
        positive = {
            "shifted": torch.arange(2 * n).roll(n),
            "identity": torch.arange(2 * n),
            "first_half_only": torch.cat([torch.arange(n) + n, torch.arange(n) + n]),
        }[labels]
        return logits, positive

    return fn


def test_reference_passes(capsys):
    assert exercises.check_nt_xent_logits(make()) is True
    assert "correct" in capsys.readouterr().out


def test_masking_with_a_large_finite_number_passes():
    def fn(z1, z2, tau):
        logits, labels = make(mask=False)(z1, z2, tau)
        return logits - 1e4 * torch.eye(len(logits)), labels

    assert exercises.check_nt_xent_logits(fn)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"mask": False}, r"self-similarities are not masked: row 0 puts \d+% of its weight on itself"),
        ({"labels": "identity"}, r"wrong positive index: labels = arange\(2N\) points every row at itself"),
        (
            {"labels": "first_half_only"},
            r"wrong positive index: row 8's label is 8, but .* column 0",
        ),
        ({"temperature": "none"}, r"forgot the temperature: your logits are the cosine similarities"),
        ({"normalise": False}, r"forgot to normalise: your logits are z_i · z_j / τ"),
        ({"normalise": False, "temperature": "none"}, r"forgot to normalise and forgot the temperature"),
        ({"temperature": "multiply"}, r"multiplied by the temperature"),
        ({"dim": 0}, r"normalised the columns \(dim=0\)"),
        ({"drop_diagonal": True}, r"you removed the diagonal"),
    ],
)
def test_typical_mistakes_are_named(kwargs, message):
    with pytest.raises(ExerciseError, match=message):
        exercises.check_nt_xent_logits(make(**kwargs))


def test_the_unmasked_weight_is_the_real_softmax_weight():
    with pytest.raises(ExerciseError) as info:
        exercises.check_nt_xent_logits(make(mask=False))
    percent = int(str(info.value).split("puts ")[1].split("%")[0])
    z1, z2 = exercises.infonce._views(8, 5, 0)
    logits, _ = make(mask=False)(z1, z2, 0.5)
    assert percent == round(100 * float(torch.softmax(logits[0], dim=0)[0]))


def test_wrong_return_values_and_crashes():
    with pytest.raises(ExerciseError, match="return a pair"):
        exercises.check_nt_xent_logits(lambda z1, z2, tau: make()(z1, z2, tau)[0])
    with pytest.raises(ExerciseError, match=r"shape \(2N, 2N\) = \(16, 16\)"):
        exercises.check_nt_xent_logits(lambda z1, z2, tau: (torch.zeros(8, 8), torch.arange(16)))
    with pytest.raises(ExerciseError, match="labels must be an integer tensor"):
        exercises.check_nt_xent_logits(lambda z1, z2, tau: (make()(z1, z2, tau)[0], torch.zeros(16)))
    with pytest.raises(ExerciseError, match="your function raised ZeroDivisionError"):
        exercises.check_nt_xent_logits(lambda z1, z2, tau: 1 / 0)
    with pytest.raises(ExerciseError, match="off-diagonal logits"):
        exercises.check_nt_xent_logits(
            lambda z1, z2, tau: (make()(z1, z2, tau)[0] + 0.3, make()(z1, z2, tau)[1])
        )
    with pytest.raises(TypeError, match="must be a function"):
        exercises.check_nt_xent_logits("not a function")


# ----------------------------------------------------------------------------- the exercise convention

MISTAKES = [
    (make(mask=False), "not masked"),
    (make(labels="identity"), "labels = arange(2N) points every row at itself"),
    (make(labels="first_half_only"), "wrong positive index: row 8"),
    (make(temperature="none"), "forgot the temperature"),
    (make(normalise=False), "forgot to normalise"),
    (make(temperature="multiply"), "multiplied by the temperature"),
    (make(dim=0), "normalised the columns"),
    (make(drop_diagonal=True), "removed the diagonal"),
    (lambda z1, z2, tau: None, "no return statement"),
]


def test_verify_checker_accepts_the_reference_and_names_every_mistake(capsys):
    exercises.verify_checker(exercises.check_nt_xent_logits, lesson.nt_xent_logits, MISTAKES)
    assert "correct" in capsys.readouterr().out


def test_hint_and_show_solution_print_the_signature_and_the_reference(capsys):
    exercises.hint("nt_xent_logits")
    out = capsys.readouterr().out
    assert out.startswith("nt_xent_logits(z1") and "temperature" in out and "roll(N)" in out
    exercises.show_solution("nt_xent_logits")
    out = capsys.readouterr().out
    assert "edu_contrast.lessons.infonce.nt_xent_logits" in out and "def nt_xent_logits(z1" in out
    assert "masked_fill" in out and "import torch.nn.functional as F" in out


def test_fallback_uses_the_students_function_once_it_passes(capsys):
    student = make()
    assert exercises.check_nt_xent_logits(student, fallback=True) is student
    assert "uses your nt_xent_logits" in capsys.readouterr().out


def test_fallback_uses_the_reference_for_a_stub_or_a_mistake(capsys):
    def stub(z1, z2, temperature):
        raise NotImplementedError("normalise, divide, mask, roll")

    assert exercises.check_nt_xent_logits(stub, fallback=True) is lesson.nt_xent_logits
    out = capsys.readouterr().out
    assert "not written yet" in out and "edu_contrast.lessons.infonce.nt_xent_logits" in out
    assert exercises.check_nt_xent_logits(make(mask=False), fallback=True) is lesson.nt_xent_logits
    assert "not masked" in capsys.readouterr().out
