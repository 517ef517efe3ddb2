"""Per-architecture module names: where LoRA and adapters go, and which modules form the head."""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Arch:
    lora_targets: tuple[str, ...]
    """Attention projections, as PEFT name suffixes"""
    adapter_after: tuple[str, ...]
    """Regexes of the linear layers whose output feeds an adapter (attention output, feed-forward output)"""
    head: tuple[str, ...]
    """Top-level modules of the sequence-classification head that always train"""
    final_hidden: str = "encoder"
    """Submodule of the base model whose output is the last hidden states the head reads at position 0"""
    norms: tuple[str, ...] = ("LayerNorm",)
    """LayerNorm module names, as PEFT name suffixes (LoRA's --lora_norms trains them)"""
    ffn_targets: tuple[str, ...] = ("intermediate.dense", "output.dense")
    """Feed-forward linear layers, as PEFT name suffixes (LoRA's --lora_targets all); BERT's
    "output.dense" also names the attention output, already a target"""
    token_embeddings: str = "word_embeddings"
    """The token embedding table, as a PEFT name suffix (LoRA's --lora_embeddings)"""
    ffn_block: tuple[str, str] = (r"layer\.\d+\.output$", "residual")
    """Regex of the module that ends each feed-forward block, and how a parallel adapter joins it:
    "residual" (BERT's BertOutput(h, x) adds its input x as the residual before LayerNorm) or
    "output" (DistilBERT's ffn(x), whose output the layer adds to x)"""


_BERT = Arch(
    lora_targets=("query", "key", "value", "attention.output.dense"),
    adapter_after=(r"layer\.\d+\.attention\.output\.dense$", r"layer\.\d+\.output\.dense$"),
    head=("pooler", "classifier"),
)
_ROBERTA = Arch(_BERT.lora_targets, _BERT.adapter_after, head=("classifier",))

ARCHS = {
    "bert": _BERT,
    "electra": Arch(_BERT.lora_targets, _BERT.adapter_after, head=("classifier",)),
    "roberta": _ROBERTA,
    "xlm-roberta": _ROBERTA,
    "camembert": _ROBERTA,
    "distilbert": Arch(
        lora_targets=("q_lin", "k_lin", "v_lin", "out_lin"),
        adapter_after=(r"layer\.\d+\.attention\.out_lin$", r"layer\.\d+\.ffn\.lin2$"),
        head=("pre_classifier", "classifier"),
        final_hidden="transformer",
        norms=("LayerNorm", "sa_layer_norm", "output_layer_norm"),
        ffn_targets=("lin1", "lin2"),
        ffn_block=(r"layer\.\d+\.ffn$", "output"),
    ),
}


class UnsupportedArchitecture(ValueError):
    pass


def arch_of(model) -> Arch:
    kind = getattr(model.config, "model_type", "?")
    if kind not in ARCHS:
        raise UnsupportedArchitecture(
            f"architecture {kind!r} is not supported for LoRA / adapters / the mean head; supported: {', '.join(sorted(ARCHS))}"
        )
    return ARCHS[kind]


def head_name_pattern(model) -> re.Pattern:
    """Matches the names of parameters under the architecture's head modules, PEFT-wrapped or not."""
    return re.compile(r"(?:^|\.)(?:" + "|".join(map(re.escape, arch_of(model).head)) + r")\.")


def head_parameter_names(model) -> list[str]:
    """Names of every parameter in the classification head (BERT's pooler included: it reads [CLS])."""
    prefixes = tuple(h + "." for h in arch_of(model).head)
    names = []
    for name, _ in model.named_parameters():
        stripped = name.split(".", 1)[1] if name.startswith(model.base_model_prefix + ".") else name
        if stripped.startswith(prefixes):
            names.append(name)
    return names
