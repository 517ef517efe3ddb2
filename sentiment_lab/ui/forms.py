"""Form values -> run config, and uploaded files -> a dataset path. Pure functions, no Gradio."""
from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from ..config import DEFAULT_LR, ConfigError, RunConfig
from ..data import DEFAULT_DATASET, EXTENSIONS, offline_copy_of
from ..paths import RunIdError, check_run_name

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
TEXT_FIELDS = ("lr", "max_train_samples", "head_lr", "seed", "model_dropout")  # textboxes: blank is their default, which a number box cannot show
MAX_SEEDS = 10  # one run each: ten 3-epoch MiniLM runs already take most of an hour on 2 cores
METHOD_LABELS = {
    "svm": "SVM on frozen features", "full": "Full fine-tuning", "lora": "LoRA",
    "freeze": "Freeze (head only)", "adapters": "Adapters",
}


def lr_hint(method: str) -> str:
    return f"blank = measured default for {method}: {DEFAULT_LR[method]:g}" if method in DEFAULT_LR else "not used by the SVM"


def form_to_config(values: dict) -> RunConfig:
    """Build and validate a RunConfig from form fields; blank optional fields mean the default."""
    cleaned = {}
    for key, value in values.items():
        if isinstance(value, str):
            value = value.strip()
        if value in ("", None):
            continue
        cleaned[key] = value
    try:
        check_run_name(cleaned.get("run_name"))
        return RunConfig.from_dict(cleaned)
    except RunIdError as e:
        raise ConfigError(str(e)) from None
    except TypeError as e:
        raise ConfigError(str(e)) from None


def parse_seeds(value) -> list[int] | None:
    """'42' or '42, 43, 44' (a comparison over seeds) as whole numbers; None when blank (the default seed)."""
    if value is None or isinstance(value, (int, float)):
        return None if value is None else [value]  # a number box or the API: RunConfig checks it
    parts = [p for p in str(value).replace(",", " ").split()]
    if not parts:
        return None
    try:
        seeds = [int(p) for p in parts]
    except ValueError:
        raise ConfigError(f"seed must be whole numbers, several separated by commas (42, 43, 44): got {str(value).strip()!r}") from None
    if len(set(seeds)) < len(seeds):
        raise ConfigError(f"seed {next(x for x in seeds if seeds.count(x) > 1)} is listed twice")
    if len(seeds) > MAX_SEEDS:
        raise ConfigError(f"{len(seeds)} seeds; at most {MAX_SEEDS} at once")
    return seeds


def form_to_configs(values: dict) -> list[RunConfig]:
    """One validated config per seed in the form's seed field (one run when it holds a single seed)."""
    seeds = parse_seeds(values.get("seed"))
    if seeds is None:
        return [form_to_config({**values, "seed": None})]
    return [form_to_config({**values, "seed": seed}) for seed in seeds]


def form_values(cfg: RunConfig, names: tuple[str, ...]) -> tuple[list, list[str]]:
    """A saved run's settings as Train-form values, in `names` order, to train it again (a new seed,
    say); and the settings it changed that the form has no field for, which the form cannot carry."""
    values = []
    for name in names:
        value = getattr(cfg, name)
        if name == "run_name" or value is None:
            value = ""  # a new run gets its own name; blank optional fields mean "the default"
        elif name in TEXT_FIELDS:
            value = f"{value:g}" if isinstance(value, float) else str(value)
        values.append(value)
    default, shown = RunConfig(), set(names)
    left_out = [f"{k}={v}" for k, v in cfg.to_dict().items()
                if k not in shown and k != "resolved_lr" and v != getattr(default, k, v)]
    return values, left_out


def dataset_note(dataset: str, hub_online: bool) -> str:
    """What the run will actually read, said before it starts."""
    if dataset == DEFAULT_DATASET and not hub_online:
        local = offline_copy_of(dataset)
        if local:
            return f"The Hub is unreachable: the run will use the local copy of Rotten Tomatoes ({local.name})."
        return "The Hub is unreachable and no local copy exists: upload a file or give a local folder."
    return ""


def store_upload(upload_path: str | None, uploads_dir: Path) -> str | None:
    """Copy an uploaded table into the checkpoints folder (Gradio's temp files do not last)."""
    if not upload_path:
        return None
    src = Path(upload_path)
    suffix = src.suffix.lower()
    if suffix not in EXTENSIONS:
        raise ConfigError(f"uploaded file must be parquet, CSV or JSON lines, not {suffix or 'a file without extension'}")
    size = src.stat().st_size
    if size == 0:
        raise ConfigError("uploaded file is empty")
    if size > MAX_UPLOAD_BYTES:
        raise ConfigError(f"uploaded file is {size / 2**20:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 2**20} MB")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    uploads_dir.mkdir(parents=True, exist_ok=True)
    dest = uploads_dir / f"upload-{digest}{suffix}"  # our name, never the visitor's
    if not dest.exists():
        shutil.copyfile(src, dest)
    return str(dest)
