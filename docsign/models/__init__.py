"""SQLAlchemy 2.0 models. Plain DeclarativeBase (no Flask-SQLAlchemy): the CLI, workers and web share them."""

from docsign.models.agencies import Agency, AgencyAlias, ApiToken, Role, User
from docsign.models.audit import AuditEvent
from docsign.models.base import Base, utcnow
from docsign.models.documents import Document, DocumentOrigin, DocumentRevision, Signature
from docsign.models.exchange import AxisMessage, Delivery, Exchange, OutboxMessage, StatusEvent
from docsign.models.keys import KeyKind, KeyRef, KeySource
from docsign.models.ltv import LtvRecord
from docsign.models.mail import MailMessage
from docsign.models.registers import ArrivalEntry, BookKind, OutgoingEntry, PaperSending, RegisterBook
from docsign.models.throttle import LoginThrottle, RateLimitCounter

__all__ = [
    "Agency",
    "AgencyAlias",
    "ApiToken",
    "ArrivalEntry",
    "AuditEvent",
    "AxisMessage",
    "Base",
    "BookKind",
    "Delivery",
    "Document",
    "DocumentOrigin",
    "DocumentRevision",
    "Exchange",
    "KeyKind",
    "KeyRef",
    "KeySource",
    "LoginThrottle",
    "LtvRecord",
    "MailMessage",
    "OutboxMessage",
    "OutgoingEntry",
    "PaperSending",
    "RateLimitCounter",
    "RegisterBook",
    "Role",
    "Signature",
    "StatusEvent",
    "User",
    "utcnow",
]
