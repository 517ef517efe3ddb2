"""Run configuration by concern: the run itself, then data, optimisation, the features, and one section per method
that has settings of its own; the one source of defaults for the form, the CLI, the worker and the tests."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

from sentiment_lab.storage import write_json_atomic
from sentiment_lab.training.hub_urls import hub_id

METHODS = ("svm", "full", "lora", "freeze", "adapters")
POOLINGS = ("mean", "cls")  # the last layer's token mean (how sentence encoders are read), or its [CLS] state
# the attention projections (LoRA's own), or every linear layer of each encoder layer
LORA_TARGETS = ("attention", "all")
EXERCISE_METHOD = {1: "svm", 2: "full"}  # exercise 3 takes --method, as in the reference lab

# Learning rates per method, measured on the bundled MiniLM (docs/experiments.md, "Learning rates and pooling"):
# the reference's single 5e-5 suits full fine-tuning; methods that train few weights need larger steps.
DEFAULT_LR = {"full": 5e-5, "lora": 2e-3, "adapters": 1e-3, "freeze": 5e-4}

# A rate this many times the method's default is warned of before queueing: well past where runs stop learning
# (docs/experiments.md, "Learning rates and pooling"), and most often a rate typed for another method.
HIGH_LR_FACTOR = 10

MAX_BATCH_SIZE = 4096
MAX_LENGTH_LIMIT = 8192
MAX_EPOCHS = 1000
MAX_PROCESSES = 64
# config.json's format: 2 since the methods are the textbook ones (docs/experiments.md, "Textbook defaults"), 3 in
# sections; an older file is read through _from_older.
FORMAT = 3

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


class Section:
    """A group of settings. Outside config.json (flags, form fields, error messages) each one goes by its flat
    name, PREFIX + its field name; READ_BY names the methods that read the section, so a change to it leaves
    other methods' runs as they were."""

    PREFIX: ClassVar[str] = ""
    READ_BY: ClassVar[tuple[str, ...]] = METHODS

    def check(self) -> None:
        """Ranges and choices, once the fields have their types."""


@dataclass
class Data(Section):
    dataset: str = "cornell-movie-review-data/rotten_tomatoes"
    """Hub dataset id (owner/name:config for one of several configs), or a local folder / parquet / CSV / JSON file"""
    text_column: str = "text"
    """The column holding each review"""
    label_column: str = "label"
    """The column holding each review's class: ids (0, 1, ...) or names"""
    max_length: int = 512
    """Longest tokenised review; batches are padded only to their own longest sentence"""
    max_train_samples: int | None = None
    """Train on a seeded sample of this many training sentences; unset: all of them"""
    max_eval_samples: int | None = None
    """Score validation and test on a seeded sample of this many sentences each; unset: all of them"""

    def check(self) -> None:
        for name in ("dataset", "text_column", "label_column"):
            if not str(getattr(self, name)).strip():
                raise ConfigError(f"{name} must not be empty")
        _check_range("max_length", self.max_length, 8, MAX_LENGTH_LIMIT)
        for name in ("max_train_samples", "max_eval_samples"):
            if getattr(self, name) is not None:
                _check_range(name, getattr(self, name), 2, 10**9)


