"""Packets written by other systems (tests/data/edxml, sources in its README): read, kept whole, refused
only when really broken."""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from docsign.exchange import edxml
from docsign.exchange.edxml.model import lenient_date
from docsign.exchange.errors import InvalidPacket, PacketFieldError
from docsign.exchange.statuses import StatusCode

SAMPLES = Path(__file__).parents[2] / "data" / "edxml"
BROKEN = {"vpcp_edoc_undeclared_prefix.edxml"}
READABLE = sorted(p.name for p in SAMPLES.glob("*.edxml") if p.name not in BROKEN)
STATUS_SAMPLES = [name for name in READABLE if "status" in name]
DOCUMENT_SAMPLES = [name for name in READABLE if name not in STATUS_SAMPLES]


def _read(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _leaves(data: bytes) -> Counter[tuple[str, str]]:
    """Every element with text, by local name (the order of elements is the writer's business)."""
    root = etree.fromstring(data)
    return Counter((etree.QName(e).localname, _same_date(e.text or "")) for e in root.iter()
                   if isinstance(e.tag, str) and (e.text or "").strip())


def _same_date(text: str) -> str:
    """Dates are written back as yyyy/MM/dd whatever form they were read in."""
    day = lenient_date(text.strip()) if re.fullmatch(r"[0-9/ -]{8,10}", text.strip()) else None
    return day.strftime(edxml.DATE_FORMAT) if day else text.strip()


def _same(read: object, again: object) -> None:
    """Equal, except that elements kept as XML text (``extra``, ``signature``) may come back under another
    namespace prefix: those are compared by expanded names, attributes and text."""
    assert _comparable(read) == _comparable(again)


def _comparable(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _comparable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return tuple(_comparable(v) for v in value)
    if isinstance(value, str) and value.startswith("<"):
        return _tree(etree.fromstring(value))
    return value


def _tree(element: etree._Element) -> object:
    return (element.tag, dict(element.attrib), (element.text or "").strip(),
            tuple(_tree(c) for c in element if isinstance(c.tag, str)))


def test_the_samples_are_there():
    assert len(DOCUMENT_SAMPLES) >= 13 and len(STATUS_SAMPLES) >= 11


@pytest.mark.parametrize("name", DOCUMENT_SAMPLES)
def test_document_samples_are_read_and_written_back_whole(name: str):
    packet = edxml.parse_packet(_read(name))
    assert isinstance(packet, edxml.DocumentPacket)
    assert packet.message_header.document_id and packet.attachments
    again = edxml.build_document_packet(packet, strict=False)
    _same(packet, edxml.parse_document_packet(again))
    lost = _leaves(_read(name)) - _leaves(again)
    # ContentIds are written with their cid: prefix in both places; nothing else may go missing.
    assert not {k: v for k, v in lost.items() if k[0] != "ContentId"}, lost


@pytest.mark.parametrize("name", STATUS_SAMPLES)
def test_status_samples_in_the_message_header_form_are_read_and_written_back_whole(name: str):
    packet = edxml.parse_packet(_read(name))
    assert isinstance(packet, edxml.StatusPacket)
    assert packet.form is edxml.StatusForm.MESSAGE_HEADER
    assert packet.response_for.document_id and packet.from_.organ_id
    again = edxml.build_status_packet(packet, strict=False)
    _same(packet, edxml.parse_status_packet(again))
    assert not (_leaves(_read(name)) - _leaves(again))


def test_status_codes_and_staff_of_the_vpcp_samples():
    codes = {name: edxml.parse_status_packet(_read(name)).status_code for name in STATUS_SAMPLES}
    assert codes["vpcp_status_inbox_01.edxml"] is StatusCode.ARRIVED
    assert codes["vpcp_status_rejection_02.edxml"] is StatusCode.REJECTED
    assert codes["vpcp_status_cancellation_13.edxml"] is StatusCode.RECALL_REQUESTED
    assert codes["vpcp_status_change-rejection_16.edxml"] is StatusCode.RECALL_REFUSED
    status = edxml.parse_status_packet(_read("vpcp_status.edxml"))
    assert status.staff_info.staff == "Nguyễn Thị Ngọc Trâm"
    assert status.response_for.document_id == "000.00.00.G22,2015/09/30,7816/VPCP-TTĐT"


def test_uuid_document_id_short_trace_ids_and_an_empty_response_for():
    packet = edxml.parse_document_packet(_read("vpcp_xml_2019_uuid_documentid.edxml"))
    assert packet.message_header.document_id == "9fbfbad2-f1f8-4256-a2eb-50fb1061cddb"
    assert [t.organ_id for t in packet.trace_header_list.trace_headers] == ["01.02.G22", "001.00.20.TT2"]
    assert packet.message_header.response_for == ()
    signer = packet.message_header.signer_info
    assert [unicodedata.normalize("NFC", v) for v in (signer.competence, signer.position, signer.full_name)] == [
        "Quyền 1", "Bộ trưởng", "Trương Minh Tuấn"]  # the sample writes some of it decomposed (NFD)
    assert packet.message_header.steering_type == 1
    assert any("<edXML:Direction" in x or "Direction>" in x for x in packet.message_header.other_info.extra)


def test_axis_test_units_several_zip_attachments_and_cid_content_ids():
    packet = edxml.parse_document_packet(_read("vpcp_upload_b6e1f29d.edxml"))
    assert packet.message_header.from_.organ_id == "vxp.saas.03"
    assert [a.attachment_name for a in packet.attachments] == ["metaA.txt", "metaB.txt"]
    assert {a.content_type for a in packet.attachments} == {"application/zip"}
    assert packet.attachments[0].content_id == "d689931d-546d-423a-9ff5-6f0eca746fa0"
    assert all(a.data.startswith(b"PK") for a in packet.attachments)
    assert packet.trace_header_list.trace_headers[0].organ_id == ""


def test_business_types_of_the_vnpt_samples():
    new = edxml.parse_document_packet(_read("vpcp_edoc_new_small.edxml")).trace_header_list.business
    revoke = edxml.parse_document_packet(_read("vpcp_edoc_revocation_small.edxml"))
    update = edxml.parse_document_packet(_read("vpcp_edoc_update_small.edxml")).trace_header_list.business
    replace = edxml.parse_document_packet(_read("vpcp_edoc_replacement_small.edxml")).trace_header_list.business
    assert new.business_doc_type == 0 and new.related_document_ids("x") == ()
    business = revoke.trace_header_list.business
    assert business.business_doc_type == 1 and business.document_id == ""
    assert business.related_document_ids(revoke.message_header.document_id) == (revoke.message_header.document_id,)
    assert update.business_doc_type == 2
    assert update.related_document_ids("x") == ("000.00.00.G22,2014/02/30,7806/VPCP-TTĐT",)
    assert update.document_info is not None
    assert [(r.organ_id, r.receiver_type) for r in update.document_info.receivers] == [
        ("000.00.00.H41", "0"), ("000.00.00.H14", "1")]
    assert replace.business_doc_type == 3
    assert replace.replacements[0].organ_ids == ("000.00.00.H41", "000.00.00.H14")
    assert replace.related_document_ids("x") == ("000.00.00.G22,2014/01/30,7806/VPCP-TTĐT",) * 2


def test_a_packet_that_is_not_namespace_well_formed_is_refused():
    with pytest.raises(InvalidPacket, match="not well-formed"):
        edxml.parse_packet(_read("vpcp_edoc_undeclared_prefix.edxml"))


def test_bytes_before_the_xml_declaration_are_refused():
    # The VPCP SDK's resources/edoc_new.edxml starts with "1212" before <?xml ...?>.
    with pytest.raises(InvalidPacket, match="not well-formed"):
        edxml.parse_packet(b"1212" + _read("vpcp_edoc_new_small.edxml"))


@pytest.mark.parametrize(("find", "replace", "path"), [
    (b"<edXML:StatusCode>01</edXML:StatusCode>", b"<edXML:StatusCode>99</edXML:StatusCode>",
     "MessageHeader/StatusCode"),
    (b"<edXML:Timestamp>2015/09/20 11:08:36</edXML:Timestamp>", b"<edXML:Timestamp>yesterday</edXML:Timestamp>",
     "MessageHeader/Timestamp"),
    (b"<edXML:DocumentId>000.00.00.G22,2015/09/30,7816/VPCP-TT\xc4\x90T</edXML:DocumentId>",
     b"<edXML:DocumentId> </edXML:DocumentId>", "MessageHeader/ResponseFor/DocumentId"),
])
def test_a_broken_status_packet_is_refused_with_the_field_path(find: bytes, replace: bytes, path: str):
    data = _read("vpcp_status_inbox_01.edxml")
    assert find in data
    with pytest.raises(PacketFieldError) as caught:
        edxml.parse_packet(data.replace(find, replace))
    assert path in caught.value.message


@pytest.mark.parametrize(("find", "replace", "path"), [
    (b"<edXML:PromulgationDate>2019/01/17</edXML:PromulgationDate>",
     b"<edXML:PromulgationDate>17 Jan</edXML:PromulgationDate>", "MessageHeader/PromulgationInfo/PromulgationDate"),
    (b"<edXML:Priority>0</edXML:Priority>", b"<edXML:Priority>urgent</edXML:Priority>",
     "MessageHeader/OtherInfo/Priority"),
    (b"<edXML:Subject>", b"<edXML:Subject/><edXML:Ignored>", "MessageHeader/Subject"),
])
def test_a_broken_document_packet_is_refused_with_the_field_path(find: bytes, replace: bytes, path: str):
    data = _read("vpcp_xml_2019_uuid_documentid.edxml")
    assert find in data
    broken = data.replace(find, replace).replace(b"</edXML:Subject>", b"</edXML:Ignored>", 1) \
        if b"Ignored" in replace else data.replace(find, replace)
    with pytest.raises(PacketFieldError) as caught:
        edxml.parse_packet(broken)
    assert path in caught.value.message


# The SDK's packets whose order is the one the VNPT EdXML102 library's builders write (its accumulate()
# methods, read with javap from lib/EdXML102-0.0.3.jar); the other samples were edited by hand (OrganName
# before OrganizationInCharge, Bkav's own order) and are only read.
LIBRARY_ORDER = ["vpcp_edoc_new_small.edxml", "vpcp_edoc_revocation_small.edxml", "vpcp_edoc_update_small.edxml",
                 "vpcp_edoc_replacement_small.edxml", "vpcp_status.edxml"]


@pytest.mark.parametrize("name", LIBRARY_ORDER)
def test_docsign_writes_the_elements_in_the_order_of_the_vnpt_library(name: str):
    """Packets in the VNPT library's order come back element for element in the same order."""
    def tags(data: bytes) -> list[str]:
        return [etree.QName(e).localname for e in etree.fromstring(data).iter() if isinstance(e.tag, str)]

    packet = edxml.parse_packet(_read(name))
    again = (edxml.build_document_packet(packet, strict=False) if isinstance(packet, edxml.DocumentPacket)
             else edxml.build_status_packet(packet, strict=False))
    assert tags(again) == tags(_read(name))
