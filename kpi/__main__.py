"""Entry point of `python -m kpi`."""

import sys

from kpi.cli import main

if __name__ == "__main__":
    sys.exit(main())
