"""The signed PDF of a packet, also when the sender zipped it (the VNPT library zips every attachment)."""

from __future__ import annotations

import io
import zipfile

import pytest

from docsign.errors import InvalidInput
from docsign.exchange import edxml
from docsign.exchange.verdicts import pdf_attachment
from tests.unit.exchange.factories import sample_packet

PDF = b"%PDF-1.7\n% a PDF\n%%EOF\n"


def _zip(**entries: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name.replace("_", "."), data)
    return buf.getvalue()


def _with(*attachments: edxml.Attachment) -> edxml.DocumentPacket:
    return edxml.DocumentPacket(sample_packet().message_header, attachments=attachments)


def test_a_pdf_attachment_comes_first_then_a_pdf_inside_a_zip():
    note = edxml.Attachment.new("ghi-chu.txt", b"hello", "text/plain")
    zipped = edxml.Attachment.new("van-ban.pdf", _zip(readme_txt=b"x", van_ban_pdf=PDF), "application/zip")
    assert pdf_attachment(_with(note, zipped)) == PDF
    plain = edxml.Attachment.new("khac.pdf", PDF + b"plain")
    assert pdf_attachment(_with(zipped, plain)) == PDF + b"plain"


@pytest.mark.parametrize(("attachment", "message"), [
    (edxml.Attachment.new("a.txt", b"hello", "text/plain"), "no PDF attachment"),
    (edxml.Attachment.new("a.zip", _zip(a_txt=b"x"), "application/zip"), "no PDF attachment"),
    (edxml.Attachment.new("a.zip", b"PK\x03\x04broken", "application/zip"), "not a readable zip"),
    (edxml.Attachment.new("a.zip", _zip(big_pdf=b"0" * 5000), "application/zip"), "unpacks to more than"),
])
def test_no_pdf_a_broken_zip_or_a_zip_bomb_is_refused(attachment: edxml.Attachment, message: str):
    with pytest.raises(InvalidInput, match=message):
        pdf_attachment(_with(attachment), max_bytes=1000)
