"""Pack what a GPU machine needs for bench.gpu / bench.sweep / bench.accuracy: `python -m bench.pack OUT`.

A rented GPU machine often has torch, transformers and peft but neither this project's bundled model
package nor `../shared`, and what travels to it may be small (64 MiB here). This writes
  OUT/minilm  the model folder with its weights stored as fp16 (half the size; the project loads
              every checkpoint in fp32, so only the fp16 rounding of the starting weights differs),
              its config and its tokenizer files;
  OUT/data    the Rotten Tomatoes parquet splits;
then `--model OUT/minilm` and `--data OUT/data` (`--tokenizer OUT/minilm` for bench.gpu) name them there.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from safetensors.torch import load_file, save_file

from bench.common import DATA

# Everything a tokenizer and config load from; weights are written apart, other files are not needed.
MODEL_FILES = ("config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
SPLITS = ("train", "validation", "test")


def pack_model(src: Path, out: Path) -> Path:
    weights = src / "model.safetensors"
    if not weights.is_file():
        raise SystemExit(f"{src} has no model.safetensors to pack")
    out.mkdir(parents=True, exist_ok=True)
    for name in MODEL_FILES:
        if (src / name).is_file():
            shutil.copy2(src / name, out / name)
    tensors = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in load_file(weights).items()}
    save_file(tensors, out / "model.safetensors", metadata={"format": "pt"})
    return out


def pack_data(src: Path, out: Path) -> Path:
    missing = [s for s in SPLITS if not (src / f"{s}.parquet").is_file()]
    if missing:
        raise SystemExit(f"{src} lacks the split(s) {', '.join(missing)} as parquet")
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        shutil.copy2(src / f"{split}.parquet", out / f"{split}.parquet")
    return out


def size_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write minilm/ and data/ into (keep it out of git)")
    parser.add_argument(
        "--model", default=None, help="a model folder with model.safetensors (default: the bundled MiniLM)"
    )
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args(argv)
    if args.model is None:
        from sentiment_lab.training.backbone import bundled_model_dir

        args.model = str(bundled_model_dir())
    out = Path(args.out)
    pack_model(Path(args.model), out / "minilm")
    pack_data(Path(args.data), out / "data")
    print(f"packed {out}/minilm and {out}/data: {size_mib(out):.1f} MiB")


if __name__ == "__main__":
    main()
