# %% [markdown]
# # 16 · Dropout in recurrent networks
#
# **The idea.** Applied naively to an LSTM, dropout on the recurrent connection (h_{t−1} → h_t)
# corrupts the memory at every step, and the noise compounds over time. Zaremba et al. apply
# dropout only to the *non-recurrent* connections: the input to each step and the output of
# each step. The memory path is left clean. Merity et al. (AWD-LSTM) go further and regularise
# the recurrent connection safely. *Weight-drop* applies DropConnect to the hidden-to-hidden
# matrix, once per sequence, and *locked* (variational) dropout uses one mask for all time
# steps of a sequence, instead of a fresh one per step.
#
# *Papers:* W. Zaremba, I. Sutskever, O. Vinyals, **"Recurrent Neural Network Regularization"**, 2014
# (arXiv:1409.2329); S. Merity, N. S. Keskar, R. Socher, **"Regularizing and Optimizing LSTM Language
# Models"**, ICLR 2018 (arXiv:1708.02182).
#
# The claim we reproduce: a character-level LSTM on the course's small corpus overfits; dropout
# on the non-recurrent connections (Zaremba), or locked dropout with weight-drop (AWD), ends with a
# lower validation loss and a smaller train/validation gap.

# %%
import matplotlib.pyplot as plt
import numpy as np
import torch
from ipywidgets import Dropdown, FloatSlider

import minilib as ml
import minilib.nn as nn
import minilib.nn.functional as F
from course import check, expect, gpu, panel, progress

_ = ml.manual_seed(0)


# %% [markdown]
# ## From scratch 1: one LSTM step
#
# The four gates come from one matrix product each for the input and for the previous hidden
# state, split into four equal chunks in torch's order (input, forget, cell, output):
#
# $$i, f, g, o = \text{chunks of } x W_{ih}^\top + h W_{hh}^\top + b, \quad
# c' = \sigma(f)\,c + \sigma(i)\tanh(g), \quad h' = \sigma(o)\tanh(c').$$
#
# **Exercise.** Write `lstm_step`.

