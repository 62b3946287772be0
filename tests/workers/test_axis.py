"""The national document axis adapter against a fake axis that follows the public SDK's contract
(tests/support/fake_axis.py, a real HTTP server on loopback), with the demo PKI served over HTTP.

Tân Lạc (000.00.36.H30) plays an agency whose own system is on the axis: it is marked ``via_axis`` here,
and its system speaks to the fake axis with a client of its own."""

from __future__ import annotations

import dataclasses
import re

import pytest
from sqlalchemy import func, select

from docsign.config import ConfigError, load_settings
from docsign.db import session_scope
from docsign.errors import DocsignError
from docsign.exchange import axis, edxml, packet_seals, receipts, xmlsig
from docsign.exchange import service as svc
from docsign.exchange.directory import get_agency
from docsign.exchange.statuses import StatusCode
from docsign.ltv import service as ltv
from docsign.models import Agency, AgencyAlias, AxisMessage, Delivery, Exchange, OutboxMessage, StatusEvent
from docsign.pki.trust import trust_roots
from tests.support.documents import sealed_pdf
from tests.support.fake_axis import FakeAxis

pytestmark = pytest.mark.backend
PROVINCE, DEPT, LAC_SON, TAN_LAC = "000.00.00.H30", "000.00.16.H30", "000.00.35.H30", "000.00.36.H30"
OURS, THEIRS = "docsign.hoabinh", "tanlac.vpdt"
OUR_SECRET, THEIR_SECRET = "AwyOIWljooz1hxgZsxpEBjCo", "Zsx9pEBjCoj5rg9dMMsLJl0Y"


