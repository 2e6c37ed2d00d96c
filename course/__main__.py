"""``python -m course``: regenerate lessons and re-run solutions.

    python -m course lessons [--force]     solutions/*.py -> lessons/*.ipynb (student versions)
    python -m course execute [FILES...]    run solutions and store outputs in solutions/*.ipynb
    python -m course build [--force]       execute, then lessons
    python -m course claims [LESSON...]    each lesson's claim: as stored, on other seeds, under its control
                                           (--controls: the controls only, as CI runs them)
"""
import argparse
import sys
import time
from pathlib import Path

from .lessons import LessonEdited, execute, write_lesson


def solutions(root, files=None):
    if files:
        return [Path(f) for f in files]
    return sorted((root / "solutions").glob("*/*.py"))


def lesson_path(root, solution_py):
    rel = solution_py.resolve().relative_to((root / "solutions").resolve())
    return root / "lessons" / rel.with_suffix(".ipynb")


def cmd_lessons(root, force, files=None):
    refused = []
    for py in solutions(root, files):
        try:
            status = write_lesson(py, lesson_path(root, py), force=force, root=root)
            print(f"{lesson_path(root, py).relative_to(root)}: {status}")
        except LessonEdited as e:
            refused.append(str(e))
            print(f"refused: {e}", file=sys.stderr)
    return 1 if refused else 0


def cmd_execute(root, files=None):
    for py in solutions(root, files):
        start = time.perf_counter()
        execute(py)
        print(f"executed  {py.relative_to(root) if py.is_absolute() else py}  ({time.perf_counter() - start:.1f} s)")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m course", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["lessons", "execute", "build", "claims"])
    parser.add_argument("files", nargs="*", help="solution .py files, or lessons for claims (default: all)")
    parser.add_argument("--controls", action="store_true", help="claims: run only each lesson's control")
    parser.add_argument("--jobs", type=int, default=None, help="claims: runs in parallel (default: CPU count)")
    parser.add_argument("--force", action="store_true", help="overwrite lessons a learner has edited")
    parser.add_argument("--root", default=".", help="course root (default: current directory)")
    args = parser.parse_intermixed_args(argv)
    root = Path(args.root).resolve()
    if args.command == "claims":
        from .claim_runner import main as claims

        return claims(root, args.files, controls_only=args.controls, jobs=args.jobs)
    if args.command in ("execute", "build"):
        cmd_execute(root, args.files)
    if args.command in ("lessons", "build"):
        return cmd_lessons(root, args.force, args.files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
