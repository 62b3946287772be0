"""Hostile packets: entity bombs, external entities and DTDs, oversized input. All are refused."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from docsign.exchange.edxml import (
    MAX_ATTACHMENT_BYTES_OTHER_ENCODINGS,
    NS,
    Attachment,
    build_document_packet,
    parse_document_packet,
    parse_packet,
    parse_status_packet,
)
from docsign.exchange.edxml import reader as edxml_reader
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
    monkeypatch.setattr(edxml_reader, "_DTD_MARKERS", ())
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


def test_a_big_attachment_in_a_utf8_packet_round_trips_up_to_the_packet_bound() -> None:
    """A 12 MB scan: more than libxml2 reads in one text node by default (10 MB of base64)."""
    big = bytes(range(256)) * (12 * 1024 * 1024 // 256)
    packet = sample_packet()
    packet = type(packet)(packet.message_header, packet.trace_header_list, (Attachment.new("scan.pdf", big),))
    data = build_document_packet(packet)
    assert parse_document_packet(data).attachments[0].data == big
    assert parse_document_packet(b"\xef\xbb\xbf" + data).attachments[0].data == big  # with a BOM
    with pytest.raises(PacketTooLarge, match="the packet would be"):
        build_document_packet(packet, max_bytes=len(data) - 1)
    with pytest.raises(PacketTooLarge, match=f"the packet is {len(data):,} bytes"):
        parse_document_packet(data, max_bytes=len(data) - 1)


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-16"])
def test_in_other_encodings_a_text_node_libxml2_will_not_read_is_a_clear_error(encoding: str) -> None:
    huge = "A" * (10_000_000 + 4)
    text = build_document_packet(sample_packet()).decode().replace("JVBERi0xLjQgcGh1IGx1Yw==", huge)
    data = text.replace("encoding='UTF-8'", f"encoding='{encoding}'", 1).encode(encoding.lower(), "xmlcharrefreplace")
    with pytest.raises(PacketTooLarge, match=f"at most {MAX_ATTACHMENT_BYTES_OTHER_ENCODINGS:,} bytes"):
        parse_document_packet(data)


@pytest.mark.parametrize(("head", "utf8"), [
    (b'<?xml version="1.0" encoding="UTF-8"?><edXML/>', True),
    (b"<?xml version='1.0' encoding='utf-8'?><edXML/>", True),
    (b"<edXML/>", True),
    (b'\xef\xbb\xbf<?xml version="1.0"?><edXML/>', True),
    (b'<?xml version="1.0" encoding="windows-1258"?><edXML/>', False),
    (b'<?xml version="1.0" encoding="UTF-7"?><edXML/>', False),
    ('<?xml version="1.0" encoding="UTF-16"?><edXML/>'.encode("utf-16"), False),
    ('<?xml version="1.0"?><edXML/>'.encode("utf-16-le"), False),
    ('<?xml version="1.0"?><edXML/>'.encode("utf-32-le"), False),
    (b"  <edXML/>", False),
])
def test_only_utf8_packets_are_read_without_the_text_node_cap(head: bytes, utf8: bool) -> None:
    assert edxml_reader._is_utf8(head) is utf8
