"""The Compare lock goes to whoever asked first: a long job taking it per batch lets a short one in."""

from __future__ import annotations

import threading
import time

from sentiment_lab.serving.fair_lock import FairLock


def test_a_waiting_thread_gets_the_lock_before_its_holder_takes_it_back():
    lock, order = FairLock(), []
    holding, waiting = threading.Event(), threading.Event()

    def long_job():
        for batch in range(3):
            with lock:
                if batch == 0:
                    holding.set()
                    waiting.wait(10)
                    while lock._next_ticket < 2:  # the short job is in line now
                        time.sleep(0.001)
                order.append(f"long {batch}")

    def short_job():
        holding.wait(10)
        waiting.set()
        with lock:
            order.append("short")

    threads = [threading.Thread(target=long_job), threading.Thread(target=short_job)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["long 0", "short", "long 1", "long 2"]  # threading.Lock lets "long 1" take it back first, mostly


def test_many_threads_each_get_their_turn_once():
    lock, inside, seen = FairLock(), [], []

    def work(i):
        with lock:
            inside.append(i)
            assert len(inside) == 1  # never two at once
            seen.append(i)
            inside.pop()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(seen) == list(range(50))
