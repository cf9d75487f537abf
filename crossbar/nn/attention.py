"""Multi-head attention with its four projections on crossbar arrays, the attention digital.

The query, key, value and output projections hold fixed weights: each is an
array (inputs x outputs), read once per token. The two products of attention
(``Q K^T`` and the weights times ``V``) multiply two tensors that both change
with every input, so no programmed array can hold either; they, the softmax
and the masks stay digital, as in the analog-transformer literature (e.g.
Spoon et al., Front. Comput. Neurosci. 15, 675741, 2021), and the cost model
prices them as digital work. :func:`attend` is the one implementation of the
attention, used by :class:`AnalogMultiheadAttention`; it follows
``nn.MultiheadAttention`` (masks, ``batch_first``, head-averaged weights).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from crossbar.nn.layer import AnalogLinear

__all__ = ["AnalogMultiheadAttention", "NoisyMultiheadAttention", "attend", "projections"]

Project = Callable[[torch.Tensor], torch.Tensor]


def _additive(mask: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor | None:
    """A boolean mask (True: not allowed) as -inf, a float mask as given."""
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=like.dtype, device=like.device).masked_fill(mask, -math.inf)
    return mask.to(like.dtype)


def attend(query, key, value, project: Sequence[Project], num_heads: int, *, batch_first: bool,
           key_padding_mask=None, need_weights: bool = True, attn_mask=None,
           average_attn_weights: bool = True, is_causal: bool = False, dropout: float = 0.0,
           training: bool = False):
    """``nn.MultiheadAttention.forward`` with the projections ``project`` = (q, k, v, out)."""
    batched = query.dim() == 3
    if not batched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
    elif batch_first:
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    q, k, v = project[0](query), project[1](key), project[2](value)  # (L or S, N, E)
    length, n, embed = q.shape
    s = k.shape[0]
    head = embed // num_heads

    def heads(t: torch.Tensor, steps: int) -> torch.Tensor:
        return t.reshape(steps, n * num_heads, head).transpose(0, 1).reshape(n, num_heads, steps, head)

    q, k, v = heads(q, length), heads(k, s), heads(v, s)
    bias = None
    if is_causal and attn_mask is None:
        attn_mask = torch.ones(length, s, dtype=torch.bool, device=q.device).triu(1)
    mask = _additive(attn_mask, q)
    if mask is not None:
        bias = mask.reshape(n, num_heads, length, s) if mask.dim() == 3 else mask
    pad = _additive(key_padding_mask, q)
    if pad is not None:
        pad = pad.reshape(n, 1, 1, s)
        bias = pad if bias is None else bias + pad
    p = dropout if training else 0.0
    if need_weights:
        scores = q @ k.transpose(-1, -2) / math.sqrt(head)
        if bias is not None:
            scores = scores + bias
        weights = torch.softmax(scores, dim=-1)
        out = F.dropout(weights, p, training=p > 0) @ v
    else:
        weights = None
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=p)
    out = project[3](out.permute(2, 0, 1, 3).reshape(length, n, embed))
    if batch_first and batched:
        out = out.transpose(0, 1)
    elif not batched:
        out = out.squeeze(1)
    if weights is not None:
        if average_attn_weights:
            weights = weights.mean(dim=1)
        if not batched:
            weights = weights.squeeze(0)
    return out, weights


def projections(layer: nn.MultiheadAttention) -> tuple[tuple, tuple]:
    """The (q, k, v) weights (outputs x inputs) and biases (None without) of ``layer``."""
    e = layer.embed_dim
    if layer._qkv_same_embed_dim:
        w = layer.in_proj_weight
        weights = (w[:e], w[e:2 * e], w[2 * e:])
    else:
        weights = (layer.q_proj_weight, layer.k_proj_weight, layer.v_proj_weight)
    b = layer.in_proj_bias
    return weights, (None,) * 3 if b is None else (b[:e], b[e:2 * e], b[2 * e:])


class _Projection(AnalogLinear):
    """One projection of an attention layer (queries, keys, values or output) on an array."""


class AnalogMultiheadAttention(nn.Module):
    """``nn.MultiheadAttention`` with q, k, v and output projections on four arrays.

    Packed (``in_proj_weight``) and separate (``q/k/v_proj_weight``, ``kdim``/``vdim``)
    weights map alike: one array per projection, so a self-attention token takes four
    MVMs (three projections and the output). ``to_float`` gives the torch module back.
    """

    maps = "MultiheadAttention (projections; attention digital)"
    # torch's transformer layers test these before their fused path, which would compute the
    # projections in float from weights this module does not have: the fused path never runs.
    _qkv_same_embed_dim = False
    in_proj_bias = None

    def __init__(self, layer: nn.MultiheadAttention, profile, seeds: Sequence[int]) -> None:
        super().__init__()
        reason = self.unsupported(layer)
        if reason:
            raise ValueError(f"MultiheadAttention with {reason}")
        weights, biases = projections(layer)
        self.q_proj, self.k_proj, self.v_proj = (_Projection(w.t(), bias, profile, seed) for w, bias, seed
                                                 in zip(weights, biases, seeds[:3], strict=True))
        self.out_proj = _Projection(layer.out_proj.weight.t(), layer.out_proj.bias, profile, seeds[3])
        self.embed_dim, self.num_heads = layer.embed_dim, layer.num_heads
        self.kdim, self.vdim = layer.kdim, layer.vdim
        self.batch_first, self.dropout = layer.batch_first, layer.dropout
        self.profile = profile

    @staticmethod
    def unsupported(layer: nn.Module) -> str | None:
        if layer.bias_k is not None:
            return "add_bias_kv=True; give the learned key/value rows as tokens instead"
        if layer.add_zero_attn:
            return "add_zero_attn=True"
        return None

    @staticmethod
    def arrays_for(layer: nn.Module) -> int:
        return 4

    @classmethod
    def from_seeds(cls, layer: nn.MultiheadAttention, profile, seeds: Sequence[int]) -> nn.Module:
        return cls(layer, profile, seeds)

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        return attend(query, key, value, (self.q_proj, self.k_proj, self.v_proj, self.out_proj),
                      self.num_heads, batch_first=self.batch_first, key_padding_mask=key_padding_mask,
                      need_weights=need_weights, attn_mask=attn_mask,
                      average_attn_weights=average_attn_weights, is_causal=is_causal,
                      dropout=self.dropout, training=self.training)

    def to_float(self) -> nn.MultiheadAttention:
        """An ``nn.MultiheadAttention`` with the target weights (on the layer's device)."""
        q, k, v, o = (p.to_float() for p in (self.q_proj, self.k_proj, self.v_proj, self.out_proj))
        out = nn.MultiheadAttention(self.embed_dim, self.num_heads, dropout=self.dropout,
                                    bias=q.bias is not None, kdim=self.kdim, vdim=self.vdim,
                                    batch_first=self.batch_first, device=q.weight.device)
        with torch.no_grad():
            if out._qkv_same_embed_dim:
                out.in_proj_weight.copy_(torch.cat([q.weight, k.weight, v.weight]))
            else:
                out.q_proj_weight.copy_(q.weight)
                out.k_proj_weight.copy_(k.weight)
                out.v_proj_weight.copy_(v.weight)
            if q.bias is not None:
                out.in_proj_bias.copy_(torch.cat([q.bias, k.bias, v.bias]))
            out.out_proj.weight.copy_(o.weight)
            if o.bias is not None:
                out.out_proj.bias.copy_(o.bias)
        return out

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, profile={self.profile.name}"


class NoisyMultiheadAttention(nn.MultiheadAttention):
    """``nn.MultiheadAttention`` with Eq. 2/3 noise on the outputs of its q, k and v projections
    (the child ``noise``, a ``NoiseInjection``); the output projection is ``out_proj``, called
    as a module so that the noise placed on it applies. The parameters are the module's own;
    with the noise off the forward is torch's."""

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
                average_attn_weights=True, is_causal=False):
        noise = self.crossbar_noise  # crossbar.nn.placement.NOISE_ATTR
        if noise.sigma == 0.0:
            return super().forward(query, key, value, key_padding_mask, need_weights, attn_mask,
                                   average_attn_weights, is_causal)
        weights, biases = projections(self)
        project = [lambda t, w=w, b=b: noise(F.linear(t, w, b)) for w, b in zip(weights, biases, strict=True)]
        return attend(query, key, value, (*project, self.out_proj), self.num_heads,
                      batch_first=self.batch_first, key_padding_mask=key_padding_mask,
                      need_weights=need_weights, attn_mask=attn_mask,
                      average_attn_weights=average_attn_weights, is_causal=is_causal, dropout=self.dropout,
                      training=self.training)
