"""Optimizer groups: head learning rate, layer-wise decay, no weight decay on vectors."""
from __future__ import annotations

import pytest
import torch
from conftest import build_model
from accelerate import Accelerator
from test_methods import prepared

from sentiment_lab import methods
from sentiment_lab.config import ConfigError, RunConfig
from sentiment_lab.param_groups import param_groups
from sentiment_lab.train_loop import LoopSettings, TokenBatches, fit

ID2LABEL = {0: "neg", 1: "pos"}
HEADS = ("classifier.", "pre_classifier.", "pooler.")


def lr_by_name(model, groups) -> dict[str, tuple[float, float]]:
    ids = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for g in groups:
        for p in g["params"]:
            assert ids[id(p)] not in out, "a parameter sits in two groups"
            out[ids[id(p)]] = (g["lr"], g["weight_decay"])
    return out


def is_head(name: str) -> bool:
    return any(f".{h}" in f".{name}" for h in HEADS)


@pytest.mark.parametrize("method", ["full", "lora", "adapters"])
def test_every_trainable_parameter_once_with_its_rate(method, tiny_model):
    model = build_model(RunConfig(method=method, model=str(tiny_model)).validated())
    got = lr_by_name(model, param_groups(model, 0.1, 0.01, head_lr=1.0, layer_decay=0.5))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert set(got) == trainable
    heads = [n for n in got if is_head(n)]
    assert heads and all(got[n][0] == 1.0 for n in heads)
    params = dict(model.named_parameters())
    for name, (lr, decay) in got.items():
        assert decay == (0.01 if params[name].ndim >= 2 else 0.0)
        if ".layer.1." in name:  # the top of the 2 layers
            assert lr == pytest.approx(0.1), name
        elif ".layer.0." in name:
            assert lr == pytest.approx(0.05), name
        elif "embeddings." in name:
            assert lr == pytest.approx(0.025), name


def test_defaults_give_one_rate(tiny_model):
    model = methods.full.build(RunConfig(method="full", model=str(tiny_model)).validated(), ID2LABEL)
    got = lr_by_name(model, param_groups(model, 0.1, 0.01))
    assert {lr for lr, _ in got.values()} == {0.1}
    assert {d for _, d in got.values()} == {0.0, 0.01}


def test_freeze_head_has_no_architecture_and_one_rate():
    model = methods.freeze.build(8, 2, 8)
    got = lr_by_name(model, param_groups(model, 0.1, 0.0, head_lr=1.0, layer_decay=0.5))
    assert {lr for lr, _ in got.values()} == {0.1}


def test_lora_plus_speeds_up_only_the_b_matrices(tiny_model):
    model = build_model(RunConfig(method="lora", model=str(tiny_model)).validated())
    got = lr_by_name(model, param_groups(model, 0.1, 0.01, lora_plus=16))
    b = [n for n in got if ".lora_B." in n]
    a = [n for n in got if ".lora_A." in n]
    assert b and a and len(a) == len(b)
    assert all(got[n][0] == pytest.approx(1.6) for n in b)
    assert all(got[n][0] == pytest.approx(0.1) for n in got if n not in b)


def test_adapter_plus_speeds_up_only_the_up_projections(tiny_model):
    model = build_model(RunConfig(method="adapters", model=str(tiny_model)).validated())
    got = lr_by_name(model, param_groups(model, 0.1, 0.01, adapter_plus=8))
    up = [n for n in got if ".adapter.up." in n]
    assert len(up) == 2 * 2  # weight and bias of 2 adapters (2 layers x one beside the feed-forward block)
    assert all(got[n][0] == pytest.approx(0.8) for n in up)
    assert all(got[n][0] == pytest.approx(0.1) for n in got if n not in up)


@pytest.mark.parametrize("field, value", [("head_lr", 0), ("head_lr", 2), ("layer_decay", 0), ("layer_decay", 1.5),
                                          ("ema", 1), ("ema", -0.1), ("lora_plus", 0), ("adapter_plus", 0),
                                          ("decay_ratio", 0), ("decay_ratio", 1.5)])
def test_bad_values_are_refused_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        RunConfig(**{field: value}).validated()


def test_a_larger_head_rate_moves_the_head_further(tiny_model, tiny_data):
    ds, tok = prepared(tiny_model, tiny_data)
    moved = {}
    for head_lr in (1e-5, 1e-2):
        torch.manual_seed(0)
        model = methods.full.build(RunConfig(method="full", model=str(tiny_model)).validated(), ID2LABEL)
        before = {n: p.detach().clone() for n, p in model.named_parameters()}
        train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
        settings = LoopSettings(epochs=1, lr=1e-3, head_lr=head_lr, warmup_ratio=0.0)
        fit(model, train, train, settings, Accelerator(cpu=True), 2, report=lambda r: None)
        moved[head_lr] = {n: (p.detach() - before[n]).abs().max().item() for n, p in model.named_parameters()}
    head = [n for n in moved[1e-2] if n.startswith("classifier.")]
    assert head and all(moved[1e-2][n] > 10 * moved[1e-5][n] for n in head)


