"""Issue 9 item 8: tenancy of exchange data, attacked through the agency API with two agencies' tokens.

The attacks:
- a recipient reads ``GET /api/v1/exchanges/{id}``: before, it saw every recipient's status history,
  staff names and notes; now only its own delivery (the sender still sees all of them, a bystander
  nothing);
- an agency imports a packet whose DocumentId names another agency (before: 201, and the real owner's
  send of that DocumentId was then answered 409); or reuses another sender's opaque DocumentId (before:
  409 for the second sender): now a DocumentId must name its From agency, and is unique per sender;
- an agency sends a document signed only by its leader's personal certificate, whose organisation is the
  agency's name (before: accepted as the agency's seal); now only a seal passes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import uuid

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from docsign.accounts import create_token
from docsign.db import session_scope
from docsign.exchange import edxml
from docsign.exchange import service as svc
from docsign.exchange.packet_seals import signer_of
from docsign.exchange.verdicts import seal_owned_by
from docsign.models import Agency, Exchange
from docsign.pki.authority import name
from docsign.pki.demo import ISSUING_CA, load_demo_pki
from docsign.signing.request import SignRequest
from docsign.signing.service import sign_pdf
from docsign.web.app import create_app
from tests.support.documents import load_registered_key, sealed_pdf
from tests.unit.exchange.factories import sample_packet
from tests.unit.signing.pdfgen import make_pdf

pytestmark = pytest.mark.embedded_only
PROVINCE, DEPT, LAC_SON, TAN_LAC = "000.00.00.H30", "000.00.16.H30", "000.00.35.H30", "000.00.36.H30"
VN = dt.timezone(dt.timedelta(hours=7))


@pytest.fixture
def api(demo_online):  # type: ignore[no-untyped-def]
    with session_scope(demo_online.database_url) as s:
        tokens = {code: create_token(s, code, "dms")[1] for code in (PROVINCE, DEPT, LAC_SON, TAN_LAC)}
    client = create_app(demo_online).test_client()

    def call(method, path, code, **kw):  # type: ignore[no-untyped-def]
        return client.open(path, method=method, headers={"Authorization": f"Bearer {tokens[code]}"}, **kw)

    call.settings = demo_online
    return call


def _send(api, pdf: bytes, sender: str, to: str, number: str = "01"):  # type: ignore[no-untyped-def]
    return api("POST", "/api/v1/exchanges", sender, data={"file": (io.BytesIO(pdf), "cv.pdf"), "to": to,
                                                           "subject": "Về việc thử", "number": number,
                                                           "notation": "UBND-VP"})


def _import(api, sender: str, document_id: str, pdf: bytes):  # type: ignore[no-untyped-def]
    """``sender``'s own packet (From is the token's agency, its own seal on the PDF) with ``document_id``."""
    packet = sample_packet(from_=edxml.Organization(sender, "Cơ quan gửi", "UBND tỉnh Hòa Bình"),
                           to=(edxml.Organization(TAN_LAC, "UBND huyện Tân Lạc", "UBND tỉnh Hòa Bình"),),
                           document_id=document_id)
    packet = dataclasses.replace(packet, attachments=(edxml.Attachment.new("vb.pdf", pdf),))
    return api("POST", "/api/v1/exchanges/import", sender, data=edxml.build_document_packet(packet, strict=False),
               content_type="application/xml")


def test_a_recipient_reads_only_its_own_delivery(api, tmp_path):  # type: ignore[no-untyped-def]
    sealed = sealed_pdf(api.settings, PROVINCE, tmp_path, seal_only=True).read_bytes()
    sent = _send(api, sealed, PROVINCE, f"{LAC_SON},{DEPT}")
    assert sent.status_code == 201, sent.json
    exchange_id = sent.json["id"]
    deliveries = {d["recipient"]["code"]: d["id"] for d in sent.json["deliveries"]}
    with session_scope(api.settings.database_url) as s:
        for delivery_id in deliveries.values():
            svc.receive(s, api.settings, delivery_id)
    secret_staff, secret_note = "Nguyễn Thị Mật", "ghi chú nội bộ của Sở về người xử lý"
    given = api("POST", f"/api/v1/deliveries/{deliveries[DEPT]}/status", DEPT,
                json={"code": "03", "staff": secret_staff, "description": secret_note})
    assert given.status_code == 201, given.json

    seen = api("GET", f"/api/v1/exchanges/{exchange_id}", LAC_SON)
    assert seen.status_code == 200
    assert [d["recipient"]["code"] for d in seen.json["deliveries"]] == [LAC_SON]
    assert secret_staff not in seen.get_data(as_text=True) and secret_note not in seen.get_data(as_text=True)
    assert DEPT not in seen.get_data(as_text=True)
    # The sender sees every delivery, with the other side's notes.
    by_sender = api("GET", f"/api/v1/exchanges/{exchange_id}", PROVINCE).json["deliveries"]
    assert {d["recipient"]["code"] for d in by_sender} == {LAC_SON, DEPT}
    assert secret_note in [e["description"] for d in by_sender for e in d["history"]]
    # A recipient may fetch the packet it received; nobody else may read anything of the exchange.
    assert api("GET", f"/api/v1/exchanges/{exchange_id}/packet", LAC_SON).status_code == 200
    for path in (f"/api/v1/exchanges/{exchange_id}", f"/api/v1/exchanges/{exchange_id}/packet"):
        assert api("GET", path, TAN_LAC).status_code == 404
    # Another recipient's delivery is not the recipient's to read or move.
    assert api("GET", f"/api/v1/deliveries/{deliveries[DEPT]}/document", LAC_SON).status_code == 404
    moved = api("POST", f"/api/v1/deliveries/{deliveries[DEPT]}/status", LAC_SON, json={"code": "05"})
    assert moved.status_code == 404


def test_an_agency_cannot_squat_another_agencys_document_id(api, tmp_path):  # type: ignore[no-untyped-def]
    today = dt.datetime.now(VN).date()
    province_id = edxml.make_document_id(PROVINCE, today, "01", "UBND-VP")
    dept_sealed = sealed_pdf(api.settings, DEPT, tmp_path / "dept", seal_only=True).read_bytes()
    for squatted in (province_id, f" {PROVINCE.lower()} ,{today:%Y/%m/%d},01/UBND-VP"):
        squat = _import(api, DEPT, squatted, dept_sealed)
        assert squat.status_code == 400, squat.json
        assert "names agency" in squat.json["detail"]
    with session_scope(api.settings.database_url) as s:
        assert s.scalar(select(func.count(Exchange.id))) == 0
    # The real owner's send of that DocumentId goes through.
    province_sealed = sealed_pdf(api.settings, PROVINCE, tmp_path / "province", seal_only=True).read_bytes()
    real = _send(api, province_sealed, PROVINCE, LAC_SON, number="01")
    assert real.status_code == 201, real.json
    assert real.json["document_id"] == province_id


def test_document_ids_are_unique_per_sender(api, tmp_path):  # type: ignore[no-untyped-def]
    """Other systems' opaque DocumentIds (UUIDs) name no agency: one sender's cannot block another's."""
    opaque = str(uuid.uuid4())
    dept_sealed = sealed_pdf(api.settings, DEPT, tmp_path / "dept", seal_only=True).read_bytes()
    province_sealed = sealed_pdf(api.settings, PROVINCE, tmp_path / "province", seal_only=True).read_bytes()
    first = _import(api, DEPT, opaque, dept_sealed)
    assert first.status_code == 201, first.json
    second = _import(api, PROVINCE, opaque, province_sealed)
    assert second.status_code == 201, second.json
    again = _import(api, PROVINCE, opaque, province_sealed)
    assert again.status_code == 409 and PROVINCE in again.json["detail"]


