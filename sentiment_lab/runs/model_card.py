"""A pushed run's model card (the repository's README.md): the Hub's metadata, its scores, and the lines that
load its `artefacts/` with the standard tools, so the repository explains itself without Sentiment Lab."""

from __future__ import annotations

import re
from pathlib import Path

from sentiment_lab import REPO
from sentiment_lab.training.backbone import is_local_model, looks_like_path, portable_name
from sentiment_lab.training.config import RunConfig
from sentiment_lab.training.records import read_results
from sentiment_lab.training.tables import EXTENSIONS, hub_id_and_config

# What trained, in a sentence each; the README's "Defaults" table says the same at length.
TRAINED = {
    "svm": "a linear SVM (scikit-learn) on the frozen encoder's pooled sentence features",
    "full": "every weight, with the model's own classification head (full fine-tuning)",
    "lora": "LoRA through PEFT on the attention projections, with the classification head",
    "freeze": "a small head on the frozen encoder's pooled sentence features (the backbone frozen)",
    "adapters": "Houlsby bottleneck adapters in every layer, with the LayerNorms and the head (the backbone frozen)",
}
# The format the artefacts keep. Not given to the Hub as `library_name`: its own loading lines would read the
# repository's root, where the run's config.json is, not the model's under artefacts/.
FORMAT = {
    "full": "transformers' save_pretrained",
    "lora": "PEFT's adapter files",
    "adapters": "safetensors, with a JSON spec",
    "freeze": "safetensors, with a JSON spec",
    "svm": "safetensors, with a JSON spec",
}
SETTINGS = ("epochs", "batch_size", "lr", "max_length", "seed")
OWN_SETTINGS = {"lora": ("lora_r", "lora_alpha", "lora_dropout", "lora_targets"), "adapters": ("adapter_dim",)}


def loading_lines(method: str, readme: Path = REPO / "README.md") -> str | None:
    """The README's lines that load this method's artefacts (`tests/test_standard_loading.py` runs them)."""
    try:
        text = readme.read_text(encoding="utf-8")
    except OSError:
        return None
    found = re.search(rf"```python\n# {method}\n(.*?)```", text, re.S)
    return found.group(1) if found else None


def model_card(folder: Path, repo_id: str) -> str:
    """README.md for the Hub repository a finished run is pushed to."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    cfg = RunConfig.load(folder / "config.json")
    results = read_results(folder) or {}
    base = None if is_local_model(cfg.model) else portable_name(cfg.model)  # a folder of this machine: not named
    dataset = cfg.data.dataset
    on_hub = not (
        looks_like_path(dataset)
        or Path(dataset).expanduser().exists()
        or dataset.count("/") > 1
        or dataset.lower().endswith(EXTENSIONS)  # a data file of the machine that trained it
    )
    repo, config = hub_id_and_config(dataset)
    # a test split carved from train is not the dataset's own: the Hub's index would compare it with others
    test = {} if "test" in results.get("carved", []) else results.get("test") or {}
    scores = [
        EvalResult(
            task_type="text-classification",
            dataset_type=repo,
            dataset_name=repo.split("/")[-1],
            dataset_config=config,
            dataset_split="test",
            metric_type=metric,
            metric_name=name,
            metric_value=round(float(test[metric]), 4),
        )
        for metric, name in (("accuracy", "accuracy"), ("f1", "macro-F1"))
        if on_hub and test.get(metric) is not None
    ]
    data = ModelCardData(
        base_model=base,
        datasets=[repo] if on_hub else None,
        pipeline_tag="text-classification",
        tags=["sentiment-lab", "sentiment-analysis", cfg.method],
        model_name=repo_id.split("/")[-1],
        eval_results=scores or None,
    )
    named = {"model": base or Path(cfg.model).name, "dataset": dataset if on_hub else Path(dataset).name}
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{_body(cfg, results, named, repo_id)}").content


def _body(cfg: RunConfig, results: dict, named: dict, repo_id: str) -> str:
    flat = cfg.flat()
    flat["lr"] = cfg.learning_rate
    read = [name for name in SETTINGS + OWN_SETTINGS.get(cfg.method, ()) if cfg.method != "svm" or name == "seed"]
    rows = [
        f"| {split}{' (carved from train)' * (split in results.get('carved', []))} | {scores['accuracy']:.4f} | "
        f"{scores['f1']:.4f} |"
        for split in ("validation", "test")
        if (scores := results.get(split)) and scores.get("accuracy") is not None and scores.get("f1") is not None
    ]
    lines = [
        f"# {repo_id.split('/')[-1]}",
        "",
        f"A sentiment classifier trained with Sentiment Lab: {TRAINED[cfg.method]}. Base model "
        f"`{named['model']}`; data `{named['dataset']}`; labels "
        f"{', '.join(f'`{label}`' for label in results.get('labels') or [])}.",
        "",
    ]
    if rows:
        lines += ["| split | accuracy | macro-F1 |", "|---|---|---|", *rows, ""]
    lines += [
        "Settings: "
        + ", ".join(
            f"{name} {flat[name]:g}" if isinstance(flat[name], float) else f"{name} {flat[name]}" for name in read
        )
        + (f"; {results['trainable_parameters']:,} trained weights" if results.get("trainable_parameters") else "")
        + ". The whole run config is `config.json`; its curves are `metrics.jsonl`, its log `log.txt`.",
        "",
        "## Use it",
        "",
        f"The model is in `artefacts/`, in {FORMAT[cfg.method]}. Download it; then the lines below leave in "
        "`probs` each review's class probabilities, in the order of the labels above:",
        "",
        "```python",
        "from huggingface_hub import snapshot_download",
        "",
        f'run = snapshot_download("{repo_id}", allow_patterns="artefacts/*") + "/artefacts"',
        'texts = ["A gorgeous, funny and deeply moving film.", "Two hours I will never get back."]',
        "```",
        "",
    ]
    loading = loading_lines(cfg.method)
    if loading:
        lines += ["```python", loading.rstrip("\n"), "```", ""]
    else:  # an install without the project's README
        lines += ["Sentiment Lab's README shows the lines that load each method's artefacts.", ""]
    lines += [
        "## Back into Sentiment Lab",
        "",
        f"`python -m sentiment_lab.hub pull {repo_id}`, or *Pull* in the app's Train tab, brings it back as a "
        "finished run for the Compare tab.",
        "",
    ]
    return "\n".join(lines)
