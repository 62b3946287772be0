"""What docsign mails, to whom, and the sending itself.

Every message is a :class:`MailMessage` row plus an outbox row written in the transaction of the change
that calls for it; the relay publishes ``docsign.mail.send`` and a worker signs and sends it
(:func:`deliver`), retried with backoff while the mail server is away. So the exchange never waits
for, or fails because of, the mail server. E-mail is off while DOCSIGN_SMTP_URL is unset.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from docsign import audit, metrics
from docsign.config import Settings
from docsign.errors import ConfigError, InvalidInput, NotFound
from docsign.mail import smime, transport
from docsign.mail.addresses import checked_address, checked_addresses
from docsign.models import Agency, Delivery, Document, MailMessage, OutboxMessage, StatusEvent, User, utcnow
from docsign.pki.keys import key_spec_for, load_key
from docsign.storage import BlobStore

log = logging.getLogger(__name__)
MAIL_TASK = "docsign.mail.send"
MAIL_QUEUE = "docsign"
"""The default queue every `docsign worker --all` (and `docsign run`) consumes."""
VN_TZ = smime.VN_TZ


def mail_enabled(settings: Settings) -> bool:
    return settings.smtp_url is not None


def notification_addresses(session: Session, agency: Agency) -> list[str]:
    """The agency's own address and those of its active people who gave one."""
    found: list[str] = []
    for address in [agency.email, *session.scalars(
            select(User.email).where(User.agency_id == agency.id, User.active.is_(True), User.email.is_not(None))
            .order_by(User.id))]:
        if address and address.lower() not in {a.lower() for a in found}:
            found.append(address)
    return found


def queue_mail(session: Session, *, agency: Agency, kind: str, recipients: Sequence[str], subject: str, body: str,
               actor: str, document: Document | None = None, attachment_sha256: str | None = None,
               attachment_name: str | None = None) -> MailMessage:
    """Record a message and its outbox row in the caller's transaction."""
    row = MailMessage(agency=agency, kind=kind, recipients=", ".join(recipients), subject=subject[:300], body=body,
                      actor=actor, document_id=document.id if document is not None else None,
                      attachment_sha256=attachment_sha256, attachment_name=attachment_name)
    session.add(row)
    session.flush()
    session.add(OutboxMessage(task_name=MAIL_TASK, queue=MAIL_QUEUE, payload={"mail_id": row.id}))
    return row


# -- the exchange's notifications --------------------------------------------------------------------

def on_receipt(session: Session, settings: Settings, event: StatusEvent) -> MailMessage | None:
    """A delivery was filed in the inbox (01) or refused on receipt (02): tell the receiving agency."""
    kind = "rejected" if event.code == "02" else "arrived"
    return _notify(session, settings, event, event.delivery.recipient, kind)


def on_status(session: Session, settings: Settings, event: StatusEvent) -> MailMessage | None:
    """A status packet came back from the other side: tell the agency it reached."""
    delivery = event.delivery
    reached = delivery.exchange.sender if event.actor_agency_id == delivery.recipient_agency_id else delivery.recipient
    return _notify(session, settings, event, reached, "status")


HEADLINES = {
    "arrived": ("Văn bản đến", "Document arrived"),
    "rejected": ("Văn bản đến bị từ chối", "Incoming document rejected"),
    "status": ("Trạng thái văn bản", "Document status"),
}


def _notify(session: Session, settings: Settings, event: StatusEvent, agency: Agency,
            kind: str) -> MailMessage | None:
    if not mail_enabled(settings):
        return None
    recipients = notification_addresses(session, agency)
    if not recipients:
        return None
    delivery: Delivery = event.delivery
    exchange = delivery.exchange
    headline = HEADLINES[kind]
    when = (event.created_at or utcnow()).astimezone(VN_TZ)
    body = "\n".join([
        f"{headline[0]} / {headline[1]}",
        "",
        f"Trích yếu / Subject: {exchange.subject}",
        f"Nơi gửi / From: {exchange.sender.name} ({exchange.sender.code})",
        f"Nơi nhận / To: {delivery.recipient.name} ({delivery.recipient.code})",
        f"Trạng thái / Status: {event.code or ''} {event.description or ''}".rstrip(),
        f"Thời gian / Time: {when:%d/%m/%Y %H:%M} (+07:00)",
        f"Mã trao đổi / Exchange: {exchange.id}",
        "",
        f"{settings.public_url}/",
        "",
        "Thư này được ký số bằng con dấu số của cơ quan / This message is signed with the agency's seal.",
    ])
    subject = f"[docsign] {headline[0]} / {headline[1]}: {exchange.subject}"
    return queue_mail(session, agency=agency, kind=kind, recipients=recipients, subject=subject, body=body,
                      actor="system")


# -- a clerk sends an issued PDF to a unit on no exchange --------------------------------------------

