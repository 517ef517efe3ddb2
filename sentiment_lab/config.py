"""Run configuration: one dataclass, the reference lab's defaults, per-method learning rates, validation."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, fields
from typing import Any

METHODS = ("svm", "full", "lora", "freeze", "adapters")
# Settings only some methods read (besides lora_* and adapter_*): a change to the pooling leaves
# full fine-tuning's runs as they were, and must not make them look different.
OWN_SETTINGS = {"pooling": ("svm", "freeze"), "svm_c": ("svm",), "embedding_adapter": ("lora", "adapters"),
                "embedding_adapter_dropout": ("lora", "adapters"), "token_rows": ("lora", "adapters"), "token_rows_lr": ("lora", "adapters")}
POOLINGS = ("mean_last4", "mean_all", "mean_concat", "mean", "cls")
HEADS = ("cls", "mean", "mean_last4")
LORA_TARGETS = ("attention", "all")  # attention projections (the reference), or those and the feed-forward layers
ADAPTER_PLACEMENTS = ("sequential", "parallel")  # Houlsby's two per layer, or one beside each feed-forward block
LORA_INITS = ("zero", "lora_ga", "pissa")  # B = 0 (LoRA's own), from the full fine-tuning gradient (LoRA-GA), or the weights' principal part (PiSSA)
EXERCISE_METHOD = {1: "svm", 2: "full"}  # exercise 3 takes --method, as in the reference lab

# Learning rates measured on the bundled MiniLM, Rotten Tomatoes, 1 epoch, batch 16 (docs/experiments.md).
# The reference's single 5e-5 suits full fine-tuning only; methods that train few weights need
# larger steps to move at all within a short budget.
# LoRA: 1e-3 with LoRA+ (B matrices at 4x) replaced plain 2e-3 (docs/experiments.md, "Weight averaging and LoRA+"),
# then PiSSA at 5e-4 (one rate, no LoRA dropout) replaced both (docs/experiments.md, "PiSSA").
DEFAULT_LR = {"full": 5e-5, "lora": 5e-4, "adapters": 1e-3, "freeze": 5e-4}
# Width of the adapter on the token embeddings: LoRA's is better on every validation measure in 9 of 10 seeds (256: level),
# adapters' worse (docs/experiments.md, "An adapter on the token embeddings"); 0 (none) for every other method.
DEFAULT_EMBEDDING_ADAPTER = {"lora": 128}
# Trained rows of the token table (token_rows.py): LoRA's better on every validation measure at 2,000 rows and again at 4,000 (docs/experiments.md,
# "Trained rows of the token table").
DEFAULT_TOKEN_ROWS = {"lora": 4000}
# Settings whose default depends on the method (missing methods: 0), stored resolved in each run's config.
METHOD_DEFAULTS = {"embedding_adapter": DEFAULT_EMBEDDING_ADAPTER, "token_rows": DEFAULT_TOKEN_ROWS}


def method_default(name: str, method) -> Any:
    return METHOD_DEFAULTS[name].get(method, 0) if isinstance(method, str) else 0

MAX_BATCH_SIZE = 4096
MAX_LENGTH_LIMIT = 8192
MAX_EPOCHS = 1000


# What a run saved before an option existed did: it read [CLS], did not clip, average its weights or
# use LoRA+, DoRA, LayerNorms, faster up-projections, feed-forward LoRA or LoRA-GA, and placed adapters
# Houlsby's way, whatever today's defaults are.
BEFORE_OPTION = {"head": "cls", "max_grad_norm": 0.0, "probe_epochs": 0.0, "ema": 0.0, "lora_plus": 1.0, "lora_dora": False, "lora_norms": False,
                 "freeze_embeddings": False, "lora_embeddings": False,
                 "adapter_plus": 1.0, "lora_targets": "attention", "lora_init": "zero",
                 "adapter_placement": "sequential", "embedding_adapter": 0, "embedding_adapter_dropout": None,
                 "adapter_model_dropout": True, "token_rows": 0}


class ConfigError(ValueError):
    """A user-fixable problem with a run setting; the message names the field."""


@dataclass
class RunConfig:
    """Everything that defines one training run; saved whole as config.json."""

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
    epochs: float = 3
    batch_size: int = 16
    lr: float | None = None
    """None means the measured per-method default (DEFAULT_LR)"""
    max_length: int = 512
    """Longest tokenised review; batches are padded only to their own longest sentence"""
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    decay_ratio: float = 1.0
    """Fraction of the steps after warm-up over which the lr decays linearly to zero; below 1 it holds at its peak until then (warmup-stable-decay); 1: decay from the peak on"""
    head_lr: float | None = None
    """full / lora / adapters: learning rate of the classification head (BERT: pooler and classifier); None: the run's lr"""
    layer_decay: float = 1.0
    """full / lora / adapters: each encoder layer trains at this fraction of the lr of the layer above (embeddings last); 1: one lr"""
    probe_epochs: float = 0.0
    """full / lora / adapters: before fine-tuning, the head trains alone this many epochs on the untouched model's features (LP-FT, Kumar et al. 2022); 0: off"""
    max_grad_norm: float = 0.0
    """Clip the gradient norm to this before each step (the reference's Trainer clips at 1.0; measured no gain here, docs/experiments.md); 0: no clipping"""
    ema: float = 0.995
    """full / lora / adapters / freeze: decay of an exponential moving average of the trained weights, which evaluations and the kept checkpoint use (0.995: about the last 200 steps; measured, docs/experiments.md); 0: off"""
    freeze_embeddings: bool = False
    """full: the embeddings (token, position, their LayerNorm) stay as pre-trained; in MiniLM they are half the weights (docs/experiments.md)"""
    model_dropout: float | None = None
    """full / lora / adapters: every dropout of the pre-trained model (embeddings, attention, hidden layers, its classifier) while training; None: the model's own (MiniLM: 0.1), except adapters' 0 (adapter_model_dropout)"""
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    """lora: dropout on LoRA's input (the reference's 0.1; 0 with PiSSA, whose A and B carry each weight's principal part: measured, docs/experiments.md)"""
    lora_plus: float = 1.0
    """lora: the B matrices train at this multiple of the lr (LoRA+: 4 measured best with B = 0, docs/experiments.md); 1: one rate"""
    lora_norms: bool = False
    """lora: the LayerNorms train too (as adapters' do), saved with the LoRA weights"""
    lora_embeddings: bool = False
    """lora: LoRA on the token embeddings too (rank r, starting at zero whatever lora_init; PEFT's LoRA for embeddings); full fine-tuning's lead on test halves when its embeddings stay frozen (docs/experiments.md)"""
    lora_dora: bool = False
    """lora: DoRA (Liu et al. 2024): each adapted weight's direction gets the low-rank update and its per-column magnitude trains apart"""
    lora_targets: str = "attention"
    """lora: attention (the projections, as the reference) or all (the feed-forward layers too)"""
    lora_init: str = "pissa"
    """lora: zero (B starts at 0, LoRA's own), lora_ga (A and B start from the SVD of the full fine-tuning gradient on the first 32 batches) or pissa (A and B start as each weight's top-r singular part, which the frozen weight then lacks); the last two are saved as plain LoRA of rank 2r"""
    adapter_dim: int = 128
    """Bottleneck width of each adapter (128 parallel: as many weights as Houlsby's two of 64 per layer)"""
    adapter_dropout: float = 0.1
    adapter_plus: float = 1.0
    """adapters: the up-projections, which start at zero, train at this multiple of the lr (LoRA+'s argument); 1: one rate"""
    adapter_placement: str = "parallel"
    """adapters: parallel (one beside each feed-forward block, reading its input; He et al. 2022; measured better, docs/experiments.md) or sequential (after the attention and feed-forward outputs, Houlsby)"""
    adapter_model_dropout: bool = False
    """adapters: with model_dropout unset, train with the pre-trained model's own dropout (true) or none (false: better on every validation measure over ten seeds, docs/experiments.md)"""
    embedding_adapter: int | None = None
    """lora / adapters: bottleneck width of an adapter on the token embeddings (the table full fine-tuning trains; embedding_adapter.py), with embedding_adapter_dropout; None: the method's default (lora 128, adapters 0: measured, docs/experiments.md); 0: none"""
    embedding_adapter_dropout: float | None = None
    """lora / adapters: dropout inside the token-embedding adapter; None: the method's own (lora_dropout, adapter_dropout)"""
    token_rows: int | None = None
    """lora / adapters: train a correction for the embedding-table rows of this many tokens, those seen most often in the training split, as full fine-tuning trains every row (token_rows.py); None: the method's default (lora 4000, adapters 0: measured, docs/experiments.md); 0: none"""
    token_rows_lr: float = 5e-5
    """lora / adapters: learning rate of those rows (full fine-tuning's default, the rate it trains the table at)"""
    pooling: str = "mean_concat"
    """Sentence features for svm / freeze: mean_concat (each layer's token mean, embeddings included, side by side; measured best), mean_all (those means averaged), mean_last4 (the last 4 layers' averaged), mean (the last layer's), or cls"""
    head: str = "cls"
    """full / lora / adapters: what the classifier reads: cls (the model's own [CLS] head; a full run loads in a plain transformers pipeline) or mean (the token mean through the same head layers; docs/experiments.md compares them) or mean_last4 (that mean averaged over the last 4 layers)"""
    svm_c: float | None = None
    """None: pick C by validation accuracy from a grid (1e-4 to 1), smallest first, stopping after two worse in a row"""
    evals_per_epoch: int = 2
    """Evaluations on validation per epoch; the best one is the checkpoint kept"""
    patience: int = 0
    """Stop early once this many evaluations in a row bring no better checkpoint; 0: train the whole budget"""
    log_every: int = 20
    """Steps between train-loss lines in metrics.jsonl"""
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    bf16: str = "auto"
    """auto | on | off: bfloat16 autocast where the hardware has it"""
    project: str | None = None
    """W&B project; used only when wandb is installed and logged in"""
    run_name: str | None = None

    def __post_init__(self):
        self._method_defaults()

    def _method_defaults(self) -> None:
        """Settings whose default depends on the method are stored resolved, so a saved run keeps
        what it trained with when a default changes (the learning rate, the older setting, is kept
        as None and resolved by learning_rate)."""
        for name in METHOD_DEFAULTS:
            if getattr(self, name) is None:
                setattr(self, name, method_default(name, self.method))

    @property
    def learning_rate(self) -> float | None:
        return self.lr if self.lr is not None else DEFAULT_LR.get(self.method)  # None: the SVM has no lr

    @property
    def training_dropout(self) -> float | None:
        """The pre-trained model's dropout while training; None: the model's own."""
        if self.model_dropout is None and self.method == "adapters" and not self.adapter_model_dropout:
            return 0.0
        return self.model_dropout

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["resolved_lr"] = self.learning_rate
        return d

    def settings(self) -> dict[str, Any]:
        """What this run trains with: every field but its name, with the learning rate by value (given or
        default) and so the model's dropout, leaving out the other methods' own settings (LoRA's for a full run changes nothing)."""
        other = tuple(f"{m}_" for m in ("lora", "adapter") if not self.method.startswith(m))
        skip = {"run_name", "lr", *(k for k, owners in OWN_SETTINGS.items() if self.method not in owners)}
        d = {k: v for k, v in self.to_dict().items() if k not in skip and not k.startswith(other)}
        d["model_dropout"] = self.training_dropout  # by value too: `--model_dropout 0` trains as adapters' default
        d.pop("adapter_model_dropout", None)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names - {"resolved_lr"})
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        return cls(**{k: v for k, v in d.items() if k in names}).validated()

    def save(self, path) -> None:
        from .storage import write_json_atomic

        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "RunConfig":
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        for name, value in BEFORE_OPTION.items():
            saved.setdefault(name, value)
        if saved.get("lr") is None and saved.get("resolved_lr") is not None:
            saved["lr"] = saved["resolved_lr"]  # the rate it trained with, not today's default for its method
        return cls.from_dict(saved)

    def validated(self) -> "RunConfig":
        """Coerce types and check ranges; raise ConfigError naming the first bad field."""
        for f in fields(self):
            setattr(self, f.name, _coerce(f, getattr(self, f.name)))
        self._method_defaults()  # a blank form field coerces to None
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")
        if self.head not in HEADS:
            raise ConfigError(f"head must be one of {', '.join(HEADS)}, got {self.head!r}")
        if self.lora_targets not in LORA_TARGETS:
            raise ConfigError(f"lora_targets must be one of {', '.join(LORA_TARGETS)}, got {self.lora_targets!r}")
        if self.adapter_placement not in ADAPTER_PLACEMENTS:
            raise ConfigError(f"adapter_placement must be one of {', '.join(ADAPTER_PLACEMENTS)}, got {self.adapter_placement!r}")
        if self.lora_init not in LORA_INITS:
            raise ConfigError(f"lora_init must be one of {', '.join(LORA_INITS)}, got {self.lora_init!r}")
        if self.method == "lora" and self.lora_init != "zero" and self.lora_dora:
            raise ConfigError(f"lora_init {self.lora_init} does not combine with lora_dora: choose one")
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
        if self.head_lr is not None:
            _check_range("head_lr", self.head_lr, 0, 1.0, low_open=True)
        _check_range("layer_decay", self.layer_decay, 0, 1, low_open=True)
        _check_range("max_grad_norm", self.max_grad_norm, 0, 1e6)
        _check_range("probe_epochs", self.probe_epochs, 0, MAX_EPOCHS)
        _check_range("ema", self.ema, 0, 1, high_open=True)
        _check_range("lora_plus", self.lora_plus, 0, 1e4, low_open=True)
        _check_range("adapter_plus", self.adapter_plus, 0, 1e4, low_open=True)
        _check_range("warmup_ratio", self.warmup_ratio, 0, 0.5)
        _check_range("decay_ratio", self.decay_ratio, 0, 1, low_open=True)
        _check_range("lora_r", self.lora_r, 1, 1024)
        _check_range("lora_alpha", self.lora_alpha, 1, 1 << 16)
        _check_range("lora_dropout", self.lora_dropout, 0, 0.9)
        _check_range("token_rows", self.token_rows, 0, 10**7)
        _check_range("token_rows_lr", self.token_rows_lr, 0, 1.0, low_open=True)
        if self.model_dropout is not None:
            _check_range("model_dropout", self.model_dropout, 0, 0.9)
        _check_range("adapter_dim", self.adapter_dim, 1, 8192)
        _check_range("adapter_dropout", self.adapter_dropout, 0, 0.9)
        _check_range("embedding_adapter", self.embedding_adapter, 0, 8192)
        if self.embedding_adapter_dropout is not None:
            _check_range("embedding_adapter_dropout", self.embedding_adapter_dropout, 0, 0.9)
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


def _check_range(name: str, value: float, low: float, high: float, low_open: bool = False, high_open: bool = False) -> None:
    if (value <= low if low_open else value < low) or (value >= high if high_open else value > high):
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        raise ConfigError(f"{name} must be in {left}{low}, {high}{right}, got {value}")
