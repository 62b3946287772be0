"""Hostile packets: entity bombs, external entities and DTDs, oversized input. All are refused."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from docsign.exchange import edxml
from docsign.exchange.edxml import (
    MAX_ATTACHMENT_BYTES,
    NS,
    Attachment,
    build_document_packet,
    parse_document_packet,
    parse_packet,
    parse_status_packet,
)
from docsign.exchange.errors import InvalidPacket, PacketTooLarge, UnsafeXml

from .factories import sample_packet

BODY = f'<edXML xmlns="{NS}"><edXMLEnvelope><edXMLHeader><MessageHeader><Subject>&x;</Subject>'
END = "</MessageHeader></edXMLHeader></edXMLEnvelope></edXML>"

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE edXML [\n <!ENTITY x0 "ha">\n'
    + "".join(f' <!ENTITY x{i} "{f"&x{i - 1};" * 10}">\n' for i in range(1, 10))
    + ' <!ENTITY x "&x9;">\n]>\n'
    + BODY
    + END
)


@pytest.fixture
def dtd_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that records every request; the parser must never call it."""
    hits: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            body = b'<!ENTITY x "FETCHED">'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", hits
    finally:
        server.shutdown()
        server.server_close()


def _refused(data: bytes) -> UnsafeXml:
    for parse in (parse_packet, parse_document_packet, parse_status_packet):
        with pytest.raises(UnsafeXml) as caught:
            parse(data)
    assert "DOCTYPE" in str(caught.value)
    assert caught.value.http_status == 400
    return caught.value


def test_billion_laughs_is_refused_quickly() -> None:
    started = time.monotonic()
    _refused(BILLION_LAUGHS.encode())
    assert time.monotonic() - started < 1.0


def test_external_entity_reading_a_local_file_is_refused() -> None:
    data = f'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x SYSTEM "file:///etc/passwd">]>{BODY}{END}'
    error = _refused(data.encode())
    assert "root:" not in str(error)


def test_external_entity_over_the_network_is_refused_without_a_request(dtd_server: tuple[str, list[str]]) -> None:
    url, hits = dtd_server
    data = f'<?xml version="1.0"?><!DOCTYPE edXML [<!ENTITY x SYSTEM "{url}/secret">]>{BODY}{END}'
    _refused(data.encode())
    assert hits == []


def test_external_dtd_is_refused_without_loading_it(dtd_server: tuple[str, list[str]], tmp_path: Path) -> None:
    url, hits = dtd_server
    _refused(f'<?xml version="1.0"?><!DOCTYPE edXML SYSTEM "{url}/edxml.dtd">{BODY}{END}'.encode())
    local = tmp_path / "evil.dtd"
    local.write_text('<!ENTITY x "FROM-LOCAL-DTD">')
    error = _refused(f'<!DOCTYPE edXML SYSTEM "{local.as_uri()}">{BODY}{END}'.encode())
    assert "FROM-LOCAL-DTD" not in str(error)
    assert hits == []


def test_parameter_entities_are_refused(dtd_server: tuple[str, list[str]]) -> None:
    url, hits = dtd_server
    data = f'<!DOCTYPE edXML [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]>{BODY.replace("&x;", "")}{END}'
    _refused(data.encode())
    assert hits == []


def test_a_doctype_without_entities_is_refused_too() -> None:
    data = build_document_packet(sample_packet())
    with_doctype = data.replace(b"<edXML ", b"<!DOCTYPE edXML>\n<edXML ", 1)
    _refused(with_doctype)


def test_a_doctype_in_utf16_is_refused_too() -> None:
    data = f'<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE edXML [<!ENTITY x "y">]>{BODY}{END}'
    _refused(data.encode("utf-16"))


def test_a_doctype_in_utf32_is_caught_after_parsing() -> None:
    # The byte scan only knows UTF-8 and UTF-16; the document info check catches the rest.
    data = f'<?xml version="1.0" encoding="UTF-32"?><!DOCTYPE edXML [<!ENTITY x "y">]>{BODY}{END}'
    _refused(data.encode("utf-32"))


@pytest.mark.parametrize("attack", ["entity", "dtd", "parameter"])
def test_the_parser_itself_fetches_nothing_when_the_byte_scan_is_bypassed(
    attack: str, dtd_server: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(edxml, "_DTD_MARKERS", ())
    url, hits = dtd_server
    doctype = {
        "entity": f'<!DOCTYPE edXML [<!ENTITY x SYSTEM "{url}/e">]>',
        "dtd": f'<!DOCTYPE edXML SYSTEM "{url}/edxml.dtd">',
        "parameter": f'<!DOCTYPE edXML [<!ENTITY % p SYSTEM "{url}/p.dtd"> %p;]>',
    }[attack]
    with pytest.raises(InvalidPacket) as caught:
        parse_packet(f"{doctype}{BODY}{END}".encode())
    assert "FETCHED" not in str(caught.value)
    assert hits == []


def test_an_undeclared_entity_is_just_malformed() -> None:
    with pytest.raises(InvalidPacket, match="not well-formed XML"):
        parse_packet(f"{BODY}{END}".encode())


def test_a_packet_over_the_size_bound_is_refused_before_parsing() -> None:
    data = build_document_packet(sample_packet())
    with pytest.raises(
        PacketTooLarge, match=f"the packet is {len(data):,} bytes; at most 1,000 are accepted"
    ) as caught:
        parse_packet(data, max_bytes=1000)
    assert caught.value.http_status == 413
    # Not even XML: the size alone decides.
    with pytest.raises(PacketTooLarge):
        parse_document_packet(b"\0" * 2048, max_bytes=1024)
    with pytest.raises(PacketTooLarge, match="the packet would be"):
        build_document_packet(sample_packet(), max_bytes=1000)


def test_a_text_node_libxml2_will_not_read_is_a_clear_error() -> None:
    huge = b"A" * (10_000_000 + 4)
    data = build_document_packet(sample_packet()).replace(b"JVBERi0xLjQgcGh1IGx1Yw==", huge)
    with pytest.raises(PacketTooLarge, match=f"at most {MAX_ATTACHMENT_BYTES:,} bytes per attachment"):
        parse_document_packet(data)


def test_the_largest_attachment_round_trips_and_one_byte_more_is_refused() -> None:
    big = bytes(range(256)) * (MAX_ATTACHMENT_BYTES // 256) + b"x" * (MAX_ATTACHMENT_BYTES % 256)
    assert len(big) == MAX_ATTACHMENT_BYTES
    packet = sample_packet()
    packet = type(packet)(packet.message_header, packet.trace_header_list, (Attachment.new("big.pdf", big),))
    assert parse_document_packet(build_document_packet(packet)).attachments[0].data == big
    too_big = type(packet)(packet.message_header, packet.trace_header_list, (Attachment.new("big.pdf", big + b"!"),))
    with pytest.raises(PacketTooLarge, match=r"'big\.pdf' is 7,500,001 bytes"):
        build_document_packet(too_big)
