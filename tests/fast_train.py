"""The smallest real training run of the command line: a few batches of a width-4 ConvNet on the CPU.

Shared by the command-line and torchrun tests, so both exercise the same quick configuration.
"""

FAST = "--batch-size 128 --samples-per-epoch 512 --width 4 --no-progress --device cpu".split()
