"""Who may see and change what: local users with argon2 password hashes, roles, lock-out, access scopes."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kpi import audit
from kpi.store import AccessScope, Store

Role = Literal["analyst", "officer", "admin"]
ROLES: tuple[str, ...] = ("analyst", "officer", "admin")
USERS_SCHEMA = """
CREATE TABLE IF NOT EXISTS app_user (
    username VARCHAR PRIMARY KEY,
    display_name VARCHAR NOT NULL,
    role VARCHAR NOT NULL,
    entities VARCHAR[] NOT NULL DEFAULT [],
    password_hash VARCHAR,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    locked_until TIMESTAMP,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMP NOT NULL DEFAULT current_timestamp
);
"""
_HASHER = PasswordHasher()
# Verifying against this keeps an unknown user's sign-in as slow as a known one's (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class User:
    """A signed-in person: their role and, for an officer, the entities assigned to them."""

    username: str
    display_name: str
    role: str
    entities: frozenset[str] = frozenset()

    @property
    def scope(self) -> AccessScope:
        """What this user may read and write: officers only their entities, everyone else everything."""
        if self.role == "officer":
            return AccessScope(entities=self.entities, actor=self.username)
        return AccessScope(entities=None, actor=self.username)

    @property
    def can_upload(self) -> bool:
        return self.role in ("officer", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


@dataclass(frozen=True)
class SignInResult:
    """The outcome of a sign-in attempt: a user, or why not (bad_credentials | locked)."""

    user: User | None
    reason: str | None = None
    locked_until: dt.datetime | None = None


class AuthError(ValueError):
    """A user-management request that cannot be carried out."""


def ensure_schema(store: Store) -> None:
    """Create the user table if it is not there."""
    cur = store.cursor()
    cur.execute(USERS_SCHEMA)
    cur.close()


def _row_user(row: tuple[object, ...]) -> User:
    username, display_name, role, entities = row[:4]
    return User(str(username), str(display_name), str(role), frozenset(entities or []))  # type: ignore[call-overload]


def create_user(store: Store, username: str, password: str | None, role: str, *, display_name: str | None = None,
                entities: list[str] | None = None, actor: str = "system") -> User:
    """Add a user; an officer must be assigned at least one entity."""
    ensure_schema(store)
    if role not in ROLES:
        raise AuthError(f"unknown role {role!r}")
    if role == "officer" and not entities:
        raise AuthError("an officer needs at least one entity")
    if password is not None and len(password) < 10:
        raise AuthError("a password needs at least 10 characters")
    password_hash = _HASHER.hash(password) if password is not None else None
    with store.transaction() as cur:
        if cur.execute("SELECT 1 FROM app_user WHERE username = ?", [username]).fetchone():
            raise AuthError(f"user {username!r} exists")
        cur.execute(
            "INSERT INTO app_user (username, display_name, role, entities, password_hash) VALUES (?, ?, ?, ?, ?)",
            [username, display_name or username, role, entities or [], password_hash],
        )
    audit.record(store.audit_path, actor, "user_created", username, role=role, entities=entities or [])
    return User(username, display_name or username, role, frozenset(entities or []))


def set_password(store: Store, username: str, password: str, *, actor: str) -> None:
    """Replace a user's password and lift any lock-out."""
    if len(password) < 10:
        raise AuthError("a password needs at least 10 characters")
    with store.transaction() as cur:
        cur.execute("UPDATE app_user SET password_hash = ?, failed_attempts = 0, locked_until = NULL "
                    "WHERE username = ?", [_HASHER.hash(password), username])
    audit.record(store.audit_path, actor, "password_set", username)


def update_user(store: Store, username: str, *, role: str | None = None, entities: list[str] | None = None,
                active: bool | None = None, actor: str) -> None:
    """Change a user's role, entities or whether they may sign in."""
    if role is not None and role not in ROLES:
        raise AuthError(f"unknown role {role!r}")
    with store.transaction() as cur:
        if role is not None:
            cur.execute("UPDATE app_user SET role = ? WHERE username = ?", [role, username])
        if entities is not None:
            cur.execute("UPDATE app_user SET entities = ? WHERE username = ?", [entities, username])
        if active is not None:
            cur.execute("UPDATE app_user SET active = ? WHERE username = ?", [active, username])
    audit.record(store.audit_path, actor, "user_updated", username, role=role, entities=entities, active=active)


