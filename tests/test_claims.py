"""claim(): the table, the verdict and the log; the claim runner on a tiny course with a good and a bad lesson."""
import json
import math

import nbformat
import pytest

from course import ClaimNotShown, claim
from course import claim_runner as runner
from course.lessons import normalise


def test_claim_prints_a_table_per_seed_and_returns_the_effects(capsys):
    effects = claim("dropout lowers test loss", [0, 1, 2], technique=[0.3, 0.2, 0.4], baseline=[0.5, 0.4, 0.5],
                    higher_is_better=False, mean_at_least=0.1, names=("dropout", "none"))
    out = capsys.readouterr().out
    assert effects == pytest.approx([0.2, 0.2, 0.1])
    assert "claim: dropout lowers test loss" in out and "dropout" in out and "none" in out
    assert "   1    0.200  0.400" in out and "+0.200" in out
    assert "effect = none − dropout (lower is better); > 0 favours dropout" in out
    assert "mean effect +0.167 (sd 0.058 across seeds), bound ≥ +0.100" in out
    assert out.strip().endswith("✓ shown (3 seeds): dropout lowers test loss")


def test_claim_names_the_inequality_that_failed_and_by_how_much(capsys):
    with pytest.raises(ClaimNotShown, match=r"seed 2: effect -0\.050 is not above \+0\.000 \(short by 0\.050\)"):
        claim("x beats y", [0, 1, 2], [1.0, 1.0, 0.95], [0.9, 0.9, 1.0])
    with pytest.raises(ClaimNotShown, match=r"mean effect \+0\.010 is below \+0\.050 \(short by 0\.040\)"):
        claim("x beats y", ["a", "b", "c"], [1.01, 1.01, 1.01], [1.0, 1.0, 1.0], mean_at_least=0.05)
    assert "claim: x beats y" in capsys.readouterr().out, "the table prints before the verdict"


def test_claim_fails_when_the_technique_is_the_baseline():
    """The control in miniature: with the technique switched off every effect is 0, which shows nothing."""
    with pytest.raises(ClaimNotShown):
        claim("x beats y", [0, 1, 2], [0.9, 0.8, 0.7], [0.9, 0.8, 0.7], each_above=-0.1, mean_at_least=0.01)


def test_an_equal_pair_prints_zero_not_minus_zero(capsys):
    """Lower-is-better with equal values is an effect of 0.000, not -0.000 (the sign flip of a zero)."""
    effects = claim("x beats y", [0, 1, 2], [0.5] * 3, [0.5] * 3, each_above=None, higher_is_better=False)
    assert [math.copysign(1, e) for e in effects] == [1, 1, 1]
    assert "-0.000" not in capsys.readouterr().out


@pytest.mark.parametrize("seeds,technique,message", [
    ([0, 1], [1, 1], "at least 3 distinct seeds"),
    ([0, 0, 0], [1, 1, 1], "at least 3 distinct seeds"),
    ([0, 1, 2, 2], [1, 1, 1, 1], "at least 3 distinct seeds"),
    ([0, 1, 2], [1, 1], "one of each per seed"),
])
def test_claim_refuses_too_few_seeds_and_ragged_inputs(seeds, technique, message):
    with pytest.raises(ValueError, match=message):
        claim("x", seeds, technique, [0] * len(seeds))


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_a_diverged_run_shows_nothing(bad):
    """An infinite baseline would make the mean effect +inf: a measurement that is not finite fails the claim."""
    with pytest.raises(ClaimNotShown, match="seed 1: technique 0.5, baseline (inf|nan): not a finite measurement"):
        claim("x beats y", [0, 1, 2], [0.5, 0.5, 0.5], [1.0, bad, 1.0], higher_is_better=False, each_above=None)


def test_record_only_mode_prints_and_records_instead_of_raising(tmp_path, monkeypatch, capsys):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("COURSE_CLAIMS_LOG", str(log))
    monkeypatch.setenv("COURSE_CLAIMS_RECORD_ONLY", "1")
    claim("b", [0, 1, 2], [1, 1, 1], [1, 1, 1])
    assert "✗ not shown: b" in capsys.readouterr().out
    assert json.loads(log.read_text())["holds"] is False


