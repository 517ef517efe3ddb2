"""One run from config to run folder: data, method, training loop, test evaluation, artefacts."""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

from sentiment_lab.storage import atomic_dir, write_json_atomic
from sentiment_lab.training import methods
from sentiment_lab.training.backbone import (
    ModelLoadError,
    fixed_length_fault,
    length_cut,
    load_config,
    load_encoder,
    load_tokenizer,
    token_limit,
)
from sentiment_lab.training.batching import tokenize
from sentiment_lab.training.config import ConfigError, Features, RunConfig, rate_warning
from sentiment_lab.training.data import DatasetError, eval_cut_warning, load_dataset, subsample
from sentiment_lab.training.device import make_accelerator, seed_everything
from sentiment_lab.training.encoder_parts import UnsupportedArchitecture
from sentiment_lab.training.failures import bf16_fault, failure_message
from sentiment_lab.training.features import check_feature_memory, cls_state_fault, encode
from sentiment_lab.training.loop import FeatureBatches, TokenBatches, evaluate, fit, macro_f1
from sentiment_lab.training.metrics import MetricsWriter
from sentiment_lab.training.micro_batches import OutOfMemory
from sentiment_lab.training.own_head import head_warning
from sentiment_lab.training.records import read_status, write_status
from sentiment_lab.training.sentence_cuts import cut_warning
from sentiment_lab.training.state import (
    ResumeError,
    check_data,
    data_digest,
    drop_state,
    load_state,
    save_state,
    snapshot_settings,
    trim_metrics,
)

USER_ERRORS = (ConfigError, DatasetError, ModelLoadError, OutOfMemory, ResumeError, UnsupportedArchitecture)


FEW_TO_LEARN = 200  # training sentences under which a run at chance most likely saw too few, whatever its rate


def did_not_learn(accuracy: float | None, labels: np.ndarray, lr: float, trained_on: int | None = None) -> str | None:
    """A warning when the best validation accuracy is no better than always answering the commonest
    class: such a run ends at chance without any error (LoRA at 4e-3 on MiniLM does, docs/experiments.md).
    Its advice: more sentences when it trained on few, else a smaller learning rate."""
    if accuracy is None or len(labels) == 0:
        return None
    majority = np.bincount(np.asarray(labels)).max() / len(labels)
    if accuracy > majority + 0.01:
        return None
    advice = (
        f"it trained on only {trained_on} sentences: give it more (max_train_samples), or try a smaller "
        f"learning rate than {lr:g}"
        if trained_on is not None and trained_on < FEW_TO_LEARN
        else f"try a smaller learning rate than {lr:g}"
    )
    return (
        f"warning: the model did not learn: best validation accuracy {accuracy:.3f} is no better than always "
        f"answering the commonest class ({majority:.3f}); {advice}"
    )


def stop_message(step: int, total: int) -> str:
    """What a stop left behind, for the run's status."""
    if step == 0:
        return "stopped by the user before the first training step: nothing to resume"
    return (
        f"stopped by the user at step {step} of {total}; its training state is saved there, "
        f"and Resume goes on from step {step}"
    )


