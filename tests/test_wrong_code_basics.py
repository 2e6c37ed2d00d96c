"""The basics track's checks against plausible wrong code: each must raise CheckFailed, the right code must pass.

One entry per mistake a learner makes; a check that lets one through is a check that teaches nothing. Right
answers written another way (a loop over kernel offsets, width unfolded first, a crop and a reshape) must pass.
"""
import pytest

import minilib.nn.functional as F
import minilib.nn.functional as _minilib_F
from course import CheckFailed
from course.basics import check_avg_pool2d_windows, check_conv2d_windows, check_max_pool2d_windows

# lesson 02: conv2d_windows(x, weight, bias=None, stride=1, padding=0, F=F)


def conv2d_windows(x, weight, bias=None, stride=1, padding=0, F=F, window_order=(0, 2, 3, 1, 4, 5),
                   pad=True, use_stride=True, flip=False, kernel_order=None):
    """The lesson's solution, with switches that each turn one of its steps wrong."""
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    if flip:
        weight = weight.flip(2, 3)
    if kernel_order is not None:
        weight = weight.permute(*kernel_order)
    if padding and pad:
        x = F.pad(x, (padding, padding, padding, padding))
    step = stride if use_stride else 1
    windows = x.unfold(2, kh, step).unfold(3, kw, step)
    ho, wo = windows.shape[2], windows.shape[3]
    rows = windows.permute(*window_order).reshape(n * ho * wo, c * kh * kw)
    out = (rows @ weight.reshape(o, c * kh * kw).T).reshape(n, ho, wo, o).permute(0, 3, 1, 2)
    return out if bias is None else out + bias.reshape(1, o, 1, 1)


def conv_wrong(**switches):
    return lambda x, weight, bias=None, stride=1, padding=0, F=F: conv2d_windows(
        x, weight, bias, stride, padding, F, **switches)


def conv_no_output_permute(x, weight, bias=None, stride=1, padding=0, F=F):
    """Reshapes the (N·Ho·Wo, O) product straight to (N, O, Ho, Wo): right shape, scrambled values."""
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    x = F.pad(x, (padding,) * 4) if padding else x
    windows = x.unfold(2, kh, stride).unfold(3, kw, stride)
    ho, wo = windows.shape[2], windows.shape[3]
    rows = windows.permute(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kh * kw)
    out = (rows @ weight.reshape(o, c * kh * kw).T).reshape(n, o, ho, wo)
    return out if bias is None else out + bias.reshape(1, o, 1, 1)


def conv_bias_not_reshaped(x, weight, bias=None, stride=1, padding=0, F=F):
    """Adds the (O,) bias as it is: it broadcasts along the last axis, the width, not the channels."""
    out = conv2d_windows(x, weight, None, stride, padding, F)
    return out if bias is None else out + bias


WRONG_CONVS = {
    "windows not permuted (channels mixed with positions)": conv_wrong(window_order=(0, 1, 2, 3, 4, 5)),
    "window numbers ordered (kh, kw, C), kernel (C, kh, kw)": conv_wrong(window_order=(0, 2, 3, 4, 5, 1)),
    "kernel rows and columns swapped": conv_wrong(window_order=(0, 2, 3, 1, 5, 4)),
    "no padding": conv_wrong(pad=False),
    "stride ignored": conv_wrong(use_stride=False),
    "a true convolution (kernel flipped)": conv_wrong(flip=True),
    "no output permute": conv_no_output_permute,
    "bias ignored": lambda x, weight, bias=None, stride=1, padding=0, F=F: conv2d_windows(
        x, weight, None, stride, padding, F),
    "bias along the width, not the channels": conv_bias_not_reshaped,
    "padding hard-coded to 1": lambda x, weight, bias=None, stride=1, padding=0, F=F: conv2d_windows(
        x, weight, bias, stride, min(padding, 1), F),
    "pads with minilib whatever F it is given": lambda x, weight, bias=None, stride=1, padding=0, F=F:
        conv2d_windows(x, weight, bias, stride, padding, _minilib_F),
    "cuts the gradient": lambda x, weight, bias=None, stride=1, padding=0, F=F: conv2d_windows(
        x.detach(), weight, bias, stride, padding, F),
}


