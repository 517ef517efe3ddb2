"""Form values -> run config, and uploaded files -> a dataset path. Pure functions, no Gradio."""

from __future__ import annotations

import re

from sentiment_lab.runs.launch import check_processes
from sentiment_lab.runs.paths import MAX_NAME, RunIdError, check_run_name
from sentiment_lab.training.config import DEFAULT_LR, METHODS, ConfigError, RunConfig, unread_by
from sentiment_lab.training.data import DEFAULT_DATASET, offline_copy_of
from sentiment_lab.ui.names import MAX_MODEL, SHORT, own_name

TEXT_FIELDS = ("lr", "max_train_samples", "seed")  # textboxes: blank is their default, which a number box cannot show
# The Train form's labels, by flat name: messages about a setting name the box the user sees.
FIELD_LABELS = {
    "method": "Method",
    "model": "Model",
    "dataset": "Dataset",
    "epochs": "Epochs",
    "batch_size": "Batch size",
    "lr": "Learning rate",
    "max_length": "Max length",
    "seed": "Seed",
    "max_train_samples": "Max train samples",
    "lora_r": "LoRA r",
    "lora_alpha": "LoRA alpha",
    "lora_dropout": "LoRA dropout",
    "lora_targets": "LoRA on",
    "lora_dora": "DoRA",
    "adapter_dim": "Adapter bottleneck size",
    "adapter_dropout": "Adapter dropout",
    "run_name": "Run name (optional)",
    "patience": "Stop early after",
    "processes": "Processes",
    "pooling": "Features (SVM, freeze)",
    "text_column": "Text column",
    "label_column": "Label column",
}
# Number boxes: the browser sends an empty or non-numeric entry as nothing, which must not become a default.
NUMBER_FIELDS = (
    "epochs",
    "batch_size",
    "max_length",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "adapter_dim",
    "adapter_dropout",
    "patience",
    "processes",
)
MAX_RUNS = 10  # from one form: ten 3-epoch MiniLM runs already take most of an hour on 2 cores
METHOD_LABELS = {
    "svm": "SVM on frozen features",
    "full": "Full fine-tuning",
    "lora": "LoRA",
    "freeze": "Freeze (head only)",
    "adapters": "Adapters",
}


def lr_hint(method: str) -> str:
    return f"blank = {DEFAULT_LR[method]:g} ({method} default)" if method in DEFAULT_LR else "not used by the SVM"


LR_INFO = "several (1e-4, 3e-4): one run each"


def form_to_config(values: dict) -> RunConfig:
    """Build and validate a RunConfig from form fields; a blank text box means the default, a number box
    left empty (or holding what is not a number, which the browser sends as empty) is refused by name."""
    if not isinstance(values, dict):  # the API's caller may send any JSON
        raise ConfigError(
            f"the train settings must be a JSON object of setting names and values, e.g. "
            f'{{"method": "lora", "epochs": 1}}; got {type(values).__name__}'
        )
    cleaned = {}
    method = values.get("method")
    unread = unread_by(method) if isinstance(method, str) else set()  # any other value is refused by name below
    for key, value in values.items():
        if key in unread:
            continue  # hidden in the form for this method: whatever it holds does not matter
        if isinstance(value, str):
            value = value.strip()
        if value is None and key in NUMBER_FIELDS:
            raise ConfigError(f"{FIELD_LABELS[key]}: enter a number")
        if value in ("", None):
            continue
        cleaned[key] = value
    try:
        check_run_name(cleaned.get("run_name"))
        cfg = RunConfig.from_dict(cleaned)
        check_processes(cfg.processes)
        return cfg
    except (RunIdError, TypeError) as e:
        raise ConfigError(str(e)) from None
    except ConfigError as e:
        raise ConfigError(in_form_words(str(e))) from None


def in_form_words(message: str) -> str:
    """A config message as the form says it: the setting's label for its flat name ("Epochs must be ...")."""
    name = message.split(" ", 1)[0].rstrip(":")
    return FIELD_LABELS[name] + message[len(name) :] if name in FIELD_LABELS else message