@dataclass
class Optimisation(Section):
    """AdamW, linear warm-up then linear decay, as the Trainer's defaults; read by every method the loop trains."""

    READ_BY: ClassVar[tuple[str, ...]] = ("full", "lora", "freeze", "adapters")
    epochs: float = 3
    """Passes over the training sentences; a fraction stops part-way through the last"""
    batch_size: int = 16
    """The global batch: with several processes each takes its share"""
    lr: float | None = None
    """Peak learning rate, reached after warm-up; unset: the method's own"""
    weight_decay: float = 0.01
    """AdamW's decoupled weight decay, on trained weight matrices only (biases and norms keep none)"""
    warmup_ratio: float = 0.06
    """Share of the steps over which the learning rate rises linearly from zero"""
    max_grad_norm: float = 1.0
    """Clip the gradient norm to this before each step, as the Trainer does; 0: no clipping"""
    evals_per_epoch: int = 2
    """Evaluations on validation per epoch; the best one is the checkpoint kept"""
    patience: int = 0
    """Stop early once this many evaluations in a row bring no better checkpoint; 0: train the whole budget"""
    log_every: int = 20
    """Steps between train-loss lines in metrics.jsonl"""

    def check(self) -> None:
        _check_range("epochs", self.epochs, 0, MAX_EPOCHS, low_open=True)
        _check_range("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        if self.lr is not None:
            _check_range("lr", self.lr, 0, 1.0, low_open=True)
        _check_range("weight_decay", self.weight_decay, 0, 1)
        _check_range("max_grad_norm", self.max_grad_norm, 0, 1e6)
        _check_range("warmup_ratio", self.warmup_ratio, 0, 0.5)
        _check_range("evals_per_epoch", self.evals_per_epoch, 1, 100)
        _check_range("patience", self.patience, 0, 1000)
        _check_range("log_every", self.log_every, 1, 100000)


@dataclass
class Features(Section):
    """The frozen encoder's sentence features, read by the SVM and freeze."""

    READ_BY: ClassVar[tuple[str, ...]] = ("svm", "freeze")
    pooling: str = "mean"
    """mean (the last layer's token mean, how sentence encoders are read) or cls ([CLS] state)"""

    def check(self) -> None:
        if self.pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {self.pooling!r}")


@dataclass
class Lora(Section):
    """LoRA through PEFT."""

    PREFIX: ClassVar[str] = "lora_"
    READ_BY: ClassVar[tuple[str, ...]] = ("lora",)
    r: int = 8
    """Rank of each low-rank update"""
    alpha: int = 16
    """Scale of the updates: each is multiplied by alpha / r"""
    dropout: float = 0.1
    """Dropout on the input of each low-rank update"""
    targets: str = "attention"
    """attention (the attention projections, as in the LoRA paper) or all (every linear layer of each encoder layer)"""
    dora: bool = False
    """DoRA (PEFT's use_dora): each adapted weight's magnitude trains apart from its direction"""

    def check(self) -> None:
        _check_range("lora_r", self.r, 1, 1024)
        _check_range("lora_alpha", self.alpha, 1, 1 << 16)
        _check_range("lora_dropout", self.dropout, 0, 0.9)
        if self.targets not in LORA_TARGETS:
            raise ConfigError(f"lora_targets must be one of {', '.join(LORA_TARGETS)}, got {self.targets!r}")


@dataclass
class Adapters(Section):
    """Houlsby adapters: a bottleneck after each layer's attention output and one after its feed-forward output."""

    PREFIX: ClassVar[str] = "adapter_"
    READ_BY: ClassVar[tuple[str, ...]] = ("adapters",)
    dim: int = 64
    """Bottleneck width"""
    dropout: float = 0.1
    """Dropout inside each adapter, between its GELU and its up-projection"""

    def check(self) -> None:
        _check_range("adapter_dim", self.dim, 1, 8192)
        _check_range("adapter_dropout", self.dropout, 0, 0.9)


@dataclass
class Svm(Section):
    PREFIX: ClassVar[str] = "svm_"
    READ_BY: ClassVar[tuple[str, ...]] = ("svm",)
    c: float | None = None
    """The SVM's C; unset: picked by validation accuracy from a grid (1e-4 to 1), smallest first, stopping after two
    worse in a row"""

    def check(self) -> None:
        if self.c is not None:
            _check_range("svm_c", self.c, 0, 1e6, low_open=True)


SECTIONS: dict[str, type[Section]] = {
    "data": Data,
    "optimisation": Optimisation,
    "features": Features,
    "lora": Lora,
    "adapters": Adapters,
    "svm": Svm,
}


@dataclass
class RunConfig:
    """Everything that defines one training run; saved whole as config.json, one object per section."""

    method: str = "full"
    """svm | full | lora | freeze | adapters"""
    model: str = "minilm"
    """Hub id, local folder, or 'minilm' for the bundled offline encoder"""
    seed: int = 42
    """Seeds the new weights' start, the batches' order, dropout, and any sample or split carved from the data"""
    device: str = "auto"
    """auto | cpu | cuda | cuda:N | mps"""
    bf16: str = "auto"
    """auto | on | off: bfloat16 autocast where the hardware has it"""
    processes: int = 0
    """Processes to train in, data-parallel (batch_size stays the global batch); 0: one per visible GPU, or one"""
    run_name: str | None = None
    """A short name for the run in tables and charts (letters, digits, spaces, . _ -); unset: method, model, a
    counter"""
    project: str | None = None
    """W&B project; used only when wandb is installed and logged in"""
    data: Data = field(default_factory=Data)
    optimisation: Optimisation = field(default_factory=Optimisation)
    features: Features = field(default_factory=Features)
    lora: Lora = field(default_factory=Lora)
    adapters: Adapters = field(default_factory=Adapters)
    svm: Svm = field(default_factory=Svm)

    @staticmethod
    def flat_fields() -> list[tuple[str, dataclasses.Field, type, str | None]]:
        """(flat name, field, the class that declares it, its section or None for the run's own) for every setting."""
        out = [(f.name, f, RunConfig, None) for f in fields(RunConfig) if f.name not in SECTIONS]
        for section, cls in SECTIONS.items():
            out += [(cls.PREFIX + f.name, f, cls, section) for f in fields(cls)]
        return out

    @classmethod
    def of(cls, **flat: Any) -> "RunConfig":
        """A config from flat names (`lora_r=4`, `epochs=1`), as flags and form fields give them; not validated."""
        known = {name: (f.name, section) for name, f, _, section in cls.flat_fields()}
        unknown = sorted(set(flat) - set(known))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        run = {known[k][0]: v for k, v in flat.items() if known[k][1] is None}
        parts = {
            section: SECTIONS[section](**{known[k][0]: v for k, v in flat.items() if known[k][1] == section})
            for section in SECTIONS
        }
        return cls(**run, **parts)

    def _values(self):
        """(flat name, section or None, value) of every setting."""
        for name, f, _, section in self.flat_fields():
            yield name, section, getattr(self if section is None else getattr(self, section), f.name)

    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name."""
        return {name: value for name, _, value in self._values()}

    @property
    def learning_rate(self) -> float | None:
        lr = self.optimisation.lr
        return lr if lr is not None else DEFAULT_LR.get(self.method)  # None: the SVM has no lr

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, **dataclasses.asdict(self), "resolved_lr": self.learning_rate}

    def own(self) -> dict[str, Any]:
        """config.json without the sections this run's method does not read (what the app shows of a run)."""
        return {k: v for k, v in self.to_dict().items() if k not in SECTIONS or self.method in SECTIONS[k].READ_BY}

    def settings(self) -> dict[str, Any]:
        """What this run trains with, by flat name: the run's own fields but its name, and the sections its
        method reads, with the learning rate by value (given or default)."""
        read = {None} | {s for s, cls in SECTIONS.items() if self.method in cls.READ_BY}
        out = {name: v for name, section, v in self._values() if section in read and name not in ("run_name", "lr")}
        if "optimisation" in read:
            out["resolved_lr"] = self.learning_rate
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunConfig":
        """A config.json's contents (sections) or flat names, validated."""
        d = {k: v for k, v in d.items() if k not in ("resolved_lr", "format")}
        flat = {k: v for k, v in d.items() if k not in SECTIONS}
        for section, cls_ in SECTIONS.items():
            values = d.get(section) or {}
            if not isinstance(values, dict):
                raise ConfigError(f"{section} must be a group of settings, got {values!r}")
            flat.update({cls_.PREFIX + k: v for k, v in values.items()})
        try:
            return cls.of(**flat).validated()
        except TypeError as e:
            raise ConfigError(str(e)) from None

    def save(self, path) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path) -> "RunConfig":
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
        if saved.get("format", 1) < 2:
            saved = _from_older(saved)
        flat_lr = saved.get("lr", (saved.get("optimisation") or {}).get("lr"))
        if flat_lr is None and saved.get("resolved_lr") is not None:  # the rate it trained with, not today's default
            if "optimisation" in saved:
                saved["optimisation"] = {**saved["optimisation"], "lr": saved["resolved_lr"]}
            else:
                saved["lr"] = saved["resolved_lr"]
        return cls.from_dict(saved)

    def validated(self) -> "RunConfig":
        """Coerce types and check ranges; raise ConfigError naming the first bad setting by its flat name."""
        for name, f, _, section in self.flat_fields():
            owner = self if section is None else getattr(self, section)
            setattr(owner, f.name, _coerce(name, f, getattr(owner, f.name)))
        if self.method not in METHODS:
            raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.bf16 not in ("auto", "on", "off"):
            raise ConfigError(f"bf16 must be auto, on or off, got {self.bf16!r}")
        if not str(self.model).strip():
            raise ConfigError("model must not be empty")
        self.model = hub_id(self.model, "model")  # a Hub page's address pasted for its id
        self.data.dataset = hub_id(self.data.dataset, "dataset")
        _check_range("seed", self.seed, 0, 2**32 - 1)
        _check_range("processes", self.processes, 0, MAX_PROCESSES)
        for section in SECTIONS:
            getattr(self, section).check()
        return self


