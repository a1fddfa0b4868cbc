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


@pytest.mark.both_stores
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


@pytest.mark.both_stores
def test_sign_in_lock_out_and_audit(store: Store) -> None:
    auth.create_user(store, "analyst1", "a long passphrase", "analyst")
    assert auth.sign_in(store, "analyst1", "a long passphrase").user is not None
    now = dt.datetime(2026, 1, 5, 10, 0)
    for _ in range(5):
        assert auth.sign_in(store, "analyst1", "wrong", max_failures=5, now=now).reason == "bad_credentials"
    row = store.cursor().execute("SELECT failed_attempts, locked_until FROM app_user WHERE username = 'analyst1'"
                                 ).fetchone()
    assert row == (5, now + dt.timedelta(minutes=15))
    # Even the right password is refused while locked, with the same answer, and accepted once the lock has passed.
    assert auth.sign_in(store, "analyst1", "a long passphrase", now=now + dt.timedelta(minutes=5)).reason == \
        "bad_credentials"
    assert auth.sign_in(store, "analyst1", "a long passphrase", now=now + dt.timedelta(minutes=16)).user is not None
    assert auth.sign_in(store, "nobody", "whatever").reason == "bad_credentials"
    events = audit.read(store)
    actions = [e["action"] for e in events]
    assert actions.count("sign_in") == 2 and actions.count("sign_in_failed") == 7
    reasons = [e["detail"]["reason"] for e in events if e["action"] == "sign_in_failed"]
    assert reasons == ["bad_password"] * 5 + ["locked", "unknown_user"]
    assert audit.verify(store)
    hashes = [u for u in auth.list_users(store)]
    assert "password_hash" not in hashes[0]


@pytest.mark.both_stores
def test_parallel_wrong_guesses_are_all_counted_and_lock_the_account(store: Store) -> None:
    """Attack replay: 20 threads guessing at once left failed_attempts=1 and no lock (read, check, write count+1)."""
    from concurrent.futures import ThreadPoolExecutor

    auth.create_user(store, "target", "the right password", "analyst")
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: auth.sign_in(store, "target", f"guess {i}", max_failures=5), range(20)))
    assert all(r.user is None and r.reason == "bad_credentials" for r in results)
    failed, locked_until = store.cursor().execute(
        "SELECT failed_attempts, locked_until FROM app_user WHERE username = 'target'").fetchone()
    assert failed == 20
    assert locked_until is not None and locked_until > auth.now_utc()
    assert auth.sign_in(store, "target", "the right password").user is None  # locked: the right one is refused too
    assert [e["action"] for e in audit.read(store)].count("sign_in_failed") == 21
    assert audit.verify(store)


@pytest.mark.both_stores
def test_wrong_password_unknown_user_and_locked_account_look_the_same(store: Store, monkeypatch) -> None:
    """Attack replay: the lock-out message and the timing told which usernames exist."""
    auth.create_user(store, "known", "the right password", "analyst")
    auth.create_user(store, "locked", "the right password", "analyst")
    for _ in range(5):
        auth.sign_in(store, "locked", "wrong password")
    checks: list[str] = []
    real_verify = auth._verify
    monkeypatch.setattr(auth, "_verify", lambda h, p: checks.append(h) or real_verify(h, p))
    outcomes = {name: auth.sign_in(store, name, password) for name, password in
                (("known", "wrong password"), ("nobody", "wrong password"), ("locked", "the right password"),
                 ("x" * 40_000, "y" * 100_000))}
    assert set(outcomes.values()) == {auth.SignInResult(None, "bad_credentials")}
    assert len(checks) == 4  # one argon2 check per attempt, whoever it names: the same work, the same time


def test_unlock_from_the_command_line(tmp_path: Path) -> None:
    from kpi.cli import main

    db = tmp_path / "u.duckdb"
    with Store(db) as store:
        auth.create_user(store, "officer7", "the right password", "analyst")
        for _ in range(5):
            auth.sign_in(store, "officer7", "wrong password")
        assert auth.sign_in(store, "officer7", "the right password").user is None
    assert main(["users", "unlock", "officer7", "--db", str(db)]) == 0
    assert main(["users", "unlock", "nobody", "--db", str(db)]) == 2
    with Store(db) as store:
        assert auth.sign_in(store, "officer7", "the right password").user is not None
        assert "user_unlocked" in [e["action"] for e in audit.read(store)]


