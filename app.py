"""Sentiment Lab: `python app.py [--host H] [--port P]` launches the web app."""

from __future__ import annotations

import argparse
import os

from sentiment_lab.runs.launch import check_environment
from sentiment_lab.runs.queue import run_slots
from sentiment_lab.training.config import ConfigError
from sentiment_lab.ui.access import demo_limits, parse_auth
from sentiment_lab.ui.listen import asked_port, listen_port


def main() -> None:
    parser = argparse.ArgumentParser(description="Launch the Sentiment Lab web app.")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument(
        "--port",
        type=int,
        default=None,
        help="default: $GRADIO_SERVER_PORT or $PORT, else 7860 or the next free port after it",
    )
    parser.add_argument(
        "--max-runs", type=int, default=None, help="runs training at once (default 1, or $SENTIMENT_LAB_MAX_RUNS)"
    )
    parser.add_argument(
        "--auth", default=None, help="user:password[,user:password] required to use the app (or $SENTIMENT_LAB_AUTH)"
    )
    parser.add_argument(
        "--demo", action="store_true", default=None, help="public demo limits on training (or $SENTIMENT_LAB_DEMO=1)"
    )
    args = parser.parse_args()
    try:
        auth = parse_auth(args.auth)
    except ValueError as e:
        parser.error(str(e))
    demo = demo_limits(args.demo)
    try:
        run_slots(args.max_runs)
        check_environment()
        port, moved = listen_port(args.host, asked_port(args.port, os.environ))
    except (ConfigError, ValueError) as e:
        parser.error(str(e))
    if moved:
        print(moved, flush=True)
    # Gradio and torch load only once the settings are good, so a bad one is refused in a moment.
    from sentiment_lab.ui.app import CSS, build_app
    from sentiment_lab.ui.demo_start import start_demo

    try:
        app = build_app(max_running=args.max_runs, demo=demo)
    except ConfigError as e:
        parser.error(str(e))
    if demo:
        started = start_demo(app.services)
        if started:
            print(f"demo: {len(started)} runs to start from: {', '.join(started)}", flush=True)
    # Compare answers are quick; training happens in other processes, so a few workers suffice.
    app.queue(default_concurrency_limit=4, max_size=64)
    print(f"Sentiment Lab on http://{args.host}:{port}", flush=True)
    app.launch(server_name=args.host, server_port=port, css=CSS, auth=auth, show_error=False)


if __name__ == "__main__":
    main()
