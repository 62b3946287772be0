"""A small certificate authority kept in a directory: issues certificates, revokes them, and answers
CRL, OCSP and RFC 3161 timestamp requests.

It backs the demo PKI that `docsign init --demo` creates (served by the web app under ``/pki``) and
the test PKIs the test suite builds, so both exercise the same code over real HTTP. It is a
development authority: a real deployment trusts the government CA and its own TSA/OCSP services.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from docsign.errors import InvalidInput, KeyAccessError, NotFound, StorageError

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
INDEX_FILE = "pki.json"
CRL_VALIDITY = dt.timedelta(days=7)
OCSP_VALIDITY = dt.timedelta(hours=12)
OCSP_NOCHECK = x509.ObjectIdentifier("1.3.6.1.5.5.7.48.1.5")


class Profile(StrEnum):
    ROOT_CA = "root_ca"
    ISSUING_CA = "issuing_ca"
    SIGNER = "signer"
    """Document signing: digitalSignature + nonRepudiation, as the government CA issues them."""
    TSA = "tsa"
    OCSP = "ocsp"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def new_key(algorithm: str = "rsa2048") -> PrivateKey:
    if algorithm == "rsa2048":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "rsa3072":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    if algorithm == "p256":
        return ec.generate_private_key(ec.SECP256R1())
    raise InvalidInput(f"unknown key algorithm {algorithm!r} (rsa2048, rsa3072, p256)")


def name(common_name: str, organization: str | None = None, unit: str | None = None,
         locality: str | None = None, country: str = "VN") -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, country)]
    if locality:
        attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, locality))
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    if unit:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


@dataclass(frozen=True)
class IssuerUrls:
    """Where relying parties fetch the issuer's certificate, CRL and OCSP answers."""

    ca_issuers: str | None = None
    crl: str | None = None
    ocsp: str | None = None