def list_users(store: Store) -> list[dict[str, object]]:
    """Every user with role, entities, state; never a hash."""
    ensure_schema(store)
    cur = store.cursor()
    rows = cur.execute("SELECT username, display_name, role, entities, active, failed_attempts, locked_until, "
                       "created_at FROM app_user ORDER BY username").fetchall()
    keys = ("username", "display_name", "role", "entities", "active", "failed_attempts", "locked_until", "created_at")
    return [dict(zip(keys, row)) for row in rows]


def get_user(store: Store, username: str) -> User | None:
    """An active user by name (used for identity-provider sign-in, where the provider checked the password)."""
    ensure_schema(store)
    row = store.cursor().execute(
        "SELECT username, display_name, role, entities FROM app_user WHERE username = ? AND active",
        [username]).fetchone()
    return _row_user(row) if row else None


def sign_in(store: Store, username: str, password: str, *, max_failures: int = 5, lockout_minutes: int = 15,
            now: dt.datetime | None = None) -> SignInResult:
    """Check a password; after `max_failures` wrong ones in a row the account is locked for a while."""
    ensure_schema(store)
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    cur = store.cursor()
    row = cur.execute(
        "SELECT username, display_name, role, entities, password_hash, failed_attempts, locked_until, active "
        "FROM app_user WHERE username = ?", [username]).fetchone()
    cur.close()
    if row is None or not row[7] or row[4] is None:
        _verify(_DUMMY_HASH, password)
        audit.record(store.audit_path, username or "?", "sign_in_failed", username, reason="unknown_user")
        return SignInResult(None, "bad_credentials")
    locked_until = row[6]
    if locked_until is not None and locked_until > now:
        audit.record(store.audit_path, username, "sign_in_failed", username, reason="locked")
        return SignInResult(None, "locked", locked_until)
    if not _verify(str(row[4]), password):
        failures = int(row[5]) + 1
        lock = now + dt.timedelta(minutes=lockout_minutes) if failures >= max_failures else None
        with store.transaction() as tx:
            tx.execute("UPDATE app_user SET failed_attempts = ?, locked_until = ? WHERE username = ?",
                       [0 if lock else failures, lock, username])
        audit.record(store.audit_path, username, "sign_in_failed", username, reason="bad_password",
                     locked=lock is not None)
        return SignInResult(None, "locked" if lock else "bad_credentials", lock)
    with store.transaction() as tx:
        tx.execute("UPDATE app_user SET failed_attempts = 0, locked_until = NULL WHERE username = ?", [username])
        if _HASHER.check_needs_rehash(str(row[4])):
            tx.execute("UPDATE app_user SET password_hash = ? WHERE username = ?", [_HASHER.hash(password), username])
    audit.record(store.audit_path, username, "sign_in", username)
    return SignInResult(_row_user(row))


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def ensure_admin(store: Store, password: str | None = None) -> str | None:
    """Create the first admin when no active admin exists; returns the generated password to print once."""
    ensure_schema(store)
    cur = store.cursor()
    count = cur.execute("SELECT count(*) FROM app_user WHERE role = 'admin' AND active").fetchone()
    taken = cur.execute("SELECT 1 FROM app_user WHERE username = 'admin'").fetchone()
    cur.close()
    if (count and count[0]) or taken:
        return None
    generated = password is None
    secret = password or secrets.token_urlsafe(12)
    create_user(store, "admin", secret, "admin", display_name="Administrator")
    return secret if generated else None


def scope_for(user: User | None) -> AccessScope:
    """The access scope of a user; nobody signed in sees nothing."""
    if user is None:
        return AccessScope(entities=frozenset(), actor="anonymous")
    return user.scope

