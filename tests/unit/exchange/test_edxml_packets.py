from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from lxml import etree

from docsign.errors import InvalidInput
from docsign.exchange.edxml import (
    NS,
    VN_TZ,
    Attachment,
    Code,
    DocumentPacket,
    MessageHeader,
    Organization,
    OtherInfo,
    PromulgationInfo,
    StatusPacket,
    TraceHeader,
    TraceHeaderList,
    build_document_packet,
    build_status_packet,
    parse_document_packet,
    parse_packet,
    parse_status_packet,
    status_packet_for,
)
from docsign.exchange.errors import InvalidPacket, PacketFieldError, PacketTooLarge
from docsign.exchange.statuses import StatusCode

from .factories import DEPARTMENT, DISTRICT, PDF_BYTES, PROVINCE, SENDER, sample_packet, sample_status


def test_document_packet_round_trips() -> None:
    packet = sample_packet()
    data = build_document_packet(packet)
    assert parse_document_packet(data) == packet
    assert parse_packet(data) == packet


def test_attachment_bytes_come_back_identical() -> None:
    parsed = parse_document_packet(build_document_packet(sample_packet()))
    assert parsed.attachments[0].data == PDF_BYTES
    assert [a.attachment_name for a in parsed.attachments] == ["05-UBND-VP.pdf", "Phụ lục I.pdf"]


def test_vietnamese_text_survives_as_utf8() -> None:
    data = build_document_packet(sample_packet())
    assert "Ủy ban nhân dân tỉnh Hòa Bình".encode() in data
    parsed = parse_document_packet(data)
    assert parsed.message_header.signer_info.full_name == "Nguyễn Văn Đức"


def test_status_packet_round_trips() -> None:
    status = sample_status(StatusCode.RECALL_REFUSED)
    data = build_status_packet(status)
    assert parse_status_packet(data) == status
    assert parse_packet(data) == status
    assert b"<edXML:StatusCode>16</edXML:StatusCode>" in data


def test_status_packet_for_a_document_points_back_at_it() -> None:
    packet = sample_packet()
    receiver = packet.message_header.to[0]
    status = status_packet_for(packet, receiver, StatusCode.ARRIVED, description="Đã đến")
    assert status.response_for.document_id == packet.message_header.document_id
    assert status.response_for.code == "05/UBND-VP"
    assert status.response_for.organ_id == PROVINCE
    assert parse_status_packet(build_status_packet(status)) == status


