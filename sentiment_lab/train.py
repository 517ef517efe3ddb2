"""Command line: `python -m sentiment_lab.train --help` trains one run (also what the queue and `accelerate launch`
start)."""

import sys

from sentiment_lab.runs.worker import main

if __name__ == "__main__":
    sys.exit(main())
