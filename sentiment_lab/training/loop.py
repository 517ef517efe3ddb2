"""The one training loop shared by the torch methods. It knows nothing of files or Gradio:
it reports dicts to a callback and asks a callable whether to stop."""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from accelerate.utils.memory import clear_device_cache

from sentiment_lab.training.batching import collate, eval_batches, train_batches
from sentiment_lab.training.config import Optimisation
from sentiment_lab.training.cpu_levers import CpuLevers
from sentiment_lab.training.data import Split
from sentiment_lab.training.first_token import first_token_only
from sentiment_lab.training.micro_batches import OutOfMemory, out_of_memory, parts_of
from sentiment_lab.training.param_groups import param_groups
from sentiment_lab.training.state import frozen_sum, restore_weights, snapshot_weights

Report = Callable[[dict], None]


def shares(batches: list[np.ndarray], rank: int, world: int) -> list[np.ndarray]:
    """This process's share of each global batch: every world-th sentence from its rank on, so the processes
    together see every sentence once an epoch and take the same number of steps. A batch smaller than the
    number of processes joins the one before it (the first, the one after), so that no share is empty."""
    if world > 1:
        merged: list[np.ndarray] = []
        for idx in batches:
            if len(idx) < world and merged:
                merged[-1] = np.concatenate([merged[-1], idx])
            else:
                merged.append(idx)
        if len(merged) > 1 and len(merged[0]) < world:
            merged[1] = np.concatenate([merged[0], merged[1]])
            merged = merged[1:]
        batches = merged
    return [idx[rank::world] for idx in batches]


class TokenBatches:
    """Length-grouped batches of token ids; `batch_size` is the global batch, shared among the processes."""

    def __init__(self, split: Split, pad_id: int, batch_size: int, seed: int, rank: int = 0, world: int = 1):
        self.split, self.pad_id, self.batch_size, self.seed = split, pad_id, batch_size, seed
        self.rank, self.world = rank, world
        self.lengths = split.lengths()
        self.labels = torch.as_tensor(split.labels)
        self.eval_idx = eval_batches(self.lengths)

    def __len__(self) -> int:
        return len(self._batches(0))

    def _batches(self, epoch: int) -> list[np.ndarray]:
        return shares(train_batches(self.lengths, self.batch_size, self.seed, epoch), self.rank, self.world)

    def epoch(self, epoch: int) -> Iterator[tuple[dict, torch.Tensor]]:
        for idx in self._batches(epoch):
            yield self._make(idx)

    def eval(self) -> Iterator[tuple[dict, torch.Tensor]]:
        """Every sentence, in every process: each process's evaluation is the whole split's."""
        for idx in self.eval_idx:
            yield self._make(idx)

    @property
    def eval_order(self) -> np.ndarray:
        """Which sentence each position of eval()'s output is (eval() goes by length, not file order)."""
        return np.concatenate(self.eval_idx)

    def _make(self, idx):
        ids, mask = collate(self.split.input_ids, idx, self.pad_id, self.split.pad_left)
        return {"input_ids": ids, "attention_mask": mask}, self.labels[idx]


class FeatureBatches:
    """Batches of precomputed sentence features (frozen backbone), shared among the processes as TokenBatches'."""

    def __init__(
        self, features: np.ndarray, labels: np.ndarray, batch_size: int, seed: int, rank: int = 0, world: int = 1
    ):
        self.x, self.y = torch.as_tensor(features), torch.as_tensor(labels)
        self.batch_size, self.seed, self.rank, self.world = batch_size, seed, rank, world

    def __len__(self) -> int:
        return len(self._batches(0))

    def _batches(self, epoch: int) -> list[np.ndarray]:
        order = torch.randperm(
            len(self.y), generator=torch.Generator().manual_seed(self.seed * 1000003 + epoch)
        ).numpy()
        return shares(
            [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)], self.rank, self.world
        )

    def epoch(self, epoch: int):
        for idx in self._batches(epoch):
            yield {"features": self.x[idx]}, self.y[idx]

    def eval(self):
        for i in range(0, len(self.y), 1024):
            yield {"features": self.x[i : i + 1024]}, self.y[i : i + 1024]