@pytest.fixture
def world(demo_online, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    fake = FakeAxis({OURS: (OUR_SECRET, {PROVINCE, DEPT, LAC_SON}), THEIRS: (THEIR_SECRET, {TAN_LAC})})
    with fake:
        settings = dataclasses.replace(demo_online, axis_url=fake.url, axis_system_id=OURS, axis_secret=OUR_SECRET)
        with session_scope(settings.database_url) as s:
            s.scalar(select(Agency).where(Agency.code == TAN_LAC)).via_axis = True
        from workers.app import celery_app

        monkeypatch.setitem(celery_app.conf, "docsign_settings", settings)
        client = axis.AxisClient.from_settings(settings)
        assert client is not None
        yield dataclasses.make_dataclass("World", ["settings", "fake", "client", "theirs", "docs"])(
            settings, fake, client, axis.AxisClient(fake.url, THEIRS, THEIR_SECRET), tmp_path / "docs")


def _relay(settings) -> list[tuple[str, str, dict]]:  # type: ignore[no-untyped-def, type-arg]
    """The outbox relay's publication, with a list for the broker."""
    published: list[tuple[str, str, dict]] = []  # type: ignore[type-arg]
    with session_scope(settings.database_url) as s:
        svc.publish_outbox(s, lambda task, queue, payload, *_: published.append((task, queue, payload)))
    return published


def _run_axis_task(payload):  # type: ignore[no-untyped-def]
    from workers.axis_tasks import send

    return send.run(**payload)


def _send(settings, pdf, to) -> str:  # type: ignore[no-untyped-def]
    request = svc.SendRequest(sender_code=PROVINCE, recipient_codes=tuple(to), subject="Gửi qua trục liên thông")
    with session_scope(settings.database_url) as s:
        return svc.send(s, settings, request, pdf, actor="test").id


def _poll(w):  # type: ignore[no-untyped-def]
    from workers.axis_tasks import poll_once

    return poll_once(w.settings, w.client)


def _their_packet(w, number: str, to=(LAC_SON,)) -> bytes:  # type: ignore[no-untyped-def]
    """A document packet as Tân Lạc's own system writes it: its sealed PDF, the packet signed with its seal."""
    pdf = sealed_pdf(w.settings, TAN_LAC, w.docs, number=number, seal_only=True).read_bytes()
    with session_scope(w.settings.database_url) as s:
        tan_lac = get_agency(s, TAN_LAC)
        recipients = [get_agency(s, code) for code in to]
        today = edxml.vn_now().date()
        packet = edxml.DocumentPacket(
            message_header=edxml.MessageHeader(
                from_=svc.organization(tan_lac), to=tuple(svc.organization(r) for r in recipients),
                document_id=edxml.make_document_id(TAN_LAC, today, number, "UBND-VP"),
                code=edxml.Code(number, "UBND-VP"), promulgation_info=edxml.PromulgationInfo("Tân Lạc", today),
                document_type=edxml.DocumentType(2, "Công văn"), subject="Báo cáo của huyện Tân Lạc"),
            trace_header_list=edxml.TraceHeaderList(trace_headers=(edxml.TraceHeader(TAN_LAC, edxml.vn_now()),)),
            attachments=(edxml.Attachment.new("bao-cao.pdf", pdf),))
        return packet_seals.seal_outgoing(s, w.settings, tan_lac, edxml.build_document_packet(packet))


def test_sdk_headers_and_settings(world):
    w = world
    assert re.fullmatch(r"\d{8}T\d{6}\+\d{4}", axis.sdk_timestamp())
    headers = axis.signed_headers({"Content-Type": "application/json", "systemid": OURS, "docId": "7"}, OUR_SECRET)
    assert headers["XroadVnpt-sign-header-key"] == "Content-Type;systemid;docId"
    assert headers["XroadVnpt-sign-header"] == (
        '{"XroadVnpt-Content-Type":"application/json","XroadVnpt-systemid":"docsign.hoabinh","XroadVnpt-docId":"7"}')
    assert w.client.get_received_edoc_list("edoc") == []
    with pytest.raises(axis.AxisRefused, match="hash-header does not match"):
        axis.AxisClient(w.fake.url, OURS, "not-the-secret").get_received_edoc_list("edoc")
    assert load_settings({"DOCSIGN_DATA_DIR": "/tmp/x"}).axis_url is None
    assert axis.AxisClient.from_settings(load_settings({"DOCSIGN_DATA_DIR": "/tmp/x"})) is None
    with pytest.raises(ConfigError, match="DOCSIGN_AXIS_SYSTEM_ID"):
        load_settings({"DOCSIGN_AXIS_URL": "http://127.0.0.1:1"})


def test_a_document_goes_out_once_and_its_signed_receipt_comes_back(world):
    w = world
    pdf = sealed_pdf(w.settings, PROVINCE, w.docs, number="05", seal_only=True).read_bytes()
    exchange_id = _send(w.settings, pdf, (LAC_SON, TAN_LAC))
    published = _relay(w.settings)
    assert sorted((task, queue) for task, queue, _ in published) == [
        (axis.SEND_TASK, "docsign"), (svc.DELIVER_TASK, f"agency.{LAC_SON}")]
    to_axis = next(payload for task, _, payload in published if task == axis.SEND_TASK)
    doc_id = _run_axis_task(to_axis)
    assert _run_axis_task(to_axis) == doc_id  # the same message again (a redelivery, the sweeper): not re-sent
    sends = w.fake.sends("edoc")
    assert len(sends) == 1 and sends[0]["from"] == PROVINCE and sends[0]["servicetype"] == "eDoc"

    # Tân Lạc's system takes it from the axis: our signed packet, as sent
    listed = w.theirs.get_received_edoc_list("edoc")
    assert [item.doc_id for item in listed] == [doc_id]
    packet = w.theirs.get_edoc(doc_id)
    assert xmlsig.verify_packet(packet, trust_roots=trust_roots(w.settings)).valid
    w.theirs.update_status(doc_id, "done")
    assert w.theirs.get_received_edoc_list("edoc") == []

    # ... and answers 01 with a signed receipt through the axis
    parsed = edxml.parse_document_packet(packet)
    with session_scope(w.settings.database_url) as s:
        tan_lac = get_agency(s, TAN_LAC)
        status = edxml.build_status_packet(edxml.status_packet_for(parsed, svc.organization(tan_lac),
                                                                    StatusCode.ARRIVED))
        receipt = receipts.Receipt(parsed.message_header.document_id, _sha256(pdf), edxml.vn_now(), TAN_LAC)
        seal = receipts.receipt_sealer(s, w.settings, tan_lac, receipt)
    w.theirs.send_edoc(seal(status), from_code=TAN_LAC, message_type="status")
    result = _poll(w)
    # Lạc Sơn is on the axis through us too: our own packet came back and was not filed twice
    assert (result.filed, result.statuses, result.refused, result.echoes) == (0, 1, 0, 1)
    with session_scope(w.settings.database_url) as s:
        delivery = s.scalar(select(Delivery).where(Delivery.exchange_id == exchange_id,
                                                   Delivery.recipient.has(code=TAN_LAC)))
        assert delivery.state == "delivered"
        assert delivery.events[-1].code == "01" and delivery.events[-1].receipt_verified is True
    assert _poll(w).statuses == 0  # acknowledged: not offered again


def _sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


@pytest.mark.embedded_only
def test_an_axis_that_is_down_garbled_or_slow_is_retried_with_a_recorded_reason(world):
    w = world
    pdf = sealed_pdf(w.settings, PROVINCE, w.docs, number="06", seal_only=True).read_bytes()
    _send(w.settings, pdf, (TAN_LAC,))
    [(_, _, payload)] = _relay(w.settings)
    ref = f"delivery:{payload['delivery_id']}"

    def last_error() -> tuple[int, str]:
        with session_scope(w.settings.database_url) as s:
            row = s.scalar(select(AxisMessage).where(AxisMessage.local_ref == ref))
            return row.attempts, row.last_error or ""

    w.fake.stop()
    with pytest.raises(axis.AxisUnavailable):
        _run_axis_task(payload)
    assert last_error() == (1, "sendEdoc: the axis cannot be reached (ConnectionError)")
    with pytest.raises(axis.AxisUnavailable):
        _poll(w)
    w.fake.start()
    w.fake.mode = "garbage"
    with pytest.raises(axis.AxisUnavailable):
        _run_axis_task(payload)
    assert last_error()[0] == 2 and "not JSON" in last_error()[1]
    w.fake.mode, w.fake.slow_seconds = "slow", 1.0
    w.client.timeout = 0.3
    with pytest.raises(axis.AxisUnavailable, match=r"did not answer within 0\.3 s"), \
            session_scope(w.settings.database_url) as s:
        axis.publish(s, w.settings, w.client, delivery_id=payload["delivery_id"])
    w.fake.mode = "ok"
    _run_axis_task(payload)
    _run_axis_task(payload)
    # The slow axis took the packet after we gave up; sending it again named the same file (hash-file),
    # and the axis holds it once.
    assert len([d for d in w.fake.docs.values() if d.message_type == "edoc"]) == 1, "sent once"
    with session_scope(w.settings.database_url) as s:
        row = s.scalar(select(AxisMessage).where(AxisMessage.local_ref == ref))
        assert row.state == "sent" and row.last_error is None


def test_a_document_from_the_axis_is_filed_once_and_answered(world):
    w = world
    data = _their_packet(w, "11")
    doc_id = w.theirs.send_edoc(data, from_code=TAN_LAC, message_type="edoc")
    assert _poll(w).filed == 1
    with session_scope(w.settings.database_url) as s:
        exchange = s.scalar(select(Exchange).where(Exchange.sender.has(code=TAN_LAC)))
        assert [d.recipient.code for d in exchange.deliveries] == [LAC_SON]
        delivery_id = exchange.deliveries[0].id
    assert w.fake.docs[doc_id].status[OURS] == "done"

    w.fake.offer_again(doc_id)  # our "done" was lost: the axis lists it again
    result = _poll(w)
    assert (result.filed, result.acknowledged_again) == (0, 1)
    with session_scope(w.settings.database_url) as s:
        assert s.scalar(select(func.count()).select_from(Exchange).where(Exchange.sender.has(code=TAN_LAC))) == 1

    # the same receive path as the Celery queues: verified, filed, answered 01 ... through the axis
    published = _relay(w.settings)
    assert (svc.DELIVER_TASK, f"agency.{LAC_SON}", {"delivery_ids": [delivery_id]}) in published
    with session_scope(w.settings.database_url) as s:
        assert svc.receive(s, w.settings, delivery_id).state == "delivered"
    after_receipt = _relay(w.settings)  # the 01 for the axis, and the received document's B-LT extension
    assert sorted(task for task, _, _ in after_receipt) == sorted([axis.SEND_TASK, ltv.MAINTAIN_TASK])
    [payload] = [payload for task, _, payload in after_receipt if task == axis.SEND_TASK]
    assert "status_event_id" in payload
    _run_axis_task(payload)
    [status_item] = w.theirs.get_received_edoc_list("status")
    status = w.theirs.get_edoc(status_item.doc_id)
    assert edxml.parse_status_packet(status).status_code is StatusCode.ARRIVED
    assert xmlsig.verify_packet(status, trust_roots=trust_roots(w.settings)).valid
    receipt = receipts.read_receipt(status)
    assert receipt is not None and receipt.receiver_code == LAC_SON


def test_bad_packets_from_the_axis_are_refused_with_a_reason_and_nothing_filed(world):
    w = world
    garbage = w.fake.inject(TAN_LAC, [LAC_SON], b"%PDF-1.7 this is not an edXML packet")
    unknown_doc = edxml.build_status_packet(edxml.StatusPacket(
        response_for=edxml.ResponseFor(PROVINCE, "99/VP", edxml.vn_now().date(), "000.00.00.H30,2020/01/01,99/VP"),
        from_=edxml.Organization(TAN_LAC, "UBND huyện Tân Lạc"), status_code=StatusCode.ARRIVED,
        timestamp=edxml.vn_now()))
    stray_status = w.fake.inject(TAN_LAC, [PROVINCE], unknown_doc, "status")
    result = _poll(w)
    assert (result.filed, result.statuses, result.refused) == (0, 0, 2)
    assert w.fake.docs[garbage].status[OURS] == "fail" and w.fake.docs[stray_status].status[OURS] == "fail"
    with session_scope(w.settings.database_url) as s:
        reasons = dict(s.execute(select(AxisMessage.axis_doc_id, AxisMessage.last_error)
                                 .where(AxisMessage.direction == "in")).all())
        assert "not well-formed" in reasons[garbage] or "XML" in reasons[garbage]
        assert "was not sent here" in reasons[stray_status]
        assert s.scalar(select(func.count()).select_from(Exchange)) == 0
        assert s.scalar(select(func.count()).select_from(OutboxMessage)) == 0
        assert s.scalar(select(func.count()).select_from(StatusEvent)) == 0
    assert _poll(w).refused == 0  # answered "fail": not offered again


def test_directory_synchronisation_keeps_old_codes_as_aliases(world):
    w = world
    w.fake.directory = [
        {"id": "1", "pid": "0", "code": "000.00.00.G22", "name": "Văn phòng Chính phủ", "mail": "vpcp@chinhphu.vn",
         "oldCode": ""},
        {"id": "2", "pid": "0", "code": "000.00.37.H30", "name": "UBND huyện Tân Lạc", "mail": "",
         "oldCode": TAN_LAC},
        {"id": "3", "pid": "1", "code": "G22.01", "name": "Mã định danh QĐ 20", "mail": "", "oldCode": ""},
    ]
    with session_scope(w.settings.database_url) as s:
        result = axis.sync_directory(s, w.client)
    assert (result.added, result.renamed) == (1, 1) and len(result.skipped or []) == 1
    with session_scope(w.settings.database_url) as s:
        assert get_agency(s, "000.00.00.G22").via_axis
        renamed = get_agency(s, TAN_LAC)
        assert renamed.code == "000.00.37.H30" and renamed.via_axis
        assert s.scalar(select(AgencyAlias.code).where(AgencyAlias.agency_id == renamed.id)) == TAN_LAC
    with session_scope(w.settings.database_url) as s:
        again = axis.sync_directory(s, w.client)  # idempotent
    assert (again.added, again.renamed) == (0, 0)
    with pytest.raises(DocsignError), session_scope(w.settings.database_url) as s:
        get_agency(s, "000.00.38.H30")


@pytest.mark.embedded_only
def test_axis_and_agency_commands(world):
    import os

    from tests.conftest import run_cli

    w = world
    w.fake.directory = [{"id": "1", "pid": "0", "code": "000.00.00.G22", "name": "Văn phòng Chính phủ",
                         "mail": "", "oldCode": ""}]
    s = w.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}
    env.update({"DOCSIGN_DATA_DIR": str(s.data_dir), "DOCSIGN_KEYS_DIR": str(s.keys_dir),
                "DOCSIGN_DATABASE_URL": s.database_url, "DOCSIGN_BROKER_URL": s.broker_url,
                "DOCSIGN_PUBLIC_URL": s.public_url})
    off = run_cli("axis", "poll", env=env)
    assert off.returncode != 0 and "the national axis is off" in off.stderr
    env.update({"DOCSIGN_AXIS_URL": w.fake.url, "DOCSIGN_AXIS_SYSTEM_ID": OURS, "DOCSIGN_AXIS_SECRET": OUR_SECRET})
    synced = run_cli("axis", "sync-directory", env=env)
    assert synced.returncode == 0 and "1 added" in synced.stdout, synced.stderr
    polled = run_cli("axis", "poll", env=env)
    assert polled.returncode == 0 and "0 documents filed" in polled.stdout, polled.stderr
    changed = run_cli("agency", "set", "000.00.00.G22", "--sends-unsigned-packets", env=env)
    assert changed.returncode == 0 and "unsigned packets accepted, via the national axis" in changed.stdout
    with session_scope(s.database_url) as session:
        assert get_agency(session, "000.00.00.G22").sends_unsigned_packets
    w.fake.stop()
    down = run_cli("axis", "poll", env=env)
    assert down.returncode == 69 and "getReceivedEdocList: the axis cannot be reached" in down.stderr
