"""The library speedups give exactly what the libraries give: value, stream position and errors."""

from __future__ import annotations

import io

import pytest
from asn1crypto import x509 as asn1_x509
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic

from docsign.verification import speedups


@pytest.fixture(autouse=True)
def _libraries_as_shipped_afterwards():  # type: ignore[no-untyped-def]
    yield
    speedups.uninstall()


HEX_ALPHABET = b"0123456789abcdefABCDEF \n\r\t\x0c\x00%>gz<"


def outcome(reader, data: bytes):  # type: ignore[no-untyped-def]
    stream = io.BytesIO(data)
    try:
        value = reader(stream)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("ok", type(value).__name__, bytes(value.original_bytes), stream.tell())


@pytest.mark.parametrize("data", [
    b"<>", b"<41>", b"<414>", b"< 41 42\n43\t>rest", b"<4a4B>", b"<41 % a comment > 42\n 43>", b"<41 zz>",
    b"<4142", b"<" + b"ab" * 40_000 + b">tail", b"<\x0041\x00>", b"<FEFF00410042>", b"<41>>",
])
def test_hex_strings_read_like_pyhanko(data: bytes) -> None:
    assert outcome(speedups.read_hex_string_from_stream, data) == outcome(speedups.PYHANKO_READ_HEX_STRING, data)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=200).map(lambda b: b"<" + bytes(HEX_ALPHABET[x % len(HEX_ALPHABET)] for x in b)))
def test_random_hex_strings_read_like_pyhanko(data: bytes) -> None:
    assert outcome(speedups.read_hex_string_from_stream, data) == outcome(speedups.PYHANKO_READ_HEX_STRING, data)


def test_installed_reader_is_used_inside_objects() -> None:
    speedups.install()
    assert generic.read_hex_string_from_stream is speedups.read_hex_string_from_stream
    stream = io.BytesIO(b"<< /Contents <3031 32> /X 1 >>")
    obj = generic.read_object(stream, generic.Reference(1, 0))
    assert bytes(obj["/Contents"].original_bytes) == b"012" and obj["/X"] == 1


def name_outcome(reader, data: bytes):  # type: ignore[no-untyped-def]
    stream = io.BytesIO(data)
    try:
        value = reader(stream)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("ok", type(value).__name__, str(value), stream.tell())


@pytest.mark.parametrize("data", [
    b"/Type /Sig", b"/ByteRange[0 1]", b"/Type", b"/", b"/ ", b"/A#20B ", b"/A#2", b"/A#zz ", b"/caf\xc3\xa9 ",
    b"/\xe9t\xe9 ", b"/A\x01B ", b"/A\x7fB ", b"Type ", b"/" + b"N" * 300 + b" ", b"/a/b", b"/a%c\n", b"/a\x00b",
])
def test_names_read_like_pyhanko(data: bytes) -> None:
    assert name_outcome(speedups.read_name_from_stream, data) == name_outcome(speedups.PYHANKO_READ_NAME, data)


NAME_ALPHABET = b"/AZaz09#2F \n\x00()<>[]{}%\x01\x7f\xc3\xa9~!"


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=160).map(lambda b: b"/" + bytes(NAME_ALPHABET[x % len(NAME_ALPHABET)] for x in b)))
def test_random_names_read_like_pyhanko(data: bytes) -> None:
    assert name_outcome(speedups.read_name_from_stream, data) == name_outcome(speedups.PYHANKO_READ_NAME, data)


class _Container:
    """What pyHanko's reader passes as container_ref: something that names the PDF handler."""

    handler = object()

    def get_pdf_handler(self):  # type: ignore[no-untyped-def]
        return self.handler


def array_outcome(reader, data: bytes, in_content_stream=generic.ContentOpReading.NO):  # type: ignore[no-untyped-def]
    stream = io.BytesIO(data)
    container = _Container()
    try:
        value = reader(stream, container, in_content_stream=in_content_stream)
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))
    items = [(x.idnum, x.generation, x.get_pdf_handler() is _Container.handler, x.container_ref is container)
             if isinstance(x, generic.IndirectObject) else (type(x).__name__, getattr(x, "literal", repr(x)),
                                                             x.container_ref is container)
             for x in value]
    return ("ok", type(value).__name__, items, stream.tell())