@pytest.mark.both_stores
def test_a_huge_username_cannot_stop_sign_ins(store: Store) -> None:
    """Attack replay: a 40,000-character username made one 80 KB audit line and every later audit write failed."""
    auth.create_user(store, "admin", "the admin password", "admin")
    for _ in range(3):
        assert auth.sign_in(store, "Ә" * 40_000, "x" * 40_000).user is None
    assert auth.sign_in(store, "admin", "the admin password").user is not None
    events = audit.read(store)
    failed = [e for e in events if e["action"] == "sign_in_failed"]
    assert len(failed) == 3 and all(len(e["actor"]) == audit.MAX_ACTOR for e in failed)
    assert failed[0]["detail"]["_cut"] == {"actor": 40_000, "subject": 40_000}
    assert len(failed[0]["subject"]) == audit.MAX_SUBJECT
    assert events[-1]["action"] == "sign_in" and audit.verify(store)


@pytest.mark.both_stores
def test_a_batch_with_thousands_of_errors_is_recorded_bounded(store: Store) -> None:
    """Attack replay: an officer confirming one file with ~4,000 errors broke the trail for everyone."""
    audit.record(store, "officer1", "upload_rejected", "big.xlsx", errors=["bad_number"] * 4000,
                 note="n" * 100_000, nested={"deep": {"deeper": {"deepest": {"bottom": list(range(10))}}}})
    event = audit.read(store)[-1]
    assert event["detail"]["errors"] == ["bad_number"] * audit.MAX_ITEMS
    assert event["detail"]["_cut"]["detail.errors"] == 4000
    assert event["detail"]["_cut"]["detail.note"] == 100_000
    assert len(json.dumps(event["detail"])) <= audit.MAX_DETAIL
    audit.record(store, "officer1", "upload_new", "next.xlsx")
    assert audit.verify(store) and len(audit.read(store)) == 2


