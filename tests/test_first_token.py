"""A classifier whose last layer computes past its attention for the first token only gives the same logits and
gradients as the whole layer, on every family it applies to, and other models are left whole."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from conftest import FAMILIES, build_tiny
from test_methods import built_with_a_say, prepared
from transformers import AutoModel, AutoModelForSequenceClassification

from sentiment_lab.training import methods
from sentiment_lab.training.config import Optimisation, RunConfig
from sentiment_lab.training.encoder_parts import layout
from sentiment_lab.training.first_token import SEAMS, first_token_only, seams
from sentiment_lab.training.loop import TokenBatches, evaluate, fit


@pytest.fixture(scope="module")
def family_models(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("families")
    return {kind: build_tiny(kind, root / kind) for kind in FAMILIES}


def padded_batch() -> dict:
    torch.manual_seed(1)
    ids = torch.randint(5, 40, (4, 9))
    ids[:, 0] = 2  # [CLS]
    mask = torch.ones_like(ids)
    mask[1, 6:], mask[2, 3:] = 0, 0
    return {"input_ids": ids.masked_fill(mask == 0, 0), "attention_mask": mask}


def logits_and_grads(model, inputs: dict):
    model.zero_grad(set_to_none=True)
    logits = model(**inputs).logits
    logits.square().sum().backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def last_ffn_rows(model) -> list[int]:
    """A list that collects how many tokens each call of the last layer's feed-forward output projection sees."""
    parts = layout(model)
    ffn = model.get_submodule(f"{parts.layers}.{parts.count - 1}.{parts.ffn_output}")
    rows = []
    ffn.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[1]))
    return rows


def query_rows(model) -> list[int]:
    """How many tokens the last layer's query projection sees, after every pre-hook, whenever registered."""
    rows = []
    query = seams(model)[0]
    if query is not None:
        query.register_forward_hook(lambda m, args, out: rows.append(args[0].shape[1]))
    return rows


@pytest.mark.parametrize("queries", [True, False])
@pytest.mark.parametrize("family", list(SEAMS))
def test_logits_and_gradients_equal_the_whole_last_layers(family, queries, family_models):
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(family_models[family], num_labels=2).eval()
    inputs = padded_batch()
    rows = last_ffn_rows(model)
    whole = logits_and_grads(model, inputs)
    with first_token_only(model, queries=queries) as cut:
        queried = query_rows(model)
        first = logits_and_grads(model, inputs)
    assert cut and rows == [9, 1]  # the cut layer's feed-forward block saw the first token alone
    # and so did its query projection, when asked to
    assert queried == ([] if family == "deberta-v2" else [1] if queries else [9])
    # The same sums; a matrix product over fewer rows may take another kernel, so to rounding, not bit for bit.
    torch.testing.assert_close(first[0], whole[0], rtol=1e-5, atol=1e-5)
    assert set(whole[1]) == set(first[1])
    for name, grad in whole[1].items():
        torch.testing.assert_close(first[1][name], grad, rtol=1e-4, atol=1e-5, msg=name)
    after = logits_and_grads(model, inputs)  # and the hooks are gone
    assert rows[-1] == 9 and torch.equal(after[0], whole[0])


@pytest.mark.parametrize("family", sorted(set(FAMILIES) - set(SEAMS)))
def test_families_without_a_named_seam_are_left_whole(family, family_models, monkeypatch):
    model = AutoModelForSequenceClassification.from_pretrained(family_models[family], num_labels=2)
    assert seams(model) == []
    with first_token_only(model) as cut:
        assert not cut
    # Named by mistake with BERT's seams, they are still left whole: ALBERT's one shared layer, ModernBERT's
    # modules of other names.
    monkeypatch.setitem(SEAMS, model.config.model_type, SEAMS["bert"])
    assert seams(model) == []


def test_a_bare_encoder_keeps_every_token(family_models):
    encoder = AutoModel.from_pretrained(family_models["bert"])
    assert seams(encoder) == []
    with first_token_only(encoder):
        out = encoder(**padded_batch()).last_hidden_state
    assert out.shape[1] == 9


@pytest.mark.parametrize("method", ["full", "lora", "adapters"])
def test_each_methods_model_is_cut_and_its_logits_are_unchanged(method, tiny_model):
    cfg = RunConfig.of(method=method, model=str(tiny_model)).validated()
    model = built_with_a_say(cfg).eval()
    inputs = padded_batch()
    whole = model(**inputs).logits
    with first_token_only(model) as cut, first_token_only(model) as nested:
        assert cut and nested and [len(m._forward_pre_hooks) for m in seams(model)] == [1] * len(seams(model))
        first = model(**inputs).logits
    torch.testing.assert_close(first, whole, rtol=1e-5, atol=1e-5)


def test_fit_and_evaluate_cut_while_they_run_and_leave_the_model_whole(tiny_models, tiny_data):
    ds, tok = prepared(tiny_models["bert"], tiny_data)
    cfg = RunConfig.of(method="lora", model=str(tiny_models["bert"])).validated()
    model = methods.build(cfg, {0: "neg", 1: "pos"})
    rows, queried = last_ffn_rows(model), query_rows(model)
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
    accelerator = Accelerator(cpu=True)
    fit(model, train, train, Optimisation(epochs=1, lr=1e-3), accelerator, 2, report=lambda r: None)
    assert rows and set(rows) == {1}  # every training step and evaluation inside fit
    assert queried and set(queried) == {1}  # the queries too, on a CPU
    assert all(not m._forward_pre_hooks for m in seams(model))
    rows.clear()
    evaluate(model, train, accelerator, 2)
    assert rows and set(rows) == {1}
    model(**padded_batch())
    assert rows[-1] == 9 and queried[-1] == 9
