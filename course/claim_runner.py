"""``python -m course claims [LESSON ...]``: run each lesson's claim as stored, on other seeds, and under its control.

A lesson's knobs sit in its cell tagged ``parameters``; its ``course.toml`` entry says how to re-run it:

    control = { P_HIDDEN = 0.0, P_INPUT = 0.0 }     # switches the technique off: the claim must fail
    other_seeds = [{ SEEDS = [3, 4, 5] }]           # the claim must hold here too

Each run executes the solution notebook with papermill in its own process (one thread each, lessons in
parallel on the available cores). A run with ``claim(...)`` calls appends their results to a log (the
``COURSE_CLAIMS_LOG`` variable); the table shows each claim's mean effect per run. Under a control,
claims record without raising (``COURSE_CLAIMS_RECORD_ONLY=1``), so every claim of the lesson meets
the control and every one must fail there. The exit status is non-zero when a claim fails where it
should hold, a control lets any claim pass, or a run breaks.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

# one thread per run (runs go in parallel), timing cells run once
RUN_ENV = {"MINILIB_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1", "MINILIB_QUICK_TIMING": "1"}


@dataclass
class Run:
    """One execution of a lesson: ``kind`` is 'stored', 'seeds' or 'control'."""

    lesson: str
    kind: str
    parameters: dict
    claims: list = field(default_factory=list)
    error: str = None  # the exception's class name, None when the notebook ran through
    message: str = ""
    seconds: float = 0.0

    @property
    def verdict(self):
        """'ok' when this run came out as it must: its claims hold; under a control, every claim fails."""
        if self.kind == "control":
            if self.error is not None:
                return f"broke: {self.error}"
            if not self.claims:
                return "no claim() ran"
            passed = [c["statement"] for c in self.claims if c["holds"]]
            return f"control passed: {'; '.join(passed)}" if passed else "ok"
        if self.error is None and self.claims:
            return "ok"
        if self.error is None:
            return "no claim() ran"
        return "not shown" if self.error == "ClaimNotShown" else f"broke: {self.error}"


def lessons(root):
    """course.toml's lessons as {"track/NN": entry}, in curriculum order."""
    manifest = tomllib.loads((Path(root) / "course.toml").read_text(encoding="utf-8"))
    return {f"{t['id']}/{lesson['number']:02d}": {**lesson, "track": t["id"]}
            for t in manifest["tracks"] for lesson in t["lessons"]}


def select(root, names):
    """The lessons named (``dropout/10``, ``dropout/10_dropout``, a track ``dropout``, or all when none)."""
    known = lessons(root)
    if not names:
        return known
    chosen = {}
    for name in names:
        name = name.strip("/").removeprefix("solutions/").removesuffix(".py").removesuffix(".ipynb")
        hits = {k: v for k, v in known.items()
                if name in (k, v["track"], f"{k}_{v['slug']}")}
        if not hits:
            raise SystemExit(f"claims: no lesson {name!r} in course.toml; give e.g. dropout/10 or a track "
                             f"({', '.join(sorted({v['track'] for v in known.values()}))})")
        chosen.update(hits)
    return chosen


def planned_runs(key, entry, controls_only=False):
    """The runs for one lesson; none when it has no control yet."""
    if "control" not in entry:
        return []
    runs = [Run(key, "control", dict(entry["control"]))]
    if not controls_only:
        runs = [Run(key, "stored", {})] + [Run(key, "seeds", dict(p)) for p in entry.get("other_seeds", [])] + runs
    return runs


def notebook(root, key, entry):
    return Path(root) / "solutions" / entry["track"] / f"{key.split('/')[1]}_{entry['slug']}.ipynb"


def stale(root, key, entry):
    """A message when the solution's .ipynb (what papermill runs) holds other cells than its .py; else None."""
    from .lessons import pair_in_sync

    path = notebook(root, key, entry)
    if not pair_in_sync(path.with_suffix(".py")):
        return f"{path.relative_to(root)} is older than its .py: run `make execute` first"
    return None


