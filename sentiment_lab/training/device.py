"""Where a run computes and in which precision: its accelerator, its mixed precision, its seeds."""

from __future__ import annotations

import functools
import os
import random

import numpy as np
import torch

from sentiment_lab.training.config import ConfigError, RunConfig


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_accelerator(cfg: RunConfig, fp32: bool = False):
    """The run's accelerator; `fp32`: no mixed precision, whatever `cfg.bf16` would choose."""
    from accelerate import Accelerator

    if cfg.device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {cfg.device}: no CUDA GPU is visible here; use --device auto or cpu")
    if cfg.device not in ("auto", "cpu", "mps") and not cfg.device.startswith("cuda"):
        raise ConfigError(f"device must be auto, cpu, cuda, cuda:N or mps, got {cfg.device!r}")
    cpu = cfg.device == "cpu" or (
        cfg.device == "auto" and not torch.cuda.is_available() and not torch.backends.mps.is_available()
    )
    if cfg.device.startswith("cuda:") and "LOCAL_RANK" not in os.environ:
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", cfg.device.split(":", 1)[1])
    if not cpu and torch.cuda.is_available():
        steady_attention()
    return Accelerator(cpu=cpu, mixed_precision="no" if fp32 else mixed_precision(cfg, cpu))


def steady_attention() -> None:
    """Keep masked bf16 attention off cuDNN: torch 2.11 tries cuDNN first there, and cuDNN builds an
    execution plan for every new (batch, length) shape — every few steps with batches padded to their
    own longest sentence, which made steps several times slower (`python -m bench.gpu`); the
    memory-efficient kernel that takes its place needs no plan."""
    torch.backends.cuda.enable_cudnn_sdp(False)


@functools.lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 / AMX: bf16 matmuls run natively (and faster) on this CPU."""
    return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def mixed_precision(cfg: RunConfig, cpu: bool) -> str:
    """bf16 autocast where the hardware has native bf16 (GPUs that support it, CPUs with AVX512-BF16 /
    AMX: faster training steps on the bundled MiniLM, `python -m bench.limit` prints by how much); fp16 on
    older GPUs."""
    if cfg.bf16 == "off":
        return "no"
    if cpu:
        return "bf16" if cfg.bf16 == "on" or cpu_has_native_bf16() else "no"
    if torch.cuda.is_available() and not torch.cuda.is_bf16_supported():
        return "fp16"
    return "bf16"
