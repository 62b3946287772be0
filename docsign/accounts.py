"""Users and API tokens: creating them, logging in (with back-off), sessions, resolving a bearer token."""

from __future__ import annotations

import datetime as dt
import math

from sqlalchemy import select
from sqlalchemy.orm import Session

from docsign import audit
from docsign.db import dialect_insert
from docsign.errors import AuthenticationRequired, Conflict, InvalidInput, NotFound, TooManyAttempts
from docsign.models import Agency, ApiToken, LoginThrottle, Role, User, utcnow
from docsign.security import hash_password, new_api_token, token_hash, verify_password

MIN_PASSWORD_LENGTH = 10


ACCOUNT_FAILURES_BEFORE_LOCK = 5
"""Wrong passwords in a row for one login before it is locked."""
CLIENT_FAILURES_BEFORE_LOCK = 20
"""Wrong passwords in a row from one client address (any logins) before it is locked."""
FIRST_LOCK_SECONDS = 60
MAX_LOCK_SECONDS = 3600
FAILURES_FORGOTTEN_AFTER = dt.timedelta(hours=24)
"""A login or client quiet this long starts again from no failures and no locks."""


def add_user(session: Session, *, login: str, full_name: str, agency_code: str, role: Role | str,
             password: str, position: str | None = None, email: str | None = None,
             actor: str = "system", allow_short_password: bool = False) -> User:
    login = login.strip().lower()
    if not login or len(login) > 64 or not all(c.isalnum() or c in "._-" for c in login):
        raise InvalidInput("login must be 1-64 letters, digits, '.', '_' or '-'")
    if not allow_short_password:
        _check_password(password)
    if not full_name.strip() or len(full_name) > 50:
        raise InvalidInput("full name is required and has at most 50 characters")
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(f"role must be one of {', '.join(r.value for r in Role)}") from None
    agency = session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None:
        raise NotFound(f"no agency with code {agency_code}")
    if session.scalar(select(User.id).where(User.login == login)) is not None:
        raise Conflict(f"a user with login {login!r} already exists")
    user = User(login=login, full_name=full_name.strip(), position=position, email=email, agency=agency,
                role=role, password_hash=hash_password(password))
    session.add(user)
    session.flush()
    audit.record(session, actor, "user.add", agency_id=agency.id, object_type="user", object_id=user.id,
                 details={"login": login, "role": role.value})
    return user


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 200:
        raise InvalidInput("password has at most 200 characters")


def authenticate(session: Session, login: str, password: str, *, client: str | None = None,
                 now: dt.datetime | None = None) -> User:
    """The user with this login and password, counting failures per login and per client address.

    After ACCOUNT_FAILURES_BEFORE_LOCK (per login) or CLIENT_FAILURES_BEFORE_LOCK (per client) wrong
    passwords in a row, logging in is refused (TooManyAttempts) for FIRST_LOCK_SECONDS, and after a lock
    each further wrong password locks again for twice as long, up to MAX_LOCK_SECONDS. While locked the
    password is not even checked, so the right one does not get in either. The caller commits (the
    failure counts and the audit events of locks are in its transaction, also when this raises
    AuthenticationRequired)."""
    now = now or utcnow()
    login = login.strip().lower()[:64]
    keys = {f"account:{login}": ACCOUNT_FAILURES_BEFORE_LOCK}
    if client:
        keys[f"ip:{client[:100]}"] = CLIENT_FAILURES_BEFORE_LOCK
    wait = max(_locked_for(session.get(LoginThrottle, key), now) for key in keys)
    if wait > 0:
        raise TooManyAttempts(f"too many wrong passwords; try again in {wait} s", retry_after=wait)
    user = session.scalar(select(User).where(User.login == login))
    # Verify against a dummy hash when the login is unknown, so timing does not reveal which logins exist.
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)
        ok = False
    else:
        ok = verify_password(user.password_hash, password)
    if not ok or user is None:
        for key, threshold in keys.items():
            _count_failure(session, key, threshold, now, agency_id=user.agency_id if user else None)
        raise AuthenticationRequired("wrong login or password")
    account = session.get(LoginThrottle, f"account:{login}")
    if account is not None:
        session.delete(account)
    if client and (by_client := session.get(LoginThrottle, f"ip:{client[:100]}")) is not None:
        by_client.failures = 0  # its locks stay: the back-off resumes at once if wrong passwords follow
    return user


def _locked_for(row: LoginThrottle | None, now: dt.datetime) -> int:
    if row is None or row.locked_until is None or row.locked_until <= now:
        return 0
    return max(1, math.ceil((row.locked_until - now).total_seconds()))


