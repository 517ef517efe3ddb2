"""Step levers: `python -m bench.levers [--methods full,lora] [--variants a,b,a,b] [--quick]`.

The training step (length-grouped batches, bf16 autocast where the CPU has it) under each variant, each
adding one lever to the one before it (but `compile`, which puts the `foreach` step under torch.compile):

  foreach         AdamW's foreach implementation (the baseline)
  fused           the fused AdamW (kept: `fit` uses it)
  compile         the model under torch.compile, dynamic shapes (not kept)
  math-attention  fused + the math attention kernel on a CPU in bf16 (kept: `training_attention`)
  int-dropout     + dropout masks cut from random integers (kept on a CPU: training/cpu_dropout.py)
  kept-grad       + the token table's gradient in a kept buffer (kept on a CPU: training/embedding_grad.py)
  int-attention   + the attention probabilities' dropout as integer masks (kept on a CPU:
                  training/cpu_attention.py)

Same process, same batches, one after the other (name a variant twice to alternate, e.g.
`--variants int-dropout,int-attention,int-dropout,int-attention`: this machine drifts between runs);
samples/s over the steps after a warm-up (compilation is reported apart, it is paid once per run and
per new shape).
"""

from __future__ import annotations

import argparse
import contextlib
import time

import torch

from bench.common import DATA, table, write_json
from bench.throughput import fresh_accelerator_state
from sentiment_lab.training import methods
from sentiment_lab.training.backbone import load_tokenizer
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.cpu_attention import use_integer_mask_attention
from sentiment_lab.training.cpu_dropout import use_integer_masks
from sentiment_lab.training.data import load_dataset, tokenize
from sentiment_lab.training.embedding_grad import keep_embedding_grad
from sentiment_lab.training.loop import TokenBatches, logits_of, training_attention
from sentiment_lab.training.runner import make_accelerator

LADDER = ("fused", "math-attention", "int-dropout", "kept-grad", "int-attention")
VARIANTS = ("foreach", "compile") + LADDER


def levers(variant: str) -> set[str]:
    """The levers a variant turns on: those up to it on the ladder."""
    return set(LADDER[: LADDER.index(variant) + 1]) if variant in LADDER else {variant}


def samples_per_s(method: str, variant: str, cfg: RunConfig, ds, tok, steps: int, warmup: int) -> tuple[float, float]:
    """(samples/s over `steps` after `warmup` steps, seconds the warm-up took)."""
    torch.manual_seed(0)
    fresh_accelerator_state()
    acc = make_accelerator(cfg)
    model = methods.build(cfg, ds.id2label).train()
    params = [p for p in model.parameters() if p.requires_grad]
    on = levers(variant)
    fused = "fused" in on
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, **({"fused": True} if fused else {"foreach": True}))
    model, optimizer = acc.prepare(model, optimizer)
    if "int-dropout" in on:
        use_integer_masks(model)
    kept = keep_embedding_grad(model) if "kept-grad" in on else None
    if "int-attention" in on:
        use_integer_mask_attention(model)
    if "compile" in on:
        model = torch.compile(model, dynamic=True)
    batches = TokenBatches(ds.splits["train"], tok.pad_token_id, 16, 0).epoch(0)
    started = time.perf_counter()
    for i in range(warmup + steps):
        if i == warmup:
            warm_s, started = time.perf_counter() - started, time.perf_counter()
        inputs, y = next(batches)
        kernel = (
            training_attention(acc.device, acc.mixed_precision == "bf16")
            if "math-attention" in on
            else contextlib.nullcontext()
        )
        with acc.autocast(), kernel:
            loss = torch.nn.functional.cross_entropy(logits_of(model, inputs).float(), y)
        acc.backward(loss)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if kept is not None:
            kept.clear(inputs)
    return steps * 16 / (time.perf_counter() - started), warm_s


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=20, help="steps before timing (compiles the common shapes)")
    parser.add_argument("--methods", default="full,lora")
    parser.add_argument("--quick", action="store_true", help="full only, 20 steps after 10")
    parser.add_argument(
        "--variants",
        default=",".join(VARIANTS),
        help="which of: " + ", ".join(VARIANTS) + " (the first named is the baseline)",
    )
    args = parser.parse_args(argv)
    steps, warmup, chosen = (20, 10, ["full"]) if args.quick else (args.steps, args.warmup, args.methods.split(","))
    variants = [v.strip() for v in args.variants.split(",")]
    if unknown := set(variants) - set(VARIANTS):
        parser.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
    ds = load_dataset(str(DATA))
    tok = load_tokenizer("minilm")
    tokenize(ds.splits["train"], tok, 512)
    rows, out = [], {}
    for method in chosen:
        cfg = RunConfig.of(method=method, dataset=str(DATA)).validated()
        base = None
        for variant in variants:
            rate, warm_s = samples_per_s(method, variant, cfg, ds, tok, steps, warmup)
            base = base or rate
            out.setdefault(method, []).append(
                {"variant": variant, "samples_per_s": rate, "warmup_s": warm_s, "ratio": rate / base}
            )
            rows.append([method, variant, f"{rate:.1f}", f"{rate / base:.2f}x", f"{warm_s:.1f}"])
            print(
                f"{method} / {variant}: {rate:.1f} samples/s ({rate / base:.2f}x), first {warmup} steps {warm_s:.1f} s",
                flush=True,
            )
    print(table(rows, ["method", "variant", "samples/s", f"vs {variants[0]}", f"first {warmup} steps s"]))
    write_json("levers", {"steps": steps, "warmup": warmup, "methods": out})
    print(
        "headline: "
        + "; ".join(f"{m}: " + ", ".join(f"{r['variant']} {r['ratio']:.2f}x" for r in v) for m, v in out.items())
    )


if __name__ == "__main__":
    main()