@pytest.mark.parametrize("data", [
    b"[]", b"[ ]", b"[4 0 R]", b"[4 0 R 6 0 R 8 0 R]rest", b"[\n4 0 R\r\n6  0\tR ]", b"[0 0 595 842]",
    b"[4 0 R 5]", b"[0 0 R]", b"[4 0 R % comment ] \n 6 0 R]", b"[4 0 R", b"[1234567890123456 0 R]",
    b"[12345678901234 0 R]", b"[1234567890123 0 R]", b"[4 0 R /Name]", b"[(text) 4 0 R]", b"[4\x000 R]",
    b"[" + b" ".join(b"%d 0 R" % n for n in range(1, 3000)) + b"]", b"[4 0 Rx]", b"[4 0 R\x0b]",
])
def test_arrays_read_like_pyhanko(data: bytes) -> None:
    assert array_outcome(speedups.read_array_from_stream, data) == array_outcome(speedups.PYHANKO_READ_ARRAY, data)
    in_content = generic.ContentOpReading.GRAPHIC_OPS
    assert array_outcome(speedups.read_array_from_stream, data, in_content) == \
        array_outcome(speedups.PYHANKO_READ_ARRAY, data, in_content)


ARRAY_ALPHABET = b"0123456789 \n\t\x0c\x00R]%/x[0 R 1"


@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=60).map(lambda b: b"[" + bytes(ARRAY_ALPHABET[x % len(ARRAY_ALPHABET)] for x in b)))
def test_random_arrays_read_like_pyhanko(data: bytes) -> None:
    assert array_outcome(speedups.read_array_from_stream, data) == array_outcome(speedups.PYHANKO_READ_ARRAY, data)


token = st.one_of(
    st.tuples(st.integers(0, 10**18), st.integers(0, 70000), st.sampled_from([b" ", b"  ", b"\n", b"\r\n", b"\t"]))
    .map(lambda t: b"%d%s%d R" % (t[0], t[2], t[1])),
    st.sampled_from([b"5", b"/N", b"(s)", b"% c\n", b"R", b"\x00", b"<41>"]),
)


@settings(max_examples=600, deadline=None)
@given(st.lists(token, max_size=12), st.sampled_from([b" ", b"", b"\n"]), st.sampled_from([b"]", b"", b"] 7"]))
def test_random_reference_arrays_read_like_pyhanko(tokens, sep, end) -> None:  # type: ignore[no-untyped-def]
    data = b"[" + sep.join(tokens) + end
    assert array_outcome(speedups.read_array_from_stream, data) == array_outcome(speedups.PYHANKO_READ_ARRAY, data)


def _signed_data(pdf: bytes):  # type: ignore[no-untyped-def]
    from pyhanko.pdf_utils.reader import PdfFileReader

    return [s.signed_data for s in PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures]


def _ders(info):  # type: ignore[no-untyped-def]
    return (info.signer_cert.dump(), [c.dump() for c in info.other_certs], [c.dump() for c in info.attribute_certs])


def test_certificates_come_out_as_pyhanko_gives_them_parsed_once(docs) -> None:  # type: ignore[no-untyped-def]
    speedups.install()
    first, second = _signed_data(docs.two)  # two signers, each CMS with its own copy of the CA certificate
    for signed_data in (first, second):
        assert _ders(speedups.extract_certificate_info(signed_data)) == \
            _ders(speedups.PYHANKO_EXTRACT_CERTIFICATE_INFO(signed_data))
    one, other = speedups.extract_certificate_info(first), speedups.extract_certificate_info(second)
    assert one.signer_cert.dump() != other.signer_cert.dump()
    shared = {c.dump() for c in one.other_certs} & {c.dump() for c in other.other_certs}
    assert shared, "both signers' bags carry the issuing CA"
    ca = next(c for c in one.other_certs if c.dump() in shared)
    assert any(c is ca for c in other.other_certs)  # the same bytes: the same parsed object
    again = speedups.extract_certificate_info(_signed_data(docs.two)[0])  # a fresh parse of the same file
    assert again.signer_cert is one.signer_cert


