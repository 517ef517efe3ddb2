"""Command-line flags generated from RunConfig: field docstrings become --help text (as litgpt does)."""

from __future__ import annotations

import argparse
import ast
import inspect
from dataclasses import MISSING, fields

from sentiment_lab.training.config import METHODS, RunConfig


def field_docs(cls) -> dict[str, str]:
    """The string literal that follows each annotated field in the class body."""
    body = ast.parse(inspect.getsource(cls)).body[0].body
    docs = {}
    for node, nxt in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant):
            docs[node.target.id] = str(nxt.value.value)
    return docs


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One --flag per RunConfig field; values stay strings here and RunConfig.validated() types them."""
    docs = field_docs(RunConfig)
    for f in fields(RunConfig):
        default = f.default if f.default is not MISSING else None
        extra = {"choices": METHODS} if f.name == "method" else {}
        parser.add_argument(f"--{f.name}", default=None, help=f"{docs.get(f.name, '')} (default: {default})", **extra)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    given = {f.name: getattr(args, f.name) for f in fields(RunConfig) if getattr(args, f.name, None) is not None}
    return RunConfig(**given).validated()
