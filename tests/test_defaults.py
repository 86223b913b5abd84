"""One source of defaults: ``train.dataset_defaults`` is what the CLI runs, so ``fit`` with them gives the
CLI's run bit for bit, and the CLI, its ``--help`` table and the benchmarks read the same values."""

from __future__ import annotations

import pytest
import torch

from edu_contrast import cli, data, methods, train
from edu_contrast.cli import commands, parser
from edu_contrast.train import defaults


def test_fit_with_the_dataset_defaults_is_the_cli_run_bit_for_bit(tmp_path):
    seed = 1
    argv = ["train", "--dataset", "digits", "--epochs", "1", "--seed", str(seed), "--no-progress"]
    assert cli.main([*argv, "--device", "cpu", "--out", str(tmp_path / "cli")]) == 0

    d = train.dataset_defaults("digits", "simclr")
    train_data, test_data = data.load_dataset("digits", "train"), data.load_dataset("digits", "test")
    torch.manual_seed(seed)
    method = methods.build_method("simclr", in_channels=train_data.channels, **d.method)
    result = train.fit(
        method,
        train_data,
        epochs=1,
        eval_data=test_data,
        seed=seed,
        out_dir=tmp_path / "fit",
        progress=False,
        device="cpu",
        **d.fit,
    )

    by_cli = train.load_checkpoint(tmp_path / "cli" / train.CHECKPOINT_NAME)
    by_fit = train.load_checkpoint(result["checkpoint"])
    assert by_cli["model"].keys() == by_fit["model"].keys()
    for key, value in by_cli["model"].items():
        assert torch.equal(value, by_fit["model"][key]), key
    untimed = lambda history: [{k: v for k, v in h.items() if k != "seconds"} for h in history]
    assert untimed(by_cli["history"]) == untimed(by_fit["history"])
    assert by_cli["linear_accuracy"] == by_fit["linear_accuracy"]
    config_by_cli = {k: v for k, v in by_cli["config"].items() if k != "dataset"}
    assert config_by_cli == by_fit["config"]  # every setting, the method's included


@pytest.mark.parametrize("dataset", list(defaults.DATASET_DEFAULTS))
@pytest.mark.parametrize("method", list(defaults.METHOD_DEFAULTS))
def test_the_cli_settings_are_the_dataset_defaults(dataset, method):
    args = parser.build_parser().parse_args(["train", "--dataset", dataset, "--method", method])
    s = commands.settings(args, parser.build_parser())
    d = train.dataset_defaults(dataset, method)
    assert {key: s[key] for key in d.method} == d.method
    assert {key: s[key] for key in d.fit} == d.fit and s["epochs"] == d.epochs
    assert s["calibrate_bn"] is True  # on for every dataset: FitConfig.calibrate_bn says what it buys
    fit_fields = train.FitConfig(epochs=1)
    assert (s["weight_decay"], s["seed"], s["amp"]) == (
        fit_fields.weight_decay,
        fit_fields.seed,
        fit_fields.amp,
    )


def test_no_calibrate_bn_overrides_the_default():
    args = parser.build_parser().parse_args(["train", "--no-calibrate-bn"])
    assert commands.settings(args, parser.build_parser())["calibrate_bn"] is False


def test_the_help_table_shows_the_defaults_of_train_defaults():
    table = parser._defaults_table()
    for name, settings in defaults.DATASET_DEFAULTS.items():
        row = next(line for line in table.splitlines() if line.strip().startswith(name))
        assert row.split()[1:] == [
            "-" if settings[key] is None else str(settings[key])
            for key in (*defaults.ENCODER_KEYS, "epochs", "batch_size", "lr", "view_size")
        ]
    assert cli.DATASET_DEFAULTS is defaults.DATASET_DEFAULTS  # the CLI's names are the same objects


def test_dataset_defaults_refuses_unknown_names_and_returns_fresh_dicts():
    with pytest.raises(ValueError, match="'dataset' parameter of dataset_defaults must be one of 'digits'"):
        train.dataset_defaults("mnist")
    with pytest.raises(ValueError, match="'method' parameter of dataset_defaults must be one of"):
        train.dataset_defaults("digits", "simsiam")
    d = train.dataset_defaults("fashion-mnist")
    d.fit["lr"] = 1.0
    assert (
        train.dataset_defaults("fashion-mnist").fit["lr"] == defaults.DATASET_DEFAULTS["fashion-mnist"]["lr"]
    )
