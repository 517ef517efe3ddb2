"""The CPU's training attention is SDPA's math kernel with integer-mask dropout on the probabilities."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from test_methods import prepared
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from sentiment_lab.training import cpu_attention, methods
from sentiment_lab.training.config import Optimisation, RunConfig
from sentiment_lab.training.loop import TokenBatches, fit


class Attention(nn.Module):
    is_causal = False


def qkv_and_mask(dtype, heads=4, kv_heads=4):
    torch.manual_seed(0)
    q = torch.randn(3, heads, 11, 8).to(dtype).requires_grad_()
    k, v = (torch.randn(3, kv_heads, 11, 8).to(dtype).requires_grad_() for _ in range(2))
    mask = torch.ones(3, 1, 11, 11, dtype=torch.bool)
    mask[1, ..., 7:] = False  # a padded sentence: its last keys are hidden
    return q, k, v, mask


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_without_the_drops_it_is_sdpas_math_kernel_forward_and_backward(dtype, monkeypatch):
    monkeypatch.setattr(cpu_attention, "integer_mask_dropout", lambda x, p: x)
    q, k, v, mask = qkv_and_mask(dtype)
    ours, _ = cpu_attention.attention(Attention().train(), q, k, v, mask, dropout=0.1, scaling=0.3)
    ours.float().pow(2).sum().backward()
    got = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    with sdpa_kernel(SDPBackend.MATH):
        ref = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.3).transpose(1, 2)
    ref.float().pow(2).sum().backward()
    assert ours.dtype == dtype and ours.shape == (3, 11, 4, 8)
    assert torch.equal(ours, ref)
    assert all(torch.equal(g, t.grad) for g, t in zip(got, (q, k, v)))


def test_it_drops_the_softmax_probabilities_with_the_attentions_p(monkeypatch):
    seen = []

    def recording(x, p):
        seen.append((x.detach().clone(), p))
        return cpu_attention.integer_mask_dropout.__wrapped__(x, p)

    recording.__wrapped__ = cpu_attention.integer_mask_dropout
    monkeypatch.setattr(cpu_attention, "integer_mask_dropout", recording)
    q, k, v, mask = qkv_and_mask(torch.float32)
    out, _ = cpu_attention.attention(Attention().train(), q, k, v, mask, dropout=0.25)
    ((probs, p),) = seen
    assert p == 0.25 and probs.shape == (3, 4, 11, 11)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 4, 11))
    assert torch.all(probs[1, ..., 7:] == 0)  # hidden keys get nothing
    plain, _ = sdpa_attention_forward(Attention().eval(), q, k, v, mask, scaling=None)
    assert not torch.allclose(out, plain)  # something was dropped


@pytest.mark.parametrize("training, dropout", [(True, 0.1), (True, 0.0), (False, 0.0)])
def test_a_query_broadcast_from_one_row_is_computed_for_that_row_and_broadcast(training, dropout, monkeypatch):
    seen = []
    monkeypatch.setattr(cpu_attention, "integer_mask_dropout", lambda x, p: seen.append(x.shape) or x)
    q, k, v, mask = qkv_and_mask(torch.float32)
    one = q[:, :, :1].detach().expand(q.shape)  # what first_token.py's query hooks hand the attention
    module = Attention().train(training)
    ours, _ = cpu_attention.attention(module, one, k, v, mask, dropout=dropout)
    whole, _ = cpu_attention.attention(module, one.contiguous(), k, v, mask, dropout=dropout)
    assert ours.shape == whole.shape == (3, 11, 4, 8)
    torch.testing.assert_close(ours, whole)
    assert seen == ([(3, 4, 1, 11), (3, 4, 11, 11)] if training and dropout else [])  # one row's probabilities


def test_evaluation_no_dropout_causal_or_grouped_heads_go_to_transformers_sdpa(monkeypatch):
    monkeypatch.setattr(cpu_attention, "integer_mask_dropout", lambda x, p: pytest.fail("integer masks drawn"))
    q, k, v, mask = qkv_and_mask(torch.float32)
    causal = Attention().train()
    causal.is_causal = True
    unflagged = nn.Module().train()  # no is_causal: SDPA's function takes it as causal, so it goes there
    grouped = Attention().train()
    grouped.num_key_value_groups = 2
    cases = [
        (Attention().eval(), (q, k, v, mask), 0.1),
        (Attention().train(), (q, k, v, mask), 0.0),
        (causal, (q, k, v, None), 0.1),
        (unflagged, (q, k, v, None), 0.1),
        (grouped, (*qkv_and_mask(torch.float32, kv_heads=2)[:3], None), 0.1),
    ]
    for module, tensors, dropout in cases:
        torch.manual_seed(1)  # SDPA's own dropout, where there is one, draws the same masks both times
        ours, _ = cpu_attention.attention(module, *tensors, dropout=dropout)
        torch.manual_seed(1)
        ref, _ = sdpa_attention_forward(module, *tensors, dropout=dropout)
        assert torch.equal(ours, ref)


def test_fit_trains_with_it_on_the_cpu_and_hands_back_sdpa(tiny_model, tiny_data, monkeypatch):
    calls = []

    def counting(module, query, *args, **kwargs):
        calls.append((module.training, kwargs.get("dropout")))
        return cpu_attention.attention(module, query, *args, **kwargs)

    drawn = []
    real = cpu_attention.integer_mask_dropout
    monkeypatch.setitem(AttentionInterface._global_mapping, cpu_attention.NAME, counting)
    monkeypatch.setattr(cpu_attention, "integer_mask_dropout", lambda x, p: drawn.append(x.ndim) or real(x, p))
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig.of(method="lora", model=str(tiny_model)).validated()
    model = methods.build(cfg, {0: "neg", 1: "pos"})
    configs = {id(m.config): m.config for m in model.modules() if hasattr(m, "config")}
    assert {c._attn_implementation for c in configs.values()} == {"sdpa"}
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
    fit(model, train, train, Optimisation(epochs=1, lr=1e-3), Accelerator(cpu=True), 2, report=lambda r: None)
    assert any(training and dropout > 0 for training, dropout in calls)  # the steps
    assert drawn and set(drawn) == {4}  # their attention probabilities took integer masks
    assert any(not training for training, _ in calls)  # the evaluation, through it and on to SDPA
    assert {c._attn_implementation for c in configs.values()} == {"sdpa"}
