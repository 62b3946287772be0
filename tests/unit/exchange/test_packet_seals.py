"""Signed packets and signed receipts through the exchange flow, on every backend, with the demo PKI
served over HTTP: the sender's seal signs the packet, the recipient verifies it (and refuses unsigned
packets unless the peer is configured to send them), the 01 is a signed receipt the sender checks."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from docsign.db import session_scope
from docsign.exchange import edxml, packet_seals, receipts, xmlsig
from docsign.exchange import service as svc
from docsign.exchange.views import exchange_summary
from docsign.models import Agency, AuditEvent, Delivery, Exchange, StatusEvent
from docsign.pki.trust import trust_roots
from docsign.storage import BlobStore
from tests.conftest import run_cli
from tests.support.documents import sealed_pdf

pytestmark = pytest.mark.backend
PROVINCE, DEPT, LAC_SON, TAN_LAC = "000.00.00.H30", "000.00.16.H30", "000.00.35.H30", "000.00.36.H30"


@pytest.fixture
def sealed(demo_online, tmp_path):  # type: ignore[no-untyped-def]
    return sealed_pdf(demo_online, PROVINCE, tmp_path / "docs", number="05", seal_only=True).read_bytes()


def _send(settings, pdf, to=(LAC_SON,)) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    request = svc.SendRequest(sender_code=PROVINCE, recipient_codes=tuple(to), subject="Về việc thử ký gói tin")
    with session_scope(settings.database_url) as s:
        exchange = svc.send(s, settings, request, pdf, actor="test")
        return exchange.id, exchange.deliveries[0].id


def _replace_packet(settings, delivery_id, change) -> None:  # type: ignore[no-untyped-def]
    """Put other bytes in place of the exchange's packet, as another system (or an attacker) would send them."""
    with session_scope(settings.database_url) as s:
        exchange = s.get(Delivery, delivery_id).exchange
        data = change(s, svc.read_packet(settings, exchange))
        exchange.packet_sha256 = BlobStore(settings.blob_dir).put_bytes(data).key


def _receive(settings, delivery_id):  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        return svc.receive(s, settings, delivery_id)


def _env(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}
    env.update({"DOCSIGN_DATA_DIR": str(settings.data_dir), "DOCSIGN_KEYS_DIR": str(settings.keys_dir),
                "DOCSIGN_DATABASE_URL": settings.database_url, "DOCSIGN_BROKER_URL": settings.broker_url,
                "DOCSIGN_PUBLIC_URL": settings.public_url})
    return env


def _unsigned(packet: bytes) -> bytes:
    root = xmlsig.parse_packet_xml(packet)
    for signature in list(root.iter(f"{{{xmlsig.DSIG_NS}}}Signature")):
        signature.getparent().remove(signature)
    from lxml import etree

    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _foreign_form(packet: bytes) -> bytes:
    """The packet with the Signature of the VPCP SDK's samples: XML-DSig's shape in edXML's namespace."""
    unsigned = _unsigned(packet)
    template = (b"<Signature><SignedInfo><SignatureMethod Algorithm=\"http://www.w3.org/2000/09/xmldsig#rsa-sha1\"/>"
                b"</SignedInfo><SignatureValue>R2JWYjhuOStxRnh6NDY2QWcw</SignatureValue><KeyInfo/></Signature>")
    return unsigned.replace(b"</edXML:edXMLHeader>", template + b"</edXML:edXMLHeader>", 1)


def test_sent_packet_is_signed_and_its_01_is_a_verified_signed_receipt(demo_online, sealed):
    exchange_id, delivery_id = _send(demo_online, sealed)
    with session_scope(demo_online.database_url) as s:
        packet = svc.read_packet(demo_online, s.get(Exchange, exchange_id))
    signature = xmlsig.verify_packet(packet, trust_roots=trust_roots(demo_online))
    assert signature.valid, signature.problems
    assert "Ủy ban nhân dân tỉnh Hòa Bình" in (signature.signer or "")
    assert edxml.parse_document_packet(packet).message_header.subject == "Về việc thử ký gói tin"

    assert _receive(demo_online, delivery_id).state == "delivered"
    with session_scope(demo_online.database_url) as s:
        event = s.get(Delivery, delivery_id).events[-1]
        assert event.code == "01" and event.receipt_verified is None  # not yet on the sender's side
        status_packet = BlobStore(demo_online.blob_dir).read_bytes(event.packet_sha256)
        event_id = event.id
    receipt = receipts.read_receipt(status_packet)
    assert receipt is not None and receipt.document_id == edxml.parse_document_packet(packet).message_header.document_id
    import hashlib

    assert receipt.pdf_sha256 == hashlib.sha256(sealed).hexdigest() and receipt.receiver_code == LAC_SON
    assert edxml.parse_status_packet(status_packet).status_code.value == "01"  # still a status packet to others
    with session_scope(demo_online.database_url) as s:
        assert svc.status_reached(s, demo_online, [event_id]) == 1
    with session_scope(demo_online.database_url) as s:
        event = s.get(StatusEvent, event_id)
        assert event.receipt_verified is True and "Ủy ban nhân dân huyện Lạc Sơn" in event.receipt_note
        history = exchange_summary(s, exchange_id)["deliveries"][0]["history"]
        assert history[-1]["receipt"]["verified"] is True

    # `docsign exchange show` and the sender's page show it (Vietnamese first)
    shown = run_cli("exchange", "show", exchange_id, env=_env(demo_online))
    assert shown.returncode == 0, shown.stderr
    assert "signed receipt verified: Common Name: Ủy ban nhân dân huyện Lạc Sơn" in shown.stdout
    from docsign.web.app import create_app
    from tests.web.test_documents import Browser

    page = Browser(create_app(demo_online), "tinh.vanthu").text(f"/sent/{exchange_id}")
    assert "Biên nhận có ký số đã xác minh" in page


