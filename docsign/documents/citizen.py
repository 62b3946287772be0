"""One-stop-shop results ("kết quả một cửa") citizens can check.

An agency issues a result to a citizen with a QR code in the seal's block; the QR opens
``<DOCSIGN_PUBLIC_URL>/verify/d/<token>``, a public page that needs no login. The token is random
(256 bits) and stored on the document, so a page can only be reached by whoever holds the paper or
the PDF. Every lookup that does not lead to what was asked (no such token, or a download of a document
the agency did not make public) raises the same :class:`ResultNotFound`, so nobody can tell the two
apart.

"Same document" means either
- the SHA-256 of the uploaded copy equals the issued revision's, or the one of a later revision docsign
  itself made of that document; or
- the copy is the issued bytes followed by incremental updates that add only validation data and document
  timestamps (the copy's verification says every signature of the issued revision is intact and its
  modifications are NONE or LTA_UPDATES): the same document with its evidence extended, by anyone.
A copy with anything else added (even only another signature, which pyHanko cannot tell apart from form
filling) is not "the same"; its own verification is shown either way.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from docsign import audit
from docsign.config import Settings
from docsign.documents.errors import WrongStage
from docsign.errors import NotFound
from docsign.models import Document, DocumentRevision
from docsign.storage import BlobStore
from docsign.verification.report import Modifications, VerificationReport

TOKEN_BYTES = 32
PATH = "/verify/d/"


class ResultNotFound(NotFound):
    """The one answer for an unknown token and for a download the agency did not allow."""

    def __init__(self) -> None:
        super().__init__("Không tìm thấy văn bản công khai cho mã này. / "
                         "There is no public document for this code.")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def verify_url(settings: Settings, token: str) -> str:
    return settings.public_url.rstrip("/") + PATH + token


def _looks_like_token(token: str) -> bool:
    return 20 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token)


def find(session: Session, token: str) -> Document:
    """The one-stop-shop result with this token, or :class:`ResultNotFound`."""
    document = session.scalar(select(Document).where(Document.citizen_token == token)) \
        if _looks_like_token(token) else None
    if document is None:
        raise ResultNotFound()
    return document


def issued_revision(document: Document) -> DocumentRevision:
    """The revision the agency issued (the seal with the QR)."""
    for revision in document.revisions:
        if revision.action == "issue":
            return revision
    raise ResultNotFound()


def issued_bytes(settings: Settings, document: Document) -> bytes:
    return BlobStore(settings.blob_dir).read_bytes(issued_revision(document).sha256)


def public_pdf(session: Session, settings: Settings, token: str) -> tuple[Document, bytes]:
    """The issued PDF, only when the agency made it public; otherwise the same answer as an unknown token."""
    document = find(session, token)
    if not document.citizen_public:
        raise ResultNotFound()
    return document, issued_bytes(settings, document)


def set_public(session: Session, document: Document, public: bool, *, actor: str) -> None:
    """Let the holder of the result's QR download its PDF (or stop it); audited."""
    if document.citizen_token is None:
        raise WrongStage("only a one-stop-shop result (issued with its QR code) has a public page")
    document.citizen_public = public
    audit.record(session, actor, "document.citizen_public", agency_id=document.agency_id,
                 object_type="document", object_id=document.id, details={"public": public})
    session.flush()


@dataclass(frozen=True)
class Comparison:
    same: bool
    sha256: str
    """Of the uploaded copy."""
    issued_sha256: str
    matched_revision: int | None
    """The revision number the copy is, when it is one."""
    extended: bool = False
    """The copy is the issued document plus only validation data and document timestamps."""


EVIDENCE_ONLY = (Modifications.NONE, Modifications.LTA_UPDATES)


def compare(document: Document, data: bytes, issued_pdf: bytes, issued_report: VerificationReport | None,
            copy_report: VerificationReport | None) -> Comparison:
    """Is the citizen's copy the issued document (byte for byte, or with only evidence added)?"""
    digest = hashlib.sha256(data).hexdigest()
    issued = issued_revision(document)
    matched = next((r.number for r in document.revisions if r.number >= issued.number and r.sha256 == digest), None)
    extended = matched is None and _only_evidence_added(data, issued_pdf, issued_report, copy_report)
    return Comparison(same=matched is not None or extended, sha256=digest, issued_sha256=issued.sha256,
                      matched_revision=matched, extended=extended)


def _only_evidence_added(data: bytes, issued_pdf: bytes, issued_report: VerificationReport | None,
                         copy_report: VerificationReport | None) -> bool:
    """The issued signatures that covered the whole issued file (modifications NONE there) see at most
    LTA updates in the copy; every other issued signature sees no more change than it did when issued."""
    if issued_report is None or copy_report is None or len(data) <= len(issued_pdf):
        return False
    if not data.startswith(issued_pdf):  # an incremental update keeps every earlier byte
        return False
    in_copy = {s.field: s for s in copy_report.signatures}
    if not issued_report.signatures or any(s.field not in in_copy for s in issued_report.signatures):
        return False
    covering_all = {s.field for s in issued_report.signatures if s.modifications is Modifications.NONE}
    if not covering_all:
        return False
    for before in issued_report.signatures:
        after = in_copy[before.field]
        allowed = EVIDENCE_ONLY if before.field in covering_all else (before.modifications, *EVIDENCE_ONLY)
        if not after.integrity or after.modifications not in allowed:
            return False
    return True
