"""The store's interface: what every backend (DuckDB today, PostgreSQL next) implements, named for the domain.

A backend subclasses each class below with its own SQL (`kpi.store.duck` is the DuckDB one). Every method is
one statement, or one batch of them, on the cursor the repository was made with, inside the caller's
transaction when there is one; it returns plain tuples and values, never a driver's objects. Times are
naive UTC `datetime`s (users, sessions) or aware ones (returns); columns for the bulk inserts are NumPy
arrays, which a backend writes in one scan (COPY on PostgreSQL), never row by row.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any


def redacted(url: str) -> str:
    """A database URL without its password (for messages and manifests)."""
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


class StoreUnavailable(RuntimeError):
    """A database that cannot be used as it is (a server out of reach, a key file missing): what to do, in
    the user's language (`message`), never a driver's traceback."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(f"{key}: {params}")
        self.key = key
        self.params = params

    def message(self, lang: str | None = None) -> str:
        from kpi.i18n import t  # noqa: PLC0415

        return t(self.key, lang, **self.params)


class Repository:
    """A set of queries on one cursor."""

    __slots__ = ("cur",)

    def __init__(self, cur: Any) -> None:
        self.cur = cur


class Schema(Repository, ABC):
    """Creating and upgrading the tables."""

    __slots__ = ()

    @abstractmethod
    def create(self) -> None:
        ...

    @abstractmethod
    def create_users(self) -> None:
        ...

    @abstractmethod
    def copy_evidence_documents(self) -> None:
        """Before the documents table each evidence row held its one document: copy it over once."""

    @abstractmethod
    def checkpoint(self) -> None:
        ...

    def lock_for_migration(self) -> None:
        """Make servers that open one database at once upgrade it one after the other (inside a transaction;
        a database that one process opens needs nothing)."""

    @abstractmethod
    def begin(self) -> None:
        ...

    @abstractmethod
    def commit(self) -> None:
        ...

    @abstractmethod
    def rollback(self) -> None:
        ...


class Meta(Repository, ABC):
    """Small named values: flags set once, the audit head, periods opened early."""

    __slots__ = ()

    @abstractmethod
    def get(self, key: str) -> str | None:
        ...

    @abstractmethod
    def has(self, key: str) -> bool:
        ...

    @abstractmethod
    def add(self, key: str, value: str) -> None:
        """A new key (an error if it is there already)."""

    @abstractmethod
    def put(self, key: str, value: str) -> None:
        """Set a key, replacing its value."""

    @abstractmethod
    def delete(self, key: str) -> None:
        ...

    @abstractmethod
    def with_prefix(self, prefix: str) -> list[tuple[str, str]]:
        """Keys starting with a prefix and their values, in key order."""


class Users(Repository, ABC):
    """Local users: name, role, entities, password hash, failed attempts and lock-out."""

    __slots__ = ()

    @abstractmethod
    def exists(self, username: str) -> bool:
        ...

    @abstractmethod
    def add(self, username: str, display_name: str, role: str, entities: list[str],
            password_hash: str | None) -> None:
        ...

    @abstractmethod
    def get(self, username: str) -> tuple[Any, ...] | None:
        """(username, display_name, role, entities) of an active user: one indexed query."""

    @abstractmethod
    def password_hash(self, username: str) -> str | None:
        ...

    @abstractmethod
    def set_password(self, username: str, password_hash: str, *, unlock: bool = True) -> None:
        ...

    @abstractmethod
    def unlock(self, username: str) -> None:
        ...

    @abstractmethod
    def set_role(self, username: str, role: str) -> None:
        ...

    @abstractmethod
    def set_entities(self, username: str, entities: list[str]) -> None:
        ...

    @abstractmethod
    def set_active(self, username: str, active: bool) -> None:
        ...

    @abstractmethod
    def all(self) -> list[tuple[Any, ...]]:
        """Every user: name, display name, role, entities, active, failed attempts, locked until, created at."""

    @abstractmethod
    def signed_in(self, username: str, now: Any) -> tuple[Any, ...] | None:
        """Forget the failed attempts of an active user who is not locked; the user's row, or None."""

    @abstractmethod
    def failed(self, username: str, max_failures: int, now: Any, lock_until: Any) -> tuple[Any, ...] | None:
        """Count a failed attempt (locking the account at `max_failures`): (failed attempts, locked until)."""

    @abstractmethod
    def active_admins(self) -> int:
        ...


