"""Fixtures for the signing engine: keys issued by the session test PKI (served over HTTP), odd
certificates, a SoftHSM2 token, sample PDFs, and checkers that run pdfsig, qpdf and pyHanko."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from docsign.pki.authority import Profile, build_certificate, name, new_key, utcnow
from tests.unit.signing.helpers import PASS_ENV, need_tool
from tests.unit.signing.pdfgen import make_pdf

PIN = "5678"
SO_PIN = "1234"
SOFTHSM_LIBS = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
                "/usr/local/lib/softhsm/libsofthsm2.so"]


@pytest.fixture(scope="session")
def pki(test_pki, tmp_path_factory):  # type: ignore[no-untyped-def]
    """Keys for the signing tests: good RSA and ECDSA signers, and certificates that must be refused."""
    store = test_pki.store
    out = tmp_path_factory.mktemp("signing-keys")
    passphrase = store.passphrase
    issuing = store.authorities["issuing"]
    leader = store.issue_signer("leader", name("Nguyễn Văn An", "UBND tỉnh Hòa Bình"), "issuing")[2]
    seal = store.issue_signer("seal", name("UBND tỉnh Hòa Bình", "UBND tỉnh Hòa Bình"), "issuing",
                              algorithm="p256")[2]
    expired = store.issue_signer("expired", name("Expired"), "issuing",
                                 not_before=utcnow() - dt.timedelta(days=30), validity=dt.timedelta(days=1))[2]
    future = store.issue_signer("future", name("Future"), "issuing",
                                not_before=utcnow() + dt.timedelta(days=30))[2]
    no_ku = _encryption_only_p12(store, out / "noku.p12")
    revoked_cert, _, revoked = store.issue_signer("revoked", name("Revoked"), "issuing")
    store.save()
    store.revoke("issuing", revoked_cert.serial_number)

    # encrypted PEM key + certificate (+ chain), and a certificate that belongs to another key
    key, cert, chain = pkcs12.load_key_and_certificates(leader.read_bytes(), passphrase)
    assert key is not None and cert is not None
    pem_key = out / "leader.key.pem"
    pem_key.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.BestAvailableEncryption(passphrase)))
    pem_cert = out / "leader.crt"
    pem_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem_chain = out / "chain.pem"
    pem_chain.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    other = new_key("rsa2048")
    stranger = build_certificate(name("Stranger"), other.public_key(), Profile.SIGNER, issuer_cert=issuing.cert,
                                 issuer_key=issuing.key, not_before=utcnow() - dt.timedelta(hours=1),
                                 not_after=utcnow() + dt.timedelta(days=30))
    stranger_cert = out / "stranger.crt"
    stranger_cert.write_bytes(stranger.public_bytes(serialization.Encoding.PEM))
    root_pem = out / "root.crt"
    root_pem.write_bytes(store.authorities["root"].cert.public_bytes(serialization.Encoding.PEM))
    return SimpleNamespace(
        store=store, tsa_url=test_pki.tsa_url, url=test_pki.url, passphrase=passphrase,
        env={PASS_ENV: passphrase.decode()},
        leader=leader, seal=seal, expired=expired, future=future, no_ku=no_ku, revoked=revoked,
        pem_key=pem_key, pem_cert=pem_cert, pem_chain=pem_chain, stranger_cert=stranger_cert, root_pem=root_pem,
        root=store.authorities["root"].cert,
    )


def _encryption_only_p12(store, path: Path) -> Path:  # type: ignore[no-untyped-def]
    """A certificate for key encipherment only (no digitalSignature, no nonRepudiation)."""
    issuing = store.authorities["issuing"]
    key = new_key("rsa2048")
    start = utcnow() - dt.timedelta(hours=1)
    cert = (x509.CertificateBuilder().subject_name(name("Encryption only")).issuer_name(issuing.cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(start + dt.timedelta(days=30))
            .add_extension(x509.KeyUsage(False, False, True, False, False, False, False, False, False), critical=True)
            .sign(issuing.key, hashes.SHA256()))
    path.write_bytes(pkcs12.serialize_key_and_certificates(
        b"noku", key, cert, [issuing.cert], serialization.BestAvailableEncryption(store.passphrase)))
    return path


@pytest.fixture
def pass_env(pki, monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(PASS_ENV, pki.passphrase.decode())
    return PASS_ENV


@pytest.fixture(scope="session")
def softhsm(pki, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A SoftHSM2 token "docsign-test" holding the leader (RSA, label "leader") and seal (EC, "seal") keys."""
    util = need_tool("softhsm2-util")
    module = next((lib for lib in SOFTHSM_LIBS if Path(lib).exists()), None)
    if module is None:
        pytest.skip("libsofthsm2.so not found (apt-get install softhsm2)")
    base = tmp_path_factory.mktemp("softhsm")
    (base / "tokens").mkdir()
    conf = base / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {base / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)  # read by the module when it is first loaded in this process
    env = {**os.environ, "SOFTHSM2_CONF": str(conf)}
    subprocess.run([util, "--init-token", "--free", "--label", "docsign-test", "--so-pin", SO_PIN, "--pin", PIN],
                   check=True, env=env, capture_output=True)
    import pkcs11
    from pkcs11 import Attribute, CertificateType, ObjectClass

    for label, p12, key_id in (("leader", pki.leader, b"\x01"), ("seal", pki.seal, b"\x02")):
        key, cert, _ = pkcs12.load_key_and_certificates(p12.read_bytes(), pki.passphrase)
        assert key is not None and cert is not None
        pem = base / f"{label}.pem"
        pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
        subprocess.run([util, "--import", str(pem), "--token", "docsign-test", "--label", label,
                        "--id", key_id.hex(), "--pin", PIN], check=True, env=env, capture_output=True)
        pem.unlink()
        lib = pkcs11.lib(module)
        token = lib.get_token(token_label="docsign-test")
        with token.open(rw=True, user_pin=PIN) as session:
            session.create_object({
                Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                Attribute.TOKEN: True, Attribute.LABEL: label, Attribute.ID: key_id,
                Attribute.VALUE: cert.public_bytes(serialization.Encoding.DER),
                Attribute.SUBJECT: cert.subject.public_bytes(),
            })
    return SimpleNamespace(module=module, pin=PIN, conf=conf)


@pytest.fixture(scope="session")
def pdfs(tmp_path_factory):  # type: ignore[no-untyped-def]
    base = tmp_path_factory.mktemp("pdfs")
    return SimpleNamespace(
        one=make_pdf(base / "one.pdf", 1),
        three=make_pdf(base / "three.pdf", 3),
        fields=make_pdf(base / "fields.pdf", 1, sig_fields=("Leader", "Seal")),
    )


@pytest.fixture
def work(tmp_path):  # type: ignore[no-untyped-def]
    """A fresh folder per test; tests assert that failures leave nothing behind in it."""
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


