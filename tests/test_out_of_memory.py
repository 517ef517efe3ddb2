"""When the device runs out of memory on a batch, the loop takes that batch and the ones after it in parts:
the same steps, whose gradients add up to the whole batch's; a run that parts cannot help says what to lower."""

from __future__ import annotations

import pytest
import torch
from accelerate import Accelerator
from test_methods import ID2LABEL, prepared
from torch import nn

from sentiment_lab.training import loop, methods
from sentiment_lab.training.config import Optimisation, RunConfig
from sentiment_lab.training.loop import TokenBatches, fit
from sentiment_lab.training.micro_batches import parts_of


def out_of_memory_on(monkeypatch, fails) -> list[int]:
    """Training forwards raise CUDA's out-of-memory error where `fails(call number, rows)` says so; returns
    the rows of each training forward that went through."""
    taken, calls, real = [], [0], loop.logits_of

    def logits_of(model, inputs):
        if model.training:
            calls[0] += 1
            if fails(calls[0], len(inputs["input_ids"])):
                raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB.")
            taken.append(len(inputs["input_ids"]))
        return real(model, inputs)

    monkeypatch.setattr(loop, "logits_of", logits_of)
    return taken


def trained(model_dir, data_dir, steps: int = 4):
    """A full fine-tuning model after `steps` steps of 8 sentences, without dropout (parts draw other masks)."""
    ds, tok = prepared(model_dir, data_dir)
    cfg = RunConfig.of(method="full", model=str(model_dir)).validated()
    torch.manual_seed(0)
    model = methods.build(cfg, ID2LABEL)
    for m in model.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
    settings = Optimisation(epochs=steps / len(train), lr=1e-3, evals_per_epoch=1)
    lines = []
    result = fit(model, train, train, settings, Accelerator(cpu=True), 2, lambda r: None, log=lines.append)
    return model, result, lines


def test_a_part_is_its_sentences_cut_to_their_longest():
    ids = torch.tensor([[5, 6, 7, 0], [5, 6, 0, 0], [5, 0, 0, 0], [5, 6, 7, 8], [5, 6, 0, 0]])
    inputs, y = {"input_ids": ids, "attention_mask": (ids > 0).long()}, torch.arange(5)
    parts = list(parts_of(inputs, y, 2))
    assert [p["input_ids"].tolist() for p, _ in parts] == [
        [[5, 6, 7], [5, 6, 0], [5, 0, 0]],
        [[5, 6, 7, 8], [5, 6, 0, 0]],
    ]
    assert [t.tolist() for _, t in parts] == [[0, 1, 2], [3, 4]]
    assert len(list(parts_of(inputs, y, 8))) == 5  # no empty part when there are more parts than sentences


def test_a_batch_out_of_memory_is_taken_again_in_parts_to_the_same_weights(tiny_models, tiny_data, monkeypatch):
    reference, _, _ = trained(tiny_models["bert"], tiny_data)
    # The first step's whole batch, then the second half of the second step's batch (after its first half's
    # backward): the loop must drop that half-done gradient, or it counts twice.
    taken = out_of_memory_on(monkeypatch, lambda call, rows: call in (1, 5))
    model, result, lines = trained(tiny_models["bert"], tiny_data)
    assert result.steps == 4 and result.micro_batches == 4
    assert taken[:2] == [4, 4] and taken[-4:] == [2, 2, 2, 2]
    assert "out of cpu memory at step 2: each batch is now taken in 4 parts" in lines[-1]
    # Their answers, not each weight: a key bias's gradient is zero but for rounding, which AdamW scales up.
    ds, tok = prepared(tiny_models["bert"], tiny_data)
    inputs, _ = next(TokenBatches(ds.splits["validation"], tok.pad_token_id, 16, 0).eval())
    with torch.no_grad():
        gap = (model.eval()(**inputs).logits - reference.eval()(**inputs).logits).abs().max().item()
    assert gap < 1e-4  # rounding; the half-done gradient, left in, moves them well past this


def test_out_of_memory_with_one_sentence_at_a_time_fails_the_run_saying_what_to_lower(
    tiny_models, tiny_data, tmp_path, monkeypatch
):
    from sentiment_lab.training.records import read_status
    from sentiment_lab.training.runner import Runner

    out_of_memory_on(monkeypatch, lambda call, rows: True)
    cfg = RunConfig.of(
        method="lora", model=str(tiny_models["bert"]), dataset=str(tiny_data), epochs=1, device="cpu", bf16="off",
        batch_size=4,
    ).validated()  # fmt: skip
    assert Runner(cfg, tmp_path / "run", progress=False).run() == 1
    status = read_status(tmp_path / "run")
    assert status["state"] == "failed"
    assert status["error"] == "out of cpu memory at step 1 with one sentence at a time: lower Max length"


@pytest.mark.parametrize("method", ["lora", "adapters"])
def test_a_run_that_ran_out_of_memory_logs_and_records_its_parts(
    method, tiny_models, tiny_data, tmp_path, monkeypatch, capsys
):
    import json

    from conftest import train_one

    out_of_memory_on(monkeypatch, lambda call, rows: rows > 4)  # batches of 8 fit in two parts
    train_one(tiny_models["bert"], method, tiny_data, tmp_path, "run")
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["micro_batches"] == 2 and results["steps"] == 8  # every step of the run, 64 sentences
    assert "out of cpu memory at step 1: each batch is now taken in 2 parts" in capsys.readouterr().out  # its log


def test_a_resumed_run_goes_on_in_the_parts_it_had_come_to(tiny_models, tiny_data, monkeypatch):
    ds, tok = prepared(tiny_models["bert"], tiny_data)
    cfg = RunConfig.of(method="lora", model=str(tiny_models["bert"])).validated()
    train = TokenBatches(ds.splits["train"], tok.pad_token_id, 8, 0)
    settings = Optimisation(epochs=1, lr=1e-3, evals_per_epoch=2)
    taken = out_of_memory_on(monkeypatch, lambda call, rows: rows > 4)
    states, lines = [], []
    fit(methods.build(cfg, ID2LABEL), train, train, settings, Accelerator(cpu=True), 2, lambda r: None,
        snapshot=states.append, log=lines.append)  # fmt: skip
    assert states[0]["step"] == 4 and states[0]["micro_batches"] == 2 and len(lines) == 1
    taken.clear()
    result = fit(methods.build(cfg, ID2LABEL), train, train, settings, Accelerator(cpu=True), 2, lambda r: None,
                 resume=states[0], log=lines.append)  # fmt: skip
    assert result.steps == 8 and taken == [4] * 8 and len(lines) == 1  # from its first step on, no error again