def fit_full_recording(model_dir, data_dir, batch_size: int, settings: LoopSettings, record) -> TokenBatches:
    """Full fine-tuning of the tiny model with `record(optimizer)` called before every optimizer step;
    returns the training batches."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    ds, tok = prepared(model_dir, data_dir)
    model = methods.full.build(RunConfig(method="full", model=str(model_dir)).validated(), ID2LABEL)
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, batch_size, 0)
    handle = register_optimizer_step_pre_hook(lambda optimizer, args, kwargs: record(optimizer))
    try:
        fit(model, train, train, settings, Accelerator(cpu=True), 2, report=lambda r: None)
    finally:
        handle.remove()
    return train


@pytest.mark.parametrize("decay_ratio", [1.0, 0.25])
def test_the_rate_warms_up_holds_and_decays_over_the_last_decay_ratio_of_steps(decay_ratio, tiny_models, tiny_data):
    rates = []
    train = fit_full_recording(tiny_models["bert"], tiny_data, 2, LoopSettings(epochs=2, lr=1e-3, warmup_ratio=0.1, decay_ratio=decay_ratio),
                               lambda optimizer: rates.append(optimizer.param_groups[0]["lr"]))
    total = len(rates)
    warmup = int(0.1 * total)
    assert total == 2 * len(train) and warmup >= 1
    assert all(a < b for a, b in zip(rates[:warmup + 1], rates[1:warmup + 1]))  # warm-up climbs to the peak
    decay = round(decay_ratio * (total - warmup))
    assert rates[warmup:total - decay + 1] == [pytest.approx(1e-3)] * (total - decay - warmup + 1)  # hold (the peak step alone at 1)
    tail = rates[total - decay:]
    assert all(a > b for a, b in zip(tail, tail[1:])) and tail[-1] == pytest.approx(1e-3 / decay)  # linear to zero


@pytest.mark.parametrize("max_norm", [0.0, 0.01])
def test_gradients_are_clipped_before_each_step(max_norm, tiny_models, tiny_data):
    norms = []

    def record(optimizer):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())

    train = fit_full_recording(tiny_models["bert"], tiny_data, 8, LoopSettings(epochs=1, lr=1e-3, max_grad_norm=max_norm), record)
    assert len(norms) == len(train)
    if max_norm:
        assert max(norms) <= max_norm * 1.001
    else:
        assert max(norms) > 0.01  # unclipped gradients of this model are larger, so the case above tests something


def test_runs_saved_before_clipping_averaging_and_lora_plus_read_as_they_trained(tmp_path):
    import json

    saved = RunConfig(method="lora").to_dict()
    for name in ("max_grad_norm", "ema", "lora_plus"):
        del saved[name]
    saved["lr"], saved["resolved_lr"] = None, 2e-3  # trained at the default of its day
    (tmp_path / "config.json").write_text(json.dumps(saved))
    old = RunConfig.load(tmp_path / "config.json")
    assert (old.max_grad_norm, old.ema, old.lora_plus, old.learning_rate) == (0.0, 0.0, 1.0, 2e-3)
    RunConfig(method="lora", max_grad_norm=1.0).save(tmp_path / "config.json")
    assert RunConfig.load(tmp_path / "config.json").max_grad_norm == 1.0


def test_an_accuracy_run_is_reused_unless_a_setting_it_uses_changed():
    from bench.accuracy import same_config

    full = RunConfig(method="full").validated()
    assert same_config(RunConfig(method="full", lora_plus=1, adapter_dim=8).validated(), full)  # not its settings
    assert not same_config(RunConfig(method="full", ema=0).validated(), full)
    assert not same_config(RunConfig(method="lora", lora_plus=4).validated(), RunConfig(method="lora").validated())
    assert same_config(RunConfig(method="lora", lr=5e-4).validated(), RunConfig(method="lora").validated())  # the default's value


def test_adapter_runs_saved_before_the_placement_option_read_as_houlsby(tmp_path):
    import json

    saved = RunConfig(method="adapters", adapter_dim=64).to_dict()
    del saved["adapter_placement"], saved["lora_init"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    old = RunConfig.load(tmp_path / "config.json")
    assert (old.adapter_placement, old.adapter_dim, old.lora_init) == ("sequential", 64, "zero")
    assert RunConfig().adapter_placement == "parallel"  # today's default differs, so the fallback above matters
