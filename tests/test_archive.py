"""The archive of accepted uploads: content-addressed, one durable pack per batch, older layout still read."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

from kpi.archive import PACKS, Archive, BackgroundArchiver


def sha(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def test_a_batch_goes_into_one_pack_and_is_read_back_by_content(tmp_path: Path) -> None:
    archive = Archive(tmp_path / "db.archive")
    files = {name: f"return {name}".encode() for name in ("a", "b", "c")}
    pack = archive.pack()
    for content in files.values():
        pack.add(content, sha(content))
    pack.add(files["a"], sha(files["a"]))  # the same content twice is stored once
    path = pack.close()
    assert path is not None and path.parent == tmp_path / "db.archive" / PACKS
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    with zipfile.ZipFile(path) as opened:  # an ordinary zip any tool opens
        assert sorted(opened.namelist()) == sorted(f"{sha(c)}.xlsx" for c in files.values())
    assert archive.shas() == {sha(c) for c in files.values()}
    assert archive.read(sha(files["b"])) == b"return b"
    # A fresh view of the same folder (another process) finds them too; an empty pack leaves no file.
    again = Archive(tmp_path / "db.archive")
    assert sha(files["c"]) in again and again.read(sha(files["c"])) == b"return c"
    assert again.pack().close() is None and len(list(path.parent.glob("*.zip"))) == 1
    # The same content in a later batch: stored in that pack too, still one archived file by content.
    second = again.pack()
    second.add(files["a"], sha(files["a"]))
    assert second.close() is not None
    assert again.shas() == {sha(c) for c in files.values()} and again.read(sha(files["a"])) == b"return a"


def test_a_file_changed_since_it_was_read_is_not_archived(tmp_path: Path) -> None:
    upload = tmp_path / "upload.xlsx"
    upload.write_bytes(b"as read")
    pack = Archive(tmp_path / "db.archive").pack()
    read_sha = sha(b"as read")
    upload.write_bytes(b"changed afterwards")
    assert pack.add_file(str(upload), read_sha) is False
    assert pack.close() is None


def test_an_unfinished_pack_and_the_older_layout(tmp_path: Path) -> None:
    root = tmp_path / "db.archive"
    legacy = root / "ab" / f"{'ab' + '0' * 62}.xlsx"
    legacy.parent.mkdir(parents=True)
    legacy.write_bytes(b"kept by an earlier version")
    (root / PACKS).mkdir()
    (root / PACKS / ".20261130T000000000000-1.zip.tmp").write_bytes(b"PK\x03\x04 cut short")  # a process died
    (root / PACKS / "20261130T000000000001-1.zip").write_bytes(b"PK\x03\x04 damaged on disk")
    archive = Archive(root)
    assert archive.shas() == {legacy.stem}
    assert archive.read(legacy.stem) == b"kept by an earlier version"
    assert archive.read("f" * 64) is None


def test_background_archiver_keeps_only_valid_files_it_may(tmp_path: Path) -> None:
    paths = []
    for name in ("mine", "theirs", "broken"):
        path = tmp_path / f"{name}.xlsx"
        path.write_bytes(name.encode())
        paths.append(str(path))
    archiver = BackgroundArchiver(Archive(tmp_path / "db.archive"), paths, lambda entity: entity == "akimat_abai")
    valid = {"ok": True, "validated": {"data": {"entity": "akimat_abai"}}}
    archiver.on_result(0, {**valid, "sha256": sha(b"mine")})
    archiver.on_result(1, {"ok": True, "sha256": sha(b"theirs"), "validated": {"data": {"entity": "min_finance"}}})
    archiver.on_result(2, {"ok": False, "problem": {"code": "corrupt_zip"}})
    assert archiver.finish() == {sha(b"mine")}
    assert Archive(tmp_path / "db.archive").shas() == {sha(b"mine")}
