"""A run's training state on disk, so a stopped, killed or crashed run can go on where it was.

The loop snapshots after every evaluation but the last (and at a stop): the weights that train, optimizer
and schedule, the kept checkpoint so far, the random state. Resuming from the snapshot of step N continues
exactly as the uninterrupted run would have from step N (data order is a function of seed and epoch). The
file is ours alone: it never travels in run archives or to the Hub, and it goes once the run ends done.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from sentiment_lab.storage import read_json, write_bytes_atomic, write_json_atomic
from sentiment_lab.training.backbone import INITIALISED_HERE

STATE_FILE = "train_state.pt"
STEP_FILE = "train_state.json"  # the saved state's step, for the run list (which never loads torch)
VERSION = 2  # 2: the textbook methods (no weight average, no head-first probe)


class ResumeError(ValueError):
    """A run that cannot go on from where it was, said why."""


def state_path(folder: Path) -> Path:
    return Path(folder) / STATE_FILE


def has_state(folder: Path) -> bool:
    return state_path(folder).is_file()


def save_state(folder: Path, snapshot: dict) -> None:
    """Write atomically: a process killed while writing leaves the previous snapshot whole."""
    import torch  # here, not at the top: the job queue asks has_state() without loading torch

    path = state_path(folder)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as f:  # closed even when the write fails, so a full disk gets its space back
            torch.save({**snapshot, "version": VERSION}, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    write_json_atomic(Path(folder) / STEP_FILE, {"step": snapshot["step"]})


def room_for_next(folder: Path) -> str | None:
    """Why the run's disk may not take its next snapshot, written beside the saved one (None when it has room)."""
    size = state_path(folder).stat().st_size if has_state(folder) else 0
    free = shutil.disk_usage(folder).free
    if size <= free:
        return None
    return (
        f"the disk holding the run has {free / 1e9:.1f} GB free, and its next training state, written beside the "
        f"saved one, takes {size / 1e9:.1f} GB: delete runs you no longer need, or it may fail when it saves"
    )


def saved_step(folder: Path) -> int | None:
    """The step a resume goes on from, or None without a saved state (or one saved before the step was noted)."""
    if not has_state(folder):
        return None
    step = (read_json(Path(folder) / STEP_FILE, {}) or {}).get("step")
    return step if isinstance(step, int) else None


def load_state(folder: Path, settings: dict) -> dict:
    """The saved snapshot, checked against the run's settings (`RunConfig.settings()`).

    weights_only: the file holds tensors and plain values only, and is read without unpickling code.
    """
    path = state_path(folder)
    if not path.is_file():
        raise ResumeError(
            f"run {Path(folder).name} has no saved training state: it ended before its first "
            "evaluation, or it finished; train it again instead"
        )
    import torch

    try:
        snapshot = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise ResumeError(
            f"the saved training state of run {Path(folder).name} cannot be read ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(snapshot, dict) or snapshot.get("version") != VERSION:
        raise ResumeError(
            f"the saved training state of run {Path(folder).name} is from another version of Sentiment Lab"
        )
    saved, now = json.loads(snapshot.get("settings") or "{}"), json.loads(_comparable(settings))
    # Only what this run's settings count today: a setting since found not to be this method's (the
    # pooling of a full run, say) may sit in an older snapshot without making it another run's.
    if {k: saved.get(k) for k in now} != now:
        raise ResumeError(
            f"run {Path(folder).name}'s settings changed since its training state was saved; train it again instead"
        )
    return snapshot


def _comparable(settings: dict) -> str:
    """Settings as one canonical string (a plain value torch.load reads back as it was written)."""
    return json.dumps(settings, sort_keys=True, default=str)


def data_digest(*splits) -> str:
    """A digest of the sentences and labels a run trains and is scored on: its saved state fits those only (a
    file edited since, or split otherwise, is other data)."""
    digest = hashlib.sha256()
    for split in splits:
        for text in split.texts:
            digest.update(text.encode("utf-8", "replace") + b"\0")
        digest.update(np.asarray(split.labels, dtype=np.int64).tobytes() + b"\1")
    return digest.hexdigest()


def check_data(snapshot: dict, digest: str, run: str) -> None:
    """Refuse to go on over data other than the snapshot's (a snapshot from before digests were kept passes)."""
    if snapshot.get("data", digest) != digest:
        raise ResumeError(
            f"run {run}'s data changed since its training state was saved (other train, validation or test "
            "sentences or labels); train it again instead"
        )


def _from_base(weight) -> bool:
    """A frozen weight read from the base model's file, which a resume reads again."""
    return not weight.requires_grad and not getattr(weight, INITIALISED_HERE, False)


def frozen_names(model) -> set[str]:
    """The state_dict keys of the frozen weights read from the base model's file (every name a shared weight
    goes by)."""
    return {n for n, p in model.named_parameters(remove_duplicate=False) if _from_base(p)}


def snapshot_weights(model) -> dict:
    """What a snapshot keeps of the model: the weights that train, the buffers, and frozen weights drawn at
    random when the model was built. The frozen weights of the base model's file a resume loads again: writing
    them at every evaluation would only slow the stop."""
    frozen = frozen_names(model)
    return {k: v for k, v in model.state_dict().items() if k not in frozen}


def frozen_sum(model) -> float:
    """A checksum of the frozen weights from the base model's file, so that a resume knows the file is the one
    the run trained on."""
    chunks = (c for p in model.parameters() if _from_base(p) for c in p.detach().flatten().split(1 << 20))
    return float(sum(c.double().sum() for c in chunks))  # in float64 a million at a time: no copy of a whole matrix


def restore_weights(model, snapshot: dict) -> None:
    """Load a snapshot's weights into the freshly built model: every weight that trains (and the buffers) from
    the snapshot, the frozen ones as the base model has them, checked against the snapshot's checksum."""
    missing, unexpected = model.load_state_dict(snapshot["model"], strict=False)
    if unexpected or set(missing) - frozen_names(model):
        raise ResumeError("the run's saved training state does not fit its model; train it again instead")
    saved = snapshot.get("frozen")
    if saved is not None and not math.isclose(frozen_sum(model), saved, rel_tol=1e-9, abs_tol=1e-6):
        raise ResumeError(
            "the frozen weights of the run's model differ from those it trained on (the model changed since it "
            "stopped); train it again instead"
        )


def snapshot_settings(settings: dict) -> dict:
    """The part of a snapshot that ties it to the run's settings."""
    return {"settings": _comparable(settings)}


def drop_state(folder: Path) -> None:
    state_path(folder).unlink(missing_ok=True)
    (Path(folder) / STEP_FILE).unlink(missing_ok=True)


def trim_metrics(path: Path, step: int, last_eval: int) -> None:
    """Keep the metric rows a snapshot had seen: up to its `step`, evaluations up to its `last_eval` (a
    stopped run's extra evaluation goes), no test rows; the resumed run logs the rest again.
    Rewritten to a new file (new inode), so readers following it see it was replaced."""
    path = Path(path)
    if not path.exists():
        return
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if not isinstance(row, dict) or "test_accuracy" in row:
            continue
        at = row.get("step") or 0
        if at <= step and ("eval_accuracy" not in row or at <= last_eval):
            kept.append(line)

    write_bytes_atomic(path, "".join(f"{line}\n" for line in kept).encode("utf-8"))
