"""The smallest real training run of the command line: a few batches of a width-4 ConvNet on the CPU.

Shared by the command-line and torchrun tests, so both exercise the same quick configuration.
"""

FAST = "--batch-size 128 --samples-per-epoch 512 --width 4 --no-progress --device cpu".split()


def digits_simclr_run(out):
    """The smallest real ``train.fit`` run a served model comes from: one epoch of SimCLR on digits, h of
    size 32, checkpointed in ``out`` (each test module trains its own, since the server writes beside it)."""
    from edu_contrast import data, methods, train

    method = methods.build_method("simclr", encoder="convnet", in_channels=1, width=4, feature_dim=32)
    train.fit(
        method,
        data.load_dataset("digits", "train"),
        epochs=1,
        batch_size=256,
        samples_per_epoch=512,
        out_dir=out,
        progress=False,
        device="cpu",
        knn_train_size=256,
        knn_test_size=64,
        config={"dataset": "digits"},
    )
    return out
