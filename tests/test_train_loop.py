"""The training loop's own choices (train_loop.py) not covered by the method tests."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

import torch
from torch import nn

from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.cpu_dropout import IntegerMaskDropout
from sentiment_lab.training.cpu_levers import CpuLevers, training_attention
from sentiment_lab.training.frozen_casts import CastOnceLinear
from sentiment_lab.training.methods import build


def test_cpu_bf16_training_takes_the_math_attention_kernel(monkeypatch):
    """Adapters train without attention dropout, where PyTorch's fused CPU kernel is much slower in
    bf16 training than the math kernel (bench.levers, "math-attention"): training_attention asks for the math
    kernel there only."""
    import torch.nn.attention as attention

    asked = []
    monkeypatch.setattr(attention, "sdpa_kernel", lambda backend: asked.append(backend) or contextlib.nullcontext())
    with training_attention(torch.device("cpu"), bf16=True):
        pass
    assert asked == [attention.SDPBackend.MATH]
    with training_attention(torch.device("cpu"), bf16=False):
        pass
    assert asked == [attention.SDPBackend.MATH]  # fp32 keeps the default kernels (faster there)
    with training_attention(torch.device("cuda"), bf16=True):
        pass
    assert asked == [attention.SDPBackend.MATH]  # GPUs keep their fused kernels


def test_cpu_levers_switch_on_for_a_cpu_only_and_the_kept_gradient_for_one_process_only(tiny_models):
    def accelerator(device: str, processes: int = 1):
        return SimpleNamespace(device=torch.device(device), mixed_precision="bf16", num_processes=processes)

    def model(method: str):
        return build(RunConfig.of(method=method, model=str(tiny_models["bert"])).validated(), {0: "a", 1: "b"})

    def kinds(m) -> set:
        return {type(x) for x in m.modules()}

    gpu = model("lora")
    levers = CpuLevers(gpu, accelerator("cuda"))
    assert IntegerMaskDropout not in kinds(gpu) and CastOnceLinear not in kinds(gpu) and levers.kept is None
    assert isinstance(levers.step_context(), contextlib.nullcontext)
    lora = model("lora")
    levers = CpuLevers(lora, accelerator("cpu"))
    assert {IntegerMaskDropout, CastOnceLinear} <= kinds(lora) and levers.kept is None  # its token table is frozen
    assert lora.config._attn_implementation != "sdpa"
    levers.close()
    assert CastOnceLinear not in kinds(lora) and nn.Linear in kinds(lora) and lora.config._attn_implementation == "sdpa"
    assert CpuLevers(model("full"), accelerator("cpu")).kept is not None
    assert CpuLevers(model("full"), accelerator("cpu", processes=2)).kept is None  # DDP keeps its own buffers


def test_batches_pad_on_the_side_the_tokenizer_pads(tiny_models):
    """XLNet's tokenizer pads on the left (its classifier reads the last token): training batches pad there
    too, as its tokenizer pads the reviews Compare and the standard tools score."""
    from sentiment_lab.training.backbone import load_tokenizer
    from sentiment_lab.training.batching import collate, tokenize
    from sentiment_lab.training.data import Split, subsample

    texts = ["a good film", "a very very good and moving film", "bad"]
    tokenizer = load_tokenizer(str(tiny_models["bert"]))
    for side in ("right", "left"):
        tokenizer.padding_side = side
        split = Split(texts, torch.zeros(3, dtype=torch.long).numpy())
        tokenize(split, tokenizer, 32)
        split = subsample(split, 2, 0)  # a run's sample keeps the side
        ids, mask = collate(split.input_ids, range(2), tokenizer.pad_token_id, split.pad_left)
        padded = tokenizer(split.texts, padding=True, return_tensors="pt")
        assert ids.equal(padded["input_ids"]) and mask.equal(padded["attention_mask"]), side