def test_a_bag_without_the_signers_certificate_fails_as_in_pyhanko(docs) -> None:  # type: ignore[no-untyped-def]
    from asn1crypto import cms
    from pyhanko.sign.general import CMSExtractionError

    speedups.install()
    signed_data = _signed_data(docs.b_b)[0].copy()
    signed_data["certificates"] = cms.CertificateSet([])
    for extract in (speedups.extract_certificate_info, speedups.PYHANKO_EXTRACT_CERTIFICATE_INFO):
        with pytest.raises(CMSExtractionError, match="signer certificate not included"):
            extract(signed_data)


def test_the_certificate_memo_is_bounded(docs) -> None:  # type: ignore[no-untyped-def]
    bags = [speedups.PYHANKO_EXTRACT_CERTIFICATE_INFO(sd) for sd in _signed_data(docs.two)]
    distinct = list({c.dump(): c for bag in bags for c in (bag.signer_cert, *bag.other_certs)}.values())[:3]
    assert len(distinct) == 3
    memo = speedups._Certificates(2)
    assert [memo.interned(c) is c for c in distinct] == [True, True, True]
    copy_of_first = asn1_x509.Certificate.load(distinct[0].dump())
    assert memo.interned(copy_of_first) is copy_of_first  # the first was evicted when the third came
    assert memo.interned(asn1_x509.Certificate.load(distinct[2].dump())) is distinct[2]


def test_issuer_and_serial_match_as_in_pyhanko_including_names_equal_in_another_encoding(docs) -> None:  # type: ignore[no-untyped-def]
    from asn1crypto import cms

    signed_data = _signed_data(docs.two)[0]
    bag = speedups.PYHANKO_EXTRACT_CERTIFICATE_INFO(signed_data)
    certs = [bag.signer_cert, *bag.other_certs]
    sid = signed_data["signer_infos"][0]["sid"].chosen
    # the same issuer written as PrintableString in upper case: equal by RFC 5280, different DER
    issuer = bag.signer_cert.issuer
    shouting = asn1_x509.Name.build({k: v.upper() for k, v in issuer.native.items()}, use_printable=True)
    assert shouting.dump() != issuer.dump()
    other_name = asn1_x509.Name.build({"common_name": "Someone Else"})
    serial = bag.signer_cert.serial_number
    wanted = [sid, *(cms.IssuerAndSerialNumber({"issuer": name, "serial_number": number})
                     for name in (issuer, shouting, other_name) for number in (serial, serial + 1))]
    for _ in range(2):  # the second time from the memo
        for expected in wanted:
            for cert in certs:
                assert speedups.match_issuer_serial(expected, cert) == \
                    speedups.PYHANKO_MATCH_ISSUER_SERIAL(expected, cert)
    assert speedups.match_issuer_serial(wanted[3], bag.signer_cert)  # shouting, same serial


def test_uninstall_puts_every_library_function_back() -> None:
    from pyhanko.sign import general
    from pyhanko.sign.validation import dss, generic_cms
    from pyhanko_certvalidator import sig_validate

    assert speedups.install()
    try:
        speedups.uninstall()
        assert generic.read_hex_string_from_stream is speedups.PYHANKO_READ_HEX_STRING
        assert generic.ArrayObject.read_from_stream is speedups.PYHANKO_READ_ARRAY
        assert generic.NameObject.read_from_stream is speedups.PYHANKO_READ_NAME
        assert general.extract_certificate_info is generic_cms.extract_certificate_info \
            is speedups.PYHANKO_EXTRACT_CERTIFICATE_INFO
        assert general.match_issuer_serial is speedups.PYHANKO_MATCH_ISSUER_SERIAL
        assert general.check_ess_certid is generic_cms.check_ess_certid is speedups.PYHANKO_CHECK_ESS_CERTID
        assert sig_validate.DefaultSignatureValidator.validate_signature is speedups.CERTVALIDATOR_VALIDATE_SIGNATURE
        assert dss.Certificate is asn1_x509.Certificate
        assert not speedups.installed()
    finally:
        speedups.uninstall()


