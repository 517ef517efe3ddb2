"""Run configuration: one dataclass, the reference lab's defaults, per-method learning rates, validation."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from typing import Any

from sentiment_lab.storage import write_json_atomic

METHODS = ("svm", "full", "lora", "freeze", "adapters")
# Settings only some methods read (besides lora_* and adapter_*): a change to them leaves other methods' runs
# as they were.
OWN_SETTINGS = {"pooling": ("svm", "freeze"), "svm_c": ("svm",)}
POOLINGS = ("mean", "cls")  # the last layer's token mean (how sentence encoders are read), or its [CLS] state
LORA_TARGETS = (
    "attention",
    "all",
)  # the attention projections (LoRA's own), or every linear layer of each encoder layer
EXERCISE_METHOD = {1: "svm", 2: "full"}  # exercise 3 takes --method, as in the reference lab

# Learning rates per method, measured on the bundled MiniLM (docs/experiments.md, "Learning rates and pooling"):
# the reference's single 5e-5 suits full fine-tuning; methods that train few weights need larger steps.
DEFAULT_LR = {"full": 5e-5, "lora": 2e-3, "adapters": 1e-3, "freeze": 5e-4}

MAX_BATCH_SIZE = 4096
MAX_LENGTH_LIMIT = 8192
MAX_EPOCHS = 1000
FORMAT = 2  # config.json's format: 2 since the methods are the textbook ones (docs/experiments.md, "Textbook defaults")

# Settings that older versions had and this one does not. Those in AS_TRAINED changed only how a run
# trained, so such a run still loads; the value each needs for its artefacts to mean what they mean now
# is in SAME_ARTEFACTS, and a run saved with another value is refused by name (last code: LAST_COMMIT).
AS_TRAINED = (
    "ema",
    "probe_epochs",
    "head_lr",
    "layer_decay",
    "decay_ratio",
    "lora_plus",
    "adapter_plus",
    "freeze_embeddings",
    "model_dropout",
    "adapter_model_dropout",
    "embedding_adapter_dropout",
    "token_rows_lr",
)
SAME_ARTEFACTS = {
    "head": "cls",
    "lora_init": "zero",
    "lora_norms": False,
    "lora_embeddings": False,
    "token_rows": 0,
    "embedding_adapter": 0,
    "adapter_placement": "sequential",
}
LAST_COMMIT = "d41a6a7"


class ConfigError(ValueError):
    """A user-fixable problem with a run setting; the message names the field."""


@dataclass
class RunConfig:
    """Everything that defines one training run; saved whole as config.json."""

    # --- the run
    method: str = "full"
    """svm | full | lora | freeze | adapters"""
    model: str = "minilm"
    """Hub id, local folder, or 'minilm' for the bundled offline encoder"""
    dataset: str = "cornell-movie-review-data/rotten_tomatoes"
    """Hub dataset id, or a local folder / parquet / CSV / JSON-lines file"""
    text_column: str = "text"
    label_column: str = "label"
    seed: int = 42
    device: str = "auto"
    """auto | cpu | cuda | cuda:N | mps"""
    bf16: str = "auto"
    """auto | on | off: bfloat16 autocast where the hardware has it"""
    run_name: str | None = None
    project: str | None = None
    """W&B project; used only when wandb is installed and logged in"""
    # --- data
    max_length: int = 512
    """Longest tokenised review; batches are padded only to their own longest sentence"""
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    # --- optimisation (AdamW, linear warm-up then linear decay, as the Trainer's defaults)
    epochs: float = 3
    batch_size: int = 16
    lr: float | None = None
    """None means the method's default (DEFAULT_LR)"""
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    """Clip the gradient norm to this before each step, as the Trainer does; 0: no clipping"""
    evals_per_epoch: int = 2
    """Evaluations on validation per epoch; the best one is the checkpoint kept"""
    patience: int = 0
    """Stop early once this many evaluations in a row bring no better checkpoint; 0: train the whole budget"""
    log_every: int = 20
    """Steps between train-loss lines in metrics.jsonl"""
    # --- LoRA (through PEFT)
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    lora_targets: str = "attention"
    """attention (the attention projections, as in the LoRA paper) or all (every linear layer of each encoder layer)"""
    lora_dora: bool = False
    """DoRA (PEFT's use_dora): each adapted weight's magnitude trains apart from its direction"""
    # --- adapters (Houlsby: a bottleneck after each layer's attention output and one after its feed-forward output)
    adapter_dim: int = 64
    adapter_dropout: float = 0.1
    # --- SVM and freeze (frozen encoder)
    pooling: str = "mean"
    """Sentence features: mean (the last layer's token mean, how sentence encoders are read) or cls ([CLS] state)"""
    svm_c: float | None = None
    """None: pick C by validation accuracy from a grid (1e-4 to 1), smallest first, stopping after two worse in a row"""

    @property
    def learning_rate(self) -> float | None:
        return self.lr if self.lr is not None else DEFAULT_LR.get(self.method)  # None: the SVM has no lr

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["resolved_lr"] = self.learning_rate
        d["format"] = FORMAT
        return d

    def settings(self) -> dict[str, Any]:
        """What this run trains with: every field but its name, with the learning rate by value (given or
        default), leaving out the other methods' own settings (LoRA's for a full run changes nothing)."""
        other = tuple(f"{m}_" for m in ("lora", "adapter") if not self.method.startswith(m))
        skip = {"run_name", "lr", "format", *(k for k, owners in OWN_SETTINGS.items() if self.method not in owners)}
        return {k: v for k, v in self.to_dict().items() if k not in skip and not k.startswith(other)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names - {"resolved_lr", "format"})
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in names}).validated()

    def save(self, path) -> None:

        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "RunConfig":
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        if saved.get("format", 1) < FORMAT:
            saved = _from_older(saved)
        if saved.get("lr") is None and saved.get("resolved_lr") is not None:
            saved["lr"] = saved["resolved_lr"]  # the rate it trained with, not today's default for its method
        return cls.from_dict(saved)

    def validated(self) -> "RunConfig":
        """Coerce types and check ranges; raise ConfigError naming the first bad field."""
        for f in fields(self):
            setattr(self, f.name, _coerce(f, getattr(self, f.name)))
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.lora_targets not in LORA_TARGETS:
            raise ConfigError(f"lora_targets must be one of {', '.join(LORA_TARGETS)}, got {self.lora_targets!r}")
        if self.bf16 not in ("auto", "on", "off"):
            raise ConfigError(f"bf16 must be auto, on or off, got {self.bf16!r}")
        for name in ("model", "dataset", "text_column", "label_column"):
            if not str(getattr(self, name)).strip():
                raise ConfigError(f"{name} must not be empty")
        _check_range("epochs", self.epochs, 0, MAX_EPOCHS, low_open=True)
        _check_range("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        _check_range("max_length", self.max_length, 8, MAX_LENGTH_LIMIT)
        if self.lr is not None:
            _check_range("lr", self.lr, 0, 1.0, low_open=True)
        _check_range("weight_decay", self.weight_decay, 0, 1)
        _check_range("max_grad_norm", self.max_grad_norm, 0, 1e6)
        _check_range("warmup_ratio", self.warmup_ratio, 0, 0.5)
        _check_range("lora_r", self.lora_r, 1, 1024)
        _check_range("lora_alpha", self.lora_alpha, 1, 1 << 16)
        _check_range("lora_dropout", self.lora_dropout, 0, 0.9)
        _check_range("adapter_dim", self.adapter_dim, 1, 8192)
        _check_range("adapter_dropout", self.adapter_dropout, 0, 0.9)
        if self.svm_c is not None:
            _check_range("svm_c", self.svm_c, 0, 1e6, low_open=True)
        _check_range("evals_per_epoch", self.evals_per_epoch, 1, 100)
        _check_range("patience", self.patience, 0, 1000)
        _check_range("log_every", self.log_every, 1, 100000)
        _check_range("seed", self.seed, 0, 2**32 - 1)
        for name in ("max_train_samples", "max_eval_samples"):
            value = getattr(self, name)
            if value is not None:
                _check_range(name, value, 2, 10**9)
        return self


def _from_older(saved: dict[str, Any]) -> dict[str, Any]:
    """An older run's config as this version reads it, or ConfigError naming what it trained with that this
    version cannot rebuild. A run saved before an option existed did what the textbook method does."""
    method = saved.get("method")
    own = {
        "head": ("full", "lora", "adapters"),
        "lora_init": ("lora",),
        "lora_norms": ("lora",),
        "lora_embeddings": ("lora",),
        "token_rows": ("lora", "adapters"),
        "embedding_adapter": ("lora", "adapters"),
        "adapter_placement": ("adapters",),
    }
    different = [
        f"{k} {saved[k]}" for k, same in SAME_ARTEFACTS.items() if method in own[k] and saved.get(k) not in (None, same)
    ]
    if method in ("svm", "freeze") and saved.get("pooling", "cls") not in POOLINGS:
        different.append(f"pooling {saved['pooling']}")
    if different:
        raise ConfigError(
            f"this {method} run was saved by an older Sentiment Lab with {', '.join(different)}, which this "
            f"version no longer has (docs/experiments.md; the code is at commit {LAST_COMMIT}): train it again"
        )
    older = {**saved}
    for name in (*AS_TRAINED, *SAME_ARTEFACTS):
        older.pop(name, None)
    older.setdefault("pooling", "cls")  # before pooling existed the features were [CLS]
    older.setdefault("max_grad_norm", 0.0)  # before clipping existed no run clipped
    return older


def _coerce(f: dataclasses.Field, value: Any) -> Any:
    """Turn strings from forms and CLIs into the field's type, refusing what does not fit."""
    kind = str(f.type)
    optional = "None" in kind
    if value is None or (optional and isinstance(value, str) and value.strip() == ""):
        if optional:
            return None
        raise ConfigError(f"{f.name} must be set")
    try:
        if kind.startswith("bool"):
            return _as_bool(value)
        if kind.startswith("int"):
            if isinstance(value, bool):
                raise ValueError
            as_float = float(value)
            if not as_float.is_integer():
                raise ValueError
            return int(as_float)
        if kind.startswith("float"):
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
            if not math.isfinite(number):
                raise ValueError
            return number
        if kind.startswith("str"):
            if not isinstance(value, str):
                raise ValueError
            if "\x00" in value:
                raise ConfigError(f"{f.name} must not contain a NUL character")
            return value.strip()
    except (TypeError, ValueError):
        raise ConfigError(f"{f.name} must be {kind.split(' ')[0].replace('|', '').strip()}, got {value!r}") from None
    return value


def _as_bool(value: Any) -> bool:
    """Checkboxes send bools, command lines send words."""
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("true", "1", "yes", "on"):
        return True
    if word in ("false", "0", "no", "off"):
        return False
    raise ValueError


def _check_range(
    name: str, value: float, low: float, high: float, low_open: bool = False, high_open: bool = False
) -> None:
    if (value <= low if low_open else value < low) or (value >= high if high_open else value > high):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ConfigError(f"{name} must be in {left}{low}, {high}{right}, got {value}")
