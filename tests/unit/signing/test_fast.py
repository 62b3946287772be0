"""The fast path: one key loaded once serves many signatures, from several threads, and its CMS is
standard (checked by asn1crypto, pyHanko, pdfsig); domain modules do not import web or task frameworks."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from asn1crypto import cms
from pyhanko.pdf_utils.reader import PdfFileReader

from docsign.signing.fast import signer_for
from docsign.signing.request import SignRequest
from docsign.signing.service import sign_pdf
from tests.unit.signing.helpers import assert_interop, load


def test_cms_is_standard_and_tight(pki, pdfs, work):  # type: ignore[no-untyped-def]
    key = load(pki.leader, pki)
    out = work / "fast.pdf"
    sign_pdf(pdfs.one, out, key, SignRequest())
    with out.open("rb") as fh:
        sig = PdfFileReader(fh).embedded_signatures[0]
        content = sig.signed_data
    info = cms.ContentInfo.load(sig.sig_object["/Contents"])
    assert info["content_type"].native == "signed_data"
    assert content["signer_infos"][0]["signed_attrs"].native  # messageDigest, contentType, signingCertificateV2
    attrs = {a["type"].native for a in content["signer_infos"][0]["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_certificate_v2"} <= attrs and "signing_time" not in attrs
    reserved = len(sig.sig_object["/Contents"])
    assert reserved <= signer_for(key).reserved_size("sha256") // 2
    assert_interop(out, pki.root, 1)


def test_threads_share_one_key(pki, pdfs, work):  # type: ignore[no-untyped-def]
    key = load(pki.seal, pki)

    def one(i: int):  # type: ignore[no-untyped-def]
        out = work / f"t{i}.pdf"
        sign_pdf(pdfs.one, out, key, SignRequest())
        return out

    with ThreadPoolExecutor(max_workers=4) as pool:
        outputs = list(pool.map(one, range(8)))
    for out in outputs[:3]:
        assert_interop(out, pki.root, 1)
    assert signer_for(key) is signer_for(load(pki.seal, pki))


def test_domain_code_imports_no_framework():  # type: ignore[no-untyped-def]
    code = ("import sys, docsign.signing.service, docsign.signing.cli, docsign.pki.keys, docsign.pki.pkcs11;"
            "bad = [m for m in ('flask', 'celery') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
