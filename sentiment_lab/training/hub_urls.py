"""A Hub page's address pasted where an id is asked for (`https://huggingface.co/google-bert/bert-base-uncased`,
a dataset viewer's `.../datasets/nyu-mll/glue/viewer/sst2/train`) read as the id it shows."""

from __future__ import annotations

import re
from pathlib import Path

HOSTS = re.compile(r"^(?:https?://)?(?:www\.)?(?:huggingface\.co|hf\.co)/", re.IGNORECASE)
PAGES = {"tree", "blob", "resolve", "raw", "commits", "commit", "discussions", "viewer", "edit", "files"}


def hub_id(text: str, kind: str) -> str:
    """The id of a model's (`kind` "model") or a dataset's ("dataset") Hub address; anything else unchanged.
    A dataset viewer's address keeps the config it shows, after a colon."""
    text = text.strip()
    host = HOSTS.match(text)
    if not host or Path(text).expanduser().exists():  # a local folder may be named like the host
        return text
    parts = [p for p in re.split(r"[?#]", text[host.end() :])[0].split("/") if p]
    if kind == "dataset":
        if parts[:1] != ["datasets"]:
            return text
        parts = parts[1:]
    elif parts[:1] in (["datasets"], ["spaces"]):
        return text  # another kind of page: loading it as a model says what it is
    name = parts[:1] if len(parts) < 2 or parts[1] in PAGES else parts[:2]
    if not name:
        return text
    rest = parts[len(name) :]
    config = rest[1] if kind == "dataset" and rest[:1] == ["viewer"] and len(rest) > 1 else None
    return "/".join(name) + (f":{config}" if config and config != "default" else "")