def test_importing_the_engine_changes_no_library() -> None:
    """Issue 12.5: a fresh interpreter that imports the verifier (and verifies) has the libraries as shipped."""
    import subprocess
    import sys

    code = (
        "from pyhanko.pdf_utils import generic; from asn1crypto import x509; from pyhanko.sign import general\n"
        "before = (generic.read_hex_string_from_stream, generic.ArrayObject.read_from_stream, x509.Name.__eq__,\n"
        "          x509.Name.hashable, x509.NameTypeAndValue._ldap_string_prep, general.extract_certificate_info)\n"
        "import docsign.verification.engine, docsign.verification.sandbox, docsign.web.app\n"
        "after = (generic.read_hex_string_from_stream, generic.ArrayObject.read_from_stream, x509.Name.__eq__,\n"
        "         x509.Name.hashable, x509.NameTypeAndValue._ldap_string_prep, general.extract_certificate_info)\n"
        "assert before == after, 'a library function was replaced at import'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_another_pyhanko_version_gets_no_speedups_and_a_clear_message() -> None:
    speedups.uninstall()
    assert not speedups.install("0.39.0")
    assert generic.read_hex_string_from_stream is speedups.PYHANKO_READ_HEX_STRING
    message = speedups.startup_message("0.39.0")
    assert message is not None and "pyHanko 0.39.0 is installed" in message and "correct" in message
    assert speedups.startup_message() is None  # the installed pyHanko is the one they were made for


def test_sandbox_workers_verify_with_the_speedups_and_the_same_verdicts(kit, docs) -> None:  # type: ignore[no-untyped-def]
    """The sandbox installs them in its own processes; the verdicts equal the engine's as shipped here."""
    from docsign.verification import engine
    from docsign.verification.sandbox import BoundedVerifier

    speedups.uninstall()
    pool = BoundedVerifier()
    try:
        for data in (docs.b_lt, docs.two, docs.pkcs7):
            bounded = pool.verify(data, [kit.root], offline=True).to_dict()
            plain = engine.verify_pdf(data, [kit.root], offline=True).to_dict()
            for report in (bounded, plain):
                report.pop("validation_time", None)
            assert bounded == plain
    finally:
        pool.close()
    assert not speedups.installed() and generic.read_hex_string_from_stream is speedups.PYHANKO_READ_HEX_STRING


def _lt_material(pdf: bytes):  # type: ignore[no-untyped-def]
    """The signer's certificate, every certificate the document carries, and its DSS's OCSP responses."""
    from asn1crypto import ocsp
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    dss = DocumentSecurityStore.read_dss(reader)
    embedded = reader.embedded_signatures[0]
    certs = [asn1_x509.Certificate.load(ref.get_object().data) for ref in dss.certs.values()]
    ocsps = [ocsp.OCSPResponse.load(ref.get_object().data) for ref in dss.ocsps]
    return embedded.signer_cert, [*certs, *embedded.other_embedded_certs], ocsps


def _tampered_ocsp(response):  # type: ignore[no-untyped-def]
    """The same OCSP response with one bit of its signature flipped (everything else byte for byte)."""
    from asn1crypto import ocsp

    signature = bytes(response.basic_ocsp_response["signature"])
    flipped = signature[:-1] + bytes([signature[-1] ^ 1])
    der = response.dump()
    assert der.count(signature) == 1
    return ocsp.OCSPResponse.load(der.replace(signature, flipped))


def _chain_outcome(kit, signer, certs, ocsps) -> str:  # type: ignore[no-untyped-def]
    import asyncio

    from pyhanko_certvalidator import CertificateValidator, ValidationContext

    context = ValidationContext(trust_roots=[kit.root], other_certs=certs, ocsps=ocsps, allow_fetching=False,
                                revocation_mode="hard-fail")
    try:
        asyncio.run(CertificateValidator(signer, certs, validation_context=context).async_validate_usage(set()))
    except Exception as exc:
        return type(exc).__name__
    return "valid"


def test_a_tampered_ocsp_response_still_fails_after_the_genuine_one_passed(kit, docs) -> None:  # type: ignore[no-untyped-def]
    signer, certs, ocsps = _lt_material(docs.b_lt)
    tampered = [_tampered_ocsp(r) for r in ocsps]
    as_shipped = (_chain_outcome(kit, signer, certs, ocsps), _chain_outcome(kit, signer, certs, tampered))
    assert as_shipped[0] == "valid" and as_shipped[1] != "valid"
    speedups.install()
    speedups.VALID_SIGNATURES.clear()
    for _ in range(2):  # the second time the genuine responses' signatures come from the memo
        assert (_chain_outcome(kit, signer, certs, ocsps), _chain_outcome(kit, signer, certs, tampered)) == as_shipped
    assert len(speedups.VALID_SIGNATURES) > 0


def test_a_remembered_signature_check_answers_only_its_own_bytes(docs) -> None:  # type: ignore[no-untyped-def]
    from cryptography.exceptions import InvalidSignature
    from pyhanko_certvalidator.sig_validate import DefaultSignatureValidator

    speedups.install()
    speedups.VALID_SIGNATURES.clear()
    bags = [speedups.PYHANKO_EXTRACT_CERTIFICATE_INFO(sd) for sd in _signed_data(docs.two)]
    alice, bob = (bag.signer_cert for bag in bags)
    issuer = next(c for c in bags[0].other_certs if c.subject == alice.issuer)
    assert bob.issuer == alice.issuer and alice.dump() != bob.dump()

    def check(cert, signature: bytes | None = None) -> str:  # type: ignore[no-untyped-def]
        try:
            DefaultSignatureValidator().validate_signature(
                signature if signature is not None else cert["signature_value"].native,
                cert["tbs_certificate"].dump(), issuer.public_key, cert["signature_algorithm"])
        except InvalidSignature:
            return "invalid"
        return "valid"

    genuine = alice["signature_value"].native
    for _ in range(2):
        assert check(alice) == "valid"
        assert check(bob, genuine) == "invalid"  # alice's signature on bob's certificate
        assert check(alice, genuine[:-1] + bytes([genuine[-1] ^ 1])) == "invalid"
    assert len(speedups.VALID_SIGNATURES) == 1  # failures are never remembered


def test_ess_certid_matches_as_in_pyhanko_and_the_type_is_part_of_the_key(docs) -> None:  # type: ignore[no-untyped-def]
    import hashlib

    from asn1crypto import tsp

    speedups.install()
    bags = [speedups.PYHANKO_EXTRACT_CERTIFICATE_INFO(sd) for sd in _signed_data(docs.two)]
    alice, bob = (bag.signer_cert for bag in bags)
    sha256 = hashlib.sha256(alice.dump()).digest()
    v2 = tsp.ESSCertIDv2({"cert_hash": sha256})  # hash algorithm SHA-256 by default, so not encoded
    v1 = tsp.ESSCertID({"cert_hash": sha256})  # the same DER, but a v1 hash is SHA-1
    assert v1.dump() == v2.dump()
    v1_sha1 = tsp.ESSCertID({"cert_hash": hashlib.sha1(alice.dump()).digest()})  # ESSCertID (v1) is SHA-1
    for _ in range(2):
        for cert in (alice, bob):
            for certid in (v2, v1, v1_sha1):
                assert speedups.check_ess_certid(cert, certid) == speedups.PYHANKO_CHECK_ESS_CERTID(cert, certid)
    assert speedups.check_ess_certid(alice, v2) and not speedups.check_ess_certid(alice, v1)
    assert speedups.check_ess_certid(alice, v1_sha1) and not speedups.check_ess_certid(bob, v2)


def _dss_certificates(pdf: bytes) -> dict:  # type: ignore[type-arg]
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation.dss import DocumentSecurityStore

    dss = DocumentSecurityStore.read_dss(PdfFileReader(io.BytesIO(pdf), strict=False))
    return {key.native if hasattr(key, "native") else key: ref.get_object().data for key, ref in dss.certs.items()}


def test_dss_certificates_read_as_pyhanko_reads_them_parsed_once(docs) -> None:  # type: ignore[no-untyped-def]
    as_shipped = _dss_certificates(docs.b_lt)
    assert as_shipped
    speedups.install()
    assert _dss_certificates(docs.b_lt) == _dss_certificates(docs.b_lt) == as_shipped
    der = next(iter(as_shipped.values()))
    assert speedups.DssCertificates.load(der) is speedups.DssCertificates.load(der)
    assert speedups.DssCertificates.load(der).dump() == der


@pytest.mark.parametrize("data", [b"", b"\x30\x03\x02\x01", b"not a certificate", b"\x04\x01\x00"])
def test_a_broken_dss_certificate_fails_as_in_asn1crypto(data: bytes) -> None:
    def outcome(load):  # type: ignore[no-untyped-def]
        try:
            cert = load(data)
            return ("ok", cert.issuer_serial)
        except Exception as exc:
            return ("error", type(exc).__name__, str(exc))

    speedups.install()
    for _ in range(2):
        assert outcome(speedups.DssCertificates.load) == outcome(asn1_x509.Certificate.load)
