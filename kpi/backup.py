"""Backups: the database file, the archived uploads and the audit trail, each with its sha256."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from kpi.store import Store

MANIFEST = "manifest.json"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def backup(store: Store, out_dir: Path) -> dict[str, Any]:
    """Copy a consistent snapshot (after a checkpoint) into `out_dir` with a manifest of checksums."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty")
    with store.transaction() as cur:
        cur.execute("SELECT 1")
    store.cursor().execute("CHECKPOINT")
    files: dict[str, str] = {}
    shutil.copy2(store.db_path, out_dir / "parasat.duckdb")
    files["parasat.duckdb"] = _sha256(out_dir / "parasat.duckdb")
    if store.audit_path.exists():
        shutil.copy2(store.audit_path, out_dir / "audit.jsonl")
        files["audit.jsonl"] = _sha256(out_dir / "audit.jsonl")
    if store.archive_dir.exists():
        for source in sorted(store.archive_dir.rglob("*")):
            if source.is_file() and not source.name.startswith("."):
                relative = Path("archive") / source.relative_to(store.archive_dir)
                (out_dir / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, out_dir / relative)
                files[str(relative)] = _sha256(out_dir / relative)
    manifest = {"created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "source": str(store.db_path), "files": files}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    return manifest


def verify_backup(backup_dir: Path) -> list[str]:
    """The files of a backup whose checksum does not match its manifest (or that are missing)."""
    manifest = json.loads((backup_dir / MANIFEST).read_text(encoding="utf-8"))
    bad = []
    for name, expected in manifest["files"].items():
        path = backup_dir / name
        if not path.exists() or _sha256(path) != expected:
            bad.append(name)
    return bad


def restore(backup_dir: Path, db_path: Path, *, force: bool = False) -> dict[str, Any]:
    """Put a verified backup in place of `db_path` (with its archive and audit trail beside it)."""
    bad = verify_backup(backup_dir)
    if bad:
        raise ValueError(f"checksum mismatch: {', '.join(bad)}")
    if db_path.exists() and not force:
        raise FileExistsError(f"{db_path} exists; pass --force to replace it")
    manifest: dict[str, Any] = json.loads((backup_dir / MANIFEST).read_text(encoding="utf-8"))
    db_path.parent.mkdir(parents=True, exist_ok=True)
    archive_dir = db_path.with_suffix(".archive")
    audit_path = db_path.with_suffix(".audit.jsonl")
    for stale in (db_path.with_name(db_path.name + ".wal"),):
        stale.unlink(missing_ok=True)
    shutil.copy2(backup_dir / "parasat.duckdb", db_path)
    if (backup_dir / "audit.jsonl").exists():
        shutil.copy2(backup_dir / "audit.jsonl", audit_path)
    for name in manifest["files"]:
        if name.startswith("archive/"):
            target = archive_dir / Path(name).relative_to("archive")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(backup_dir / name, target)
    return manifest
