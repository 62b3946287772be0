"""The library speedups give exactly what the libraries give: value, stream position and errors."""

from __future__ import annotations

import io

import pytest
from asn1crypto import x509 as asn1_x509
from hypothesis import given, settings
from hypothesis import strategies as st
from pyhanko.pdf_utils import generic

from docsign.verification import speedups

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


@pytest.mark.parametrize("value", ["Nguyễn Văn A", "  UBND   tỉnh  Hòa Bình ", "Ｆｕｌｌwidth", "a\u00adb", "x" * 300])
def test_string_prep_is_memoised_and_equal(value: str) -> None:
    speedups.install()
    expected = speedups.ASN1CRYPTO_STRING_PREP(None, value)
    assert speedups.ldap_string_prep(None, value) == expected
    assert speedups.ldap_string_prep(None, value) == expected  # from the memo


def test_string_prep_still_rejects_what_asn1crypto_rejects() -> None:
    speedups.install()
    for _ in range(2):  # an error is never memoised as a value
        with pytest.raises(ValueError):
            speedups.ldap_string_prep(None, "private use \ue000")


def test_names_still_compare_per_rfc_5280() -> None:
    speedups.install()
    a = asn1_x509.Name.build({"common_name": "Nguyễn  Văn A", "organization_name": "UBND"})
    b = asn1_x509.Name.build({"common_name": "nguyễn văn a", "organization_name": "ubnd"})
    c = asn1_x509.Name.build({"common_name": "Nguyễn Văn B", "organization_name": "UBND"})
    assert a == b and a != c and a.hashable == b.hashable


NAME_PARTS = st.fixed_dictionaries({}, optional={
    "common_name": st.sampled_from(["Nguyễn Văn A", "nguyễn  văn a", "NGUYỄN VĂN A", "Trần Thị B", " x "]),
    "organization_name": st.sampled_from(["UBND tỉnh Hòa Bình", "ubnd  tỉnh hòa bình", "Sở TT&TT"]),
    "country_name": st.sampled_from(["VN", "vn"]),
    "locality_name": st.sampled_from(["Hòa Bình", "Lạc Sơn"]),
})


def reference_eq(first: asn1_x509.Name, second: object) -> object:
    try:
        return speedups.ASN1CRYPTO_NAME_EQ(first, second)
    except Exception as exc:
        return type(exc).__name__


@settings(max_examples=300, deadline=None)
@given(NAME_PARTS, NAME_PARTS)
def test_names_compare_and_hash_like_asn1crypto(first: dict[str, str], second: dict[str, str]) -> None:
    speedups.install()
    # parsed from DER (as in a certificate) and freshly built: both kinds of Name object
    a, b = asn1_x509.Name.load(asn1_x509.Name.build(first).dump()), asn1_x509.Name.build(second)
    assert (a == b) == reference_eq(a, b) and (a != b) == (not reference_eq(a, b))
    assert a.hashable == speedups.ASN1CRYPTO_NAME_HASHABLE(a) and b.hashable == speedups.ASN1CRYPTO_NAME_HASHABLE(b)


def test_a_changed_name_is_compared_as_it_is_now() -> None:
    speedups.install()
    a = asn1_x509.Name.build({"common_name": "Nguyễn Văn A"})
    b = asn1_x509.Name.build({"common_name": "Nguyễn Văn A"})
    assert a == b
    b.chosen[0][0]["value"] = asn1_x509.DirectoryString(name="utf8_string", value="Trần Thị B")
    assert a != b and b.hashable == speedups.ASN1CRYPTO_NAME_HASHABLE(b) and "trần" in b.hashable


def test_names_read_from_ber_compare_like_asn1crypto() -> None:
    speedups.install()
    der = asn1_x509.Name.build({"common_name": "Nguyễn Văn A"}).dump()
    rdn = der[2:]  # the one RDN, a SET with a short length
    indefinite = b"\x31\x80" + rdn[2:] + b"\x00\x00"
    ber = asn1_x509.Name.load(bytes([0x30, len(indefinite)]) + indefinite)
    parsed = asn1_x509.Name.load(der)
    assert (ber == parsed) is reference_eq(ber, parsed) is True
    assert ber.hashable == speedups.ASN1CRYPTO_NAME_HASHABLE(ber) == parsed.hashable


def test_a_name_inside_a_general_name_compares_like_asn1crypto() -> None:
    speedups.install()
    name = asn1_x509.Name.build({"common_name": "Nguyễn Văn A", "organization_name": "UBND"})
    general = asn1_x509.GeneralNames.load(asn1_x509.GeneralNames([asn1_x509.GeneralName(
        name="directory_name", value=name)]).dump())[0].chosen  # explicitly tagged [4], as in an ESS IssuerSerial
    other = asn1_x509.Name.build({"common_name": "nguyễn văn a", "organization_name": "ubnd"})
    assert general.dump() != name.dump()
    assert (general == name) is reference_eq(general, name) is True and (general == other) is True
    assert general.hashable == speedups.ASN1CRYPTO_NAME_HASHABLE(general) == other.hashable


def test_a_name_is_never_equal_to_something_else() -> None:
    speedups.install()
    assert asn1_x509.Name.build({"common_name": "A"}) != "A"


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


def test_uninstall_puts_every_library_function_back() -> None:
    from pyhanko.sign import general
    from pyhanko.sign.validation import generic_cms

    speedups.install()
    try:
        speedups.uninstall()
        assert generic.read_hex_string_from_stream is speedups.PYHANKO_READ_HEX_STRING
        assert generic.ArrayObject.read_from_stream is speedups.PYHANKO_READ_ARRAY
        assert asn1_x509.NameTypeAndValue._ldap_string_prep is speedups.ASN1CRYPTO_STRING_PREP
        assert asn1_x509.Name.__eq__ is speedups.ASN1CRYPTO_NAME_EQ
        assert asn1_x509.Name.hashable.fget is speedups.ASN1CRYPTO_NAME_HASHABLE
        assert general.extract_certificate_info is generic_cms.extract_certificate_info \
            is speedups.PYHANKO_EXTRACT_CERTIFICATE_INFO
    finally:
        speedups.install()
    assert asn1_x509.Name.__eq__ is speedups.name_eq