def build_certificate(
    subject: x509.Name,
    public_key: Any,
    profile: Profile,
    *,
    issuer_cert: x509.Certificate | None,
    issuer_key: PrivateKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    urls: IssuerUrls | None = None,
    serial: int | None = None,
    email: str | None = None,
) -> x509.Certificate:
    """``email``: an end entity's mailbox, as an rfc822Name with the e-mail protection usage (S/MIME)."""
    issuer_name = issuer_cert.subject if issuer_cert is not None else subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial or x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer_cert.public_key() if issuer_cert is not None else public_key  # type: ignore[arg-type]
            ),
            critical=False,
        )
    )
    is_ca = profile in (Profile.ROOT_CA, Profile.ISSUING_CA)
    builder = builder.add_extension(
        x509.BasicConstraints(ca=is_ca, path_length=None if profile is Profile.ROOT_CA else (0 if is_ca else None)),
        critical=True,
    )
    builder = builder.add_extension(_key_usage(profile), critical=True)
    eku = {
        Profile.TSA: [ExtendedKeyUsageOID.TIME_STAMPING],
        Profile.OCSP: [ExtendedKeyUsageOID.OCSP_SIGNING],
    }.get(profile)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(eku), critical=True)
    if email is not None and profile is Profile.SIGNER:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        # Not critical: PDF validators that know no EKU for document signing still accept the seal.
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]),
                                        critical=False)
    if profile is Profile.OCSP:
        builder = builder.add_extension(x509.UnrecognizedExtension(OCSP_NOCHECK, b"\x05\x00"), critical=False)
    if urls is not None and issuer_cert is not None:
        access = []
        if urls.ocsp and profile is not Profile.OCSP:
            access.append(x509.AccessDescription(x509.AuthorityInformationAccessOID.OCSP,
                                                 x509.UniformResourceIdentifier(urls.ocsp)))
        if urls.ca_issuers:
            access.append(x509.AccessDescription(x509.AuthorityInformationAccessOID.CA_ISSUERS,
                                                 x509.UniformResourceIdentifier(urls.ca_issuers)))
        if access:
            builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
        if urls.crl:
            point = x509.DistributionPoint([x509.UniformResourceIdentifier(urls.crl)], None, None, None)
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _key_usage(profile: Profile) -> x509.KeyUsage:
    ca = profile in (Profile.ROOT_CA, Profile.ISSUING_CA)
    return x509.KeyUsage(
        digital_signature=profile is not Profile.ROOT_CA,
        content_commitment=profile is Profile.SIGNER,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass
class Revocation:
    serial: int
    revoked_at: dt.datetime
    reason: x509.ReasonFlags = x509.ReasonFlags.unspecified


@dataclass
class Authority:
    """One CA of the store, with its key loaded."""

    label: str
    cert: x509.Certificate
    key: PrivateKey
    revoked: dict[int, Revocation] = field(default_factory=dict)


class PkiStore:
    """A directory of CAs, a TSA and an OCSP responder, keys encrypted with one passphrase.

    Layout: ``pki.json`` (the index), ``<label>.crt`` (PEM) and ``<label>.key.pem`` (encrypted
    PKCS#8) for each CA and service certificate, ``<label>.p12`` for each issued end-entity key.
    """

    def __init__(self, directory: Path, passphrase: bytes, base_url: str) -> None:
        self.directory = directory
        self.passphrase = passphrase
        self.base_url = base_url.rstrip("/")
        self.authorities: dict[str, Authority] = {}
        self.leaves: dict[str, dict[str, Any]] = {}
        self.tsa: Authority | None = None
        self.ocsp_responders: dict[str, Authority] = {}
        self._lock = threading.Lock()
        self._timestamper: Any = None
        self.crl_validity = CRL_VALIDITY
        self.ocsp_validity = OCSP_VALIDITY
        """How far ahead the CRLs and OCSP answers served put their nextUpdate (tests shorten them)."""

    # -- persistence -------------------------------------------------------------------------
    @classmethod
    def load(cls, directory: Path, passphrase: bytes) -> PkiStore:
        index_path = directory / INDEX_FILE
        try:
            index = json.loads(index_path.read_text())
        except FileNotFoundError:
            raise NotFound(f"no PKI in {directory} (run `docsign init --demo` to create the demo PKI)") from None
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read {index_path}: {exc}") from None
        store = cls(directory, passphrase, index["base_url"])
        for label, entry in index["authorities"].items():
            auth = store._load_authority(label)
            auth.revoked = {
                int(serial, 16): Revocation(int(serial, 16), dt.datetime.fromisoformat(r["revoked_at"]),
                                            x509.ReasonFlags(r["reason"]))
                for serial, r in entry.get("revoked", {}).items()
            }
            store.authorities[label] = auth
        if index.get("tsa"):
            store.tsa = store._load_authority(index["tsa"])
        for ca_label, responder_label in index.get("ocsp", {}).items():
            store.ocsp_responders[ca_label] = store._load_authority(responder_label)
        store.leaves = index.get("leaves", {})
        return store

    def _load_authority(self, label: str) -> Authority:
        cert = x509.load_pem_x509_certificate((self.directory / f"{label}.crt").read_bytes())
        try:
            key = serialization.load_pem_private_key((self.directory / f"{label}.key.pem").read_bytes(),
                                                     password=self.passphrase)
        except ValueError:
            raise KeyAccessError(f"the passphrase does not open the key of {label} in {self.directory}") from None
        assert isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey))
        return Authority(label, cert, key)

    def save(self) -> None:
        index = {
            "base_url": self.base_url,
            "authorities": {
                label: {"revoked": {format(r.serial, "x"): {"revoked_at": r.revoked_at.isoformat(),
                                                            "reason": r.reason.value}
                                    for r in auth.revoked.values()}}
                for label, auth in self.authorities.items()
            },
            "tsa": self.tsa.label if self.tsa else None,
            "ocsp": {ca: responder.label for ca, responder in self.ocsp_responders.items()},
            "leaves": self.leaves,
        }
        write_private_file(self.directory / INDEX_FILE, json.dumps(index, indent=2).encode())

    def _write_authority(self, auth: Authority) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        write_private_file(self.directory / f"{auth.label}.crt", auth.cert.public_bytes(serialization.Encoding.PEM))
        write_private_file(
            self.directory / f"{auth.label}.key.pem",
            auth.key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.BestAvailableEncryption(self.passphrase)),
        )

    # -- issuing -----------------------------------------------------------------------------
    def urls_for(self, ca_label: str) -> IssuerUrls:
        return IssuerUrls(
            ca_issuers=f"{self.base_url}/pki/ca/{ca_label}.crt",
            crl=f"{self.base_url}/pki/crl/{ca_label}.crl",
            ocsp=f"{self.base_url}/pki/ocsp/{ca_label}",
        )

    def add_ca(self, label: str, subject: x509.Name, parent: str | None = None, *,
               algorithm: str = "rsa2048", validity: dt.timedelta = dt.timedelta(days=3650),
               not_before: dt.datetime | None = None) -> Authority:
        key = new_key(algorithm)
        start = not_before or utcnow() - dt.timedelta(hours=1)
        issuer = self.authorities[parent] if parent else None
        cert = build_certificate(
            subject, key.public_key(), Profile.ISSUING_CA if issuer else Profile.ROOT_CA,
            issuer_cert=issuer.cert if issuer else None, issuer_key=issuer.key if issuer else key,
            not_before=start, not_after=start + validity, urls=self.urls_for(parent) if parent else None,
        )
        auth = Authority(label, cert, key)
        self._write_authority(auth)
        self.authorities[label] = auth
        return auth

    def add_service(self, label: str, subject: x509.Name, ca_label: str, profile: Profile,
                    validity: dt.timedelta = dt.timedelta(days=1825)) -> Authority:
        """A TSA or OCSP responder certificate, issued by ``ca_label`` and kept beside the CAs."""
        issuer = self.authorities[ca_label]
        key = new_key("rsa2048")
        start = utcnow() - dt.timedelta(hours=1)
        cert = build_certificate(subject, key.public_key(), profile, issuer_cert=issuer.cert,
                                 issuer_key=issuer.key, not_before=start, not_after=start + validity,
                                 urls=self.urls_for(ca_label))
        auth = Authority(label, cert, key)
        self._write_authority(auth)
        if profile is Profile.TSA:
            self.tsa = auth
            self._timestamper = None
        elif profile is Profile.OCSP:
            self.ocsp_responders[ca_label] = auth
        return auth

    def issue_signer(self, label: str, subject: x509.Name, ca_label: str, *, algorithm: str = "rsa2048",
                     not_before: dt.datetime | None = None, validity: dt.timedelta = dt.timedelta(days=730),
                     profile: Profile = Profile.SIGNER,
                     email: str | None = None) -> tuple[x509.Certificate, PrivateKey, Path]:
        """Issue an end-entity certificate and keep its key as ``<label>.p12`` (encrypted); with ``email``,
        also for signing e-mail from that address."""
        issuer = self.authorities[ca_label]
        key = new_key(algorithm)
        start = not_before or utcnow() - dt.timedelta(hours=1)
        cert = build_certificate(subject, key.public_key(), profile, issuer_cert=issuer.cert,
                                 issuer_key=issuer.key, not_before=start, not_after=start + validity,
                                 urls=self.urls_for(ca_label), email=email)
        chain = self.chain_of(ca_label)
        p12 = pkcs12.serialize_key_and_certificates(
            label.encode(), key, cert, chain, serialization.BestAvailableEncryption(self.passphrase))
        path = self.directory / f"{label}.p12"
        write_private_file(path, p12)
        self.leaves[label] = {"ca": ca_label, "serial": format(cert.serial_number, "x"), "file": path.name}
        return cert, key, path

    def chain_of(self, ca_label: str) -> list[x509.Certificate]:
        """The CA certificates from ``ca_label`` up to its root."""
        chain: list[x509.Certificate] = []
        by_subject = {auth.cert.subject: auth for auth in self.authorities.values()}
        current: Authority | None = self.authorities[ca_label]
        while current is not None:
            chain.append(current.cert)
            if current.cert.issuer == current.cert.subject:
                break
            current = by_subject.get(current.cert.issuer)
        return chain

    def roots(self) -> list[x509.Certificate]:
        return [a.cert for a in self.authorities.values() if a.cert.issuer == a.cert.subject]

    def revoke(self, ca_label: str, serial: int, *, when: dt.datetime | None = None,
               reason: x509.ReasonFlags = x509.ReasonFlags.key_compromise) -> None:
        with self._lock:
            self.authorities[ca_label].revoked[serial] = Revocation(serial, when or utcnow(), reason)
            self.save()

    # -- services ----------------------------------------------------------------------------
    def ca_certificate_der(self, ca_label: str) -> bytes:
        try:
            return self.authorities[ca_label].cert.public_bytes(serialization.Encoding.DER)
        except KeyError:
            raise NotFound(f"no CA named {ca_label!r}") from None

    def crl(self, ca_label: str) -> bytes:
        try:
            auth = self.authorities[ca_label]
        except KeyError:
            raise NotFound(f"no CA named {ca_label!r}") from None
        now = utcnow()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(auth.cert.subject)
            .last_update(now - dt.timedelta(minutes=5))
            .next_update(now + self.crl_validity)
            .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(auth.key.public_key()),  # type: ignore[arg-type]
                           critical=False)
        )
        for r in auth.revoked.values():
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(r.serial).revocation_date(r.revoked_at)
                .add_extension(x509.CRLReason(r.reason), critical=False).build()
            )
        return builder.sign(auth.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def ocsp_response(self, request_der: bytes, ca_label: str | None = None) -> bytes:
        """Answer an OCSP request; unknown issuers and malformed requests get OCSP error statuses."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
        except ValueError:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(serialization.Encoding.DER)
        auth = self._authority_for_ocsp(request, ca_label)
        if auth is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(serialization.Encoding.DER)
        responder = self.ocsp_responders.get(auth.label, auth)
        now = utcnow()
        revocation = auth.revoked.get(request.serial_number)
        issued = any(leaf["ca"] == auth.label and int(leaf["serial"], 16) == request.serial_number
                     for leaf in self.leaves.values()) or any(
            a.cert.serial_number == request.serial_number for a in
            [*self.authorities.values(), *self.ocsp_responders.values(), *([self.tsa] if self.tsa else [])])
        if revocation is not None:
            status = ocsp.OCSPCertStatus.REVOKED
        elif issued:
            status = ocsp.OCSPCertStatus.GOOD
        else:
            status = ocsp.OCSPCertStatus.UNKNOWN
        builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
            issuer_name_hash=request.issuer_name_hash,
            issuer_key_hash=request.issuer_key_hash,
            serial_number=request.serial_number,
            algorithm=request.hash_algorithm,
            cert_status=status,
            this_update=now - dt.timedelta(minutes=1),
            next_update=now + self.ocsp_validity,
            revocation_time=revocation.revoked_at if revocation else None,
            revocation_reason=revocation.reason if revocation else None,
        ).responder_id(ocsp.OCSPResponderEncoding.HASH, responder.cert)
        if responder is not auth:
            builder = builder.certificates([responder.cert])
        nonce = _ocsp_nonce(request)
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        return builder.sign(responder.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)

    def _authority_for_ocsp(self, request: ocsp.OCSPRequest, ca_label: str | None) -> Authority | None:
        candidates = [self.authorities[ca_label]] if ca_label in self.authorities else list(self.authorities.values())
        for auth in candidates:
            digest = hashes.Hash(request.hash_algorithm)
            digest.update(auth.cert.subject.public_bytes())
            if digest.finalize() != request.issuer_name_hash:
                continue
            return auth
        return None

    def timestamp_response(self, request_der: bytes) -> bytes:
        """Answer an RFC 3161 TimeStampReq with a token signed by the store's TSA."""
        if self.tsa is None:
            raise NotFound("this PKI has no timestamp authority")
        try:
            request = tsp.TimeStampReq.load(request_der)
            request["message_imprint"]["hash_algorithm"]["algorithm"].native  # noqa: B018 - forces parsing
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInput(f"not an RFC 3161 timestamp request ({exc})") from None
        with self._lock:
            if self._timestamper is None:
                ca_label = next(a.label for a in self.authorities.values() if a.cert.subject == self.tsa.cert.issuer)
                self._timestamper = _local_timestamper(self.tsa, [
                    asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER))
                    for c in self.chain_of(ca_label)])
            timestamper = self._timestamper
        return timestamper.request_tsa_response(request).dump()