@dataclass
class FitResult:
    best: dict = field(default_factory=dict)
    """Validation metrics of the kept checkpoint"""
    steps: int = 0
    stopped: bool = False
    early_stop: int | None = None
    """The step where evaluations stopped bringing a better checkpoint (`patience` of them in a row)"""
    train_seconds: float = 0.0
    samples: int = 0
    micro_batches: int = 1
    """The parts each batch was last taken in (more than one after the device ran out of memory)"""


def logits_of(model, inputs: dict) -> torch.Tensor:
    out = model(**inputs)
    return out if isinstance(out, torch.Tensor) else out.logits


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, num_labels: int) -> float:
    scores = []
    for c in range(num_labels):
        tp = np.sum((y_pred == c) & (y_true == c))
        denom = np.sum(y_pred == c) + np.sum(y_true == c)
        scores.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(scores))


@torch.inference_mode()
def evaluate(model, batches, accelerator, num_labels: int) -> dict:
    """Loss, accuracy and macro-F1 over every batch; also the predictions and probabilities."""
    was_training = model.training
    model.eval()
    total, losses, preds, probs, labels = 0, 0.0, [], [], []
    with first_token_only(accelerator.unwrap_model(model)):
        for inputs, y in batches.eval():
            inputs = {k: v.to(accelerator.device) for k, v in inputs.items()}
            with accelerator.autocast():
                logits = logits_of(model, inputs).float()
            y = y.to(logits.device)
            losses += F.cross_entropy(logits, y, reduction="sum").item()
            total += len(y)
            p = logits.softmax(-1)
            probs.append(p.cpu())
            preds.append(p.argmax(-1).cpu())
            labels.append(y.cpu())
    model.train(was_training)
    y_true, y_pred, prob = torch.cat(labels).numpy(), torch.cat(preds).numpy(), torch.cat(probs).numpy()
    metrics = {
        "loss": losses / max(total, 1),
        "accuracy": float((y_true == y_pred).mean()),
        "f1": macro_f1(y_true, y_pred, num_labels),
    }
    order = getattr(batches, "eval_order", None)
    if order is not None:  # predictions back in the split's own order
        y_pred[order], prob[order] = y_pred.copy(), prob.copy()
    return {**metrics, "pred": y_pred, "prob": prob}


def _trainable_state(model) -> dict:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def lr_factor(step: int, total: int, warmup_ratio: float) -> float:
    """The rate at `step` as a fraction of the peak: linear warm-up, then linear decay to zero (the Trainer's linear
    schedule)."""
    warmup = int(warmup_ratio * total)
    if step < warmup:
        return (step + 1) / (warmup + 1)
    return max(0.0, min(1.0, (total - step) / max(1, total - warmup)))


def checkpoint_rank(accuracy: float, loss: float) -> tuple[float, float]:
    """How evaluations compete to be the kept checkpoint: accuracy, then loss; the earliest wins a tie."""
    return accuracy, -loss


def mean_over_processes(value, accelerator):
    """A logged number averaged over the processes, each of which saw its share of the batches."""
    if accelerator.num_processes == 1:
        return value
    return accelerator.reduce(torch.as_tensor(value, dtype=torch.float32, device=accelerator.device), "mean")


def stop_everywhere(should_stop: Callable[[], bool], accelerator) -> bool:
    """Whether to stop, agreed by every process: one that stopped alone would leave the others waiting
    in the next step's gradient exchange."""
    if accelerator.num_processes == 1:
        return should_stop()
    flag = torch.tensor(float(should_stop()), device=accelerator.device)
    return bool(accelerator.reduce(flag, "sum") > 0)


