"""Attention for training on a CPU with its probabilities' dropout drawn as integer masks (cpu_dropout.py):
SDPA's math kernel, which training on a CPU takes, draws that dropout with bernoulli_, one random number per
head, query and key. This is the same math as that kernel (fp32, the scale split between queries and keys,
dropout after the softmax); every other call (evaluation, no dropout, causal or grouped heads) goes to
transformers' SDPA function unchanged. It is registered with transformers' attention interfaces under NAME,
with SDPA's masks, and a model uses it only while `fit` trains it."""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

from sentiment_lab.training.cpu_dropout import integer_mask_dropout

NAME = "sdpa_integer_mask_dropout"


def attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """transformers' attention-function signature: (batch, heads, length, dim) in, (batch, length, heads, dim) out."""
    if query.shape[2] > 1 and query.stride(2) == 0:  # one query broadcast to every row (first_token.py)
        if attention_mask is not None and attention_mask.shape[2] > 1:
            attention_mask = attention_mask[:, :, :1]
        out, weights = attention(module, query[:, :, :1], key, value, attention_mask, dropout, scaling, **kwargs)
        return out.expand(out.shape[0], query.shape[2], *out.shape[2:]), weights
    # Causal as SDPA's function reads it: the keyword, else the module's flag, else causal.
    causal = kwargs.get("is_causal")
    causal = getattr(module, "is_causal", True) if causal is None else causal
    plain = (
        not module.training
        or dropout == 0
        or query.device.type != "cpu"
        or key.shape[1] != query.shape[1]
        or causal
        or kwargs.get("s_aux") is not None
    )
    if plain:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    root_scale = (query.shape[-1] ** -0.5 if scaling is None else scaling) ** 0.5
    with torch.autocast("cpu", enabled=False):
        scores = (query.float() * root_scale) @ (key.float() * root_scale).transpose(-2, -1)
        if attention_mask is not None:
            scores = (
                scores.masked_fill(~attention_mask, float("-inf"))
                if attention_mask.dtype == torch.bool
                else scores + attention_mask
            )
        probs = integer_mask_dropout(scores.softmax(-1), dropout)
        out = (probs @ value.float()).to(value.dtype)
    return out.transpose(1, 2).contiguous(), None


AttentionInterface.register(NAME, attention)
ALL_MASK_ATTENTION_FUNCTIONS.register(NAME, sdpa_mask)


def use_integer_mask_attention(model) -> list:
    """Switch `model`'s SDPA attention to NAME; returns the configs switched, for `restore_attention`."""
    switched = []
    for module in model.modules():
        config = getattr(module, "config", None)
        if getattr(config, "_attn_implementation", None) == "sdpa":  # a shared config is switched once
            config._attn_implementation = NAME
            switched.append(config)
    return switched


def restore_attention(configs: list) -> None:
    for config in configs:
        config._attn_implementation = "sdpa"
