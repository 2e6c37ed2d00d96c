"""Solutions -> lessons: the student version of each solution notebook, and running solutions.

A solution is a jupytext percent ``.py`` file under ``solutions/<track>/``. Its student lesson
``lessons/<track>/<same name>.ipynb`` is made by

- dropping cells tagged ``solution`` (instructor-only cells),
- replacing every block between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` with a stub that
  raises ``NotImplementedError`` naming the exercise,
- clearing outputs, and recording a hash of the cells in the notebook's metadata.

Generation is deterministic (same input, same bytes). It refuses to overwrite a lesson whose
cells no longer match the recorded hash, i.e. one a learner has edited, unless ``force=True``.
"""
import copy
import hashlib
import json
import os
import re
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>[ \t]*)#+\s*BEGIN SOLUTION\b.*$")
END = re.compile(r"^[ \t]*#+\s*END SOLUTION\b.*$")
DEF = re.compile(r"^(?P<indent>[ \t]*)(?:def|class)\s+(?P<name>\w+)")
SOLUTION_TAG = "solution"
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
STUB = 'raise NotImplementedError("Exercise `{name}`: replace this line with your code, then run the check below")'


class LessonEdited(RuntimeError):
    """A lesson differs from what was generated last: a learner's edits would be lost."""


def read_solution(py_path):
    """The solution notebook (inputs only) from its percent-format ``.py`` file."""
    import jupytext

    nb = jupytext.read(py_path, fmt="py:percent")
    return normalise(nb)


JUPYTEXT_FILTERS = {"notebook_metadata_filter": "-all", "cell_metadata_filter": "tags,-all"}


def canonical_text(py_path):
    """The percent text jupytext itself would write for this solution (default spacing, tags only).

    Solutions are stored in this form so that JupyterLab's jupytext pairing sees the ``.py`` and
    the ``.ipynb`` as the same notebook.
    """
    import jupytext

    nb = normalise(jupytext.read(py_path, fmt="py:percent"))
    nb.metadata["jupytext"] = dict(JUPYTEXT_FILTERS)
    return jupytext.writes(nb, fmt="py:percent")


def normalise(nb):
    """Deterministic cell ids and notebook metadata, so the same input gives the same bytes."""
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{i:03d}"
        tags = cell.get("metadata", {}).get("tags")
        cell["metadata"] = {"tags": tags} if tags else {}
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": {"name": "python"},
                   **({"minilib_course": nb.metadata["minilib_course"]} if "minilib_course" in nb.metadata else {})}
    nb.nbformat, nb.nbformat_minor = 4, 5
    return nb


def stub_blocks(source):
    """Replace each BEGIN/END SOLUTION block with a stub; returns (new source, removed blocks)."""
    out, blocks, current, name = [], [], None, "exercise"
    lines = source.split("\n")
    for i, line in enumerate(lines):
        if current is None:
            m = BEGIN.match(line)
            if m:
                current, indent, name = [], m.group("indent"), _enclosing_name(lines[:i], len(m.group("indent")))
                continue
            if END.match(line):
                raise ValueError(f"END SOLUTION without BEGIN SOLUTION at line {i + 1}:\n{source}")
            out.append(line)
        elif END.match(line):
            out.append(indent + STUB.format(name=name))
            blocks.append("\n".join(current))
            current = None
        else:
            current.append(line)
    if current is not None:
        raise ValueError(f"BEGIN SOLUTION without END SOLUTION in cell:\n{source}")
    return "\n".join(out), blocks


def _enclosing_name(previous_lines, indent):
    for line in reversed(previous_lines):
        m = DEF.match(line)
        if m and len(m.group("indent")) < indent:
            return m.group("name")
    return "exercise"


def student_notebook(solution_nb, source_path):
    """The student version of a solution notebook (see the module docstring)."""
    nb = copy.deepcopy(solution_nb)
    cells = []
    for cell in nb.cells:
        if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
            continue
        if cell["cell_type"] == "code":
            cell["source"], _ = stub_blocks(cell["source"])
            cell["outputs"], cell["execution_count"] = [], None
        cells.append(cell)
    nb.cells = cells
    nb = normalise(nb)
    nb.metadata["minilib_course"] = {"generated_from": str(source_path), "cells_sha256": cells_hash(nb)}
    return nb


