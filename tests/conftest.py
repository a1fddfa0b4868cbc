"""Shared fixtures: the real catalogue and registry, a real DuckDB file, real XLSX returns."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.pop("KPI_DB", None)
os.environ["PARASAT_TODAY"] = "2026-12-01"  # the calendar every test runs on (kpi.periods), never the real date
# The key of every PostgreSQL test database (created by the first; a URL store keeps it outside the database).
# Set once: modules that import `tests.conftest` run this file a second time, and a second key would not match.
os.environ.setdefault("PARASAT_SECRET_FILE",
                      str(Path(tempfile.mkdtemp(prefix="parasat-secret-")) / "postgres.secret"))

from postgres import pg_database_url, postgres_server  # noqa: E402, F401

from kpi.catalogue import Catalogue, Registry, load_catalogue, load_registry, measures_for_entity  # noqa: E402
from kpi.sample import fill_by_names  # noqa: E402
from kpi.store import Store  # noqa: E402
from kpi.template import build_template  # noqa: E402

STORE_KINDS = ("duckdb", "postgresql")

ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture(scope="session")
def registry() -> Registry:
    return load_registry()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test marked `both_stores` runs once per store kind (DuckDB file, PostgreSQL URL); others on DuckDB."""
    if "store_kind" in metafunc.fixturenames:
        both = metafunc.definition.get_closest_marker("both_stores") is not None
        metafunc.parametrize("store_kind", STORE_KINDS if both else STORE_KINDS[:1])


@pytest.fixture
def db_target(store_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A new, empty database as `--db` names it: a DuckDB file path, or a PostgreSQL URL."""
    if store_kind == "postgresql":
        return str(request.getfixturevalue("pg_database_url"))
    return str(tmp_path / "test.duckdb")


@pytest.fixture
def store(db_target: str) -> Iterator[Store]:
    with Store(db_target) as opened:
        yield opened


def zero_values(catalogue: Catalogue, registry: Registry, entity_code: str) -> dict[str, Any]:
    """Every required measure of the entity's return set to 0 (flags to No); optional ones left blank."""
    entity = registry.entity_by_code[entity_code]
    return {m.code: 0 for m in measures_for_entity(catalogue, registry, entity) if not m.optional}


@pytest.fixture
def make_return(tmp_path: Path, catalogue: Catalogue, registry: Registry) -> Callable[..., Path]:
    """Write a filled return: every measure 0 unless given, filled through the defined names; evidence rows by task."""

    def make(entity: str, period: str, values: dict[str, Any] | None = None, *, name: str | None = None,
             drop: tuple[str, ...] = (), evidence: dict[str, dict[str, Any]] | None = None) -> Path:
        figures = zero_values(catalogue, registry, entity)
        figures.update(values or {})
        for code in drop:
            figures[code] = None
        data = fill_by_names(build_template(catalogue, registry, entity, period), figures, evidence)
        path = tmp_path / (name or f"{entity}_{period}.xlsx")
        path.write_bytes(data)
        return path

    return make
