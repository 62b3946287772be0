"""The one place that loads signing keys: PKCS#12 files, encrypted PEM, PKCS#11 tokens, and the key
references registered in the database (``agency:CODE``, ``user:LOGIN``).

A key is loaded once per process and kept in a cache (decrypting a PKCS#12 file or logging in to a
token costs far more than a signature). Before a key is handed out it is checked: the certificate
must be within its validity period, allow digitalSignature or nonRepudiation, and match the private
key (a test signature verified with the certificate's public key). Passphrases and PINs are never
logged, never put in messages, and kept in the cache key only as a salted digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import os
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from docsign.errors import InvalidInput, KeyAccessError
from docsign.signing.errors import CertificateNotUsable, KeyNotFound

if TYPE_CHECKING:
    from docsign.config import Settings

log = logging.getLogger(__name__)

Source = Literal["pkcs12", "pem", "pkcs11"]
DEFAULT_PASSPHRASE_ENV = "DOCSIGN_KEY_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
_CACHE_SALT = secrets.token_bytes(32)


@dataclass(frozen=True)
class KeySpec:
    """Where a signing key is and how to open it (what a ``KeyRef`` row or a ``--key`` option says)."""

    source: Source
    """pkcs12, pem or pkcs11."""
    location: str
    """PKCS#12 file, PEM private key file, or RFC 7512 ``pkcs11:`` URI."""
    cert_path: str | None = None
    """PEM only: the certificate file."""
    chain_paths: tuple[str, ...] = ()
    """Extra CA certificates (PEM/DER files) to embed with the signature."""
    module: str | None = None
    """PKCS#11 only: the module (shared library) path."""
    passphrase: bytes | None = field(default=None, repr=False)
    """Passphrase of the file, or the token's user PIN. Never printed."""
    passphrase_source: str | None = None
    """Where the passphrase came from (an environment variable name), for messages."""
    certificate_der: bytes | None = field(default=None, repr=False)
    """The certificate as registered in the database, when the token does not hold it."""
    label: str | None = None
    """A human name for messages (the key reference)."""

    def describe(self) -> str:
        if self.label:
            return self.label
        if self.source == "pkcs11":
            from docsign.pki.pkcs11 import parse_uri

            return parse_uri(self.location).describe()
        return self.location


@dataclass(eq=False)
class KeyHandle:
    """A loaded, checked key: the certificate, the CA certificates, and a raw signing function."""

    spec_description: str
    certificate: asn1_x509.Certificate
    chain: tuple[asn1_x509.Certificate, ...]
    key_algorithm: str
    """'rsa' or 'ec'."""
    signature_size: int
    """Largest raw signature in bytes (RSA modulus length, or DER-encoded ECDSA)."""
    _sign: Callable[[bytes, str], bytes] = field(repr=False)
    extras: dict[str, Any] = field(default_factory=dict, repr=False)
    """Per-key caches kept by the signing engine (CMS templates and the like)."""
    private_key: Any = field(default=None, repr=False)
    """The ``cryptography`` private key of a PKCS#12/PEM key (for builders that need the key object,
    like S/MIME's); None for a PKCS#11 key, which never leaves its token."""

    def sign(self, data: bytes, digest_algorithm: str) -> bytes:
        return self._sign(data, digest_algorithm)

    def check_usable(self, when: dt.datetime | None = None) -> None:
        check_certificate(self.certificate, self.spec_description, when)


# -- resolving --key values ------------------------------------------------------------------------

def passphrase_from_env(variable: str | None, environ: Mapping[str, str] | None = None,
                        required: bool = False) -> bytes | None:
    """Read a passphrase or PIN from an environment variable (never from the command line)."""
    env = os.environ if environ is None else environ
    name = variable or DEFAULT_PASSPHRASE_ENV
    value = env.get(name)
    if value is None:
        if variable or required:
            raise KeyAccessError(f"the environment variable {name} that should hold the passphrase is not set")
        return None
    return value.encode("utf-8")


