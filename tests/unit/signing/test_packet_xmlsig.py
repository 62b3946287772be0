"""XML-DSig of edXML packets (docsign.exchange.xmlsig) with keys from every source docsign loads:
PKCS#12 (RSA), PEM, and a PKCS#11 token (SoftHSM2), verified against the session test PKI."""

from __future__ import annotations

import base64
import re

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography.hazmat.primitives import serialization
from lxml import etree

from docsign.errors import InvalidInput
from docsign.exchange import edxml, xmlsig
from docsign.pki.authority import name
from tests.unit.exchange.factories import sample_packet
from tests.unit.signing.helpers import load

DS = "{http://www.w3.org/2000/09/xmldsig#}"


def _roots(pki) -> list[asn1_x509.Certificate]:  # type: ignore[no-untyped-def]
    return [asn1_x509.Certificate.load(pki.root.public_bytes(serialization.Encoding.DER))]


@pytest.fixture(scope="module")
def packet() -> bytes:
    return edxml.build_document_packet(sample_packet())


@pytest.fixture(scope="module")
def rsa_seal(pki):  # type: ignore[no-untyped-def]
    return load(pki.store.issue_signer("packet-seal", name("UBND tỉnh Hòa Bình", "UBND tỉnh Hòa Bình"),
                                       "issuing")[2], pki)


def test_signed_packet_verifies_and_still_parses(pki, packet, rsa_seal):
    signed = xmlsig.sign_packet(packet, rsa_seal)
    result = xmlsig.verify_packet(signed, trust_roots=_roots(pki))
    assert result.present and result.valid, result.problems
    assert "UBND tỉnh Hòa Bình" in (result.signer or "")
    assert result.certificate is not None and result.certificate.dump() == rsa_seal.certificate.dump()
    # The shape QCVN 102 §1.4 describes, in the header's slot, and the packet reads as before.
    root = etree.fromstring(signed)
    header = root.find("{*}edXMLEnvelope/{*}edXMLHeader")
    signatures = list(root.iter(f"{DS}Signature"))
    assert len(signatures) == 1 and signatures[0].getparent() is header
    info = signatures[0].find(f"{DS}SignedInfo")
    assert info.find(f"{DS}SignatureMethod").get("Algorithm").endswith("rsa-sha256")
    assert info.find(f"{DS}Reference").get("URI") == ""
    assert signatures[0].find(f"{DS}KeyInfo/{DS}X509Data/{DS}X509Certificate") is not None
    assert signatures[0].get("Id") is None
    assert edxml.parse_document_packet(signed).message_header == edxml.parse_document_packet(packet).message_header


def test_unsigned_packet_has_no_signature(pki, packet):
    result = xmlsig.verify_packet(packet, trust_roots=_roots(pki))
    assert not result.present and not result.valid
    assert result.problems == ("the packet carries no XML signature",)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda s: s.replace("V/v triển khai".encode(), "V/v hủy bỏ".encode()), "changed after it was signed"),
    (lambda s: s.replace(b"UBND-VP", b"UBND-VX"), "changed after it was signed"),
    (lambda s: re.sub(rb"<SignatureValue>([A-Za-z0-9+/])", lambda m: b"<SignatureValue>" + (
        b"B" if m.group(1) == b"A" else b"A"), s), "does not verify"),
])
def test_tampered_packet_is_invalid(pki, packet, rsa_seal, change, problem):
    signed = xmlsig.sign_packet(packet, rsa_seal)
    tampered = change(signed)
    assert tampered != signed
    result = xmlsig.verify_packet(tampered, trust_roots=_roots(pki))
    assert result.present and not result.valid
    assert problem in " ".join(result.problems)


def test_reference_to_part_of_the_packet_is_refused(pki, packet, rsa_seal):
    """A signature over one element (a wrapping attack's favourite) does not authenticate the packet."""
    signed = xmlsig.sign_packet(packet, rsa_seal).replace(b'URI=""', b'URI="#trace"')
    result = xmlsig.verify_packet(signed, trust_roots=_roots(pki))
    assert not result.valid and "whole packet" in result.problems[0]


