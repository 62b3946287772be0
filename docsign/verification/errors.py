"""Errors for input that cannot be verified at all (an invalid signature is a report, not an error)."""

from __future__ import annotations

from docsign.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

EXIT_UNREADABLE = 3
"""`docsign verify` exit code when the input cannot be read (design.md contract)."""


class UnreadableDocument(InvalidInput):
    """The file cannot be read as a PDF at all."""

    exit_code = EXIT_UNREADABLE
    code = "unreadable_document"
    title = "The document cannot be read"


class EmptyDocument(UnreadableDocument):
    code = "empty_document"
    title = "The file is empty"


class NotAPdf(UnsupportedMediaType):
    exit_code = EXIT_UNREADABLE
    code = "not_a_pdf"
    title = "The file is not a PDF"


class DocumentTooLarge(PayloadTooLarge):
    exit_code = EXIT_UNREADABLE
    code = "document_too_large"
    title = "The document is too large to verify"


class TooManySignatures(UnreadableDocument):
    code = "too_many_signatures"
    title = "The document has too many signatures to verify"


class VerificationLimitExceeded(UnreadableDocument):
    """Parsing the document took more time or memory than verification allows (e.g. a decompression bomb)."""

    code = "verification_limit_exceeded"
    title = "The document is too complex to verify"
