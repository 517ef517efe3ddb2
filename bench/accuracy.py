"""Accuracy of every method: `python -m bench.accuracy [--seeds 42,43] [--epochs 3] [--quick] [--readme]`.

Trains each method through the real command line on ../shared/data/rotten_tomatoes with the
bundled MiniLM, an equal epoch budget and its default settings; the kept checkpoint is the best by
validation. Prints test accuracy / macro-F1 / loss (mean ± std over seeds), a bootstrap 95%
interval on test accuracy, a paired McNemar test between every two methods (first seed) and, with
several seeds, a paired t-test of every two methods' per-seed test accuracies.
`--readme` rewrites the results table in README.md from this output. Runs already in --out with
the same settings (defaults included) are reused, so regenerating the table costs nothing; a run
whose saved config differs from today's defaults is trained again.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

from bench.common import DATA, RESULTS, ROOT, table, write_json
from sentiment_lab.runs.worker import parse_args
from sentiment_lab.serving.significance import bootstrap_ci, mcnemar, paired_gap_interval
from sentiment_lab.training.config import METHODS, RunConfig

START, END = "<!-- accuracy:start -->", "<!-- accuracy:end -->"


def same_config(saved: RunConfig, wanted: RunConfig) -> bool:
    """Equal settings (RunConfig.settings: the learning rate by value, other methods' settings left out)."""
    return saved.settings() == wanted.settings()


def run_one(
    out: Path, method: str, seed: int, epochs: float, extra: list[str], quick: bool, data: str = str(DATA)
) -> Path:
    name = f"{method}-s{seed}-e{epochs:g}" + ("-quick" if quick else "")
    folder = out / name
    flags = [
        "--method",
        method,
        "--dataset",
        data,
        "--seed",
        str(seed),
        "--epochs",
        str(epochs),
        "--output_dir",
        str(folder),
        *extra,
    ]
    if (folder / "results.json").is_file() and (folder / "test_predictions.json").is_file():
        if same_config(RunConfig.load(folder / "config.json"), parse_args(flags)[0]):
            return folder
        print(f"{name}: the defaults changed since it was trained; training again", flush=True)
        shutil.rmtree(folder)
    cmd = [sys.executable, "-m", "sentiment_lab.train", *flags]
    print(f"training {name} ...", flush=True)
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return folder


def run_results(folder: Path) -> dict:
    """The run's results.json plus two measures from its validation evaluations, steadier than the
    kept checkpoint's accuracy (the best of several noisy evaluations): their lowest loss and mean accuracy."""
    res = json.loads((folder / "results.json").read_text())
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    evals = [json.loads(line) for line in lines if '"eval_loss"' in line]
    res["lowest_val_loss"] = min(e["eval_loss"] for e in evals)
    res["val_accuracy_mean_of_evaluations"] = float(np.mean([e["eval_accuracy"] for e in evals]))
    return res


def paired_over_seeds(a: list[float], b: list[float]) -> tuple[float, float]:
    """Mean of the per-seed differences a - b and the two-sided paired t-test p over seeds. One
    seed's McNemar test sees only that seed's noise; this one asks whether the gap holds across seeds."""
    from scipy import stats  # scikit-learn's own dependency

    diff = np.asarray(a) - np.asarray(b)
    if len(diff) < 2 or np.ptp(diff) < 1e-9:  # no spread (to rounding): the t statistic is undefined
        return float(diff.mean()), float("nan")
    return float(diff.mean()), float(stats.ttest_rel(a, b).pvalue)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="42")
    parser.add_argument("--epochs", type=float, default=3)
    parser.add_argument("--quick", action="store_true", help="1 epoch on 400 training sentences (about two minutes)")
    parser.add_argument("--out", default=str(RESULTS / "accuracy-runs"))
    parser.add_argument("--readme", action="store_true", help="rewrite the results table in README.md")
    parser.add_argument(
        "--train-args", default="", help='more flags for every run, e.g. "--head cls" (use another --out)'
    )
    parser.add_argument(
        "--data", default=str(DATA), help="the Rotten Tomatoes folder (train / validation / test parquet)"
    )
    parser.add_argument("--methods", default=",".join(METHODS))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    epochs = 1 if args.quick else args.epochs
    extra = (["--max_train_samples", "400"] if args.quick else []) + shlex.split(args.train_args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    summary, correct, seed_mean_correct = {}, {}, {}
    chosen = [m for m in METHODS if m in args.methods.split(",")]
    for method in chosen:
        per_seed = []
        for seed in seeds:
            folder = run_one(out, method, seed, epochs, extra, args.quick, args.data)
            res = run_results(folder)
            saved = json.loads((folder / "test_predictions.json").read_text())
            pred, gold = np.asarray(saved["pred"]), np.asarray(saved["label"])
            per_seed.append((res, pred == gold))
        accs = [r["test"]["accuracy"] for r, _ in per_seed]
        summary[method] = {
            "accuracy_mean": float(np.mean(accs)),
            "accuracy_std": float(np.std(accs)),
            "f1_mean": float(np.mean([r["test"]["f1"] for r, _ in per_seed])),
            "val_accuracy_mean": float(np.mean([r["validation"]["accuracy"] for r, _ in per_seed])),
            "lowest_val_loss_mean": float(np.mean([r["lowest_val_loss"] for r, _ in per_seed])),
            "loss_mean": float(np.mean([r["test"]["loss"] for r, _ in per_seed])),
            "ci95": bootstrap_ci(np.mean([c for _, c in per_seed], axis=0)),
            "train_seconds": float(np.mean([r["train_seconds"] for r, _ in per_seed])),
            "trainable": per_seed[0][0]["trainable_parameters"],
            "total": per_seed[0][0]["total_parameters"],
            "seeds": seeds,
            "epochs": epochs,
            "per_seed": [
                {
                    "seed": seed,
                    "val_accuracy": r["validation"]["accuracy"],
                    "lowest_val_loss": r["lowest_val_loss"],
                    "val_accuracy_mean_of_evaluations": r["val_accuracy_mean_of_evaluations"],
                    "test_accuracy": r["test"]["accuracy"],
                }
                for seed, (r, _) in zip(seeds, per_seed)
            ],
        }
        correct[method] = per_seed[0][1]
        seed_mean_correct[method] = np.mean([c for _, c in per_seed], axis=0)
    rows = [
        [
            m,
            _pm(s, "accuracy"),
            f"[{s['ci95'][0]:.3f}, {s['ci95'][1]:.3f}]",
            f"{s['val_accuracy_mean']:.4f}",
            f"{s['lowest_val_loss_mean']:.4f}",
            f"{s['f1_mean']:.4f}",
            f"{s['loss_mean']:.4f}",
            f"{s['trainable']:,}",
            f"{100 * s['trainable'] / s['total']:.2f}%",
            f"{s['train_seconds']:.0f}",
        ]
        for m, s in summary.items()
    ]
    headers = [
        "method",
        "test accuracy",
        "bootstrap 95% CI",
        "val accuracy",
        "lowest val loss",
        "macro-F1",
        "test loss",
        "trainable",
        "% of total",
        "train s",
    ]
    print(table(rows, headers))
    tests = []
    for a, b in itertools.combinations(chosen, 2):
        only_a, only_b, p = mcnemar(correct[a], correct[b])
        tests.append([f"{a} vs {b}", only_a, only_b, f"{p:.3g}"])
    print(table(tests, ["pair (first seed)", "only first right", "only second right", "McNemar p"]))
    over_seeds = []
    if len(seeds) > 1:
        for a, b in itertools.combinations(chosen, 2):
            gap, p = paired_over_seeds(
                [r["test_accuracy"] for r in summary[a]["per_seed"]],
                [r["test_accuracy"] for r in summary[b]["per_seed"]],
            )
            low, high = paired_gap_interval(seed_mean_correct[a], seed_mean_correct[b])
            # The kept checkpoints' validation accuracy is read on a second set of sentences: a gap that
            # differs there from the test's shows how much of it one set of sentences decides.
            val_gap, _ = paired_over_seeds(
                [r["val_accuracy"] for r in summary[a]["per_seed"]], [r["val_accuracy"] for r in summary[b]["per_seed"]]
            )
            over_seeds.append(
                [
                    f"{a} vs {b}",
                    f"{100 * gap:+.2f} pt",
                    "–" if math.isnan(p) else f"{p:.3g}",
                    f"[{100 * low:+.2f}, {100 * high:+.2f}] pt",
                    f"{100 * val_gap:+.2f} pt",
                ]
            )
        print(
            table(
                over_seeds,
                [
                    "pair (all seeds)",
                    "mean test accuracy gap",
                    "paired t-test p",
                    "95% interval over test sentences",
                    "mean val accuracy gap",
                ],
            )
        )
    variant = (
        "" if out.resolve() == Path(parser.get_default("out")).resolve() else "-" + out.name.removeprefix("accuracy-")
    )
    write_json(
        "accuracy" + variant,
        {"summary": summary, "mcnemar": tests, "paired_over_seeds": over_seeds, "train_args": args.train_args},
    )
    if args.readme:
        _write_readme(
            rows, headers, tests, over_seeds, seeds, epochs, args.quick, argv if argv is not None else sys.argv[1:]
        )
    best = max(summary, key=lambda m: summary[m]["accuracy_mean"])
    print(
        f"headline: best {best} {summary[best]['accuracy_mean']:.4f}; "
        + ", ".join(f"{m} {s['accuracy_mean']:.3f}" for m, s in summary.items())
    )


def _pm(s: dict, key: str) -> str:
    mean, std = s[f"{key}_mean"], s.get(f"{key}_std", 0.0)
    return f"{mean:.4f}" + (f" ± {std:.4f}" if len(s["seeds"]) > 1 else "")


def shown_command(argv: list[str]) -> str:
    """The command as the README shows it: without `--out`, which says where the runs went on one machine (a
    path of it) and not what they were."""
    kept, args = [], iter(argv)
    for a in args:
        if a == "--out":
            next(args, None)  # its value
        elif not a.startswith("--out="):
            kept.append(a)
    return "python -m bench.accuracy " + " ".join(shlex.quote(a) for a in kept)


def _write_readme(rows, headers, tests, over_seeds, seeds, epochs, quick, argv) -> None:
    command = shown_command(argv)
    md = [
        f"Bundled MiniLM, Rotten Tomatoes test set (1,066 sentences), {epochs:g} epoch(s), seeds "
        f"{', '.join(map(str, seeds))}"
        + (" (quick subset)" if quick else "")
        + "; test accuracy as mean ± std over seeds; val accuracy: the kept checkpoint's; lowest val loss: over the "
        f"run's evaluations; generated by `{command}`.",
        "",
        "| " + " | ".join(headers) + " |",
        "|" + "---|" * len(headers),
    ]
    md += ["| " + " | ".join(str(x) for x in r) + " |" for r in rows]
    md += ["", "Paired McNemar tests on the first seed's test answers:", "", "| pair | p |", "|---|---|"]
    md += [f"| {t[0]} | {t[3]} |" for t in tests]
    if over_seeds:
        md += [
            "",
            "Paired over seeds: the first method's test accuracy minus the second's, with a t-test on the "
            "per-seed values, a bootstrap 95% interval of the gap over test sentences (each method's answers "
            "averaged over its seeds), and the same gap in the kept checkpoints' validation accuracy:",
            "",
            "| pair | test gap | p | 95% interval over sentences | validation gap |",
            "|---|---|---|---|---|",
        ]
        md += [f"| {t[0]} | {t[1]} | {t[2]} | {t[3]} | {t[4]} |" for t in over_seeds]
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = text.index(START) + len(START), text.index(END)
    readme.write_text(text[:start] + "\n" + "\n".join(md) + "\n" + text[end:])


if __name__ == "__main__":
    main()
