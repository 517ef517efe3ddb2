"""Tokenised sentences into batches: training batches of similar lengths, evaluation batches under a token
budget, each padded to its own longest sentence."""

from __future__ import annotations

import random

import numpy as np


def tokenize(split, tokenizer, max_length: int) -> None:
    """Tokenise once, no padding: batches pad to their own longest sentence later."""
    enc = tokenizer(split.texts, truncation=True, max_length=max_length, padding=False)
    split.input_ids = enc["input_ids"]
    split.pad_left = getattr(tokenizer, "padding_side", "right") == "left"


def train_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int, group: int = 50) -> list[np.ndarray]:
    """Shuffled batches of similar lengths: shuffle, sort within chunks of `group` batches, shuffle batches."""
    rng = random.Random(seed * 1000003 + epoch)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    chunk = batch_size * group
    batches = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: -lengths[i])
        batches += [np.asarray(part[i : i + batch_size]) for i in range(0, len(part), batch_size)]
    rng.shuffle(batches)
    return batches


def eval_batches(lengths: np.ndarray, max_tokens: int = 8192, max_batch: int = 256) -> list[np.ndarray]:
    """Batches sorted by length under a padded-token budget, so short sentences go many at a time."""
    order = np.argsort(-lengths, kind="stable")
    batches, current = [], []
    for i in order:
        if current and (len(current) + 1) * lengths[current[0]] > max_tokens or len(current) >= max_batch:
            batches.append(np.asarray(current))
            current = []
        current.append(int(i))
    if current:
        batches.append(np.asarray(current))
    return batches


def collate(input_ids: list[list[int]], idx, pad_id: int, left: bool = False):
    """Pad the chosen sentences to their longest (on the left where the tokenizer pads there, as the model was
    trained and as its tokenizer pads at prediction); return input_ids and attention_mask tensors."""
    import torch

    rows = [input_ids[i] for i in idx]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for j, r in enumerate(rows):
        place = slice(width - len(r), width) if left else slice(0, len(r))
        ids[j, place] = torch.as_tensor(r, dtype=torch.long)
        mask[j, place] = 1
    return ids, mask
