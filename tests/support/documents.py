"""Signed documents of the demo agencies, made the way a clerk makes them (approve, then issue)."""

from __future__ import annotations

from pathlib import Path

from docsign.config import Settings
from docsign.db import session_scope
from docsign.pki.keys import key_spec_for, load_key
from docsign.signing.request import Role, SignRequest
from docsign.signing.service import sign_pdf
from tests.unit.signing.pdfgen import make_pdf


def load_registered_key(settings: Settings, keyref: str):  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as session:
        return load_key(key_spec_for(session, keyref, settings))


def sealed_pdf(settings: Settings, agency_code: str, directory: Path, *, number: str = "01",
               notation: str = "UBND-VP", pages: int = 1, seal_only: bool = False, image_bytes: int = 0) -> Path:
    """A PDF sealed by ``agency_code``'s registered seal key (after its leader's approval unless seal_only);
    ``image_bytes`` adds a raw image that big (a scan)."""
    directory.mkdir(parents=True, exist_ok=True)
    draft = make_pdf(directory / f"draft-{agency_code}-{number}.pdf", pages, image_bytes=image_bytes,
                     notation=notation)
    issued = directory / f"issued-{agency_code}-{number}.pdf"
    seal = load_registered_key(settings, f"agency:{agency_code}")
    if seal_only:
        sign_pdf(draft, issued, seal, SignRequest())
        return issued
    from sqlalchemy import select

    from docsign.models import Agency, User
    from docsign.models import Role as UserRole

    with session_scope(settings.database_url) as session:
        leader = session.scalar(select(User.login).join(Agency).where(Agency.code == agency_code,
                                                                       User.role == UserRole.LEADER))
    approved = directory / f"approved-{agency_code}-{number}.pdf"
    sign_pdf(draft, approved, load_registered_key(settings, f"user:{leader}"), SignRequest(role=Role.APPROVE))
    sign_pdf(approved, issued, seal, SignRequest(role=Role.ISSUE, number=number, notation=notation))
    return issued