def parse_many(value, field: str, kind, example: str, plural: str) -> list | None:
    """'42' or '42, 43, 44' as a list of `kind` (int or float); None when blank (the field's default).
    A number from a number box or the API passes as it is: RunConfig checks it."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else [value]
    parts = [p for p in str(value).replace(",", " ").split()]
    if not parts:
        return None
    try:
        values = [kind(p) for p in parts]
    except ValueError:
        what = "whole numbers" if kind is int else "numbers"
        raise ConfigError(
            f"{field} must be {what}, several separated by commas ({example}): got {str(value).strip()!r}"
        ) from None
    if len(set(values)) < len(values):
        raise ConfigError(f"{field} {next(x for x in values if values.count(x) > 1):g} is listed twice")
    if len(values) > MAX_RUNS:
        raise ConfigError(f"{len(values)} {plural}; at most {MAX_RUNS} at once")
    return values


def parse_seeds(value) -> list[int] | None:
    """'42' or '42, 43, 44' (a comparison over seeds); None when blank (the default seed)."""
    return parse_many(value, "seed", int, "42, 43, 44", "seeds")


def parse_rates(value) -> list[float] | None:
    """'3e-4' or '1e-4, 3e-4, 1e-3' (a learning-rate sweep); None when blank (the method's measured default)."""
    return parse_many(value, "learning rate", float, "1e-4, 3e-4", "learning rates")


def form_to_configs(values: dict) -> list[RunConfig]:
    """One validated config per learning rate and seed in the form (one run when each holds one value):
    a sweep's runs differ only there, so the results table's per-setting view lines them up."""
    rates, seeds = parse_rates(values.get("lr")), parse_seeds(values.get("seed"))
    if rates and len(rates) > 1 and values.get("method") == "svm":
        raise ConfigError("the SVM has no learning rate (it picks C on validation): give one or none")
    runs = [(lr, seed) for lr in rates or [None] for seed in seeds or [None]]
    if len(runs) > MAX_RUNS:
        raise ConfigError(
            f"{len(rates)} learning rates × {len(seeds)} seeds is {len(runs)} runs; at most {MAX_RUNS} at once"
        )
    if len(runs) == 1:
        return [form_to_config({**values, "lr": rates and rates[0], "seed": seeds and seeds[0]})]
    method, model = values.get("method"), values.get("model") or RunConfig.model
    return [
        form_to_config(
            {
                **values,
                "lr": lr,
                "seed": seed,
                "run_name": sweep_name(values.get("run_name"), lr, seed, rates, seeds, method, model),
            }
        )
        for lr, seed in runs
    ]


def every_method_configs(values: dict) -> list[RunConfig]:
    """Train all five: one config per method (and per seed listed) from one form, each method at its own
    learning rate. A setting the shown method's form hides, yet another method reads, is named as hidden."""
    values = {k: v for k, v in values.items() if k != "lr"}
    shown, hidden = values.get("method"), unread_by(values.get("method"))
    configs = []
    for method in METHODS:
        try:
            configs += form_to_configs({**values, "method": method})
        except ConfigError as e:
            named = next((k for k in hidden & FIELD_LABELS.keys() if str(e).startswith(FIELD_LABELS[k])), None)
            if named is None:
                raise
            raise ConfigError(
                f"{e}. The {METHOD_LABELS[shown]} form hides {FIELD_LABELS[named]}, which "
                f"{METHOD_LABELS[method]} reads: pick {METHOD_LABELS[method]} to see it"
            ) from None
    return configs


def short_rate(lr: float) -> str:
    """1e-4, 1.5e-3: a learning rate as few characters."""
    mantissa, exponent = f"{lr:e}".split("e")
    return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"


def sweep_name(name: str | None, lr, seed, rates, seeds, method: str, model: str) -> str:
    """A sweep's runs named by what tells them apart (`lr1e-4-s2`), after the user's name, or else after
    the method and model as an unnamed run reads (`LoRA minilm s2`: Train all five's runs of one seed would
    otherwise share a name), so the run list shows which is which."""
    tag = "-".join(
        ([f"lr{short_rate(float(lr))}"] if rates and len(rates) > 1 else [])
        + ([f"s{seed}"] if seeds and len(seeds) > 1 else [])
    )
    name = (name or "").strip()
    if name:
        return f"{name[: MAX_NAME - len(tag) - 1]}-{tag}"
    # The model's own name as a run name may hold it: letters, digits and '_.-' (no '..'), cut to a chip's width.
    model = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9_.-]+", "-", own_name(model)))[:MAX_MODEL]
    return f"{SHORT.get(method, method)} {model.strip('.-_') or 'model'} {tag}"


def form_values(cfg: RunConfig, names: tuple[str, ...]) -> tuple[list, list[str]]:
    """A saved run's settings as Train-form values, in `names` order, to train it again (a new seed,
    say); and the settings it changed that the form has no field for, which the form cannot carry."""
    values, default = [], RunConfig.of(method=cfg.method)
    for name in names:
        value = cfg.flat()[name]
        if name == "run_name" or value is None:
            value = ""  # a new run gets its own name; blank optional fields mean "the default"
        elif name in TEXT_FIELDS:
            value = f"{value:g}" if isinstance(value, float) else str(value)
        values.append(value)
    shown, unread = set(names), unread_by(cfg.method)
    left_out = [f"{k}={v}" for k, v in cfg.flat().items() if k not in shown | unread and v != default.flat()[k]]
    return values, left_out


def as_sentence(clause: str) -> str:
    """A message clause ('its base model is…') as a sentence of its own."""
    return f"{clause[0].upper()}{clause[1:].rstrip('.')}."


def dataset_note(dataset: str, hub_online: bool) -> str:
    """What the run will actually read, said before it starts."""
    if dataset == DEFAULT_DATASET and not hub_online:
        local = offline_copy_of(dataset)
        if local:
            return f"The Hub is unreachable: the run will use the local copy of Rotten Tomatoes ({local.name})."
        return "The Hub is unreachable and no local copy exists: upload a file or give a local folder."
    return ""
