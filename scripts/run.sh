#!/usr/bin/env bash
# The main command: set up .venv, then launch the web app (offline-ready) and print its address.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python app.py "$@"
