"""_validation: NumPy numbers accepted, clear TypeErrors for what is not a number or a label, and messages
whose counts agree with their nouns ("1 row", "2 rows")."""

import numpy as np
import pytest
import torch
from torch import nn

from edu_contrast import losses
from edu_contrast._validation import (
    check_embeddings,
    check_int,
    check_labels,
    check_positive,
    check_temperature,
    plural,
    reads_tensor_values,
    store_temperature,
    temperature_repr,
    values_checked_by_caller,
)


@pytest.mark.parametrize(
    "value",
    [0.5, 1, np.float32(0.5), np.float16(0.5), np.float64(0.5), np.int64(2), np.uint8(3), np.array(0.5)]
    + [np.array([0.5]), torch.tensor(0.5), torch.tensor([0.5], dtype=torch.float64), torch.tensor(3)],
)
def test_check_positive_accepts_python_numpy_and_one_element_numbers(value):
    got = check_positive(value, "temperature", "f")
    assert type(got) is float and got == pytest.approx(float(np.asarray(value).reshape(())))


@pytest.mark.parametrize(
    "value, got",
    [
        (True, "True of type bool"),
        (np.bool_(True), "np.True_ of type bool"),
        ("0.5", "'0.5' of type str"),
        (None, "None of type NoneType"),
        (1 + 2j, r"\(1\+2j\) of type complex"),
        (torch.tensor([0.1, 0.2]), r"a Tensor of shape \(2,\)"),
        (np.array([0.1, 0.2]), r"a ndarray of shape \(2,\)"),
        (torch.tensor(True), "True of type bool"),
    ],
)
def test_check_positive_refuses_what_is_not_a_real_number(value, got):
    with pytest.raises(
        TypeError, match=rf"'temperature' parameter of f must be a real number.*Got {got} instead"
    ):
        check_positive(value, "temperature", "f")


@pytest.mark.parametrize("value", [np.float32(0.0), np.float64(-1.0), np.float32("nan"), torch.tensor(-1.0)])
def test_check_positive_still_checks_the_numpy_value(value):
    with pytest.raises(ValueError, match="'temperature' parameter of f must be"):
        check_positive(value, "temperature", "f")


@pytest.mark.parametrize("value", [3, np.int64(3), np.int32(3), np.uint8(3)])
def test_check_int_accepts_numpy_integers_and_returns_an_int(value):
    got = check_int(value, "k", "f")
    assert type(got) is int and got == 3


@pytest.mark.parametrize("value", [3.0, np.float64(3.0), True, np.bool_(True), "3", torch.tensor(3)])
def test_check_int_refuses_non_integers(value):
    with pytest.raises(TypeError, match="'k' parameter of f must be an int >= 1"):
        check_int(value, "k", "f")


def test_check_int_checks_the_minimum_of_a_numpy_integer():
    with pytest.raises(ValueError, match="'k' parameter of f must be an int >= 2. Got 1 instead"):
        check_int(np.int64(1), "k", "f", minimum=2)


# --- temperatures that learn ------------------------------------------------------------------------


def test_check_temperature_keeps_a_tensor_in_the_graph_and_a_number_a_float():
    assert check_temperature(np.float32(0.25), "temperature", "f") == 0.25
    tau = nn.Parameter(torch.tensor([0.25]))
    got = check_temperature(tau, "temperature", "f")
    assert got.shape == () and got.requires_grad and got.data_ptr() == tau.data_ptr()
    (2 * got).backward()
    assert tau.grad.tolist() == [2.0]


def test_store_temperature_registers_a_parameter_and_stores_anything_else_as_a_float():
    module = nn.Module()
    tau = nn.Parameter(torch.tensor(0.3))
    store_temperature(module, "temperature", tau, "M")
    assert module.temperature is tau and "temperature" in module.state_dict()
    assert temperature_repr(module.temperature) == "0.3 (learnable)"
    other = nn.Module()
    store_temperature(other, "temperature", torch.tensor(0.3), "M")
    assert type(other.temperature) is float and list(other.parameters()) == []
    assert temperature_repr(other.temperature) == str(other.temperature)
    with pytest.raises(TypeError, match="'temperature' parameter of M must be a number, or an nn.Parameter"):
        store_temperature(nn.Module(), "temperature", torch.tensor(0.3, requires_grad=True), "M")
    with pytest.raises(ValueError, match="'temperature' parameter of M must be > 0"):
        store_temperature(nn.Module(), "temperature", nn.Parameter(torch.tensor(-0.3)), "M")


