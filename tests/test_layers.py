"""Architecture rules that keep the layers one-way and the settings documented."""

from __future__ import annotations

import ast
from pathlib import Path

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