def conv_by_offsets(x, weight, bias=None, stride=1, padding=0, F=F):
    """A right answer without unfold: one strided slice of the input per kernel offset, summed."""
    o, c, kh, kw = weight.shape
    x = F.pad(x, (padding,) * 4) if padding else x
    ho, wo = (x.shape[2] - kh) // stride + 1, (x.shape[3] - kw) // stride + 1
    out = 0
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride]  # (N, C, Ho, Wo)
            out = out + (patch.permute(0, 2, 3, 1) @ weight[:, :, i, j].T).permute(0, 3, 1, 2)
    return out if bias is None else out + bias.reshape(1, o, 1, 1)


def conv_width_first(x, weight, bias=None, stride=1, padding=0, F=F):
    """A right answer that unfolds the width first and orders the kernel to match the windows."""
    n, c = x.shape[:2]
    o, _, kh, kw = weight.shape
    x = F.pad(x, (padding, padding, padding, padding)) if padding else x
    windows = x.unfold(3, kw, stride).unfold(2, kh, stride)  # (N, C, Ho, Wo, kw, kh)
    ho, wo = windows.shape[2], windows.shape[3]
    rows = windows.permute(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * kw * kh)
    kernel = weight.permute(0, 1, 3, 2).reshape(o, c * kw * kh)
    out = (kernel @ rows.T).reshape(o, n, ho, wo).permute(1, 0, 2, 3)
    return out if bias is None else out + bias.reshape(1, o, 1, 1)


OTHER_RIGHT_CONVS = {"one slice per kernel offset": conv_by_offsets, "width unfolded first": conv_width_first}

# lesson 02: max_pool2d_windows(x, k), avg_pool2d_windows(x, k)


def max_pool2d_windows(x, k):
    return x.unfold(2, k, k).unfold(3, k, k).amax(dim=(-2, -1))


def avg_pool2d_windows(x, k):
    return x.unfold(2, k, k).unfold(3, k, k).mean(dim=(-2, -1))


def pool_by_reshape(reduce):
    """A right answer without unfold: crop to a multiple of k, split each axis in two, reduce."""
    def pool(x, k):
        n, c, h, w = x.shape
        ho, wo = h // k, w // k
        blocks = x[:, :, :ho * k, :wo * k].reshape(n, c, ho, k, wo, k)
        return getattr(blocks, reduce)(dim=(3, 5))
    return pool


