"""On a CPU, a trained token table gets its gradient added row by row into one kept buffer. By default
torch builds the table's gradient as a fresh dense tensor every step, and zero-filling its newly mapped
pages (a full vocabulary, of which a batch touches a few hundred rows) is a large part of a full
fine-tuning step. The buffer is the same dense gradient: clipping and AdamW read it as before."""

from __future__ import annotations

from torch import nn


class KeptEmbeddingGrad:
    """While it lasts, `embedding` hands autograd sparse rows, which autograd adds into `weight.grad`, a dense
    buffer kept across steps; `clear` zeroes the rows a batch touched, after the optimizer step; `close` gives
    the module back as it was."""

    def __init__(self, embedding: nn.Embedding):
        self.embedding = embedding
        self.buffer = embedding.weight.detach().new_zeros(embedding.weight.shape)
        embedding.sparse = True
        embedding.weight.grad = self.buffer

    def clear(self, inputs: dict) -> None:
        """After `optimizer.zero_grad`: zero the rows this batch's token ids wrote, and hand the buffer back
        as the grad."""
        self.buffer.index_fill_(0, inputs["input_ids"].flatten(), 0)
        self.embedding.weight.grad = self.buffer

    def close(self) -> None:
        self.embedding.sparse = False
        self.embedding.weight.grad = None


def keep_embedding_grad(model: nn.Module) -> KeptEmbeddingGrad | None:
    """A kept buffer for `model`'s input embedding when it trains (full fine-tuning), else None."""
    try:
        emb = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):  # CANINE hashes characters: it has no one token table
        return None
    if type(emb) is nn.Embedding and emb.weight.requires_grad and not emb.sparse:
        return KeptEmbeddingGrad(emb)
    return None
