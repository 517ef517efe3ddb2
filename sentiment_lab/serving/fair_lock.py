"""A lock handed over in the order it was asked for.

The Compare tab's models answer under one lock, taken per batch, so a long job (a 120-word review's
word pulls, a file of reviews) lets a one-review compare in between its batches. Python's own Lock
does not: the long job releases it and takes it back before the waiting thread wakes, so the
compare waited for the whole job instead of one batch.
"""

from __future__ import annotations

import threading


class FairLock:
    """First come, first served; not reentrant (as threading.Lock)."""

    def __init__(self):
        self._turns = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self):
        with self._turns:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._turns.wait()
        return self

    def __exit__(self, *exc) -> None:
        with self._turns:
            self._serving += 1
            self._turns.notify_all()
