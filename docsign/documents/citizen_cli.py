"""`docsign result ...`: one-stop-shop results ("kết quả một cửa") of an agency: show the citizen's page,
and make the PDF downloadable there (or not)."""

from __future__ import annotations

import click
from sqlalchemy import select


def _document(session, agency_code: str, document_id: int):  # type: ignore[no-untyped-def]
    from docsign.errors import NotFound
    from docsign.models import Agency, Document

    document = session.scalar(select(Document).join(Agency, Document.agency_id == Agency.id)
                              .where(Document.id == document_id, Agency.code == agency_code))
    if document is None:
        raise NotFound(f"document {document_id} does not exist in agency {agency_code}")
    return document


@click.group("result")
def result_group() -> None:
    """Kết quả một cửa / one-stop-shop results citizens check through the QR code in the seal."""


@result_group.command("show")
@click.argument("document_id", type=int)
@click.option("--agency", "agency_code", required=True)
def show(document_id: int, agency_code: str) -> None:
    """Print the citizen's page URL and whether the PDF can be downloaded there."""
    from docsign.config import load_settings
    from docsign.documents import citizen
    from docsign.documents.cli import _session
    from docsign.documents.errors import WrongStage

    with _session() as session:
        document = _document(session, agency_code, document_id)
        if document.citizen_token is None:
            raise WrongStage(f"document {document_id} is not a one-stop-shop result (it has no QR code)")
        click.echo(citizen.verify_url(load_settings(), document.citizen_token))
        click.echo("public: yes" if document.citizen_public else "public: no")


@result_group.command("public")
@click.argument("document_id", type=int)
@click.option("--agency", "agency_code", required=True)
@click.option("--off", is_flag=True, help="Stop offering the PDF for download.")
def public(document_id: int, agency_code: str, off: bool) -> None:
    """Let whoever holds the QR code download the PDF from the citizen's page (--off: stop it)."""
    from docsign.documents import citizen
    from docsign.documents.cli import _session

    with _session() as session:
        citizen.set_public(session, _document(session, agency_code, document_id), not off, actor="cli")
    click.echo(f"document {document_id}: public {'no' if off else 'yes'}")
