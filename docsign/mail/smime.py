"""S/MIME signing (RFC 8551): the message is built with the standard library's ``email`` package and
signed with ``cryptography``'s PKCS#7 builder (detached, SMIMECapabilities included), then wrapped in
a ``multipart/signed`` part. The signed part's bytes are generated once and must reappear verbatim in
the final message, which is checked before anything is sent.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from email.message import MIMEPart
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID

from docsign.errors import DocsignError
from docsign.pki.keys import KeyHandle
from docsign.signing.errors import CertificateNotUsable

VN_TZ = dt.timezone(dt.timedelta(hours=7), "+07:00")


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes
    maintype: str = "application"
    subtype: str = "pdf"


def email_certificate(handle: KeyHandle) -> tuple[x509.Certificate, list[str]]:
    """The key's certificate and the addresses it names, when it may sign e-mail; otherwise one clear error."""
    cert = x509.load_der_x509_certificate(handle.certificate.dump())
    who = f"the certificate of {handle.spec_description} ({cert.subject.rfc4514_string()})"
    try:
        usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        usages = None
    if usages is None or ExtendedKeyUsageOID.EMAIL_PROTECTION not in usages:
        raise CertificateNotUsable(f"{who} is not for e-mail (no e-mail protection extended key usage): "
                                   "ask the CA for a seal certificate that allows it")
    if handle.private_key is None:
        raise CertificateNotUsable(
            f"{handle.spec_description} is on a PKCS#11 token: S/MIME is signed with cryptography's PKCS#7 "
            "builder, which needs the key in memory, so e-mail needs a PKCS#12 or PEM seal")
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        addresses = names.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        addresses = []
    return cert, addresses


def signed_message(handle: KeyHandle, *, sender_name: str, sender: str, recipients: list[str], subject: str,
                   body: str, attachment: Attachment | None = None, message_id: str | None = None,
                   when: dt.datetime | None = None) -> bytes:
    """The whole message, ready for SMTP (CRLF line ends), signed by ``handle``'s certificate."""
    cert, _ = email_certificate(handle)
    content = MIMEPart(policy=SMTP)
    content.set_content(body, cte="quoted-printable")  # 7-bit safe: Vietnamese text survives any relay
    if attachment is not None:
        content.add_attachment(attachment.data, maintype=attachment.maintype, subtype=attachment.subtype,
                               filename=attachment.filename)
    signed_part = content.as_bytes(policy=SMTP)

    builder = pkcs7.PKCS7SignatureBuilder().set_data(signed_part).add_signer(
        cert, handle.private_key, hashes.SHA256())
    for ca in handle.chain:  # the intermediate CAs, so a reader with only the root can build the path
        builder = builder.add_certificate(x509.load_der_x509_certificate(ca.dump()))
    signature = builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])

    message = MIMEMultipart("signed", policy=SMTP, protocol="application/pkcs7-signature", micalg="sha-256")
    message["From"] = formataddr((sender_name, sender))
    message["To"] = ", ".join(recipients)
    message["Subject"] = subject
    message["Date"] = format_datetime((when or dt.datetime.now(dt.UTC)).astimezone(VN_TZ))
    message["Message-ID"] = message_id or make_msgid(domain=sender.rpartition("@")[2])
    message.attach(content)
    signature_part = MIMEApplication(signature, "pkcs7-signature", policy=SMTP, name="smime.p7s")
    signature_part.add_header("Content-Disposition", "attachment", filename="smime.p7s")
    message.attach(signature_part)
    data = message.as_bytes(policy=SMTP)
    if signed_part not in data:  # a generator that re-folded the signed part would break the signature
        raise DocsignError("the signed part of the e-mail changed while the message was assembled")
    return data
