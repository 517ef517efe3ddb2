"""LoRA through PEFT on the attention projections (optionally the feed-forward layers too); the head trains in full (modules_to_save);
by default an adapter of width 128 on the token embeddings trains too (embedding_adapter.py), and the rows of
the embedding table of the 4,000 training tokens seen most often (token_rows.py).
A and B start as PEFT's (B = 0), or with lora_init lora_ga from the full fine-tuning gradient (lora_ga.py),
or with pissa from each weight's principal singular directions (PiSSA: Meng et al., 2024, whose frozen
weights keep only the residual). The last two are saved as plain LoRA (lora_residual.py)."""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from .. import embedding_adapter, token_rows
from ..architectures import arch_of
from ..backbone import load_classifier
from ..heads import apply_head
from ..shared_encoder import classifier_around
from . import lora_ga, lora_residual

NAME = "lora"
KIND = "tokens"
ARTEFACT = "adapter"
BUILD_READS_TRAIN = True  # LoRA-GA estimates gradients on the first training batches; token rows count tokens in them all
# PEFT's names for the starting points; "pissa" is the exact SVD (deterministic, and cheap for encoders this size).
PEFT_INIT = {"zero": True, "lora_ga": "lora_ga", "pissa": "pissa"}


def lora_config(cfg, model):
    from peft import LoraConfig, LoraGAConfig, TaskType

    arch = arch_of(model)
    ga = cfg.lora_init == "lora_ga"
    return LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(arch.lora_targets) + (list(arch.ffn_targets) if cfg.lora_targets == "all" else [])
        + ([arch.token_embeddings] if cfg.lora_embeddings else []),
        use_dora=cfg.lora_dora,
        init_lora_weights=PEFT_INIT[cfg.lora_init],
        lora_ga_config=LoraGAConfig() if ga else None,
        # PEFT's SEQ_CLS adds `classifier`; BERT's pooler and DistilBERT's pre_classifier are head too.
        # LayerNorms go the same way: PEFT trains a copy, so a shared frozen encoder is never written.
        modules_to_save=[h for h in arch.head if h != "classifier"] + (list(arch.norms) if cfg.lora_norms else []) or None,
    )


@contextlib.contextmanager
def one_cpu_thread():
    """PiSSA's starting SVDs run where the weights are: on the run's CUDA GPU when it has one, else on
    the CPU on one thread. On a 16-core NVIDIA H200 machine running ten runs at once (bench.sweep), every
    LoRA process was still inside PEFT's CPU SVD after 140 s (a faulthandler dump) while the adapter
    runs beside them trained: the BLAS / OpenMP thread-oversubscription hang that scikit-learn avoids
    by limiting threads around its SVDs. One 384 x 384 SVD takes milliseconds on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def build(cfg, id2label, train=None, device="cpu"):
    """`train` (the training split's TokenBatches) is read by LoRA-GA and to choose the token rows; LoRA-GA's gradients are
    computed on `device` (the run's), and PiSSA's SVDs too when it is a CUDA GPU."""
    from peft import get_peft_model

    model = apply_head(load_classifier(cfg.model, id2label, cfg.training_dropout), cfg.head)
    config = lora_config(cfg, model)
    if cfg.token_rows:
        rows = token_rows.chosen_for_run(cfg, model, train)
    if cfg.lora_init == "lora_ga":
        if train is None:
            raise ValueError("lora_init lora_ga needs training batches to estimate gradients from")
        lora_ga.estimate_gradients(model, config, train.epoch(0), device)
    on_gpu = torch.device(device).type == "cuda"  # not MPS: its SVD fell back to the CPU until torch 2.14, and is reported inexact since
    if cfg.lora_init == "pissa" and on_gpu:
        model.to(device)
    with contextlib.nullcontext() if on_gpu else one_cpu_thread():
        model = get_peft_model(model, config)
    if cfg.lora_init != "zero":
        model.lora_start = lora_residual.starting_point(model)
    if cfg.token_rows:  # before the embedding adapter, which then reads the corrected rows
        token_rows.attach(model, rows)
    if cfg.embedding_adapter:  # after PEFT, which would freeze it; PEFT's files leave it out, save() adds it
        embedding_adapter.attach_for_run(model, cfg, cfg.lora_dropout)
    return model


def save(model, folder: Path, cfg, tokenizer) -> None:
    start = getattr(model, "lora_start", None)
    if start is None:
        model.save_pretrained(folder)
    else:
        lora_residual.save_as_plain_lora(model, start, folder)
    if cfg.token_rows:
        token_rows.save(model, folder)
    if cfg.embedding_adapter:
        embedding_adapter.save(model, folder)
    tokenizer.save_pretrained(folder)


def load(folder: Path, cfg, id2label, encoder=None):
    """With `encoder` (the Compare tab), the frozen weights are that encoder's own tensors."""
    from peft import PeftModel

    base = classifier_around(encoder, id2label) if encoder is not None else load_classifier(cfg.model, id2label)
    model = PeftModel.from_pretrained(apply_head(base, cfg.head), folder)
    if cfg.token_rows:
        token_rows.load(model, folder)
    if cfg.embedding_adapter:
        embedding_adapter.load(model, folder, cfg.embedding_adapter)
    return model


