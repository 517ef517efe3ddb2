"""Where runs live and how they are named: nothing from a user reaches the file system unchecked."""

from __future__ import annotations

import os
import re
import secrets
import time
from pathlib import Path

from sentiment_lab import REPO

ENV_ROOT = "SENTIMENT_LAB_CHECKPOINTS"
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,119}$")
MAX_NAME = 48


class RunIdError(ValueError):
    pass


def checkpoints_root() -> Path:
    """`checkpoints/` at the project root, or $SENTIMENT_LAB_CHECKPOINTS."""
    root = os.environ.get(ENV_ROOT) or REPO / "checkpoints"
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    return root


def slug(text: str, limit: int = 24) -> str:
    """Lower-case letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-")


def check_run_name(name: str | None) -> str | None:
    """A user's run name: refused (not silently changed) if it could name a path."""
    if name is None or not name.strip():
        return None
    name = name.strip()
    if "\x00" in name:
        raise RunIdError("run name must not contain a NUL character")
    if len(name) > MAX_NAME:
        raise RunIdError(f"run name is {len(name)} characters; at most {MAX_NAME}")
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]*", name) or ".." in name:
        raise RunIdError(
            "run name may hold only letters, digits, spaces, '.', '_' and '-', must start with a letter or digit, "
            "and must not contain '..'"
        )
    return name


def new_run_id(method: str, model: str, name: str | None = None) -> str:
    """Readable and unique: [name-]method-model-YYYYmmdd-HHMMSS-xxxx."""
    model_part = slug(model.rstrip("/").split("/")[-1]) or "model"
    parts = [slug(name, 40)] if check_run_name(name) else []
    parts += [slug(method, 12), model_part, time.strftime("%Y%m%d-%H%M%S"), secrets.token_hex(2)]
    return "-".join(p for p in parts if p)


def run_dir(run_id: str, root: Path | None = None) -> Path:
    """The folder of an existing or new run; refuses any id that is not a plain folder name."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise RunIdError(f"invalid run id {str(run_id)[:60]!r}")
    return (root or checkpoints_root()) / run_id
