"""Errors the signing engine raises: each one says what is wrong and what the clerk can do about it.

They subclass the service-wide bases in :mod:`docsign.errors`, so the CLI, the web app and the
workers translate them without knowing about signing. Messages never contain a passphrase or PIN.
"""

from __future__ import annotations

from docsign.errors import (
    DocsignError,
    InvalidInput,
    KeyAccessError,
    NotFound,
    ServiceUnavailable,
    StorageError,
)


class NotAPdf(InvalidInput):
    code = "not_a_pdf"
    title = "The file is not a PDF"


class DamagedPdf(InvalidInput):
    """Truncated file, broken cross-reference table, unreadable objects."""

    code = "damaged_pdf"
    title = "The PDF is damaged"


class EncryptedPdf(InvalidInput):
    code = "encrypted_pdf"
    title = "The PDF is password-protected"


class SignatureNotAllowed(InvalidInput):
    """The document's certification (DocMDP) or an earlier signature forbids another signature."""

    code = "signature_not_allowed"
    title = "The document does not allow another signature"


class BadSignRequest(InvalidInput):
    """A role input or placement is missing or malformed (number, rect, page, image...)."""

    code = "bad_sign_request"
    title = "The signing request is incomplete"


class CertificateNotUsable(KeyAccessError):
    """Expired, not yet valid, wrong key usage, or not matching its private key."""

    code = "certificate_not_usable"
    title = "The signing certificate cannot be used"


class KeyNotFound(NotFound):
    code = "key_not_found"
    title = "Signing key not found"


class TimestampUnavailable(ServiceUnavailable):
    code = "timestamp_unavailable"
    title = "The timestamp authority did not answer"


class RevocationInfoUnavailable(ServiceUnavailable):
    code = "revocation_unavailable"
    title = "Revocation information could not be collected"


class OutputNotWritable(StorageError):
    code = "output_not_writable"
    title = "The signed file cannot be written"


class SigningFailed(DocsignError):
    """pyHanko refused for a reason none of the errors above covers (a bug, or an odd PDF)."""

    code = "signing_failed"
    title = "Signing failed"
