"""Command-line flags generated from RunConfig: field docstrings become --help text (as litgpt does)."""

from __future__ import annotations

import argparse
import ast
import inspect
from dataclasses import MISSING

from sentiment_lab.training.config import DEFAULT_LR, METHODS, RunConfig, unread_by


def field_docs(cls) -> dict[str, str]:
    """The string literal that follows each annotated field in the class body."""
    body = ast.parse(inspect.getsource(cls)).body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = str(nxt.value.value)
    return docs


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per setting, by its flat name, grouped by section in --help; values stay strings here and
    RunConfig.validated() types them."""
    groups: dict[str | None, argparse._ArgumentGroup] = {}
    for name, f, owner, section in RunConfig.flat_fields():
        if section not in groups:
            groups[section] = parser.add_argument_group(section or "run")
        default = f.default if f.default is not MISSING else None
        if name == "lr":  # each method has its own, which the flag's help lists
            default = ", ".join(f"{method} {lr:g}" for method, lr in DEFAULT_LR.items())
        extra = {"choices": METHODS, "type": str.lower} if name == "method" else {}  # LoRA as the docs write it
        doc = field_docs(owner).get(f.name, "")
        shown = "unset" if default is None else default
        groups[section].add_argument(f"--{name}", default=None, help=f"{doc} (default: {shown})", **extra)


def given_flags(args: argparse.Namespace) -> dict:
    """The settings given as flags, by flat name."""
    names = [name for name, *_ in RunConfig.flat_fields()]
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def ignored_flags(given: dict, method: str) -> list[str]:
    """What to say of flags given for settings the run's method does not read."""
    unread = unread_by(method)
    ignored = [name for name in given if name in unread]
    if not ignored:
        return []
    return [f"{method} does not read --{', --'.join(ignored)}: ignored"]


def config_from_args(args: argparse.Namespace) -> RunConfig:
    return RunConfig.of(**given_flags(args)).validated()
