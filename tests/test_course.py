"""Course integrity: course.toml <-> solutions <-> lessons, pairing, generation, environment files."""
import re
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from course import lessons as gen

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = tomllib.loads((ROOT / "course.toml").read_text())
LISTED = [(t["id"], lesson) for t in MANIFEST["tracks"] for lesson in t["lessons"]]
SOLUTIONS = sorted((ROOT / "solutions").glob("*/*.py"))


def stem(track, lesson):
    return f"{track}/{lesson['number']:02d}_{lesson['slug']}"


def test_manifest_solutions_and_lessons_agree_both_ways():
    listed = {stem(t, lesson) for t, lesson in LISTED}
    solutions = {p.relative_to(ROOT / "solutions").with_suffix("").as_posix() for p in SOLUTIONS}
    paired = {p.relative_to(ROOT / "solutions").with_suffix("").as_posix()
              for p in (ROOT / "solutions").glob("*/*.ipynb")}
    lessons = {p.relative_to(ROOT / "lessons").with_suffix("").as_posix() for p in (ROOT / "lessons").glob("*/*.ipynb")}
    assert listed, "course.toml lists no lessons"
    assert solutions == listed, f"solutions/*.py vs course.toml: {sorted(solutions ^ listed)}"
    assert paired == listed, f"solutions/*.ipynb vs course.toml: {sorted(paired ^ listed)}"
    assert lessons == listed, f"lessons/*.ipynb vs course.toml: {sorted(lessons ^ listed)}"


def test_manifest_entries_are_complete_and_prerequisites_exist():
    known = {f"{t}/{lesson['number']:02d}" for t, lesson in LISTED}
    for track, lesson in LISTED:
        for key in ("number", "slug", "title", "claim", "papers", "prerequisites"):
            assert key in lesson, f"{stem(track, lesson)}: missing {key}"
        for paper in lesson["papers"]:
            assert {"title", "authors", "year"} <= paper.keys(), f"{stem(track, lesson)}: incomplete paper {paper}"
        for prereq in lesson["prerequisites"]:
            assert prereq in known, f"{stem(track, lesson)}: unknown prerequisite {prereq}"


@pytest.mark.parametrize("track,lesson", LISTED, ids=[stem(t, lesson) for t, lesson in LISTED])
def test_lesson_follows_the_contract(track, lesson):
    """Paper cited in the first cell, exercises each followed by a check, a widget, an assertion, a GPU part."""
    nb = gen.read_solution(ROOT / "solutions" / f"{stem(track, lesson)}.py")
    intro = " ".join(nb.cells[0]["source"].split())  # titles may wrap across lines
    for paper in lesson["papers"]:
        assert paper["title"] in intro, f"first cell must cite {paper['title']!r}"
        if "arxiv" in paper:
            assert f"arXiv:{paper['arxiv']}" in intro, f"first cell must give arXiv:{paper['arxiv']}"
    code = [c for c in nb.cells if c["cell_type"] == "code"]
    exercises = [i for i, c in enumerate(code) if "BEGIN SOLUTION" in c["source"]]
    assert exercises, "a lesson needs at least one exercise"
    for i in exercises:
        following = "\n".join(c["source"] for c in code[i + 1:i + 3])
        assert re.search(r"\b(check|expect|check_\w+)\(", following), \
            f"exercise in code cell {i} is not followed by a check cell"
        if "control" in lesson:  # converted lessons: the check cell shows a call, not a reference or a hint
            cell = code[i + 1]["source"]
            assert re.fullmatch(r"(\s*check_\w+\([\w, ]*\)\s*)+", cell), \
                f"the check after exercise {i} must be only calls like check_name(fn), got:\n{cell}"
    widget_cells = [c for c in code if "panel(" in c["source"] and "def " not in c["source"]]
    assert widget_cells, "a lesson needs a widget panel"
    for c in widget_cells:
        assert "nbval-ignore-output" in c["metadata"].get("tags", []), "widget cells must be nbval-ignore-output"
    if "control" in lesson:
        assert any(re.search(r"^_? ?=? ?claim\(", c["source"], re.M) for c in code), "the claim must go through claim()"
    else:  # not yet converted to claim() with a control (the rework issues do that)
        assert any(re.search(r"^(assert |_? ?=? ?claim\()", c["source"], re.M) for c in code), \
            "the claim must be asserted"
    assert any("gpu.pick_device()" in c["source"] for c in code), "a lesson needs a GPU section"
    timing = [c for c in code if "compare_timings" in c["source"]]
    assert timing and all("nbval-ignore-output" in c["metadata"].get("tags", []) for c in timing)
    assert any("Takeaways" in c["source"] for c in nb.cells if c["cell_type"] == "markdown")


SECTIONS = ["From scratch", "See it", "Reproduce", "The GPU version", "Takeaways"]


