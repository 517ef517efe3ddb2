"""Why LoRA cannot take a larger step here: `python -m bench.collapse [--quick]`.

Trains LoRA on Rotten Tomatoes with the bundled MiniLM through the app's own loop, once per
variant (learning rate x LoRA+ multiple), and every --every steps measures on 64 fixed validation
sentences: the [CLS] state's norm after each encoder layer, how much the top layer's [CLS] states
still differ between sentences (their mean distance from their average, over their mean norm: 0
means every sentence gets the same vector), and the largest |s*B@A| / |W| of each target.
A run that collapses (train loss back at 0.69, one answer for every review) shows the top layer's
[CLS] spread falling towards 0 while the lower layers' norms stay where they were.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from sentiment_lab import methods
from sentiment_lab.backbone import load_tokenizer
from sentiment_lab.config import RunConfig
from sentiment_lab.data import collate, load_dataset, tokenize
from sentiment_lab.runner import make_accelerator, seed_everything
from sentiment_lab.train_loop import LoopSettings, TokenBatches, fit

from .common import DATA, table, write_json


def spread(states: torch.Tensor) -> float:
    """Mean distance of the rows from their average, over their mean norm (0: all rows equal)."""
    centred = states - states.mean(0)
    return float(centred.norm(dim=-1).mean() / states.norm(dim=-1).mean().clamp_min(1e-12))


def update_sizes(model) -> dict[str, float]:
    """Largest relative size of LoRA's update s*B@A against its frozen weight, per target name."""
    out = {}
    for name, module in model.named_modules():
        if "default" in getattr(module, "lora_A", {}):
            delta = module.lora_B["default"].weight @ module.lora_A["default"].weight * module.scaling["default"]
            target = "attention.output" if "attention.output" in name else name.rsplit(".", 1)[-1]
            out[target] = max(out.get(target, 0.0), float(delta.norm() / module.base_layer.weight.norm()))
    return out


def probe(model, ids, mask) -> dict:
    was_training = model.training
    model.eval()
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
        sizes = update_sizes(model)
    model.train(was_training)
    return {"top_cls_spread": spread(hidden[-1][:, 0].float()),
            "cls_norm_by_layer": [round(float(h[:, 0].float().norm(dim=-1).mean()), 2) for h in hidden[1:]],
            "update_size": sizes}


def trace(lr: float, plus: float, steps: int, every: int, ds, tok, seed: int) -> list[dict]:
    # LoRA from B = 0 with the reference's dropout (the default before PiSSA): the variant whose rate is capped.
    cfg = RunConfig(method="lora", lr=lr, lora_plus=plus, seed=seed, lora_init="zero", lora_dropout=0.1).validated()
    seed_everything(seed)
    model = methods.build(cfg, ds.id2label, TokenBatches(ds.splits["train"], tok.pad_token_id, 16, 0))
    val = ds.splits["validation"]
    ids, mask = collate(val.input_ids, np.linspace(0, len(val) - 1, 64).astype(int), tok.pad_token_id)
    rows, done = [], {"step": 0}

    def report(record):
        if "loss" in record and "eval_loss" not in record:
            done["step"] = record["step"]
            if record["step"] % every == 0:
                rows.append({"step": record["step"], "loss": record["loss"], **probe(model, ids, mask)})

    train = TokenBatches(ds.splits["train"], tok.pad_token_id, cfg.batch_size, seed)
    settings = LoopSettings.of(cfg)
    settings.log_every, settings.evals_per_epoch = every, 1
    rows.append({"step": 0, "loss": None, **probe(model, ids, mask)})  # before the first step: no train loss
    fit(model, train, TokenBatches(val, tok.pad_token_id, 64, 0), settings, make_accelerator(cfg), len(ds.id2label),
        report=report, should_stop=lambda: done["step"] >= steps)
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="1e-3:4,4e-3:1", help="lr:lora_plus pairs of LoRA from B = 0 (the default: its settings before PiSSA, and plain LoRA at 4e-3)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--quick", action="store_true", help="160 steps, measured every 40")
    args = parser.parse_args(argv)
    steps, every = (160, 40) if args.quick else (args.steps, args.every)
    ds = load_dataset(str(DATA))
    tok = load_tokenizer("minilm")
    for name in ("train", "validation"):  # the test split is never read here
        tokenize(ds.splits[name], tok, 512)
    out, ends = {}, {}
    for pair in args.variants.split(","):
        lr, plus = (float(x) for x in pair.split(":"))
        name = f"lr {lr:g}, LoRA+ {plus:g}"
        rows = trace(lr, plus, steps, every, ds, tok, args.seed)
        out[name] = rows
        print(f"\n{name}")
        print(table([[r["step"], "–" if r["loss"] is None else f"{r['loss']:.3f}", f"{r['top_cls_spread']:.3f}", " ".join(f"{n:.1f}" for n in r["cls_norm_by_layer"]),
                      " ".join(f"{k} {v:.2f}" for k, v in r["update_size"].items())] for r in rows],
                    ["step", "train loss", "top [CLS] spread", "[CLS] norm, layers 1..L", "largest |sBA|/|W|"]), flush=True)
        ends[name] = rows[-1]["top_cls_spread"] / rows[0]["top_cls_spread"]
    write_json("collapse", out)
    print("headline: top-layer [CLS] spread at the end vs the start: " + ", ".join(f"{n} {r:.2f}x" for n, r in ends.items()))


if __name__ == "__main__":
    main()
