"""Strict readers of numbers and years typed into a return: ASCII digits only, bounded, never an exception.

`str.isdigit()` says yes to '²', '٣' or '５', and `int()` then raises or reads them as digits; a cell of
five thousand digits makes `int()` raise too. Everything read from a return goes through these instead.
"""

from __future__ import annotations

import re
from typing import Any

DIGITS = frozenset("0123456789")
MAX_DIGITS = 15
MAX_COUNT = 10**9  # a monthly count of events or participants (stored as a 32-bit integer)
FIRST_YEAR = 1900
LAST_YEAR = 2100
MAX_YEARS_TEXT = 1000
_YEAR_SEPARATORS = re.compile(r"[,;/\s]+")


def digits(text: str, *, max_digits: int = MAX_DIGITS) -> int | None:
    """The whole number a text of ASCII digits (spaces around allowed) stands for; None for anything else."""
    stripped = text.strip() if len(text) <= 4 * max_digits else ""
    if not 0 < len(stripped) <= max_digits or not DIGITS.issuperset(stripped):
        return None
    return int(stripped)


def whole_number(value: Any, *, maximum: int = 10**12) -> int | None:
    """A non-negative whole number from a cell (a number or ASCII digits), at most `maximum`; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number: int | None = value
    elif isinstance(value, float):
        number = int(value) if value.is_integer() and 0 <= value <= maximum else None
    elif isinstance(value, str):
        number = digits(value, max_digits=len(str(maximum)))
    else:
        return None
    return number if number is not None and 0 <= number <= maximum else None


def year(text: Any) -> int | None:
    """A year from 1900 to 2100 written as four ASCII digits (or a whole number); None otherwise."""
    found = whole_number(text, maximum=LAST_YEAR)
    return found if found is not None and found >= FIRST_YEAR else None


def years(text: str | None) -> list[int]:
    """The valid years in a list such as '2022, 2023; 2024' (anything else in it is ignored), in order."""
    if not text:
        return []
    parts = _YEAR_SEPARATORS.split(str(text)[:MAX_YEARS_TEXT])
    return [y for y in map(year, parts) if y is not None]
