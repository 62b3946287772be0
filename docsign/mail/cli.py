"""`docsign mail ...`, `docsign agency set-email`, `docsign user set-email`."""

from __future__ import annotations

import click
from sqlalchemy import select

from docsign.models import MailMessage


@click.group("mail")
def mail() -> None:
    """Signed e-mail (S/MIME with the agency's seal)."""


@mail.command("send")
@click.argument("document_id", type=int)
@click.option("--to", "to", required=True, multiple=True, help="Recipient address (repeat, or comma-separated).")
@click.option("--note", help="A line to put above the standard text.")
def mail_send(document_id: int, to: tuple[str, ...], note: str | None) -> None:
    """Send an issued document's PDF by signed e-mail to a unit that is on no exchange."""
    from docsign.cli import db_session, settings
    from docsign.errors import NotFound
    from docsign.mail.service import mail_document
    from docsign.models import Document

    with db_session() as session:
        document = session.get(Document, document_id)
        if document is None:
            raise NotFound(f"document {document_id} does not exist")
        row = mail_document(session, settings(), document, to, actor="cli", note=note)
        click.echo(f"mail {row.id} queued for {row.recipients}: a worker signs and sends it")


@mail.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000))
def mail_list(limit: int) -> None:
    """The latest messages: sent, waiting, or given up (with the reason)."""
    from docsign.cli import db_session

    with db_session() as session:
        for row in session.scalars(select(MailMessage).order_by(MailMessage.id.desc()).limit(limit)):
            state = f"sent {row.sent_at:%Y-%m-%d %H:%M}Z" if row.sent_at else (
                f"failed: {row.last_error}" if row.last_error else "waiting")
            click.echo(f"{row.id}  {row.kind:9}  {row.recipients}  {state}")


@click.command("set-email")
@click.argument("code")
@click.argument("address")
def agency_set_email(code: str, address: str) -> None:
    """The agency's address: notifications go there, and the demo PKI names it in the seal."""
    from docsign.cli import db_session
    from docsign.mail.service import set_agency_email

    with db_session() as session:
        agency = set_agency_email(session, code, address, actor="cli")
        click.echo(f"{agency.code} e-mail is {agency.email}")


@click.command("set-email")
@click.argument("login")
@click.argument("address", required=False)
def user_set_email(login: str, address: str | None) -> None:
    """A person's address for notifications of their agency (none to stop them)."""
    from docsign.cli import db_session
    from docsign.mail.service import set_user_email

    with db_session() as session:
        user = set_user_email(session, login, address, actor="cli")
        click.echo(f"{user.login} e-mail is {user.email or '(none)'}")
