"""Where the parts of any transformers encoder classifier are, read from its modules rather than a table
of names, so that LoRA, adapters and the frozen methods work on families never named here.

An encoder layer is an element of the longest `nn.ModuleList` of the base model whose elements hold an
attention block: a submodule named *attention* or *attn* that holds `nn.Linear` layers. The head is what
the classifier adds around the base model, and a pooler inside it: a child with a linear layer registered
after the one that holds the layers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

ATTENTION = re.compile(r"attention|attn", re.IGNORECASE)


class UnsupportedArchitecture(ValueError):
    """A model whose structure a method cannot find its place in; the message says what is missing."""


@dataclass(frozen=True)
class Layout:
    layers: str
    """Qualified name of the ModuleList of encoder layers"""
    attention: tuple[str, ...]
    """Every linear layer of the attention block, relative to a layer"""
    linears: tuple[str, ...]
    """Every linear layer of a layer, relative to it"""
    attention_output: str
    """The attention block's output projection (its last linear layer back to the hidden size)"""
    ffn_output: str
    """The feed-forward block's output projection (the layer's last linear layer back to the hidden size)"""
    norms: tuple[str, ...]
    """Every layer's normalisation modules, qualified (ModernBERT's first layer has none before its attention)"""
    count: int
    """How many layers the list holds"""

    def names(self, relative: tuple[str, ...] | str) -> list[str]:
        """Qualified names of `relative` in every layer."""
        relative = (relative,) if isinstance(relative, str) else relative
        return [f"{self.layers}.{i}.{r}" for i in range(self.count) for r in relative]

    def pattern(self, relative: tuple[str, ...]) -> str:
        """A regular expression (PEFT's target_modules form) that matches exactly `relative` in every layer."""
        return re.escape(self.layers) + r"\.\d+\.(?:" + "|".join(map(re.escape, relative)) + ")"


def _linears(module: nn.Module) -> list[tuple[str, nn.Linear]]:
    return [(n, m) for n, m in module.named_modules() if isinstance(m, nn.Linear)]


def _attention_block(layer: nn.Module) -> str | None:
    """The outermost submodule named like attention that holds a linear layer."""
    for name, module in layer.named_modules():
        if name and ATTENTION.search(name.rsplit(".", 1)[-1]) and _linears(module):
            return name
    return None


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, nn.LayerNorm) or type(module).__name__.endswith(("LayerNorm", "RMSNorm"))


def layout(model: nn.Module) -> Layout:
    """The encoder layers of `model` (a bare encoder or a classifier around one), or UnsupportedArchitecture."""
    base = getattr(model, "base_model", model)
    prefix = _prefix(model, base)
    hidden = model.config.hidden_size
    lists = [
        (n, m)
        for n, m in base.named_modules()
        if isinstance(m, nn.ModuleList) and len(m) and all(_attention_block(layer) is not None for layer in m)
    ]
    kind = getattr(model.config, "model_type", "?")
    if not lists:
        raise UnsupportedArchitecture(
            f"no encoder layer of this {kind!r} model has an attention block of linear layers (nn.Linear) for "
            "LoRA and the adapters to wrap"
        )
    longest = max(len(m) for _, m in lists)
    name, layers = [(n, m) for n, m in lists if len(m) == longest][-1]  # the innermost of equals (ALBERT's groups)
    layer = layers[0]
    block = _attention_block(layer)
    attention = [(n, m) for n, m in _linears(layer) if n.startswith(block + ".")]
    outside = [(n, m) for n, m in _linears(layer) if not n.startswith(block + ".")]
    to_hidden = [n for n, m in attention if m.out_features == hidden]
    ffn = [n for n, m in outside if m.out_features == hidden]
    if not to_hidden or not ffn:
        raise UnsupportedArchitecture(
            f"the {kind!r} layers have no attention or feed-forward output projection back to the hidden size {hidden}"
        )
    return Layout(
        layers=prefix + name,
        attention=tuple(n for n, _ in attention),
        linears=tuple(n for n, _ in _linears(layer)),
        attention_output=to_hidden[-1],
        ffn_output=ffn[-1],
        norms=tuple(
            f"{prefix}{name}.{i}.{n}"
            for i, one in enumerate(layers)
            for n, m in one.named_modules()
            if n and _is_norm(m)
        ),
        count=len(layers),
    )


def _prefix(model: nn.Module, base: nn.Module) -> str:
    """The qualified name of the base model inside `model` plus a dot ('' for a bare encoder)."""
    if base is model:
        return ""
    for name, module in model.named_modules():
        if module is base:
            return name + "."
    return ""


def head_modules(model: nn.Module) -> list[str]:
    """Qualified names of the classification head's modules with weights: the classifier's own modules beside
    the base model, and a pooler inside it (BERT's, ALBERT's) that reads the last layer."""
    base = model.base_model
    prefix = _prefix(model, base)
    lay = layout(model)
    names = [n for n, m in model.named_children() if m is not base and any(True for _ in m.parameters())]
    after_layers = False
    for n, m in base.named_children():
        if after_layers and _linears(m):
            names.append(prefix + n)
        after_layers = after_layers or prefix + n == lay.layers or lay.layers.startswith(prefix + n + ".")
    if not names:
        raise UnsupportedArchitecture(f"no classification head found in this {model.config.model_type!r} model")
    return names


def head_parameters(model: nn.Module) -> list[str]:
    """Names of every parameter of the head."""
    heads = tuple(h + "." for h in head_modules(model))
    return [n for n, _ in model.named_parameters() if n.startswith(heads)]
