"""Who may do what: optional login and the public demo mode's training limits (for Spaces)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sentiment_lab.training.config import ConfigError, Optimisation, RunConfig
from sentiment_lab.training.data import DEFAULT_DATASET

ENV_AUTH = "SENTIMENT_LAB_AUTH"
ENV_DEMO = "SENTIMENT_LAB_DEMO"


@dataclass(frozen=True)
class DemoLimits:
    """Training allowed to anonymous visitors of a public demo; Compare stays open to all."""

    max_epochs: float = 1
    max_train_samples: int = 2000
    max_batch_size: int = 32
    max_length: int = 128
    bundled_model_only: bool = True
    max_active: int = 10
    """Runs queued or running at once, over all visitors"""
    max_per_visitor: int = 5
    """Runs queued or running at once for one visitor (enough for one 'Train all five')"""

    def describe(self) -> str:
        return (
            f"Public demo: training limited to {self.max_epochs:g} epoch, {self.max_train_samples:,} training "
            f"sentences, batch ≤ {self.max_batch_size}, length ≤ {self.max_length}, the bundled model, Rotten Tomatoes "
            "or a file you upload, at most "
            f"{self.max_per_visitor} runs queued or running per visitor and {self.max_active} in all, one training at "
            "a time; you can stop or delete only the runs you started. Compare is open to all."
        )

    def check(self, cfg: RunConfig, busy: int, mine: int = 0, uploads: Path | None = None) -> RunConfig:
        """Refuse what the demo does not allow; cap training samples and length.

        Args:
            busy: runs queued or running for everyone, counting those being submitted now.
            mine: the same for this visitor only.
            uploads: where the app keeps uploaded tables, the one folder of the server a visitor's data may be in.
        """
        if not self.may_read(cfg.data.dataset, uploads):
            raise ConfigError(
                f"demo mode: train on {DEFAULT_DATASET} or a file you upload (no other dataset, nor the server's files)"
            )
        if mine > self.max_per_visitor:
            raise ConfigError(
                f"demo mode: at most {self.max_per_visitor} runs queued or running per visitor; wait for yours to "
                "finish"
            )
        if busy > self.max_active:
            raise ConfigError(f"demo mode: at most {self.max_active} runs queued or running in all; try again later")
        trains = cfg.method in Optimisation.READ_BY  # the SVM fits in one go: it has no epochs or batches
        if trains and cfg.optimisation.epochs > self.max_epochs:
            raise ConfigError(f"demo mode: epochs must be at most {self.max_epochs:g}")
        if trains and cfg.optimisation.batch_size > self.max_batch_size:
            raise ConfigError(f"demo mode: batch_size must be at most {self.max_batch_size}")
        if self.bundled_model_only and cfg.model.lower() != "minilm":
            raise ConfigError("demo mode: only the bundled model 'minilm' can be trained")
        if cfg.data.max_train_samples is None or cfg.data.max_train_samples > self.max_train_samples:
            cfg.data.max_train_samples = self.max_train_samples
        cfg.data.max_length = min(
            cfg.data.max_length, self.max_length
        )  # review sentences are short: a cap costs nothing
        return cfg

    @staticmethod
    def may_read(dataset: str, uploads: Path | None) -> bool:
        """The default Hub dataset, or a table uploaded to this app; never another path on the server."""
        if dataset.strip() == DEFAULT_DATASET:
            return True
        return uploads is not None and Path(dataset).resolve().is_relative_to(uploads.resolve())


def visitor_key(request) -> str | None:
    """An opaque key per visitor: their address (first X-Forwarded-For hop behind the Spaces proxy), hashed."""
    if request is None:
        return None
    headers = getattr(request, "headers", None) or {}
    forwarded = headers.get("x-forwarded-for", "") if hasattr(headers, "get") else ""
    host = forwarded.split(",")[0].strip() or getattr(getattr(request, "client", None), "host", "") or "unknown"
    return hashlib.sha256(host.encode()).hexdigest()[:16]


def demo_limits(flag: bool | None = None) -> DemoLimits | None:
    on = flag if flag is not None else os.environ.get(ENV_DEMO, "").lower() in ("1", "true", "yes")
    return DemoLimits() if on else None


def parse_auth(value: str | None) -> list[tuple[str, str]] | None:
    """`user:password[,user2:password2]` (flag or $SENTIMENT_LAB_AUTH) -> Gradio's auth list."""
    value = value if value is not None else os.environ.get(ENV_AUTH)
    if not value:
        return None
    pairs = []
    for item in value.split(","):
        user, sep, password = item.partition(":")
        if not sep or not user.strip() or not password:
            raise ValueError("auth must be user:password (comma-separated for several users)")
        pairs.append((user.strip(), password))
    return pairs
