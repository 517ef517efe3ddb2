"""Training throughput: `python -m bench.throughput [--steps N] [--repeats R] [--quick]`.

Samples/s of each torch method for a fixed number of steps on the real Rotten Tomatoes training
set with the bundled MiniLM, against a plain Hugging Face Trainer configured the reference's way
(batch 16, dynamic padding, shuffled without length grouping, fp32, [CLS] head), both measured in
this process, one after the other. Ours: length-grouped batches, tokenised once, bf16 autocast
where the CPU has it, fused AdamW, and for freeze the frozen backbone's features computed once.
With `--repeats R` the two alternate R times a method (Trainer, ours, Trainer, ours...) and the
ratio is the median of each pair's: a machine whose speed drifts then moves both sides of a pair.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch

from bench.common import DATA, table, write_json
from sentiment_lab.training import methods
from sentiment_lab.training.backbone import load_classifier, load_encoder, load_tokenizer
from sentiment_lab.training.batching import tokenize
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.data import load_dataset, subsample
from sentiment_lab.training.device import make_accelerator
from sentiment_lab.training.features import encode
from sentiment_lab.training.loop import FeatureBatches, TokenBatches, fit

METHODS = ("full", "lora", "adapters", "freeze")


def reference_model(method: str, cfg: RunConfig, ds, tok):
    """The model the reference script trains for `method` (freeze: frozen base, [CLS] head)."""
    if method == "freeze":
        model = load_classifier(cfg.model, ds.id2label)
        for p in model.base_model.parameters():
            p.requires_grad_(False)
        return model
    return methods.build(cfg, ds.id2label)


def trainer_samples_per_s(method: str, cfg: RunConfig, ds, tok, steps: int, batch: int = 16) -> float:
    """The reference's Trainer, fp32, on the CPU or (cfg.device cuda) the GPU."""
    from transformers import DataCollatorWithPadding, Trainer, TrainingArguments

    train = ds.splits["train"]
    # A plain list of examples: the Trainer needs nothing more, and the GPU machine has no `datasets`.
    examples = [
        {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": int(y)}
        for ids, y in zip(train.input_ids, train.labels)
    ]
    model = reference_model(method, cfg, ds, tok)
    args = TrainingArguments(
        output_dir="/tmp/bench-trainer",
        per_device_train_batch_size=batch,
        max_steps=steps,
        learning_rate=cfg.learning_rate,
        report_to=[],
        save_strategy="no",
        eval_strategy="no",
        logging_strategy="no",
        use_cpu=not cfg.device.startswith("cuda"),
        seed=cfg.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=examples, data_collator=DataCollatorWithPadding(tok))
    start = time.perf_counter()
    trainer.train()
    return steps * batch / (time.perf_counter() - start)


def fresh_accelerator_state() -> None:
    """The Trainer and our loop each set up accelerate with their own precision; start each clean."""
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)


def ours_samples_per_s(method: str, cfg: RunConfig, ds, tok, steps: int, batch: int = 16) -> float:
    train, val = ds.splits["train"], subsample(ds.splits["validation"], 16, 0)
    acc = make_accelerator(cfg)
    # The run's own loop settings, shortened to `steps`.
    settings = dataclasses.replace(
        cfg.optimisation,
        lr=cfg.learning_rate,
        epochs=steps / int(np.ceil(len(train) / batch)),
        evals_per_epoch=1,
        log_every=steps,
    )
    start = time.perf_counter()
    if method == "freeze":
        seen = subsample(train, steps * batch, 0)  # the sentences these steps see, encoded once
        # Loaded before the clock starts, as the Trainer's model is.
        encoder = load_encoder(cfg.model).to(acc.device)
        start = time.perf_counter()
        feats = encode(encoder, seen, tok.pad_token_id, cfg.features.pooling, acc.device, acc.mixed_precision == "bf16")
        model = methods.freeze.Head(feats.shape[1], 2)
        batches, vb = FeatureBatches(feats, seen.labels, batch, 0), FeatureBatches(feats[:16], seen.labels[:16], 16, 0)
        settings.epochs = 1
    else:
        model = methods.build(cfg, ds.id2label)
        batches, vb = TokenBatches(train, tok.pad_token_id, batch, 0), TokenBatches(val, tok.pad_token_id, 16, 0)
        start = time.perf_counter()
    fit(model, batches, vb, settings, acc, 2, report=lambda r: None)
    return steps * batch / (time.perf_counter() - start)


def summary(pairs: list[tuple[float, float]]) -> dict:
    """Medians of the Trainer's and our samples/s, and the median of each pair's ratio (not the ratio of the
    medians: a pair ran back to back, so it shares the machine's speed of the moment)."""
    ratios = [ours / ref for ref, ours in pairs]
    return {
        "trainer": float(np.median([ref for ref, _ in pairs])),
        "ours": float(np.median([ours for _, ours in pairs])),
        "ratio": float(np.median(ratios)),
        "ratios": ratios,
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--quick", action="store_true", help="30 steps")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--repeats", type=int, default=1, help="Trainer/ours pairs a method, alternated")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    steps = 30 if args.quick else args.steps
    ds = load_dataset(str(DATA))
    tok = load_tokenizer("minilm")
    tokenize(ds.splits["train"], tok, 512)
    tokenize(ds.splits["validation"], tok, 512)
    rows, out = [], {}
    for method in args.methods.split(","):
        cfg = RunConfig.of(method=method, dataset=str(DATA)).validated()
        pairs = []
        for _ in range(args.repeats):
            torch.manual_seed(0)
            fresh_accelerator_state()
            ref = trainer_samples_per_s(method, cfg, ds, tok, steps)
            torch.manual_seed(0)
            fresh_accelerator_state()
            ours = ours_samples_per_s(method, cfg, ds, tok, steps)
            pairs.append((ref, ours))
            print(f"{method}: trainer {ref:.1f} samples/s, ours {ours:.1f} samples/s ({ours / ref:.1f}x)", flush=True)
        out[method] = summary(pairs)
        ref, ours, ratio = out[method]["trainer"], out[method]["ours"], out[method]["ratio"]
        ratios = out[method]["ratios"]
        spread = f" ({min(ratios):.2f}-{max(ratios):.2f})" if len(pairs) > 1 else ""
        rows.append([method, f"{ref:.1f}", f"{ours:.1f}", f"{ratio:.2f}x{spread}"])
    ratio_header = "ratio (range)" if args.repeats > 1 else "ratio"
    print(table(rows, ["method", "HF Trainer samples/s", "ours samples/s", ratio_header]))
    write_json("throughput", {"steps": steps, "repeats": args.repeats, "methods": out})
    worst = min(out, key=lambda m: out[m]["ratio"])
    print(
        f"headline: slowest gain {out[worst]['ratio']:.2f}x ({worst}); "
        + ", ".join(f"{m} {v['ratio']:.2f}x" for m, v in out.items())
    )


if __name__ == "__main__":
    main()
