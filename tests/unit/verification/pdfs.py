"""Real signed PDFs for the verification tests and the benchmark, made with pyHanko directly.

Documents are written by hand (:func:`raw_pdf`) so the attack generator controls every byte; they are
signed with pyHanko's own signer against the test PKI served over HTTP (TSA, OCSP, CRL).
"""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.fields import MDPPerm, SigFieldSpec
from pyhanko.sign.signers.pdf_byterange import BuildProps

from docsign.pki.authority import PkiStore, name
from docsign.pki.trust import build_validation_context

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


# -- unsigned documents -------------------------------------------------------------------------
def raw_pdf(objects: Sequence[bytes], *, root: int = 1, header: bytes = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") -> bytes:
    """A PDF with a classic xref table; ``objects[i]`` is the body of object ``i + 1``."""
    out = bytearray(header)
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref_at = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, root, xref_at)
    return bytes(out)


def stream(data: bytes, extra: bytes = b"") -> bytes:
    return b"<< /Length %d %s>>\nstream\n" % (len(data), extra) + data + b"\nendstream"


def text_pdf(pages: int = 1, text: str = "Quyet dinh so 05/QD-UBND") -> bytes:
    """A plain document of ``pages`` pages, each with a line of text (Helvetica)."""
    # 1 catalog, 2 pages, 3 font, then (page, content) pairs
    kids = b" ".join(b"%d 0 R" % (4 + 2 * i) for i in range(pages))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i in range(pages):
        content = b"BT /F1 14 Tf 72 720 Td (%s - page %d) Tj ET" % (text.encode("latin-1"), i + 1)
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >>"
                       b" /Contents %d 0 R >>" % (5 + 2 * i))
        objects.append(stream(content))
    return raw_pdf(objects)


# -- signing ------------------------------------------------------------------------------------
@dataclass
class Kit:
    """Signers issued by one test PKI, and pyHanko validation contexts that trust its root."""

    store: PkiStore
    url: str
    tsa_url: str
    signers: dict[str, signers.SimpleSigner] = field(default_factory=dict)

    @property
    def root(self) -> asn1_x509.Certificate:
        return to_asn1(self.store.authorities["root"].cert)

    def signer(self, label: str, *, common_name: str | None = None, organization: str = "UBND tinh Hoa Binh",
               not_before: dt.datetime | None = None, validity: dt.timedelta = dt.timedelta(days=730),
               ca_label: str = "issuing") -> signers.SimpleSigner:
        if label not in self.signers:
            _, _, p12 = self.store.issue_signer(label, name(common_name or label, organization), ca_label,
                                                not_before=not_before, validity=validity)
            self.store.save()
            signer = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=self.store.passphrase)
            assert signer is not None
            self.signers[label] = signer
        return self.signers[label]

    def serial(self, label: str) -> int:
        return int(self.store.leaves[label]["serial"], 16)

    def timestamper(self) -> timestamps.HTTPTimeStamper:
        return timestamps.HTTPTimeStamper(self.tsa_url, timeout=10)

    def sign(self, data: bytes, signer: signers.Signer, *, level: str = "B-B", field_name: str = "Signature1",
             certify: bool = False, docmdp: MDPPerm = MDPPerm.FILL_FORMS, reason: str | None = None,
             new_field: SigFieldSpec | None = None, subfilter: fields.SigSeedSubFilter = fields.SigSeedSubFilter.PADES,
             **meta: Any) -> bytes:
        assert level in LEVELS
        vc = build_validation_context([self.root]) if level in ("B-LT", "B-LTA") else None
        metadata = signers.PdfSignatureMetadata(
            field_name=field_name,
            subfilter=subfilter,
            reason=reason,
            certify=certify,
            docmdp_permissions=docmdp,
            embed_validation_info=level in ("B-LT", "B-LTA"),
            use_pades_lta=level == "B-LTA",
            validation_context=vc,
            app_build_props=BuildProps(name="docsign tests"),
            **meta,
        )
        out = io.BytesIO()
        signers.PdfSigner(
            metadata, signer, timestamper=self.timestamper() if level != "B-B" else None,
            new_field_spec=new_field,
        ).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(data), strict=False), output=out)
        return out.getvalue()

    def timestamp(self, data: bytes) -> bytes:
        """Add a document timestamp (B-LTA style) to an already signed document."""
        out = io.BytesIO()
        signers.PdfTimeStamper(self.timestamper()).timestamp_pdf(
            IncrementalPdfFileWriter(io.BytesIO(data), strict=False), md_algorithm="sha256", output=out)
        return out.getvalue()


def signed_range(data: bytes, occurrence: int = 0) -> tuple[int, int, int, int]:
    """The /ByteRange of the ``occurrence``-th signature in the file, read from the bytes."""
    found = list(re.finditer(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", data))
    a, b, c, d = (int(x) for x in found[occurrence].groups())
    return a, b, c, d


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# -- changing a signed document the way attackers do -------------------------------------------
def last_startxref(data: bytes) -> int:
    return int(re.findall(rb"startxref\s+(\d+)", data)[-1])


def trailer_size(data: bytes) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader

    return int(PdfFileReader(io.BytesIO(data), strict=False).trailer["/Size"])


def append_update(data: bytes, objects: dict[int, bytes], *, root: int | None = None, with_xref: bool = True,
                  chained: bool = True, freed: Sequence[int] = ()) -> bytes:
    """Append an incremental update that (re)defines ``objects`` and marks ``freed`` free (generation 1);
    ``with_xref=False`` appends the objects alone (a viewer's repair finds them, a strict reader does not)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(data), strict=False)
    root_ref = root if root is not None else reader.trailer.raw_get("/Root").idnum
    out = bytearray(data if data.endswith(b"\n") else data + b"\n")
    offsets = {}
    for number, body in sorted(objects.items()):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    if not with_xref:
        return bytes(out)
    xref_at = len(out)
    size = max(trailer_size(data), max([*objects, *freed]) + 1)
    out += b"xref\n0 1\n0000000000 65535 f \n"
    entries = {**{n: b"%010d 00000 n " % o for n, o in offsets.items()}, **{n: b"0000000000 00001 f " for n in freed}}
    for number, entry in sorted(entries.items()):
        out += b"%d 1\n%s\n" % (number, entry)
    prev = b" /Prev %d" % last_startxref(data) if chained else b""
    out += b"trailer\n<< /Size %d /Root %d 0 R%s >>\nstartxref\n%d\n%%%%EOF\n" % (size, root_ref, prev, xref_at)
    return bytes(out)


def patch_same_length(data: bytes, old: bytes, new: bytes, occurrence: int = 0) -> bytes:
    """Replace the ``occurrence``-th ``old`` by ``new`` padded with spaces to the same length."""
    assert len(new) <= len(old), (old, new)
    positions = [m.start() for m in re.finditer(re.escape(old), data)]
    at = positions[occurrence]
    return data[:at] + new.ljust(len(old)) + data[at + len(old):]


def byte_range_text(data: bytes, occurrence: int = 0) -> bytes:
    return list(re.finditer(rb"/ByteRange\s*\[[^\]]*\]", data))[occurrence].group(0)


def contents_span(data: bytes, occurrence: int = 0) -> tuple[int, int]:
    """Offsets of the hex string ``<...>`` the ByteRange leaves out."""
    _, a, b, _ = signed_range(data, occurrence)
    return a, b