def fit(
    model,
    train,
    val,
    settings: Optimisation,
    accelerator,
    num_labels: int,
    report: Report,
    should_stop: Callable[[], bool] = lambda: False,
    progress=None,
    snapshot: Callable[[dict], None] | None = None,
    resume: dict | None = None,
    log: Callable[[str], None] = print,
) -> FitResult:
    """Train `model` on `train`, evaluate on `val` `evals_per_epoch` times an epoch, keep the best.

    The parameters of the best evaluation (by accuracy, then loss) are loaded back at the end.

    Args:
        snapshot: given the whole training state after every evaluation but the last (main process only), to save.
        resume: such a state: the loop goes on from its step as if it had never stopped.
        log: where a line for the run's log goes (the micro-batches taken after running out of memory).
    """
    groups = param_groups(model, settings.weight_decay)
    clipped = [p for g in groups for p in g["params"]]
    # The fused kernel where there is one: faster steps (`python -m bench.levers` measures it).
    fused = accelerator.device.type in ("cpu", "cuda")
    optimizer = torch.optim.AdamW(groups, lr=settings.lr, **({"fused": True} if fused else {"foreach": True}))
    steps_per_epoch = len(train)
    total_steps = max(1, math.ceil(settings.epochs * steps_per_epoch))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, functools.partial(lr_factor, total=total_steps, warmup_ratio=settings.warmup_ratio)
    )
    frozen = frozen_sum(model)  # before prepare, where a resume reads it too
    if resume is not None:  # before prepare: the same tensors every process then wraps
        restore_weights(model, resume)
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
    model, optimizer = accelerator.prepare(model, optimizer)
    levers = CpuLevers(model, accelerator)
    cut = contextlib.ExitStack()  # the last layer's per-token work for the first token only (first_token.py)
    cut.enter_context(first_token_only(accelerator.unwrap_model(model)))
    eval_every = max(1, steps_per_epoch // settings.evals_per_epoch)
    result = FitResult()
    best_key, best_state, since_best = None, None, 0
    step, last_eval, seconds_before = 0, -1, 0.0
    if resume is not None:
        best_key, best_state, result.best = (
            tuple(resume["best_key"]) if resume["best_key"] else None,
            resume["best_state"],
            dict(resume["best"]),
        )
        step, last_eval, result.samples, seconds_before = (
            resume["step"],
            resume["last_eval"],
            resume["samples"],
            resume["train_seconds"],
        )
        since_best = resume["since_best"]
        torch.set_rng_state(resume["rng"])  # dropout goes on as it would have
        if (
            resume.get("cuda_rng") is not None
            and torch.cuda.is_available()
            and len(resume["cuda_rng"]) == torch.cuda.device_count()
        ):
            torch.cuda.set_rng_state_all(resume["cuda_rng"])
        if progress is not None:
            progress.update(step)
    started = time.perf_counter()
    running, running_n = (resume["running"], resume["running_n"]) if resume is not None else (0.0, 0)
    result.micro_batches = (resume or {}).get("micro_batches", 1)
    model.train()

    def forward_backward(inputs: dict, y: torch.Tensor) -> torch.Tensor:
        """One batch's loss (the batch mean) with its gradient, taken in `result.micro_batches` parts whose
        gradients add up to the whole batch's; the processes exchange gradients once, after the last part."""
        if result.micro_batches == 1:
            with accelerator.autocast(), levers.step_context():
                loss = F.cross_entropy(logits_of(model, inputs).float(), y)
            accelerator.backward(loss)
            return loss
        pieces, loss = list(parts_of(inputs, y, result.micro_batches)), 0.0
        for i, (part, part_y) in enumerate(pieces):
            last = i == len(pieces) - 1
            with contextlib.nullcontext() if last else accelerator.no_sync(model):
                with accelerator.autocast(), levers.step_context():
                    part_loss = F.cross_entropy(logits_of(model, part).float(), part_y, reduction="sum") / len(y)
                accelerator.backward(part_loss)
            loss = loss + part_loss.detach()
        return loss

    def more_parts(inputs: dict, y: torch.Tensor) -> None:
        """After the device ran out of memory on a batch: drop its partial gradients and take it again, and
        every batch after it, in twice as many parts: the same step in less memory. One process alone: the
        others would wait for it in their gradient exchange."""
        where = f"out of {accelerator.device.type} memory at step {step + 1}"
        if accelerator.num_processes > 1:
            raise OutOfMemory(
                f"{where} in one of {accelerator.num_processes} processes: lower Max length or Batch size, or "
                "train in one process, which takes each batch in parts when memory runs out"
            )
        if result.micro_batches >= len(y):
            raise OutOfMemory(f"{where} with one sentence at a time: lower Max length")
        optimizer.zero_grad(set_to_none=True)
        levers.after_step(inputs)
        clear_device_cache(garbage_collection=True)
        result.micro_batches = min(len(y), 2 * result.micro_batches)
        log(
            f"out of {accelerator.device.type} memory at step {step + 1}: each batch is now taken in "
            f"{result.micro_batches} parts, one after another (the same steps, in less memory)"
        )

    def take_snapshot() -> None:
        if snapshot is None or not accelerator.is_main_process:
            return
        snapshot(
            {
                "step": step,
                "last_eval": last_eval,
                "model": snapshot_weights(accelerator.unwrap_model(model)),
                "frozen": frozen,
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "best_key": best_key,
                "best_state": best_state,
                "best": result.best,
                "samples": result.samples,
                "train_seconds": seconds_before + time.perf_counter() - started,
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                "running": float(running),
                "running_n": running_n,  # the train loss since it was last logged
                "since_best": since_best,
                "micro_batches": result.micro_batches,
            }
        )

    def do_eval(step: int, epoch: float) -> None:
        nonlocal best_key, best_state, since_best
        m = evaluate(model, val, accelerator, num_labels)
        report(
            {
                "step": step,
                "epoch": round(epoch, 4),
                "eval_loss": m["loss"],
                "eval_accuracy": m["accuracy"],
                "eval_f1": m["f1"],
            }
        )
        key = checkpoint_rank(m["accuracy"], m["loss"])
        since_best += 1
        if best_key is None or key > best_key:
            best_key, best_state, since_best = key, _trainable_state(accelerator.unwrap_model(model)), 0
            result.best = {
                "step": step,
                "epoch": round(epoch, 4),
                "loss": m["loss"],
                "accuracy": m["accuracy"],
                "f1": m["f1"],
                "pred": [int(x) for x in m["pred"]],  # the kept checkpoint's answers, for paired tests
            }

    first_epoch = step // steps_per_epoch
    for epoch in range(first_epoch, math.ceil(settings.epochs)):
        batches = train.epoch(epoch)
        if epoch == first_epoch:  # a resumed run skips the batches it had already trained on
            batches = itertools.islice(batches, step - epoch * steps_per_epoch, None)
        for inputs, y in batches:
            if step >= total_steps:
                break
            if stop_everywhere(should_stop, accelerator):
                result.stopped = True
                break
            inputs = {k: v.to(accelerator.device) for k, v in inputs.items()}
            y = y.to(accelerator.device)
            while True:
                try:
                    loss = forward_backward(inputs, y)
                    break
                except RuntimeError as e:
                    if not out_of_memory(e):
                        raise
                # Outside the except clause: the failed attempt's tensors, which its traceback holds, are free.
                more_parts(inputs, y)
            if settings.max_grad_norm > 0:
                accelerator.clip_grad_norm_(clipped, settings.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            levers.after_step(inputs)
            step += 1
            result.samples += len(y) * accelerator.num_processes  # the global batch, to within one sentence
            # Summed on the device and read only when logged: a read every step would make the CPU wait
            # for the GPU each step instead of queueing the next one.
            running = running + loss.detach()
            running_n += 1
            if progress is not None:
                progress.update(1)
            if step % settings.log_every == 0 or step == total_steps:
                mean_loss = float(mean_over_processes(running, accelerator)) / running_n
                if progress is not None:
                    progress.set_postfix(loss=f"{mean_loss:.4f}", refresh=False)
                report(
                    {
                        "step": step,
                        "epoch": round(step / steps_per_epoch, 4),
                        "loss": mean_loss,
                        "lr": scheduler.get_last_lr()[0],
                        "elapsed": seconds_before + time.perf_counter() - started,
                        "total_steps": total_steps,
                    }
                )
                running, running_n = 0.0, 0
            if step % eval_every == 0 or step == total_steps:
                do_eval(step, step / steps_per_epoch)
                last_eval = step
                if step >= total_steps:
                    break  # done: nothing is left to resume, so no state is written (hundreds of MB for a full model)
                if settings.patience and since_best >= settings.patience:
                    result.early_stop = (
                        step  # the kept checkpoint is patience evaluations old: more steps only cost time
                    )
                    break
                take_snapshot()
        if result.stopped or result.early_stop or step >= total_steps:
            break
    if last_eval != step and step > 0:  # stopped between evaluations: resumed, it goes on from this very step
        take_snapshot()
    levers.close()
    cut.close()
    result.steps = step
    result.train_seconds = seconds_before + time.perf_counter() - started
    unwrapped = accelerator.unwrap_model(model)
    if best_state is not None:
        unwrapped.load_state_dict(best_state, strict=False)
    return result
