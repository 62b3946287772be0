"""PAdES levels B-B to B-LTA, RSA and ECDSA, several signatures, certification: each output is checked
by qpdf, poppler's pdfsig and pyHanko's validator."""

from __future__ import annotations

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader

from docsign.signing.errors import SignatureNotAllowed
from docsign.signing.request import Level, SignRequest
from docsign.signing.service import sign_pdf
from tests.unit.signing.helpers import assert_interop, load


def _dss(path):  # type: ignore[no-untyped-def]
    with path.open("rb") as fh:
        reader = PdfFileReader(fh)
        dss = reader.root.get("/DSS")
        dss = dss.get_object() if dss is not None else None
        if dss is None:
            return None
        return {k: len(dss[k]) for k in ("/Certs", "/OCSPs", "/CRLs") if k in dss}


@pytest.mark.parametrize("level", list(Level))
@pytest.mark.parametrize("which", ["leader", "seal"])
def test_levels(pki, pdfs, work, level, which):  # type: ignore[no-untyped-def]
    key = load(getattr(pki, which), pki)
    out = work / "signed.pdf"
    result = sign_pdf(pdfs.one, out, key, SignRequest(level=level, tsa_url=pki.tsa_url, reason="Ký duyệt"))
    count = 2 if level is Level.B_LTA else 1  # B-LTA adds a document timestamp
    statuses = assert_interop(out, pki.root, count)
    sig = statuses[0]
    assert sig.md_algorithm == "sha256"
    assert sig.signing_cert.public_key.algorithm == ("rsa" if which == "leader" else "ec")
    assert (sig.timestamp_validity is not None) == level.needs_timestamp
    dss = _dss(out)
    if level.needs_revocation:
        assert dss is not None and dss.get("/Certs", 0) >= 2
        assert dss.get("/OCSPs", 0) + dss.get("/CRLs", 0) >= 1, dss
    else:
        assert dss is None
    if level is Level.B_LTA:
        assert statuses[1].__class__.__name__ == "DocumentTimestampStatus"
    with out.open("rb") as fh:
        assert b"/ETSI.CAdES.detached" in fh.read()
    assert result.field_name == "signature-1"


def test_three_signatures_stay_valid(pki, pdfs, work):  # type: ignore[no-untyped-def]
    leader, seal = load(pki.leader, pki), load(pki.seal, pki)
    a, b, c = work / "a.pdf", work / "b.pdf", work / "c.pdf"
    sign_pdf(pdfs.three, a, leader, SignRequest())
    sign_pdf(a, b, seal, SignRequest(level=Level.B_T, tsa_url=pki.tsa_url))
    sign_pdf(b, c, leader, SignRequest(level=Level.B_LT, tsa_url=pki.tsa_url))
    assert_interop(c, pki.root, 3)


def test_sign_in_place(pki, pdfs, work):  # type: ignore[no-untyped-def]
    target = work / "doc.pdf"
    target.write_bytes(pdfs.one.read_bytes())
    key = load(pki.leader, pki)
    sign_pdf(target, target, key, SignRequest())
    sign_pdf(target, target, key, SignRequest())
    assert_interop(target, pki.root, 2)
    assert sorted(p.name for p in work.iterdir()) == ["doc.pdf"]


def test_certify_then_approve(pki, pdfs, work):  # type: ignore[no-untyped-def]
    key = load(pki.leader, pki)
    first, second = work / "c1.pdf", work / "c2.pdf"
    sign_pdf(pdfs.one, first, key, SignRequest(certify=True))
    with first.open("rb") as fh:
        assert b"/DocMDP" in fh.read()
    sign_pdf(first, second, load(pki.seal, pki), SignRequest())
    statuses = assert_interop(second, pki.root, 2)
    assert statuses[0].seed_value_ok is not False and statuses[0].docmdp_ok
    with first.open("rb") as fh:
        assert b"/P 2" in fh.read()


def test_certify_no_changes_forbids_more(pki, pdfs, work):  # type: ignore[no-untyped-def]
    key = load(pki.leader, pki)
    first = work / "locked.pdf"
    sign_pdf(pdfs.one, first, key, SignRequest(certify=True, docmdp=1))
    with pytest.raises(SignatureNotAllowed):
        sign_pdf(first, work / "more.pdf", key, SignRequest())
    assert not (work / "more.pdf").exists()


def test_certify_must_be_first(pki, pdfs, work):  # type: ignore[no-untyped-def]
    key = load(pki.leader, pki)
    first = work / "one.pdf"
    sign_pdf(pdfs.one, first, key, SignRequest())
    with pytest.raises(SignatureNotAllowed):
        sign_pdf(first, work / "two.pdf", key, SignRequest(certify=True))
