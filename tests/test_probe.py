"""LP-FT's probe: the head trains alone on cached features, through the model's own head code."""
from __future__ import annotations

import json

import pytest
import torch
from conftest import build_model
from accelerate import Accelerator
from test_methods import prepared

from sentiment_lab.config import ConfigError, RunConfig
from sentiment_lab.probe import HeadOnFeatures, head_features, probe_head
from sentiment_lab.runner import Runner
from sentiment_lab.runs import read_status
from sentiment_lab.train_loop import LoopSettings, TokenBatches, evaluate


def built(method, model_dir, data_dir, **options):
    ds, tok = prepared(model_dir, data_dir)
    torch.manual_seed(0)
    model = build_model(RunConfig(method=method, model=str(model_dir), **options).validated())
    train, val = (TokenBatches(ds.splits[s], tok.pad_token_id, 8, 0) for s in ("train", "validation"))
    return model, train, val


@pytest.mark.parametrize("method, options", [("full", {}), ("lora", {}), ("adapters", {}), ("full", {"head": "mean_last4"})])
def test_the_head_on_cached_features_gives_the_models_own_logits(method, options, tiny_model, tiny_data):
    model, _, val = built(method, tiny_model, tiny_data, **options)
    features, _ = head_features(model, val, Accelerator(cpu=True))
    model.eval()
    with torch.no_grad():
        direct = torch.cat([model(**inputs).logits for inputs, _ in val.eval()])
        replayed = HeadOnFeatures(model)(features)
    assert features.shape == (16, 32)
    torch.testing.assert_close(replayed, direct, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("method", ["full", "lora", "adapters"])
def test_the_probe_trains_the_head_and_nothing_else(method, tiny_model, tiny_data):
    model, train, val = built(method, tiny_model, tiny_data)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    # Validated on its own training sentences, which the tiny task makes learnable from frozen random features.
    untrained = evaluate(model, train, Accelerator(cpu=True), 2)
    best = probe_head(model, train, train, LoopSettings(epochs=1, lr=1e-3), 10, Accelerator(cpu=True), 2, seed=0, lr=1e-2)
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    head = {"classifier", "pre_classifier", "pooler"}
    assert changed and all(set(n.split(".")) & head for n in changed), sorted(changed)
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags  # LoRA's and the adapters' weights train next
    after = evaluate(model, train, Accelerator(cpu=True), 2)
    assert after["accuracy"] == pytest.approx(best["accuracy"])  # the kept probe is what the model now holds
    assert after["accuracy"] > max(0.75, untrained["accuracy"]) and after["loss"] < untrained["loss"]


def test_a_run_with_a_probe_reports_it(tiny_models, tiny_data, tmp_path):
    # bf16 off: accelerate keeps one state per process, and the tests above made it fp32.
    cfg = RunConfig(method="lora", model=str(tiny_models["bert"]), dataset=str(tiny_data), epochs=1, batch_size=8,
                    probe_epochs=2, device="cpu", bf16="off").validated()
    assert Runner(cfg, tmp_path / "run", progress=False).run() == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert 0 <= results["probe"]["accuracy"] <= 1 and results["probe"]["epoch"] <= 2


@pytest.mark.parametrize("value", [-1, 1e9])
def test_probe_epochs_out_of_range_are_refused_by_name(value):
    with pytest.raises(ConfigError, match="probe_epochs"):
        RunConfig(probe_epochs=value).validated()


def test_stop_during_the_probe_stops_the_run_cleanly(tiny_models, tiny_data, tmp_path):
    cfg = RunConfig(method="adapters", model=str(tiny_models["bert"]), dataset=str(tiny_data), epochs=1, batch_size=8,
                    probe_epochs=2, device="cpu", bf16="off").validated()
    assert Runner(cfg, tmp_path / "run", should_stop=lambda: True, progress=False).run() == 0
    assert read_status(tmp_path / "run")["state"] == "stopped"
    assert not (tmp_path / "run" / "artefacts").exists()