def parse_keyref(keyref: str, *, passphrase_env: str | None = None, module: str | None = None,
                 environ: Mapping[str, str] | None = None, session: Any = None,
                 settings: Settings | None = None) -> KeySpec:
    """Turn a ``--key`` value into a :class:`KeySpec`.

    ``FILE.p12``; ``pem:KEY,CERT[,CHAIN...]``; ``pkcs11:...`` (with ``module``); ``agency:CODE`` or
    ``user:LOGIN`` (looked up in the database through ``session``).
    """
    if keyref.startswith(("agency:", "user:")):
        if session is None or settings is None:
            raise InvalidInput(f"{keyref} is a registered key: it needs the database (run through `docsign`)")
        return key_spec_for(session, keyref, settings, environ=environ)
    if keyref.startswith("pkcs11:"):
        from docsign.pki.pkcs11 import parse_uri

        uri = parse_uri(keyref)
        lib = module or uri.module_path
        if not lib:
            raise InvalidInput("a pkcs11: key needs the token's module: pass --module /path/to/module.so")
        return KeySpec("pkcs11", keyref, module=lib, passphrase=passphrase_from_env(passphrase_env, environ),
                       passphrase_source=passphrase_env or DEFAULT_PASSPHRASE_ENV)
    if keyref.startswith("pem:"):
        parts = [p for p in keyref[4:].split(",") if p]
        if len(parts) < 2:
            raise InvalidInput("a PEM key is given as pem:KEY.pem,CERT.pem[,CHAIN.pem]")
        return KeySpec("pem", parts[0], cert_path=parts[1], chain_paths=tuple(parts[2:]),
                       passphrase=passphrase_from_env(passphrase_env, environ),
                       passphrase_source=passphrase_env or DEFAULT_PASSPHRASE_ENV)
    if keyref.startswith("csc:"):
        raise InvalidInput("csc: remote signing keys are not supported yet")
    return KeySpec("pkcs12", keyref, passphrase=passphrase_from_env(passphrase_env, environ),
                   passphrase_source=passphrase_env or DEFAULT_PASSPHRASE_ENV)


def key_spec_for(session: Any, keyref: str, settings: Settings,
                 environ: Mapping[str, str] | None = None) -> KeySpec:
    """The :class:`KeySpec` of a key registered in the database: ``agency:CODE`` (the agency's seal key)
    or ``user:LOGIN`` (that person's personal key)."""
    from sqlalchemy import select

    from docsign import models

    kind, _, ident = keyref.partition(":")
    owner: type[models.Agency] | type[models.User]
    if kind == "agency":
        owner, wanted, named = models.Agency, models.KeyKind.SEAL, models.Agency.code == ident
        owned = models.KeyRef.agency_id == models.Agency.id
    else:
        owner, wanted, named = models.User, models.KeyKind.PERSONAL, models.User.login == ident
        owned = models.KeyRef.user_id == models.User.id
    row = session.scalar(select(models.KeyRef).join(owner, owned)
                         .where(named, models.KeyRef.kind == wanted, models.KeyRef.active.is_(True))
                         .order_by(models.KeyRef.id.desc()).limit(1))
    if row is None:
        if session.scalar(select(owner.id).where(named)) is None:
            raise KeyNotFound(f"no {kind} {ident!r} is registered")
        raise KeyNotFound(f"{kind} {ident!r} has no registered {wanted.value} key (an admin registers it)")
    if row.passphrase_env:
        passphrase = passphrase_from_env(row.passphrase_env, environ, required=True)
        source: str = row.passphrase_env
    else:
        passphrase, source = settings.keystore_passphrase, "the keystore passphrase"
    kind_of_source = str(getattr(row.source, "value", row.source))
    parts = [str(row.location)] if kind_of_source == "pkcs11" else str(row.location).split(",")
    if kind_of_source != "pkcs11":
        parts = [p if Path(p).is_absolute() else str(settings.keys_dir / p) for p in parts]
    return KeySpec(
        kind_of_source,  # type: ignore[arg-type]
        parts[0], cert_path=parts[1] if kind_of_source == "pem" and len(parts) > 1 else None,
        chain_paths=tuple(parts[2:]) if kind_of_source == "pem" else (), module=row.pkcs11_module,
        passphrase=passphrase, passphrase_source=source, certificate_der=row.certificate_der, label=keyref)


