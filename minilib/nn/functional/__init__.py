"""``minilib.nn.functional`` (import as ``F``): stateless layers, activations and losses."""
from .activations import (
    elu,
    gelu,
    glu,
    hardtanh,
    leaky_relu,
    log_softmax,
    logsigmoid,
    relu,
    sigmoid,
    silu,
    softmax,
    softmin,
    softplus,
    tanh,
)
from .attention import scaled_dot_product_attention
from .conv import conv1d, conv2d, fold, pad, unfold
from .dropout import dropout, dropout2d
from .linear import linear
from .losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cosine_similarity,
    cross_entropy,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    normalize,
)
from .normalization import batch_norm, group_norm, layer_norm
from .pooling import adaptive_avg_pool2d, avg_pool1d, avg_pool2d, max_pool1d, max_pool2d
from .sparse import embedding, one_hot

__all__ = [name for name in dir() if not name.startswith("_")]


def _attach_methods():
    from ...tensor import Tensor

    Tensor.softmax = lambda self, dim, dtype=None: softmax(self, dim, dtype)
    Tensor.log_softmax = lambda self, dim, dtype=None: log_softmax(self, dim, dtype)


_attach_methods()
