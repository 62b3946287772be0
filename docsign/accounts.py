"""Users and API tokens: creating them, logging in, resolving a bearer token."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from docsign import audit
from docsign.errors import AuthenticationRequired, Conflict, InvalidInput, NotFound
from docsign.models import Agency, ApiToken, Role, User, utcnow
from docsign.security import hash_password, new_api_token, token_hash, verify_password

MIN_PASSWORD_LENGTH = 10


def add_user(session: Session, *, login: str, full_name: str, agency_code: str, role: Role | str,
             password: str, position: str | None = None, email: str | None = None,
             actor: str = "system", allow_short_password: bool = False) -> User:
    login = login.strip().lower()
    if not login or len(login) > 64 or not all(c.isalnum() or c in "._-" for c in login):
        raise InvalidInput("login must be 1-64 letters, digits, '.', '_' or '-'")
    if len(password) < MIN_PASSWORD_LENGTH and not allow_short_password:
        raise InvalidInput(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if not full_name.strip() or len(full_name) > 50:
        raise InvalidInput("full name is required and has at most 50 characters")
    try:
        role = Role(role)
    except ValueError:
        raise InvalidInput(f"role must be one of {', '.join(r.value for r in Role)}") from None
    if email:
        from docsign.mail.addresses import checked_address

        email = checked_address(email, "user address")
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


def authenticate(session: Session, login: str, password: str) -> User:
    user = session.scalar(select(User).where(User.login == login.strip().lower()))
    # Verify against a dummy hash when the login is unknown, so timing does not reveal which logins exist.
    if user is None or not user.active:
        verify_password(_DUMMY_HASH, password)
        raise AuthenticationRequired("wrong login or password")
    if not verify_password(user.password_hash, password):
        raise AuthenticationRequired("wrong login or password")
    return user


_DUMMY_HASH = hash_password("not-a-real-password")


def create_token(session: Session, agency_code: str, name: str, actor: str = "system") -> tuple[ApiToken, str]:
    """Create an API token for an agency's system; the plain token is returned once and never stored."""
    agency = session.scalar(select(Agency).where(Agency.code == agency_code))
    if agency is None:
        raise NotFound(f"no agency with code {agency_code}")
    token, prefix, digest = new_api_token()
    row = ApiToken(agency=agency, name=name or "api", prefix=prefix, token_hash=digest)
    session.add(row)
    session.flush()
    audit.record(session, actor, "token.create", agency_id=agency.id, object_type="api_token", object_id=row.id,
                 details={"prefix": prefix, "name": row.name})
    return row, token


def resolve_token(session: Session, token: str) -> ApiToken:
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash(token)))
    if row is None or row.revoked_at is not None:
        raise AuthenticationRequired("the API token is unknown or revoked")
    row.last_used_at = utcnow()
    return row
