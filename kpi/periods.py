"""The reporting calendar: periods, the day a quarter's return may be filed, the clock, periods an admin
opened early, coverage and the safe default period, and one way to write a period and a date per language.

A quarter has ended when its last day is over on the agency's calendar (Asia/Almaty): the return for
2026Q4 can be filed from 1 January 2027. Quarter ends and deadlines come from `kpi.catalogue` (one helper
for the whole project); the clock is read here, and tests set it (`set_clock`, `frozen`, or
`PARASAT_TODAY=YYYY-MM-DD` for a process), so no test depends on today's date.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from kpi.catalogue import LANGUAGES, parse_period, period_range, quarter_end, shift_period
from kpi.settings import AGENCY_TIME_ZONE

TIME_ZONE = ZoneInfo(AGENCY_TIME_ZONE)
CLOCK_ENV = "PARASAT_TODAY"
OPEN_PREFIX = "period_open:"
FIRST_YEAR = 2020

Clock = Callable[[], dt.datetime]
_clock: Clock | None = None


# --------------------------------------------------------------------------- the clock


def now() -> dt.datetime:
    """The current moment on the agency's calendar: the clock a test set, else PARASAT_TODAY (noon), else the
    system clock."""
    if _clock is not None:
        moment = _clock()
        return moment.astimezone(TIME_ZONE) if moment.tzinfo else moment.replace(tzinfo=TIME_ZONE)
    fixed = os.environ.get(CLOCK_ENV, "").strip()
    if fixed:
        return dt.datetime.combine(dt.date.fromisoformat(fixed), dt.time(12), TIME_ZONE)
    return dt.datetime.now(TIME_ZONE)


def today() -> dt.date:
    """Today's date in Asia/Almaty (never the server's own time zone)."""
    return now().date()


def set_clock(clock: Clock | None) -> None:
    """Replace the clock (None restores the system clock)."""
    global _clock
    _clock = clock


@contextmanager
def frozen(day: dt.date | dt.datetime) -> Iterator[None]:
    """Within the block, the calendar stands still at `day` (noon in Almaty when a date is given)."""
    moment = day if isinstance(day, dt.datetime) else dt.datetime.combine(day, dt.time(12), TIME_ZONE)
    previous = _clock
    set_clock(lambda: moment)
    try:
        yield
    finally:
        set_clock(previous)


# --------------------------------------------------------------------------- periods


def period_of(day: dt.date) -> str:
    """The period (quarter) a day falls in."""
    return f"{day.year}Q{(day.month - 1) // 3 + 1}"


def quarter_start(period: str) -> dt.date:
    year, quarter = parse_period(period)
    return dt.date(year, 3 * quarter - 2, 1)


def filing_opens(period: str) -> dt.date:
    """The first day a return for the period may be filed: the day after the quarter ends."""
    return quarter_end(period) + dt.timedelta(days=1)


def has_ended(period: str, on: dt.date | None = None) -> bool:
    """Whether the quarter is over on the agency's calendar."""
    return (on or today()) >= filing_opens(period)


def latest_ended(on: dt.date | None = None) -> str:
    """The most recent quarter that has ended."""
    return shift_period(period_of(on or today()), -1)


def ended_periods(on: dt.date | None = None, *, since: str | None = None) -> list[str]:
    """Every ended quarter from `since` (default the first of FIRST_YEAR), newest first."""
    last = latest_ended(on)
    first = since or f"{FIRST_YEAR}Q1"
    if first > last:
        return []
    return list(reversed(period_range(first, last)))


def sort_periods(periods: Iterable[str]) -> list[str]:
    """Periods oldest first (YYYYQn sorts as text, but say what is meant)."""
    return sorted(set(periods), key=parse_period)


def axis_periods(periods: Iterable[str]) -> list[str]:
    """Every quarter from the first to the last given, in order: a quarter without data is a gap on an axis."""
    ordered = sort_periods(periods)
    return period_range(ordered[0], ordered[-1]) if ordered else []


# --------------------------------------------------------------------------- periods opened early


def _db(cur: Any) -> Any:
    from kpi.store import db  # the store's archive asks this module which quarters have ended

    return db(cur)


def opened_periods(cur: Any) -> set[str]:
    """Periods an admin opened for filing before their quarter ended."""
    return {key[len(OPEN_PREFIX):] for key, _ in _db(cur).meta.with_prefix(OPEN_PREFIX)}


def open_period_rows(cur: Any) -> list[dict[str, str]]:
    """The opened periods with who opened them and when, oldest period first."""
    out = []
    for key, value in _db(cur).meta.with_prefix(OPEN_PREFIX):
        by, _, at = value.partition("|")
        out.append({"period": key[len(OPEN_PREFIX):], "opened_by": by, "opened_at": at})
    return out


def can_file(period: str, on: dt.date | None = None, opened: Iterable[str] = ()) -> bool:
    """Whether a return for the period may be filed now: its quarter has ended or an admin opened it."""
    return has_ended(period, on) or period in set(opened)


def open_period(store: Any, period: str, *, actor: str) -> str:
    """Let returns for a quarter under way be filed before it ends (on the audit trail). Returns "opened",
    "already" (open already, or ended) or "not_started" (only a quarter that has begun can be opened)."""
    from kpi import audit

    parse_period(period)
    if quarter_start(period) > today():
        return "not_started"
    if has_ended(period):
        return "already"
    with store.transaction() as cur:
        if period in opened_periods(cur):
            return "already"
        _db(cur).meta.add(OPEN_PREFIX + period, f"{actor}|{now().isoformat()}")
    audit.record(store, actor, "period_opened", period, opens=filing_opens(period).isoformat())
    return "opened"


