"""SVM feature extraction: `python -m bench.features [--quick]`.

Sentences/s of our extraction (tokenised once, batches sorted by length under a token budget,
inference_mode, bf16 autocast where the CPU has it) against plain batches of 64 sentences in
file order (padded to each batch's longest, fp32, no_grad), on the Rotten Tomatoes training set
with the bundled MiniLM, in this process. Also checks both give the same features.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from bench.common import DATA, table, write_json
from sentiment_lab.training.backbone import load_encoder, load_tokenizer
from sentiment_lab.training.batching import collate, tokenize
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.data import load_dataset, subsample
from sentiment_lab.training.device import cpu_has_native_bf16
from sentiment_lab.training.features import encode, sentence_features


def plain(encoder, split, pad_id: int, pooling: str, device: torch.device | None = None) -> np.ndarray:
    """The reference's way: batches of 64 in file order, fp32, no_grad."""
    device = device or next(encoder.parameters()).device
    out = []
    with torch.no_grad():
        for start in range(0, len(split), 64):
            ids, mask = collate(split.input_ids, range(start, min(start + 64, len(split))), pad_id)
            out.append(sentence_features(encoder, ids.to(device), mask.to(device), pooling).cpu().numpy())
    return np.concatenate(out)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2,000 sentences instead of 8,530")
    parser.add_argument("--pooling", default=RunConfig().features.pooling, help="default: the runs' own (%(default)s)")
    args = parser.parse_args(argv)
    ds = load_dataset(str(DATA))
    tok = load_tokenizer("minilm")
    split = ds.splits["train"]
    tokenize(split, tok, 512)
    split = subsample(split, 2000 if args.quick else None, 0)
    encoder = load_encoder("minilm").eval()
    bf16 = cpu_has_native_bf16()
    t = time.perf_counter()
    base = plain(encoder, split, tok.pad_token_id, args.pooling)
    plain_s = time.perf_counter() - t
    t = time.perf_counter()
    ours = encode(encoder, split, tok.pad_token_id, args.pooling, torch.device("cpu"), autocast=bf16)
    ours_s = time.perf_counter() - t
    cos = float(np.mean(np.sum(base * ours, 1) / (np.linalg.norm(base, axis=1) * np.linalg.norm(ours, axis=1))))
    rows = [
        ["plain batches of 64, file order, fp32", f"{len(split) / plain_s:.0f}", f"{plain_s:.1f}"],
        [f"ours (length-sorted, bf16={bf16})", f"{len(split) / ours_s:.0f}", f"{ours_s:.1f}"],
    ]
    print(table(rows, ["extraction", "sentences/s", "seconds"]))
    print(f"mean cosine similarity of the two feature sets: {cos:.4f}")
    ratio = plain_s / ours_s
    write_json(
        "features", {"sentences": len(split), "plain_s": plain_s, "ours_s": ours_s, "ratio": ratio, "cosine": cos}
    )
    print(f"headline: feature extraction {ratio:.1f}x faster than plain batches")


if __name__ == "__main__":
    main()
