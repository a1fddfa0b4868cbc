"""The typed service the page scripts call: one cached function per view, each keyed on the data version and
the caller's access scope (never on who the caller is), returning the view model `kpi` builds.

Every function here runs `kpi` on this script run's cursor; none draws anything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec, TypeVar, cast

import streamlit as st

from kpi import briefing, views
from kpi import compliance as comp
from kpi import periods as calendar
from kpi.engine import KpiEngine
from kpi.settings import get_settings
from kpi.store import AccessScope, Cursor
from pages.connection import catalogue, cursor, data_version, kpi_engine, registry
from pages.session import access_scope, current_scope

# --------------------------------------------------------------------------- dashboard views

P = ParamSpec("P")
R = TypeVar("R")


@st.cache_data(max_entries=1024, show_spinner=False)
def _cached_view(name: str, version: str, scope: AccessScope, args: tuple[Any, ...],
                 kwargs: tuple[tuple[str, Any], ...], _view: Callable[..., Any], _cur: Cursor) -> Any:
    return _view(_cur, kpi_engine(), *args, scope=scope, **dict(kwargs))


def _cached(view: Callable[Concatenate[Cursor, KpiEngine, P], R]) -> Callable[P, R]:
    """A view of `kpi.views` with its own signature (less the cursor and engine), cached on the data version and
    the caller's access (the view's name is part of the key: all views share one cache)."""

    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        return cast(R, _cached_view(view.__name__, data_version(), access_scope(), args,
                                    tuple(sorted(kwargs.items())), _view=view, _cur=cursor()))

    call.__doc__ = view.__doc__
    return call


overview = _cached(views.overview)  # every KPI's tile for a period, by project group, with coverage
kpi_trend = _cached(views.kpi_trend)  # a metric's headline value, target and status over periods
breakdown = _cached(views.breakdown)  # a KPI's breakdown and secondary figures for the population
ranking = _cached(views.ranking)  # entity types, regions or entities ranked on a metric, best first
region_values = _cached(views.region_values)  # a metric's value for each region (None where none reported)
entity_profile = _cached(views.entity_profile)  # one entity across its KPIs and periods (None: not visible)
submissions = _cached(views.submissions)  # each expected entity's return: on time, late, missing, pending
submission_versions = _cached(views.submission_versions)  # every version received for a period, newest first


# --------------------------------------------------------------------------- periods and coverage


@st.cache_data(max_entries=64, show_spinner=False)
def _cached_periods(version: str, scope: AccessScope, _cur: Cursor) -> list[str]:
    return views.available_periods(_cur, scope=scope)


def periods() -> list[str]:
    """Periods with data the caller may see, oldest first."""
    return _cached_periods(data_version(), access_scope(), _cur=cursor())


@st.cache_data(max_entries=64, show_spinner=False)
def _cached_calendar(version: str, day: str, available: tuple[str, ...], threshold: float,
                     _cur: Cursor) -> tuple[str | None, dict[str, calendar.PeriodCoverage]]:
    coverage = calendar.registry_coverage(_cur, [e.code for e in registry().entities])
    chosen = calendar.default_period(coverage, available, threshold=threshold, on=dt.date.fromisoformat(day))
    return chosen, coverage


def _calendar() -> tuple[str | None, dict[str, calendar.PeriodCoverage]]:
    return _cached_calendar(data_version(), calendar.today().isoformat(), tuple(periods()),
                            get_settings().coverage_threshold, _cur=cursor())


def period_coverage() -> dict[str, calendar.PeriodCoverage]:
    """Each period's returns received of those expected over the whole registry."""
    return _calendar()[1]


def default_period() -> str | None:
    """The safe period every page opens on: the latest ended quarter whose coverage reaches the threshold."""
    return _calendar()[0]


def coverage_of(period: str) -> tuple[int, int]:
    """Returns received and expected for a period: over the whole registry, or over an officer's entities."""
    scope = current_scope()
    if scope.entities is None:
        found = period_coverage().get(period)
        return (found.received, found.expected) if found is not None else (0, len(registry().entities))
    counted = views.coverage(cursor(), registry(), period, scope=scope)
    return counted.received, counted.expected


def is_provisional(period: str | None) -> bool:
    """Whether a period's figures rest on fewer returns than the coverage threshold asks for."""
    if period is None:
        return False
    received, expected = coverage_of(period)
    return expected > 0 and received / expected < get_settings().coverage_threshold


def opened_periods() -> list[str]:
    """Quarters an admin opened for filing before they ended (a one-row query, read on each run)."""
    return sorted(calendar.opened_periods(cursor()))


# --------------------------------------------------------------------------- evidence and the briefing pack


@st.cache_data(max_entries=64, show_spinner=False)
def _compliance(version: str, scope: AccessScope, period: str, _cur: Cursor) -> list[comp.TaskCompliance]:
    return comp.compliance(_cur, catalogue(), registry(), period, scope=scope)


def compliance(period: str) -> list[comp.TaskCompliance]:
    """One result per entity × task the caller may see, for a period (`kpi.compliance.compliance`)."""
    return _compliance(data_version(), access_scope(), period, _cur=cursor())


@st.cache_data(max_entries=64, show_spinner=False)
def _formalism_flags(version: str, scope: AccessScope, period: str, days: int, _cur: Cursor) -> list[comp.Flag]:
    return comp.formalism_flags(_cur, catalogue(), registry(), kpi_engine(), period, deadline_days=days,
                                scope=scope, tasks=_compliance(version, scope, period, _cur))


def formalism_flags(period: str, *, deadline_days: int) -> list[comp.Flag]:
    """Every formalism and data-quality flag of a period the caller may see (`kpi.compliance.formalism_flags`)."""
    return _formalism_flags(data_version(), access_scope(), period, deadline_days, _cur=cursor())


@st.cache_data(max_entries=16, show_spinner=False)
def _deck(request: briefing.BriefingRequest, version: str, scope: AccessScope,
          _cur: Cursor) -> tuple[briefing.Briefing, bytes]:
    provider = comp.briefing_provider(catalogue(), registry(), kpi_engine(),
                                      deadline_days=get_settings().submission_deadline_days)
    plan = briefing.plan_briefing(_cur, request, kpi_engine(), access=scope, compliance=provider)
    return plan, briefing.render_pptx(plan)


def deck(request: briefing.BriefingRequest) -> tuple[briefing.Briefing, bytes]:
    """A briefing pack's plan and its PowerPoint file; raises `BriefingError` or `PermissionError` as planning does."""
    return _deck(request, data_version(), access_scope(), _cur=cursor())


@st.cache_data(max_entries=4, show_spinner=False)
def _pdf(request: briefing.BriefingRequest, version: str, scope: AccessScope, pptx: bytes) -> bytes:
    return briefing.pptx_to_pdf(pptx, lang=request.lang)


def pdf(request: briefing.BriefingRequest, pptx: bytes) -> bytes:
    """The pack as PDF (seconds of LibreOffice: made on demand); raises `PdfUnavailable` without it."""
    return _pdf(request, data_version(), access_scope(), pptx)