def unread_by(method) -> set[str]:
    """The flat names of settings `method` does not read (its form hides them; its flags are ignored)."""
    return {
        name
        for name, _, cls, section in RunConfig.flat_fields()
        if section is not None and method in METHODS and method not in cls.READ_BY
    }


def rate_warning(cfg: RunConfig) -> list[str]:
    """What to say of a learning rate so far above the method's default that the run would likely not learn."""
    lr, default = cfg.optimisation.lr, DEFAULT_LR.get(cfg.method)
    if lr is None or default is None or lr < HIGH_LR_FACTOR * default:
        return []
    return [
        f"learning rate {lr:g} is {lr / default:.0f}x the {cfg.method} default ({default:g}): this far above it a "
        "run usually stops learning (a rate meant for another method?)"
    ]


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


WANTED = {"int": "a whole number", "float": "a number", "bool": "true or false", "str": "text"}


def _coerce(name: str, f: dataclasses.Field, value: Any) -> Any:
    """Turn strings from forms and CLIs into the field's type, refusing what does not fit."""
    kind = str(f.type)
    optional = "None" in kind
    if value is None or (optional and isinstance(value, str) and value.strip() == ""):
        if optional:
            return None
        raise ConfigError(f"{name} must be set")
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
                raise ConfigError(f"{name} must not contain a NUL character")
            return value.strip()
    except (TypeError, ValueError):
        wanted = WANTED.get(kind.split(" ")[0].replace("|", "").strip(), "valid")
        raise ConfigError(f"{name} must be {wanted}, got {value!r}") from None
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