class Sessions(Repository, ABC):
    """Signed-in sessions, kept by the sha256 of their id."""

    __slots__ = ()

    @abstractmethod
    def add(self, id_hash: str, username: str, now: Any, expires_at: Any) -> None:
        ...

    @abstractmethod
    def forget_expired(self, before: Any) -> None:
        ...

    @abstractmethod
    def live(self, id_hash: str, now: Any) -> tuple[Any, ...] | None:
        """(username, display_name, role, entities, last_seen) of a live session of an active user."""

    @abstractmethod
    def touch(self, id_hash: str, now: Any, expires_at: Any) -> None:
        ...

    @abstractmethod
    def end(self, id_hash: str, now: Any) -> None:
        ...

    @abstractmethod
    def end_all_of(self, username: str, now: Any) -> None:
        ...


class AuditLog(Repository, ABC):
    """The rows of the hash-chained audit trail (the chaining and keys are `kpi.audit`'s)."""

    __slots__ = ()

    @abstractmethod
    def last(self) -> tuple[int, str] | None:
        ...

    @abstractmethod
    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        """Events as rows (seq, at, actor, action, subject, detail, prev, hash, mac), in one statement."""

    @abstractmethod
    def read(self, limit: int | None = None) -> list[tuple[Any, ...]]:
        """(seq, at, actor, action, subject, detail, prev, hash), oldest first; the newest `limit` when given."""

    @abstractmethod
    def scan(self) -> Iterator[tuple[Any, ...]]:
        """Every event with its key, oldest first, in batches (the trail may be long)."""


class Returns(Repository, ABC):
    """Returns and their versions, measure values and evidence."""

    __slots__ = ()

    @abstractmethod
    def data_version(self) -> str:
        """A token that changes whenever accepted data or targets change (for cache keys)."""

    @abstractmethod
    def count(self) -> int:
        ...

    @abstractmethod
    def periods(self, entities: Sequence[str] | None = None) -> list[str]:
        """Periods with a current return (of the given entities), oldest first."""

    @abstractmethod
    def received(self, period: str, entities: Sequence[str]) -> int:
        """How many of the given entities have a return for the period."""

    @abstractmethod
    def received_by_period(self, entities: Sequence[str]) -> list[tuple[str, int]]:
        """(period, entities with a return) for every period with a return of the given entities."""

    @abstractmethod
    def current_ids(self, period: str) -> dict[str, int]:
        """Each entity's current return id for a period."""

    @abstractmethod
    def current_values(self, period: str) -> list[tuple[str, str, int]]:
        """(entity, measure, value) of every current return of a period."""

    @abstractmethod
    def first_submitted(self, period: str, time_zone: str) -> dict[str, Any]:
        """Each entity's first submission time for a period, as wall-clock time of the zone."""

    @abstractmethod
    def submission_counts(self, period: str, time_zone: str) -> list[tuple[Any, ...]]:
        """(entity, versions, first submitted, last submitted) per entity for a period."""

    @abstractmethod
    def versions_of_entity(self, code: str, time_zone: str) -> list[tuple[Any, ...]]:
        """(period, version, file, uploaded by, submitted, uploaded, sha256, is current), newest first."""

    @abstractmethod
    def versions_in_period(self, period: str, entities: Sequence[str], time_zone: str) -> list[tuple[Any, ...]]:
        """(entity, version, file, uploaded by, submitted, uploaded, sha256) of a period, newest first."""

    @abstractmethod
    def current_state(self, entities: Sequence[str], periods: Sequence[str]) -> list[tuple[Any, ...]]:
        """(entity, period, version, sha256, measures, values) of the current return of each pair given."""

    def lock_versions(self, entities: Sequence[str], periods: Sequence[str]) -> None:
        """Hold the version numbering of each (entity, period) given until the transaction ends, so that two
        writers never give out the same version (a database that one process writes needs no lock)."""

    @abstractmethod
    def new_ids(self, count: int) -> list[int]:
        ...

    @abstractmethod
    def add_versions(self, columns: Mapping[str, list[Any]]) -> None:
        """Return versions as columns: id, entity, period, version, sha, file, tv, by, at, submitted."""

    @abstractmethod
    def add_values(self, columns: Mapping[str, Any]) -> None:
        """NumPy columns return_id, measure, value, cell."""

    @abstractmethod
    def add_evidence(self, columns: Mapping[str, Any], months: int) -> None:
        """NumPy columns return_id, task_id, status, related_date (ISO text), audit_years, and the monthly
        counts as one column a month: e0…e11 (events) and p0…p11 (participants)."""

    @abstractmethod
    def add_documents(self, columns: Mapping[str, Any]) -> None:
        """NumPy columns return_id, task_id, seq, doc_type, doc_number, doc_date (ISO text), signatory,
        reference, sheet_row."""

    @abstractmethod
    def copy_entities(self, copies: int) -> tuple[int, int]:
        """A benchmark's larger nation: every return and its values copied `copies - 1` times, under the
        codes `<code>__1` … (ids after the last one); returns (return versions, entities) in the end."""

    @abstractmethod
    def evidence(self, period: str) -> list[tuple[Any, ...]]:
        """(entity, task, status, related date, audit years, events, participants) of a period's returns."""

    @abstractmethod
    def documents(self, period: str) -> list[tuple[Any, ...]]:
        """(entity, task, type, number, date, signatory, reference, sheet row) of a period's returns, in order."""


