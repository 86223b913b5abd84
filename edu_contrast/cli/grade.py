"""``python -m edu_contrast grade DIR``: grade a folder of submitted notebooks with the checkers.

One row per student (the notebook's file name) and exercise: pass/fail and the checker's message
(``exercises.grade_folder``; docs/instructors.md). A missing DIR, or one without notebooks, is a user
error: one line naming the argument, exit 2.
"""

from __future__ import annotations

import argparse
import sys

from edu_contrast import exercises
from edu_contrast.cli.parser import PROG

__all__ = ["grade_command"]


def grade_command(args, parser: argparse.ArgumentParser, started: float) -> int:
    folder = args.dir
    problem = None
    if not folder.is_dir():
        problem = f"{folder} is not a folder (give the folder of submitted notebooks)"
    elif not any(folder.glob("*.ipynb")):
        problem = f"{folder} holds no .ipynb notebook"
    if problem is not None:
        print(f"{PROG} grade: error: argument DIR: {problem}", file=sys.stderr)
        return 2
    print(exercises.grading_table(exercises.grade_folder(folder, timeout=args.timeout)))
    return 0