def test_claim_appends_its_result_to_the_log(tmp_path, monkeypatch):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("COURSE_CLAIMS_LOG", str(log))
    claim("a", [0, 1, 2], [2, 2, 2], [1, 1, 1])
    with pytest.raises(ClaimNotShown):
        claim("b", [0, 1, 2], [1, 1, 1], [1, 1, 1])
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(e["statement"], e["holds"], e["mean"]) for e in entries] == [("a", True, 1.0), ("b", False, 0.0)]


# A tiny course: lesson 00's claim depends on its switch; lesson 01's does not, so its control passes.
LESSON = """# %% [markdown]
# # demo

# %% tags=["parameters"]
SEEDS = [0, 1, 2]
ON = True

# %%
from course import claim

gain = ({switch})
_ = claim("the switch helps", SEEDS, [1.0 + gain + 0.01 * s for s in SEEDS], [1.0 + 0.01 * s for s in SEEDS])

# %%
_ = claim("a second claim", SEEDS, [1.0 + ({second}) for s in SEEDS], [1.0 for s in SEEDS])
"""

MANIFEST = """[course]
title = "demo"

[[tracks]]
id = "demo"
title = "Demo"

[[tracks.lessons]]
number = 0
slug = "good"
control = {{ ON = false }}
other_seeds = [{{ SEEDS = [3, 4, 5] }}]

[[tracks.lessons]]
number = 1
slug = "bad"
control = {{ ON = false }}

[[tracks.lessons]]
number = 2
slug = "unconverted"

[[tracks.lessons]]
number = 3
slug = "second"
control = {{ ON = false }}
"""


@pytest.fixture(scope="module")
def tiny_course(tmp_path_factory):
    import jupytext

    root = tmp_path_factory.mktemp("course")
    (root / "course.toml").write_text(MANIFEST.format())
    (root / "solutions" / "demo").mkdir(parents=True)
    on = "0.5 if ON else 0.0"
    for name, switch, second in (("00_good", on, on), ("01_bad", "0.5", on), ("02_unconverted", "0.5", on),
                                 ("03_second", on, "0.5")):
        text = LESSON.format(switch=switch, second=second)
        (root / "solutions" / "demo" / f"{name}.py").write_text(text)
        nbformat.write(normalise(jupytext.reads(text, fmt="py:percent")), root / "solutions" / "demo" / f"{name}.ipynb")
    return root


@pytest.mark.no_cover
def test_runner_runs_stored_seeds_and_control_and_flags_a_control_that_passes(tiny_course, capsys):
    status = runner.main(tiny_course, ["demo"], jobs=2)
    out, err = capsys.readouterr()
    assert status == 1, "lesson 01's control lets its claim pass: the runner must fail"
    rows = {line.split()[0]: line for line in out.splitlines()
            if line.startswith("demo/") and line.split()[1] != "claim"}
    assert "fails, as it must (+0.000✗ +0.000✗)" in rows["demo/00"]
    assert rows["demo/00"].count("+0.500 +0.500") == 2  # stored and SEEDS=[3,4,5]
    assert "CONTROL PASSED" in rows["demo/01"]
    assert "no control in course.toml yet" in rows["demo/02"]
    assert "CONTROL PASSED: A SECOND CLAIM" in rows["demo/03"], "every claim must meet the control, not the first"
    assert "demo/00 claim 1: the switch helps" in out and "demo/00 claim 2: a second claim" in out
    assert "demo/01 [control ON=False]: control passed: the switch helps" in err and "demo/00" not in err


@pytest.mark.no_cover
def test_runner_controls_only_passes_for_a_good_lesson(tiny_course, capsys):
    assert runner.main(tiny_course, ["demo/00"], controls_only=True) == 0
    assert "1 runs in" in capsys.readouterr().out


def test_runner_refuses_a_notebook_older_than_its_py(tiny_course, capsys):
    py = tiny_course / "solutions" / "demo" / "00_good.py"
    text = py.read_text()
    py.write_text(text.replace("# # demo", "# # demo, edited"))
    try:
        assert runner.main(tiny_course, ["demo/00"]) == 2
    finally:
        py.write_text(text)
    assert "solutions/demo/00_good.ipynb is older than its .py: run `make execute` first" in capsys.readouterr().err


def test_runner_names_what_it_does_not_know(tiny_course):
    with pytest.raises(SystemExit, match="no lesson 'demo/07'.*give e.g. dropout/10 or a track \\(demo\\)"):
        runner.select(tiny_course, ["demo/07"])
    assert list(runner.select(tiny_course, ["solutions/demo/00_good.py"])) == ["demo/00"]
