"""Key sources: PKCS#12, encrypted PEM, PKCS#11 (a real SoftHSM2 token), registered key references;
the cache; certificates that must be refused; passphrases and PINs never logged."""

from __future__ import annotations

import logging

import pytest

from docsign.errors import InvalidInput, KeyAccessError
from docsign.pki import keys
from docsign.pki.pkcs11 import parse_uri
from docsign.signing.errors import CertificateNotUsable, KeyNotFound
from docsign.signing.request import Level, Role, SignRequest
from docsign.signing.service import sign_pdf
from tests.unit.signing.helpers import PASS_ENV, assert_interop, load


def test_pkcs12_loads_once(pki):  # type: ignore[no-untyped-def]
    first, second = load(pki.leader, pki), load(pki.leader, pki)
    assert first is second
    assert first.key_algorithm == "rsa" and first.signature_size == 256
    assert len(first.chain) == 2  # issuing CA and root
    assert load(pki.seal, pki).key_algorithm == "ec"


def test_pem_encrypted(pki, pdfs, work):  # type: ignore[no-untyped-def]
    key = load(f"pem:{pki.pem_key},{pki.pem_cert},{pki.pem_chain}", pki)
    sign_pdf(pdfs.one, work / "pem.pdf", key, SignRequest(level=Level.B_LT, tsa_url=pki.tsa_url))
    assert_interop(work / "pem.pdf", pki.root, 1)


def test_wrong_passphrase_is_not_revealed(pki, caplog):  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    secret = "not-the-passphrase-4711"
    for ref in (str(pki.leader), f"pem:{pki.pem_key},{pki.pem_cert}"):
        spec = keys.parse_keyref(ref, passphrase_env="VAR", environ={"VAR": secret})
        assert secret not in repr(spec)
        with pytest.raises(KeyAccessError) as info:
            keys.load_key(spec)
        assert secret not in str(info.value) and "VAR" in str(info.value)
    assert secret not in caplog.text
    good = keys.parse_keyref(str(pki.leader), passphrase_env=PASS_ENV, environ=pki.env)
    keys.load_key(good)
    assert pki.passphrase.decode() not in caplog.text


def test_missing_things(pki, tmp_path):  # type: ignore[no-untyped-def]
    with pytest.raises(KeyNotFound):
        keys.load_key(keys.parse_keyref(str(tmp_path / "nope.p12"), passphrase_env="V", environ={"V": "x"}))
    with pytest.raises(KeyAccessError, match="UNSET_VAR"):
        keys.parse_keyref(str(pki.leader), passphrase_env="UNSET_VAR", environ={})
    with pytest.raises(InvalidInput, match="pem:KEY"):
        keys.parse_keyref("pem:onlyone.pem")
    with pytest.raises(InvalidInput, match="--module"):
        keys.parse_keyref("pkcs11:token=t;object=o", environ={})


def test_key_not_matching_certificate(pki):  # type: ignore[no-untyped-def]
    with pytest.raises(CertificateNotUsable, match="does not match"):
        load(f"pem:{pki.pem_key},{pki.stranger_cert}", pki)


@pytest.mark.parametrize("which, message", [
    ("expired", "expired"), ("future", "not valid before"), ("no_ku", "not for signing"),
])
def test_unusable_certificates(pki, which, message):  # type: ignore[no-untyped-def]
    with pytest.raises(CertificateNotUsable, match=message):
        load(getattr(pki, which), pki)


def test_revoked_certificate_refused_at_b_lt(pki, pdfs, work):  # type: ignore[no-untyped-def]
    key = load(pki.revoked, pki)
    with pytest.raises(CertificateNotUsable, match="revoked"):
        sign_pdf(pdfs.one, work / "r.pdf", key, SignRequest(level=Level.B_LT, tsa_url=pki.tsa_url))
    assert not list(work.iterdir())


def test_pkcs11_uri_parsing():  # type: ignore[no-untyped-def]
    uri = parse_uri("pkcs11:token=My%20Token;object=seal;id=%01%02?module-path=/usr/lib/x.so&pin-value=1")
    assert (uri.token, uri.object, uri.id, uri.module_path, uri.pin_value) == ("My Token", "seal", b"\x01\x02",
                                                                                 "/usr/lib/x.so", "1")
    assert "pin" not in uri.describe()
    with pytest.raises(InvalidInput):
        parse_uri("pkcs11:tokn=x;object=y")
    with pytest.raises(InvalidInput):
        parse_uri("pkcs11:token=x")


