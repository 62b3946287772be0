"""Signed e-mail end to end: a real SMTP server in this process (aiosmtpd) receives the message and
`openssl smime -verify` (a real subprocess) checks its signature against the demo root only."""

from __future__ import annotations

import dataclasses
import email
import subprocess
from email.policy import default as default_policy
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from sqlalchemy import func, select

from docsign.db import session_scope
from docsign.mail import service as mail
from docsign.mail import smime
from docsign.models import (
    Agency,
    Document,
    DocumentOrigin,
    DocumentRevision,
    KeyKind,
    KeyRef,
    KeySource,
    MailMessage,
    OutboxMessage,
)
from docsign.pki.demo import demo_dir, load_demo_pki
from docsign.signing.errors import CertificateNotUsable
from docsign.storage import BlobStore
from tests.conftest import run_cli
from tests.support.documents import load_registered_key, sealed_pdf
from tests.support.pki_server import free_port
from tests.support.smtp import smtp_server

pytestmark = pytest.mark.embedded_only
PROVINCE = "000.00.00.H30"


def openssl_verify(message: bytes, root: Path, work: Path) -> subprocess.CompletedProcess[str]:
    (work / "received.eml").write_bytes(message)
    return subprocess.run(["openssl", "smime", "-verify", "-in", str(work / "received.eml"), "-CAfile", str(root),
                           "-out", str(work / "content.txt")], capture_output=True, text=True, timeout=30)


def _issued_document(settings, pdf: bytes) -> int:  # type: ignore[no-untyped-def]
    with session_scope(settings.database_url) as s:
        agency = s.scalar(select(Agency).where(Agency.code == PROVINCE))
        key = BlobStore(settings.blob_dir).put_bytes(pdf).key
        document = Document(agency=agency, origin=DocumentOrigin.DRAFTED, title="Về việc cấp phép xây dựng",
                            document_type="Công văn", code_number="05", code_notation="UBND-VP")
        document.revisions.append(DocumentRevision(number=1, sha256=key, size=len(pdf), action="issue"))
        s.add(document)
        s.flush()
        return document.id


