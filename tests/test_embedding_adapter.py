"""The adapter on the token embeddings (--embedding_adapter), for LoRA and adapters, on tiny BERT and DistilBERT."""
from __future__ import annotations

import json

import pytest
import torch
from accelerate import Accelerator
from test_methods import assert_reloads_identically, build, prepared

from sentiment_lab import embedding_adapter
from sentiment_lab.backbone import load_encoder
from sentiment_lab.config import ConfigError, RunConfig
from sentiment_lab.train_loop import LoopSettings, TokenBatches, fit, logits_of

WIDTH = 16


def adapter_weights(model) -> dict[str, torch.Tensor]:
    return {n: p for n, p in model.named_parameters() if "word_embeddings.adapter." in n}


@pytest.mark.parametrize("method,init", [("adapters", None), ("lora", "pissa"), ("lora", "zero")])
def test_it_starts_as_the_identity_trains_and_reloads_around_a_shared_encoder(method, init, tiny_model, tiny_data, tmp_path):
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    extra = {"lora_init": init} if init else {}
    cfg = RunConfig(method=method, model=str(tiny_model), embedding_adapter=WIDTH, **extra).validated()
    without = RunConfig(method=method, model=str(tiny_model), **extra).validated()
    model, train, val, _ = build(method, cfg, ds, tok)
    torch.manual_seed(0)
    plain, *_ = build(method, without, ds, tok)
    weights = adapter_weights(model)
    assert len(weights) == 4 and all(p.requires_grad for p in weights.values()), sorted(weights)
    # Its up-projection starts at zero: the untrained model answers as the one without it.
    batch, _ = next(TokenBatches(ds.splits["test"], tok.pad_token_id, 16, 0).eval())
    with torch.inference_mode():
        torch.testing.assert_close(logits_of(model.eval(), batch), logits_of(plain.eval(), batch))
    before = {n: p.detach().clone() for n, p in weights.items()}
    fit(model.train(), train, val, LoopSettings(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    assert all(not torch.equal(v, weights[n]) for n, v in before.items()), "an embedding-adapter tensor did not train"
    encoder = load_encoder(cfg.model)
    shared = {n: p.detach().clone() for n, p in encoder.named_parameters()}
    assert_reloads_identically(model, cfg, ds, tok, tmp_path, encoder)
    assert all(torch.equal(p, shared[n]) for n, p in encoder.named_parameters()), "loading wrote into the shared encoder"
    assert not any("adapter" in n for n, _ in encoder.named_parameters()), "the shared encoder got an adapter"


def test_its_output_changes_the_answers_once_trained(tiny_model, tiny_data):
    """The hook is on the path: zeroing the trained up-projection changes the logits back."""
    torch.manual_seed(0)
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method="adapters", model=str(tiny_model), embedding_adapter=WIDTH).validated()
    model, train, val, _ = build("adapters", cfg, ds, tok)
    fit(model, train, val, LoopSettings(epochs=2, lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    batch, _ = next(TokenBatches(ds.splits["test"], tok.pad_token_id, 16, 0).eval())
    with torch.inference_mode():
        trained = logits_of(model.eval(), batch)
        embedding_adapter.token_table(model).adapter.up.weight.zero_()
        embedding_adapter.token_table(model).adapter.up.bias.zero_()
        assert not torch.allclose(trained, logits_of(model, batch))


def test_a_lora_run_without_its_file_is_refused_by_name(tiny_model, tiny_data, tmp_path):
    from sentiment_lab import methods

    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method="lora", model=str(tiny_model), embedding_adapter=WIDTH).validated()
    model, *_ = build("lora", cfg, ds, tok)
    methods.get("lora").save(model, tmp_path, cfg, tok)
    (tmp_path / embedding_adapter.ARTEFACT).unlink()
    with pytest.raises(ValueError, match=embedding_adapter.ARTEFACT):
        methods.get("lora").load(tmp_path, cfg, {0: "neg", 1: "pos"})


def test_its_default_is_the_methods_and_a_saved_run_keeps_its_own(tmp_path):
    assert RunConfig(method="lora").embedding_adapter == 128
    assert RunConfig(method="adapters").embedding_adapter == 0 and RunConfig(method="full").embedding_adapter == 0
    assert RunConfig(method="lora", embedding_adapter="").validated().embedding_adapter == 128  # a blank form field
    assert RunConfig(method="lora", embedding_adapter=0).validated().embedding_adapter == 0
    saved = RunConfig(method="lora").validated().to_dict()
    assert saved["embedding_adapter"] == 128  # stored resolved: a later default does not change the run
    del saved["embedding_adapter"]  # a LoRA run saved before the option existed had none
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert RunConfig.load(tmp_path / "config.json").embedding_adapter == 0


def test_the_setting_counts_only_for_lora_and_adapters_and_is_checked():
    assert "embedding_adapter" in RunConfig(method="adapters").settings()
    assert "embedding_adapter" in RunConfig(method="lora").settings()
    assert "embedding_adapter" not in RunConfig(method="full").settings()
    with pytest.raises(ConfigError, match="embedding_adapter"):
        RunConfig(method="adapters", embedding_adapter=-1).validated()


@pytest.mark.parametrize("method,own,expected", [("adapters", None, 0.1), ("adapters", 0.0, 0.0), ("lora", None, 0.0), ("lora", 0.3, 0.3)])
def test_its_dropout_is_its_own_setting_or_the_methods(method, own, expected, tiny_model, tiny_data):
    ds, tok = prepared(tiny_model, tiny_data)
    cfg = RunConfig(method=method, model=str(tiny_model), embedding_adapter=WIDTH, embedding_adapter_dropout=own).validated()
    model, *_ = build(method, cfg, ds, tok)
    assert embedding_adapter.token_table(model).adapter.dropout.p == expected


def test_its_dropout_counts_only_for_lora_and_adapters_and_is_checked():
    assert "embedding_adapter_dropout" in RunConfig(method="adapters").settings()
    assert "embedding_adapter_dropout" not in RunConfig(method="freeze").settings()
    with pytest.raises(ConfigError, match="embedding_adapter_dropout"):
        RunConfig(method="lora", embedding_adapter_dropout=0.95).validated()
