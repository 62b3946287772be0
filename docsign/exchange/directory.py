"""The agency directory: agencies with their QCVN 102 codes and edXML contact fields."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from docsign import audit
from docsign.errors import Conflict, InvalidInput, NotFound
from docsign.exchange.edxml.model import StatusForm
from docsign.models import Agency, AgencyAlias


def add_agency(session: Session, *, code: str, name: str, parent_code: str | None = None,
               organization_in_charge: str | None = None, address: str | None = None, email: str | None = None,
               telephone: str | None = None, fax: str | None = None, website: str | None = None,
               is_demo: bool = False, status_form: str | None = None, actor: str = "system") -> Agency:
    code = code.strip().upper()
    if not name.strip() or len(name) > 200:
        raise InvalidInput("agency name is required and has at most 200 characters")
    if session.scalar(select(Agency.id).where(Agency.code == code)) is not None:
        raise Conflict(f"an agency with code {code} already exists")
    parent = None
    if parent_code:
        parent = get_agency(session, parent_code)
    agency = Agency(code=code, name=name.strip(), parent=parent, organization_in_charge=organization_in_charge,
                    address=address, email=email, telephone=telephone, fax=fax, website=website, is_demo=is_demo,
                    status_form=_status_form(status_form))
    session.add(agency)
    session.flush()
    audit.record(session, actor, "agency.add", agency_id=agency.id, object_type="agency", object_id=agency.code,
                 details={"name": agency.name})
    return agency


def _status_form(value: str | None) -> StatusForm:
    if not value:
        return StatusForm.MESSAGE_HEADER  # what the national axis and the VNPT library read
    try:
        return StatusForm(value)
    except ValueError:
        raise InvalidInput(f"status form is {' or '.join(StatusForm)}, not {value!r}") from None


def get_agency(session: Session, code: str) -> Agency:
    """The agency with this code, or with this former code (kept as an alias by directory synchronisation)."""
    code = code.strip().upper()
    agency = session.scalar(select(Agency).where(Agency.code == code))
    if agency is None:
        agency = session.scalar(select(Agency).join(AgencyAlias, AgencyAlias.agency_id == Agency.id)
                                .where(AgencyAlias.code == code))
    if agency is None:
        raise NotFound(f"no agency with code {code} in the directory")
    return agency


def list_agencies(session: Session) -> list[Agency]:
    return list(session.scalars(select(Agency).order_by(Agency.code)))


def codes_of(session: Session, agency: Agency) -> set[str]:
    """The agency's code and its former codes: the OrganIds a packet for it may carry."""
    return {agency.code, *session.scalars(select(AgencyAlias.code).where(AgencyAlias.agency_id == agency.id))}