# -- loading and the cache ---------------------------------------------------------------------------

_cache: dict[tuple[Any, ...], KeyHandle] = {}
_cache_lock = threading.Lock()


def load_key(spec: KeySpec) -> KeyHandle:
    """The loaded key for ``spec``, from the process cache when it was loaded before."""
    cache_key = _cache_key(spec)
    with _cache_lock:
        handle = _cache.get(cache_key)
    if handle is None:
        handle = _load(spec)
        with _cache_lock:
            handle = _cache.setdefault(cache_key, handle)
        log.info("loaded signing key %s (%s)", spec.describe(), spec.source)
    handle.check_usable()
    return handle


def clear_cache() -> None:
    with _cache_lock:
        for handle in _cache.values():
            token = handle.extras.get("token")
            if token is not None:
                token.close()
        _cache.clear()


def _cache_key(spec: KeySpec) -> tuple[Any, ...]:
    secret = hmac.new(_CACHE_SALT, spec.passphrase or b"", hashlib.sha256).digest()
    stamps = []
    for path in (spec.location, spec.cert_path, *spec.chain_paths):
        if path and spec.source != "pkcs11":
            try:
                st = os.stat(path)
                stamps.append((st.st_mtime_ns, st.st_size))  # a replaced key file is loaded again
            except OSError:
                stamps.append(None)
    return (spec.source, spec.location, spec.cert_path, spec.chain_paths, spec.module, secret,
            spec.certificate_der, tuple(stamps))


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise KeyNotFound(f"the {what} {path} does not exist") from None
    except OSError as exc:
        raise KeyAccessError(f"cannot read the {what} {path} ({exc.strerror})") from None


def _load(spec: KeySpec) -> KeyHandle:
    if spec.source == "pkcs11":
        return _load_pkcs11(spec)
    extra = [c for p in spec.chain_paths for c in _load_cert_file(p)]
    if spec.source == "pkcs12":
        key, cert, chain = _open_pkcs12(spec)
    else:
        key, cert, chain = _open_pem(spec)
    certificate = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    chain_asn1 = tuple(asn1_x509.Certificate.load(c.public_bytes(serialization.Encoding.DER)) for c in chain)
    handle = _finish(spec, certificate, chain_asn1 + tuple(extra), _software_signer(key))
    handle.private_key = key
    return handle


def _open_pkcs12(spec: KeySpec) -> tuple[Any, x509.Certificate, list[x509.Certificate]]:
    data = _read(spec.location, "PKCS#12 file")
    try:
        key, cert, chain = pkcs12.load_key_and_certificates(data, spec.passphrase)
    except ValueError:
        hint = f"check {spec.passphrase_source}" if spec.passphrase else f"set {spec.passphrase_source}"
        raise KeyAccessError(f"cannot open {spec.location}: wrong passphrase or not a PKCS#12 file ({hint})") from None
    if key is None or cert is None:
        raise KeyAccessError(f"{spec.location} must hold a private key and its certificate")
    return key, cert, list(chain)


def _open_pem(spec: KeySpec) -> tuple[Any, x509.Certificate, list[x509.Certificate]]:
    data = _read(spec.location, "PEM key file")
    try:
        key = serialization.load_pem_private_key(data, spec.passphrase)
    except TypeError:
        if spec.passphrase is None:
            raise KeyAccessError(
                f"{spec.location} is encrypted: set {spec.passphrase_source} to its passphrase") from None
        raise KeyAccessError(f"{spec.location} is not encrypted, but a passphrase was given") from None
    except ValueError:
        raise KeyAccessError(f"cannot open {spec.location}: wrong passphrase or not a PEM private key "
                             f"(check {spec.passphrase_source})") from None
    assert spec.cert_path is not None
    certs = _load_cert_file(spec.cert_path)
    cert = x509.load_der_x509_certificate(certs[0].dump())
    chain = [x509.load_der_x509_certificate(c.dump()) for c in certs[1:]]
    return key, cert, chain