def _tree(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def test_envelope_layout_and_prefixes_follow_the_sample() -> None:
    data = build_document_packet(sample_packet())
    text = data.decode()
    assert text.startswith("<?xml version='1.0' encoding='UTF-8'?>\n<edXML ")
    root = _tree(data)
    assert root.tag == f"{{{NS}}}edXML" and root.nsmap[None] == NS
    assert '<edXML:edXMLEnvelope xmlns:edXML="http://www.mic.gov.vn/TBT/QCVN_102_2016">' in text
    for part in ("edXMLHeader", "MessageHeader", "TraceHeaderList", "edXMLBody", "Reference", "OrganId"):
        assert f"<edXML:{part}>" in text or f"<edXML:{part} " in text, part
    # AttachmentEncoded sits beside the envelope, unprefixed; the XML-DSig slot is present and empty.
    assert [etree.QName(c).localname for c in root] == ["edXMLEnvelope", "AttachmentEncoded"]
    assert "<AttachmentEncoded>" in text and "<Attachment>" in text
    assert '<Signature xmlns="http://www.w3.org/2000/09/xmldsig#"/>' in text
    assert '<edXML:edXMLManifest version="1.0">' in text


def test_emits_the_strict_spellings_and_formats() -> None:
    text = build_document_packet(sample_packet()).decode()
    assert "<edXML:Bussiness>" in text and "<edXML:BussinessDocType>0</edXML:BussinessDocType>" in text
    assert "<edXML:OrganizationInCharge>Chính phủ</edXML:OrganizationInCharge>" in text
    assert "<edXML:PromulgationDate>2024/03/12</edXML:PromulgationDate>" in text
    assert "<edXML:DocumentId>000.00.00.H30,2024/03/12,05/UBND-VP</edXML:DocumentId>" in text
    # 02:15:30 UTC is 09:15:30 in Vietnam.
    assert "<edXML:Timestamp>2024/03/12 09:15:30</edXML:Timestamp>" in text
    assert "Business>" not in text and "OrganInCharge" not in text


def test_manifest_references_the_attachments_by_cid() -> None:
    packet = sample_packet()
    root = _tree(build_document_packet(packet))
    ns = {"e": NS}
    cids = root.xpath("//e:edXMLManifest/e:Reference/e:ContentId/text()", namespaces=ns)
    assert cids == [f"cid:{a.content_id}" for a in packet.attachments]
    ids = root.xpath("/e:edXML/e:AttachmentEncoded/e:Attachment/e:ContentId/text()", namespaces=ns)
    assert ids == cids  # with cid: in both places, as the VNPT library and the systems built on it write it
    encoded = root.xpath("//e:Attachment/e:ContentTransferEncoded/text()", namespaces=ns)[0]
    assert base64.b64decode(encoded) == PDF_BYTES


def test_unset_numbers_and_dates_are_left_out() -> None:
    packet = sample_packet(due_date=None, steering_type=None, other_info=OtherInfo())
    text = build_document_packet(packet).decode()
    assert "DueDate" not in text and "SteeringType" not in text and "PageAmount" not in text
    assert parse_document_packet(text.encode()) == packet


# --- parsing leniently ------------------------------------------------------------------------------

LENIENT = """<?xml version="1.0" encoding="utf-8"?>
<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016">
 <edXMLEnvelope>
  <edXMLHeader>
   <MessageHeader>
    <From><OrganId> 000.00.00.h30 </OrganId><OrganName>UBND tỉnh Hòa Bình</OrganName>
      <OrganInCharge>Chính phủ</OrganInCharge></From>
    <To><OrganId>000.00.01.H30</OrganId></To>
    <DocumentId>000.00.00.H30,12/03/2024,05/UBND-VP</DocumentId>
    <Code><CodeNumber>05</CodeNumber><CodeNotation>UBND-VP</CodeNotation></Code>
    <PromulgationInfo><Place>Hòa Bình</Place><PromulgationDate>12/03/2024</PromulgationDate></PromulgationInfo>
    <DocumentType><Type>1</Type></DocumentType>
    <Subject>V/v báo cáo tình hình</Subject>
    <DueDate>30/03/2024</DueDate>
   </MessageHeader>
   <TraceHeaderList>
    <TraceHeader><OrganId>000.00.00.H30</OrganId><Timestamp>12/03/2024 08:30:00</Timestamp></TraceHeader>
    <Business><BusinessDocType>1</BusinessDocType><BusinessDocReason>Thu hồi do sai sót</BusinessDocReason>
      <DocumentId>000.00.00.H30,2024/03/01,01/UBND-VP</DocumentId></Business>
   </TraceHeaderList>
  </edXMLHeader>
  <edXMLBody><edXMLManifest><Reference><ContentId>cid:abc-1</ContentId></Reference></edXMLManifest></edXMLBody>
 </edXMLEnvelope>
 <AttachmentEncoded><Attachment><ContentId>abc-1</ContentId><AttachmentName>a.pdf</AttachmentName>
   <ContentTransferEncoded>
JVBERi0x
LjQK
   </ContentTransferEncoded></Attachment></AttachmentEncoded>
</edXML>"""


def test_parses_the_lenient_variants() -> None:
    packet = parse_document_packet(LENIENT.encode())
    h = packet.message_header
    assert h.from_.organ_id == PROVINCE  # trimmed and upper-cased
    assert h.from_.organization_in_charge == "Chính phủ"
    assert h.promulgation_info.promulgation_date == date(2024, 3, 12)
    assert h.due_date == date(2024, 3, 30)
    assert h.document_type.type_name == "" and h.content == "" and h.to_places == () and h.response_for == ()
    assert h.other_info == OtherInfo() and h.steering_type is None
    trace = packet.trace_header_list
    assert trace.trace_headers == (TraceHeader(PROVINCE, datetime(2024, 3, 12, 8, 30, tzinfo=VN_TZ)),)
    assert trace.business.business_doc_type == 1
    assert trace.business.business_doc_reason == "Thu hồi do sai sót"
    assert packet.attachments == (Attachment("abc-1", "a.pdf", "application/octet-stream", b"%PDF-1.4\n"),)


def test_lenient_parse_then_strict_build() -> None:
    packet = parse_document_packet(LENIENT.encode())
    with pytest.raises(PacketFieldError) as caught:
        build_document_packet(packet)
    # Written back, the DocumentId must use yyyy/MM/dd and the content id a UUID.
    assert "MessageHeader/DocumentId: must be" in str(caught.value)
    assert "'000.00.00.H30,2024/03/12,05/UBND-VP'" in str(caught.value)
    assert "AttachmentEncoded/Attachment[1]/ContentId: 'abc-1' must be a UUID" in str(caught.value)


def test_lenient_status_packet() -> None:
    data = b"""<edXML xmlns="http://www.mic.gov.vn/TBT/QCVN_102_2016"><edXMLEnvelope><edXMLHeader><Status>
      <ResponseFor><OrganId>000.00.00.H30</OrganId><Code>05/UBND-VP</Code>
        <DocumentId>000.00.00.H30,2024/03/12,05/UBND-VP</DocumentId></ResponseFor>
      <From><OrganId>000.00.01.H30</OrganId></From>
      <StatusCode>3</StatusCode><Timestamp>2024-03-12T09:00:05+07:00</Timestamp>
    </Status></edXMLHeader></edXMLEnvelope></edXML>"""
    status = parse_packet(data)
    assert isinstance(status, StatusPacket)
    assert status.status_code is StatusCode.ACCEPTED
    assert status.timestamp == datetime(2024, 3, 12, 2, 0, 5, tzinfo=UTC)
    assert status.response_for.promulgation_date is None and status.description == ""


def test_unknown_status_code_is_named() -> None:
    data = build_status_packet(sample_status()).replace(b">03<", b">07<")
    with pytest.raises(PacketFieldError, match=r"Status/StatusCode: unknown status code '07'"):
        parse_status_packet(data)


# --- field rules ------------------------------------------------------------------------------------


def _header(**changes: object) -> Callable[[DocumentPacket], DocumentPacket]:
    def change(packet: DocumentPacket) -> DocumentPacket:
        return replace(packet, message_header=replace(packet.message_header, **changes))  # type: ignore[arg-type]

    return change


def _sender(**changes: object) -> Callable[[DocumentPacket], DocumentPacket]:
    return _header(from_=replace(SENDER, **changes))  # type: ignore[arg-type]


def _code(number: str, notation: str) -> Callable[[DocumentPacket], DocumentPacket]:
    def change(packet: DocumentPacket) -> DocumentPacket:
        h = replace(
            packet.message_header, code=Code(number, notation), document_id=f"{PROVINCE},2024/03/12,{number}/{notation}"
        )
        return replace(packet, message_header=h)

    return change


FIELD_RULES = [
    (_sender(organ_name="x" * 201), "MessageHeader/From/OrganName: at most 200 characters, got 201"),
    (_sender(organization_in_charge="x" * 201), "MessageHeader/From/OrganizationInCharge: at most 200 characters"),
    (_sender(organ_add="x" * 251), "MessageHeader/From/OrganAdd: at most 250 characters, got 251"),
    (_sender(email="x" * 101), "MessageHeader/From/Email: at most 100 characters, got 101"),
    (_sender(telephone="0" * 21), "MessageHeader/From/Telephone: at most 20 characters, got 21"),
    (_sender(fax="0" * 21), "MessageHeader/From/Fax: at most 20 characters, got 21"),
    (_sender(organ_id=""), "MessageHeader/From/OrganId: required"),
    (_header(to=(Organization("000.00.1.H30"),)), "MessageHeader/To[1]/OrganId: '000.00.1.H30' is not an agency code"),
    (_header(to=()), "MessageHeader/To: at least one recipient is required"),
    (
        _header(to=(Organization(DEPARTMENT), Organization(DISTRICT), Organization(DEPARTMENT))),
        "MessageHeader/To[3]/OrganId: 000.00.01.H30 is already a recipient",
    ),
    (_code("", "UBND-VP"), "MessageHeader/Code/CodeNumber: required"),
    (_code("123456789012", "UBND-VP"), "MessageHeader/Code/CodeNumber: at most 11 characters, got 12"),
    (_code("05", ""), "MessageHeader/Code/CodeNotation: required"),
    (_code("05", "X" * 31), "MessageHeader/Code/CodeNotation: at most 30 characters, got 31"),
    (_header(promulgation_info=PromulgationInfo("P" * 51, date(2024, 3, 12))), "PromulgationInfo/Place: at most 50"),
    (
        _header(promulgation_info=PromulgationInfo("Hòa Bình", date(2099, 1, 1))),
        "MessageHeader/PromulgationInfo/PromulgationDate: 2099/01/01 is in the future",
    ),
    (_header(subject=""), "MessageHeader/Subject: required"),
    (_header(subject="   "), "MessageHeader/Subject: required"),
    (_header(subject="s" * 501), "MessageHeader/Subject: at most 500 characters, got 501"),
    (_header(content="c" * 501), "MessageHeader/Content: at most 500 characters, got 501"),
    (_header(to_places=("ok", "p" * 151)), "MessageHeader/ToPlaces/Place[2]: at most 150 characters, got 151"),
    (_header(other_info=OtherInfo(priority=5)), "MessageHeader/OtherInfo/Priority: must be 0 to 4, got 5"),
    (_header(other_info=OtherInfo(priority=-1)), "MessageHeader/OtherInfo/Priority: must be 0 to 4, got -1"),
    (_header(other_info=OtherInfo(page_amount=-2)), "MessageHeader/OtherInfo/PageAmount: must be 0 or more, got -2"),
    (
        _header(document_id="05/UBND-VP"),
        "MessageHeader/DocumentId: must be <sender OrganId>,<yyyy/MM/dd>,<number>/<notation>",
    ),
    (_header(document_id=""), "MessageHeader/DocumentId: required"),
    (_header(subject="a\x00b"), "MessageHeader/Subject: contains control characters that XML cannot carry"),
]


@pytest.mark.parametrize(("change", "message"), FIELD_RULES, ids=[m.split(":")[0] for _, m in FIELD_RULES])
def test_each_field_rule_names_the_field(change: Callable[[DocumentPacket], DocumentPacket], message: str) -> None:
    with pytest.raises(PacketFieldError) as caught:
        build_document_packet(change(sample_packet()))
    assert message in str(caught.value)
    assert isinstance(caught.value, InvalidInput) and caught.value.http_status == 400


def test_signer_limits() -> None:
    from docsign.exchange.edxml import SignerInfo

    packet = _header(signer_info=SignerInfo("KT.", "p" * 101, "n" * 51))(sample_packet())
    with pytest.raises(PacketFieldError) as caught:
        build_document_packet(packet)
    assert caught.value.problems == (
        ("MessageHeader/SignerInfo/Position", "at most 100 characters, got 101"),
        ("MessageHeader/SignerInfo/FullName", "at most 50 characters, got 51"),
    )


def test_every_broken_rule_is_reported_at_once() -> None:
    packet = _header(subject="", to=())(sample_packet())
    with pytest.raises(PacketFieldError) as caught:
        build_document_packet(packet)
    paths = [path for path, _ in caught.value.problems]
    assert paths == ["MessageHeader/To", "MessageHeader/Subject"]
    assert str(caught.value) == "MessageHeader/To: at least one recipient is required; MessageHeader/Subject: required"


def test_the_same_rules_apply_when_parsing() -> None:
    data = build_document_packet(sample_packet())
    broken = data.replace(b"<edXML:CodeNumber>05</edXML:CodeNumber>", b"<edXML:CodeNumber></edXML:CodeNumber>")
    with pytest.raises(PacketFieldError, match=r"MessageHeader/Code/CodeNumber: required"):
        parse_document_packet(broken)
    future = data.replace(b"2024/03/12</edXML:PromulgationDate>", b"2999/03/12</edXML:PromulgationDate>")
    with pytest.raises(PacketFieldError, match=r"PromulgationDate: 2999/03/12 is in the future"):
        parse_document_packet(future)
    no_date = data.replace(b"<edXML:PromulgationDate>2024/03/12</edXML:PromulgationDate>", b"")
    with pytest.raises(PacketFieldError, match=r"MessageHeader/PromulgationInfo/PromulgationDate: required"):
        parse_document_packet(no_date)
    bad_priority = data.replace(b"<edXML:Priority>1<", "<edXML:Priority>khẩn<".encode())
    with pytest.raises(PacketFieldError, match=r"MessageHeader/OtherInfo/Priority: 'khẩn' is not a whole number"):
        parse_document_packet(bad_priority)


def test_future_is_judged_against_the_given_day() -> None:
    data = build_document_packet(sample_packet())
    with pytest.raises(PacketFieldError, match="in the future"):
        parse_document_packet(data, today=date(2024, 3, 11))
    assert parse_document_packet(data, today=date(2024, 3, 12)) == sample_packet()


def test_timestamps_need_a_time_zone() -> None:
    packet = replace(
        sample_packet(), trace_header_list=TraceHeaderList((TraceHeader(PROVINCE, datetime(2024, 3, 12)),))
    )
    with pytest.raises(PacketFieldError, match=r"TraceHeaderList/TraceHeader\[1\]/Timestamp: must carry a time zone"):
        build_document_packet(packet)


def test_a_manifest_entry_without_its_attachment_is_refused() -> None:
    data = build_document_packet(sample_packet())
    root = _tree(data)
    encoded = root.find(f"{{{NS}}}AttachmentEncoded")
    assert encoded is not None
    encoded.remove(encoded[1])
    with pytest.raises(
        PacketFieldError, match=r"edXMLManifest/Reference\[2\]/ContentId: cid:0b8e2f4a-.* has no attachment"
    ):
        parse_document_packet(etree.tostring(root))


def test_broken_base64_is_refused() -> None:
    data = build_document_packet(sample_packet()).replace(b"JVBERi0xLjQgcGh1IGx1Yw==", b"JVBERi0x*LjQ")
    with pytest.raises(
        PacketFieldError, match=r"AttachmentEncoded/Attachment\[2\]/ContentTransferEncoded: is not valid base64"
    ):
        parse_document_packet(data)


def test_duplicate_content_ids_are_refused() -> None:
    packet = sample_packet()
    first = packet.attachments[0]
    with pytest.raises(PacketFieldError, match=r"Attachment\[2\]/ContentId: .* is used by two attachments"):
        build_document_packet(replace(packet, attachments=(first, replace(first, attachment_name="b.pdf"))))


def test_attachment_count_is_bounded() -> None:
    packet = replace(sample_packet(), attachments=tuple(Attachment.new(f"{i}.pdf", b"%PDF") for i in range(4)))
    with pytest.raises(PacketTooLarge, match="the packet has 4 attachments; at most 3 are accepted"):
        build_document_packet(packet, max_attachments=3)
    data = build_document_packet(packet)
    with pytest.raises(PacketTooLarge, match="the packet has 4 attachments; at most 3 are accepted") as caught:
        parse_document_packet(data, max_attachments=3)
    assert caught.value.http_status == 413


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "not well-formed XML"),
        (b"%PDF-1.7 not xml", "not well-formed XML"),
        (b"<edXML><unclosed></edXML>", "not well-formed XML"),
        (b"<html/>", "the root element is <html>, not <edXML>"),
        (f'<edXML xmlns="{NS}"><edXMLEnvelope/></edXML>'.encode(), "MessageHeader: missing"),
    ],
)
def test_what_is_not_an_edxml_packet(data: bytes, message: str) -> None:
    with pytest.raises(InvalidPacket, match=message):
        parse_packet(data)


def test_a_document_is_not_a_status() -> None:
    with pytest.raises(InvalidPacket, match=r"with a StatusCode\), this is not an edXML status packet"):
        parse_status_packet(build_document_packet(sample_packet()))
    with pytest.raises(InvalidPacket, match="MessageHeader: missing"):
        parse_document_packet(build_status_packet(sample_status()))


def test_status_fields_are_checked() -> None:
    status = replace(sample_status(), from_=Organization("H30"), timestamp=datetime(2024, 1, 1))
    with pytest.raises(PacketFieldError) as caught:
        build_status_packet(status)
    assert [p for p, _ in caught.value.problems] == ["Status/From/OrganId", "Status/Timestamp"]


def test_a_packet_of_a_single_recipient_with_no_attachment() -> None:
    header: MessageHeader = replace(sample_packet().message_header, to=(Organization(DEPARTMENT),))
    packet = DocumentPacket(header)
    assert parse_document_packet(build_document_packet(packet)) == packet
