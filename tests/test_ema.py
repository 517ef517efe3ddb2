"""Weight averaging: the shadow follows the formula, evaluations and the kept checkpoint use it."""
from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from test_methods import prepared

from sentiment_lab import methods
from sentiment_lab.config import RunConfig
from sentiment_lab.ema import WeightAverage
from sentiment_lab.train_loop import LoopSettings, TokenBatches, fit

ID2LABEL = {0: "neg", 1: "pos"}


def expected_average(history: list[torch.Tensor], decay: float, every: int = 4) -> torch.Tensor:
    """The shadow written out step by step: starts at the first value, then every `every`-th step
    moves toward the weights by the ramped decay to the power `every`."""
    shadow = history[0].clone()
    for t, value in enumerate(history[1:], start=1):
        if t % every == 0:
            d = min(decay, (1 + t) / (10 + t)) ** every
            shadow = d * shadow + (1 - d) * value
    return shadow


@pytest.mark.parametrize("every", [1, 3])
def test_shadow_follows_the_ramped_average(every):
    p = torch.nn.Parameter(torch.zeros(3))
    frozen = torch.nn.Parameter(torch.ones(2), requires_grad=False)
    average = WeightAverage([p, frozen], decay=0.9, every=every)
    assert len(average.shadow) == 1  # frozen weights never change, so they are not copied
    history = [p.detach().clone()]
    with torch.no_grad():
        for t in range(1, 40):
            p.add_(torch.tensor([1.0, -2.0, 0.5]) * t)
            history.append(p.detach().clone())
            average.update()
    assert torch.allclose(average.shadow[0], expected_average(history, 0.9, every), atol=1e-5)
    assert not torch.allclose(average.shadow[0], p)


def test_applied_swaps_in_the_average_and_restores_even_after_an_error():
    p = torch.nn.Parameter(torch.full((2,), 5.0))
    average = WeightAverage([p], decay=0.5)
    average.shadow[0].fill_(1.0)
    with pytest.raises(RuntimeError):
        with average.applied():
            assert torch.equal(p.detach(), torch.ones(2))
            raise RuntimeError("evaluation failed")
    assert torch.equal(p.detach(), torch.full((2,), 5.0))


def test_fit_keeps_the_average_of_the_weights_it_stepped_through(tiny_models, tiny_data):
    from torch.optim.optimizer import register_optimizer_step_post_hook

    ds, tok = prepared(tiny_models["bert"], tiny_data)
    torch.manual_seed(0)
    model = methods.full.build(RunConfig(method="full", model=str(tiny_models["bert"])).validated(), ID2LABEL)
    name = "classifier.weight"
    history = [dict(model.named_parameters())[name].detach().clone()]
    handle = register_optimizer_step_post_hook(lambda opt, a, k: history.append(dict(model.named_parameters())[name].detach().clone()))
    try:
        train = TokenBatches(ds.splits["train"], tok.pad_token_id, 2, 0)
        # One evaluation, at the end: the kept checkpoint is the average at that point.
        fit(model, train, train, LoopSettings(epochs=1, lr=1e-2, ema=0.8, evals_per_epoch=1), Accelerator(cpu=True), 2,
            report=lambda r: None)
    finally:
        handle.remove()
    assert len(history) == len(train) + 1 > 10
    kept = dict(model.named_parameters())[name].detach()
    assert torch.allclose(kept, expected_average(history, 0.8), atol=1e-5)
    assert not torch.allclose(kept, history[-1], atol=1e-4)  # the raw last weights differ, so the check bites