def execute(root, run, entry, timeout=900):
    """Run one lesson with papermill in a subprocess (its own environment and claims log)."""
    path = notebook(root, run.lesson, entry)
    with tempfile.TemporaryDirectory() as tmp:
        log, out = Path(tmp) / "claims.jsonl", Path(tmp) / "out.ipynb"
        env = {**os.environ, **RUN_ENV, "COURSE_CLAIMS_LOG": str(log),
               "COURSE_CLAIMS_RECORD_ONLY": "1" if run.kind == "control" else "0"}
        script = ("import json, sys, papermill as pm\n"
                  "try:\n"
                  "    pm.execute_notebook(sys.argv[1], sys.argv[2], parameters=json.loads(sys.argv[3]),\n"
                  "                        cwd=sys.argv[4], progress_bar=False, kernel_name='python3',\n"
                  "                        language='python')\n"
                  "except pm.PapermillExecutionError as e:\n"
                  "    print(json.dumps({'ename': e.ename, 'evalue': e.evalue}))\n"
                  "    sys.exit(3)\n")
        start = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-c", script, str(path), str(out), json.dumps(run.parameters),
                                   str(path.parent)], env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            run.error, run.message, run.seconds = "Timeout", f"still running after {timeout} s", timeout
            return run
        run.seconds = time.perf_counter() - start
        if proc.returncode == 3:
            failure = json.loads(proc.stdout.strip().splitlines()[-1])
            run.error, run.message = failure["ename"], failure["evalue"]
        elif proc.returncode != 0:
            run.error, run.message = "RunnerError", proc.stderr.strip()[-2000:]
        if log.exists():
            run.claims = [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]
    return run


def run_all(root, chosen, controls_only=False, jobs=None):
    runs = [r for key, entry in chosen.items() for r in planned_runs(key, entry, controls_only)]
    jobs = jobs or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        return list(pool.map(lambda r: execute(root, r, chosen[r.lesson]), runs))


def _effects(run):
    """Each claim's mean effect in this run, '✗' beside one that failed; or what went wrong."""
    if not run.claims:
        return run.verdict
    text = " ".join(f"{c['mean']:+.3f}{'' if c['holds'] else '✗'}" for c in run.claims)
    return text if run.verdict == "ok" or run.kind == "control" else f"{text} ({run.verdict})"


def table(chosen, runs):
    """One row per lesson: each claim's mean effect per run, the control's verdict, seconds; then the claims."""
    rows = [("lesson", "as stored", "other seeds", "control", "seconds")]
    legend = []
    for key in chosen:
        mine = [r for r in runs if r.lesson == key]
        if not mine:
            rows.append((key, "no control in course.toml yet", "", "", ""))
            continue
        stored = [r for r in mine if r.kind == "stored"]
        control = next(r for r in mine if r.kind == "control")
        verdict = f"fails, as it must ({_effects(control)})" if control.verdict == "ok" else control.verdict.upper()
        rows.append((key, " | ".join(map(_effects, stored)),
                     " | ".join(_effects(r) for r in mine if r.kind == "seeds"), verdict,
                     f"{sum(r.seconds for r in mine):.0f}"))
        claims = next((r.claims for r in mine if r.claims), [])
        legend += [f"{key} claim {i}: {c['statement']}" for i, c in enumerate(claims, 1)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    note = "Each cell: the mean effect of each claim, in order (✗: that claim failed); runs separated by |."
    return "\n".join(lines + ["", note, *legend])


def _seed_label(run):
    return ",".join(f"{k}={v}" for k, v in run.parameters.items())


def failures(runs):
    """Lines naming every run that did not come out as it must (empty when all did)."""
    return [f"{r.lesson} [{r.kind} {_seed_label(r)}]: {r.verdict}" + (f" — {r.message.strip()}" if r.message else "")
            for r in runs if r.verdict != "ok"]


def main(root, names, controls_only=False, jobs=None):
    chosen = select(root, names)
    outdated = [m for key, entry in chosen.items() if "control" in entry and (m := stale(root, key, entry))]
    if outdated:
        print("\n".join(f"✗ {m}" for m in outdated), file=sys.stderr)
        return 2
    start = time.perf_counter()
    runs = run_all(root, chosen, controls_only, jobs)
    print(table(chosen, runs))
    problems = failures(runs)
    print(f"\n{len(runs)} runs in {time.perf_counter() - start:.0f} s" + ("" if runs else
          " (no lesson chosen has a control in course.toml)"))
    for line in problems:
        print(f"✗ {line}", file=sys.stderr)
    return 1 if problems else 0