@pytest.mark.parametrize("track,lesson", LISTED, ids=[stem(t, lesson) for t, lesson in LISTED])
def test_sections_come_in_the_contracts_order(track, lesson):
    """COURSE.md §4: the idea, from scratch, see it, reproduce, the GPU version, takeaways."""
    nb = gen.read_solution(ROOT / "solutions" / f"{stem(track, lesson)}.py")
    assert "**The idea.**" in nb.cells[0]["source"], "the first cell must open with **The idea.**"
    headings = [line[3:] for c in nb.cells if c["cell_type"] == "markdown"
                for line in c["source"].splitlines() if line.startswith("## ")]
    found = [next(i for i, s in enumerate(SECTIONS) if h.startswith(s)) for h in headings
             if any(h.startswith(s) for s in SECTIONS)]
    assert sorted(set(found)) == list(range(len(SECTIONS))), \
        f"missing sections: {[s for i, s in enumerate(SECTIONS) if i not in found]}"
    order = [SECTIONS[i] for i in found]
    assert found == sorted(found), f"sections out of order: {order}; expected the order {SECTIONS}"


CONTROLLED = [(t, lesson) for t, lesson in LISTED if "control" in lesson]


@pytest.mark.parametrize("track,lesson", CONTROLLED, ids=[stem(t, lesson) for t, lesson in CONTROLLED])
def test_claim_knobs_sit_in_the_parameters_cell(track, lesson):
    """The control and seed sets in course.toml name variables of the cell papermill replaces."""
    nb = gen.read_solution(ROOT / "solutions" / f"{stem(track, lesson)}.py")
    cells = [c for c in nb.cells if "parameters" in c["metadata"].get("tags", [])]
    assert len(cells) == 1, "a lesson with a control needs exactly one cell tagged `parameters`"
    assigned = set(re.findall(r"^(\w+(?:\s*,\s*\w+)*)\s*=", cells[0]["source"], re.M))
    names = {n.strip() for group in assigned for n in group.split(",")}
    for params in [lesson["control"], *lesson.get("other_seeds", [])]:
        assert set(params) <= names, f"{sorted(set(params) - names)} are not set in the parameters cell"
    assert lesson.get("other_seeds"), "name at least one other seed set, so `make claims` tests the claim there"
    assert all(any("SEED" in k for k in p) for p in lesson["other_seeds"]), "other_seeds must change the seeds"


