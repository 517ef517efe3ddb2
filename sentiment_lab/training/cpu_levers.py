"""The training step's CPU levers, switched on for one `fit` (README, "On this CPU"): each trains as the plain
step does, only faster on a CPU (the dropouts draw other masks at the same rate), and none applies on another
device. `bench.levers` measures each."""

from __future__ import annotations

import contextlib

import torch

from sentiment_lab.training.cpu_attention import restore_attention, use_integer_mask_attention
from sentiment_lab.training.cpu_dropout import use_integer_masks
from sentiment_lab.training.embedding_grad import keep_embedding_grad
from sentiment_lab.training.frozen_casts import cast_frozen_linears_once, uncast


def training_attention(device: torch.device, bf16: bool):
    """On a CPU in bf16, training steps take the plain math attention kernel: with attention dropout off
    PyTorch otherwise picks its fused CPU kernel, much slower for bf16 training (bench.levers, "math
    attention"); with dropout on it takes the math kernel anyway. In fp32, on GPUs and for evaluation
    the default kernels stay."""
    if device.type != "cpu" or not bf16:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel(SDPBackend.MATH)


class CpuLevers:
    """Switches `model` to the CPU levers when `accelerator` trains on a CPU; `close` gives back what only the
    steps may use (the integer-mask dropout modules stay: in evaluation they are nn.Dropout's identity)."""

    def __init__(self, model, accelerator):
        self.device, self.bf16 = accelerator.device, accelerator.mixed_precision == "bf16"
        self.switched, self.cast_once, self.kept = [], [], None
        if self.device.type != "cpu":
            return
        use_integer_masks(model)  # bernoulli_ masks are slow there; CUDA's fused dropout is not
        self.switched = use_integer_mask_attention(model)  # likewise the attention probabilities' dropout
        self.cast_once = cast_frozen_linears_once(model)  # frozen weights copied to bf16 once, not every step
        if accelerator.num_processes == 1:  # DDP expects its own dense gradient buffers
            self.kept = keep_embedding_grad(model)  # the token table's gradient in a kept buffer

    def step_context(self):
        """Around each training step's forward."""
        return training_attention(self.device, self.bf16)

    def after_step(self, inputs: dict) -> None:
        """After the optimizer step and zero_grad."""
        if self.kept is not None:
            self.kept.clear(inputs)

    def close(self) -> None:
        if self.kept is not None:
            self.kept.close()
        restore_attention(self.switched)
        uncast(self.cast_once)
