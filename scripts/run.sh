#!/usr/bin/env bash
# The main command: set up .venv, then train a default run offline on the bundled model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m sentiment_lab.train --method full --model minilm --epochs 1 "$@"
