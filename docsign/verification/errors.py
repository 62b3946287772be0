"""Errors for input that cannot be verified at all (an invalid signature is a report, not an error)."""

from __future__ import annotations

from docsign.errors import (
    EX_TEMPFAIL,
    DocsignError,
    InvalidInput,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMediaType,
)
from docsign.verification.report import VerificationReport

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


class RateLimited(DocsignError):
    """A client sent more verification requests than the public endpoint allows (429 + Retry-After)."""

    http_status = 429
    exit_code = EX_TEMPFAIL
    code = "rate_limited"
    title = "Too many verification requests"
    retryable = True

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NoSignatureToReport(InvalidInput):
    """An ETSI validation report describes signatures; the document has none."""

    code = "no_signature"
    title = "The document has no signature to report on"


def etsi_xml(report: VerificationReport) -> bytes:
    """The report's ETSI TS 119 102-2 XML, or the error every face shows for a document without signatures."""
    if report.etsi_xml is None:
        raise NoSignatureToReport("The document has no signature, so there is no ETSI validation report to give.")
    return report.etsi_xml


class VerifierBusy(ServiceUnavailable):
    """Every worker of the public verifier is busy, or the client already has its share running (503 + Retry-After)."""

    code = "verifier_busy"
    title = "The verifier is busy"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
