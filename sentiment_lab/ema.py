"""An exponential moving average of the trained weights (Polyak averaging). Late in fine-tuning the
weights jitter around a good point with every mini-batch; the average sits nearer its centre."""
from __future__ import annotations

from contextlib import contextmanager

import torch


class WeightAverage:
    """Shadow copies of `params`, moved toward them after each optimizer step.

    The decay ramps up as (1 + t) / (10 + t) so the first steps, far from the fine-tuned weights,
    are forgotten quickly instead of being carried for the whole run. The shadow moves every
    `every` steps by decay**every: a pass over a full MiniLM's 22.7 M weights is memory-bound, and
    even every 4th step it costs full fine-tuning 8% of its speed here (`python -m bench.levers`);
    a window of ~200 steps loses nothing by sampling every 4th (nor by lagging up to 3 steps when read)."""

    def __init__(self, params, decay: float, every: int = 4):
        self.params = [p for p in params if p.requires_grad]
        self.shadow = [p.detach().clone() for p in self.params]
        self.decay, self.every, self.steps = decay, every, 0

    def decay_at(self, step: int) -> float:
        return min(self.decay, (1 + step) / (10 + step)) ** self.every

    @torch.no_grad()
    def update(self) -> None:
        """Call after every optimizer step."""
        self.steps += 1
        if self.steps % self.every == 0:
            torch._foreach_lerp_(self.shadow, [p.detach() for p in self.params], 1.0 - self.decay_at(self.steps))

    def state_dict(self) -> dict:
        return {"shadow": [s.detach().cpu() for s in self.shadow], "steps": self.steps}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        for s, saved in zip(self.shadow, state["shadow"], strict=True):
            s.copy_(saved)
        self.steps = int(state["steps"])

    @contextmanager
    @torch.no_grad()
    def applied(self):
        """Inside the block the model holds the averaged weights; its own come back afterwards."""
        backup = [p.detach().clone() for p in self.params]
        for p, s in zip(self.params, self.shadow):
            p.copy_(s)
        try:
            yield
        finally:
            for p, b in zip(self.params, backup):
                p.copy_(b)
