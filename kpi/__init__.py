"""Parasat: KPI returns, validation and computation for Type Basic Direction No. 4 (anti-corruption)."""

import os

__version__ = "0.1.0"

# openpyxl's lxml writer escapes every Cyrillic letter as &#NNNN; (7 bytes); its own writer emits UTF-8,
# making the workbooks Parasat writes a third of the size and cheaper for everyone to parse. Set before any
# module of the package imports openpyxl.
os.environ.setdefault("OPENPYXL_LXML", "False")
