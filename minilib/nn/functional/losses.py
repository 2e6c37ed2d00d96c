"""Losses: cross_entropy (fused), nll, mse, binary cross-entropy, KL divergence."""
import numpy as np

from ..._threads import over_rows
from ...ops._common import make, require_float, same_dtype
from ...tensor import Tensor
from .activations import softplus


def _reduce(loss, reduction, op):
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _classes_last(a):
    """(N, C, d1, ...) -> (N*d1*..., C); (C,) -> (1, C)."""
    if a.ndim <= 2:
        return a.reshape(-1, a.shape[-1])
    return np.moveaxis(a, 1, -1).reshape(-1, a.shape[1])


def _check_ce_target(x, t, op):
    if t.dtype.kind == "f":
        if t.shape != x.shape:
            raise ValueError(f"{op}: probability targets must have the input's shape {tuple(x.shape)}, "
                             f"got {tuple(t.shape)}")
        return "probs"
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold int64 class indices or float probabilities, got dtype {t.dtype}")
    expected = x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()
    if t.shape != expected:
        raise ValueError(f"{op}: input of shape {tuple(x.shape)} (N, C, ...) needs class-index targets of shape "
                         f"{tuple(expected)}, got {tuple(t.shape)}")
    return "indices"


def cross_entropy(input, target, weight=None, ignore_index=-100, reduction="mean",  # noqa: A002
                  label_smoothing=0.0):
    """Softmax cross-entropy of logits (N, C, ...) against class indices (N, ...) or probabilities.

    ``label_smoothing`` mixes the target with the uniform distribution over the C classes.
    Forward and backward are fused. Per item, with q the (smoothed, weighted) target,
    loss = -sum_c q_c log p_c and d loss / d logits = p * sum_c q_c - q.
    """
    require_float(input, "cross_entropy")
    x = input.data
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    kind = _check_ce_target(x, t, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    n_classes = x.shape[1] if x.ndim > 1 else x.shape[0]
    same_dtype("cross_entropy", input, weight=weight)
    w = None if weight is None else weight.data
    logits = _classes_last(x)
    probs, top, lse_rel = _softmax_rows(logits)
    eps = label_smoothing
    if kind == "indices":
        per_item, denom, q_total, subtract_q = _ce_indices(logits, top, lse_rel, t, w, eps, ignore_index,
                                                           n_classes)
    else:
        logp = logits - top[:, None]
        logp -= lse_rel[:, None]
        q = _classes_last(t) * (1 - eps) + eps / n_classes
        q = q if w is None else q * w
        per_item = -np.einsum("ij,ij->i", q, logp)
        denom, q_total = float(len(q)), q.sum(axis=1)

        def subtract_q(d, gi):
            d -= q * gi[:, None]
    out_shape = (x.shape[:1] + x.shape[2:]) if x.ndim > 1 else ()
    if reduction == "none":
        out, scale = per_item.reshape(out_shape), None
    else:
        total = per_item.sum()
        out, scale = np.asarray(total if reduction == "sum" else total / denom), (
            1.0 if reduction == "sum" else 1.0 / denom)

    def backward(g):
        gi = g.reshape(-1) if scale is None else np.full(len(probs), g * scale, dtype=probs.dtype)
        dlogits = probs * (q_total * gi)[:, None]
        subtract_q(dlogits, gi)
        dtarget = None
        if kind == "probs" and target._requires_grad:  # soft targets can be learned too
            dtarget = _classes_first(-(1 - eps) * (1 if w is None else w) * logp * gi[:, None], x.shape)
            dtarget = dtarget.astype(t.dtype, copy=False)
        return _classes_first(dlogits.astype(x.dtype, copy=False), x.shape), dtarget

    inputs = (input, target if kind == "probs" and isinstance(target, Tensor) else None)
    saved = tuple(s for s in (target, weight) if isinstance(s, Tensor) and (s is weight or kind == "indices"))
    out_dtype = np.result_type(x.dtype, t.dtype) if kind == "probs" else x.dtype  # torch promotes soft targets
    return make(out.astype(out_dtype, copy=False), inputs, backward, "CrossEntropy", saved=saved)


def _softmax_rows(logits):
    """Row-wise softmax of (R, C) logits, the row max m and log(sum exp(x - m)), rows split across cores.

    log p_c = (x_c - m) - lse_rel: computed in that order it stays exact where p_c is near 1.
    """
    probs = np.empty_like(logits)
    top, lse_rel = np.empty(len(logits), dtype=logits.dtype), np.empty(len(logits), dtype=logits.dtype)

    def kernel(a, b):
        out, row_max = probs[a:b], logits[a:b].max(axis=1)
        np.subtract(logits[a:b], row_max[:, None], out=out)
        np.exp(out, out=out)
        total = out.sum(axis=1)
        top[a:b], lse_rel[a:b] = row_max, np.log(total)
        out /= total[:, None]

    over_rows(kernel, len(logits), logits.size)
    return probs, top, lse_rel


def _ce_indices(logits, top, lse_rel, t, w, eps, ignore_index, n_classes):
    """Per-item loss for class-index targets, the mean's denominator, sum_c q_c, and q's subtraction."""
    tf = t.reshape(-1)
    valid = tf != ignore_index
    safe = tf if valid.all() else np.where(valid, tf, 0)  # ignored items point at class 0, harmlessly
    if safe.size and (safe.min() < 0 or safe.max() >= n_classes):
        bad = safe[(safe < 0) | (safe >= n_classes)][0]
        raise IndexError(f"cross_entropy: target {bad} is out of bounds; expected class indices in "
                         f"[0, {n_classes}) or ignore_index={ignore_index}")
    rows = np.arange(len(tf))
    w_t = valid.astype(logits.dtype) if w is None else w[safe] * valid
    logp_t = (logits[rows, safe] - top) - lse_rel
    per_item = -(1 - eps) * w_t * logp_t
    q_total = (1 - eps) * w_t
    w_all = np.ones(n_classes, dtype=logits.dtype) if w is None else w
    if eps:
        smooth = (eps / n_classes) * ((top + lse_rel) * w_all.sum() - logits @ w_all)  # -sum_c w_c log p_c
        per_item = per_item + smooth * valid
        q_total = q_total + (eps / n_classes) * w_all.sum() * valid

    def subtract_q(d, gi):
        """d -= q * gi, with q = (1 - eps) w_t one_hot(t) + (eps / C) w for valid items."""
        d[rows, safe] -= (1 - eps) * w_t * gi
        if eps:
            d -= np.outer(gi * valid, (eps / n_classes) * w_all)

    return per_item, w_t.sum(), q_total, subtract_q


def _classes_first(a, shape):
    """Inverse of :func:`_classes_last`: (N*d1*..., C) -> (N, C, d1, ...)."""
    if len(shape) <= 2:
        return a.reshape(shape)
    return np.moveaxis(a.reshape(shape[:1] + shape[2:] + shape[1:2]), -1, 1)


def nll_loss(input, target, weight=None, ignore_index=-100, reduction="mean"):  # noqa: A002
    """Negative log-likelihood of log-probabilities (N, C, ...) at class indices (N, ...)."""
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if _check_ce_target(input.data, t, "nll_loss") == "probs":
        raise TypeError("nll_loss: target must hold class indices (int64); for probabilities use cross_entropy")
    n_classes = input.shape[1] if input.ndim > 1 else input.shape[0]
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    if valid.any() and (safe[valid].min() < 0 or safe[valid].max() >= n_classes):
        raise IndexError(f"nll_loss: target values must be in [0, {n_classes}) or ignore_index={ignore_index}, "
                         f"got min {safe[valid].min()} max {safe[valid].max()}")
    same_dtype("nll_loss", input, weight=weight)
    w = np.ones(n_classes, dtype=input.data.dtype) if weight is None else weight.data
    wt = Tensor._wrap((w[safe] * valid).astype(input.data.dtype))
    batched = input if input.ndim > 1 else input.unsqueeze(0)
    index = Tensor._wrap(np.expand_dims(safe if input.ndim > 1 else safe[None], 1))
    picked = batched.gather(1, index).squeeze(1)
    loss = -(picked if input.ndim > 1 else picked.squeeze(0)) * wt
    if reduction == "mean":
        return loss.sum() / wt.sum()
    return _reduce(loss, reduction, "nll_loss")


def mse_loss(input, target, reduction="mean"):  # noqa: A002
    _same_shape(input, target, "mse_loss")
    return _reduce((input - target) ** 2, reduction, "mse_loss")


def l1_loss(input, target, reduction="mean"):  # noqa: A002
    _same_shape(input, target, "l1_loss")
    return _reduce((input - target).abs(), reduction, "l1_loss")


def _same_shape(a, b, op):
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{op}: input shape {tuple(a.shape)} and target shape {tuple(b.shape)} differ; "
                         "they must match (no silent broadcasting)")