@pytest.mark.parametrize("py", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_pair_is_in_sync(py):
    """The executed .ipynb holds exactly the cells of its .py (types, sources, tags)."""
    stored = nbformat.read(py.with_suffix(".ipynb"), as_version=4)
    assert gen.pair_in_sync(py), f"{py.name} and its .ipynb differ: run `make execute`"
    assert any(c.get("outputs") for c in stored.cells if c["cell_type"] == "code"), \
        "solution notebooks are stored executed: run `make execute`"


@pytest.mark.parametrize("py", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_solution_py_is_in_jupytext_canonical_form(py):
    """Otherwise JupyterLab's jupytext pairing reports the .py and .ipynb as conflicting."""
    assert py.read_text(encoding="utf-8") == gen.canonical_text(py), f"run `make execute` to normalise {py.name}"


@pytest.mark.parametrize("py", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_lesson_is_the_generated_student_version(py):
    rel = py.relative_to(ROOT)
    expected = gen.dumps(gen.student_notebook(gen.read_solution(py), rel.as_posix()))
    lesson = ROOT / "lessons" / rel.relative_to("solutions").with_suffix(".ipynb")
    assert lesson.read_text(encoding="utf-8") == expected, f"{lesson.name} is stale: run `make lessons`"
    assert "BEGIN SOLUTION" not in expected and "NotImplementedError" in expected
    assert gen.dumps(gen.student_notebook(gen.read_solution(py), rel.as_posix())) == expected, "not deterministic"


@pytest.mark.parametrize("py", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_filling_the_stubs_gives_back_the_solution(py):
    solution = gen.read_solution(py)
    lesson = gen.student_notebook(solution, "x")
    restored = gen.fill_stubs(lesson, solution)
    assert [c["source"] for c in restored.cells] == [c["source"] for c in solution.cells]


SOLUTION_PY = '''# %% [markdown]
# # Demo

# %%
def double(x):
    """Twice x."""
    # BEGIN SOLUTION
    return 2 * x
    # END SOLUTION

# %% tags=["solution"]
print("instructor only")
'''


def test_generation_refuses_to_overwrite_learner_edits(tmp_path):
    (tmp_path / "solutions" / "demo").mkdir(parents=True)
    py = tmp_path / "solutions" / "demo" / "00_demo.py"
    py.write_text(SOLUTION_PY)
    lesson = tmp_path / "lessons" / "demo" / "00_demo.ipynb"
    assert gen.write_lesson(py, lesson, root=tmp_path) == "written"
    first = lesson.read_bytes()
    assert gen.write_lesson(py, lesson, root=tmp_path) == "unchanged" and lesson.read_bytes() == first
    text = lesson.read_text()
    assert "instructor only" not in text and "Exercise `double`" in text
    nb = nbformat.reads(text, as_version=4)
    nb.cells[1]["source"] = nb.cells[1]["source"].replace('raise NotImplementedError', 'return x + x  #')
    edited = nbformat.writes(nb)
    lesson.write_text(edited)
    py.write_text(SOLUTION_PY.replace("Twice x.", "Two times x."))
    with pytest.raises(gen.LessonEdited, match="edited since it was generated") as refusal:
        gen.write_lesson(py, lesson, root=tmp_path)
    message = str(refusal.value)
    assert message.startswith("lessons/demo/00_demo.ipynb ") and "make lessons FORCE=1" in message
    assert str(tmp_path) not in message, "paths in messages are relative to the course root"
    assert lesson.read_text() == edited, "the learner's file must be untouched after a refusal"
    assert gen.write_lesson(py, lesson, force=True, root=tmp_path) == "written"
    assert "Two times x." in lesson.read_text()


def test_regenerating_a_lesson_that_was_only_run_says_its_outputs_are_dropped(tmp_path):
    (tmp_path / "solutions" / "demo").mkdir(parents=True)
    py = tmp_path / "solutions" / "demo" / "00_demo.py"
    py.write_text(SOLUTION_PY)
    lesson = tmp_path / "lessons" / "demo" / "00_demo.ipynb"
    gen.write_lesson(py, lesson, root=tmp_path)
    nb = nbformat.read(lesson, as_version=4)
    nb.cells[1]["outputs"] = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    nbformat.write(nb, lesson)
    py.write_text(SOLUTION_PY.replace("Demo", "Demo 2"))
    assert gen.write_lesson(py, lesson, root=tmp_path) == "written, its saved outputs dropped"
    assert "Demo 2" in lesson.read_text()


def test_cli_reports_refusal_and_exits_nonzero(tmp_path, capsys):
    from course.__main__ import main

    (tmp_path / "solutions" / "demo").mkdir(parents=True)
    (tmp_path / "solutions" / "demo" / "00_demo.py").write_text(SOLUTION_PY)
    assert main(["lessons", "--root", str(tmp_path)]) == 0
    lesson = tmp_path / "lessons" / "demo" / "00_demo.ipynb"
    lesson.write_text(lesson.read_text().replace("Demo", "My notes"))
    (tmp_path / "solutions" / "demo" / "00_demo.py").write_text(SOLUTION_PY.replace("Demo", "Demo 2"))
    assert main(["lessons", "--root", str(tmp_path)]) == 1
    assert "refused" in capsys.readouterr().err
    assert "My notes" in lesson.read_text()


def test_stub_names_the_exercise_and_unbalanced_markers_are_errors():
    source, blocks = gen.stub_blocks("def f(x):\n    # BEGIN SOLUTION\n    return x\n    # END SOLUTION\n")
    assert 'Exercise `f`' in source and blocks == ["    return x"]
    with pytest.raises(ValueError, match="without END"):
        gen.stub_blocks("# BEGIN SOLUTION\nx = 1\n")
    with pytest.raises(ValueError, match="without BEGIN"):
        gen.stub_blocks("x = 1\n# END SOLUTION\n")


def _requirement_names(specs):
    return {re.split(r"[<>=!\[ ]", s.strip(), maxsplit=1)[0].lower() for s in specs}


def test_environment_yml_lists_the_same_packages_as_pyproject():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _requirement_names(pyproject["dependencies"] + pyproject["optional-dependencies"]["lessons"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = [d for d in env["dependencies"] if isinstance(d, str)]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = _requirement_names(conda + [p for p in pip if not p.startswith("-e")]) - {"python", "pip"}
    assert listed == wanted, f"environment.yml vs pyproject: {sorted(listed ^ wanted)}"


def test_readme_commands_exist_in_makefile():
    readme, makefile = (ROOT / "README.md").read_text(), (ROOT / "Makefile").read_text()
    for target in ("lab", "test", "lessons"):
        assert f"make {target}" in readme and re.search(rf"^{target}:", makefile, re.M)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci and "make controls" in ci


def test_readme_stands_alone():
    """A clone has no ../shared: the README links nowhere outside the repository and lists every track."""
    readme = (ROOT / "README.md").read_text()
    assert "../" not in readme and "COURSE.md" not in readme
    for track in ("basics", "dropout", "softmax", "pooling", "augment", "moe", "peft", "regularize"):
        assert f"| {track} |" in readme, f"the curriculum table must list the {track} track"
    assert "make claims" in readme and "FORCE=1" in readme


@pytest.mark.parametrize("uid,expected", [(0, True), (1000, False)])
def test_make_lab_allows_root_only_as_root_and_passes_flags(uid, expected):
    import subprocess

    out = subprocess.run(["make", "-n", "lab", f"ROOT_FLAG={'--allow-root' if uid == 0 else ''}",
                          "LAB_FLAGS=--port 9999", "STAMP=Makefile"], cwd=ROOT, capture_output=True, text=True).stdout
    assert ("--allow-root" in out) == expected and "--port 9999" in out
    mine = subprocess.run(["make", "-n", "lab", "STAMP=Makefile"], cwd=ROOT, capture_output=True, text=True).stdout
    import os

    assert ("--allow-root" in mine) == (os.getuid() == 0)
