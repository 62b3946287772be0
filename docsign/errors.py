"""One error tree for the whole service.

Each error type carries the HTTP status, the CLI exit code and whether a worker may retry it, so
every face (Flask handlers, the CLI error manager, the Celery task base) translates errors in one
place. Messages are written for the person who has to act on them.
"""

from __future__ import annotations

# Exit codes follow sysexits(3) so scripts can tell the kind of failure apart.
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_UNAVAILABLE = 69
EX_SOFTWARE = 70
EX_CANTCREAT = 73
EX_IOERR = 74
EX_TEMPFAIL = 75
EX_NOPERM = 77
EX_CONFIG = 78


class DocsignError(Exception):
    """Base of every error the service reports to a person or another system."""

    http_status: int = 500
    exit_code: int = EX_SOFTWARE
    retryable: bool = False
    code: str = "internal_error"
    title: str = "Internal error"

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.title
        super().__init__(self.message)


class ConfigError(DocsignError):
    """A DOCSIGN_* setting is missing or malformed."""

    exit_code = EX_CONFIG
    code = "config_error"
    title = "Configuration error"


class ServiceUnavailable(DocsignError):
    """A service the request needs (database, broker, TSA, OCSP) does not answer."""

    http_status = 503
    exit_code = EX_UNAVAILABLE
    retryable = True
    code = "service_unavailable"
    title = "Service unavailable"


class InvalidInput(DocsignError):
    """The input is malformed or breaks a rule; nothing was changed."""

    http_status = 400
    exit_code = EX_DATAERR
    code = "invalid_input"
    title = "Invalid input"


class PayloadTooLarge(InvalidInput):
    http_status = 413
    code = "payload_too_large"
    title = "The upload is too large"


class UnsupportedMediaType(InvalidInput):
    http_status = 415
    code = "unsupported_media_type"
    title = "Unsupported file type"


class NotFound(DocsignError):
    http_status = 404
    exit_code = EX_NOINPUT
    code = "not_found"
    title = "Not found"


class Conflict(DocsignError):
    """The request clashes with what already exists (a duplicate, a state that does not allow it)."""

    http_status = 409
    exit_code = EX_DATAERR
    code = "conflict"
    title = "Conflict"


class AuthenticationRequired(DocsignError):
    http_status = 401
    exit_code = EX_NOPERM
    code = "authentication_required"
    title = "Authentication required"


class TooManyAttempts(DocsignError):
    """Too many tries in a row (wrong passwords): refused until ``retry_after`` seconds have passed."""

    http_status = 429
    exit_code = EX_TEMPFAIL
    retryable = True
    code = "rate_limited"
    title = "Too many attempts"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermissionDenied(DocsignError):
    http_status = 403
    exit_code = EX_NOPERM
    code = "permission_denied"
    title = "Permission denied"


class StorageError(DocsignError):
    """The data directory or blob store cannot be read or written."""

    exit_code = EX_IOERR
    code = "storage_error"
    title = "Storage error"


class BlobCorrupted(StorageError):
    """A stored blob no longer matches its SHA-256: its bytes are never returned."""

    code = "blob_corrupted"
    title = "Stored file is corrupted"


class KeyAccessError(DocsignError):
    """A private key cannot be loaded: wrong passphrase or PIN, missing file or token."""

    http_status = 400
    exit_code = EX_NOPERM
    code = "key_access_error"
    title = "The signing key cannot be used"
