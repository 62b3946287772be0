"""Hostile input through the bounded sandbox: a report or a clear 4xx error, never a crash or a hang."""

from __future__ import annotations

import subprocess
import sys
import time
import zlib

import pytest

from docsign.errors import DocsignError
from docsign.verification.errors import TooManySignatures, VerificationLimitExceeded
from docsign.verification.sandbox import BoundedVerifier, Limits
from tests.unit.verification.pdfs import raw_pdf, stream


@pytest.fixture(scope="module")
def verifier():  # type: ignore[no-untyped-def]
    v = BoundedVerifier(Limits(timeout_seconds=20, memory_mb=512))
    yield v
    v.close()


def bomb() -> bytes:
    inner = zlib.compress(b"\0" * (200 * 1024 * 1024), 9)
    outer = zlib.compress(inner, 9)
    return raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [5 0 R] >> >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 10 10] /Contents 4 0 R >>",
        stream(outer, b"/Filter [/FlateDecode /FlateDecode] "),
        b"<< /FT /Sig /T (S) /V << /Type /Sig /Filter /Adobe.PPKLite /SubFilter /ETSI.CAdES.detached "
        b"/ByteRange [0 10 20 10] /Contents <00> >> >>",
    ])


def nested(depth: int) -> bytes:
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R /Deep " + b"[" * depth + b"]" * depth + b" >>",
                    b"<< /Type /Pages /Kids [] /Count 0 >>"])


def cyclic() -> bytes:
    return raw_pdf([b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [3 0 R] >> >>",
                    b"<< /Type /Pages /Kids [2 0 R] /Count 1 /Parent 2 0 R >>",
                    b"<< /FT /Sig /T (Loop) /Kids [3 0 R] /Parent 3 0 R >>"])


def many_signatures(count: int) -> bytes:
    fields = b" ".join(b"%d 0 R" % (3 + i) for i in range(count))
    objects = [b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [%s] >> >>" % fields,
               b"<< /Type /Pages /Kids [] /Count 0 >>"]
    objects += [b"<< /FT /Sig /T (S%d) /V << /Type /Sig /SubFilter /ETSI.CAdES.detached /ByteRange [0 1 2 3] "
                b"/Contents <3082> >> >>" % i for i in range(count)]
    return raw_pdf(objects)


def outcome(verifier, data):  # type: ignore[no-untyped-def]
    try:
        return verifier.verify(data, [])
    except DocsignError as exc:
        assert 400 <= exc.http_status < 500 and exc.exit_code == 3, exc
        return exc


@pytest.mark.parametrize("make", [bomb, lambda: nested(100_000), lambda: nested(300), cyclic,
                                  lambda: b"%PDF-1.7\n" + b"\x00" * 1000, lambda: b"%PDF-1.4\n1 0 obj\n<<"],
                         ids=["decompression-bomb", "deep-nesting", "nesting", "cycles", "zeros", "truncated"])
def test_hostile_structure_gets_a_report_or_4xx(verifier, make):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    result = outcome(verifier, make())
    assert time.monotonic() - started < 25
    if not isinstance(result, DocsignError):
        assert all(s.indication.value != "TOTAL_PASSED" for s in result.signatures)


def test_thousands_of_signatures_is_a_clear_400(verifier):  # type: ignore[no-untyped-def]
    with pytest.raises(TooManySignatures) as info:
        verifier.verify(many_signatures(3000), [])
    assert info.value.http_status == 400


def test_a_few_garbled_signatures_each_get_a_report(verifier):  # type: ignore[no-untyped-def]
    report = verifier.verify(many_signatures(5), [])
    assert [(s.indication.value, s.sub_indication) for s in report.signatures] == [("TOTAL_FAILED",
                                                                                    "FORMAT_FAILURE")] * 5


def test_time_bound_kills_and_replaces_the_worker(kit, docs):  # type: ignore[no-untyped-def]
    slow = BoundedVerifier(Limits(timeout_seconds=0.001))
    try:
        with pytest.raises(VerificationLimitExceeded):
            slow.verify(docs.b_lt, [kit.root])
        slow.limits = Limits(timeout_seconds=30)
        assert slow.verify(docs.b_lt, [kit.root]).indication.value == "TOTAL_PASSED"
    finally:
        slow.close()


def test_sandboxed_report_equals_in_process_report(verifier, kit, docs):  # type: ignore[no-untyped-def]
    from docsign.verification.engine import verify_pdf

    inside = verifier.verify(docs.two, [kit.root]).to_dict()
    direct = verify_pdf(docs.two, [kit.root]).to_dict()
    for report in (inside, direct):
        report.pop("validation_time")
    assert inside == direct


def test_domain_code_imports_neither_flask_nor_celery():  # type: ignore[no-untyped-def]
    code = ("import sys, docsign.verification.engine, docsign.verification.sandbox, docsign.verification.render, "
            "docsign.verification.cli, docsign.pki.trust, docsign.pki.trust_cli; "
            "assert 'flask' not in sys.modules and 'celery' not in sys.modules, sorted(sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)
