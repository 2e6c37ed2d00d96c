"""References and checks for the softmax track (lessons 20-28).

A lesson's check cell shows a call, ``check_mos_log_probs(mos_log_probs)``, not the reference: the
reference lives here, and each check is tested against plausible wrong implementations
(``tests/test_wrong_code_softmax.py``). Hints name the idea, never the line of code.
"""
import numpy as np

import minilib as ml
import minilib.nn.functional as F

from .check import check, expect, near

# lesson 27: the softmax bottleneck


def singular_values(matrix):
    """The singular values of a 2-D tensor or array, largest first (numpy's SVD, in float64)."""
    return np.linalg.svd(np.asarray(matrix, np.float64), compute_uv=False)


def reference_numerical_rank(matrix, rtol=1e-5):
    """The number of singular values of a 2-D matrix above ``rtol`` times the largest one."""
    s = singular_values(matrix)
    return int((s > rtol * s[0]).sum())


def reference_mos_log_probs(h, w, prior, projections):
    """log sum_k pi_k softmax(tanh(h U_k) W^T), computed in log space: logsumexp_k (log pi_k + log_softmax_k),
    so that large logits give finite log-probabilities (the log of a sum of underflowed probabilities is -inf)."""
    log_pi = F.log_softmax(h @ prior, -1)  # (N, K)
    parts = [log_pi[:, k:k + 1] + F.log_softmax((h @ projections[k]).tanh() @ w.T, -1)
             for k in range(prior.shape[1])]
    return ml.stack(parts, 0).logsumexp(0)


def reference_mol_log_probs(h, w, prior, projections):
    """log_softmax of a mixture of logits: one softmax of sum_k pi_k tanh(h U_k) W^T."""
    pi = F.softmax(h @ prior, -1)
    logits = 0
    for k in range(prior.shape[1]):
        logits = logits + pi[:, k:k + 1] * ((h @ projections[k]).tanh() @ w.T)
    return F.log_softmax(logits, -1)


# Two sets of shapes (h, w, prior, projections): N contexts, V words, d dimensions, K components, all
# different, so that a softmax over the wrong axis or a transposed weight shows.
_MIXTURE_SHAPES = [((6, 4), (9, 4), (4, 3), (3, 4, 4)), ((5, 3), (7, 3), (3, 2), (2, 3, 3))]


def _large_logits():
    """Inputs whose word logits reach about ±100: probabilities below float32's range for most words."""
    rng = np.random.default_rng(1)
    h, w, prior, proj = (rng.standard_normal(s).astype(np.float32) for s in _MIXTURE_SHAPES[0])
    return h, 30 * w, prior, proj


def check_numerical_rank(numerical_rank):
    """``numerical_rank(matrix, rtol)``: counts singular values relative to the largest, on matrices of
    known rank (float64 and float32, any scale) and at two tolerances."""
    def probe():
        g = ml.Generator().manual_seed(0)
        ranks, ranks32 = {}, {}
        for d in (1, 3, 8):
            h = ml.randn(60, d, generator=g, dtype=ml.float64)
            w = ml.randn(40, d, generator=g, dtype=ml.float64)
            ranks[d] = (numerical_rank(h @ w.T), numerical_rank(F.log_softmax(h @ w.T, -1)))
            h32, w32 = ml.randn(60, d, generator=g), ml.randn(40, d, generator=g)
            ranks32[d] = numerical_rank(F.log_softmax(h32 @ w32.T, -1))
        spectrum = ml.tensor(np.diag([1e3, 1.0, 1e-3, 1e-6]))  # relative to the largest: 1, 1e-3, 1e-6, 1e-9
        # 20 singular values of 1, then 3e-5 and 0.95e-5: relative to the largest one the rank at rtol 1e-5 is
        # 21; relative to their sum, their norm or their mean it is not.
        q, _ = np.linalg.qr(np.random.default_rng(2).standard_normal((30, 22)))
        flat = ml.tensor(q * np.r_[np.ones(20), 3e-5, 0.95e-5] @ np.linalg.qr(np.random.default_rng(3).standard_normal(
            (22, 22)))[0].T)
        tall = ml.tensor(np.random.default_rng(0).standard_normal((50, 3)) @ np.diag([1e-7, 2e-7, 3e-7]))
        return {"an int": isinstance(numerical_rank(ml.eye(7)), (int, np.integer)),
                "the identity has full rank": numerical_rank(ml.eye(7)) == 7,
                "a tiny matrix still has full rank (the tolerance is relative)": numerical_rank(tall) == 3,
                "diag(1e3, 1, 1e-3, 1e-6) has rank 3 at rtol 1e-8 and 2 at rtol 1e-5":
                    numerical_rank(spectrum, rtol=1e-8) == 3 and numerical_rank(spectrum, rtol=1e-5) == 2,
                "twenty equal singular values, then 3e-5 and 0.95e-5: rank 21 at rtol 1e-5":
                    numerical_rank(flat, rtol=1e-5) == 21,
                "logits HW^T have rank d": all(r[0] == d for d, r in ranks.items()),
                "log-probabilities have rank d + 1": all(r[1] == d + 1 for d, r in ranks.items()),
                "in float32 too, at the default rtol": all(r == d + 1 for d, r in ranks32.items())}

    expect("numerical_rank", probe, hint="count the singular values that are large compared with the largest "
                                         "one, rtol being that fraction")


