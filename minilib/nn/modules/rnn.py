"""LSTMCell and a multi-layer LSTM with torch's parameter names and gate order (i, f, g, o)."""
import math

from ...creation import empty, zeros
from ...ops.shape import stack
from .. import functional as F
from .. import init
from ..module import Module
from ..parameter import Parameter


def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One LSTM step: x (N, I), h and c (N, H) -> new (h, c)."""
    gates = F.linear(x, w_ih, b_ih) + F.linear(h, w_hh, b_hh)
    i, f, g, o = gates.chunk(4, dim=-1)
    c = f.sigmoid() * c + i.sigmoid() * g.tanh()
    return o.sigmoid() * c.tanh(), c


class LSTMCell(Module):
    def __init__(self, input_size, hidden_size, bias=True, dtype=None):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = Parameter(empty(4 * hidden_size, input_size, dtype=dtype))
        self.weight_hh = Parameter(empty(4 * hidden_size, hidden_size, dtype=dtype))
        self.bias_ih = Parameter(empty(4 * hidden_size, dtype=dtype)) if bias else None
        self.bias_hh = Parameter(empty(4 * hidden_size, dtype=dtype)) if bias else None
        bound = 1.0 / math.sqrt(hidden_size)
        for p in self.parameters():
            init.uniform_(p, -bound, bound)

    def forward(self, x, hx=None):
        if hx is None:
            h = c = zeros(x.shape[0], self.hidden_size, dtype=x.dtype)
        else:
            h, c = hx
        return lstm_step(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"


class LSTM(Module):
    """Stacked LSTM over (T, N, I) input ((N, T, I) with ``batch_first``) -> output, (h_n, c_n).

    ``dropout`` is applied to the outputs of every layer except the last (training only).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
                 bidirectional=False, dtype=None):
        super().__init__()
        if bidirectional:
            raise NotImplementedError("LSTM: bidirectional=True is not supported by minilib")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.batch_first, self.dropout, self.bias = batch_first, dropout, bias
        bound = 1.0 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            size_in = input_size if layer == 0 else hidden_size
            names = [("weight_ih", (4 * hidden_size, size_in)), ("weight_hh", (4 * hidden_size, hidden_size))]
            if bias:
                names += [("bias_ih", (4 * hidden_size,)), ("bias_hh", (4 * hidden_size,))]
            for name, shape in names:
                p = Parameter(empty(*shape, dtype=dtype))
                init.uniform_(p, -bound, bound)
                setattr(self, f"{name}_l{layer}", p)

    def forward(self, x, hx=None):
        if x.ndim != 3:
            raise ValueError(f"LSTM: expected a 3-D input, got shape {tuple(x.shape)}")
        if self.batch_first:
            x = x.transpose(0, 1)
        n = x.shape[1]
        if hx is None:
            h0 = c0 = zeros(self.num_layers, n, self.hidden_size, dtype=x.dtype)
        else:
            h0, c0 = hx
        h_last, c_last = [], []
        seq = list(x.unbind(0))
        for layer in range(self.num_layers):
            p = [getattr(self, f"{k}_l{layer}", None) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, c = h0[layer], c0[layer]
            outs = []
            for xt in seq:
                h, c = lstm_step(xt, h, c, *p)
                outs.append(h)
            h_last.append(h)
            c_last.append(c)
            if layer < self.num_layers - 1 and self.dropout > 0:
                outs = [F.dropout(o, self.dropout, self.training) for o in outs]
            seq = outs
        out = stack(seq, 0)
        if self.batch_first:
            out = out.transpose(0, 1)
        return out, (stack(h_last, 0), stack(c_last, 0))

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, num_layers={self.num_layers}"
