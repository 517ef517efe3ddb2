"""Trained rows of the token embedding table (--token_rows) for LoRA and adapters, on tiny BERT and DistilBERT."""
from __future__ import annotations

import json

import pytest
import torch
from accelerate import Accelerator
from test_methods import ID2LABEL, assert_reloads_identically, prepared

from sentiment_lab import methods, token_rows
from sentiment_lab.backbone import load_encoder
from sentiment_lab.config import ConfigError, RunConfig
from sentiment_lab.embedding_adapter import token_table
from sentiment_lab.param_groups import param_groups
from sentiment_lab.train_loop import LoopSettings, TokenBatches, fit, logits_of

ROWS = 12


def batch(ids: list[list[int]], mask: list[list[int]]):
    return {"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask)}, torch.zeros(len(ids))


def test_most_frequent_counts_real_tokens_and_breaks_ties_by_id():
    batches = [batch([[5, 7, 7, 0], [9, 5, 7, 0]], [[1, 1, 1, 0], [1, 1, 1, 0]]),  # 0 is padding: never counted
               batch([[9, 3, 0, 0]], [[1, 1, 0, 0]])]
    # counts: 7 x3, 5 x2, 9 x2, 3 x1
    assert token_rows.most_frequent(batches, 1, 10).tolist() == [7]
    assert token_rows.most_frequent(batches, 2, 10).tolist() == [5, 7]  # 5 and 9 tie: the smaller id
    assert token_rows.most_frequent(batches, 100, 10).tolist() == [3, 5, 7, 9]  # never-seen tokens get no row


def with_rows(tiny_model, ds, tok, rows: int, method="lora", **extra):
    cfg = RunConfig(method=method, model=str(tiny_model), token_rows=rows, **extra).validated()
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
    model = methods.build(cfg, ID2LABEL, train)
    return cfg, model, train, TokenBatches(ds.splits["validation"], tok.pad_token_id, 8, 0)


@pytest.mark.parametrize("method,extra", [("lora", {"lora_init": "pissa"}), ("lora", {"lora_init": "zero"}),
                                          ("adapters", {"embedding_adapter": 8}), ("adapters", {})])
def test_rows_start_at_zero_train_alone_and_reload_around_a_shared_encoder(method, extra, tiny_model, tiny_data, tmp_path):
    ds, tok = prepared(tiny_model, tiny_data)
    torch.manual_seed(0)
    cfg, model, train, val = with_rows(tiny_model, ds, tok, ROWS, method, **extra)
    torch.manual_seed(0)
    _, plain, _, _ = with_rows(tiny_model, ds, tok, 0, method, **extra)
    rows = token_table(model).rows
    assert rows.delta.shape[0] == ROWS and rows.delta.requires_grad
    test_batch, _ = next(TokenBatches(ds.splits["test"], tok.pad_token_id, 16, 0).eval())
    with torch.inference_mode():  # zero corrections: the pre-trained table
        torch.testing.assert_close(logits_of(model.eval(), test_batch), logits_of(plain.eval(), test_batch))
    fit(model.train(), train, val, LoopSettings(epochs=2, lr=1e-2, token_rows_lr=1e-2), Accelerator(cpu=True), 2,
        report=lambda r: None)
    assert rows.delta.detach().abs().sum(dim=1).gt(0).all(), "a chosen row did not train"
    others = torch.tensor([i for i in range(len(rows.slot)) if i not in set(rows.token_ids.tolist())][:50])
    assert torch.equal(rows(others), torch.zeros(len(others), rows.delta.shape[1])), "a row that was not chosen moved"
    encoder = load_encoder(cfg.model)
    shared = {n: p.detach().clone() for n, p in encoder.named_parameters()}
    assert_reloads_identically(model, cfg, ds, tok, tmp_path, encoder)
    assert all(torch.equal(p, shared[n]) for n, p in encoder.named_parameters()), "loading wrote into the shared encoder"


def test_the_rows_change_the_answers_once_trained(tiny_model, tiny_data):
    """The hook is on the path, and it runs before the embedding adapter's (which reads the corrected rows)."""
    ds, tok = prepared(tiny_model, tiny_data)
    torch.manual_seed(0)
    _, model, train, val = with_rows(tiny_model, ds, tok, ROWS)
    fit(model, train, val, LoopSettings(epochs=2, lr=1e-2, token_rows_lr=1e-2), Accelerator(cpu=True), 2, report=lambda r: None)
    table = token_table(model)
    ids = table.rows.token_ids[:3].unsqueeze(0)
    with torch.inference_mode():
        out = table.eval()(ids)
        raw = torch.nn.functional.embedding(ids, table.weight) + table.rows(ids)
        torch.testing.assert_close(out, raw + table.adapter.delta(raw))
        batch_, _ = next(TokenBatches(ds.splits["test"], tok.pad_token_id, 16, 0).eval())
        trained = logits_of(model.eval(), batch_)
        table.rows.delta.zero_()
        assert not torch.allclose(trained, logits_of(model, batch_))


def test_rows_train_at_their_own_rate(tiny_model, tiny_data):
    ds, tok = prepared(tiny_model, tiny_data)
    _, model, _, _ = with_rows(tiny_model, ds, tok, ROWS)
    groups = param_groups(model, 5e-4, 0.01, rows_lr=5e-5)
    delta = token_table(model).rows.delta
    (rate,) = [g["lr"] for g in groups if any(p is delta for p in g["params"])]
    assert rate == 5e-5
    assert {g["lr"] for g in groups if not any(p is delta for p in g["params"])} == {5e-4}


@pytest.mark.parametrize("method", ["lora", "adapters"])
def test_a_run_without_its_file_is_refused_by_name(method, tiny_model, tiny_data, tmp_path):
    ds, tok = prepared(tiny_model, tiny_data)
    cfg, model, _, _ = with_rows(tiny_model, ds, tok, ROWS, method)
    methods.get(method).save(model, tmp_path, cfg, tok)
    (tmp_path / token_rows.ARTEFACT).unlink()
    with pytest.raises(ValueError, match=token_rows.ARTEFACT):
        methods.get(method).load(tmp_path, cfg, ID2LABEL)


@pytest.mark.parametrize("method", ["lora", "adapters"])
def test_building_without_training_batches_is_refused(method, tiny_model):
    cfg = RunConfig(method=method, model=str(tiny_model), token_rows=ROWS).validated()
    with pytest.raises(ValueError, match="token_rows"):
        methods.build(cfg, ID2LABEL)


def test_settings_ranges_and_older_runs(tmp_path):
    assert RunConfig(method="lora").token_rows == 4000 and RunConfig(method="adapters").token_rows == 0
    assert RunConfig(method="lora", token_rows="").validated().token_rows == 4000  # a blank form field
    for bad in ({"token_rows": -1}, {"token_rows": 1.5}, {"token_rows_lr": 0}, {"token_rows_lr": 2}):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            RunConfig(method="lora", **bad).validated()
    # LoRA's and adapters' own setting: a full run's settings do not carry it.
    assert "token_rows" not in RunConfig(method="full", token_rows=5).validated().settings()
    saved = RunConfig(method="lora").to_dict()
    del saved["token_rows"], saved["token_rows_lr"]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded = RunConfig.load(tmp_path / "config.json")
    # A LoRA run saved before the rows trained without them, whatever today's default.
    assert loaded.token_rows == 0 and loaded.settings() != RunConfig(method="lora").validated().settings()
    assert loaded.settings() == RunConfig(method="lora", token_rows=0).validated().settings()