def _register_pem_seal(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The province's seal again, as PEM files (key encrypted), registered as its newest seal key."""
    p12 = demo_dir(settings) / f"seal-{PROVINCE}.p12"
    key, cert, chain = pkcs12.load_key_and_certificates(p12.read_bytes(), settings.keystore_passphrase)
    folder = tmp_path / "pem-seal"
    folder.mkdir()
    (folder / "seal.key.pem").write_bytes(key.private_bytes(  # type: ignore[union-attr]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(settings.keystore_passphrase)))
    (folder / "seal.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))  # type: ignore[union-attr]
    (folder / "chain.pem").write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    with session_scope(settings.database_url) as s:
        agency = s.scalar(select(Agency).where(Agency.code == PROVINCE))
        s.add(KeyRef(agency=agency, kind=KeyKind.SEAL, source=KeySource.PEM, label="PEM seal",
                     location=f"{folder / 'seal.key.pem'},{folder / 'seal.crt'},{folder / 'chain.pem'}",
                     certificate_der=cert.public_bytes(serialization.Encoding.DER)))  # type: ignore[union-attr]


@pytest.mark.parametrize("seal_format", ["pkcs12", "pem"])
def test_an_issued_pdf_mailed_to_a_unit_on_no_exchange_arrives_signed_and_verifies(demo, tmp_path, seal_format):
    port = free_port()
    settings = dataclasses.replace(demo, smtp_url=f"smtp://127.0.0.1:{port}")
    pdf = sealed_pdf(settings, PROVINCE, tmp_path / "docs", seal_only=True).read_bytes()
    document_id = _issued_document(settings, pdf)
    if seal_format == "pem":
        _register_pem_seal(settings, tmp_path)
    with session_scope(settings.database_url) as s:
        row = mail.mail_document(s, settings, s.get(Document, document_id), ["phongtiepdan@xaphu.example.org"],
                                 actor="user:tinh.vanthu")
        mail_id = row.id
        assert s.scalar(select(OutboxMessage.payload).where(OutboxMessage.task_name == mail.MAIL_TASK)) == {
            "mail_id": mail_id}
    with smtp_server(port) as mailbox:
        with session_scope(settings.database_url) as s:
            assert mail.deliver(s, settings, mail_id) is True
        with session_scope(settings.database_url) as s:  # a redelivered task sends nothing twice
            assert mail.deliver(s, settings, mail_id) is False
    [received] = mailbox.snapshot()
    assert received.rcpt_tos == ["phongtiepdan@xaphu.example.org"]
    assert received.mail_from == "vanthu.tinh@docsign-demo.example.org"  # the address the seal names

    root = demo_dir(settings) / "root.crt"
    result = openssl_verify(received.data, root, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Verification successful" in result.stderr
    parsed = email.message_from_bytes(received.data, policy=default_policy)
    assert parsed.get_content_type() == "multipart/signed"
    assert parsed["From"].addresses[0].addr_spec == "vanthu.tinh@docsign-demo.example.org"
    signed, signature = parsed.get_payload()
    assert signature.get_content_type() == "application/pkcs7-signature"
    from asn1crypto import cms

    signer_info = cms.ContentInfo.load(signature.get_content())["content"]["signer_infos"][0]
    attributes = {a["type"].native for a in signer_info["signed_attrs"]}
    assert {"content_type", "message_digest", "signing_time", "smime_capabilities"} <= attributes
    [attachment] = list(signed.iter_attachments())
    assert attachment.get_filename() == "05-UBND-VP.pdf"
    assert attachment.get_content() == pdf  # the very PDF, byte for byte

    # The signature covers the content: one changed letter and openssl refuses it.
    tampered = received.data.replace(b"Content-Disposition: attachment", b"Content-Disposition: attachmenT", 1)
    assert tampered != received.data
    bad = openssl_verify(tampered, root, tmp_path)
    assert bad.returncode != 0 and "Verification failure" in bad.stderr + bad.stdout, bad.stderr


def test_a_seal_without_the_email_protection_usage_is_refused_with_one_line_and_nothing_queued(demo, tmp_path):
    settings = dataclasses.replace(demo, smtp_url="smtp://127.0.0.1:1")
    store = load_demo_pki(settings)
    from docsign.pki.authority import name

    # A seal issued the old way: signing usages, no e-mail protection, no address.
    cert, _key, path = store.issue_signer("seal-no-email", name("UBND tỉnh Hòa Bình", "UBND tỉnh Hòa Bình"),
                                          "issuing")
    store.save()
    with session_scope(settings.database_url) as s:
        agency = s.scalar(select(Agency).where(Agency.code == PROVINCE))
        s.add(KeyRef(agency=agency, kind=KeyKind.SEAL, source=KeySource.PKCS12, location=str(path), label="old seal",
                     certificate_der=cert.public_bytes(serialization.Encoding.DER)))
    handle = load_registered_key(settings, f"agency:{PROVINCE}")
    with pytest.raises(CertificateNotUsable, match="not for e-mail"):
        smime.email_certificate(handle)
    pdf = sealed_pdf(demo, PROVINCE, tmp_path / "docs", seal_only=True).read_bytes()
    document_id = _issued_document(settings, pdf)
    env = _env(settings)
    result = run_cli("mail", "send", str(document_id), "--to", "someone@xaphu.example.org", env=env)
    assert result.returncode == 77, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "is not for e-mail (no e-mail protection extended key usage)" in line
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(func.count(MailMessage.id))) == 0
        assert s.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.task_name == mail.MAIL_TASK)) == 0


def _env(settings) -> dict[str, str]:  # type: ignore[no-untyped-def]
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSIGN_")}
    env.update({"DOCSIGN_DATA_DIR": str(settings.data_dir), "DOCSIGN_KEYS_DIR": str(settings.keys_dir),
                "DOCSIGN_DATABASE_URL": settings.database_url, "DOCSIGN_BROKER_URL": settings.broker_url})
    if settings.smtp_url:
        env["DOCSIGN_SMTP_URL"] = settings.smtp_url
    return env


def test_addresses_that_are_not_email_are_refused_with_one_line_and_change_nothing(demo, tmp_path):
    settings = dataclasses.replace(demo, smtp_url="smtp://127.0.0.1:1")
    env = _env(settings)
    pdf = sealed_pdf(demo, PROVINCE, tmp_path / "docs", seal_only=True).read_bytes()
    document_id = _issued_document(settings, pdf)
    for argv in (("agency", "set-email", PROVINCE, "van thu@tinh"),
                 ("user", "set-email", "tinh.vanthu", "vanthu.at.tinh"),
                 ("mail", "send", str(document_id), "--to", "ok@xaphu.example.org,not-an-address")):
        result = run_cli(*argv, env=env)
        assert result.returncode == 65, (argv, result.stderr)
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("error: ") and "is not an e-mail address" in line, line
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(Agency.email).where(Agency.code == PROVINCE)) == "vanthu.tinh@docsign-demo.example.org"
        assert s.scalar(select(func.count(MailMessage.id))) == 0
    bad_url = run_cli("mail", "list", env={**env, "DOCSIGN_SMTP_URL": "http://user:s3cret@mail.example.org"})
    assert bad_url.returncode == 78 and "s3cret" not in bad_url.stderr, bad_url.stderr
    # And the good ones are taken, normalised.
    ok = run_cli("agency", "set-email", PROVINCE, "VanThu@Tinh.Example.org", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "VanThu@tinh.example.org" in ok.stdout


def test_a_clerk_mails_an_issued_pdf_from_its_page_and_only_a_clerk_of_that_agency_can(demo, tmp_path):
    from docsign.web.app import create_app
    from tests.web.test_documents import Browser, _flash

    port = free_port()
    settings = dataclasses.replace(demo, smtp_url=f"smtp://127.0.0.1:{port}")
    document_id = _issued_document(settings, sealed_pdf(demo, PROVINCE, tmp_path / "docs", seal_only=True)
                                   .read_bytes())
    app = create_app(settings, {"TESTING": True})
    clerk = Browser(app, "tinh.vanthu")
    page = clerk.text(f"/documents/{document_id}")
    assert f'action="/documents/{document_id}/mail"' in page and "Gửi qua thư điện tử có ký số" in page
    refused = clerk.follow(clerk.post(f"/documents/{document_id}/mail", {"to": "tiepdan@@xaphu"}))
    assert "is not an e-mail address" in _flash(refused)
    with session_scope(settings.database_url) as s:
        assert s.scalar(select(func.count(MailMessage.id))) == 0
    queued = clerk.follow(clerk.post(f"/documents/{document_id}/mail",
                                     {"to": "tiepdan@xaphu.example.org", "note": "Kính gửi Bộ phận một cửa"}))
    assert "tiepdan@xaphu.example.org" in _flash(queued)
    officer = Browser(app, "tinh.chuyenvien")
    assert f'/documents/{document_id}/mail"' not in officer.text(f"/documents/{document_id}")
    assert "not by a officer" in _flash(officer.follow(officer.post(f"/documents/{document_id}/mail",
                                                                    {"to": "x@xaphu.example.org"})))
    other_agency = Browser(app, "lacson.vanthu")
    assert other_agency.post(f"/documents/{document_id}/mail", {"to": "x@xaphu.example.org"}).status_code == 404
    with smtp_server(port) as mailbox, session_scope(settings.database_url) as s:
        [row] = s.scalars(select(MailMessage)).all()
        assert (row.kind, row.recipients, row.actor) == ("document", "tiepdan@xaphu.example.org", "user:tinh.vanthu")
        assert mail.deliver(s, settings, row.id)
    [received] = mailbox.snapshot()
    result = openssl_verify(received.data, demo_dir(settings) / "root.crt", tmp_path)
    assert result.returncode == 0, result.stderr
    signed = email.message_from_bytes(received.data, policy=default_policy).get_payload()[0]
    assert "Kính gửi Bộ phận một cửa" in signed.get_body(("plain",)).get_content()
