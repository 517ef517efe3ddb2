"""The training loop's own choices (train_loop.py) not covered by the method tests."""

from __future__ import annotations

import contextlib

import torch


def test_cpu_bf16_training_takes_the_math_attention_kernel(monkeypatch):
    """Adapters train without attention dropout, where PyTorch's fused CPU kernel is 1.7x slower in
    bf16 training than the math kernel: training_attention asks for the math kernel there only."""
    import torch.nn.attention as attention

    from sentiment_lab.training.cpu_levers import training_attention

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
