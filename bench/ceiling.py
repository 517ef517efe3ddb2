"""What bounds our CPU speed-up over the Trainer: `python -m bench.ceiling [--methods full,lora] [--steps N]`.

Four measurements, for a CPU where both loops train in fp32 (no native bf16):

- work: the linear layers' multiply-adds of one epoch of the Trainer's batches (shuffled, each padded to
  its longest sentence, every layer on every token) against ours (length-grouped, the last layer's queries
  and feed-forward for the first token only), counted from the training split's lengths;
- share: the part of our training step (all CPU levers on, as `fit` runs it) spent in matrix products,
  from torch.profiler over `--steps` steps after a warm-up;
- rate: the GFLOP/s those products reach in the step against a large fp32 product timed alone
  (`bench.limit`'s matmul rate);
- AdamW's share of the step, work every textbook step does as well.

A lever that leaves the products and the optimizer's update as they are can make our step at most
1/(products + AdamW) faster ("most left"), so the ratio `bench.throughput` measures can grow by at most
that factor without doing fewer or cheaper multiplications.
"""

from __future__ import annotations

import argparse
import random

import numpy as np
import torch

from bench.common import DATA, table, write_json
from bench.levers import Stepper
from bench.limit import matmul_rate
from sentiment_lab.training.backbone import load_config, load_tokenizer
from sentiment_lab.training.batching import tokenize, train_batches
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.data import load_dataset
from sentiment_lab.training.loop import TokenBatches

PRODUCTS = ("aten::mm", "aten::addmm", "aten::bmm")
OPTIMIZER = ("aten::_fused_adamw_",)  # AdamW's update: every textbook step does it, over every trained weight


def linear_work(lengths: np.ndarray, layers: int, batch: int = 16, seed: int = 0) -> dict:
    """Multiply-adds of the encoder's linear layers over one epoch, in units of hidden width squared: a
    layer's query, key, value and output projections and its 4x feed-forward are 12 per token."""
    order = list(range(len(lengths)))
    random.Random(seed).shuffle(order)
    trainer_tokens = sum(batch * int(lengths[order[i : i + batch]].max()) for i in range(0, len(order), batch))
    ours_tokens = sum(len(b) * int(lengths[b].max()) for b in train_batches(lengths, batch, seed, 0))
    trainer = trainer_tokens * 12 * layers
    # Our last layer computes keys and values for every token, the rest for the first one only.
    ours = ours_tokens * (12 * (layers - 1) + 2) + len(lengths) * 10
    return {
        "trainer_tokens": trainer_tokens,
        "ours_tokens": ours_tokens,
        "real_tokens": int(lengths.sum()),
        "ratio": trainer / ours,
    }


def step_profile(method: str, ds, tok, steps: int, warmup: int) -> dict:
    """Our step's time, the share of it in matrix products, and their GFLOP/s."""
    from torch.profiler import ProfilerActivity, profile

    cfg = RunConfig.of(method=method, dataset=str(DATA)).validated()
    stepper = Stepper("first-token", cfg, ds)  # every lever, as `fit` takes its steps
    batches = TokenBatches(ds.splits["train"], tok.pad_token_id, 16, 0).epoch(0)
    for _ in range(warmup):
        stepper.step(*next(batches))
    with profile(activities=[ProfilerActivity.CPU], with_flops=True) as prof:
        seconds = sum(stepper.step(*next(batches)) for _ in range(steps))
    events = [e for e in prof.key_averages() if e.key in PRODUCTS]
    product_us = sum(e.self_cpu_time_total for e in events)
    total_us = sum(e.self_cpu_time_total for e in prof.key_averages())
    flops = sum(e.flops for e in events)
    optimizer_us = sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in OPTIMIZER)
    return {
        "precision": stepper.acc.mixed_precision,
        "step_ms": 1000 * seconds / steps,
        "share": product_us / total_us,
        "optimizer_share": optimizer_us / total_us,
        "gflops": flops / (product_us / 1e6) / 1e9,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", default="full,lora,adapters")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=10)
    args = parser.parse_args(argv)
    ds = load_dataset(str(DATA))
    tok = load_tokenizer("minilm")
    tokenize(ds.splits["train"], tok, 512)
    depth = load_config(RunConfig.of(method="full", dataset=str(DATA)).model).num_hidden_layers
    work = linear_work(np.asarray(ds.splits["train"].lengths()), depth)
    peak = matmul_rate(torch.float32) / 1e9  # bench.limit's dense fp32 rate
    print(
        f"linear-layer work an epoch: Trainer / ours = {work['ratio']:.2f}x "
        f"(padded tokens {work['trainer_tokens']:,} / {work['ours_tokens']:,}; real {work['real_tokens']:,})"
    )
    print(f"fp32 matmul rate (1024x1024, bench.limit): {peak:.0f} GFLOP/s")
    rows, out = [], {"work": work, "peak_gflops": peak, "methods": {}}
    for method in args.methods.split(","):
        p = step_profile(method, ds, tok, args.steps, args.warmup)
        out["methods"][method] = p
        rows.append(
            [
                method,
                p["precision"],
                f"{p['step_ms']:.0f}",
                f"{p['share']:.0%}",
                f"{p['gflops']:.0f}",
                f"{p['gflops'] / peak:.0%}",
                f"{p['optimizer_share']:.0%}",
                f"{1 / (p['share'] + p['optimizer_share']):.2f}x",
            ]
        )
    headers = ["method", "precision", "step ms", "in products", "GFLOP/s", "of peak", "in AdamW", "most left"]
    print(table(rows, headers))
    write_json("ceiling", out)
    print(
        f"headline: the Trainer's linear-layer work is {work['ratio']:.2f}x ours; most a lever outside the products "
        "and AdamW could add: "
        + ", ".join(f"{m} {1 / (v['share'] + v['optimizer_share']):.2f}x" for m, v in out["methods"].items())
    )


if __name__ == "__main__":
    main()