def _count_failure(session: Session, key: str, threshold: int, now: dt.datetime, *, agency_id: int | None) -> None:
    # Create the row if missing without racing another process, then count under a row lock.
    session.execute(dialect_insert(session)(LoginThrottle).values(key=key, failures=0, locks=0, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["key"]))
    row = session.scalars(select(LoginThrottle).where(LoginThrottle.key == key)
                          .with_for_update().execution_options(populate_existing=True)).one()
    if row.updated_at < now - FAILURES_FORGOTTEN_AFTER:
        row.failures, row.locks = 0, 0
    row.failures += 1
    row.updated_at = now
    if row.failures >= threshold or row.locks > 0:
        seconds = min(FIRST_LOCK_SECONDS * 2 ** min(row.locks, 20), MAX_LOCK_SECONDS)
        row.locked_until = now + dt.timedelta(seconds=seconds)
        row.locks += 1
        row.failures = 0
        audit.record(session, "system", "login.locked", agency_id=agency_id if key.startswith("account:") else None,
                     object_type="login", object_id=key,
                     details={"seconds": seconds, "lock": row.locks})
    session.flush()


def start_session(session: Session, user: User) -> int:
    """A new session version for a login: sessions started before it end (the caller commits)."""
    user.session_version += 1
    session.flush()
    return user.session_version


def end_sessions(session: Session, user_id: int) -> None:
    """Every session of the user ends now, whatever cookies were saved (logout)."""
    user = session.get(User, user_id)
    if user is not None:
        user.session_version += 1
        session.flush()


def set_password(session: Session, login: str, password: str, actor: str = "system") -> User:
    """A new password; the user's open sessions end."""
    user = _user(session, login)
    _check_password(password)
    user.password_hash = hash_password(password)
    user.session_version += 1
    audit.record(session, actor, "user.password", agency_id=user.agency_id, object_type="user", object_id=user.id)
    session.flush()
    return user


def set_active(session: Session, login: str, active: bool, actor: str = "system") -> User:
    """Disable (or enable again) a user: a disabled user cannot log in and his open sessions end at once."""
    user = _user(session, login)
    user.active = active
    user.session_version += 1
    audit.record(session, actor, "user.enable" if active else "user.disable", agency_id=user.agency_id,
                 object_type="user", object_id=user.id)
    session.flush()
    return user


def _user(session: Session, login: str) -> User:
    user = session.scalar(select(User).where(User.login == login.strip().lower()))
    if user is None:
        raise NotFound(f"no user with login {login!r}")
    return user


_DUMMY_HASH = hash_password("not-a-real-password")


def create_token(session: Session, agency_code: str, name: str, actor: str = "system",
                 expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """Create an API token for an agency's system; the plain token is returned once and never stored."""
    agency = session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None:
        raise NotFound(f"no agency with code {agency_code}")
    if expires_in_days is not None and not 1 <= expires_in_days <= 3650:
        raise InvalidInput("a token lasts between 1 and 3650 days")
    name = (name or "api").strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidInput("the token name has 1-100 printable characters")
    token, prefix, digest = new_api_token()
    expires_at = utcnow() + dt.timedelta(days=expires_in_days) if expires_in_days else None
    row = ApiToken(agency=agency, name=name, prefix=prefix, token_hash=digest, expires_at=expires_at)
    session.add(row)
    session.flush()
    audit.record(session, actor, "token.create", agency_id=agency.id, object_type="api_token", object_id=row.id,
                 details={"prefix": prefix, "name": row.name})
    return row, token


def resolve_token(session: Session, token: str) -> ApiToken:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    now = utcnow()
    if row is None or row.revoked_at is not None:
        raise AuthenticationRequired("the API token is unknown or revoked")
    if row.expires_at is not None and row.expires_at <= now:
        raise AuthenticationRequired("the API token has expired")
    row.last_used_at = now
    return row


def list_tokens(session: Session, agency_code: str | None = None) -> list[ApiToken]:
    query = select(ApiToken).join(Agency).order_by(Agency.code, ApiToken.id)
    if agency_code:
        query = query.where(Agency.code == agency_code)
    return list(session.scalars(query))


def revoke_token(session: Session, prefix: str, actor: str = "system") -> ApiToken:
    """Revoke the token whose shown prefix (``dsk_…``) is ``prefix``: it is refused from the next request on."""
    rows = session.scalars(select(ApiToken).where(ApiToken.prefix == prefix.strip())).all()
    if not rows:
        raise NotFound(f"no API token with prefix {prefix!r} (see `docsign token list`)")
    if len(rows) > 1:
        raise Conflict(f"{len(rows)} tokens share the prefix {prefix!r}")
    row = rows[0]
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "token.revoke", agency_id=row.agency_id, object_type="api_token",
                     object_id=row.id, details={"prefix": row.prefix})
        session.flush()
    return row