def _local_timestamper(tsa: Authority, chain: list[asn1_x509.Certificate]) -> Any:
    """pyHanko's own RFC 3161 token maker, signing with the TSA key already loaded (its DummyTimeStamper
    re-reads and re-checks the key for every token, which costs more than the rest of a timestamp)."""
    from asn1crypto import cms, core
    from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
    from pyhanko.sign.general import as_signing_certificate, get_pyca_cryptography_hash, simple_cms_attribute
    from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

    key = tsa.key
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidInput("the PKI's TSA signs with RSA keys only")
    cert = asn1_x509.Certificate.load(tsa.cert.public_bytes(serialization.Encoding.DER))
    # encoded once and parsed back: asn1crypto re-encodes a freshly built structure on every dump
    signing_certificate = cms.CMSAttribute.load(
        simple_cms_attribute("signing_certificate", as_signing_certificate(cert)).dump())

    class LocalTimeStamper(DummyTimeStamper):
        def _sign_tst_info(self, tst_info_data: bytes, md_algorithm: str,
                           moment: dt.datetime) -> tuple[bytes, cms.CMSAttributes]:
            digest = hashes.Hash(get_pyca_cryptography_hash(md_algorithm))
            digest.update(tst_info_data)
            signed_attrs = cms.CMSAttributes([
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": core.UTCTime(moment)})),
                signing_certificate,
                simple_cms_attribute("message_digest", digest.finalize()),
            ])
            signature = key.sign(signed_attrs.dump(), PKCS1v15(), get_pyca_cryptography_hash(md_algorithm.upper()))
            return signature, signed_attrs

    tsa_key = asn1_keys.PrivateKeyInfo.load(key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return LocalTimeStamper(tsa_cert=cert, tsa_key=tsa_key, certs_to_embed=chain)


def _ocsp_nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        return request.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    except x509.ExtensionNotFound:
        return None


def write_private_file(path: Path, data: bytes) -> None:
    """Write a file readable by its owner only, atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