class Targets(Repository, ABC):
    """Targets by metric and year: the guide's, and those an analyst set."""

    __slots__ = ()

    @abstractmethod
    def seed(self, rows: Sequence[tuple[str, int, float]]) -> None:
        """The guide's own targets (kept where a target is set already)."""

    @abstractmethod
    def set(self, metric: str, year: int, value: float, actor: str) -> None:
        ...

    @abstractmethod
    def all(self) -> list[tuple[Any, ...]]:
        """(metric, year, value, source, set_by, set_at) by metric and year."""

    @abstractmethod
    def in_force(self, year: int) -> list[tuple[str, float, int, str]]:
        """(metric, value, year, source) of the latest year not after the one given, per metric."""


class Queries(ABC):
    """The repositories of one cursor: what `db(cur)` returns."""

    __slots__ = ("cur",)

    def __init__(self, cur: Any) -> None:
        self.cur = cur

    @property
    @abstractmethod
    def schema(self) -> Schema: ...

    @property
    @abstractmethod
    def meta(self) -> Meta: ...

    @property
    @abstractmethod
    def users(self) -> Users: ...

    @property
    @abstractmethod
    def sessions(self) -> Sessions: ...

    @property
    @abstractmethod
    def audit(self) -> AuditLog: ...

    @property
    @abstractmethod
    def returns(self) -> Returns: ...

    @property
    @abstractmethod
    def targets(self) -> Targets: ...


class KpiQuery(ABC):
    """The engine's one query, made from the catalogue's definition rows (`KPI_TABLES` names their columns:
    entity_kpi (entity_code, entity_type, region, kpi), metric_def (metric, kpi, scale, den_kind) and
    metric_term (metric, part, measure))."""

    @abstractmethod
    def run(self, cur: Any, periods: Sequence[str], levels: Sequence[str], metrics: Sequence[str],
            population: Sequence[str] | None) -> list[tuple[Any, ...]]:
        """(period, metric, kpi, level, key, numerator, denominator, value, reporting, expected) rows for the
        periods, levels ("national", "entity_type", "region", "entity") and metrics (all when empty), over the
        population given (every entity when None)."""


class Dialect(ABC):
    """What differs between databases outside the SQL text itself."""

    name: str

    @staticmethod
    @abstractmethod
    def lock_holder(problem: Exception) -> str | None:
        """Whether opening failed because another process holds the database: its holder ("PID 123", or ""
        when not named), else None (another problem)."""
