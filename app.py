"""Sentiment Lab: `python app.py [--host H] [--port P]` launches the web app."""
from __future__ import annotations

import argparse
import os

from sentiment_lab.ui.app import CSS, build_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Launch the Sentiment Lab web app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT") or os.environ.get("PORT") or 7860))
    parser.add_argument("--max-runs", type=int, default=None, help="runs training at once (default 1, or $SENTIMENT_LAB_MAX_RUNS)")
    args = parser.parse_args()
    app = build_app(max_running=args.max_runs)
    # Compare answers are quick; training happens in other processes, so a few workers suffice.
    app.queue(default_concurrency_limit=4, max_size=64)
    print(f"Sentiment Lab on http://{args.host}:{args.port}", flush=True)
    app.launch(server_name=args.host, server_port=args.port, css=CSS, show_error=True)


if __name__ == "__main__":
    main()
