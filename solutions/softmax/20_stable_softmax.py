# %% [markdown]
# # 20 · Stable softmax: safe, online and two-pass
#
# **The idea.** softmax(x)_i = e^{x_i} / Σ_j e^{x_j}. Computed as written, e^{x} overflows as soon
# as a logit passes 88.7 in float32, or 11.1 in float16. *Safe* softmax subtracts the row's maximum
# first, which changes nothing mathematically, but it costs an extra pass over the logits.
# Milakov & Gimelshein's *online normalizer* computes the maximum and the normaliser together in
# one pass, rescaling the running sum whenever the running maximum grows. Dukhan & Ablavatski's
# *two-pass* algorithm keeps the sum as a mantissa and a power-of-two exponent, so it needs no
# maximum at all.
#
# *Papers:* M. Milakov, N. Gimelshein, **"Online normalizer calculation for softmax"**, 2018
# (arXiv:1805.02867); M. Dukhan, A. Ablavatski, **"The Two-Pass Softmax Algorithm"**, 2020
# (arXiv:2001.04438).
#
# The claims we reproduce: naive softmax overflows in float32 and float16 where safe softmax does
# not; the online normaliser gives the same result as safe softmax while reading the logits once
# to normalise, and so does the two-pass algorithm.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatLogSlider

import minilib as ml
import minilib.nn.functional as F
from course import check, expect, gpu, panel

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: naive and safe softmax
#
# Both over the last dimension. For the safe one, subtract `x.amax(-1, keepdim=True)`: the largest
# exponent becomes e⁰ = 1 and nothing can overflow.
#
# **Exercise.** Write both.

# %%
def naive_softmax(x):
    """exp(x) / sum(exp(x)) over the last dim."""
    # BEGIN SOLUTION
    e = x.exp()
    return e / e.sum(-1, keepdim=True)
    # END SOLUTION


def safe_softmax(x):
    """softmax over the last dim, with the row maximum subtracted first."""
    # BEGIN SOLUTION
    e = (x - x.amax(-1, keepdim=True)).exp()
    return e / e.sum(-1, keepdim=True)
    # END SOLUTION


# %%
check("naive_softmax", naive_softmax, lambda x: F.softmax(x, -1), (4, 7), hint="exp, then divide by the row sum")
check("safe_softmax", safe_softmax, lambda x: F.softmax(x, -1), (4, 7), hint="subtract x.amax(-1, keepdim=True)")
big = ml.tensor([[1000.0, 999.0, -5.0]])
check("safe_softmax on logits near 1000", safe_softmax, lambda x: F.softmax(x, -1), big,
      hint="without the max subtracted, exp(1000) is inf and inf/inf is nan")


# %% [markdown]
# ## From scratch 2: the online normaliser
#
# Read the logits left to right in blocks, keeping a running maximum m and a running sum d of
# e^{x − m}. When a block raises the maximum from m to m', every term already in d was computed
# against the old m, so d is rescaled by e^{m − m'}:
#
# $$m' = \max(m, \max_{j \in \text{block}} x_j), \qquad d' = d\,e^{m - m'} + \sum_{j \in \text{block}} e^{x_j - m'}.$$
#
# After the last block, softmax(x) = e^{x − m} / d. With `block=1` this is the paper's
# element-by-element algorithm. Larger blocks are how GPU kernels, FlashAttention among them, use it.
#
# **Exercise.** Write `online_softmax`. The loop is over blocks of columns; each step is vectorised
# over rows.

# %%
def online_softmax(x, block=16):
    """softmax over the last dim, computing max and normaliser in one pass over column blocks."""
    n = x.shape[-1]
    m = x[..., :1] * 0 - math.inf  # running max, shape (..., 1)
    d = x[..., :1] * 0  # running normaliser
    # BEGIN SOLUTION
    for start in range(0, n, block):
        chunk = x[..., start:start + block]
        m_new = chunk.amax(-1, keepdim=True).maximum(m)
        d = d * (m - m_new).exp() + (chunk - m_new).exp().sum(-1, keepdim=True)
        m = m_new
    # END SOLUTION
    return (x - m).exp() / d


# %%
for block in (1, 3, 16):
    check(f"online_softmax (block={block})", lambda x, b=block: online_softmax(x, b), lambda x: F.softmax(x, -1),
          (5, 11), hint="rescale d by exp(m - m_new) before adding the new block's terms")