@pytest.mark.parametrize("label, role", [("leader", Role.APPROVE), ("seal", Role.COPY)])
def test_pkcs11_softhsm(pki, pdfs, work, softhsm, label, role):  # type: ignore[no-untyped-def]
    spec = keys.parse_keyref(f"pkcs11:token=docsign-test;object={label}", module=softhsm.module,
                             passphrase_env="PIN", environ={"PIN": softhsm.pin})
    key = keys.load_key(spec)
    assert key is keys.load_key(spec)
    out = work / "token.pdf"
    sign_pdf(pdfs.one, out, key, SignRequest(role=role, level=Level.B_T, tsa_url=pki.tsa_url, position="Giám đốc"))
    assert_interop(out, pki.root, 1)


def test_pkcs11_wrong_pin_and_object(softhsm, caplog):  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    wrong = keys.parse_keyref("pkcs11:token=docsign-test;object=leader", module=softhsm.module,
                              passphrase_env="PIN", environ={"PIN": "0000"})
    with pytest.raises(KeyAccessError, match="PIN") as info:
        keys.load_key(wrong)
    assert "0000" not in str(info.value) and "0000" not in caplog.text
    missing = keys.parse_keyref("pkcs11:token=docsign-test;object=nobody", module=softhsm.module,
                                passphrase_env="PIN", environ={"PIN": softhsm.pin})
    with pytest.raises(KeyNotFound):
        keys.load_key(missing)
    no_token = keys.parse_keyref("pkcs11:token=absent;object=leader", module=softhsm.module,
                                 passphrase_env="PIN", environ={"PIN": softhsm.pin})
    with pytest.raises(KeyNotFound, match="token"):
        keys.load_key(no_token)


def test_registered_key_refs(pki, session, settings, softhsm):  # type: ignore[no-untyped-def]
    models = pytest.importorskip("docsign.models")
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.orm import configure_mappers

    try:
        configure_mappers()
    except SQLAlchemyError as exc:  # the models are another engineer's work in progress
        pytest.skip(f"docsign.models do not configure yet: {str(exc).splitlines()[0][:120]}")
    from cryptography.hazmat.primitives.serialization import pkcs12

    cert_der = pkcs12.load_key_and_certificates(pki.seal.read_bytes(), pki.passphrase)[1].public_bytes(
        __import__("cryptography.hazmat.primitives.serialization", fromlist=["Encoding"]).Encoding.DER)
    agency = models.Agency(code="000.00.00.H41", name="UBND tỉnh Hòa Bình")
    session.add(agency)
    session.flush()
    user = models.User(login="an", full_name="Nguyễn Văn An", position="Chủ tịch", agency_id=agency.id,
                       role=next(iter(models.Role)), password_hash="x")
    session.add(user)
    session.flush()
    session.add(models.KeyRef(agency_id=agency.id, kind=models.KeyKind.SEAL, source=models.KeySource.PKCS11,
                              location="pkcs11:token=docsign-test;object=seal", pkcs11_module=softhsm.module,
                              passphrase_env="SEAL_PIN", certificate_der=cert_der, label="seal"))
    session.add(models.KeyRef(user_id=user.id, kind=models.KeyKind.PERSONAL, source=models.KeySource.PKCS12,
                              location=str(pki.leader), passphrase_env=PASS_ENV, certificate_der=b"", label="an"))
    session.flush()
    seal = keys.key_spec_for(session, "agency:000.00.00.H41", settings, environ={"SEAL_PIN": softhsm.pin})
    assert seal.source == "pkcs11" and seal.module == softhsm.module and seal.label == "agency:000.00.00.H41"
    assert keys.load_key(seal).key_algorithm == "ec"
    personal = keys.key_spec_for(session, "user:an", settings, environ=pki.env)
    assert personal.source == "pkcs12" and keys.load_key(personal).key_algorithm == "rsa"
    with pytest.raises(KeyNotFound):
        keys.key_spec_for(session, "user:nobody", settings, environ={})
    with pytest.raises(KeyAccessError, match="SEAL_PIN"):
        keys.key_spec_for(session, "agency:000.00.00.H41", settings, environ={})
