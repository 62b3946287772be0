"""Demo data from the seed story: a province, its Department of Information and Communications and
two district People's Committees, each with a leader, a clerk and an officer, with seal and
personal keys from the demo PKI. Idempotent: existing rows are left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session

from docsign.config import Settings
from docsign.exchange.directory import add_agency
from docsign.models import Agency, KeyKind, KeyRef, KeySource, Role, User
from docsign.pki import demo as demo_pki

DEMO_PASSWORD = "docsign-demo"  # noqa: S105 - printed by `docsign init --demo`; demo accounts only
PROVINCE = "Hòa Bình"


@dataclass(frozen=True)
class DemoAgency:
    code: str
    name: str
    slug: str
    parent: str | None
    leader: tuple[str, str]
    """(full name, position)"""


# Codes follow the QCVN 102 form with the province's level-1 code; they are demo values, marked so.
AGENCIES = (
    DemoAgency("000.00.00.H30", "Ủy ban nhân dân tỉnh Hòa Bình", "tinh", None,
               ("Nguyễn Văn An", "Chủ tịch")),
    DemoAgency("000.00.16.H30", "Sở Thông tin và Truyền thông tỉnh Hòa Bình", "sotttt", "000.00.00.H30",
               ("Trần Thị Bình", "Giám đốc")),
    DemoAgency("000.00.35.H30", "Ủy ban nhân dân huyện Lạc Sơn", "lacson", "000.00.00.H30",
               ("Bùi Văn Cường", "Chủ tịch")),
    DemoAgency("000.00.36.H30", "Ủy ban nhân dân huyện Tân Lạc", "tanlac", "000.00.00.H30",
               ("Đinh Thị Dung", "Chủ tịch")),
)
STAFF = (("vanthu", Role.CLERK, "Văn thư", "Lê Thị Hoa"), ("chuyenvien", Role.OFFICER, "Chuyên viên", "Phạm Văn Khánh"))


@dataclass(frozen=True)
class DemoLogin:
    login: str
    role: str
    agency: str


def seed_demo(session: Session, settings: Settings) -> list[DemoLogin]:
    store, _ = demo_pki.ensure_demo_pki(settings)
    logins: list[DemoLogin] = []
    if session.scalar(select(User.id).where(User.login == "admin")) is None:
        _ensure_agency(session, AGENCIES[0])
        _add_user(session, "admin", "Quản trị hệ thống", AGENCIES[0].code, Role.ADMIN, "Quản trị viên")
    logins.append(DemoLogin("admin", Role.ADMIN.value, AGENCIES[0].name))
    for spec in AGENCIES:
        agency = _ensure_agency(session, spec)
        if session.scalar(select(KeyRef.id).where(KeyRef.agency_id == agency.id)) is None:
            cert, _key, path = demo_pki.issue_seal(store, agency_code=spec.code, agency_name=spec.name,
                                                   locality=PROVINCE, email=agency.email)
            _add_key(session, settings, cert, path, kind=KeyKind.SEAL, agency=agency,
                     label=f"Con dấu số - {spec.name}")
        leader_login = f"{spec.slug}.lanhdao"
        leader = _add_user(session, leader_login, spec.leader[0], spec.code, Role.LEADER, spec.leader[1])
        if session.scalar(select(KeyRef.id).where(KeyRef.user_id == leader.id)) is None:
            cert, _key, path = demo_pki.issue_personal(store, login=leader_login, full_name=spec.leader[0],
                                                       agency_name=spec.name, locality=PROVINCE)
            _add_key(session, settings, cert, path, kind=KeyKind.PERSONAL, user=leader,
                     label=f"Chữ ký số - {spec.leader[0]}")
        logins.append(DemoLogin(leader_login, Role.LEADER.value, spec.name))
        for suffix, role, position, full_name in STAFF:
            _add_user(session, f"{spec.slug}.{suffix}", full_name, spec.code, role, position)
            logins.append(DemoLogin(f"{spec.slug}.{suffix}", role.value, spec.name))
    return logins


def demo_email(slug: str) -> str:
    """A demo agency's mailbox: under example.org (RFC 2606), so no real mailbox is ever written to."""
    return f"vanthu.{slug}@docsign-demo.example.org"


def _ensure_agency(session: Session, spec: DemoAgency) -> Agency:
    agency = session.scalar(select(Agency).where(Agency.code == spec.code))
    if agency is None:
        agency = add_agency(session, code=spec.code, name=spec.name, parent_code=spec.parent,
                            organization_in_charge=None if spec.parent is None else AGENCIES[0].name,
                            address=f"Thành phố Hòa Bình, tỉnh {PROVINCE}", email=demo_email(spec.slug),
                            is_demo=True)
    return agency


def _add_user(session: Session, login: str, full_name: str, agency_code: str, role: Role, position: str) -> User:
    from docsign.accounts import add_user

    user = session.scalar(select(User).where(User.login == login))
    if user is None:
        user = add_user(session, login=login, full_name=full_name, agency_code=agency_code, role=role,
                        password=DEMO_PASSWORD, position=position, allow_short_password=True)
    return user


def _add_key(session: Session, settings: Settings, cert, path, *, kind: KeyKind,  # type: ignore[no-untyped-def]
             label: str, agency: Agency | None = None, user: User | None = None) -> None:
    location = str(path.relative_to(settings.keys_dir)) if path.is_relative_to(settings.keys_dir) else str(path)
    session.add(KeyRef(agency=agency, user=user, kind=kind, source=KeySource.PKCS12, location=location,
                       certificate_der=cert.public_bytes(serialization.Encoding.DER), label=label))
    session.flush()
