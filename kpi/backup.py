"""Backups: the database file (with its audit trail) and the archived uploads, in a signed manifest of checksums.

A PostgreSQL store (named by a URL) is backed up whole by `pg_dump -Fc` into `parasat.pgdump`: its archived
uploads are a table of the database, so the one dump holds everything; the manifest lists and signs it the
same way. Its restore checks the same things, then runs `pg_restore` in a single transaction (all or nothing).

The manifest is signed (HMAC-SHA256) with the database's secret, which is not in the backup: keep a copy of
`<db>.secret` apart from the backups. A restore checks the signature, that every path stays inside the
backup and the target (no `..`, no absolute path, no link), that every file in the backup is listed and
every listed file matches its checksum; it copies into a temporary folder beside the target, checks the
copies again, and only then swaps them in. Nothing of the target is touched when any check fails.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from kpi import audit
from kpi.archive import archive_dir_for
from kpi.settings import is_database_url
from kpi.store import Store, url_secret_file

MANIFEST = "manifest.json"
FORMAT = 2
DATABASE = "parasat.duckdb"
DUMP = "parasat.pgdump"  # a PostgreSQL store's backup: pg_dump's custom format, archive included
ARCHIVE = "archive"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024
MAX_FILES = 1_000_000


class BackupError(ValueError):
    """A backup that must not be restored, with every reason found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems[:20]) + (f" (+{len(problems) - 20} more)" if len(problems) > 20 else ""))
        self.problems = problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _signature(secret: bytes, manifest: dict[str, Any]) -> str:
    body = json.dumps({k: v for k, v in manifest.items() if k != "signature"}, sort_keys=True, ensure_ascii=True)
    return hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()


def pg_tool(name: str) -> str:
    """A PostgreSQL client program: from PARASAT_PG_BIN (default Debian's /usr/lib/postgresql/15/bin), else PATH."""
    folder = Path(os.environ.get("PARASAT_PG_BIN", "/usr/lib/postgresql/15/bin"))
    if (folder / name).is_file():
        return str(folder / name)
    found = shutil.which(name)
    if found is None:
        raise BackupError([f"{name} is not installed (Debian's postgresql-client-15); set PARASAT_PG_BIN"])
    return found


def _run_tool(argv: list[str], url: str) -> None:
    from kpi.store import pg  # noqa: PLC0415 - only a PostgreSQL store needs the driver

    conninfo, env = pg.tool_connection(url)
    result = subprocess.run([*argv, "--dbname", conninfo], capture_output=True, text=True, check=False,
                            env={**os.environ, **env}, timeout=3600)
    if result.returncode != 0:
        raise BackupError([f"{Path(argv[0]).name} failed: {result.stderr.strip()[-2000:]}"])