# %% [markdown]
# ## From scratch 3: two passes, no maximum
#
# Write e^{x} = μ · 2^{n} with the integer n = round(x · log₂e) and μ = e^{x − n ln 2}, which
# lies between 0.7 and 1.42 and never overflows. Pass 1 sums these numbers by bringing every term to
# the largest exponent N: M = Σ μ_j 2^{n_j − N}, all terms ≤ 1.42. Pass 2 writes
# y_j = μ_j 2^{n_j − N} / M. On hardware, multiplying by 2^{k} only changes the exponent bits.
#
# **Exercise.** Write `two_pass_softmax`.

# %%
LOG2E, LN2 = math.log2(math.e), math.log(2)


def two_pass_softmax(x):
    """softmax over the last dim via mantissa/exponent pairs (Dukhan & Ablavatski)."""
    # BEGIN SOLUTION
    n = (x * LOG2E).round()
    mu = (x - n * LN2).exp()
    top = n.amax(-1, keepdim=True)
    scaled = mu * 2.0 ** (n - top)
    return scaled / scaled.sum(-1, keepdim=True)
    # END SOLUTION


# %%
check("two_pass_softmax", two_pass_softmax, lambda x: F.softmax(x, -1), (5, 11), grad=False,
      hint="n = (x * LOG2E).round(); mu = (x - n * LN2).exp(); bring every term to the largest n")
check("two_pass_softmax near 1000", two_pass_softmax, lambda x: F.softmax(x, -1), big, grad=False)


# %% [markdown]
# ## Memory passes
#
# On a GPU a softmax row is limited by memory traffic, not arithmetic. Counting, as the papers do,
# what a fused kernel must read and write for each element:
#
# | algorithm | pass 1 | pass 2 | pass 3 | reads + writes per element |
# |---|---|---|---|---|
# | naive | read: Σ e^x | read, write y | | 3 |
# | safe | read: max | read: Σ e^{x−m} | read, write y | 4 |
# | online | read: max and Σ together | read, write y | | 3 |
# | two-pass | read: Σ μ 2^{n−N} (max exponent on the fly) | read, write y | | 3 |
#
# Online and two-pass are as cheap as naive softmax and as safe as safe softmax. Two-pass also
# avoids the rescaling dependency between blocks, which is why it runs faster on CPUs with wide
# vector units.

# %% [markdown]
# ## See it: scale the logits
#
# Eight logits, multiplied by a scale. Bars show each algorithm's softmax in the chosen dtype; a
# red cross marks a NaN. The right panel shows the online normaliser's running sum d after each
# element: it drops each time a new maximum arrives and d is rescaled.

# %%
def running_state(x, block):
    """The online normaliser's (m, d) after each block, for one row."""
    m, d, states = -math.inf, 0.0, []
    for start in range(0, len(x), block):
        chunk = x[start:start + block]
        m_new = max(m, float(chunk.max()))
        d = d * math.exp(m - m_new) + float(np.exp(chunk - m_new).sum())
        m = m_new
        states.append((m, d))
    return states


DTYPES = {"float32": torch.float32, "float16": torch.float16, "float64": torch.float64}
logits8 = np.array([0.2, 1.0, -0.5, 2.0, 0.0, 1.5, -1.0, 0.8], np.float32)


def draw_softmax(scale=10.0, dtype="float32"):
    x = torch.from_numpy(logits8 * scale).to(DTYPES[dtype])
    results = {"naive": naive_softmax(x), "safe": safe_softmax(x), "online": online_softmax(x, 1),
               "two-pass": two_pass_softmax(x)}
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.3))
    width = 0.2
    for k, (name, y) in enumerate(results.items()):
        values = y.double().numpy()
        pos = np.arange(8) + (k - 1.5) * width
        axes[0].bar(pos, np.nan_to_num(values), width, label=name)
        axes[0].plot(pos[np.isnan(values)], np.zeros(np.isnan(values).sum()), "rx", ms=9)
    axes[0].set(xlabel="logit index", ylabel="probability", ylim=(0, 1.05), title=f"scale {scale:g}, {dtype}")
    axes[0].legend(fontsize=8)
    states = running_state(logits8.astype(np.float64) * scale, 1)
    axes[1].plot(range(1, 9), [d for _, d in states], marker="o")
    axes[1].set(xlabel="elements read", ylabel="running d", title="online normaliser")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_softmax, scale=FloatLogSlider(value=10.0, base=10, min=-1, max=3),
      dtype=Dropdown(options=list(DTYPES), value="float32"))

# %% [markdown]
# ## Reproduce the claims
#
# Rows of 1,000 logits at growing scales, in float32 (minilib) and float16 (torch tensors,
# the same functions).

