"""Architecture rules that keep the layers one-way and the settings documented."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from kpi.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_kpi_package_never_imports_streamlit() -> None:
    offenders = []
    for path in (ROOT / "kpi").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "streamlit" or n.startswith("streamlit.") for n in names):
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_every_setting_is_documented_in_code_and_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for name, field in Settings.model_fields.items():
        assert field.description, f"setting {name} has no description"
        assert f"PARASAT_{name.upper()}" in readme, f"setting {name} is not in the README"


def test_the_sandboxed_reader_stays_lean() -> None:
    """The worker process imports neither DuckDB nor pandas, so it starts fast and small."""
    source = (ROOT / "kpi" / "ingest" / "reader.py").read_text(encoding="utf-8")
    tree = ast.parse(source)
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {(n.module or "").split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not imported & {"duckdb", "pandas", "pyarrow", "streamlit", "kpi"}


# --------------------------------------------------------------------------- one store owns every query

SOURCE_DIRS = ("kpi", "pages", "scripts", "tests")
STORE = ROOT / "kpi" / "store"
SQL_WORDS = ("SELECT ", "INSERT ", "UPDATE ", "DELETE ", "CREATE ")
# Tests may reach the database the way an attacker or an older version would (tampering, an old schema);
# they are not application code, so they are not scanned for SQL (only for the driver import below).
SQL_EXEMPT_DIRS = ("tests",)
# Not the application's data: setting up a PostgreSQL server (its role and database) and HAProxy's
# configuration text, which the scan mistakes for SQL.
SQL_EXEMPT_FILES = ("scripts/pgserver.py", "scripts/cluster.py")


def _python_files(*dirs: str) -> list[Path]:
    files = [ROOT / "app.py"]
    for folder in dirs:
        files += sorted((ROOT / folder).rglob("*.py"))
    return [f for f in files if f.exists()]


def _imports(tree: ast.AST) -> set[str]:
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    return names | {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                out.add(id(first.value))
    return out


def _sql_literals(path: Path) -> list[str]:
    """String literals (and the literal parts of f-strings) that hold SQL; docstrings are prose."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip \
                and any(word in node.value.upper() for word in SQL_WORDS):
            found.append(node.value.strip()[:60])
    return found


def _imports_a_driver(path: Path, drivers: tuple[str, ...]) -> bool:
    return any(n == d or n.startswith(f"{d}.") for n in _imports(ast.parse(path.read_text(encoding="utf-8")))
               for d in drivers)


def test_only_the_store_imports_the_database_driver() -> None:
    offenders = sorted(
        str(path.relative_to(ROOT)) for path in _python_files("kpi", "pages", "scripts")
        if STORE not in path.parents and _imports_a_driver(path, ("duckdb",)))
    assert offenders == []
    # PostgreSQL's driver too: only the store in the application (scripts/pgserver.py runs the test server)
    offenders = sorted(
        str(path.relative_to(ROOT)) for path in _python_files("kpi", "pages")
        if STORE not in path.parents and _imports_a_driver(path, ("psycopg", "psycopg_pool")))
    assert offenders == []


def test_no_sql_text_outside_the_store() -> None:
    offenders = {
        str(path.relative_to(ROOT)): literals
        for path in _python_files(*[d for d in SOURCE_DIRS if d not in SQL_EXEMPT_DIRS])
        if STORE not in path.parents and str(path.relative_to(ROOT)) not in SQL_EXEMPT_FILES
        and (literals := _sql_literals(path))
    }
    assert offenders == {}


def test_the_sql_scan_finds_sql(tmp_path: Path) -> None:
    """The scan above is not blind: SQL in a string, an f-string or a constant is found, prose is not."""
    sample = tmp_path / "sample.py"
    sample.write_text('"""Run a SELECT now and then."""\n'
                      'A = "select 1 FROM meta"\n'
                      'def f(t):\n'
                      '    """DELETE to clear it."""\n'
                      '    return f"INSERT INTO {t} VALUES (1)"\n', encoding="utf-8")
    assert _sql_literals(sample) == ["select 1 FROM meta", "INSERT INTO"]


