"""A finished run as one zip file, and back: to keep runs off a Space's disk (which forgets them on
restart) or move them between machines, with no Hub needed. An archive is untrusted input on import:
only the files a run writes are taken (JSON, text and safetensors: nothing that unpickles), sizes
are bounded, the config is validated, and the run appears whole or not at all."""

from __future__ import annotations

import json
import secrets
import shutil
import time
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from sentiment_lab.runs.paths import RUN_ID, new_run_id
from sentiment_lab.runs.queue import JobError, JobManager
from sentiment_lab.training.config import ConfigError, RunConfig
from sentiment_lab.training.records import read_status, write_status

RUN_FILES = (
    "config.json",
    "results.json",
    "metrics.jsonl",
    "test_predictions.json",
    "validation_predictions.json",
    "log.txt",
)
ARTEFACT_SUFFIXES = (".json", ".safetensors", ".txt", ".model")  # weights, configs, vocabularies, sentencepiece
# The same files as Hub patterns (push uploads these, pull fetches these); fnmatch's '*' crosses '/',
# so a pull still checks each file with is_run_file.
RUN_PATTERNS = (*RUN_FILES, *(f"artefacts/*{suffix}" for suffix in ARTEFACT_SUFFIXES))
MAX_ARCHIVE_BYTES = 2 * 2**30  # a DistilBERT run is about 0.3 GB
MAX_ENTRIES = 200


class ArchiveError(ValueError):
    """The archive cannot become a run; the message names the file or limit at fault."""


def export_run(jobs: JobManager, run_id: str, out_dir: Path) -> Path:
    """`out_dir/<run_id>.zip` holding the run's own files; weights stored uncompressed (they barely shrink)."""
    folder = jobs.folder(run_id)
    if read_status(folder).get("state") != "done" or not any((folder / "artefacts").glob("*")):
        raise JobError(f"run {run_id} has not finished with saved weights: nothing to export")
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{run_id}.zip"
    partial = target.with_name(f".{target.name}.{secrets.token_hex(3)}")
    with zipfile.ZipFile(partial, "w") as archive:
        files = [folder / name for name in RUN_FILES] + sorted((folder / "artefacts").iterdir())
        for file in files:
            if file.is_file() and is_run_file(file.relative_to(folder).as_posix()):  # what an import takes back
                compress = zipfile.ZIP_STORED if file.suffix == ".safetensors" else zipfile.ZIP_DEFLATED
                archive.write(file, f"{run_id}/{file.relative_to(folder).as_posix()}", compress_type=compress)
    partial.replace(target)
    return target


def _member_path(info: zipfile.ZipInfo, top: str) -> str:
    """The entry's place in a run folder ('config.json', 'artefacts/x.safetensors'), or ArchiveError."""
    parts = PurePosixPath(info.filename).parts
    if parts and parts[0] == top:
        parts = parts[1:]
    path = "/".join(parts)
    if not is_run_file(path) or info.filename.startswith("/") or "\\" in info.filename:
        raise ArchiveError(
            f"{info.filename!r} is not a file a run holds (its config, results, metrics, log, and "
            f"artefacts/*{', *'.join(ARTEFACT_SUFFIXES)}): nothing imported"
        )
    return path


def _entries(archive: zipfile.ZipFile) -> tuple[str, dict[str, zipfile.ZipInfo]]:
    """(the run id the archive was made from, {place in the run folder: entry}), checked."""
    infos = [i for i in archive.infolist() if not i.is_dir()]
    if len(infos) > MAX_ENTRIES:
        raise ArchiveError(f"the archive holds {len(infos)} files; a run has at most {MAX_ENTRIES}")
    if sum(i.file_size for i in infos) > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"the archive unpacks to more than {MAX_ARCHIVE_BYTES / 2**30:.0f} GB")
    tops = {
        PurePosixPath(i.filename).parts[0]
        for i in infos
        if len(PurePosixPath(i.filename).parts) > 1 and PurePosixPath(i.filename).parts[0] != "artefacts"
    }
    top = tops.pop() if len(tops) == 1 else ""
    entries = {_member_path(i, top): i for i in infos}
    for needed in ("config.json", "results.json"):
        if needed not in entries:
            raise ArchiveError(f"the archive has no {needed}: it is not a Sentiment Lab run")
    return top, entries


def import_run(jobs: JobManager, path: str | Path) -> str:
    """Unpack a run archive into a new finished run; return its id (the archive's own, when free)."""
    path = Path(path)
    if not path.is_file():
        raise ArchiveError(f"no archive at {path}")
    if path.stat().st_size > MAX_ARCHIVE_BYTES:
        raise ArchiveError(f"{path.name} is over {MAX_ARCHIVE_BYTES / 2**30:.0f} GB")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise ArchiveError(f"{path.name} is not a zip archive ({e})") from None
    staging = jobs.root / f".importing-{secrets.token_hex(4)}"
    try:
        with archive:
            top, entries = _entries(archive)
            (staging / "artefacts").mkdir(parents=True)
            try:
                for place, info in entries.items():
                    with archive.open(info) as source, open(staging / place, "wb") as target:
                        shutil.copyfileobj(source, target)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:  # a cut-off download, a full disk
                raise ArchiveError(f"{path.name} could not be unpacked: {e}") from None
        return adopt_run(jobs, staging, top, source=top or path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def adopt_run(jobs: JobManager, staging: Path, name: str, source: str) -> str:
    """A folder holding only a run's own files (checked by the caller) becomes a finished run, named
    `name` when that is a free, valid run id: its config validated, a fresh status written (a run's
    status, with its process ids, never comes from outside), then one rename under the queue lock."""
    try:
        cfg = RunConfig.load(staging / "config.json")
        results = json.loads((staging / "results.json").read_text(encoding="utf-8"))
    except (ConfigError, ValueError, TypeError, OSError) as e:
        raise ArchiveError(f"the run's config or results cannot be read: {e}") from None
    if not isinstance(results, dict) or "labels" not in results:
        raise ArchiveError("the run's results.json names no labels: it is not a finished run")
    if not any((staging / "artefacts").glob("*")):
        raise ArchiveError("the run has no artefacts/ (its weights): nothing to compare with")
    now = time.time()
    write_status(staging, "done", submitted=now, finished=now, imported_from=source)
    wanted = name if RUN_ID.fullmatch(name or "") and ".." not in name else new_run_id(cfg.method, cfg.model)
    try:
        return jobs.adopt(staging, wanted, suffix="imported")
    except OSError as e:
        raise ArchiveError(f"the run could not be stored: {e.strerror or e}") from None


def is_run_file(place: str) -> bool:
    """A path inside a run folder that import takes: its own files, and artefacts of safe kinds only."""
    parts = PurePosixPath(place).parts
    return place in RUN_FILES or (
        len(parts) == 2
        and parts[0] == "artefacts"
        and PurePosixPath(parts[1]).suffix in ARTEFACT_SUFFIXES
        and not parts[1].startswith(".")
    )