# %%
def lstm_step(x, h, c, w_ih, w_hh, b):
    """x (B, I), h and c (B, H), w_ih (4H, I), w_hh (4H, H), b (4H,) -> (h', c')."""
    # BEGIN SOLUTION
    gates = x @ w_ih.T + h @ w_hh.T + b
    i, f, g, o = gates.chunk(4, dim=-1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c
    # END SOLUTION


# %%
def lstm_cell_reference(x, h, c, w_ih, w_hh, b):
    return ml.nn.modules.rnn.lstm_step(x, h, c, w_ih, w_hh, b, None)


check("lstm_step", lstm_step, lstm_cell_reference, (3, 5), (3, 4), (3, 4), (16, 5), (16, 4), (16,),
      hint="gates.chunk(4, dim=-1) gives i, f, g, o in that order")


# %% [markdown]
# ## From scratch 2: masks that stay still, and weights that drop
#
# *Locked dropout* draws one mask per sequence, shaped (B, units), and applies it at every time
# step. *Weight-drop* multiplies the hidden-to-hidden matrix itself by a mask (DropConnect): some
# recurrent connections are cut for the whole sequence, and the cut changes from one sequence to
# the next. Both scale by 1/(1 − p), like ordinary dropout.
#
# **Exercise.** Write both. They take the mask (keep) as an argument, as in lesson 10.

# %%
def locked_dropout(x_t, keep, p):
    """Apply the sequence's mask keep (B, units) to the step's activations x_t (B, units)."""
    # BEGIN SOLUTION
    return x_t * keep / (1 - p)
    # END SOLUTION


def weight_drop(w_hh, keep, p):
    """DropConnect on the recurrent matrix: w_hh (4H, H) times a 0/1 mask of the same shape, rescaled."""
    # BEGIN SOLUTION
    return w_hh * keep / (1 - p)
    # END SOLUTION


# %%
steady = (ml.rand(3, 4, generator=ml.Generator().manual_seed(0)) >= 0.5).float()
check("locked_dropout", lambda x: locked_dropout(x, steady, 0.5), lambda x: x * steady * 2.0, (3, 4))
cut = (ml.rand(8, 2, generator=ml.Generator().manual_seed(1)) >= 0.3).float()
check("weight_drop", lambda w: weight_drop(w, cut, 0.3), lambda w: w * cut / 0.7, (8, 2),
      hint="the same formula as dropout, applied to the weight matrix")


# %% [markdown]
# ## From scratch 3: the character model
#
# Embedding → LSTM → linear layer to the next character's logits, unrolled over T steps. The
# dropout mode decides what happens to the non-recurrent connections (the step's input and
# output) and to the recurrent matrix while training:
#
# | mode | input and output of each step | recurrent matrix |
# |---|---|---|
# | `none` | untouched | untouched |
# | `zaremba` | `F.dropout`, a fresh mask every step | untouched |
# | `awd` | `locked_dropout`, one mask per sequence | `weight_drop`, one mask per sequence |
#
# **Exercise.** Write the unrolled loop in `forward`. (Embedding one column of tokens per step
# keeps each step's work small; slicing one big precomputed tensor costs more in minilib's backward.)

# %%
class CharLSTM(nn.Module):
    def __init__(self, vocab, embed=32, hidden=128, mode="none", p=0.3, p_weight=0.3):
        super().__init__()
        self.mode, self.p, self.p_weight, self.hidden = mode, p, p_weight, hidden
        self.embed = nn.Embedding(vocab, embed)
        self.cell = nn.LSTMCell(embed, hidden)
        self.out = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        """tokens (B, T) int64 -> logits (B, T, vocab)."""
        batch, steps = tokens.shape
        drop = self.training and self.mode != "none"
        w_hh, b = self.cell.weight_hh, self.cell.bias_ih + self.cell.bias_hh
        if drop and self.mode == "awd":
            w_hh = weight_drop(w_hh, (ml.rand(*w_hh.shape) >= self.p_weight).float(), self.p_weight)
            keep_in = (ml.rand(batch, self.embed.embedding_dim) >= self.p).float()
            keep_out = (ml.rand(batch, self.hidden) >= self.p).float()
        h = c = ml.zeros(batch, self.hidden)
        outputs = []
        # BEGIN SOLUTION
        for t in range(steps):
            x_t = self.embed(tokens[:, t])
            if drop:
                x_t = locked_dropout(x_t, keep_in, self.p) if self.mode == "awd" else F.dropout(x_t, self.p)
            h, c = lstm_step(x_t, h, c, self.cell.weight_ih, w_hh, b)
            y_t = h
            if drop:
                y_t = locked_dropout(h, keep_out, self.p) if self.mode == "awd" else F.dropout(h, self.p)
            outputs.append(y_t)
        # END SOLUTION
        return self.out(ml.stack(outputs, dim=1))


# %%
def model_properties():
    ml.manual_seed(0)
    model, tokens = CharLSTM(20, embed=6, hidden=5, mode="awd"), ml.randint(0, 20, (3, 7))
    reference = nn.LSTM(6, 5, batch_first=True)
    reference.load_state_dict({k + "_l0": v for k, v in model.cell.state_dict().items()})
    with ml.no_grad():
        expected = model.out(reference(model.embed(tokens))[0])
        train_a, train_b = model.train()(tokens), model(tokens)
    return {"logits of shape (B, T, vocab)": tuple(model.eval()(tokens).shape) == (3, 7, 20),
            "in eval mode, the same as minilib's nn.LSTM": gpu.agree(model.eval()(tokens), expected, atol=1e-5),
            "in training, fresh masks each call": not gpu.agree(train_a, train_b)}


expect("CharLSTM", model_properties, hint="for t in range(steps): embed tokens[:, t], drop, lstm_step, drop")


# %% [markdown]
# ## See it: masks over time
#
# Each panel is one sequence's mask over time for 24 units (dark = dropped). Zaremba's dropout
# draws a fresh mask at every step. Locked dropout keeps one mask for the whole sequence. Weight-drop
# cuts connections of the recurrent matrix (shown as the hidden × hidden block of one gate),
# also for the whole sequence.

# %%
def draw_masks(p=0.3, mode="zaremba"):
    g = ml.Generator().manual_seed(0)
    steps, units = 30, 24
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
    if mode == "zaremba":
        over_time = (ml.rand(units, steps, generator=g) >= p).float()
    else:
        over_time = (ml.rand(units, 1, generator=g) >= p).float().expand(units, steps)
    axes[0].imshow(over_time, cmap="gray", vmin=0, vmax=1, aspect="auto")
    axes[0].set(xlabel="time step", ylabel="unit", title=f"{mode}: input/output mask, p={p:.2f}")
    recurrent = (ml.rand(units, units, generator=g) >= p).float() if mode == "awd" else ml.ones(units, units)
    axes[1].imshow(recurrent, cmap="gray", vmin=0, vmax=1)
    axes[1].set(xlabel="from unit (h_{t-1})", ylabel="to unit", title="recurrent weights kept (same for all steps)")
    fig.tight_layout()
    return fig


# %% tags=["nbval-ignore-output"]
panel(draw_masks, p=FloatSlider(value=0.3, min=0.0, max=0.8, step=0.05),
      mode=Dropdown(options=["zaremba", "awd"], value="zaremba"))

# %% [markdown]
# ## Reproduce the claim
#
# The corpus is split 80/20 into training and validation text. A 128-unit LSTM trains for 200
# Adam steps on 32 random windows of 24 characters, once per mode, from the same initial weights
# and the same windows. Losses are measured in eval mode, on the whole training and validation
# text.

# %%
text = ml.data.corpus()
tokenizer = ml.data.CharTokenizer(text)
ids = tokenizer.encode(text)
split = int(0.8 * len(ids))
train_ids, val_ids = ids[:split], ids[split:]
vocab = tokenizer.vocab_size


def windows(data, batch, steps, rng):
    starts = rng.integers(0, len(data) - steps - 1, batch)
    chunk = data[ml.tensor(starts[:, None] + np.arange(steps + 1)[None])]
    return chunk[:, :-1], chunk[:, 1:]


def text_loss(model, data, steps=64):
    n = (len(data) - 1) // steps
    x, y = data[:n * steps].reshape(n, steps), data[1:n * steps + 1].reshape(n, steps)
    with ml.no_grad():
        return F.cross_entropy(model.eval()(x).reshape(-1, vocab), y.reshape(-1)).item()


def train(mode, steps=200):
    ml.manual_seed(0)
    model = CharLSTM(vocab, mode=mode)
    opt = ml.optim.Adam(model.parameters(), lr=5e-3)
    rng = np.random.default_rng(0)
    for _ in progress(range(steps), desc=mode):
        x, y = windows(train_ids, 32, 24, rng)
        model.train()
        opt.zero_grad()
        F.cross_entropy(model(x).reshape(-1, vocab), y.reshape(-1)).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return model, text_loss(model, train_ids), text_loss(model, val_ids)


results = {mode: train(mode) for mode in ("none", "zaremba", "awd")}

# %% tags=["nbval-ignore-output"]
print({mode: (round(tr, 3), round(va, 3)) for mode, (_, tr, va) in results.items()})

# %%
gap = {mode: va - tr for mode, (_, tr, va) in results.items()}
val = {mode: va for mode, (_, _, va) in results.items()}
for mode in ("zaremba", "awd"):
    print(f"{mode}: lower validation loss than no dropout:", val[mode] < val["none"])
    print(f"{mode}: smaller train/validation gap:", gap[mode] < gap["none"])
assert all(val[m] < val["none"] and gap[m] < gap["none"] for m in ("zaremba", "awd"))


# %%
def sample(model, prompt, n=80):
    """Greedy continuation of `prompt`, one character at a time."""
    tokens = tokenizer.encode(prompt).tolist()
    with ml.no_grad():
        for _ in range(n):
            logits = model.eval()(ml.tensor([tokens[-48:]]))
            tokens.append(int(logits[0, -1].argmax().item()))
    return tokenizer.decode(tokens)


print(sample(results["awd"][0], text[split:split + 20]))

# %% [markdown]
# ## The GPU version
#
# `lstm_step` uses `@`, `chunk`, `sigmoid` and `tanh`, so it runs on torch tensors. It must agree
# with PyTorch's `torch.nn.LSTMCell` given the same weights. For speed, the whole-sequence
# `torch.nn.LSTM` is PyTorch's fused kernel (cuDNN on a GPU); we time it against your step
# in a Python loop.

# %% tags=["nbval-ignore-output"]
device = gpu.pick_device()

# %%
cell_t = torch.nn.LSTMCell(32, 128)
ml.interop.copy_weights(results["none"][0].cell, cell_t)
cell_t = cell_t.to(device)
rng = np.random.default_rng(0)
x_np, h_np, c_np = (rng.standard_normal(s).astype(np.float32) for s in ((8, 32), (8, 128), (8, 128)))
xt, ht, ct = (gpu.to_torch(a, device) for a in (x_np, h_np, c_np))
mine = lstm_step(xt, ht, ct, cell_t.weight_ih, cell_t.weight_hh, cell_t.bias_ih + cell_t.bias_hh)
builtin = cell_t(xt, (ht, ct))
print("lstm_step on torch agrees with torch.nn.LSTMCell:",
      all(gpu.agree(a, b, atol=1e-5) for a, b in zip(mine, builtin)))
cell = results["none"][0].cell
ours = lstm_step(ml.tensor(x_np), ml.tensor(h_np), ml.tensor(c_np), cell.weight_ih, cell.weight_hh,
                 cell.bias_ih + cell.bias_hh)
print("...and with minilib:", all(gpu.agree(a, b, atol=1e-5) for a, b in zip(mine, ours)))


# %% tags=["nbval-ignore-output"]
def sequence_runner(lib, device=None, fused=False):
    """Forward over a (T, 32, 32) sequence with 128 hidden units."""
    def make(steps):
        x_np = np.random.default_rng(0).standard_normal((steps, 32, 32), np.float32)
        if lib is ml:
            x, w_ih, w_hh, b = ml.tensor(x_np), cell.weight_ih, cell.weight_hh, cell.bias_ih + cell.bias_hh
            zeros = ml.zeros
        else:
            x = gpu.to_torch(x_np, device)
            lstm = torch.nn.LSTM(32, 128).to(device)
            w_ih, w_hh, b = lstm.weight_ih_l0, lstm.weight_hh_l0, lstm.bias_ih_l0 + lstm.bias_hh_l0

            def zeros(*shape):
                return torch.zeros(*shape, device=device)

        def run():
            with ml.no_grad(), torch.no_grad():
                if fused:
                    return lstm(x)
                h = c = zeros(32, 128)
                for t in range(steps):
                    h, c = lstm_step(x[t], h, c, w_ih, w_hh, b)
                return h

        return run

    return make


rows = gpu.compare_timings([16, 64, 256], {
    "yours, minilib": (sequence_runner(ml), "cpu"),
    "yours, torch cpu": (sequence_runner(torch, "cpu"), "cpu"),
    f"yours, torch on {device.type}": (sequence_runner(torch, device), device),
    f"torch.nn.LSTM on {device.type}": (sequence_runner(torch, device, fused=True), device)})
print(gpu.format_timings(rows))
_ = gpu.plot_timings(rows, "LSTM forward over T steps, batch 32, 128 units")

# %% [markdown]
# ## Takeaways
#
# * Keep the recurrent path clean of per-step noise. Dropout on the inputs and outputs of each
#   step regularises without erasing the memory.
# * AWD-LSTM's tools are dropout with the mask held fixed across time: locked dropout on
#   activations, and weight-drop on the recurrent matrix. Because the mask does not change
#   between steps, the noise does not compound.
# * Weight-drop changes the weights, not the activations, so it works with a fused LSTM
#   kernel that never exposes the per-step hidden state.
#
# **Questions a teacher might ask**
# 1. Put `F.dropout` on h inside the recurrence (a fresh mask every step) and train. What happens
#    to the training loss, and why does the noise compound?
# 2. Gal & Ghahramani's *variational* RNN dropout is locked dropout on the recurrent state too.
#    How is it related to weight-drop on W_hh?
# 3. The validation loss with no dropout first falls, then rises. Where is its minimum, and what would
#    early stopping give compared with dropout?
# 4. AWD-LSTM also uses embedding dropout (drop whole words, i.e. rows of the embedding). Write it.