def test_packet_changed_after_signing_is_answered_02(demo_online, sealed):
    _, delivery_id = _send(demo_online, sealed)
    _replace_packet(demo_online, delivery_id,
                    lambda s, data: data.replace("Về việc thử ký gói tin".encode(), "Về việc khác".encode()))
    outcome = _receive(demo_online, delivery_id)
    assert outcome.state == "rejected" and "changed after it was signed" in outcome.detail
    with session_scope(demo_online.database_url) as s:
        delivery = s.get(Delivery, delivery_id)
        assert delivery.events[-1].code == "02" and "changed after it was signed" in delivery.events[-1].description
        assert delivery.inbox_document_id is None


def test_unsigned_packets_only_from_peers_configured_to_send_them(demo_online, sealed, tmp_path):
    _, delivery_id = _send(demo_online, sealed)
    _replace_packet(demo_online, delivery_id, lambda s, data: _unsigned(data))
    outcome = _receive(demo_online, delivery_id)
    assert outcome.state == "rejected" and "not configured to send unsigned packets" in outcome.detail

    # the VPCP SDK's and Bkav's packets carry the XML-DSig shape under edXML's namespace: no XML-DSig either
    other = sealed_pdf(demo_online, PROVINCE, tmp_path / "second", number="06", seal_only=True).read_bytes()
    _, second = _send(demo_online, other)
    _replace_packet(demo_online, second, lambda s, data: _foreign_form(data))
    outcome = _receive(demo_online, second)
    assert outcome.state == "rejected" and "no XML-DSig signature" in outcome.detail

    with session_scope(demo_online.database_url) as s:
        s.scalar(select(Agency).where(Agency.code == PROVINCE)).sends_unsigned_packets = True
    for number, change in (("07", _unsigned), ("08", _foreign_form)):
        pdf = sealed_pdf(demo_online, PROVINCE, tmp_path / number, number=number, seal_only=True).read_bytes()
        _, delivery = _send(demo_online, pdf)
        _replace_packet(demo_online, delivery, lambda s, data, change=change: change(data))
        assert _receive(demo_online, delivery).state == "delivered"


def test_packet_signed_by_another_agencys_seal_is_answered_02(demo_online, sealed):
    _, delivery_id = _send(demo_online, sealed)

    def resign(s, data):  # type: ignore[no-untyped-def]
        dept = s.scalar(select(Agency).where(Agency.code == DEPT))
        return packet_seals.seal_outgoing(s, demo_online, dept, _unsigned(data))

    _replace_packet(demo_online, delivery_id, resign)
    outcome = _receive(demo_online, delivery_id)
    assert outcome.state == "rejected"
    assert "which is not the seal of Ủy ban nhân dân tỉnh Hòa Bình (000.00.00.H30)" in outcome.detail


@pytest.mark.parametrize(("forge", "reason"), [
    ("other agency", "is not the seal of Ủy ban nhân dân huyện Lạc Sơn"),
    ("other bytes", "the receipt is for other bytes"),
    ("unsigned", "the 01 carries no signed receipt"),
])
def test_a_forged_receipt_is_refused_with_a_recorded_reason(demo_online, sealed, forge, reason):
    exchange_id, delivery_id = _send(demo_online, sealed)
    assert _receive(demo_online, delivery_id).state == "delivered"
    store = BlobStore(demo_online.blob_dir)
    with session_scope(demo_online.database_url) as s:
        event = s.get(Delivery, delivery_id).events[-1]
        unsigned_01 = _unsigned(store.read_bytes(event.packet_sha256))
        receipt = receipts.read_receipt(unsigned_01)
        assert receipt is not None
        if forge == "other agency":  # Tân Lạc signs a receipt for Lạc Sơn's delivery
            tan_lac = s.scalar(select(Agency).where(Agency.code == TAN_LAC))
            forged = xmlsig.sign_packet(unsigned_01, packet_seals.seal_key(s, demo_online, tan_lac))
        elif forge == "other bytes":
            lac_son = s.scalar(select(Agency).where(Agency.code == LAC_SON))
            tampered = unsigned_01.replace(receipt.pdf_sha256.encode(), b"0" * 64)
            forged = xmlsig.sign_packet(tampered, packet_seals.seal_key(s, demo_online, lac_son))
        else:
            forged = unsigned_01
        event.packet_sha256 = store.put_bytes(forged).key
        event_id = event.id
    with session_scope(demo_online.database_url) as s:
        assert svc.status_reached(s, demo_online, [event_id]) == 1
    with session_scope(demo_online.database_url) as s:
        event = s.get(StatusEvent, event_id)
        assert event.receipt_verified is False and reason in event.receipt_note
        assert s.scalar(select(func.count()).where(AuditEvent.action == "exchange.receipt_refused")) == 1
        assert exchange_summary(s, exchange_id)["deliveries"][0]["history"][-1]["receipt"]["verified"] is False
