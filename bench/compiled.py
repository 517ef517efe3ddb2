"""Our loop with the model under torch.compile over padded length buckets: a GPU lever to measure, not in the loop.

At batch 16 a GPU step is launch-bound: hundreds of small kernels, each launched by Python. Compiled with
CUDA graphs (`mode="reduce-overhead"`), a step replays one recorded graph instead; a graph holds one input
shape, so each batch is padded up to a multiple of `bucket` tokens and a few shapes cover the training set.
`bench.gpu --compile METHODS` measures it beside the same loop uncompiled, both in steady state: the first
steps take one batch of each shape the timed steps will meet (compiling and recording them) and are not
timed. Only the training forward is compiled; evaluation runs as it is. Both go without the CPU levers (module
swaps torch.compile breaks its graph on), as every run on a GPU does, so that a CPU dry run takes the GPU's path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from unittest import mock

import torch

from sentiment_lab.training import loop, methods
from sentiment_lab.training.data import subsample
from sentiment_lab.training.device import make_accelerator
from sentiment_lab.training.loop import TokenBatches, fit

METHODS = ("full", "lora", "adapters")  # the methods that train through the encoder
EVERY = 10  # steps between two reads of the clock (each read waits for the device)
plain_logits = loop.logits_of


class BucketBatches(TokenBatches):
    """TokenBatches whose batches are padded up to a multiple of `bucket` tokens (no padding for bucket 0),
    and whose epoch 0 starts with `warm` extra steps: each shape the first `timed` batches have, in turn."""

    def __init__(self, split, pad_id: int, batch_size: int, bucket: int, timed: int, repeats: int = 3):
        super().__init__(split, pad_id, batch_size, 0)
        self.bucket = bucket
        self.timed = self._batches(0)[:timed]
        first = {}  # one batch of each (sentences, padded length) among the timed ones
        for idx in self.timed:
            first.setdefault((len(idx), self.width(idx)), idx)
        # CUDA graphs record on a shape's first calls and replay after; the warm steps come in a multiple of
        # EVERY so that a clock read falls where timing starts.
        warm = [idx for idx in first.values() for _ in range(repeats)]
        self.warm = [warm[i % len(warm)] for i in range(EVERY * math.ceil(len(warm) / EVERY))]

    def width(self, idx) -> int:
        longest = int(self.lengths[idx].max())
        return self.bucket * math.ceil(longest / self.bucket) if self.bucket else longest

    @property
    def padding_share(self) -> float:
        """Of the tokens the timed steps compute, the share that bucket padding adds."""
        padded = sum(len(idx) * self.width(idx) for idx in self.timed)
        tight = sum(len(idx) * int(self.lengths[idx].max()) for idx in self.timed)
        return 1 - tight / padded

    def epoch(self, epoch: int):
        for idx in (self.warm if epoch == 0 else []) + self._batches(epoch):
            yield self._make(idx)

    def _make(self, idx):
        inputs, y = super()._make(idx)
        extra = self.width(idx) - inputs["input_ids"].shape[1]
        if extra:
            inputs = {
                "input_ids": torch.nn.functional.pad(inputs["input_ids"], (0, extra), value=self.pad_id),
                "attention_mask": torch.nn.functional.pad(inputs["attention_mask"], (0, extra), value=0),
            }
        return inputs, y


def training_forward(backend: str, device: torch.device):
    """loop.logits_of with each training forward under torch.compile (one compiled model per model given);
    evaluation forwards run uncompiled."""
    compiled = {}
    cuda = device.type == "cuda"

    def logits_of(model, inputs: dict) -> torch.Tensor:
        if not model.training:
            return plain_logits(model, inputs)
        if id(model) not in compiled:
            compiled[id(model)] = torch.compile(
                model, backend=backend, mode="reduce-overhead" if cuda and backend == "inductor" else None
            )
        if cuda:
            torch.compiler.cudagraph_mark_step_begin()  # the last step's graph outputs are not read again
        return plain_logits(compiled[id(model)], inputs)

    return logits_of


class NoCpuLevers:
    """loop.CpuLevers as on a GPU: nothing switched on."""

    def __init__(self, model, accelerator):
        pass

    def step_context(self):
        return contextlib.nullcontext()

    def after_step(self, inputs: dict) -> None:
        pass

    def close(self) -> None:
        pass


def timed_steps(steps: int) -> int:
    """`steps` rounded up to a whole number of clock reads."""
    return EVERY * max(1, math.ceil(steps / EVERY))


def steady_samples_per_s(
    method: str, cfg, ds, tok, steps: int, batch: int, bucket: int, backend: str | None
) -> tuple[float, float]:
    """(samples/s over `steps` timed steps, seconds of the warm steps before them) of our loop at `batch`:
    uncompiled when `backend` is None, else its training forward compiled with it."""
    steps = timed_steps(steps)
    train = BucketBatches(ds.splits["train"], tok.pad_token_id, batch, bucket, steps)
    val = TokenBatches(subsample(ds.splits["validation"], 16, 0), tok.pad_token_id, 16, 0)
    acc = make_accelerator(cfg)
    total = len(train.warm) + steps
    settings = dataclasses.replace(
        cfg.optimisation, lr=cfg.learning_rate, epochs=total / len(train), evals_per_epoch=1, log_every=EVERY
    )
    clock = {}  # step: seconds since training began, at each logged step

    def tick(row: dict) -> None:
        if "elapsed" in row:
            clock[row["step"]] = row["elapsed"]

    model = methods.build(cfg, ds.id2label)
    forward = plain_logits if backend is None else training_forward(backend, acc.device)
    with mock.patch.object(loop, "logits_of", forward), mock.patch.object(loop, "CpuLevers", NoCpuLevers):
        fit(model, train, val, settings, acc, 2, report=tick)
    warm = len(train.warm)
    return steps * batch / (clock[total] - clock[warm]), clock[warm]