class Runner:
    """Trains one run into `folder`; only the main process writes files."""

    def __init__(
        self,
        cfg: RunConfig,
        folder: Path,
        should_stop=lambda: False,
        report=None,
        progress: bool = True,
        resume: bool = False,
    ):
        """Args:
        resume: go on from the run folder's saved training state (train_state.py) instead of from the start.
        """
        self.cfg, self.folder, self.should_stop = cfg, Path(folder), should_stop
        self.extra_report = report
        self.show_progress = progress
        self.resume = resume
        self.resumed = None  # the snapshot resumed from
        self.data = None  # the digest of the sentences it trains and is scored on, kept in its snapshots
        self.fp32 = False  # trains without mixed precision, whatever cfg.bf16 chose: the model failed under bf16

    def log(self, msg: str) -> None:
        if self.main:
            print(msg, flush=True)

    def run(self) -> int:
        self.main = int(os.environ.get("RANK", "0")) == 0
        if self.main:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.cfg.save(self.folder / "config.json")
            write_status(self.folder, "running", pid=os.getpid(), pgid=os.getpgid(0), error=None, phase=None)
        try:
            if self.resume:
                self._load_snapshot()
        except ResumeError as e:
            return self._fail(str(e))
        # The run's clock: from here (data loading, features and evaluations included), plus the stretches
        # before the saved state a resumed run goes on from.
        began, before = time.perf_counter(), (self.resumed or {}).get("clock", 0.0)
        self.clock = lambda: before + time.perf_counter() - began
        self.metrics = self._metrics_writer(also=self._wandb_hook())
        try:
            results = self._train_in_any_precision()
        except USER_ERRORS as e:
            return self._fail(str(e))
        except Exception as e:  # the full trace goes to log.txt; status gets the short text
            traceback.print_exc()
            return self._fail(failure_message(e, self.folder, self.cfg.bf16))
        finally:
            if self.main:
                self.metrics.close()
        if results["stopped"]:
            message = stop_message(results["steps"], results["total_steps"])
            if self.main:
                write_status(self.folder, "stopped", error=message, phase=None)
            self.log(f"stopped: {message}")
            return 0
        if self.main:
            write_status(self.folder, "done", error=None, phase=None)
        test = results["test"]
        self.log(
            f"done: {self.cfg.method} on {self.cfg.model}: test accuracy {test['accuracy']:.4f}, "
            f"macro-F1 {test['f1']:.4f}, train {results['train_seconds']:.1f}s -> {self.folder}"
        )
        return 0

    def _metrics_writer(self, also=None):
        if not self.main:
            return lambda row: None
        return MetricsWriter(self.folder / "metrics.jsonl", also=also, clock=self.clock)

    def _train_in_any_precision(self) -> dict:
        """Train; where bf16 was our choice (`auto`) and the model fails under bf16 autocast, train it again in
        fp32, from where this attempt began."""
        try:
            return self._train()
        except RuntimeError as e:
            if not bf16_fault(e) or self.cfg.bf16 != "auto" or self.fp32:
                raise
            fault = str(e).splitlines()[0][:160]
        self.log(f"note: this model fails under bf16 mixed precision ({fault}): training it in fp32")
        self.fp32 = True
        from accelerate.state import AcceleratorState

        AcceleratorState._reset_state()  # accelerate keeps one precision a process; the processes stay as they are
        if self.main:  # the failed attempt's rows go
            also = self.metrics.also
            self.metrics.close()
            path = self.folder / "metrics.jsonl"
            if self.resumed:
                trim_metrics(path, self.resumed["step"], self.resumed["last_eval"])
            else:
                path.unlink(missing_ok=True)
            self.metrics = self._metrics_writer(also)
        return self._train()

    def _load_snapshot(self) -> None:
        self.resumed = load_state(self.folder, self.cfg.settings())
        if self.main:  # rows logged after the snapshot come again; the stopped run's test score is no longer this run's
            trim_metrics(self.folder / "metrics.jsonl", self.resumed["step"], self.resumed["last_eval"])
            (self.folder / "results.json").unlink(missing_ok=True)
        self.log(f"resuming from step {self.resumed['step']} (the training state saved there)")

    def _snapshot(self, state: dict, started: float) -> None:
        before = (self.resumed or {}).get("run_seconds", 0.0)
        try:
            save_state(
                self.folder,
                {
                    **state,
                    **snapshot_settings(self.cfg.settings()),
                    "data": self.data,
                    "run_seconds": before + time.perf_counter() - started,
                    "clock": self.clock(),
                },
            )
        except (OSError, RuntimeError) as e:  # a full disk, say: the state is a spare, the run goes on without it
            free = shutil.disk_usage(self.folder).free / 1e6  # torch's writer does not say when the disk is full
            self.log(
                f"note: training state at step {state['step']} not saved ({e}; {free:.0f} MB free on its disk); a "
                "resume starts from the last state saved, if any"
            )

    def _fail(self, message: str) -> int:
        """The run failed: say why in its log and status. In a multi-process run any process may fail first
        (out of memory in its share, say); its words stay, not those of the others, which then fail too as
        their gradient exchange loses it."""
        first = read_status(self.folder).get("state") != "failed"
        if self.main or first:  # the others' failures that follow it would only repeat it in the log
            print(f"error: {message}", flush=True)
        if first and (self.main or int(os.environ.get("WORLD_SIZE", "1")) > 1):
            write_status(self.folder, "failed", error=message)
        return 1

    def _wandb_hook(self):
        if not self.cfg.project:
            return None
        try:
            import wandb

            if not wandb.api.api_key:
                raise RuntimeError("not logged in")
            wandb.init(project=self.cfg.project, name=self.folder.name, config=self.cfg.to_dict())
            return lambda row: wandb.log({k: v for k, v in row.items() if k not in ("time",)})
        except Exception as e:  # W&B is optional: say so once, train on
            print(f"note: W&B logging off for project {self.cfg.project!r} ({type(e).__name__}: {e})", flush=True)
            return None

    def _train(self) -> dict:
        cfg = self.cfg
        seed_everything(cfg.seed)
        ds = load_dataset(cfg.data.dataset, cfg.data.text_column, cfg.data.label_column, cfg.seed)
        for note in ds.notes:
            self.log(f"note: {note}")
        said = ds.warnings + eval_cut_warning(ds, cfg.data.max_eval_samples) + rate_warning(cfg)
        for warning in said:  # in the log too, whichever way the run was started
            self.log(f"warning: {warning}")
        tokenizer = load_tokenizer(cfg.model)
        if cfg.method in Features.READ_BY and cfg.features.pooling == "cls":  # a run started without the queue's check
            if fault := cls_state_fault(tokenizer, cfg.model):
                raise ConfigError(fault)
        train = subsample(ds.splits["train"], cfg.data.max_train_samples, cfg.seed)
        val = subsample(ds.splits["validation"], cfg.data.max_eval_samples, cfg.seed)
        test = subsample(ds.splits["test"], cfg.data.max_eval_samples, cfg.seed)
        self.data = data_digest(train, val, test)
        if self.resumed:
            check_data(self.resumed, self.data, self.folder.name)
        model_config = load_config(cfg.model)
        if fault := fixed_length_fault(model_config, cfg.model):  # a run started without the queue's check
            raise ConfigError(fault)
        limit = token_limit(tokenizer, model_config)
        length, cut = length_cut(cfg.data.max_length, cfg.model, limit)
        if cut:
            self.log(f"note: {cut}")
        for warning in cut_warning(cfg, ds, tokenizer, length) + head_warning(cfg, ds, model_config):
            self.log(f"warning: {warning}")
        for split in (train, val, test):  # only what the run uses
            tokenize(split, tokenizer, length)
        self.log(
            f"data: {ds.source}: train {len(train)}, validation {len(val)}, test {len(test)}; labels {ds.label_names}"
        )
        accelerator = make_accelerator(cfg, fp32=self.fp32)
        method = methods.get(cfg.method)
        started = time.perf_counter()
        # A method that fits in closed form (the SVM) needs no loop, no steps and nothing to resume.
        train_run = self._train_closed_form if hasattr(method, "fit") else self._train_loop
        out = train_run(method, tokenizer, ds, train, val, test, accelerator)
        if out["stopped"]:  # no test score and no model: the run is not over, its training state is what it keeps
            return out
        out["train_seconds"] = out.get("train_seconds") or time.perf_counter() - started
        out.update(
            method=cfg.method,
            model=cfg.model,
            dataset=ds.source,
            labels=ds.label_names,
            samples_per_second=out["samples"] / max(out["train_seconds"], 1e-9),
            total_seconds=time.perf_counter() - started,
            device=str(accelerator.device),
            mixed_precision=accelerator.mixed_precision,
            processes=accelerator.num_processes,  # batch_size is the global batch, shared among them
            test_sentences=len(test),  # fewer than the split's own with max_eval_samples: scores apart from others
            test_split=len(ds.splits["test"]),
            carved=ds.carved,  # held-out splits taken from train: their scores are not the data's own split's
        )
        if self.main:
            write_json_atomic(self.folder / "results.json", out)
        return out

    def _phase(self, name: str | None, **counts) -> None:
        """Say in status.json what a run does before its first step (the runs table shows it), so minutes of
        feature extraction do not read as a stalled run; `counts`: done, total, since (when it began)."""
        if self.main:
            write_status(self.folder, "running", phase={"name": name, **counts} if name else None)

    def _features(self, tokenizer, splits, accelerator) -> list[np.ndarray]:
        encoder = load_encoder(self.cfg.model)
        total = sum(len(s) for s in splits)
        check_feature_memory(total, encoder.config.hidden_size)
        encoder = encoder.to(accelerator.device)
        autocast = accelerator.mixed_precision == "bf16"
        said, before, since = [0.0], 0, time.time()

        def progress(done: int) -> None:  # at most a status write a second
            if time.monotonic() - said[0] >= 1.0:
                said[0] = time.monotonic()
                self._phase("features", done=before + done, total=total, since=since)

        feats = []
        for s in splits:
            feats.append(
                encode(
                    encoder,
                    s,
                    tokenizer.pad_token_id,
                    self.cfg.features.pooling,
                    accelerator.device,
                    autocast,
                    progress,
                )  # fmt: skip
            )
            before += len(s)
        self._phase(None)
        return encoder, feats

    def _train_closed_form(self, method, tokenizer, ds, train, val, test, accelerator) -> dict:
        started = time.perf_counter()
        encoder, (tx, vx, sx) = self._features(tokenizer, (train, val, test), accelerator)
        self._phase("fit")
        model = method.fit(method.build(self.cfg, ds.id2label, tx.shape[1]), tx, train.labels, vx, val.labels, self.cfg)
        seconds = time.perf_counter() - started
        scores = {}
        for name, x, split in (("validation", vx, val), ("test", sx, test)):
            p = method.logits(model, None, None, torch.from_numpy(x)).float().softmax(-1).numpy()
            pred = p.argmax(1)
            self._save_predictions(name, pred, split.labels)
            loss = float(-np.log(p[np.arange(len(pred)), split.labels] + 1e-12).mean())
            scores[name] = {
                "accuracy": float((pred == split.labels).mean()),
                "f1": macro_f1(split.labels, pred, len(ds.label_names)),
                "loss": loss,
            }
        self.metrics(
            {
                "step": 1,
                "epoch": 1.0,
                "eval_loss": scores["validation"]["loss"],
                "eval_accuracy": scores["validation"]["accuracy"],
                "eval_f1": scores["validation"]["f1"],
                **model.chosen,  # what the fit chose on validation (the SVM's C)
            }
        )
        self._save(method, model, tokenizer, ds.id2label)
        trainable = sum(p.numel() for p in method.trainable_parameters(model).values())
        return {
            "validation": scores["validation"],
            "test": scores["test"],
            "trainable_parameters": int(trainable),
            "total_parameters": int(trainable + sum(p.numel() for p in encoder.parameters())),
            "train_seconds": seconds,
            "samples": len(train),
            "steps": 1,
            "stopped": False,
        }

    def _train_loop(self, method, tokenizer, ds, train, val, test, accelerator) -> dict:
        cfg, num_labels = self.cfg, len(ds.label_names)
        settings = dataclasses.replace(cfg.optimisation, lr=cfg.learning_rate)  # the method's default when unset
        rank, world = accelerator.process_index, accelerator.num_processes
        started = time.perf_counter()
        if method.INPUT == "features":
            encoder, (tx, vx, sx) = self._features(tokenizer, (train, val, test), accelerator)
            model = method.build(cfg, ds.id2label, tx.shape[1])
            batches = [
                FeatureBatches(x, s.labels, cfg.optimisation.batch_size, cfg.seed, rank, world)
                for x, s in ((tx, train), (vx, val), (sx, test))
            ]
            encoder_params = sum(p.numel() for p in encoder.parameters())
        else:
            batches = [
                TokenBatches(s, tokenizer.pad_token_id, cfg.optimisation.batch_size, cfg.seed, rank, world)
                for s in (train, val, test)
            ]
            model = method.build(cfg, ds.id2label, None)
            encoder_params = 0
        trainable = sum(p.numel() for p in method.trainable_parameters(model).values())
        total = sum(p.numel() for p in model.parameters())
        self.log(
            f"{cfg.method}: {trainable:,} trainable of {total + encoder_params:,} parameters; lr "
            f"{cfg.learning_rate:g}; "
            f"device {accelerator.device}, mixed precision {accelerator.mixed_precision}"
        )
        progress = None
        if self.main and self.show_progress:
            from tqdm.auto import tqdm

            progress = tqdm(
                total=max(1, int(np.ceil(cfg.optimisation.epochs * len(batches[0])))),
                desc=cfg.method,
                unit="step",
                file=sys.stderr,
                mininterval=1.0,
            )
        snapshot = functools.partial(self._snapshot, started=started) if self.main else None
        result = fit(
            model,
            batches[0],
            batches[1],
            settings,
            accelerator,
            num_labels,
            self._report,
            self.should_stop,
            progress,
            snapshot=snapshot,
            resume=self.resumed,
            log=self.log,
        )
        if progress is not None:
            progress.close()
        if result.early_stop:
            self.log(
                f"early stop at step {result.early_stop}: {cfg.optimisation.patience} evaluation(s) in a row "
                f"without a better checkpoint (kept: step {result.best.get('step')})"
            )
        if result.stopped:
            return {
                "stopped": True,
                "steps": result.steps,
                "total_steps": int(np.ceil(cfg.optimisation.epochs * len(batches[0]))),
            }
        warning = did_not_learn(result.best.get("accuracy"), val.labels, cfg.learning_rate, len(train))
        if warning:
            self.log(warning)
        model = accelerator.unwrap_model(model)
        test_m = evaluate(model, batches[2], accelerator, num_labels)
        if "pred" in result.best:  # a state saved before the kept answers were kept lacks them
            self._save_predictions("validation", result.best["pred"], val.labels)
        self._save_predictions("test", test_m["pred"], test.labels)
        self.metrics(
            {
                "step": result.steps,
                "epoch": round(result.steps / max(1, len(batches[0])), 4),
                "test_loss": test_m["loss"],
                "test_accuracy": test_m["accuracy"],
                "test_f1": test_m["f1"],
            }
        )
        if self.main and result.steps > 0:
            self._save(method, model, tokenizer, ds.id2label)
        if self.main:  # done: nothing left to resume, and a full model's state is hundreds of MB
            drop_state(self.folder)
        return {
            "validation": {k: result.best.get(k) for k in ("accuracy", "f1", "loss")},
            "best_step": result.best.get("step"),
            "test": {k: test_m[k] for k in ("accuracy", "f1", "loss")},
            "trainable_parameters": trainable,
            "total_parameters": total + encoder_params,
            "train_seconds": (self.resumed or {}).get("run_seconds", 0.0) + time.perf_counter() - started,
            "samples": result.samples,
            "steps": result.steps,
            "micro_batches": result.micro_batches,
            "stopped": False,
            "early_stop": result.early_stop,
            "lr": cfg.learning_rate,
            "warning": warning,
        }

    def _save_predictions(self, split: str, pred, labels) -> None:
        """A split's predictions (validation: the kept checkpoint's) and labels in the split's order, for paired
        tests between runs."""
        if self.main:
            write_json_atomic(
                self.folder / f"{split}_predictions.json",
                {"pred": [int(x) for x in pred], "label": [int(x) for x in labels]},
            )

    def _report(self, row: dict) -> None:
        self.metrics(row)
        if self.extra_report:
            self.extra_report(row)

    def _save(self, method, model, tokenizer, id2label) -> None:
        """Artefacts go to a temporary folder renamed into place, so a half-saved model never looks complete."""
        with atomic_dir(self.folder / "artefacts") as tmp:
            method.save(model, tmp, self.cfg, tokenizer, id2label)
