"""Property: any valid packet survives build then parse unchanged (bounded, so it stays fast)."""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from docsign.exchange.edxml import (
    Attachment,
    Business,
    Code,
    DocumentPacket,
    DocumentType,
    MessageHeader,
    Organization,
    OtherInfo,
    PromulgationInfo,
    ResponseFor,
    SignerInfo,
    StaffInfo,
    StatusPacket,
    TraceHeader,
    TraceHeaderList,
    build_document_packet,
    build_status_packet,
    make_document_id,
    parse_packet,
)
from docsign.exchange.statuses import StatusCode

VIETNAMESE = "ăâđêôơưàảãáạằẳẵắặầẩẫấậèẻẽéẹềểễếệìỉĩíịòỏõóọồổỗốộờởỡớợùủũúụừửữứựỳỷỹýỵĂÂĐÊÔƠƯ"
# Any character XML 1.0 can carry, with Vietnamese letters and the whitespace XML normalises most often.
CHARS = st.one_of(
    st.sampled_from(VIETNAMESE + " \t\n\r/-.,;:&<>\"'"),
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")),
)
DAYS = st.dates(min_value=date(2000, 1, 1), max_value=date(2024, 12, 31))
ZONES = st.sampled_from([UTC, timezone(timedelta(hours=7)), timezone(timedelta(hours=-5))])
TIMES = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=ZONES).map(
    lambda t: t.replace(microsecond=0)
)
CODES = st.builds(
    lambda a, b, c, letter, n: f"{a:03d}.{b:02d}.{c:02d}.{letter}{n:02d}",
    st.integers(0, 999),
    st.integers(0, 99),
    st.integers(0, 99),
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXY"),
    st.integers(0, 99),
)


def text(limit: int = 60) -> st.SearchStrategy[str]:
    return st.text(CHARS, max_size=limit)


def token(limit: int) -> st.SearchStrategy[str]:
    """Fields read with surrounding spaces trimmed (numbers, notations)."""
    return st.text(string.ascii_uppercase + string.digits + "ĐƯ-", min_size=1, max_size=limit)


def organization(code: st.SearchStrategy[str] = CODES) -> st.SearchStrategy[Organization]:
    return st.builds(Organization, code, text(200), text(200), text(250), text(100), text(20), text(20), text(60))


@st.composite
def document_packets(draw: st.DrawFn) -> DocumentPacket:
    sender = draw(organization())
    number, notation, issued = draw(token(11)), draw(token(30)), draw(DAYS)
    recipients = draw(st.lists(CODES, min_size=1, max_size=3, unique=True))
    header = MessageHeader(
        from_=sender,
        to=tuple(draw(organization(st.just(code))) for code in recipients),
        document_id=make_document_id(sender.organ_id, issued, number, notation),
        code=Code(number, notation),
        promulgation_info=PromulgationInfo(draw(text(50)), issued),
        document_type=DocumentType(draw(st.integers(0, 99)), draw(text(100))),
        subject=draw(text(500).filter(str.strip)),
        content=draw(text(500)),
        signer_info=SignerInfo(draw(text(20)), draw(text(100)), draw(text(50))),
        due_date=draw(st.none() | DAYS),
        to_places=tuple(draw(st.lists(text(150), max_size=3))),
        other_info=OtherInfo(
            draw(st.integers(0, 4)),
            draw(text(100)),
            draw(text(10)),
            draw(st.none() | st.integers(0, 999)),
            draw(st.none() | st.integers(0, 999)),
            tuple(draw(st.lists(text(), max_size=2))),
        ),
        steering_type=draw(st.none() | st.integers(0, 3)),
        response_for=tuple(
            draw(
                st.lists(
                    st.builds(ResponseFor, CODES, token(20), st.none() | DAYS, token(40)),
                    max_size=2,
                )
            )
        ),
    )
    doc_type = draw(st.integers(0, 3))
    business = Business(
        doc_type,
        draw(text()),
        draw(token(40)) if doc_type else "",
        draw(st.integers(0, 1)),
        StaffInfo(draw(text()), draw(text()), draw(text(20)), draw(text())),
    )
    trace = TraceHeaderList(tuple(draw(st.lists(st.builds(TraceHeader, CODES, TIMES), max_size=3))), business)
    ids = draw(st.lists(st.uuids(), max_size=3, unique=True))
    attachments = tuple(
        Attachment(
            str(i), draw(text(60).filter(str.strip)), "application/pdf", draw(st.binary(max_size=300)), draw(text())
        )
        for i in ids
    )
    return DocumentPacket(header, trace, attachments)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document_packets())
def test_document_packets_round_trip(packet: DocumentPacket) -> None:
    assert parse_packet(build_document_packet(packet)) == packet


@settings(max_examples=60, deadline=None)
@given(
    st.builds(
        StatusPacket,
        st.builds(ResponseFor, CODES, token(20), st.none() | DAYS, token(40)),
        organization(),
        st.sampled_from(StatusCode),
        TIMES,
        text(200),
        st.builds(StaffInfo, text(), text(), text(20), text()),
    )
)
def test_status_packets_round_trip(packet: StatusPacket) -> None:
    assert parse_packet(build_status_packet(packet)) == packet
