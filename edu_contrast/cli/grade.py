"""``python -m edu_contrast grade DIR``: grade a folder of submitted notebooks with the checkers.

One row per student (the notebook's file name) and exercise: pass/fail and the checker's message
(``exercises.grade_folder``; docs/instructors.md). A missing DIR, or one without notebooks, is a user
error: one line naming the argument, exit 2.
"""

from __future__ import annotations

import argparse

from edu_contrast import exercises

__all__ = ["grade_command"]


def grade_command(args, parser: argparse.ArgumentParser, started: float) -> int:
    folder = args.dir
    if not folder.is_dir():
        parser.error(f"argument DIR: {folder} is not a folder (give the folder of submitted notebooks)")
    if not any(folder.glob("*.ipynb")):
        parser.error(f"argument DIR: {folder} holds no .ipynb notebook")
    print(exercises.grading_table(exercises.grade_folder(folder, timeout=args.timeout)))
    return 0