def _load_cert_file(path: str) -> list[asn1_x509.Certificate]:
    from docsign.pki.trust import load_certificates

    return load_certificates(_read(path, "certificate file"), path)


def _load_pkcs11(spec: KeySpec) -> KeyHandle:
    from docsign.pki.pkcs11 import TokenKey, parse_uri, resolve_pin

    uri = parse_uri(spec.location)
    assert spec.module is not None
    token = TokenKey(uri, spec.module, resolve_pin(uri, spec.passphrase), spec.certificate_der)
    extra = tuple(c for p in spec.chain_paths for c in _load_cert_file(p))
    handle = _finish(spec, token.certificate, tuple(token.other_certs) + extra, token.sign)
    handle.extras["token"] = token
    return handle


def _software_signer(key: Any) -> Callable[[bytes, str], bytes]:
    def sign(data: bytes, digest_algorithm: str) -> bytes:
        algo = _HASHES[digest_algorithm]()
        if isinstance(key, rsa.RSAPrivateKey):
            return key.sign(data, padding.PKCS1v15(), algo)
        return key.sign(data, ec.ECDSA(algo))

    if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
        raise KeyAccessError("only RSA and ECDSA keys can sign documents")
    return sign


_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256, "sha384": hashes.SHA384, "sha512": hashes.SHA512,
}


def _finish(spec: KeySpec, certificate: asn1_x509.Certificate, chain: tuple[asn1_x509.Certificate, ...],
            sign: Callable[[bytes, str], bytes]) -> KeyHandle:
    description = spec.describe()
    check_certificate(certificate, description)
    public = x509.load_der_x509_certificate(certificate.dump()).public_key()
    if isinstance(public, rsa.RSAPublicKey):
        algorithm, size = "rsa", public.key_size // 8
    elif isinstance(public, ec.EllipticCurvePublicKey):
        algorithm, size = "ec", 2 * ((public.key_size + 7) // 8) + 9  # DER SEQUENCE of two INTEGERs
    else:
        raise CertificateNotUsable(f"the certificate of {description} has a key type docsign cannot sign with")
    _check_pair(public, sign, description)
    seen = {certificate.dump()}
    unique = []
    for cert in chain:
        if cert.dump() not in seen:
            seen.add(cert.dump())
            unique.append(cert)
    return KeyHandle(description, certificate, tuple(unique), algorithm, size, sign)


def _check_pair(public: Any, sign: Callable[[bytes, str], bytes], description: str) -> None:
    probe = b"docsign key check " + secrets.token_bytes(16)
    try:
        signature = sign(probe, "sha256")
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, probe, padding.PKCS1v15(), hashes.SHA256())
        else:
            public.verify(signature, probe, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, TypeError):
        raise CertificateNotUsable(f"the private key of {description} does not match its certificate") from None


def check_certificate(cert: asn1_x509.Certificate, description: str, when: dt.datetime | None = None) -> None:
    """Refuse certificates a relying party would reject: outside validity, or not for signing."""
    now = when or dt.datetime.now(dt.UTC)
    subject = cert.subject.human_friendly
    if now < cert.not_valid_before:
        raise CertificateNotUsable(f"the certificate of {description} ({subject}) is not valid before "
                                   f"{cert.not_valid_before:%Y-%m-%d %H:%M} UTC")
    if now > cert.not_valid_after:
        raise CertificateNotUsable(f"the certificate of {description} ({subject}) expired on "
                                   f"{cert.not_valid_after:%Y-%m-%d} (ask the CA for a new one)")
    usage = cert.key_usage_value
    if usage is not None and not ({"digital_signature", "non_repudiation"} & set(usage.native)):
        raise CertificateNotUsable(f"the certificate of {description} ({subject}) is not for signing "
                                   "documents (no digitalSignature/nonRepudiation key usage)")
