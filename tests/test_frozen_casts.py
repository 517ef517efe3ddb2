"""Frozen linear layers cast to bf16 once per fit compute exactly what autocast's per-step casts compute."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from test_methods import built_with_a_say, prepared
from torch import nn

from bench.throughput import fresh_accelerator_state
from sentiment_lab.training import methods
from sentiment_lab.training.config import Optimisation, RunConfig
from sentiment_lab.training.encoder_parts import layout
from sentiment_lab.training.frozen_casts import CastOnceLinear, cast_frozen_linears_once, uncast
from sentiment_lab.training.loop import TokenBatches, fit


def logits_and_grads(model, inputs: dict, y: torch.Tensor):
    torch.manual_seed(3)  # the same dropout masks on both sides
    model.zero_grad(set_to_none=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = model(**inputs).logits.float()
    torch.nn.functional.cross_entropy(logits, y).backward()
    return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("method", ["lora", "adapters"])
def test_outputs_and_gradients_equal_autocasts_own_casts_bit_for_bit(method, tiny_model, tiny_data):
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig.of(method=method, model=str(tiny_model)).validated()
    model = built_with_a_say(cfg).train()
    inputs, y = next(iter(TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0).epoch(0)))
    plain = logits_and_grads(model, inputs, y)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    layers = cast_frozen_linears_once(model)
    assert len(layers) >= 4 * layout(model).count and all(type(m) is CastOnceLinear for m in layers)
    once = logits_and_grads(model, inputs, y)
    again = logits_and_grads(model, inputs, y)  # from the kept copies
    assert torch.equal(plain[0], once[0]) and torch.equal(plain[0], again[0])
    for name, grad in plain[1].items():
        assert torch.equal(grad, once[1][name]), name
    after = model.state_dict()  # the weights themselves stay as they were, in fp32
    assert list(after) == list(state)
    assert all(torch.equal(after[k], v) and after[k].dtype == v.dtype for k, v in state.items())
    uncast(layers)
    assert all(type(m) is nn.Linear and "_cast_once" not in m.__dict__ for m in layers)


def test_only_frozen_layers_change_and_without_autocast_nothing_is_kept():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2))
    model[1].requires_grad_(False)
    model[0].bias.requires_grad_(False)  # a weight that trains: not frozen
    assert cast_frozen_linears_once(model) == [model[1]] and type(model[0]) is nn.Linear
    x = torch.randn(3, 4)
    assert torch.equal(model(x), nn.functional.linear(model[0](x), model[1].weight, model[1].bias))
    assert "_cast_once" not in model[1].__dict__  # fp32 without autocast: the plain layer's path
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
    assert out.dtype == torch.bfloat16 and model[1].__dict__["_cast_once"][0].dtype == torch.bfloat16


@pytest.fixture
def bf16_accelerator():
    """A bf16 CPU accelerator in a state of its own: accelerate keeps one precision a process, and other tests'
    accelerators are fp32."""
    fresh_accelerator_state()
    yield Accelerator(cpu=True, mixed_precision="bf16")
    fresh_accelerator_state()


def test_fit_casts_the_frozen_layers_while_it_trains_and_gives_plain_layers_back(
    tiny_models, tiny_data, bf16_accelerator
):
    ds, tok = prepared(tiny_models["distilbert"], tiny_data)
    cfg = RunConfig.of(method="lora", model=str(tiny_models["distilbert"])).validated()
    model = methods.build(cfg, {0: "neg", 1: "pos"})
    seen = []

    def report(record: dict) -> None:
        seen.append(sum("_cast_once" in m.__dict__ for m in model.modules() if isinstance(m, CastOnceLinear)))

    train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
    opt = Optimisation(epochs=1, lr=1e-3, log_every=2)
    fit(model, train, train, opt, bf16_accelerator, 2, report=report)
    assert seen and min(seen) >= 4 * layout(model).count  # every frozen projection computed from its kept copy
    assert not any(isinstance(m, CastOnceLinear) for m in model.modules())
