"""Who may see and change what: local users with argon2 password hashes, roles, lock-out, access scopes."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from kpi import audit
from kpi.store import AccessScope, Cursor, Store, db

Role = Literal["analyst", "officer", "admin"]
ROLES: tuple[str, ...] = ("analyst", "officer", "admin")
# Bounds of what a sign-in or user form may send; longer input is refused before anything else is done.
MAX_USERNAME = 64
MAX_PASSWORD = 256
MAX_DISPLAY_NAME = 128
MAX_ENTITIES = 64
MIN_PASSWORD = 10
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
    """The outcome of a sign-in attempt: a user, or `bad_credentials` (the one answer to every refusal)."""

    user: User | None
    reason: str | None = None
    locked_until: dt.datetime | None = None


class AuthError(ValueError):
    """A user-management request that cannot be carried out."""


def now_utc() -> dt.datetime:
    """The current time as the store keeps it (naive UTC)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def valid_username(username: str) -> bool:
    """Whether a name fits the user store: 1–64 printable characters, no surrounding spaces."""
    return 0 < len(username) <= MAX_USERNAME and username.isprintable() and username == username.strip()


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise AuthError(f"a password needs {MIN_PASSWORD} to {MAX_PASSWORD} characters")


def ensure_schema(store: Store) -> None:
    """Create the user and session tables if they are not there."""
    cur = store.cursor()
    db(cur).schema.create_users()
    cur.close()


def _row_user(row: tuple[object, ...]) -> User:
    username, display_name, role, entities = row[:4]
    return User(str(username), str(display_name), str(role), frozenset(entities or []))  # type: ignore[call-overload]


def end_sessions(cur: Cursor, username: str, now: dt.datetime | None = None) -> None:
    """End every open session of a user (inside the caller's transaction): on every device at once."""
    db(cur).sessions.end_all_of(username, now or now_utc())


def create_user(store: Store, username: str, password: str | None, role: str, *, display_name: str | None = None,
                entities: list[str] | None = None, actor: str = "system") -> User:
    """Add a user; an officer must be assigned at least one entity."""
    ensure_schema(store)
    if not valid_username(username):
        raise AuthError(f"a username needs 1 to {MAX_USERNAME} printable characters")
    if role not in ROLES:
        raise AuthError(f"unknown role {str(role)[:20]!r}")
    if role == "officer" and not entities:
        raise AuthError("an officer needs at least one entity")
    if len(entities or []) > MAX_ENTITIES or any(len(e) > MAX_USERNAME for e in entities or []):
        raise AuthError(f"at most {MAX_ENTITIES} entities")
    display_name = (display_name or username)[:MAX_DISPLAY_NAME]
    if password is not None:
        _check_password(password)
    password_hash = _HASHER.hash(password) if password is not None else None
    with store.transaction() as cur:
        users = db(cur).users
        if users.exists(username):
            raise AuthError(f"user {username!r} exists")
        users.add(username, display_name, role, entities or [], password_hash)
        audit.record(store, actor, "user_created", username, cur=cur, role=role, entities=entities or [])
    return User(username, display_name, role, frozenset(entities or []))


def _exists(cur: Cursor, username: str) -> None:
    if not db(cur).users.exists(username[:MAX_USERNAME + 1]):
        raise AuthError(f"no user {username[:MAX_USERNAME]!r}")


def set_password(store: Store, username: str, password: str, *, actor: str) -> None:
    """Replace a user's password, lift any lock-out and end the user's sessions everywhere."""
    _check_password(password)
    password_hash = _HASHER.hash(password)
    with store.transaction() as cur:
        _exists(cur, username)
        db(cur).users.set_password(username, password_hash)
        end_sessions(cur, username)
        audit.record(store, actor, "password_set", username, cur=cur)


def unlock(store: Store, username: str, *, actor: str) -> None:
    """Lift a lock-out and forget the failed attempts."""
    with store.transaction() as cur:
        _exists(cur, username)
        db(cur).users.unlock(username)
        audit.record(store, actor, "user_unlocked", username, cur=cur)


def update_user(store: Store, username: str, *, role: str | None = None, entities: list[str] | None = None,
                active: bool | None = None, actor: str) -> None:
    """Change a user's role, entities or whether they may sign in (disabling ends their sessions)."""
    if role is not None and role not in ROLES:
        raise AuthError(f"unknown role {str(role)[:20]!r}")
    if entities is not None and (len(entities) > MAX_ENTITIES or any(len(e) > MAX_USERNAME for e in entities)):
        raise AuthError(f"at most {MAX_ENTITIES} entities")
    with store.transaction() as cur:
        _exists(cur, username)
        users = db(cur).users
        if role is not None:
            users.set_role(username, role)
        if entities is not None:
            users.set_entities(username, entities)
        if active is not None:
            users.set_active(username, active)
            if not active:
                end_sessions(cur, username)
        audit.record(store, actor, "user_updated", username, cur=cur, role=role, entities=entities, active=active)


def list_users(store: Store) -> list[dict[str, object]]:
    """Every user with role, entities, state; never a hash."""
    ensure_schema(store)
    cur = store.cursor()
    rows = db(cur).users.all()
    cur.close()
    keys = ("username", "display_name", "role", "entities", "active", "failed_attempts", "locked_until", "created_at")
    return [dict(zip(keys, row)) for row in rows]


def get_user(store: Store, username: str) -> User | None:
    """An active user by name: one indexed query (each page run checks its user with it)."""
    if not 0 < len(username) <= MAX_USERNAME:
        return None
    cur = store.cursor()
    try:
        row = db(cur).users.get(username)
    finally:
        cur.close()
    return _row_user(row) if row else None


def sign_in(store: Store, username: str, password: str, *, max_failures: int = 5, lockout_minutes: int = 15,
            now: dt.datetime | None = None) -> SignInResult:
    """Check a password; after `max_failures` failed attempts in a row the account is locked for a while.

    Every attempt costs one password hash check and one write (under the store's write lock, counted with
    one `UPDATE ... SET failed_attempts = failed_attempts + 1`), and every refusal gets the same answer,
    whether the password was wrong, the user unknown or the account locked: nothing tells them apart.
    """
    now = now or now_utc()
    name = username if valid_username(username) else ""
    cur = store.cursor()
    try:
        stored_hash = db(cur).users.password_hash(name)
    finally:
        cur.close()
    matches = _verify(stored_hash or _DUMMY_HASH, password[:MAX_PASSWORD]) and stored_hash is not None \
        and len(password) <= MAX_PASSWORD
    with store.transaction() as tx:
        signed = None
        if matches:
            signed = db(tx).users.signed_in(name, now)
        if signed is not None:
            if _HASHER.check_needs_rehash(str(stored_hash)):
                db(tx).users.set_password(name, _HASHER.hash(password), unlock=False)
            audit.record(store, name, "sign_in", name, cur=tx)
            return SignInResult(_row_user(signed))
        counted = db(tx).users.failed(name, max_failures, now, now + dt.timedelta(minutes=lockout_minutes))
        reason = "unknown_user" if counted is None else "locked" if matches else "bad_password"
        locked = bool(counted and counted[1] is not None and counted[1] > now)
        audit.record(store, username or "?", "sign_in_failed", username, cur=tx, reason=reason, locked=locked)
    return SignInResult(None, "bad_credentials")


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def ensure_admin(store: Store, password: str | None = None) -> str | None:
    """Create the first admin when no active admin exists; returns the generated password to print once."""
    ensure_schema(store)
    cur = store.cursor()
    count, taken = db(cur).users.active_admins(), db(cur).users.exists("admin")
    cur.close()
    if count or taken:
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
