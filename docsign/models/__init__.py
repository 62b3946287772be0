"""SQLAlchemy 2.0 models. Plain DeclarativeBase (no Flask-SQLAlchemy): the CLI, workers and web share them."""

from docsign.models.agencies import Agency, ApiToken, Role, User
from docsign.models.audit import AuditEvent
from docsign.models.base import Base, utcnow
from docsign.models.documents import Document, DocumentOrigin, DocumentRevision, Signature
from docsign.models.exchange import Delivery, Exchange, OutboxMessage, StatusEvent
from docsign.models.keys import KeyKind, KeyRef, KeySource
from docsign.models.mail import MailMessage

__all__ = [
    "Agency", "ApiToken", "AuditEvent", "Base", "Delivery", "Document", "DocumentOrigin", "DocumentRevision",
    "Exchange", "KeyKind", "KeyRef", "KeySource", "MailMessage", "OutboxMessage", "Role", "Signature", "StatusEvent",
    "User", "utcnow",
]
