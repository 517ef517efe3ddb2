"""The CPU's integer-mask dropout is dropout: the same rate, scaling, gradient and generator as nn.Dropout."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from test_methods import prepared
from torch import nn

from sentiment_lab.training import methods
from sentiment_lab.training.config import Optimisation, RunConfig
from sentiment_lab.training.cpu_dropout import IntegerMaskDropout, use_integer_masks
from sentiment_lab.training.loop import TokenBatches, fit


@pytest.mark.parametrize("p", [0.1, 0.5])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_it_drops_a_share_p_and_scales_the_rest_as_nn_dropout_does(p, dtype):
    torch.manual_seed(0)
    drop = IntegerMaskDropout(p).train()
    # Never zero, so a zero is a drop; the size is no multiple of 4, so the last random word is part used.
    x = (torch.rand(1000, 1001) + 0.5).to(dtype)
    y = drop(x)
    dropped = (y == 0).double().mean().item()
    assert abs(dropped - p) < 5 * (p * (1 - p) / x.numel()) ** 0.5  # five standard errors
    assert torch.equal(y[y != 0], (x * (1 / (1 - p)))[y != 0])  # scaled by 1/(1-p) in fp32 arithmetic, also for bf16
    rows = (y == 0).double().mean(1)  # no stripes: every row and each 16-bit quarter of a word drop at the rate
    assert rows.std().item() < 3 * (p * (1 - p) / 1001) ** 0.5
    quarters = [(y.flatten()[i::4] == 0).double().mean().item() for i in range(4)]
    assert max(quarters) - min(quarters) < 0.01


def test_its_gradient_is_the_mask_and_eval_or_p0_is_the_identity():
    torch.manual_seed(1)
    x = torch.randn(64, 33, requires_grad=True)
    drop = IntegerMaskDropout(0.2).train()
    y = drop(x)
    y.sum().backward()
    assert torch.equal(x.grad == 0, y == 0) and torch.allclose(x.grad[y != 0], torch.tensor(1.25))
    assert drop.eval()(x) is x and IntegerMaskDropout(0.0).train()(x) is x
    assert torch.equal(IntegerMaskDropout(1.0).train()(x), torch.zeros_like(x))


def test_it_draws_from_torchs_generator_so_a_seed_repeats_its_masks():
    drop = IntegerMaskDropout(0.1).train()
    x = torch.ones(100, 100)
    torch.manual_seed(5)
    first = drop(x)
    state = torch.get_rng_state()
    second = drop(x)
    torch.set_rng_state(state)  # what resume restores
    assert torch.equal(drop(x), second) and not torch.equal(first, second)


def test_a_models_dropouts_are_swapped_in_place_and_its_state_dict_is_unchanged():
    model = nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.1), nn.Sequential(nn.Dropout(0.3)), nn.Identity())
    keys = list(model.state_dict())
    assert use_integer_masks(model) == 2
    assert [type(m) for m in model if isinstance(m, nn.Dropout)] == [IntegerMaskDropout]
    assert model[1].p == 0.1 and model[2][0].p == 0.3 and list(model.state_dict()) == keys
    assert use_integer_masks(model) == 0  # already swapped


def test_training_on_the_cpu_uses_it_for_every_dropout_module(tiny_models, tiny_data):
    ds, tok = prepared(tiny_models["bert"], tiny_data)
    cfg = RunConfig.of(method="lora", model=str(tiny_models["bert"])).validated()
    model = methods.build(cfg, {0: "neg", 1: "pos"})
    before = sum(type(m) is nn.Dropout for m in model.modules())
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
    fit(model, train, train, Optimisation(epochs=1, lr=1e-3), Accelerator(cpu=True), 2, report=lambda r: None)
    assert before > 6  # the model's own and LoRA's
    assert sum(type(m) is IntegerMaskDropout for m in model.modules()) == before
