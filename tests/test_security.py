"""Who may see and change what, through the package itself; audit; backups; crashes; fuzzed uploads."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kpi import audit, auth
from kpi.backup import backup, restore, verify_backup
from kpi.engine import KpiEngine
from kpi.ingest.pipeline import ingest_files
from kpi.store import Store

ROOT = Path(__file__).resolve().parent.parent


def test_officer_reads_and_writes_only_assigned_entities(store: Store, catalogue, registry, make_return) -> None:
    officer = auth.create_user(store, "abai.officer", "correct horse battery", "officer", entities=["akimat_abai"])
    scope = officer.scope
    own = make_return("akimat_abai", "2025Q1", {"subdivisions_total": 4, "subdivisions_analysed": 2})
    other = make_return("akimat_astana", "2025Q1", {"subdivisions_total": 4, "subdivisions_analysed": 4})
    report = ingest_files(store, catalogue, registry, [own, other], scope=scope, uploaded_by=officer.username)
    assert [o.status for o in report.outcomes] == ["new", "rejected"]
    assert report.outcomes[1].issues[0].code == "forbidden_entity"
    # An analyst loads the other return; the officer still cannot read it, nor any national figure.
    assert ingest_files(store, catalogue, registry, [other]).ok
    engine = KpiEngine(catalogue, registry)
    rows = engine.compute(store.cursor(), ["2025Q1"], scope=scope)
    assert {(v.level, v.key) for v in rows} == {("entity", "akimat_abai")}
    analyst_rows = engine.compute(store.cursor(), ["2025Q1"], metrics=["G1.K1"], levels=["national"])
    assert analyst_rows[0].value == pytest.approx(75.0)


def test_roles_and_scopes() -> None:
    analyst = auth.User("a", "A", "analyst")
    admin = auth.User("b", "B", "admin")
    officer = auth.User("c", "C", "officer", frozenset({"akimat_abai"}))
    assert analyst.scope.entities is None and not analyst.can_upload
    assert admin.scope.entities is None and admin.can_upload and admin.is_admin
    assert officer.scope.entities == frozenset({"akimat_abai"}) and officer.can_upload and not officer.is_admin
    assert auth.scope_for(None).entities == frozenset()


def test_sign_in_lock_out_and_audit(store: Store) -> None:
    auth.create_user(store, "analyst1", "a long passphrase", "analyst")
    assert auth.sign_in(store, "analyst1", "a long passphrase").user is not None
    now = dt.datetime(2026, 1, 5, 10, 0)
    for _ in range(4):
        assert auth.sign_in(store, "analyst1", "wrong", now=now).reason == "bad_credentials"
    locked = auth.sign_in(store, "analyst1", "wrong", max_failures=5, now=now)
    assert locked.reason == "locked" and locked.locked_until == now + dt.timedelta(minutes=15)
    # Even the right password is refused while locked, and accepted once the lock has passed.
    assert auth.sign_in(store, "analyst1", "a long passphrase", now=now + dt.timedelta(minutes=5)).reason == "locked"
    assert auth.sign_in(store, "analyst1", "a long passphrase", now=now + dt.timedelta(minutes=16)).user is not None
    assert auth.sign_in(store, "nobody", "whatever").reason == "bad_credentials"
    events = audit.read(store.audit_path)
    actions = [e["action"] for e in events]
    assert actions.count("sign_in") == 2 and actions.count("sign_in_failed") == 7
    assert audit.verify(store.audit_path)
    hashes = [u for u in auth.list_users(store)]
    assert "password_hash" not in hashes[0]


def test_audit_chain_detects_tampering(store: Store, catalogue, registry, make_return) -> None:
    ingest_files(store, catalogue, registry, [make_return("akimat_abai", "2025Q1")], uploaded_by="officer1")
    bad = store.db_path.parent / "bad.xlsx"
    bad.write_text("not a workbook")
    ingest_files(store, catalogue, registry, [bad], uploaded_by="officer1")
    events = audit.read(store.audit_path)
    assert [e["action"] for e in events] == ["upload_new", "upload_rejected"]
    assert events[1]["detail"]["errors"] == ["not_spreadsheet"]
    assert len(events[0]["detail"]["sha256"]) == 64
    lines = store.audit_path.read_text(encoding="utf-8").splitlines()
    forged = json.loads(lines[0])
    forged["actor"] = "someone else"
    store.audit_path.write_text("\n".join([json.dumps(forged, ensure_ascii=False, sort_keys=True), lines[1]]) + "\n",
                                encoding="utf-8")
    assert not audit.verify(store.audit_path)


def test_first_admin(store: Store) -> None:
    generated = auth.ensure_admin(store)
    assert generated and len(generated) >= 12
    assert auth.sign_in(store, "admin", generated).user.is_admin  # type: ignore[union-attr]
    assert auth.ensure_admin(store) is None  # only once


def test_backup_and_restore_round_trip(store: Store, catalogue, registry, make_return, tmp_path: Path) -> None:
    assert ingest_files(store, catalogue, registry, [make_return("akimat_abai", "2025Q1", {"offences_criminal": 3})]).ok
    manifest = backup(store, tmp_path / "backup")
    assert "parasat.duckdb" in manifest["files"] and any(f.startswith("archive/") for f in manifest["files"])
    assert verify_backup(tmp_path / "backup") == []
    target = tmp_path / "restored" / "p.duckdb"
    restore(tmp_path / "backup", target)
    with Store(target) as restored:
        assert restored.cursor().execute("SELECT value FROM current_value WHERE measure = 'offences_criminal'"
                                         ).fetchone() == (3,)
        assert len(restored.archive.shas()) == 1
        assert audit.verify(restored.audit_path)
    archived = next((tmp_path / "backup" / "archive" / "packs").glob("*.zip"))
    archived.write_bytes(b"tampered")
    assert verify_backup(tmp_path / "backup") == [str(archived.relative_to(tmp_path / "backup"))]
    with pytest.raises(ValueError, match="checksum"):
        restore(tmp_path / "backup", tmp_path / "again.duckdb")


def test_sigkill_mid_batch_leaves_no_partial_return(tmp_path: Path, make_return) -> None:
    """Kill the ingest process while it writes a batch: earlier returns intact, none half-written."""
    db = tmp_path / "crash.duckdb"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    first = make_return("akimat_abai", "2025Q1", {"offences_criminal": 7}, name="first.xlsx")
    subprocess.run([sys.executable, "-m", "kpi", "ingest", "--db", str(db), str(first)], check=True, env=env,
                   cwd=ROOT, capture_output=True)
    batch = [make_return(code, "2025Q2", {"offences_criminal": 1}, name=f"b-{code}.xlsx")
             for code in ("akimat_abai", "akimat_astana", "akimat_jetisu", "akimat_ulytau", "akimat_almaty",
                          "akimat_shymkent", "akimat_atyrau", "akimat_akmola")]
    batch *= 1  # eight files: long enough to be caught in the middle
    outcomes = set()
    for delay in (0.3, 0.6, 0.9, 1.2):
        proc = subprocess.Popen([sys.executable, "-m", "kpi", "ingest", "--db", str(db), *map(str, batch)],
                                env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Store(db) as reopened:
            cur = reopened.cursor()
            counts = dict(cur.execute("SELECT period, count(*) FROM current_return GROUP BY period").fetchall())
            assert counts.get("2025Q1") == 1
            assert cur.execute("SELECT value FROM current_value WHERE period = '2025Q1' AND "
                               "measure = 'offences_criminal'").fetchone() == (7,)
            # Every return present has all of its figures: no partial return exists.
            partial = cur.execute("""
                SELECT r.return_id FROM return_version r LEFT JOIN return_value v USING (return_id)
                GROUP BY r.return_id HAVING count(v.measure) <> 44
            """).fetchall()
            assert partial == []
            outcomes.add(counts.get("2025Q2", 0))
        if counts.get("2025Q2"):
            break
    assert outcomes <= {0, 8}


def _mutations(data: bytes, seed: int, count: int) -> bytes:
    rng = random.Random(seed)
    buffer = bytearray(data)
    for _ in range(count):
        kind = rng.randrange(4)
        position = rng.randrange(len(buffer))
        if kind == 0:
            buffer[position] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del buffer[position:position + rng.randint(1, 64)]
        elif kind == 2:
            buffer[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        else:
            buffer = buffer[:position] if position > 100 else buffer
    return bytes(buffer)


def _mutate_xml(data: bytes, seed: int) -> bytes:
    """A valid zip whose return-sheet XML has been damaged (reaches the XML parsers, not just the zip checks)."""
    rng = random.Random(seed)
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info.filename)
            if info.filename.endswith(("sheet2.xml", "workbook.xml")) and rng.random() < 0.7:
                content = _mutations(content, seed, rng.randint(1, 6))
            target.writestr(info.filename, content)
    return out.getvalue()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seeds=st.lists(st.integers(min_value=0, max_value=2**31), min_size=6, max_size=6))
def test_fuzzed_workbooks_never_crash_hang_or_half_write(seeds: list[int], tmp_path_factory) -> None:
    from kpi.catalogue import load_catalogue, load_registry
    from kpi.sample import fill_by_names
    from kpi.template import build_template
    from tests.conftest import zero_values

    catalogue, registry = load_catalogue(), load_registry()
    work = tmp_path_factory.mktemp("fuzz")
    good = fill_by_names(build_template(catalogue, registry, "akimat_abai", "2025Q1"),
                         zero_values(catalogue, registry, "akimat_abai"))
    paths = []
    for index, seed in enumerate(seeds):
        mutated = _mutations(good, seed, 1 + seed % 5) if index % 2 else _mutate_xml(good, seed)
        path = work / f"fuzz-{index}.xlsx"
        path.write_bytes(mutated)
        paths.append(path)
    with Store(work / "fuzz.duckdb") as store:
        started = time.monotonic()
        report = ingest_files(store, catalogue, registry, paths)
        assert time.monotonic() - started < 60
        cur = store.cursor()
        written = [o for o in report.outcomes if o.status in ("new", "new_version")]
        assert cur.execute("SELECT count(*) FROM return_version").fetchone()[0] == len(written)
        partial = cur.execute("""
            SELECT r.return_id FROM return_version r LEFT JOIN return_value v USING (return_id)
            GROUP BY r.return_id HAVING count(v.measure) <> 44
        """).fetchall()
        assert partial == []
        for outcome in report.outcomes:
            if not outcome.accepted:
                assert outcome.issues and all(i.message("en") for i in outcome.issues)