def check_mos_log_probs(mos_log_probs):
    """``mos_log_probs(h, w, prior, projections)`` against :func:`reference_mos_log_probs`, values and
    gradients of all four inputs, on two sets of shapes and on logits large enough that mixing
    probabilities outside log space gives -inf."""
    hint = ("mix probabilities, then take the log: each component is a softmax over the vocabulary, the "
            "mixture weights are a softmax over the K components; mixing in log space needs logsumexp")
    for shapes in _MIXTURE_SHAPES:
        n, v, k = shapes[0][0], shapes[1][0], shapes[2][1]
        check(f"mos_log_probs, N = {n}, V = {v}, K = {k}", mos_log_probs, reference_mos_log_probs, *shapes,
              hint=hint)
    check("mos_log_probs with logits near ±100", mos_log_probs, reference_mos_log_probs, *_large_logits(),
          atol=1e-4, hint=hint + " (a probability that underflows to 0 has log -inf; its log never does)")


def check_mol_log_probs(mol_log_probs):
    """``mol_log_probs(h, w, prior, projections)`` against :func:`reference_mol_log_probs`, values and
    gradients of all four inputs, on two sets of shapes."""
    for shapes in _MIXTURE_SHAPES:
        n, v, k = shapes[0][0], shapes[1][0], shapes[2][1]
        check(f"mol_log_probs, N = {n}, V = {v}, K = {k}", mol_log_probs, reference_mol_log_probs, *shapes,
              hint="the same weights and component contexts as the mixture of softmaxes, but they mix the logits; "
                   "a single softmax over the vocabulary comes after the mixing")


# lesson 24: label smoothing


def reference_smoothed_targets(y, classes, eps):
    """(B, K) soft targets: 1 - eps + eps/K on the true class, eps/K on every other one (Szegedy et al.)."""
    return F.one_hot(y, classes).float() * (1 - eps) + eps / classes


def reference_smoothed_cross_entropy(logits, y, eps):
    """minilib's own cross-entropy with ``label_smoothing=eps``: logits (B, K), labels y (B,), mean over B."""
    return F.cross_entropy(logits, y, label_smoothing=eps)


def reliability_bins(probs, y, bins=15):
    """Per confidence bin b = ceil(conf * bins) - 1 (bins of equal width, right edge included):
    (count, mean confidence, accuracy), three float64 arrays of length ``bins`` (NaN where a bin is empty).
    probs (N, K) predicted distributions, y (N,) labels; one loop over the bins, written for reading."""
    p, y = np.asarray(probs, np.float64), np.asarray(y)
    confidence, correct = p.max(1), p.argmax(1) == y
    index = np.clip(np.ceil(confidence * bins).astype(int), 1, bins) - 1
    count, mean_confidence, accuracy = np.zeros(bins), np.full(bins, np.nan), np.full(bins, np.nan)
    for b in range(bins):
        inside = index == b
        count[b] = inside.sum()
        if inside.any():
            mean_confidence[b], accuracy[b] = confidence[inside].mean(), correct[inside].mean()
    return count, mean_confidence, accuracy


def reference_expected_calibration_error(probs, y, bins=15):
    """sum_b n_b / N * |accuracy_b - mean confidence_b| over the bins of :func:`reliability_bins`."""
    count, confidence, accuracy = reliability_bins(probs, y, bins)
    full = count > 0
    return float((count[full] / count.sum() * np.abs(accuracy[full] - confidence[full])).sum())


def _temperature_nll(z, y, log_t):
    """Mean NLL of softmax(z / exp(log_t)) against y, float64."""
    s = z / np.exp(log_t)
    s = s - s.max(1, keepdims=True)
    return float((np.log(np.exp(s).sum(1)) - s[np.arange(len(y)), y]).mean())


def reference_fit_temperature(logits, y):
    """The T > 0 minimising the mean NLL of softmax(logits / T) (Guo et al.'s temperature scaling), by a
    golden-section search on log T in [log 0.01, log 100] in float64 (the NLL is convex in 1/T)."""
    z, y = np.asarray(logits, np.float64), np.asarray(y)
    lo, hi, ratio = np.log(0.01), np.log(100.0), (np.sqrt(5) - 1) / 2
    for _ in range(80):
        a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
        if _temperature_nll(z, y, a) < _temperature_nll(z, y, b):
            hi = b
        else:
            lo = a
    return float(np.exp((lo + hi) / 2))


