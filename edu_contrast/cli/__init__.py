"""``python -m edu_contrast train|evaluate|gallery|serve|grade``: train, re-probe, embed, serve, grade.

    python -m edu_contrast train                                   # SimCLR on digits, CPU, about a minute
    python -m edu_contrast train --dataset fashion-mnist --out runs/fm
    python -m edu_contrast train --out runs/fm --resume            # continue after an interruption
    python -m edu_contrast train --out runs/fm --overwrite         # start that folder over
    python -m edu_contrast evaluate runs/fm
    python -m edu_contrast gallery --checkpoint runs/fm --out runs/fm/gallery.npz   # its test split's h
    python -m edu_contrast gallery --clip runs/clip --scenes 1000 --out runs/clip/gallery.npz   # scenes' x̂
    python -m edu_contrast serve --checkpoint runs/fm --backend onnx-int8   # HTTP: /embed, /similarity
    python -m edu_contrast serve --checkpoint runs/fm --gallery runs/fm/gallery.npz   # and /search
    python -m edu_contrast grade submissions/                      # a table: student, exercise, pass/fail
    torchrun --nproc_per_node=2 -m edu_contrast train ...          # DistributedDataParallel

Read in this order: ``parser.py`` (the flags, their help and the per-dataset defaults),
``commands.py`` (what ``train`` and ``evaluate`` do, ``--resume`` taking the checkpoint's settings),
``errors.py`` (a user error becomes one ``error:`` line naming the flag; exit 2; ``--debug`` shows
the traceback). Ctrl-C leaves only complete files and prints the command that continues the run
(exit 130).
"""

from __future__ import annotations

import sys
import time

from edu_contrast.cli.commands import evaluate_command, interrupted, settings, summary, train_command
from edu_contrast.cli.errors import FLAGS, explain, to_flags
from edu_contrast.cli.gallery import gallery_command
from edu_contrast.cli.grade import grade_command
from edu_contrast.cli.parser import DATASET_DEFAULTS, METHOD_DEFAULTS, PROG, build_parser, number
from edu_contrast.serve.app import main as serve_main

COMMANDS = {
    "train": train_command,
    "evaluate": evaluate_command,
    "gallery": gallery_command,
    "grade": grade_command,
}
EXIT_USER_ERROR, EXIT_INTERRUPTED = 2, 130

__all__ = [
    "main",
    "build_parser",
    "number",
    "summary",
    "settings",
    "explain",
    "to_flags",
    "FLAGS",
    "DATASET_DEFAULTS",
    "METHOD_DEFAULTS",
]


def main(argv: list[str] | None = None) -> int:
    """Run a command; a user error prints one ``error:`` line (exit 2), Ctrl-C how to continue (130)."""
    started = time.perf_counter()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:
        return serve_main(argv[1:])  # its own flags: python -m edu_contrast serve --help
    parser = build_parser()
    args = parser.parse_args(argv)
    args.stage = args.command
    try:
        return COMMANDS[args.command](args, parser, started)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print(f"\n{interrupted(args, argv)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:
        data_flag = "--data-root" if getattr(args, "data_root", None) is not None else "--dataset"
        message = None if args.debug else explain(error, args.stage, data_flag)
        if message is None:
            raise
        print(f"{PROG} {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR


if __name__ == "__main__":
    sys.exit(main())
