"""The query cut on this device's attention kernels: `python -m bench.query_cut [--device cuda] [--model M]`.

`training/first_token.py` can hand the last layer's attention one query row broadcast to every token (a
tensor of stride 0); `fit` and `evaluate` do so on a CPU only, the one place it was tested. This check gives
each of torch's attention kernels that a padded batch of real training sentences, in bf16 autocast where the
device has it, and prints how far the cut's logits and gradients are from the whole layer's, or the kernel's
error: the evidence a GPU session needs before the cut is turned on there. `bench.gpu` runs it too.
"""

from __future__ import annotations

import argparse

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel

from bench.common import DATA, table, write_json
from sentiment_lab.training.backbone import load_classifier, load_tokenizer
from sentiment_lab.training.batching import collate, tokenize
from sentiment_lab.training.data import load_dataset
from sentiment_lab.training.first_token import first_token_only, seams


def kernels(device: torch.device) -> list:
    if device.type != "cuda":
        return [SDPBackend.MATH]
    return [SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH, SDPBackend.CUDNN_ATTENTION, SDPBackend.FLASH_ATTENTION]


def logits_and_grads(model, inputs: dict, bf16: bool):
    model.zero_grad(set_to_none=True)
    with torch.autocast(inputs["input_ids"].device.type, dtype=torch.bfloat16, enabled=bf16):
        logits = model(**inputs).logits.float()
    logits.square().sum().backward()
    return logits.detach(), {n: p.grad.float() for n, p in model.named_parameters() if p.grad is not None}


def largest_gap(whole, cut) -> tuple[float, float]:
    """The largest gap between the logits, and between any gradients relative to the largest gradient entry (not
    each parameter's own: some, such as the keys' biases, have a gradient of zero but for rounding)."""
    logits = float((cut[0] - whole[0]).abs().max())
    gap = max(float((cut[1][n] - g).abs().max()) for n, g in whole[1].items())
    return logits, gap / max(float(g.abs().max()) for g in whole[1].values())


def check(model_name: str, ds, tok, device: torch.device, sentences: int = 16) -> list[dict]:
    """Per kernel: the gaps between the cut model and the whole one, or the error the kernel raised; [] for a
    model without a query cut."""
    torch.manual_seed(0)  # the head's random start
    model = load_classifier(model_name, ds.id2label).to(device).eval()  # eval: no dropout, the same masks
    found = seams(model)
    if not found or found[0] is None:
        return []
    split = ds.splits["train"]
    ids, mask = collate(split.input_ids, range(sentences), tok.pad_token_id)
    inputs = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
    bf16 = device.type == "cuda" and torch.cuda.is_bf16_supported()
    out = []
    for kernel in kernels(device):
        row = {"kernel": kernel.name, "bf16": bf16}
        try:
            with sdpa_kernel(kernel):
                whole = logits_and_grads(model, inputs, bf16)
                with first_token_only(model, queries=True):
                    cut = logits_and_grads(model, inputs, bf16)
            row["logits_gap"], row["grad_gap"] = largest_gap(whole, cut)
            row["logits_scale"] = float(whole[0].abs().max())
        except RuntimeError as error:  # a kernel that refuses these inputs (flash: a padding mask) says why
            row["error"] = str(error).splitlines()[0][:160]
        out.append(row)
    return out


def report(rows: list[dict]) -> None:
    print(
        table(
            [
                [r["kernel"], r["bf16"]]
                + (
                    [f"{r['logits_gap']:.2e} of {r['logits_scale']:.2f}", f"{r['grad_gap']:.2e}", ""]
                    if "error" not in r
                    else ["–", "–", r["error"]]
                )
                for r in rows
            ],
            ["kernel", "bf16", "largest logit gap", "largest gradient gap (relative)", "error"],
        )
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args(argv)
    tok = load_tokenizer(args.model)
    ds = load_dataset(args.data)
    tokenize(ds.splits["train"], tok, 512)
    rows = check(args.model, ds, tok, torch.device(args.device))
    if not rows:
        raise SystemExit(f"bench.query_cut: {args.model} has no query cut (first_token.py) to check")
    report(rows)
    write_json("query_cut", {"device": args.device, "model": args.model, "kernels": rows})


if __name__ == "__main__":
    main()