def test_pages_and_modules_take_the_cursor_type_from_the_store() -> None:
    from kpi import store

    assert store.Cursor.__module__.startswith("duckdb") or store.Cursor.__name__ == "DuckDBPyConnection"
    service = (ROOT / "pages" / "service.py").read_text(encoding="utf-8")
    assert "from kpi.store import" in service and "Cursor" in service


@pytest.mark.parametrize("backend", ["duck", "pg"])
def test_each_backend_implements_the_whole_store_interface(backend: str) -> None:
    """Every abstract method of the interface has DuckDB's SQL and PostgreSQL's."""
    import importlib

    from kpi.store import base

    duck = importlib.import_module(f"kpi.store.{backend}")

    interfaces = [c for c in vars(base).values() if isinstance(c, type) and c.__module__ == base.__name__
                  and getattr(c, "__abstractmethods__", None)]
    assert {c.__name__ for c in interfaces} >= {"Meta", "Users", "Sessions", "AuditLog", "Returns", "Targets",
                                                 "Queries", "KpiQuery", "Dialect"}
    for interface in interfaces:
        implementation = getattr(duck, interface.__name__)
        assert issubclass(implementation, interface)
        assert not implementation.__abstractmethods__, (interface.__name__, implementation.__abstractmethods__)


# --------------------------------------------------------------------------- page scripts: typed calls, public Streamlit

# Streamlit's modules that are its runtime, not its API: reaching into them ties the app to one version's internals.
STREAMLIT_INTERNALS = ("streamlit.runtime", "streamlit.web", "streamlit.elements", "streamlit.commands")


def _page_sources() -> list[Path]:
    return [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]


def _streamlit_names(tree: ast.AST) -> set[str]:
    """The names a module binds to Streamlit or to anything imported from it."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names if a.name.split(".")[0] == "streamlit"}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "streamlit":
            names |= {a.asname or a.name for a in node.names}
    return names


def private_streamlit_uses(source: str) -> list[str]:
    """Each private Streamlit attribute a module touches, or Streamlit internal it imports, with its line."""
    tree = ast.parse(source)
    bound, found = _streamlit_names(tree), []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            imported = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
            if any(m.startswith(STREAMLIT_INTERNALS) for m in modules) or (
                    any(m.split(".")[0] == "streamlit" for m in modules)
                    and any(n.startswith("_") for n in imported)):
                found.append(f"{node.lineno}: import {', '.join(modules)}")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
            root = node.value
            while isinstance(root, ast.Attribute):
                root = root.value
            if isinstance(root, ast.Name) and root.id in bound:
                found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def views_called_by_name(source: str) -> list[str]:
    """Each call that picks a view by a string: `view("ranking", …)` or `getattr(<module>, name)`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        by_string = bool(node.args) and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
        if (called == "view" and by_string) or called == "getattr" and node.args and isinstance(
                node.args[0], ast.Name) and node.args[0].id in {"views", "service", "figures", "labels"}:
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_page_scripts_call_typed_services_and_only_public_streamlit() -> None:
    """Issue 15: no view dispatched by a string name (a typo would fail only at run time), no private Streamlit
    attribute (the old `ensure_routed` flipped `PagesManager.uses_pages_directory`)."""
    offenders = {}
    for path in _page_sources():
        source = path.read_text(encoding="utf-8")
        problems = private_streamlit_uses(source) + views_called_by_name(source)
        if problems:
            offenders[str(path.relative_to(ROOT))] = problems
    assert offenders == {}
    assert not (ROOT / "pages" / "ui.py").exists()
    assert not list((ROOT / "pages").glob("group_*.py")), "group pages are made from the catalogue"


def test_the_page_scan_finds_what_it_forbids() -> None:
    old = ('import streamlit as st\n'
           'from streamlit.runtime.pages_manager import PagesManager\n'
           'from pages import ui\n'
           'PagesManager.uses_pages_directory = False\n'
           'st._config._private = 1\n'
           'ranked = ui.view("ranking", "G2.K1", "2025Q4", "region")\n'
           'function = getattr(views, name)\n')
    assert sorted(p.split(":")[0] for p in private_streamlit_uses(old)) == ["2", "5", "5"]  # `st._config` twice
    assert [p.split(":")[0] for p in views_called_by_name(old)] == ["6", "7"]
    assert private_streamlit_uses("import streamlit as st\nst.session_state['_user'] = 1\n") == []
