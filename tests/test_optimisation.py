"""The optimisation every torch method shares (the Trainer's): AdamW groups without weight decay on vectors,
linear warm-up then decay, gradient clipping; and how saved configs are read."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from conftest import build_model
from test_methods import prepared

from sentiment_lab.training import methods
from sentiment_lab.training.config import ConfigError, Optimisation, RunConfig
from sentiment_lab.training.loop import TokenBatches, fit
from sentiment_lab.training.param_groups import param_groups

ID2LABEL = {0: "neg", 1: "pos"}


def decay_by_name(model, groups) -> dict[str, float]:
    ids = {id(p): n for n, p in model.named_parameters()}
    out = {}
    for g in groups:
        for p in g["params"]:
            assert ids[id(p)] not in out, "a parameter sits in two groups"
            out[ids[id(p)]] = g["weight_decay"]
    return out


@pytest.mark.parametrize("method", ["full", "lora", "adapters"])
def test_every_trainable_parameter_once_with_decay_on_matrices_only(method, tiny_model):
    model = build_model(RunConfig.of(method=method, model=str(tiny_model)).validated())
    got = decay_by_name(model, param_groups(model, 0.01))
    assert set(got) == {n for n, p in model.named_parameters() if p.requires_grad}
    params = dict(model.named_parameters())
    assert all(decay == (0.01 if params[n].ndim >= 2 else 0.0) for n, decay in got.items())


@pytest.mark.parametrize(
    "field, value",
    [
        ("max_grad_norm", -1),
        ("warmup_ratio", 0.9),
        ("weight_decay", 2),
        ("lora_targets", "ffn"),
        ("pooling", "mean_concat"),
        ("adapter_dim", 0),
    ],
)
def test_bad_values_are_refused_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        RunConfig.of(**{field: value}).validated()


def fit_full_recording(model_dir, data_dir, batch_size: int, settings: Optimisation, record) -> TokenBatches:
    """Full fine-tuning of the tiny model with `record(optimizer)` called before every optimizer step;
    returns the training batches."""
    from torch.optim.optimizer import register_optimizer_step_pre_hook

    ds, tok = prepared(model_dir, data_dir)
    model = methods.full.build(RunConfig.of(method="full", model=str(model_dir)).validated(), ID2LABEL)
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, batch_size, 0)
    handle = register_optimizer_step_pre_hook(lambda optimizer, args, kwargs: record(optimizer))
    try:
        fit(model, train, train, settings, Accelerator(cpu=True), 2, report=lambda r: None)
    finally:
        handle.remove()
    return train


def test_the_rate_warms_up_then_decays_linearly_to_zero(tiny_models, tiny_data):
    rates = []
    train = fit_full_recording(
        tiny_models["bert"],
        tiny_data,
        2,
        Optimisation(epochs=2, lr=1e-3, warmup_ratio=0.1),
        lambda optimizer: rates.append(optimizer.param_groups[0]["lr"]),
    )
    total = len(rates)
    warmup = int(0.1 * total)
    assert total == 2 * len(train) and warmup >= 1
    assert all(a < b for a, b in zip(rates[: warmup + 1], rates[1 : warmup + 1]))  # warm-up climbs to the peak
    assert rates[warmup] == pytest.approx(1e-3)
    tail = rates[warmup:]
    assert all(a > b for a, b in zip(tail, tail[1:])) and tail[-1] == pytest.approx(
        1e-3 / (total - warmup)
    )  # linear to zero


@pytest.mark.parametrize("max_norm", [0.0, 0.01])
def test_gradients_are_clipped_before_each_step(max_norm, tiny_models, tiny_data):
    norms = []

    def record(optimizer):
        grads = [p.grad for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())

    train = fit_full_recording(
        tiny_models["bert"], tiny_data, 8, Optimisation(epochs=1, lr=1e-3, max_grad_norm=max_norm), record
    )
    assert len(norms) == len(train)
    if max_norm:
        assert max(norms) <= max_norm * 1.001
    else:
        assert max(norms) > 0.01  # unclipped gradients of this model are larger, so the case above tests something


def test_older_runs_load_as_they_trained_or_are_refused_by_name(tmp_path):
    import json

    old = {
        "method": "lora",
        "model": "minilm",
        "lr": None,
        "resolved_lr": 1e-3,
        "ema": 0.995,
        "lora_plus": 4.0,
        "lora_init": "zero",
        "token_rows": 0,
        "embedding_adapter": 0,
        "head": "cls",
        "lora_dropout": 0.1,
    }
    (tmp_path / "config.json").write_text(json.dumps(old))
    cfg = RunConfig.load(tmp_path / "config.json")  # training-only settings dropped, the rate it trained at kept
    assert (cfg.method, cfg.learning_rate, cfg.optimisation.max_grad_norm) == ("lora", 1e-3, 0.0)
    for setting, value, method in (
        ("lora_init", "pissa", "lora"),
        ("token_rows", 4000, "lora"),
        ("adapter_placement", "parallel", "adapters"),
        ("pooling", "mean_concat", "svm"),
        ("head", "mean", "full"),
    ):
        (tmp_path / "config.json").write_text(json.dumps({**old, "method": method, setting: value}))
        with pytest.raises(ConfigError, match=f"older Sentiment Lab with {setting} {value}.*d41a6a7"):
            RunConfig.load(tmp_path / "config.json")
    (tmp_path / "config.json").write_text(json.dumps({**old, "method": "full", "lora_init": "pissa"}))
    assert RunConfig.load(tmp_path / "config.json").method == "full"  # another method's setting does not matter
    RunConfig.of(method="lora", max_grad_norm=0.5).save(tmp_path / "config.json")
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["format"] == 3 and saved["optimisation"]["max_grad_norm"] == 0.5 and saved["lora"]["r"] == 8
    assert RunConfig.load(tmp_path / "config.json").optimisation.max_grad_norm == 0.5  # today's format reads as saved
    flat = {**RunConfig.of(method="lora", lora_r=4, epochs=2).flat(), "format": 2, "resolved_lr": 2e-3}
    (tmp_path / "config.json").write_text(json.dumps(flat))  # format 2: one flat object, as before sections
    cfg = RunConfig.load(tmp_path / "config.json")
    assert (cfg.lora.r, cfg.optimisation.epochs, cfg.learning_rate) == (4, 2, 2e-3)


def test_an_accuracy_run_is_reused_unless_a_setting_it_uses_changed():
    from bench.accuracy import same_config

    full = RunConfig.of(method="full").validated()
    assert same_config(
        RunConfig.of(method="full", lora_r=4, adapter_dim=8, pooling="cls").validated(), full
    )  # not its settings
    assert not same_config(RunConfig.of(method="full", max_grad_norm=0).validated(), full)
    assert not same_config(RunConfig.of(method="lora", lora_r=4).validated(), RunConfig.of(method="lora").validated())
    assert same_config(
        RunConfig.of(method="lora", lr=2e-3).validated(), RunConfig.of(method="lora").validated()
    )  # the default's value
