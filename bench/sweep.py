"""Screen training variants in parallel: `python -m bench.sweep --variants SPEC [--seeds 42,43] [--workers 4]`.

Each variant is `name=method FLAGS`, variants separated by `;`, e.g.
`--variants "lora=lora; lora-all=lora --lora_targets all; adapters=adapters"`. Every variant trains
once per seed through the real command line (bench.accuracy's run_one, so finished runs are
reused), several at a time: a GPU idles between one small model's kernels, so parallel runs on one
GPU cost little each. Runs go seed by seed, so a sweep cut short by `--deadline` still compares
every variant on the same seeds. The first variant of each method is its baseline: the table gives
each variant's means (kept validation accuracy, lowest validation loss, validation accuracy averaged
over the run's evaluations, test accuracy) and its validation difference from the baseline on the
seeds both finished. Choose by validation; test accuracy is printed last and is not for choosing.
The summary JSON is rewritten after every finished run, so a killed sweep keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import shlex
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np

from bench.accuracy import run_one, run_results
from bench.common import DATA, RESULTS, table


def parse_variants(spec: str) -> list[tuple[str, str, list[str]]]:
    variants = []
    for part in filter(str.strip, spec.split(";")):
        name, _, command = part.partition("=")
        words = shlex.split(command)
        if not name.strip() or not words:
            raise SystemExit(f"variant {part.strip()!r} must read name=method [flags]")
        variants.append((name.strip(), words[0], words[1:]))
    if len({v[0] for v in variants}) != len(variants):
        raise SystemExit("variant names must differ")
    return variants


def measures(folder: Path) -> dict:
    res = run_results(folder)
    return {
        "val": res["validation"]["accuracy"],
        "loss": res["lowest_val_loss"],
        "val_mean": res["val_accuracy_mean_of_evaluations"],
        "test": res["test"]["accuracy"],
        "seconds": res["train_seconds"],
    }


def summarise(variants, done: dict) -> tuple[list[list], dict]:
    baseline = {}
    for name, method, _ in variants:
        baseline.setdefault(method, name)
    rows, out = [], {}
    for name, method, flags in variants:
        runs = done.get(name, {})
        if not runs:
            continue
        mean = {
            k: float(np.mean([r[k] for r in runs.values()])) for k in ("val", "loss", "val_mean", "test", "seconds")
        }
        base = done.get(baseline[method], {})
        shared = sorted(set(runs) & set(base))
        delta = (
            float(np.mean([runs[s]["val"] - base[s]["val"] for s in shared]))
            if shared and name != baseline[method]
            else None
        )
        out[name] = {
            "method": method,
            "flags": flags,
            "seeds": sorted(runs),
            "mean": mean,
            "per_seed": runs,
            "baseline": baseline[method],
            "val_vs_baseline_same_seeds": delta,
        }
        rows.append(
            [
                name,
                method,
                ",".join(map(str, sorted(runs))),
                f"{mean['val']:.4f}",
                f"{mean['loss']:.4f}",
                f"{mean['val_mean']:.4f}",
                "–" if delta is None else f"{100 * delta:+.2f} pt",
                f"{mean['test']:.4f}",
                f"{mean['seconds']:.0f}",
            ]
        )
    return rows, out


HEADERS = [
    "variant",
    "method",
    "seeds",
    "val acc",
    "lowest val loss",
    "val mean of evals",
    "val vs baseline",
    "test acc",
    "train s",
]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", required=True, help="name=method FLAGS; name=method FLAGS; ...")
    parser.add_argument("--seeds", default="42,43")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--workers", type=int, default=1, help="runs at a time (1 on a 2-core CPU; 4-6 on one GPU)")
    parser.add_argument("--deadline", type=float, default=0, help="start no run after this many seconds (0: none)")
    parser.add_argument("--train-args", default="", help='flags for every run, e.g. "--model M --device cuda"')
    parser.add_argument("--data", default=str(DATA))
    parser.add_argument("--out", default=str(RESULTS / "sweep-runs"))
    parser.add_argument("--summary", default=str(RESULTS / "sweep.json"))
    parser.add_argument("--quick", action="store_true", help="1 epoch on 400 training sentences per run")
    args = parser.parse_args(argv)
    variants = parse_variants(args.variants)
    seeds = [int(s) for s in args.seeds.split(",")]
    extra = (["--max_train_samples", "400"] if args.quick else []) + shlex.split(args.train_args)
    workers = max(1, args.workers)
    jobs = [(seed, v) for seed in seeds for v in variants]  # seed by seed: a cut sweep stays comparable
    done: dict[str, dict[int, dict]] = {}
    failed: list[str] = []
    start = time.monotonic()

    def train(seed, variant):
        name, method, flags = variant
        return measures(
            run_one(
                Path(args.out) / name,
                method,
                seed,
                1 if args.quick else args.epochs,
                [*extra, *flags],
                args.quick,
                args.data,
            )
        )

    def record():
        rows, out = summarise(variants, done)
        Path(args.summary).parent.mkdir(parents=True, exist_ok=True)
        Path(args.summary).write_text(
            json.dumps(
                {"variants": out, "failed": failed, "train_args": args.train_args, "seconds": time.monotonic() - start},
                indent=1,
            )
        )
        return rows

    with ThreadPoolExecutor(max_workers=workers) as pool:
        running, queue = {}, list(jobs)
        while queue or running:
            while queue and len(running) < workers and not (args.deadline and time.monotonic() - start > args.deadline):
                seed, variant = queue.pop(0)
                running[pool.submit(train, seed, variant)] = (seed, variant)
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                seed, (name, _, _) = running.pop(future)
                try:
                    done.setdefault(name, {})[seed] = future.result()
                    print(
                        f"{name} s{seed}: val {done[name][seed]['val']:.4f} test {done[name][seed]['test']:.4f} "
                        f"({time.monotonic() - start:.0f} s)",
                        flush=True,
                    )
                except Exception as e:  # one broken variant must not cost the others' results
                    failed.append(f"{name} s{seed}: {e}")
                    print(f"{name} s{seed} FAILED: {e}", flush=True)
                record()
        skipped = len(queue)
    rows = record()
    print(table(rows, HEADERS))
    if skipped:
        print(f"{skipped} run(s) not started: deadline")
    best = max((r for r in rows if r[6] != "–"), key=lambda r: float(r[6].split()[0]), default=None)
    print(
        "headline: "
        + (f"best against its baseline {best[0]} {best[6]} validation" if best else "no variant against a baseline")
    )


if __name__ == "__main__":
    main()