@pytest.mark.both_stores
def test_an_event_is_written_in_the_transaction_of_its_change(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as cur:
        cur.execute("INSERT INTO kpi_target VALUES ('G2.K1', 2031, 1, 'analyst', 'a', now())")
        audit.record(store, "a", "target_set", "G2.K1", cur=cur)
        raise RuntimeError("the change fails")
    assert audit.read(store) == [] and audit.verify(store)
    from kpi.service import set_target

    set_target(store, "G2.K1", 2031, 50.0, actor="a")
    assert [e["action"] for e in audit.read(store)] == ["target_set"]


def _trail(store: Store, count: int = 5) -> None:
    for i in range(count):
        audit.record(store, f"user{i}", "export", f"table{i}", format="csv")


def _rehash(store: Store) -> None:
    """What an attacker who can write the database but lacks the secret does: recompute every hash."""
    cur = store.cursor()
    previous = audit.GENESIS
    for seq, at, actor, action, subject, detail in cur.execute(
            "SELECT seq, recorded_at, actor, action, subject, detail FROM audit_event ORDER BY seq").fetchall():
        digest = audit._digest(seq, at, actor, action, subject, detail, previous)
        cur.execute("UPDATE audit_event SET prev = ?, hash = ? WHERE seq = ?", [previous, digest, seq])
        previous = digest


TAMPERING = {
    "edited": ("UPDATE audit_event SET actor = 'someone else' WHERE seq = 3", False, 3, "edited"),
    "edited_rehashed": ("UPDATE audit_event SET actor = 'someone else' WHERE seq = 3", True, 3, "key"),
    "deleted": ("DELETE FROM audit_event WHERE seq = 2", False, 2, "missing"),
    "deleted_renumbered": ("DELETE FROM audit_event WHERE seq = 2; UPDATE audit_event SET seq = seq - 1 "
                           "WHERE seq > 2", True, 2, "key"),
    "inserted": ("UPDATE audit_event SET seq = seq + 1 WHERE seq >= 3; INSERT INTO audit_event "
                 "SELECT 3, recorded_at, 'intruder', action, subject, detail, prev, hash, mac FROM audit_event "
                 "WHERE seq = 2", True, 3, "key"),
    "reordered": ("UPDATE audit_event SET seq = CASE seq WHEN 2 THEN 4 WHEN 4 THEN 2 ELSE seq END", False, 2, "chain"),
    "tail_cut": ("DELETE FROM audit_event WHERE seq >= 4", False, 4, "tail_cut"),
    "last_line_removed": ("DELETE FROM audit_event WHERE seq = 5", False, 5, "tail_cut"),
    "head_rewound": ("DELETE FROM audit_event WHERE seq = 5; UPDATE meta SET value = 'x:y:z' "
                     "WHERE key = 'audit_head'", False, None, "head_altered"),
    "malformed": ("UPDATE audit_event SET detail = '{not json', recorded_at = '' WHERE seq = 1", False, 1, "edited"),
}


@pytest.mark.parametrize("attack", list(TAMPERING))
def test_audit_verification_finds_every_kind_of_tampering(store: Store, attack: str) -> None:
    """Attack replay: removing the last line or deleting events and recomputing the hashes passed; a bad line raised."""
    sql, rehash, first_bad, problem = TAMPERING[attack]
    _trail(store)
    assert audit.verify(store) == audit.Verification(True, 5)
    cur = store.cursor()
    for statement in sql.split(";"):
        cur.execute(statement)
    if rehash:
        _rehash(store)
    verdict = audit.verify(store)
    assert not verdict.ok
    assert (verdict.first_bad, verdict.problem) == (first_bad, problem)
    assert verdict.message("en").startswith("WARNING")
    audit.record(store, "admin", "sign_in")  # the trail still takes new events
    assert not audit.verify(store).ok


def test_audit_verify_command_names_the_first_bad_event(tmp_path: Path, capsys) -> None:
    from kpi.cli import main

    db = tmp_path / "a.duckdb"
    with Store(db) as store:
        _trail(store)
    assert main(["audit", "verify", "--db", str(db), "--lang", "en"]) == 0
    assert "Events checked: 5" in capsys.readouterr().out
    with Store(db) as store:
        store.cursor().execute("UPDATE audit_event SET subject = 'other' WHERE seq = 4")
    assert main(["audit", "verify", "--db", str(db), "--lang", "en"]) == 1
    assert "First bad event: No. 4" in capsys.readouterr().err
    (tmp_path / "a.secret").unlink()
    assert main(["audit", "verify", "--db", str(db), "--lang", "en"]) == 1
    assert "a.secret" in capsys.readouterr().err


def test_the_secret_lives_beside_the_database_readable_by_the_owner_only(store: Store) -> None:
    secret_file = audit.secret_path(store.db_path)
    assert secret_file.exists() and secret_file.parent == store.db_path.parent
    assert secret_file.stat().st_mode & 0o777 == 0o600
    assert secret_file.read_text().strip() not in store.db_path.read_bytes().hex()


def test_an_older_json_lines_trail_is_imported_once(tmp_path: Path) -> None:
    db = tmp_path / "old.duckdb"
    lines, previous = [], audit.GENESIS
    for i in range(3):
        entry = {"at": f"2025-01-0{i + 1}T00:00:00+00:00", "actor": "cli", "action": "upload_new",
                 "subject": f"f{i}.xlsx", "detail": {"sha256": "ab" * 32}, "prev": previous}
        body = json.dumps(entry, ensure_ascii=False, sort_keys=True)
        import hashlib

        entry["hash"] = previous = hashlib.sha256(body.encode()).hexdigest()
        lines.append(json.dumps(entry, ensure_ascii=False, sort_keys=True))
    db.with_suffix(".audit.jsonl").write_text("\n".join([*lines, "{broken"]) + "\n", encoding="utf-8")
    for _ in range(2):
        with Store(db) as store:
            events = audit.read(store)
    assert [e["action"] for e in events] == ["upload_new"] * 3 + ["unreadable_line", "audit_imported"]
    assert events[0]["detail"]["_imported_at"] == "2025-01-01T00:00:00+00:00"
    assert events[-1]["detail"] == {"events": 4, "chain_intact": False}
    with Store(db) as store:
        assert audit.verify(store)


@pytest.mark.both_stores
def test_uploads_and_refused_uploads_are_on_the_trail(store: Store, catalogue, registry, make_return,
                                                      tmp_path: Path) -> None:
    ingest_files(store, catalogue, registry, [make_return("akimat_abai", "2025Q1")], uploaded_by="officer1")
    bad = tmp_path / "bad.xlsx"
    bad.write_text("not a workbook")
    ingest_files(store, catalogue, registry, [bad], uploaded_by="officer1")
    events = audit.read(store.audit_path)  # the older calling form (the trail's former file path) still works
    assert [e["action"] for e in events] == ["upload_new", "upload_rejected"]
    assert events[1]["detail"]["errors"] == ["not_spreadsheet"]
    assert len(events[0]["detail"]["sha256"]) == 64
    assert audit.verify(store.audit_path)


@pytest.mark.both_stores
def test_first_admin(store: Store) -> None:
    generated = auth.ensure_admin(store)
    assert generated and len(generated) >= 12
    assert auth.sign_in(store, "admin", generated).user.is_admin  # type: ignore[union-attr]
    assert auth.ensure_admin(store) is None  # only once


def _backed_up(store: Store, catalogue, registry, make_return, folder: Path) -> Path:
    assert ingest_files(store, catalogue, registry, [make_return("akimat_abai", "2025Q1", {"offences_criminal": 3})]).ok
    backup(store, folder)
    return folder


def test_backup_and_restore_round_trip(store: Store, catalogue, registry, make_return, tmp_path: Path) -> None:
    folder = _backed_up(store, catalogue, registry, make_return, tmp_path / "backup")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "parasat.duckdb" in manifest["files"] and any(f.startswith("archive/") for f in manifest["files"])
    assert len(manifest["signature"]) == 64 and not any("secret" in f for f in manifest["files"])
    assert verify_backup(folder, store.secret) == []
    target = tmp_path / "restored" / "p.duckdb"
    with pytest.raises(ValueError, match="secret"):  # a new place has no secret: it must be given
        restore(folder, target)
    restore(folder, target, secret=store.secret)
    assert audit.secret_path(target).read_bytes().strip() == store.secret.hex().encode()
    with Store(target) as restored:
        assert restored.cursor().execute("SELECT value FROM current_value WHERE measure = 'offences_criminal'"
                                         ).fetchone() == (3,)
        assert len(restored.archive.shas()) == 1
        assert audit.verify(restored) and audit.read(restored)[0]["action"] == "upload_new"
    archived = next((folder / "archive" / "packs").glob("*.zip"))
    archived.write_bytes(b"tampered")
    assert verify_backup(folder, store.secret) == [f"{archived.relative_to(folder).as_posix()}: checksum mismatch"]
    with pytest.raises(ValueError, match="checksum"):
        restore(folder, tmp_path / "again.duckdb", secret=store.secret)
    assert not (tmp_path / "again.duckdb").exists()


def _resign(folder: Path, change) -> None:
    """What an attacker without the secret does: change the backup and bring the manifest's checksums up to date."""
    import hashlib

    manifest = json.loads((folder / "manifest.json").read_text())
    change(manifest)
    for name in list(manifest["files"]):
        if (folder / name).is_file():
            manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_a_tampered_database_with_an_updated_manifest_is_not_restored(store: Store, catalogue, registry, make_return,
                                                                      tmp_path: Path) -> None:
    """Attack replay: a tampered database with an updated manifest restored."""
    folder = _backed_up(store, catalogue, registry, make_return, tmp_path / "backup")
    with Store(folder / "parasat.duckdb") as forged:
        forged.cursor().execute("UPDATE return_value SET value = 999 WHERE measure = 'offences_criminal'")
        forged.cursor().execute("CHECKPOINT")
    for leftover in folder.glob("parasat.*"):
        if leftover.name != "parasat.duckdb":
            leftover.unlink()
    _resign(folder, lambda m: None)
    target = tmp_path / "live" / "p.duckdb"
    with Store(target) as live:
        live_secret = live.secret
    before = target.read_bytes()
    with pytest.raises(ValueError, match="signature"):
        restore(folder, target, force=True, secret=store.secret)
    with pytest.raises(ValueError, match="signature"):
        restore(folder, target, force=True)  # the target's own secret: another installation's
    assert target.read_bytes() == before and live_secret
    assert not list(target.parent.glob(".restore-*"))


def test_a_file_left_out_of_the_manifest_is_not_restored(store: Store, catalogue, registry, make_return,
                                                         tmp_path: Path) -> None:
    """Attack replay: files left out of the manifest were copied unchecked."""
    folder = _backed_up(store, catalogue, registry, make_return, tmp_path / "backup")
    (folder / "archive" / "packs" / "extra.zip").write_bytes(b"PK planted")
    with pytest.raises(ValueError, match="extra.zip: not in the manifest"):
        restore(folder, tmp_path / "t.duckdb", secret=store.secret)
    assert not (tmp_path / "t.duckdb").exists() and not (tmp_path / "t.archive").exists()


@pytest.mark.parametrize("entry", ["archive/../../../x", "/tmp/x", "archive/./x", "x", "../parasat.duckdb",
                                   "archive\\..\\x", "C:archive/x"])
def test_a_path_outside_the_backup_or_target_is_refused_even_when_signed(store: Store, catalogue, registry,
                                                                         make_return, tmp_path: Path,
                                                                         entry: str) -> None:
    """Attack replay: an entry `archive/../../../x` wrote outside the target."""
    from kpi.backup import _signature

    folder = _backed_up(store, catalogue, registry, make_return, tmp_path / "deep" / "a" / "backup")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"][entry] = "0" * 64
    manifest["signature"] = _signature(store.secret, manifest)  # even with the secret, the path is refused
    (folder / "manifest.json").write_text(json.dumps(manifest))
    target = tmp_path / "deep" / "a" / "target" / "p.duckdb"
    with pytest.raises(ValueError, match="unsafe path"):
        restore(folder, target, secret=store.secret)
    assert not target.exists() and not (tmp_path / "x").exists() and not (tmp_path / "deep" / "x").exists()


def test_a_link_in_the_backup_is_refused(store: Store, catalogue, registry, make_return, tmp_path: Path) -> None:
    folder = _backed_up(store, catalogue, registry, make_return, tmp_path / "backup")
    outside = tmp_path / "outside.txt"
    outside.write_text("secret data")
    pack = next((folder / "archive" / "packs").glob("*.zip"))
    pack.unlink()
    pack.symlink_to(outside)
    _resign(folder, lambda m: None)
    with pytest.raises(ValueError, match="a link"):
        restore(folder, tmp_path / "t.duckdb", secret=store.secret)


def test_restore_from_the_command_line_with_the_secret_file(store: Store, catalogue, registry, make_return,
                                                            tmp_path: Path, capsys) -> None:
    from kpi.cli import main

    folder = _backed_up(store, catalogue, registry, make_return, tmp_path / "backup")
    target = tmp_path / "cli" / "p.duckdb"
    assert main(["restore", str(folder), "--db", str(target)]) == 1
    assert "secret" in capsys.readouterr().err
    assert main(["restore", str(folder), "--db", str(target), "--secret", str(audit.secret_path(store.db_path))]) == 0
    assert main(["audit", "verify", "--db", str(target)]) == 0


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


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actor=st.text(max_size=2000), subject=st.one_of(st.none(), st.text(max_size=2000)),
       detail=st.dictionaries(st.text(max_size=80), st.one_of(st.text(max_size=700), st.integers(), st.floats(),
                                                             st.lists(st.text(max_size=5), max_size=80))),
       column=st.sampled_from(["recorded_at", "actor", "action", "subject", "detail", "prev", "hash", "mac"]),
       forged=st.text(max_size=300))
def test_any_event_is_recorded_and_any_damage_is_reported_without_raising(store: Store, actor: str,
                                                                         subject: str | None, detail: dict,
                                                                         column: str, forged: str) -> None:
    audit.record_many(store, [audit.Event(actor, "export", subject, detail)])
    event = audit.read(store)[-1]
    assert len(event["actor"]) <= audit.MAX_ACTOR and len(json.dumps(event["detail"])) <= audit.MAX_DETAIL
    assert audit.verify(store)
    seq = event["seq"]
    cur = store.cursor()
    original = cur.execute(f"SELECT {column} FROM audit_event WHERE seq = ?", [seq]).fetchone()[0]
    cur.execute(f"UPDATE audit_event SET {column} = ? WHERE seq = ?", [forged, seq])
    verdict = audit.verify(store)
    assert verdict.ok is (forged == original) and (verdict.ok or verdict.first_bad == seq)
    cur.execute(f"UPDATE audit_event SET {column} = ? WHERE seq = ?", [original, seq])
    assert audit.verify(store)