def cells_hash(nb):
    """sha256 of the cells' types and sources: what a learner edits."""
    payload = json.dumps([[c["cell_type"], c["source"]] for c in nb.cells], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def dumps(nb):
    import nbformat

    return nbformat.writes(nb) + "\n"


def write_lesson(solution_py, lesson_path, force=False, root=None):
    """Generate one lesson. Returns 'written', 'unchanged' or 'written, its saved outputs dropped'.

    Raises :class:`LessonEdited` (paths relative to ``root``) for a lesson a learner has edited.
    """
    root = Path(root) if root else Path.cwd()
    rel = Path(solution_py).resolve().relative_to(root.resolve()).as_posix()
    text = dumps(student_notebook(read_solution(solution_py), rel))
    lesson_path = Path(lesson_path)
    status = "written"
    if lesson_path.exists():
        current = lesson_path.read_text(encoding="utf-8")
        if current == text:
            return "unchanged"
        if not force and learner_edited(current):
            shown = os.path.relpath(lesson_path, root)
            raise LessonEdited(f"{shown} has been edited since it was generated; not overwriting it. Save your "
                               "work under another name, or run `make lessons FORCE=1` (python -m course "
                               "lessons --force) to regenerate it and lose your edits.")
        if has_outputs(current):
            status = "written, its saved outputs dropped"
    lesson_path.parent.mkdir(parents=True, exist_ok=True)
    lesson_path.write_text(text, encoding="utf-8")
    return status


def has_outputs(notebook_text):
    """True when a notebook was run and saved: some code cell holds outputs."""
    import nbformat

    nb = nbformat.reads(notebook_text, as_version=4)
    return any(c.get("outputs") for c in nb.cells if c["cell_type"] == "code")


def learner_edited(notebook_text):
    """True when a lesson's cells no longer match the hash recorded when it was generated."""
    import nbformat

    nb = nbformat.reads(notebook_text, as_version=4)
    recorded = nb.metadata.get("minilib_course", {}).get("cells_sha256")
    return recorded is None or recorded != cells_hash(nb)


def cell_contents(nb):
    """(type, source, tags) of each cell: what a solution's .py and its executed .ipynb must share."""
    return [(c["cell_type"], c["source"], c.get("metadata", {}).get("tags", [])) for c in nb.cells]


def pair_in_sync(solution_py):
    """True when the executed ``.ipynb`` beside ``solution_py`` holds exactly the cells of the ``.py``."""
    import nbformat

    stored = nbformat.read(Path(solution_py).with_suffix(".ipynb"), as_version=4)
    return cell_contents(stored) == cell_contents(read_solution(solution_py))


def fill_stubs(lesson_nb, solution_nb):
    """Put the solution code back into a lesson: the inverse of :func:`student_notebook` (for tests)."""
    cells, lesson_cells = [], iter(lesson_nb.cells)
    for sol in solution_nb.cells:
        if SOLUTION_TAG in sol.get("metadata", {}).get("tags", []):
            cells.append(sol)
            continue
        cell = copy.deepcopy(next(lesson_cells))
        if cell["cell_type"] == "code":
            blocks = iter(stub_blocks(sol["source"])[1])
            lines = []
            for line in cell["source"].split("\n"):
                if line.strip().startswith('raise NotImplementedError("Exercise `'):
                    indent = line[:len(line) - len(line.lstrip())]
                    lines += [indent + "# BEGIN SOLUTION", *next(blocks).split("\n"), indent + "# END SOLUTION"]
                else:
                    lines.append(line)
            cell["source"] = "\n".join(lines)
        cells.append(cell)
    out = copy.deepcopy(lesson_nb)
    out.cells = cells
    return out


def execute(solution_py, timeout=600, cwd=None):
    """Run a solution from its ``.py`` file and write the paired ``.ipynb`` with outputs."""
    from nbclient import NotebookClient

    text = canonical_text(solution_py)
    if Path(solution_py).read_text(encoding="utf-8") != text:
        Path(solution_py).write_text(text, encoding="utf-8")
    nb = read_solution(solution_py)
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(cwd or Path(solution_py).parent)}}).execute()
    nb = normalise(nb)  # also drops the execution metadata nbclient adds to cells
    Path(solution_py).with_suffix(".ipynb").write_text(dumps(nb), encoding="utf-8")
    return nb
