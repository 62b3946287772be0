"""Password and API-token hashing: argon2id for passwords, SHA-256 for high-entropy tokens."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id, RFC 9106's second recommended (low-memory) choice: 3 passes over 64 MiB, 4 lanes.
PASSWORD_PARAMETERS = profiles.RFC_9106_LOW_MEMORY
_hasher = PasswordHasher.from_parameters(PASSWORD_PARAMETERS)
TOKEN_PREFIX = "dsk_"  # noqa: S105 - marks docsign tokens in logs and secret scanners


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_api_token() -> tuple[str, str, str]:
    """Return (token shown once, prefix kept for display, hash kept for lookup)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, token[:12], token_hash(token)


def token_hash(token: str) -> str:
    # Tokens carry 256 bits of entropy, so a fast hash is enough and keeps lookups cheap.
    return hashlib.sha256(token.encode()).hexdigest()