def test_a_leaders_personal_certificate_is_not_the_agencys_seal(api, tmp_path):  # type: ignore[no-untyped-def]
    with session_scope(api.settings.database_url) as s:
        from docsign.models import Role, User

        leader = s.scalar(select(User.login).join(Agency).where(Agency.code == PROVINCE, User.role == Role.LEADER))
    draft = make_pdf(tmp_path / "draft.pdf", 1)
    personal = tmp_path / "personal.pdf"
    sign_pdf(draft, personal, load_registered_key(api.settings, f"user:{leader}"), SignRequest())
    refused = _send(api, personal.read_bytes(), PROVINCE, LAC_SON)
    assert refused.status_code == 400, refused.json
    assert "not a seal" in refused.json["detail"]
    with session_scope(api.settings.database_url) as s:
        assert s.scalar(select(func.count(Exchange.id))) == 0
    sealed = sealed_pdf(api.settings, PROVINCE, tmp_path / "sealed", seal_only=True).read_bytes()
    assert _send(api, sealed, PROVINCE, LAC_SON).status_code == 201


def _signer(cert: x509.Certificate):  # type: ignore[no-untyped-def]
    return signer_of(asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)))


def test_the_seal_profile(demo):  # type: ignore[no-untyped-def]
    """What passes for the agency's seal without being its registered key: an organisation certificate of the
    agency (CN and O its name) from the CA of its registered seal, nothing that names a person, nor one
    from another CA of the same trust store."""
    store = load_demo_pki(demo)
    with session_scope(demo.database_url) as s:
        agency = s.scalar(select(Agency).where(Agency.code == PROVINCE))
        renewed, _, _ = store.issue_signer("renewed-seal", name(agency.name, agency.name, unit=PROVINCE), ISSUING_CA)
        assert seal_owned_by(s, [_signer(renewed)], agency)
        leader_like, _, _ = store.issue_signer("leader", name("Bùi Văn Khánh", agency.name), ISSUING_CA)
        assert not seal_owned_by(s, [_signer(leader_like)], agency)
        person_named = x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                                  x509.NameAttribute(NameOID.ORGANIZATION_NAME, agency.name),
                                  x509.NameAttribute(NameOID.GIVEN_NAME, "Khánh"),
                                  x509.NameAttribute(NameOID.SURNAME, "Bùi"),
                                  x509.NameAttribute(NameOID.COMMON_NAME, agency.name)])
        disguised, _, _ = store.issue_signer("disguised", person_named, ISSUING_CA)
        assert not seal_owned_by(s, [_signer(disguised)], agency)
        store.add_ca("other-ca", name("Another CA under the same root", "Other"), parent="root")
        elsewhere, _, _ = store.issue_signer("elsewhere", name(agency.name, agency.name, unit=PROVINCE), "other-ca")
        assert not seal_owned_by(s, [_signer(elsewhere)], agency)