WRONG_MAX_POOLS = {
    "mean instead of max": avg_pool2d_windows,
    "overlapping windows (step 1)": lambda x, k: x.unfold(2, k, 1).unfold(3, k, 1).amax(dim=(-2, -1)),
    "max over one window axis only": lambda x, k: x.unfold(2, k, k).unfold(3, k, k).amax(dim=-1)[..., 0],
    "min instead of max": lambda x, k: x.unfold(2, k, k).unfold(3, k, k).amin(dim=(-2, -1)),
    "k = 2 whatever k": lambda x, k: max_pool2d_windows(x, 2),
    "windows over channels and height": lambda x, k: x.unfold(1, k, k).unfold(2, k, k).amax(dim=(-2, -1)),
    "reshape without cropping to a multiple of k": lambda x, k: x.reshape(
        x.shape[0], x.shape[1], x.shape[2] // k, k, -1, k).amax(dim=(3, 5)),
}

WRONG_AVG_POOLS = {
    "max instead of mean": max_pool2d_windows,
    "sum instead of mean": lambda x, k: x.unfold(2, k, k).unfold(3, k, k).sum(dim=(-2, -1)),
    "overlapping windows (step 1)": lambda x, k: x.unfold(2, k, 1).unfold(3, k, 1).mean(dim=(-2, -1)),
    "divides by k, not k * k": lambda x, k: x.unfold(2, k, k).unfold(3, k, k).sum(dim=(-2, -1)) / k,
    "k = 2 whatever k": lambda x, k: avg_pool2d_windows(x, 2),
}


@pytest.mark.parametrize("check,right", [
    (check_conv2d_windows, conv2d_windows), *[(check_conv2d_windows, f) for f in OTHER_RIGHT_CONVS.values()],
    (check_max_pool2d_windows, max_pool2d_windows), (check_max_pool2d_windows, pool_by_reshape("amax")),
    (check_avg_pool2d_windows, avg_pool2d_windows), (check_avg_pool2d_windows, pool_by_reshape("mean")),
], ids=["conv2d_windows", *OTHER_RIGHT_CONVS, "max_pool2d_windows", "max pool by reshape", "avg_pool2d_windows",
        "avg pool by reshape"])
def test_the_right_code_passes(check, right, capsys):
    check(right)
    out = capsys.readouterr().out
    assert "✓" in out and "✗" not in out


@pytest.mark.parametrize("check,wrong", [
    *[(check_conv2d_windows, f) for f in WRONG_CONVS.values()],
    *[(check_max_pool2d_windows, f) for f in WRONG_MAX_POOLS.values()],
    *[(check_avg_pool2d_windows, f) for f in WRONG_AVG_POOLS.values()],
], ids=[*WRONG_CONVS, *[f"max pool: {k}" for k in WRONG_MAX_POOLS], *[f"avg pool: {k}" for k in WRONG_AVG_POOLS]])
def test_each_wrong_implementation_is_rejected(check, wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check(wrong)


def test_the_check_runs_the_learners_code_on_torch_style_arguments():
    """The lesson calls conv2d_windows with F=torch.nn.functional later: the check leaves F at the learner's
    default for minilib tensors, and passes torch's for its torch case."""
    seen = []

    def spy(x, weight, bias=None, stride=1, padding=0, F=F):
        seen.append(F)
        return conv2d_windows(x, weight, bias, stride, padding, F)

    check_conv2d_windows(spy)
    import torch

    assert len(seen) > 1 and all(f is F for f in seen[:-1]), "the minilib cases use the learner's own default F"
    assert seen[-1] is torch.nn.functional, "the last case runs on torch tensors with torch's F"


# lesson 03: attention(q, k, v, mask=None) -> (output, weights); multi_head(x, w_qkv, w_o, heads, mask=None)
import math  # noqa: E402

import minilib as ml  # noqa: E402
from course.basics import check_attention, check_multi_head, reference_multi_head  # noqa: E402


def attention(q, k, v, mask=None, scale="sqrt d", axis=-1, mask_at="scores", fill=float("-inf"), polarity=True,
              returns="both"):
    """The lesson's solution, with switches that each turn one of its steps wrong."""
    d = q.shape[-1]
    divide = {"sqrt d": math.sqrt(d), "none": 1.0, "d": d, "sqrt dv": math.sqrt(v.shape[-1]),
              "sqrt S": math.sqrt(k.shape[-2])}[scale]
    scores = q @ k.transpose(-2, -1) / divide
    hide = None if mask is None else (~mask if polarity else mask)
    if hide is not None and mask_at == "scores":
        scores = scores.masked_fill(hide, fill)
    elif hide is not None and mask_at == "times":
        scores = scores * mask
    weights = scores.softmax(axis)
    if hide is not None and mask_at == "weights":
        weights = weights.masked_fill(hide, 0.0)
    out = weights @ v
    return {"both": (out, weights), "output": out, "scores": (out, scores), "swapped": (weights, out),
            "transposed": (out, weights.transpose(-2, -1))}[returns]


def attention_wrong(**switches):
    return lambda q, k, v, mask=None: attention(q, k, v, mask, **switches)


def attention_axes_1_2(q, k, v, mask=None):
    """Transposes axes 1 and 2 of the keys: right for (B, S, d), wrong once there are heads."""
    scores = q @ k.transpose(1, 2) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(-1)
    return weights @ v, weights


def attention_minilib_softmax(q, k, v, mask=None):
    """Uses minilib's F.softmax: right on minilib tensors, breaks on torch tensors."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = F.softmax(scores, dim=-1)
    return weights @ v, weights


def attention_weights_before_mask(q, k, v, mask=None):
    """Returns the softmax of the unmasked scores as the weights (the output is masked correctly)."""
    out, _ = attention(q, k, v, mask)
    return out, attention(q, k, v)[1]


WRONG_ATTENTIONS = {
    "softmax over the queries": attention_wrong(axis=-2),
    "no 1/sqrt(d) scaling": attention_wrong(scale="none"),
    "divides by d, not sqrt(d)": attention_wrong(scale="d"),
    "scales by the values' width": attention_wrong(scale="sqrt dv"),
    "scales by the number of keys": attention_wrong(scale="sqrt S"),
    "mask applied after the softmax": attention_wrong(mask_at="weights"),
    "mask with the wrong polarity (hides the keys it may see)": attention_wrong(polarity=False),
    "masked scores set to 0, not -inf": attention_wrong(fill=0.0),
    "scores multiplied by the mask": attention_wrong(mask_at="times"),
    "mask ignored": attention_wrong(mask_at="nowhere"),
    "returns only the output": attention_wrong(returns="output"),
    "returns the scores, not the weights": attention_wrong(returns="scores"),
    "returns (weights, output)": attention_wrong(returns="swapped"),
    "returns the weights as (keys, queries)": attention_wrong(returns="transposed"),
    "transposes axes 1 and 2 of the keys": attention_axes_1_2,
    "minilib's softmax inside (breaks on torch)": attention_minilib_softmax,
    "cuts the gradient": lambda q, k, v, mask=None: tuple(t.detach() for t in attention(q, k, v, mask)),
    "masked scores set to -10, not -inf": attention_wrong(fill=-10.0),
    "returns the weights of the unmasked scores": attention_weights_before_mask,
}


def attention_renormalised(q, k, v, mask=None):
    """A right answer: zero the hidden keys after the softmax, then divide each row by what is left."""
    weights = (q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])).softmax(-1)
    if mask is not None:
        weights = weights * mask
        weights = weights / weights.sum(-1, keepdim=True)
    return weights @ v, weights


def attention_keys_by_queries(q, k, v, mask=None):
    """A right answer: scores laid out (keys, queries), the softmax over the keys' axis, then transposed back."""
    scores = k @ q.transpose(-2, -1) / math.sqrt(k.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(~mask.transpose(-2, -1), float("-inf"))
    weights = scores.softmax(-2).transpose(-2, -1)
    return weights @ v, weights


OTHER_RIGHT_ATTENTIONS = {
    "scores laid out (keys, queries)": attention_keys_by_queries,
    "a large negative number instead of -inf": attention_wrong(fill=-1e9),
    "zeroed after the softmax, then renormalised": attention_renormalised,
    "q scaled before the product": lambda q, k, v, mask=None: attention(q / math.sqrt(q.shape[-1]), k, v, mask,
                                                                        scale="none"),
}


def multi_head(x, w_qkv, w_o, heads, mask=None, split="transpose", merge="transpose", order="qkv", project=True,
               w_o_t=True, pass_mask=True, one_head=False, scale_by_e=False):
    """The lesson's solution, with switches that each turn one of its steps wrong."""
    b, t, e = x.shape
    h = 1 if one_head else heads
    chunks = dict(zip(order, (x @ w_qkv.T).chunk(3, dim=-1)))
    q, k, v = chunks["q"], chunks["k"], chunks["v"]
    if split == "transpose":
        q, k, v = (z.reshape(b, t, h, e // h).transpose(1, 2) for z in (q, k, v))
    elif split == "reshape":
        q, k, v = (z.reshape(b, h, t, e // h) for z in (q, k, v))
    else:  # "interleave": channel c goes to head c % heads
        q, k, v = (z.reshape(b, t, e // h, h).permute(0, 3, 1, 2) for z in (q, k, v))
    if scale_by_e:
        q = q * math.sqrt(e // h) / math.sqrt(e)
    out, _ = attention(q, k, v, mask if pass_mask else None)
    out = out.transpose(1, 2).reshape(b, t, e) if merge == "transpose" else out.reshape(b, t, e)
    if not project:
        return out
    return out @ (w_o.T if w_o_t else w_o)


def multi_head_untransposed(x, w_qkv, w_o, heads, mask=None):
    """Multiplies by w_qkv (3E, E) as it is stored: the shapes only fit if E were 3E."""
    b, t, e = x.shape
    q, k, v = ((x @ w_qkv).chunk(3, dim=-1))
    q, k, v = (z.reshape(b, t, heads, e // heads).transpose(1, 2) for z in (q, k, v))
    out, _ = attention(q, k, v, mask)
    return out.transpose(1, 2).reshape(b, t, e) @ w_o.T


def multi_head_wrong(**switches):
    return lambda x, w_qkv, w_o, heads, mask=None: multi_head(x, w_qkv, w_o, heads, mask, **switches)


def multi_head_qkv_per_head(x, w_qkv, w_o, heads, mask=None):
    """Reads w_qkv's rows as (heads, 3, E / heads), the layout some codebases use, not (3, heads, E / heads)."""
    b, t, e = x.shape
    qkv = (x @ w_qkv.T).reshape(b, t, heads, 3, e // heads)
    q, k, v = (qkv[:, :, :, i].transpose(1, 2) for i in range(3))
    out, _ = attention(q, k, v, mask)
    return out.transpose(1, 2).reshape(b, t, e) @ w_o.T


def multi_head_over_heads(x, w_qkv, w_o, heads, mask=None):
    """Splits into (B, T, heads, E / heads) and never moves the heads: attention runs over the heads, not time."""
    b, t, e = x.shape
    q, k, v = (z.reshape(b, t, heads, e // heads) for z in (x @ w_qkv.T).chunk(3, dim=-1))
    out, _ = attention(q, k, v)
    return out.reshape(b, t, e) @ w_o.T


def multi_head_keys_are_queries(x, w_qkv, w_o, heads, mask=None):
    """Uses the queries' chunk as the keys too."""
    b, t, e = x.shape
    q, _, v = (z.reshape(b, t, heads, e // heads).transpose(1, 2) for z in (x @ w_qkv.T).chunk(3, dim=-1))
    out, _ = attention(q, q, v, mask)
    return out.transpose(1, 2).reshape(b, t, e) @ w_o.T


WRONG_MULTI_HEADS = {
    "w_qkv read as (heads, q/k/v, channels)": multi_head_qkv_per_head,
    "attends over the heads, not time": multi_head_over_heads,
    "keys taken from the queries' chunk": multi_head_keys_are_queries,
    "heads split by a reshape without the transpose": multi_head_wrong(split="reshape"),
    "heads merged by a reshape without the transpose": multi_head_wrong(merge="reshape"),
    "channels dealt to the heads in turn": multi_head_wrong(split="interleave"),
    "queries and keys swapped": multi_head_wrong(order="kqv"),
    "values taken from the first chunk": multi_head_wrong(order="vkq"),
    "no output projection": multi_head_wrong(project=False),
    "w_o not transposed": multi_head_wrong(w_o_t=False),
    "the mask not passed on": multi_head_wrong(pass_mask=False),
    "one head whatever heads": multi_head_wrong(one_head=True),
    "scaled by sqrt(E), not sqrt(E / heads)": multi_head_wrong(scale_by_e=True),
    "w_qkv not transposed": lambda x, w_qkv, w_o, heads, mask=None: multi_head_untransposed(x, w_qkv, w_o, heads,
                                                                                            mask),
}


def multi_head_by_slices(x, w_qkv, w_o, heads, mask=None):
    """A right answer: one projection per slice of w_qkv, heads split with permute."""
    b, t, e = x.shape
    q, k, v = (x @ w_qkv[i * e:(i + 1) * e].T for i in range(3))
    q, k, v = (z.reshape(b, t, heads, e // heads).permute(0, 2, 1, 3) for z in (q, k, v))
    out, _ = attention(q, k, v, mask)
    return out.permute(0, 2, 1, 3).reshape(b, t, e) @ w_o.T


def multi_head_loop(x, w_qkv, w_o, heads, mask=None):
    """A right answer: one `attention` call per head on its slice of channels, the outputs concatenated."""
    b, t, e = x.shape
    d = e // heads
    q, k, v = (x @ w_qkv.T).chunk(3, dim=-1)
    outs = [attention(q[..., h * d:(h + 1) * d], k[..., h * d:(h + 1) * d], v[..., h * d:(h + 1) * d], mask)[0]
            for h in range(heads)]
    return ml.cat(outs, dim=-1) @ w_o.T


OTHER_RIGHT_MULTI_HEADS = {"slices of w_qkv, permute": multi_head_by_slices, "a loop over heads": multi_head_loop}


@pytest.mark.parametrize("right", [attention, *OTHER_RIGHT_ATTENTIONS.values()],
                         ids=["attention", *OTHER_RIGHT_ATTENTIONS])
def test_the_right_attention_passes(right, capsys):
    check_attention(right)
    out = capsys.readouterr().out
    assert "✓" in out and "✗" not in out


@pytest.mark.parametrize("wrong", WRONG_ATTENTIONS.values(), ids=WRONG_ATTENTIONS)
def test_each_wrong_attention_is_rejected(wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check_attention(wrong)


@pytest.mark.parametrize("right", [multi_head, *OTHER_RIGHT_MULTI_HEADS.values()],
                         ids=["multi_head", *OTHER_RIGHT_MULTI_HEADS])
def test_the_right_multi_head_passes(right, capsys):
    check_multi_head(right)
    out = capsys.readouterr().out
    assert "✓" in out and "✗" not in out


@pytest.mark.parametrize("wrong", WRONG_MULTI_HEADS.values(), ids=WRONG_MULTI_HEADS)
def test_each_wrong_multi_head_is_rejected(wrong):
    with pytest.raises(CheckFailed, match="✗"):
        check_multi_head(wrong)


def test_the_multi_head_reference_is_torchs_multihead_attention():
    """The reference the check uses agrees with torch.nn.MultiheadAttention given the same weights (no biases)."""
    import numpy as np
    import torch

    import minilib as ml

    rng = np.random.default_rng(0)
    x, w_qkv, w_o = (rng.standard_normal(s).astype(np.float32) for s in ((2, 5, 8), (24, 8), (8, 8)))
    causal = np.tril(np.ones((5, 5), dtype=bool))
    mha = torch.nn.MultiheadAttention(8, 4, bias=False, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(w_qkv))
        mha.out_proj.weight.copy_(torch.from_numpy(w_o))
    xt = torch.from_numpy(x)
    expected, _ = mha(xt, xt, xt, attn_mask=torch.from_numpy(~causal), need_weights=False)  # torch: True = hidden
    mine = reference_multi_head(ml.tensor(x), ml.tensor(w_qkv), ml.tensor(w_o), 4, ml.tensor(causal))
    assert np.allclose(mine.numpy(), expected.detach().numpy(), atol=1e-5)
