"""How long a fresh public demo takes to answer: `python app.py --demo` on an empty checkpoints folder, then
Compare asked every 2 s until each method answers. Prints seconds from launch to the first answer and to all five.

    .venv/bin/python -m bench.demo_start [--timeout 1800]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from bench.common import ROOT, table, write_json

REVIEW = "A gorgeous, funny and deeply moving film."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    from gradio_client import Client

    port = free_port()
    runs = tempfile.mkdtemp(prefix="demo-start-")
    env = {**os.environ, "SENTIMENT_LAB_CHECKPOINTS": runs, "SENTIMENT_LAB_DEMO": "1"}
    started = time.monotonic()
    app = subprocess.Popen(
        [sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    answered: dict[str, float] = {}
    try:
        client = None
        while time.monotonic() - started < args.timeout and len(answered) < 5:
            time.sleep(2)
            try:
                client = client or Client(f"http://127.0.0.1:{port}/", verbose=False)
                rows = client.predict(REVIEW, api_name="/compare")
            except Exception:  # the server is still starting
                continue
            for r in rows:
                if "error" not in r and r["method"] not in answered:
                    answered[r["method"]] = round(time.monotonic() - started, 1)
                    print(f"{r['method']} answers after {answered[r['method']]} s", flush=True)
    finally:
        os.killpg(app.pid, signal.SIGTERM)
    lines = [[m, s] for m, s in sorted(answered.items(), key=lambda kv: kv[1])]
    print(table(lines, ["method", "seconds from launch to its first answer"]))
    first = min(answered.values(), default=None)
    every = max(answered.values()) if len(answered) == 5 else None
    print(f"headline: first answer after {first} s, all five after {every} s")
    write_json("demo_start", {"answered": answered, "first_s": first, "all_five_s": every})


if __name__ == "__main__":
    main()
