"""``claim``: a paper's result, stated as inequalities on measured effects, checked seed by seed.

    claim("dropout raises test accuracy", seeds=SEEDS,
          technique=acc_dropout, baseline=acc_plain, each_above=0.0, mean_at_least=0.015)

The effect on each seed is ``technique - baseline`` (``baseline - technique`` with
``higher_is_better=False``). The claim holds when every seed's effect is above ``each_above`` and
their mean is at least ``mean_at_least``. It prints a table (seed, technique, baseline, effect, bound)
and raises :class:`ClaimNotShown` naming the inequality that failed and by how much.

A lesson's ``course.toml`` entry names a *control*: parameter values that switch the technique off
or swap in the baseline. ``python -m course claims`` runs the lesson under it and requires the claim
to fail there, which is what makes the claim a claim. When the environment variable
``COURSE_CLAIMS_LOG`` names a file, each claim appends its result there as one JSON line (the
runner reads it).
"""
import json
import math
import os

from .check import _render_message_only


class ClaimNotShown(AssertionError):
    """The experiment did not show the paper's result; the message says which inequality failed."""

    _render_traceback_ = _render_message_only


def claim(statement, seeds, technique, baseline, *, each_above=0.0, mean_at_least=None,
          higher_is_better=True, names=("technique", "baseline"), digits=3):
    """Check ``statement`` on per-seed measurements; print the table; raise :class:`ClaimNotShown` if not shown.

    ``seeds``, ``technique`` and ``baseline`` are equal-length sequences (one entry per seed, at least 3
    distinct seeds). ``names`` label the two columns. ``each_above=None`` drops the per-seed bound.
    Returns the list of per-seed effects.

    With ``COURSE_CLAIMS_RECORD_ONLY=1`` (the claim runner sets it for a control) a claim that is not
    shown is recorded and printed but does not raise, so that every claim of the lesson meets the control.
    """
    __tracebackhide__ = True
    seeds, technique, baseline = list(seeds), [float(v) for v in technique], [float(v) for v in baseline]
    if not len(seeds) == len(technique) == len(baseline):
        raise ValueError(f"claim: {len(seeds)} seeds but {len(technique)} technique and {len(baseline)} "
                         "baseline values; give one of each per seed")
    if len(set(map(str, seeds))) < 3 or len(set(map(str, seeds))) < len(seeds):
        raise ValueError(f"claim: a claim needs at least 3 distinct seeds, got {seeds}")
    sign = 1.0 if higher_is_better else -1.0
    effects = [sign * (t - b) + 0.0 for t, b in zip(technique, baseline)]  # + 0.0: no "-0.000" effects
    failures = [f"seed {s}: {names[0]} {t}, {names[1]} {b}: not a finite measurement"
                for s, t, b in zip(seeds, technique, baseline) if not (math.isfinite(t) and math.isfinite(b))]
    mean = sum(effects) / len(effects)
    spread = math.sqrt(sum((e - mean) ** 2 for e in effects) / (len(effects) - 1)) if not failures else math.nan
    if each_above is not None:
        failures += [f"seed {s}: effect {e:+.{digits}f} is not above {each_above:+.{digits}f} "
                     f"(short by {each_above - e:.{digits}f})" for s, e in zip(seeds, effects) if not e > each_above]
    if mean_at_least is not None and not mean >= mean_at_least:
        failures.append(f"mean effect {mean:+.{digits}f} is below {mean_at_least:+.{digits}f} "
                        f"(short by {mean_at_least - mean:.{digits}f})")
    print(_table(statement, seeds, technique, baseline, effects, names, each_above, digits, higher_is_better))
    bound = f"  mean effect {mean:+.{digits}f} (sd {spread:.{digits}f} across seeds)"
    if mean_at_least is not None:
        bound += f", bound ≥ {mean_at_least:+.{digits}f}"
    print(bound)
    _record(statement, seeds, effects, mean, each_above, mean_at_least, holds=not failures)
    if failures:
        message = f"✗ not shown: {statement}\n  " + "\n  ".join(failures)
        if os.environ.get("COURSE_CLAIMS_RECORD_ONLY") == "1":
            print(message)
            return effects
        raise ClaimNotShown(message)
    print(f"✓ shown ({len(seeds)} seeds): {statement}")
    return effects


def _table(statement, seeds, technique, baseline, effects, names, each_above, digits, higher_is_better):
    difference = f"{names[0]} − {names[1]}" if higher_is_better else f"{names[1]} − {names[0]}"
    header = ["seed", names[0], names[1], "effect", "bound"]
    above = "" if each_above is None else f"> {each_above:+.{digits}f}"
    rows = [[str(s), f"{t:.{digits}f}", f"{b:.{digits}f}", f"{e:+.{digits}f}", above]
            for s, t, b, e in zip(seeds, technique, baseline, effects)]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [f"claim: {statement}",
             f"  effect = {difference} ({'higher' if higher_is_better else 'lower'} is better); "
             f"> 0 favours {names[0]}",
             "  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(lines)


def _record(statement, seeds, effects, mean, each_above, mean_at_least, holds):
    path = os.environ.get("COURSE_CLAIMS_LOG")
    if not path:
        return
    entry = {"statement": statement, "seeds": [str(s) for s in seeds], "effects": effects, "mean": mean,
             "each_above": each_above, "mean_at_least": mean_at_least, "holds": holds}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(entry) + "\n")