# %%
rng = np.random.default_rng(0)
base = rng.standard_normal((64, 1000)).astype(np.float32)
scales = [1, 10, 50, 100, 1000]


def finite(y):
    return bool(np.isfinite(gpu.to_numpy(y).astype(np.float64)).all())


table = {}
with np.errstate(over="ignore", invalid="ignore"):  # the overflows are what we measure: no warnings
    for s in scales:
        x32 = ml.tensor(base * s)
        x16 = torch.from_numpy(base * s).half()
        reference = F.softmax(x32.double(), -1)
        table[s] = {"naive f32": finite(naive_softmax(x32)), "safe f32": finite(safe_softmax(x32)),
                    "naive f16": finite(naive_softmax(x16)), "safe f16": finite(safe_softmax(x16)),
                    "online = safe": gpu.agree(online_softmax(x32, 64), reference, atol=1e-6),
                    "two-pass = safe": gpu.agree(two_pass_softmax(x32), reference, atol=1e-6)}

for s, row in table.items():
    print(f"logit scale {s:5}:", row)

# %%
print("naive softmax overflows in float16 at scale 10 and in float32 at scale 100:",
      not table[10]["naive f16"] and not table[100]["naive f32"])
print("safe softmax never does:", all(row["safe f32"] and row["safe f16"] for row in table.values()))
print("online and two-pass agree with safe softmax (float64 reference) at every scale:",
      all(row["online = safe"] and row["two-pass = safe"] for row in table.values()))
assert not table[10]["naive f16"] and not table[100]["naive f32"]
assert all(row["safe f32"] and row["safe f16"] and row["online = safe"] and row["two-pass = safe"]
           for row in table.values())

# %%
expect("one pass suffices", lambda: {
    "the final running max is the row max": running_state(base[0] * 50, 64)[-1][0] == float((base[0] * 50).max()),
    "the final d equals the safe normaliser": math.isclose(
        running_state(base[0] * 50, 64)[-1][1], float(np.exp((base[0] - base[0].max()) * 50).sum()), rel_tol=1e-5)})

# %% [markdown]
# ## The GPU version
#
# The four functions use only tensor methods, so they run on torch tensors on any device, and must
# agree with `torch.softmax`, PyTorch's fused kernel (which on a GPU uses the online normaliser).

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
xt = gpu.to_torch(base * 50, device)
reference = torch.softmax(xt, -1)
for name, fn in {"safe": safe_softmax, "online": lambda x: online_softmax(x, 64), "two-pass": two_pass_softmax}.items():
    print(f"{name} on torch agrees with torch.softmax:", gpu.agree(fn(xt), reference, atol=1e-6))
print("...and with minilib's:", gpu.agree(safe_softmax(xt), safe_softmax(ml.tensor(base * 50)), atol=1e-6))


# %% tags=["nbval-ignore-output"]
def softmax_runner(fn, lib, device=None):
    """Time fn on (rows, 1000) seeded logits, as a tensor of lib (on device)."""
    return gpu.array_runner(fn, lib, lambda rows: (rows, 1000), device)


rows = gpu.compare_timings([64, 512, 4096], {
    "safe, minilib": (softmax_runner(safe_softmax, ml), "cpu"),
    "F.softmax, minilib": (softmax_runner(lambda x: F.softmax(x, -1), ml), "cpu"),
    "safe, torch cpu": (softmax_runner(safe_softmax, torch, "cpu"), "cpu"),
    f"online, torch on {device.type}": (softmax_runner(lambda x: online_softmax(x, 128), torch, device), device),
    f"torch.softmax on {device.type}": (softmax_runner(lambda x: torch.softmax(x, -1), torch, device), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "softmax over 1,000 logits, by rows")

# %% [markdown]
# ## Takeaways
#
# * Subtracting the maximum is the whole trick behind numerical safety, and it is exact.
# * It seems to cost an extra pass, but the online normaliser folds the max into the sum by
#   rescaling, and two-pass softmax avoids the max altogether with power-of-two exponents.
# * Written with tensor methods only, the same four functions run on minilib and on torch,
#   in any dtype.
#
# **Questions a teacher might ask**
# 1. What is the largest logit for which `naive_softmax` is finite in float32? In float16? (Hint:
#    the largest representable numbers are about 3.4e38 and 65504.)
# 2. The online update is associative: two partial (m, d) pairs can be merged. Write the merge, and
#    explain why that lets a GPU split one row across many threads.
# 3. Does the backward pass of softmax need the maximum? Write it in terms of y alone.
# 4. Why does `online_softmax(x, 1)` run so much slower than `online_softmax(x, 64)` in minilib?