def close_period(store: Any, period: str, *, actor: str) -> bool:
    """Withdraw an early opening (returns already filed stay); False if the period was not open."""
    from kpi import audit

    parse_period(period)
    with store.transaction() as cur:
        if period not in opened_periods(cur):
            return False
        _db(cur).meta.delete(OPEN_PREFIX + period)
    audit.record(store, actor, "period_closed", period)
    return True


# --------------------------------------------------------------------------- coverage and the safe default


@dataclass(frozen=True)
class PeriodCoverage:
    """Returns received of returns expected for a period over the whole registry."""

    period: str
    received: int
    expected: int

    @property
    def share(self) -> float:
        return 0.0 if self.expected == 0 else self.received / self.expected

    def reaches(self, threshold: float) -> bool:
        return self.expected > 0 and self.share >= threshold


def registry_coverage(cur: Any, expected_codes: Sequence[str]) -> dict[str, PeriodCoverage]:
    """Coverage of every period with a return, over the given registry."""
    rows = _db(cur).returns.received_by_period(expected_codes)
    expected = len(expected_codes)
    return {str(p): PeriodCoverage(str(p), int(n), expected) for p, n in rows}


def default_period(coverage: dict[str, PeriodCoverage], available: Sequence[str], *, threshold: float,
                   on: dt.date | None = None) -> str | None:
    """The safe period to open on: the latest ended quarter whose coverage reaches the threshold; failing
    that the best-covered ended quarter; failing that the latest available."""
    ended = [p for p in sort_periods(available) if has_ended(p, on)]
    covered = [p for p in ended if p in coverage and coverage[p].reaches(threshold)]
    if covered:
        return covered[-1]
    if ended:
        return max(reversed(ended), key=lambda p: coverage[p].share if p in coverage else 0.0)
    ordered = sort_periods(available)
    return ordered[-1] if ordered else None


# --------------------------------------------------------------------------- one way to write a period and a date

PERIOD_FORMATS = {"kk": "{year} ж. {quarter}-тоқсан", "ru": "{quarter} кв. {year} г.", "en": "Q{quarter} {year}"}
MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _lang(lang: str | None) -> str:
    return lang if lang in LANGUAGES else "kk"


def period_label(period: str, lang: str | None) -> str:
    """A period as the language writes it: '2025 ж. 4-тоқсан', '4 кв. 2025 г.', 'Q4 2025'."""
    year, quarter = parse_period(period)
    return PERIOD_FORMATS[_lang(lang)].format(year=year, quarter=quarter)


def date_label(day: dt.date | dt.datetime | None, lang: str | None) -> str:
    """A date as the language writes it: '31.12.2025' (kk, ru), '31 Dec 2025' (en)."""
    if day is None:
        return "—"
    if isinstance(day, dt.datetime):
        day = (day.astimezone(TIME_ZONE) if day.tzinfo else day).date()
    if _lang(lang) == "en":
        return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"
    return f"{day.day:02d}.{day.month:02d}.{day.year}"


def datetime_label(moment: dt.datetime | None, lang: str | None) -> str:
    """A moment in Almaty time: the date as the language writes it and HH:MM."""
    if moment is None:
        return "—"
    local = moment.astimezone(TIME_ZONE) if moment.tzinfo else moment
    return f"{date_label(local.date(), lang)} {local:%H:%M}"


def file_part(period: str, lang: str | None) -> str:
    """A period for a file name in the language: '2025_ж_4-тоқсан', '4_кв_2025_г', 'Q4_2025'."""
    return period_label(period, lang).replace(".", "").replace(" ", "_")


class LocalPeriod(str):
    """A period that writes itself in a message's language: '{period:kk}' gives '2025 ж. 4-тоқсан'."""

    def __format__(self, spec: str) -> str:
        return period_label(str(self), spec) if spec in LANGUAGES else str.__format__(self, spec)


class LocalDate(dt.date):
    """A date that writes itself in a message's language: '{day:en}' gives '1 Jan 2027'."""

    def __format__(self, spec: str) -> str:
        return date_label(self, spec) if spec in LANGUAGES else dt.date.__format__(self, spec)

    @classmethod
    def of(cls, day: dt.date) -> LocalDate:
        return cls(day.year, day.month, day.day)


# --------------------------------------------------------------------------- the ingest's calendar check


def refusal(store: Any, data: Any, on: dt.date | None = None) -> Any:
    """The issue that refuses a validated return (`kpi.ingest.validate.ReturnData`) whose quarter has not
    ended and was not opened early, else None. Every ingest path (command line, app, sample) passes here,
    in the server process, where the opened periods are known."""
    from kpi.ingest.validate import Issue
    from kpi.layout import RETURN_SHEET

    day = on or today()
    if has_ended(data.period, day):
        return None
    cur = store.cursor()
    try:
        if data.period in opened_periods(cur):
            return None
    finally:
        cur.close()
    return Issue(file=data.file, code="period_not_ended", sheet=RETURN_SHEET, cell=data.cells.get("meta_period"),
                 value=data.period, params={"period": LocalPeriod(data.period),
                                            "opens": LocalDate.of(filing_opens(data.period))})
