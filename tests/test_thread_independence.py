"""A training lesson prints the same on one thread as on two (minilib's row threads and BLAS's).

`make test` runs every kernel on one thread, a teacher's plain `pytest --nbval` on all of them;
both compare with the same stored outputs, so those outputs must not depend on the thread count.
(nbval itself compares the one-thread run with the stored outputs.)
"""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSON = ROOT / "solutions" / "dropout" / "10_dropout.ipynb"


def _printed(nb):
    """What nbval compares: text of every output of every cell not tagged nbval-ignore-output.

    A cell's stream text is joined first: how a kernel cuts stdout into chunks depends on timing (a
    loaded machine flushes more often), not on what was printed, and nbval joins them too.
    """
    out = []
    for cell in nb.cells:
        if cell["cell_type"] != "code" or "nbval-ignore-output" in cell["metadata"].get("tags", []):
            continue
        streams = "".join(o.get("text", "") for o in cell.get("outputs", []) if o["output_type"] == "stream")
        out.append(streams)
        for o in cell.get("outputs", []):
            if o["output_type"] != "stream":
                out.append(o.get("data", {}).get("text/plain") or o.get("ename"))
    return out


def _run(threads, monkeypatch, tmp_path):
    """Lesson 10 on three seeds (papermill's parameters), each process on ``threads`` threads."""
    import papermill

    for var in ("MINILIB_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        monkeypatch.setenv(var, str(threads))
    monkeypatch.setenv("MINILIB_QUICK_TIMING", "1")
    nb = papermill.execute_notebook(LESSON, tmp_path / f"{threads}.ipynb", parameters={"SEEDS": [0, 1, 2]},
                                    cwd=LESSON.parent, kernel_name="python3", progress_bar=False)
    return _printed(nb)


@pytest.mark.no_cover
def test_lesson_10_prints_the_same_on_one_and_two_threads(monkeypatch, tmp_path):
    one, two = _run(1, monkeypatch, tmp_path), _run(2, monkeypatch, tmp_path)
    assert any("claim: dropout lowers the test cross-entropy" in (t or "") for t in one), "the claim ran"
    assert one == two, "the printed results depend on the thread count"