def mail_document(session: Session, settings: Settings, document: Document, to: Sequence[str], *, actor: str,
                  note: str | None = None) -> MailMessage:
    """Queue the document's current (issued) PDF by signed e-mail. Refuses bad addresses, a document not
    issued, e-mail switched off and a seal that cannot sign e-mail, before anything is written."""
    if not mail_enabled(settings):
        raise ConfigError("e-mail is off: set DOCSIGN_SMTP_URL to the mail server (smtp://host:port)")
    recipients = checked_addresses(to, "recipient")
    current = document.current
    if current is None or "issue" not in {r.action for r in document.revisions}:
        raise InvalidInput(f"document {document.id} is not issued yet: only an issued PDF is sent by e-mail")
    agency = document.agency
    _sender(session, settings, agency)  # the seal must be able to sign e-mail: refuse now, not in the worker
    number = "-".join(p for p in (document.code_number, document.code_notation) if p) or str(document.id)
    body = "\n".join([
        f"{agency.name} gửi văn bản số {number}: {document.title}",
        f"{agency.name} sends document {number}: {document.title}",
        "",
        *([note.strip(), ""] if note and note.strip() else []),
        "Văn bản đính kèm được ký số; kiểm tra chữ ký tại / The attached PDF is digitally signed; check it at",
        f"{settings.public_url}/verify",
    ])
    row = queue_mail(session, agency=agency, kind="document", recipients=recipients,
                     subject=f"{number}: {document.title}", body=body, actor=actor, document=document,
                     attachment_sha256=current.sha256, attachment_name=f"{number.replace('/', '-')}.pdf")
    audit.record(session, actor, "mail.document", agency_id=agency.id, object_type="document",
                 object_id=document.id, details={"mail": row.id, "to": recipients})
    return row


# -- sending (the worker) ----------------------------------------------------------------------------

def _sender(session: Session, settings: Settings, agency: Agency) -> tuple[smime.KeyHandle, str]:
    """The agency's seal key (through the one key-loading place) and the From address its certificate names."""
    handle = load_key(key_spec_for(session, f"agency:{agency.code}", settings))
    _, addresses = smime.email_certificate(handle)
    if addresses:
        return handle, checked_address(addresses[0], "the seal certificate's address")
    if agency.email:
        return handle, checked_address(agency.email, f"the address of {agency.code}")
    raise ConfigError(f"the seal of {agency.code} names no e-mail address and the agency has none: "
                      f"run `docsign agency set-email {agency.code} ADDRESS`")


def deliver(session: Session, settings: Settings, mail_id: int) -> bool:
    """Sign and send one message; False when it was sent before (a redelivered task). A mail server
    that is away raises a retryable error: the task tries again later."""
    row = session.get(MailMessage, mail_id)
    if row is None:
        raise NotFound(f"mail message {mail_id} does not exist")
    if row.sent_at is not None:
        return False
    if settings.smtp_url is None:
        raise ConfigError("e-mail is off (DOCSIGN_SMTP_URL is unset) but a message waits to be sent")
    target = transport.parse_smtp_url(settings.smtp_url)
    handle, sender = _sender(session, settings, row.agency)
    attachment = None
    if row.attachment_sha256:
        attachment = smime.Attachment(row.attachment_name or "document.pdf",
                                      BlobStore(settings.blob_dir).read_bytes(row.attachment_sha256))
    recipients = [r.strip() for r in row.recipients.split(",") if r.strip()]
    data = smime.signed_message(handle, sender_name=row.agency.name, sender=sender, recipients=recipients,
                                subject=row.subject, body=row.body, attachment=attachment,
                                message_id=f"<docsign-mail-{row.id}@{sender.rpartition('@')[2]}>",
                                when=dt.datetime.now(dt.UTC))
    try:
        transport.send_bytes(target, settings.mail_from or sender, recipients, data)
    except Exception:
        metrics.MAILS.labels("failed").inc()
        raise
    metrics.MAILS.labels("sent").inc()
    row.sent_at = utcnow()
    row.attempts += 1
    row.last_error = None
    audit.record(session, "system", "mail.sent", agency_id=row.agency_id, object_type="mail", object_id=row.id,
                 details={"kind": row.kind, "to": recipients})
    log.info("mail %s (%s) sent to %s", row.id, row.kind, ", ".join(recipients))
    return True


def record_failure(session: Session, mail_id: int, reason: str) -> None:
    """A message given up for good (refused, or out of attempts): the reason stays on its row."""
    row = session.get(MailMessage, mail_id)
    if row is not None and row.sent_at is None:
        row.attempts += 1
        row.last_error = reason[:2000]


def set_agency_email(session: Session, code: str, address: str, *, actor: str) -> Agency:
    from docsign.exchange.directory import get_agency

    agency = get_agency(session, code)
    agency.email = checked_address(address, "agency address")
    audit.record(session, actor, "agency.email", agency_id=agency.id, object_type="agency", object_id=agency.code,
                 details={"email": agency.email})
    return agency


def set_user_email(session: Session, login: str, address: str | None, *, actor: str) -> User:
    user = session.scalar(select(User).where(User.login == login.strip().lower()))
    if user is None:
        raise NotFound(f"no user {login!r}")
    user.email = checked_address(address, "user address") if address else None
    audit.record(session, actor, "user.email", agency_id=user.agency_id, object_type="user", object_id=user.id,
                 details={"email": user.email})
    return user
