"""Parasat settings: one typed object, from defaults, an optional TOML file and the environment."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DB = PROJECT_ROOT / "var" / "parasat.duckdb"
AGENCY_TIME_ZONE = "Asia/Almaty"  # deadlines fall on Kazakhstan's calendar days (UTC+5 since 2024)
SETTINGS_FILE = Path(os.environ.get("PARASAT_SETTINGS_FILE", PROJECT_ROOT / "parasat.toml"))


class Settings(BaseSettings):
    """Every setting Parasat reads; each field documents itself and can be set as PARASAT_<NAME>."""

    model_config = SettingsConfigDict(env_prefix="PARASAT_", extra="forbid", toml_file=SETTINGS_FILE)

    db_path: Path | str = Field(
        DEFAULT_DB,
        description="The database the app and the CLI use: an embedded DuckDB file, or a postgresql:// URL "
        "(several servers on one database); KPI_DB overrides it too.",
    )
    secret_file: Path | None = Field(
        None, description="The audit and backup key of a database named by a postgresql:// URL: every server "
        "of that database needs a copy of the same file. Unset, var/postgres-<host>-<port>-<db>.secret; "
        "created only when the database is new (a DuckDB file keeps its key beside it, <db>.secret).")
    sample_dir: Path = Field(
        PROJECT_ROOT / "data" / "sample",
        description="Sample returns loaded into the default database on first run.",
    )
    max_upload_bytes: int = Field(
        5 * 1024 * 1024, description="A return larger than this is refused before any parsing."
    )
    max_zip_entries: int = Field(64, description="A workbook with more zip entries is refused.")
    max_uncompressed_bytes: int = Field(
        40 * 1024 * 1024, description="Largest total uncompressed size of a workbook's parts."
    )
    max_compression_ratio: int = Field(
        120, description="Largest uncompressed/compressed ratio of one zip entry (zip-bomb guard)."
    )
    reader_memory_bytes: int = Field(
        1536 * 1024 * 1024, description="Address-space limit of the sandboxed reader process."
    )
    reader_timeout_seconds: float = Field(
        20.0, description="Time a single file may take in the sandboxed reader before it is refused."
    )
    reader_threads: int = Field(2, description="Reader threads inside each sandboxed worker process.")
    reader_processes: int = Field(
        2, description="Sandboxed worker processes a large batch is split over (one per core is best).")
    submission_deadline_days: int = Field(
        10, description="Calendar days after a quarter's end by which its return is due."
    )
    coverage_threshold: float = Field(
        0.8, ge=0, le=1, description="Share of expected returns a period needs (over the whole registry) to be "
        "the default view and not be marked provisional.")
    at_risk_margin: float = Field(
        0.1, description="A value within this fraction of its target counts as 'at risk', not 'missed'."
    )
    default_language: str = Field("kk", description="Language of the interface when none is chosen.")
    login_max_failures: int = Field(5, description="Wrong passwords in a row before an account is locked.")
    login_lockout_minutes: int = Field(15, description="How long a locked account stays locked.")
    session_idle_minutes: int = Field(
        480, ge=5, le=30 * 24 * 60, description="A signed-in session (kept across reloads and tabs by a cookie) "
        "ends after this many minutes without use.")
    admin_password: SecretStr | None = Field(
        None, description="Password of the first admin, created on first run; when unset one is generated "
        "and printed once to the server log.")
    require_sign_in: bool = Field(
        True, description="Ask for sign-in in the app; set false only for a private single-user demo.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def is_database_url(target: object) -> bool:
    """Whether a database is named by a PostgreSQL URL (not a file path)."""
    return isinstance(target, str) and target.startswith(("postgresql://", "postgres://"))


def _target(target: str | os.PathLike[str]) -> str | Path:
    return str(target) if is_database_url(target) else Path(target)


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> tuple[str | Path, bool]:
    """The database to use (a file path, or a postgresql:// URL as text) and whether it is the app's default
    (which gets the sample data)."""
    if explicit:
        return _target(explicit), False
    env_db = os.environ.get("KPI_DB")
    if env_db:
        return _target(env_db), False
    return _target(get_settings().db_path), True
