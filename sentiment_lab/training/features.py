"""Sentence features from a frozen encoder: its last layer pooled, batched by length, no gradients."""

from __future__ import annotations

import numpy as np
import torch

from sentiment_lab.training.batching import collate, eval_batches
from sentiment_lab.training.config import ConfigError
from sentiment_lab.training.data import Split


def last_hidden(encoder, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """The last layer's token states: what every pooling reads, so runs that pool differently share the pass.
    An encoder-decoder model (T5, BART) is read through its encoder half: its decoder needs text to write."""
    if getattr(encoder.config, "is_encoder_decoder", False) and hasattr(encoder, "get_encoder"):
        encoder = encoder.get_encoder()
    return encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


def pool(hidden: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """Float32 features: the [CLS] state, or the mean of real-token states (how sentence encoders are read)."""
    hidden = hidden.float()
    if pooling == "cls":
        return hidden[:, 0]
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def cls_state_fault(tokenizer, model: str) -> str | None:
    """Why the [CLS] state (the first token's) would not sum a sentence up with this tokenizer, or None: it must
    be the tokenizer's [CLS] token. Llama's first token is the same <s> for every sentence, GPT-2's and T5's a
    word, and XLNet's <cls> comes last."""
    ids = tokenizer("a film")["input_ids"]
    if tokenizer.cls_token_id is not None and ids[:1] == [tokenizer.cls_token_id]:
        return None
    first = tokenizer.convert_ids_to_tokens(ids[:1])
    return (
        f"the [CLS] state reads each sentence's first token, and {model!r} puts {first[0] if first else 'nothing'!r} "
        "there, not a [CLS] token: pick the token mean"
    )


def sentence_features(encoder, input_ids: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    return pool(last_hidden(encoder, input_ids, attention_mask), attention_mask, pooling)


def memory_available() -> int | None:
    """Bytes this machine can still give without swapping (Linux's MemAvailable); None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_feature_memory(rows: int, width: int, available: int | None = None) -> None:
    """Refuse, by name, features that would not fit: they stay in memory for the whole run (float32, one row
    per sentence of every split); a large Hub dataset would otherwise end in an out-of-memory kill."""
    need = rows * width * 4
    available = memory_available() if available is None else available
    if available is None or need <= available // 2:  # half: the model, the head and the arrays' copies need the rest
        return
    raise ConfigError(
        f"the features of {rows:,} sentences need {need / 2**30:.1f} GiB, more than half of the "
        f"{available / 2**30:.1f} GiB of memory free here: train on fewer (--max_train_samples)"
    )


@torch.inference_mode()
def encode(
    encoder, split: Split, pad_id: int, pooling: str, device=None, autocast: bool = False, progress=None
) -> np.ndarray:
    """Pooled float32 features of every sentence in `split`, in the split's order; `progress(n)` after each
    batch with the sentences done so far."""
    device = device or next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = np.zeros((len(split), encoder.config.hidden_size), dtype=np.float32)
    done = 0
    for idx in eval_batches(split.lengths()):
        ids, mask = collate(split.input_ids, idx, pad_id, split.pad_left)
        ids, mask = ids.to(device), mask.to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
            out[idx] = sentence_features(encoder, ids, mask, pooling).cpu().numpy()
        done += len(idx)
        if progress:
            progress(done)
    encoder.train(was_training)
    return out
