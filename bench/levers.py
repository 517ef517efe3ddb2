"""Step levers: `python -m bench.levers [--methods full,lora] [--variants a,b,a,b] [--interleave] [--quick]`.

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
  cast-once       + frozen linear layers' weights cast to bf16 once, not every step (kept on a CPU:
                  training/frozen_casts.py)
  first-token     + the last layer's queries and what follows its attention for the first token only
                  (kept: training/first_token.py; on a GPU without the query cut)

Same process, same batches, one after the other (a variant may be named twice, to alternate), or with
`--interleave` every variant taking each batch in turn: this machine's speed drifts by 10 to 20% between
runs, which interleaving spreads over all variants alike. Samples/s over the steps after a warm-up
(compilation is reported apart, it is paid once per run and per new shape).
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
from sentiment_lab.training.batching import tokenize
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.cpu_attention import use_integer_mask_attention
from sentiment_lab.training.cpu_dropout import use_integer_masks
from sentiment_lab.training.cpu_levers import training_attention
from sentiment_lab.training.data import load_dataset
from sentiment_lab.training.device import make_accelerator
from sentiment_lab.training.embedding_grad import keep_embedding_grad
from sentiment_lab.training.first_token import first_token_only
from sentiment_lab.training.frozen_casts import cast_frozen_linears_once
from sentiment_lab.training.loop import TokenBatches, logits_of

LADDER = ("fused", "math-attention", "int-dropout", "kept-grad", "int-attention", "cast-once", "first-token")
VARIANTS = ("foreach", "compile") + LADDER


def levers(variant: str) -> set[str]:
    """The levers a variant turns on: those up to it on the ladder."""
    return set(LADDER[: LADDER.index(variant) + 1]) if variant in LADDER else {variant}


class Stepper:
    """One variant's model and optimizer, taking training steps on the batches it is given."""

    def __init__(self, variant: str, cfg: RunConfig, ds):
        torch.manual_seed(0)
        fresh_accelerator_state()
        self.acc = acc = make_accelerator(cfg)
        model = methods.build(cfg, ds.id2label).train()
        params = [p for p in model.parameters() if p.requires_grad]
        self.on = on = levers(variant)
        kind = {"fused": True} if "fused" in on else {"foreach": True}
        self.model, self.optimizer = acc.prepare(model, torch.optim.AdamW(params, lr=cfg.learning_rate, **kind))
        if "int-dropout" in on:
            use_integer_masks(self.model)
        self.kept = keep_embedding_grad(self.model) if "kept-grad" in on else None
        if "int-attention" in on:
            use_integer_mask_attention(self.model)
        if "cast-once" in on:
            cast_frozen_linears_once(self.model)
        self.cut = contextlib.ExitStack()  # held for the Stepper's life
        if "first-token" in on:
            self.cut.enter_context(first_token_only(self.model))
        if "compile" in on:
            self.model = torch.compile(self.model, dynamic=True)

    def step(self, inputs: dict, y: torch.Tensor) -> float:
        """Seconds one training step on (inputs, y) took."""
        started = time.perf_counter()
        kernel = (
            training_attention(self.acc.device, self.acc.mixed_precision == "bf16")
            if "math-attention" in self.on
            else contextlib.nullcontext()
        )
        with self.acc.autocast(), kernel:
            loss = torch.nn.functional.cross_entropy(logits_of(self.model, inputs).float(), y)
        self.acc.backward(loss)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.kept is not None:
            self.kept.clear(inputs)
        return time.perf_counter() - started


def one_after_another(variants, cfg, ds, tok, steps, warmup) -> list[tuple[float, float]]:
    """(samples/s over `steps` after `warmup` steps, seconds the warm-up took) of each variant, run in turn."""
    rates = []
    for variant in variants:
        stepper = Stepper(variant, cfg, ds)
        batches = TokenBatches(ds.splits["train"], tok.pad_token_id, 16, 0).epoch(0)
        times = [stepper.step(*next(batches)) for _ in range(warmup + steps)]
        rates.append((steps * 16 / sum(times[warmup:]), sum(times[:warmup])))
    return rates


def interleaved(variants, cfg, ds, tok, steps, warmup) -> list[tuple[float, float]]:
    """The same, with every variant taking each batch in turn (the order rotating each step), so that the
    machine's drift falls on all of them alike."""
    steppers = [Stepper(variant, cfg, ds) for variant in variants]
    batches = TokenBatches(ds.splits["train"], tok.pad_token_id, 16, 0).epoch(0)
    times = [[0.0, 0.0] for _ in variants]
    for i in range(warmup + steps):
        inputs, y = next(batches)
        for k in range(len(steppers)):
            j = (i + k) % len(steppers)
            times[j][i >= warmup] += steppers[j].step(inputs, y)
    return [(steps * 16 / timed, warm) for warm, timed in times]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--warmup", type=int, default=20, help="steps before timing (compiles the common shapes)")
    parser.add_argument("--methods", default="full,lora")
    parser.add_argument("--quick", action="store_true", help="full only, 20 steps after 10")
    parser.add_argument(
        "--interleave", action="store_true", help="the variants take each batch in turn, rather than one after another"
    )
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
        run = interleaved if args.interleave else one_after_another
        rates = run(variants, cfg, ds, tok, steps, warmup)
        base = rates[0][0]
        for variant, (rate, warm_s) in zip(variants, rates):
            out.setdefault(method, []).append(
                {"variant": variant, "samples_per_s": rate, "warmup_s": warm_s, "ratio": rate / base}
            )
            rows.append([method, variant, f"{rate:.1f}", f"{rate / base:.2f}x", f"{warm_s:.1f}"])
            print(
                f"{method} / {variant}: {rate:.1f} samples/s ({rate / base:.2f}x), first {warmup} steps {warm_s:.1f} s",
                flush=True,
            )
    print(table(rows, ["method", "variant", "samples/s", f"vs {variants[0]}", f"first {warmup} steps s"]))
    write_json("levers", {"steps": steps, "warmup": warmup, "interleaved": args.interleave, "methods": out})
    print(
        "headline: "
        + "; ".join(f"{m}: " + ", ".join(f"{r['variant']} {r['ratio']:.2f}x" for r in v) for m, v in out.items())
    )


if __name__ == "__main__":
    main()