def test_signature_from_an_untrusted_ca_is_invalid(pki, packet, rsa_seal):
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    from docsign.pki.authority import new_key, utcnow

    key = new_key("rsa2048")
    stranger_root = (x509.CertificateBuilder().subject_name(name("Other root")).issuer_name(name("Other root"))
                     .public_key(key.public_key()).serial_number(x509.random_serial_number())
                     .not_valid_before(utcnow()).not_valid_after(utcnow() + dt.timedelta(days=1))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .sign(key, hashes.SHA256()))
    roots = [asn1_x509.Certificate.load(stranger_root.public_bytes(serialization.Encoding.DER))]
    signed = xmlsig.sign_packet(packet, rsa_seal)
    result = xmlsig.verify_packet(signed, trust_roots=roots)
    assert result.present and not result.valid
    assert "is not trusted" in result.problems[0]
    assert not xmlsig.verify_packet(signed).valid  # no anchors at all: never valid


def test_signing_twice_is_refused(packet, rsa_seal):
    with pytest.raises(InvalidInput, match="already signed"):
        xmlsig.sign_packet(xmlsig.sign_packet(packet, rsa_seal), rsa_seal)


def test_certificate_in_key_info_is_the_signers(pki, packet, rsa_seal):
    """Swapping in another certificate (with the same subject) breaks the signature."""
    leader = load(pki.leader, pki)
    signed = xmlsig.sign_packet(packet, rsa_seal)
    ours = base64.b64encode(rsa_seal.certificate.dump())
    theirs = base64.b64encode(leader.certificate.dump())
    swapped = re.sub(rb"<X509Certificate>[^<]+</X509Certificate>", b"<X509Certificate>" + theirs +
                     b"</X509Certificate>", signed, count=1)
    assert ours not in swapped
    result = xmlsig.verify_packet(swapped, trust_roots=_roots(pki))
    assert not result.valid and "does not verify" in " ".join(result.problems)


def test_pem_and_ec_keys_sign_packets(pki, packet):
    pem = load(f"pem:{pki.pem_key},{pki.pem_cert},{pki.pem_chain}", pki)
    ec = load(pki.seal, pki)
    for key, method in ((pem, "rsa-sha256"), (ec, "ecdsa-sha256")):
        signed = xmlsig.sign_packet(packet, key)
        assert method.encode() in signed
        result = xmlsig.verify_packet(signed, trust_roots=_roots(pki))
        assert result.valid, result.problems


def test_pkcs11_token_key_signs_packets(pki, packet, softhsm):
    """A seal on a token: signxml signs through the KeyHandle, the private key stays on the token."""
    from docsign.pki import keys

    token_key = keys.load_key(keys.parse_keyref("pkcs11:token=docsign-test;object=leader", module=softhsm.module,
                                                passphrase_env="PIN", environ={"PIN": softhsm.pin}))
    signed = xmlsig.sign_packet(packet, token_key)
    result = xmlsig.verify_packet(signed, trust_roots=_roots(pki))
    assert result.valid, result.problems
    assert result.certificate is not None and result.certificate.dump() == token_key.certificate.dump()


def test_dtd_in_a_packet_is_refused(packet, rsa_seal):
    from docsign.exchange.errors import UnsafeXml

    evil = packet.replace(b"?>", b'?><!DOCTYPE edXML [<!ENTITY x "y">]>', 1)
    with pytest.raises(UnsafeXml):
        xmlsig.verify_packet(evil)
    with pytest.raises(UnsafeXml):
        xmlsig.sign_packet(evil, rsa_seal)


def test_inspect_reports_the_packet_signature(pki, packet, rsa_seal):
    """What `docsign exchange inspect` shows: ours verifies; the VPCP SDK's sample carries the XML-DSig shape
    under edXML's namespace (and a truncated certificate), which is present but not a valid signature."""
    from pathlib import Path

    from docsign.exchange.packet_report import packet_report

    ours = packet_report(xmlsig.sign_packet(packet, rsa_seal), trust_roots=_roots(pki))["signature"]
    assert ours["present"] and ours["valid"] and ours["detail"].startswith("valid, signed by Common Name: UBND")
    assert packet_report(packet)["signature"] == {"present": False, "valid": None, "detail": "absent"}
    sample = Path(__file__).parents[2] / "data" / "edxml" / "vpcp_edoc_revocation_small.edxml"
    theirs = packet_report(sample.read_bytes())["signature"]
    assert theirs["present"] and theirs["valid"] is False and "not XML-DSig" in theirs["detail"]
    with pytest.raises(InvalidInput, match="already signed"):  # docsign never signs over another's signature
        xmlsig.sign_packet(sample.read_bytes(), rsa_seal)
