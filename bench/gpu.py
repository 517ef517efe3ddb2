"""GPU check: `python -m bench.gpu [--quick] [--steps N] [--batches 16,128] [--tokenizer T] [--data D]`.

Needs one CUDA GPU. Trains a DistilBERT-shaped classifier (DistilBertConfig()'s shape, random
weights: speed does not depend on the weights, and the Hub is out of reach) on the real Rotten
Tomatoes training sentences, tokenised with the bundled MiniLM's tokenizer (the same uncased
WordPiece vocabulary as DistilBERT's). For full fine-tuning and LoRA it measures, in this process:
  - the plain Hugging Face Trainer the reference's way: fp32, batch 16, no length grouping;
  - our loop: bf16 autocast through accelerate, fused AdamW, length-grouped batches, at batch 16
    and at the larger batches named by --batches (a GPU is idle between a batch 16's small kernels);
  - our loop at batch 16 once more with torch's own attention-kernel order (cuDNN first), which
    device_setup.steady_attention turns off: the price of one cuDNN plan per new batch shape;
  - each of our steps' model FLOPs (bench.limit's count, from the real padded batches) against the
    GPU's measured bf16 matmul rate.
Adapters and freeze the same way (freeze: our features computed once, then the head's steps; its FLOPs are
not counted). SVM has no training steps: its row is the feature extraction over the training sentences, the
reference's way (fp32, batches of 64 in file order) against ours (bf16, length-sorted under a token budget).
Then `bench.query_cut` on that model: the last layer's query cut (first_token.py, on a CPU only so far)
against the whole layer on each of the GPU's attention kernels. Last, with `--compile METHODS` (default: full),
those methods once more in steady state (bench.compiled): our loop as it is, then with its training forward
under torch.compile (CUDA graphs) over batches padded to length buckets; a compiler's failure is reported.
The model is written to a temporary folder and loaded through the project's own loading code.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from unittest import mock

import numpy as np
import torch

from bench import compiled, query_cut
from bench.common import DATA, table, write_json
from bench.features import plain
from bench.limit import matmul_rate, step_flops
from bench.throughput import fresh_accelerator_state, ours_samples_per_s, trainer_samples_per_s
from sentiment_lab.training import device as device_setup
from sentiment_lab.training.backbone import load_encoder, load_tokenizer
from sentiment_lab.training.batching import tokenize, train_batches
from sentiment_lab.training.config import METHODS, RunConfig
from sentiment_lab.training.data import load_dataset
from sentiment_lab.training.features import encode

BACKWARD = {"full": 2.0, "lora": 1.0, "adapters": 1.0}  # see bench.limit


def reset_memory_stats(device: str) -> None:
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()


def max_memory_gib(device: str) -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else float("nan")


def distilbert_folder(tokenizer, label_names: list[str], folder: str) -> str:
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    config = DistilBertConfig(
        num_labels=len(label_names),
        id2label=dict(enumerate(label_names)),
        label2id={n: i for i, n in enumerate(label_names)},
        vocab_size=len(tokenizer),
    )
    torch.manual_seed(0)
    DistilBertForSequenceClassification(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def flops_per_s(config, lengths, batch: int, steps: int, method: str, samples_per_s: float) -> float:
    """Model FLOPs of the steps our loop ran (the same length-grouped batches, epoch 0) per second."""
    batches = train_batches(lengths, batch, 0, 0)[:steps]
    flops = sum(step_flops(config, (len(b), int(lengths[b].max())), BACKWARD[method]) for b in batches)
    return flops / (len(batches) * batch / samples_per_s)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="60 steps")
    parser.add_argument("--methods", default=",".join(METHODS), help="default: all five")
    parser.add_argument("--batches", default="16,128", help="batch sizes for our loop; the Trainer runs batch 16")
    parser.add_argument("--tokenizer", default="minilm", help="a tokenizer with DistilBERT's vocabulary")
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument(
        "--compile", default="full", help="methods also measured compiled, over length buckets ('' for none)"
    )
    parser.add_argument("--bucket", type=int, default=32, help="compiled batches are padded to a multiple of this")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile's backend (aot_eager: a dry run)")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"), help="cpu: a dry run of this script")
    args = parser.parse_args(argv)
    if unknown := set(args.methods.split(",")) - set(METHODS):
        parser.error(f"unknown method(s): {', '.join(sorted(unknown))}; choose from {', '.join(METHODS)}")
    if unknown := set(filter(None, args.compile.split(","))) - set(compiled.METHODS):
        choices = ", ".join(compiled.METHODS)
        parser.error(f"--compile: {', '.join(sorted(unknown))} cannot be compiled; choose from {choices}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench.gpu: no CUDA GPU is visible here; nothing measured (--device cpu for a dry run)")
    steps = 60 if args.quick else args.steps
    name = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    peak = matmul_rate(torch.bfloat16, n=8192 if args.device == "cuda" else 1024, device=args.device)
    print(f"{name}: bf16 matmul {peak / 1e12:.2f} TFLOP/s", flush=True)
    tok = load_tokenizer(args.tokenizer)
    ds = load_dataset(args.data)
    tokenize(ds.splits["train"], tok, 512)
    tokenize(ds.splits["validation"], tok, 512)
    with tempfile.TemporaryDirectory(prefix="distilbert-shaped-") as folder:
        measure(args, steps, name, peak, tok, ds, distilbert_folder(tok, ds.label_names, folder))


def measure(args, steps: int, name: str, peak: float, tok, ds, model: str) -> None:
    lengths, config = ds.splits["train"].lengths(), model_config(model)
    batch_sizes = [int(b) for b in args.batches.split(",")]
    rows, out = [], {"device": name, "bf16_matmul_flops": peak, "steps": steps, "methods": {}}
    chosen = args.methods.split(",")
    stepped = [m for m in chosen if m != "svm"]
    for i, method in enumerate(stepped):
        cfg = RunConfig.of(method=method, model=model, dataset=args.data, device=args.device).validated()
        if i == 0:  # CUDA context, cuBLAS handles and kernels load once, outside every timing
            fresh_accelerator_state()
            ours_samples_per_s(method, cfg, ds, tok, min(20, steps))
        torch.manual_seed(0)
        fresh_accelerator_state()
        ref = trainer_samples_per_s(method, cfg, ds, tok, steps)
        result = {"trainer_fp32_b16": ref}
        variants = [(f"ours_bf16_b{b}", b, False) for b in batch_sizes]
        # Once, for the first method only: cuDNN keeps its plans per process, so a second method with the
        # same shapes would find them built and hide the cost.
        variants += (
            [(f"ours_bf16_b{batch_sizes[0]}_cudnn_attention", batch_sizes[0], True)]
            if args.device == "cuda" and i == 0
            else []
        )
        for key, batch, cudnn in variants:
            torch.manual_seed(0)
            fresh_accelerator_state()
            reset_memory_stats(args.device)
            with torch_attention_order() if cudnn else contextlib.nullcontext():
                ours = ours_samples_per_s(method, cfg, ds, tok, steps, batch)
            counted = method in BACKWARD  # freeze's FLOPs are not counted
            rate = flops_per_s(config, lengths, batch, steps, method, ours) if counted else float("nan")
            mem = max_memory_gib(args.device)
            result[key] = {
                "samples_per_s": ours,
                "ms_per_step": 1000 * batch / ours,
                "flops_per_s": rate,
                "fraction_of_peak": rate / peak,
                "max_memory_gib": mem,
            }
            label = "ours, cuDNN attention" if cudnn else "ours"
            rows.append(
                [
                    method,
                    label,
                    batch,
                    f"{ref:.0f}",
                    f"{ours:.0f}",
                    f"{ours / ref:.1f}x",
                    f"{1000 * batch / ours:.1f}",
                    f"{rate / 1e12:.1f}" if counted else "–",
                    f"{100 * rate / peak:.1f}%" if counted else "–",
                    f"{mem:.1f}",
                ]
            )
            print(
                f"{method} {label} batch {batch}: trainer {ref:.0f} samples/s, ours {ours:.0f} ({ours / ref:.1f}x)"
                + (f", {100 * rate / peak:.1f}% of bf16 matmul" if counted else ""),
                flush=True,
            )
        out["methods"][method] = result
    if rows:
        print(table_of(rows))
    if "svm" in chosen:
        out["methods"]["svm"] = svm_features(args, model, tok, ds)
    out["query_cut"] = query_cut.check(model, ds, tok, torch.device(args.device))
    query_cut.report(out["query_cut"])
    write_json("gpu", out)
    # Last, as the longest and least tried: what comes before is measured and written whatever happens here.
    compiled_section(args, steps, stepped, model, ds, tok, config, lengths, peak, out)
    write_json("gpu", out)
    first = {
        m: r[f"ours_bf16_b{batch_sizes[0]}"]["samples_per_s"] / r["trainer_fp32_b16"]
        for m, r in out["methods"].items()
        if m != "svm"
    }
    first |= {
        f"{m} compiled": r[f"ours_bf16_b{batch_sizes[0]}_compiled"]["samples_per_s"] / r["trainer_fp32_b16"]
        for m, r in out["methods"].items()
        if f"ours_bf16_b{batch_sizes[0]}_compiled" in r
    }
    if "svm" in out["methods"]:
        first["svm features"] = out["methods"]["svm"]["ratio"]
    print(
        f"headline: {name}, batch {batch_sizes[0]} bf16 vs the reference's fp32 Trainer: "
        + ", ".join(f"{m} {v:.1f}x" for m, v in first.items())
    )


def compiled_section(args, steps, stepped, model: str, ds, tok, config, lengths, peak: float, out: dict) -> None:
    """The compiled rows of each method `--compile` names, into `out` and a table; a method whose compiled run
    fails gets its error recorded instead."""
    rows, batch = [], int(args.batches.split(",")[0])
    for method in [m for m in stepped if m in args.compile.split(",")]:
        cfg = RunConfig.of(method=method, model=model, dataset=args.data, device=args.device).validated()
        result = out["methods"][method]
        ref = result["trainer_fp32_b16"]
        try:
            for key, label, figures, cells in compiled_rows(
                args, steps, method, cfg, ds, tok, config, lengths, peak, ref
            ):
                result[key] = figures
                rows.append([method, label, batch, f"{ref:.0f}"] + cells)
        except Exception as e:  # a compiler's failure is a finding to report, not a reason to lose the rest
            result["compile_error"] = f"{type(e).__name__}: {e}"
            print(f"{method} compiled: {type(e).__name__}: {e}", flush=True)
    if rows:
        print(table_of(rows))


def compiled_rows(args, steps, method, cfg, ds, tok, config, lengths, peak: float, ref: float):
    """Our loop at the first batch size in steady state, as it is and compiled over length buckets:
    (key, label, figures, table cells) of each."""
    batch, steps = int(args.batches.split(",")[0]), compiled.timed_steps(steps)
    share = compiled.BucketBatches(ds.splits["train"], tok.pad_token_id, batch, args.bucket, steps).padding_share
    for key, label, bucket, backend in (
        (f"ours_bf16_b{batch}_steady", "ours, steady", 0, None),
        (f"ours_bf16_b{batch}_compiled", f"ours, compiled, bucket {args.bucket}", args.bucket, args.compile_backend),
    ):
        torch.manual_seed(0)
        fresh_accelerator_state()
        reset_memory_stats(args.device)
        ours, warm_s = compiled.steady_samples_per_s(method, cfg, ds, tok, steps, batch, bucket, backend)
        rate = flops_per_s(config, lengths, batch, steps, method, ours)  # the real tokens' FLOPs, not the padding's
        mem = max_memory_gib(args.device)
        print(
            f"{method} {label} batch {batch}: ours {ours:.0f} samples/s ({ours / ref:.1f}x the Trainer), "
            f"warm steps {warm_s:.1f} s" + (f", padding {100 * share:.0f}% of the tokens" if bucket else ""),
            flush=True,
        )
        cells = [f"{ours:.0f}", f"{ours / ref:.1f}x", f"{1000 * batch / ours:.1f}", f"{rate / 1e12:.1f}"]
        cells += [f"{100 * rate / peak:.1f}%", f"{mem:.1f}"]
        yield (
            key,
            label,
            {
                "samples_per_s": ours,
                "warm_s": warm_s,
                "padding_share": share if bucket else 0.0,
                "flops_per_s": rate,
                "max_memory_gib": mem,
            },
            cells,
        )


def svm_features(args, model: str, tok, ds) -> dict:
    """Sentences/s of the SVM's feature extraction over the training split: the reference's way, then ours."""
    cfg = RunConfig.of(method="svm", model=model, dataset=args.data, device=args.device).validated()
    device = torch.device(args.device)
    encoder = load_encoder(model).to(device).eval()
    split, pooling = ds.splits["train"], cfg.features.pooling
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    encode(encoder, split, tok.pad_token_id, pooling, device, bf16)  # kernels load outside the timing
    timed = {}
    for key, extract in (
        ("plain_fp32_b64", lambda: plain(encoder, split, tok.pad_token_id, pooling, device)),
        ("ours", lambda: encode(encoder, split, tok.pad_token_id, pooling, device, bf16)),
    ):
        synchronize(device)
        start = time.perf_counter()
        features = extract()
        synchronize(device)
        timed[key] = (len(split) / (time.perf_counter() - start), features)
    (base, a), (ours, b) = timed["plain_fp32_b64"], timed["ours"]
    cosine = float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))
    print(
        table(
            [["svm", "features, reference: fp32, b64, file order", f"{base:.0f}", "1.0x"]]
            + [["svm", f"features, ours: bf16={bf16}, length-sorted", f"{ours:.0f}", f"{ours / base:.1f}x"]],
            ["method", "extraction", "sentences/s", "ratio"],
        )
    )
    print(f"svm: mean cosine similarity of the two feature sets {cosine:.4f}", flush=True)
    return {"plain_sentences_per_s": base, "ours_sentences_per_s": ours, "ratio": ours / base, "cosine": cosine}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def table_of(rows: list) -> str:
    return table(
        rows,
        [
            "method",
            "loop",
            "batch",
            "Trainer fp32 b16 samples/s",
            "ours bf16 samples/s",
            "ratio",
            "ms/step",
            "TFLOP/s",
            "of bf16 matmul",
            "GiB",
        ],
    )


@contextlib.contextmanager
def torch_attention_order():
    """torch's own SDPA backend order (cuDNN first for masked bf16 attention), which our loop turns off
    (device_setup.steady_attention): measured here to show what that costs."""
    try:
        with mock.patch.object(device_setup, "steady_attention", lambda: torch.backends.cuda.enable_cudnn_sdp(True)):
            yield
    finally:
        torch.backends.cuda.enable_cudnn_sdp(False)


def model_config(folder: str):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder)


if __name__ == "__main__":
    main()