def binary_cross_entropy(input, target, weight=None, reduction="mean"):  # noqa: A002
    """-(t log p + (1 - t) log(1 - p)) for probabilities p; logs clamped at -100 as in torch."""
    _same_shape(input, target, "binary_cross_entropy")
    same_dtype("binary_cross_entropy", input, target=target)
    p = input.data
    if p.size and (p.min() < 0 or p.max() > 1):
        raise ValueError("binary_cross_entropy: input must hold probabilities in [0, 1]; "
                         "for logits use binary_cross_entropy_with_logits")
    loss = -(target * input.log().clamp(min=-100) + (1 - target) * (1 - input).log().clamp(min=-100))
    if weight is not None:  # torch casts the weight to the input's dtype here (its result stays the input's dtype)
        loss = loss * weight.to(input.dtype)
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input, target, weight=None, reduction="mean",  # noqa: A002
                                     pos_weight=None):
    """BCE on logits, computed stably: (1 - t) x + (1 + (pw - 1) t) softplus(-x)."""
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    log_weight = 1 if pos_weight is None else 1 + (pos_weight - 1) * target
    loss = (1 - target) * input + log_weight * softplus(-input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def kl_div(input, target, reduction="mean", log_target=False):  # noqa: A002
    """KL(target || exp(input)) pointwise: target * (log target - input); 'batchmean' divides by N."""
    if log_target:
        loss = target.exp() * (target - input)
    else:
        from ...ops.pointwise import where

        positive = Tensor._wrap(target.data > 0)
        loss = where(positive, target * where(positive, target, 1.0).log(), 0.0) - target * input
    if reduction == "batchmean":
        return loss.sum() / (input.shape[0] if input.ndim else 1)
    return _reduce(loss, reduction, "kl_div")


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    num = (x1 * x2).sum(dim)
    return num / (x1.norm(dim=dim).clamp(min=eps) * x2.norm(dim=dim).clamp(min=eps))


def normalize(x, p=2.0, dim=1, eps=1e-12):
    return x / x.norm(p, dim, keepdim=True).clamp(min=eps).expand_as(x)