# --- labels -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "labels", [["cat", "dog", "cat", "dog"], ("a", "b", "c", "d"), np.array(["a", "b", "a", "b"]), "abcd"]
)
def test_string_labels_are_a_type_error_naming_labels(labels):
    with pytest.raises(
        TypeError, match=r"'labels' parameter of f must be an integer tensor of class labels.*ints"
    ):
        check_labels(labels, 4, "labels", "f")


@pytest.mark.parametrize(
    "labels", [[0, 1, 0, 2], np.array([0, 1, 0, 2]), np.array([0, 1, 0, 2], dtype=np.uint8)]
)
def test_integer_labels_in_any_container_are_accepted(labels):
    assert check_labels(labels, 4, "labels", "f").tolist() == [0, 1, 0, 2]


# --- singular and plural ------------------------------------------------------------------------------


def test_plural():
    assert [plural(n, "row") for n in (0, 1, 2)] == ["0 rows", "1 row", "2 rows"]


def test_row_counts_agree_with_their_noun():
    with pytest.raises(ValueError, match=r"at least 1 row \(one per sample\)"):
        check_embeddings(torch.zeros(0, 3), "z", "f")
    with pytest.raises(ValueError, match=r"at least 2 rows \(one per sample\)"):
        check_embeddings(torch.zeros(1, 3), "z", "f", min_rows=2)


def test_non_finite_counts_agree_with_their_noun():
    with pytest.raises(ValueError, match="Got 1 non-finite value; check"):
        check_embeddings(torch.tensor([[1.0, float("nan")]]), "z", "f")
    with pytest.raises(ValueError, match="Got 2 non-finite values; check"):
        check_embeddings(torch.tensor([[float("inf"), float("nan")]]), "z", "f")


def test_label_counts_agree_with_their_noun():
    with pytest.raises(ValueError, match=r"a 1-D tensor of 1 label \(one per sample\)"):
        check_labels([0, 1], 1, "labels", "f")
    with pytest.raises(ValueError, match=r"a 1-D tensor of 3 labels \(one per sample\)"):
        check_labels([0, 1], 3, "labels", "f")


def test_values_checked_by_caller_skips_the_reads_and_keeps_every_shape_and_type_check():
    nan_rows = torch.tensor([[float("nan"), 1.0], [0.0, 1.0]])
    negative_tau = torch.tensor(-1.0, requires_grad=True)
    with values_checked_by_caller():
        assert not reads_tensor_values()
        assert check_embeddings(nan_rows, "z", "f") is nan_rows  # not read: the caller checks
        assert check_temperature(negative_tau, "temperature", "f").shape == ()
        assert torch.isnan(losses.nt_xent(nan_rows, nan_rows))  # the loss runs, unread
        with pytest.raises(
            ValueError, match=r"must be a 2-D tensor of shape \(batch, dim\). Got shape \(3,\)"
        ):
            check_embeddings(torch.ones(3), "z", "f")
        with pytest.raises(TypeError, match="must be a floating-point tensor. Got dtype torch.int64"):
            check_embeddings(torch.ones(2, 2, dtype=torch.long), "z", "f")
        with pytest.raises(TypeError, match=r"must be a real number.*Got a Tensor of shape \(2,\)"):
            check_temperature(torch.ones(2), "temperature", "f")
        with pytest.raises(ValueError, match="'temperature' parameter of f must be > 0"):
            check_temperature(-1.0, "temperature", "f")  # a number costs no sync: always checked
    assert reads_tensor_values()  # the block ends: a student calling a loss gets every check again
    with pytest.raises(ValueError, match="'z1' parameter of nt_xent must be finite"):
        losses.nt_xent(nan_rows, nan_rows)
    with pytest.raises(ValueError, match="'temperature' parameter of f must be > 0. Got -1.0"):
        check_temperature(negative_tau, "temperature", "f")


def test_values_checked_by_caller_ends_on_an_error():
    with pytest.raises(RuntimeError), values_checked_by_caller():
        raise RuntimeError
    assert reads_tensor_values()