def check_smoothed_targets(smoothed_targets):
    """``smoothed_targets(y, classes, eps)`` against :func:`reference_smoothed_targets`, at two K and two eps."""
    for classes, eps, labels in ((5, 0.1, [2, 0, 1, 4, 4]), (7, 0.3, [6, 3, 3, 0])):
        y = ml.tensor(labels)
        check(f"smoothed_targets, K = {classes}, eps = {eps}", lambda y=y, c=classes, e=eps: smoothed_targets(y, c, e),
              lambda y=y, c=classes, e=eps: reference_smoothed_targets(y, c, e), grad=False,
              hint="every class gets an equal share eps / K of the mass taken from the true class; "
                   "each row is still a distribution")


def check_smoothed_cross_entropy(smoothed_cross_entropy):
    """``smoothed_cross_entropy(logits, y, eps)`` against minilib's cross-entropy with label smoothing,
    values and gradients, at two K and two eps (eps = 0 included: plain cross-entropy)."""
    for classes, eps, labels in ((5, 0.1, [2, 0, 1, 4, 4]), (7, 0.3, [6, 3, 3, 0]), (4, 0.0, [1, 3, 0])):
        y = ml.tensor(labels)
        check(f"smoothed_cross_entropy, K = {classes}, eps = {eps}",
              lambda z, y=y, e=eps: smoothed_cross_entropy(z, y, e),
              lambda z, y=y, e=eps: reference_smoothed_cross_entropy(z, y, e), (len(labels), classes),
              hint="the cross-entropy against a distribution sums over the classes, then averages over the batch; "
                   "log-probabilities come from a numerically safe log of the softmax")


def check_expected_calibration_error(expected_calibration_error):
    """``expected_calibration_error(probs, y, bins)`` against :func:`reference_expected_calibration_error`,
    on random predictions, on mostly right ones (gaps of both signs) at 15 and 10 bins, on overconfident ones, and on
    one-hot ones (confidence exactly 1)."""
    def probe():
        g = ml.Generator().manual_seed(0)
        probs = ml.randn(300, 4, generator=g).mul(2).softmax(-1)
        labels = ml.randint(0, 4, (300,), generator=g)
        sharp = ml.randn(200, 6, generator=g).mul(6).softmax(-1)
        sharp_labels = ml.randint(0, 6, (200,), generator=g)
        one_hot = F.one_hot(ml.tensor([0, 1, 2, 2, 1]), 3).float()
        # labels mostly the top class: unsure bins are underconfident, sure ones overconfident (gaps of both signs)
        mixed = ml.randn(400, 5, generator=g).mul(1.5).softmax(-1)
        guesses = ml.randint(0, 5, (400,), generator=g)
        mostly_right = ml.where(ml.rand(400, generator=g) < 0.85, mixed.argmax(-1), guesses)
        cases = {"random predictions, 15 bins": (probs, labels, 15),
                 "mostly right predictions, 15 bins": (mixed, mostly_right, 15),
                 "mostly right predictions, 10 bins": (mixed, mostly_right, 10),
                 "overconfident predictions": (sharp, sharp_labels, 15),
                 "one-hot predictions (3 of 5 right)": (one_hot, ml.tensor([0, 1, 0, 2, 0]), 15)}
        out = {"a Python float": isinstance(expected_calibration_error(probs, labels, 15), float)}
        for name, (p, y, bins) in cases.items():
            out[f"{name}: the reference's ECE"] = near(expected_calibration_error(p, y, bins),
                                                       reference_expected_calibration_error(p, y, bins), 1e-5)
        return out

    expect("expected_calibration_error", probe,
           hint="bin by the top probability; in each bin compare the accuracy with the mean confidence, take the "
                "absolute gap per bin (not per prediction), and weight it by the fraction of predictions in the bin")


def check_fit_temperature(fit_temperature):
    """``fit_temperature(logits, y)``: the temperature minimising the NLL, within 2%, on overconfident logits
    (T > 1) and underconfident ones (T < 1); scaling the logits by 3 scales T by 3."""
    def probe():
        g = ml.Generator().manual_seed(0)
        y = ml.randint(0, 5, (400,), generator=g)
        clean = ml.randn(400, 5, generator=g) + 2 * F.one_hot(y, 5).float()  # about 75% right
        confident, timid = clean * 4, clean * 0.4
        t_confident, t_timid, t_scaled = (fit_temperature(z, y) for z in (confident, timid, confident * 3))
        want = reference_fit_temperature(confident, y)
        return {"a Python float": isinstance(t_confident, float),
                "overconfident logits: the NLL's minimiser (T > 1), within 2%": near(t_confident / want, 1, 0.02),
                "underconfident logits: the NLL's minimiser (T < 1), within 2%":
                    near(t_timid / reference_fit_temperature(timid, y), 1, 0.02),
                "logits 3 times larger: a temperature 3 times larger": near(t_scaled / (3 * t_confident), 1, 0.02)}

    expect("fit_temperature", probe,
           hint="the logits are divided by T before the softmax; T is chosen by the likelihood of the labels "
                "(not by accuracy, which T cannot change), and it must stay positive; the temperatures in this check "
                "range from about 0.2 to 6: make sure the search reaches them and has converged")
