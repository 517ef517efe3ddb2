"""How close training steps come to this machine's matmul rate: `python -m bench.limit [--quick]`.

Measures the dense matmul rate (fp32 and bf16) with torch, then times training steps of each
torch method on real Rotten Tomatoes batches with the bundled MiniLM and counts their FLOPs from
the model's shape and the real (padded) token counts:
  forward 2*N*T + attention 4*L*S^2*H per sequence; backward twice the forward for full
  fine-tuning, once the forward for LoRA / adapters (input gradients only through frozen weights).
N counts matmul weights of the encoder layers, T tokens in the batch, S sequence length, H hidden.
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from bench.common import DATA, table, write_json
from sentiment_lab.training import methods
from sentiment_lab.training.backbone import load_tokenizer
from sentiment_lab.training.batching import collate, tokenize, train_batches
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.cpu_levers import training_attention  # the kernel the app's training steps use
from sentiment_lab.training.data import load_dataset
from sentiment_lab.training.device import cpu_has_native_bf16


def matmul_rate(dtype: torch.dtype, n: int = 1024, seconds: float = 2.0, device: str = "cpu") -> float:
    a, b = torch.randn(n, n, dtype=dtype, device=device), torch.randn(n, n, dtype=dtype, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)  # GPU products run asynchronously
    for _ in range(3):
        a @ b
    sync()
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        count += 1
    sync()
    return 2 * n**3 * count / (time.perf_counter() - start)


def step_flops(config, batch_shape, backward_factor: float) -> float:
    b, s = batch_shape
    ffn = getattr(config, "intermediate_size", None) or config.hidden_dim  # DistilBERT names it hidden_dim
    h, layers = config.hidden_size, config.num_hidden_layers
    n = layers * (4 * h * h + 2 * h * ffn)
    forward = 2 * n * b * s + layers * 4 * b * s * s * h
    return forward * (1 + backward_factor)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 steps per method")
    args = parser.parse_args(argv)
    steps = 10 if args.quick else args.steps
    fp32, bf16 = matmul_rate(torch.float32), matmul_rate(torch.bfloat16)
    print(f"matmul rate: fp32 {fp32 / 1e9:.0f} GFLOP/s, bf16 {bf16 / 1e9:.0f} GFLOP/s", flush=True)
    ds = load_dataset(str(DATA))
    tok = load_tokenizer("minilm")
    train = ds.splits["train"]
    tokenize(train, tok, 512)
    batches = train_batches(train.lengths(), 16, 42, 0)[: steps + 3]
    use_bf16 = cpu_has_native_bf16()
    peak = bf16 if use_bf16 else fp32
    rows, out = [], {"fp32_flops": fp32, "bf16_flops": bf16}
    # The same full fine-tuning steps once in fp32 show what bf16 autocast buys on this CPU.
    runs = [("full", 2.0, use_bf16), ("lora", 1.0, use_bf16), ("adapters", 1.0, use_bf16)]
    runs += [("full", 2.0, False)] if use_bf16 else []
    for method, factor, autocast in runs:
        cfg = RunConfig.of(method=method).validated()
        model = methods.build(cfg, ds.id2label).train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate)
        flops = seconds = 0.0
        for i, idx in enumerate(batches):
            ids, mask = collate(train.input_ids, idx, tok.pad_token_id)
            start = time.perf_counter()
            with (
                torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast),
                training_attention(torch.device("cpu"), autocast),
            ):
                loss = F.cross_entropy(
                    model(input_ids=ids, attention_mask=mask).logits.float(), torch.as_tensor(train.labels[idx])
                )
            loss.backward()
            opt.step()
            opt.zero_grad()
            if i >= 3:  # warm-up steps excluded
                seconds += time.perf_counter() - start
                flops += step_flops(model.config, ids.shape, factor)
        rate, name = flops / seconds, method + ("" if autocast or not use_bf16 else " (fp32)")
        out[name] = {"step_s": seconds / steps, "flops_per_s": rate, "fraction_of_peak": rate / peak}
        rows.append([name, f"{seconds / steps * 1000:.0f}", f"{rate / 1e9:.1f}", f"{100 * rate / peak:.0f}%"])
    print(table(rows, ["method", "ms/step", "GFLOP/s", f"of {'bf16' if use_bf16 else 'fp32'} matmul peak"]))
    if "full (fp32)" in out:
        print(
            "bf16 autocast speeds full fine-tuning steps up "
            f"{out['full (fp32)']['step_s'] / out['full']['step_s']:.2f}x"
        )
    write_json("limit", out)
    print(
        f"headline: full fine-tuning reaches {100 * out['full']['fraction_of_peak']:.0f}% of the measured "
        f"{'bf16' if use_bf16 else 'fp32'} matmul rate ({peak / 1e9:.0f} GFLOP/s)"
    )


if __name__ == "__main__":
    main()