def backup(store: Store, out_dir: Path) -> dict[str, Any]:
    """Copy a consistent snapshot (after a checkpoint; for PostgreSQL, one `pg_dump` transaction) into
    `out_dir` with a signed manifest of checksums."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty")
    files: dict[str, str] = {}
    if store.url is not None:
        _run_tool([pg_tool("pg_dump"), "--format=custom", "--no-owner", "--no-privileges",
                   "--file", str(out_dir / DUMP)], store.url)
        files[DUMP] = _sha256(out_dir / DUMP)
        return _signed(store, out_dir, files, "postgresql")
    store.checkpoint()
    shutil.copy2(store.db_path, out_dir / DATABASE)
    files[DATABASE] = _sha256(out_dir / DATABASE)
    if store.archive_dir.exists():
        for source in sorted(store.archive_dir.rglob("*")):
            if source.is_file() and not source.is_symlink() and not source.name.startswith("."):
                relative = PurePosixPath(ARCHIVE, *source.relative_to(store.archive_dir).parts)
                (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, out_dir / relative)
                files[str(relative)] = _sha256(out_dir / relative)
    return _signed(store, out_dir, files, None)


def _signed(store: Store, out_dir: Path, files: dict[str, str], kind: str | None) -> dict[str, Any]:
    manifest: dict[str, Any] = {"format": FORMAT, "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                                "source": store.location, "key_id": audit.key_id(store.secret), "files": files}
    if kind is not None:  # a DuckDB backup's manifest stays as it was
        manifest["store"] = kind
    manifest["signature"] = _signature(store.secret, manifest)
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def _safe_relative(name: object) -> PurePosixPath | None:
    """A manifest entry as a path that stays inside its folder: the database, or a file under archive/."""
    if not isinstance(name, str) or not 0 < len(name) <= 512 or "\\" in name or "\x00" in name or ":" in name:
        return None
    path = PurePosixPath(name)
    if path.is_absolute() or any(part in ("", ".", "..") for part in name.split("/")):
        return None
    if name in (DATABASE, DUMP) or (path.parts[0] == ARCHIVE and len(path.parts) > 1):
        return path
    return None


def _no_links(root: Path, relative: PurePosixPath) -> bool:
    """Whether the path and every folder on the way to it are real (not symbolic links), the last a regular file."""
    current = root
    for part in relative.parts:
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except OSError:
            return False
        if stat.S_ISLNK(mode):
            return False
    return stat.S_ISREG(mode)


def _read_manifest(backup_dir: Path) -> dict[str, Any]:
    path = backup_dir / MANIFEST
    if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_MANIFEST_BYTES:
        raise BackupError([f"{MANIFEST} is missing, a link or too large"])
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError([f"{MANIFEST} is unreadable ({type(exc).__name__})"]) from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), dict):
        raise BackupError([f"{MANIFEST} lists no files"])
    return manifest


def verify_backup(backup_dir: Path, secret: bytes | None = None) -> list[str]:
    """Every reason not to restore a backup (empty when it is sound); with `secret`, the signature is checked too."""
    try:
        manifest = _read_manifest(backup_dir)
    except BackupError as exc:
        return exc.problems
    problems: list[str] = []
    if secret is not None:
        signature = manifest.get("signature")
        if not isinstance(signature, str) or not audit.same_text(signature, _signature(secret, manifest)):
            problems.append("the manifest's signature does not match this database's secret (altered, unsigned, or "
                            "another installation's backup)")
    files: dict[str, Any] = manifest["files"]
    if len(files) > MAX_FILES:
        return [*problems, "the manifest lists too many files"]
    if (DATABASE in files) == (DUMP in files):
        problems.append(f"the manifest does not list {DATABASE} or {DUMP} (one of them)")
    for name, expected in files.items():
        relative = _safe_relative(name)
        if relative is None:
            problems.append(f"unsafe path {str(name)[:120]!r}")
        elif not _no_links(backup_dir, relative):
            problems.append(f"{name}: missing, a link, or not a regular file")
        elif not isinstance(expected, str) or _sha256(backup_dir / relative) != expected:
            problems.append(f"{name}: checksum mismatch")
    for path in sorted(backup_dir.rglob("*")):
        relative_name = path.relative_to(backup_dir).as_posix()
        if relative_name == MANIFEST or (path.is_dir() and not path.is_symlink()):
            continue
        if relative_name not in files:
            problems.append(f"{relative_name}: not in the manifest")
    return problems


def restore(backup_dir: Path, db_path: str | Path, *, force: bool = False,
            secret: bytes | None = None) -> dict[str, Any]:
    """Put a verified backup in place of `db_path` and its archive (or into the PostgreSQL database its URL
    names); the secret is the target's, or given."""
    if is_database_url(db_path):
        return _restore_postgres(backup_dir, str(db_path), force=force, secret=secret)
    db_path = Path(db_path)
    secret = secret or audit.load_secret(db_path, create=False)
    if secret is None:
        raise BackupError([f"no secret to check the backup's signature: put the secret file at "
                           f"{audit.secret_path(db_path)} or pass it with --secret"])
    problems = verify_backup(backup_dir, secret)
    if problems:
        raise BackupError(problems)
    if DATABASE not in _read_manifest(backup_dir)["files"]:
        raise BackupError([f"a PostgreSQL backup ({DUMP}) restores into a postgresql:// URL, not a file"])
    if db_path.exists() and not force:
        raise FileExistsError(f"{db_path} exists; pass --force to replace it")
    manifest = _read_manifest(backup_dir)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".restore-", dir=db_path.parent))
    try:
        for name, expected in manifest["files"].items():
            relative = _safe_relative(name)
            assert relative is not None  # verified above
            target = staging.joinpath(*relative.parts)
            if staging.resolve() not in target.resolve().parents:
                raise BackupError([f"unsafe path {name!r}"])
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(backup_dir.joinpath(*relative.parts), target)
            if _sha256(target) != expected:  # the backup changed while it was being read
                raise BackupError([f"{name}: changed during the restore"])
        _swap(staging, db_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    secret_file = audit.secret_path(db_path)
    if not secret_file.exists():
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secret.hex() + "\n")
    return manifest


def _restore_postgres(backup_dir: Path, url: str, *, force: bool, secret: bytes | None) -> dict[str, Any]:
    """pg_restore a verified dump into the database a URL names, in one transaction (all or nothing)."""
    from kpi.store import pg  # noqa: PLC0415

    secret_file = url_secret_file(url)
    secret = secret or audit.load_secret_file(secret_file, create=False)
    if secret is None:
        raise BackupError([f"no secret to check the backup's signature: put the secret file at {secret_file} "
                           "(PARASAT_SECRET_FILE) or pass it with --secret"])
    problems = verify_backup(backup_dir, secret)
    if problems:
        raise BackupError(problems)
    manifest = _read_manifest(backup_dir)
    if DUMP not in manifest["files"]:
        raise BackupError([f"a DuckDB backup ({DATABASE}) restores into a file, not a postgresql:// URL"])
    if pg.has_returns(url) and not force:
        raise FileExistsError("the target database holds returns; pass --force to replace it")
    with tempfile.TemporaryDirectory(prefix="parasat-restore-") as staging:
        copy = Path(staging) / DUMP
        shutil.copyfile(backup_dir / DUMP, copy)
        if _sha256(copy) != manifest["files"][DUMP]:  # the backup changed while it was being read
            raise BackupError([f"{DUMP}: changed during the restore"])
        _run_tool([pg_tool("pg_restore"), "--single-transaction", "--clean", "--if-exists", "--no-owner",
                   "--no-privileges", "--exit-on-error", str(copy)], url)
    if not secret_file.exists():
        secret_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(secret_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secret.hex() + "\n")
    return manifest


def _swap(staging: Path, db_path: Path) -> None:
    """Move the checked copies into place: the archive folder whole, then the database file (atomic rename)."""
    archive = archive_dir_for(db_path)
    staged_archive = staging / ARCHIVE
    if archive.exists():  # the replaced archive goes with the staging folder
        os.replace(archive, staging / "replaced-archive")
    if staged_archive.exists():
        os.replace(staged_archive, archive)
    db_path.with_name(db_path.name + ".wal").unlink(missing_ok=True)
    os.replace(staging / DATABASE, db_path)
