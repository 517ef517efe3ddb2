"""Out of device memory, a one-process run takes each batch in parts:
`python -m bench.oom [--batch 512] [--cap-gib 3] [--steps 20] [--tokenizer T] [--data D]`.

On a CUDA GPU: full fine-tuning of a DistilBERT-shaped model (random weights, no dropout, so that parts and
whole batches draw no different masks) at batch B, first with the whole GPU (the baseline), then with this
process capped to G GiB (torch.cuda.set_per_process_memory_fraction), where the whole batch does not fit: the
loop runs out of memory, takes the batch again in parts and trains on. It prints each run's samples/s and peak
memory, the parts the capped run came to, and how far the two models' answers end apart (the same steps:
rounding only). `--device cpu` is a dry run, the device's error simulated for batches of more than a quarter of
B sentences.
"""

from __future__ import annotations

import argparse
import tempfile

import torch
from torch import nn

from bench.common import DATA, table, write_json
from bench.gpu import distilbert_folder
from bench.throughput import fresh_accelerator_state
from sentiment_lab.training import device as device_setup
from sentiment_lab.training import loop, methods
from sentiment_lab.training.backbone import load_tokenizer
from sentiment_lab.training.batching import tokenize
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.data import load_dataset
from sentiment_lab.training.loop import TokenBatches, fit


def simulated_out_of_memory(most_rows: int):
    """The CPU dry run's stand-in for a small device: a training forward of more than `most_rows` sentences
    raises CUDA's out-of-memory error. Returns a function that takes the stand-in away."""
    real = loop.logits_of

    def logits_of(model, inputs):
        if model.training and len(inputs["input_ids"]) > most_rows:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated). Tried to allocate 2.00 GiB.")
        return real(model, inputs)

    loop.logits_of = logits_of
    return lambda: setattr(loop, "logits_of", real)


def train(cfg: RunConfig, ds, tok, batch: int, steps: int, device: str) -> tuple[nn.Module, loop.FitResult, float]:
    """`steps` steps of full fine-tuning from one seeded start; (model, its fit, peak GiB)."""
    fresh_accelerator_state()
    accelerator = device_setup.make_accelerator(cfg)
    torch.manual_seed(0)
    model = methods.build(cfg, ds.id2label)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    batches = TokenBatches(ds.splits["train"], tok.pad_token_id, batch, 0)
    val = TokenBatches(ds.splits["validation"], tok.pad_token_id, 64, 0)
    settings = cfg.optimisation.__class__(
        epochs=steps / len(batches), batch_size=batch, lr=cfg.learning_rate, evals_per_epoch=1, log_every=steps
    )
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    result = fit(model, batches, val, settings, accelerator, len(ds.label_names), lambda r: None, log=print)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")
    return accelerator.unwrap_model(model), result, peak


def answers_gap(a: nn.Module, b: nn.Module, ds, tok, device: str) -> float:
    """The largest difference between two models' logits over the first validation batch."""
    inputs, _ = next(TokenBatches(ds.splits["validation"], tok.pad_token_id, 64, 0).eval())
    inputs = {k: v.to(device) for k, v in inputs.items()}
    with torch.no_grad():
        return (a.eval()(**inputs).logits.float() - b.eval()(**inputs).logits.float()).abs().max().item()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--cap-gib", type=float, default=3.0, help="the capped run's memory, in GiB")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--tokenizer", default="minilm", help="a tokenizer with DistilBERT's vocabulary")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cpu: a dry run of this script")
    parser.add_argument(
        "--bf16",
        default="auto",
        choices=("auto", "on", "off"),
        help="as a run's --bf16; off: answers equal to fp32 rounding",
    )
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench.oom: no CUDA GPU is visible here; nothing measured (--device cpu for a dry run)")
    tok = load_tokenizer(args.tokenizer)
    ds = load_dataset(args.data)
    for split in ("train", "validation"):
        tokenize(ds.splits[split], tok, 512)
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu (simulated out-of-memory errors)"
    with tempfile.TemporaryDirectory(prefix="distilbert-shaped-") as folder:
        model = distilbert_folder(tok, ds.label_names, folder)
        cfg = RunConfig.of(method="full", model=model, device=args.device, bf16=args.bf16).validated()
        whole, whole_fit, whole_peak = train(cfg, ds, tok, args.batch, args.steps, args.device)
        if args.device == "cuda":
            total = torch.cuda.get_device_properties(0).total_memory / 2**30
            torch.cuda.set_per_process_memory_fraction(min(1.0, args.cap_gib / total))
            undo = lambda: torch.cuda.set_per_process_memory_fraction(1.0)  # noqa: E731
        else:
            undo = simulated_out_of_memory(max(1, args.batch // 4))
        try:
            parts, parts_fit, parts_peak = train(cfg, ds, tok, args.batch, args.steps, args.device)
        finally:
            undo()
        gap = answers_gap(whole, parts, ds, tok, args.device)
    runs = {
        "whole": {"samples_per_s": whole_fit.samples / whole_fit.train_seconds, "peak_gib": whole_peak,
                  "micro_batches": whole_fit.micro_batches, "steps": whole_fit.steps},
        "capped": {"samples_per_s": parts_fit.samples / parts_fit.train_seconds, "peak_gib": parts_peak,
                   "micro_batches": parts_fit.micro_batches, "steps": parts_fit.steps},
    }  # fmt: skip
    rows = [
        [run, f"{r['samples_per_s']:.0f}", f"{r['peak_gib']:.2f}", r["micro_batches"], r["steps"]]
        for run, r in runs.items()
    ]
    print(f"{name}: full fine-tuning, batch {args.batch}, {args.steps} steps; capped at {args.cap_gib} GiB")
    print(table(rows, ["run", "samples/s", "peak GiB", "parts", "steps"]))
    payload = {
        "device": name,
        "batch": args.batch,
        "cap_gib": args.cap_gib,
        "bf16": args.bf16,
        "runs": runs,
        "logit_gap": gap,
    }
    write_json("oom", payload)
    if parts_fit.micro_batches == 1:
        print("the cap did not bind: nothing ran out of memory (lower --cap-gib or raise --batch)")
    else:
        speed = runs["capped"]["samples_per_s"] / runs["whole"]["samples_per_s"]
        print(
            f"capped: {parts_fit.micro_batches} parts a batch, {speed:.2f}x the whole batch's samples/s; "
            f"largest logit gap between the two models {gap:.1e}"
        )
    return payload


if __name__ == "__main__":
    main()
