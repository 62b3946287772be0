"""PKCS#11 tokens addressed by RFC 7512 URIs (``pkcs11:token=...;object=...``).

The private key never leaves the token: docsign opens one logged-in session per key and process,
finds the key and its certificate by label or id, and asks the token to sign.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote_to_bytes

from asn1crypto import x509 as asn1_x509

from docsign.errors import InvalidInput, KeyAccessError
from docsign.signing.errors import KeyNotFound

PKCS11_SCHEME = "pkcs11:"
PATH_ATTRS = {"token", "object", "id", "serial", "manufacturer", "model", "slot-id", "type", "library-description"}
QUERY_ATTRS = {"module-path", "module-name", "pin-value", "pin-source"}
_PIN_SALT = secrets.token_bytes(32)
_logins: dict[tuple[object, ...], bytes] = {}
"""Tokens this process is logged in to, with a salted digest of the PIN that worked."""
_logins_lock = threading.Lock()


@dataclass(frozen=True)
class Pkcs11Uri:
    token: str | None = None
    object: str | None = None
    id: bytes | None = None
    serial: str | None = None
    slot_id: int | None = None
    module_path: str | None = None
    pin_value: str | None = None
    pin_source: str | None = None

    def describe(self) -> str:
        """Where the key is, without the PIN."""
        parts = [f"token={self.token}" if self.token else None, f"object={self.object}" if self.object else None,
                 f"id={self.id.hex()}" if self.id else None]
        return "pkcs11:" + ";".join(p for p in parts if p)


def parse_uri(uri: str) -> Pkcs11Uri:
    """Parse an RFC 7512 URI; unknown standard attributes are ignored, typos are errors."""
    if not uri.startswith(PKCS11_SCHEME):
        raise InvalidInput(f"not a PKCS#11 URI (it must start with 'pkcs11:'): {uri[:40]!r}")
    body = uri[len(PKCS11_SCHEME):]
    path, _, query = body.partition("?")
    values: dict[str, str] = {}
    raw_id: bytes | None = None
    for chunk, allowed, sep in ((path, PATH_ATTRS, ";"), (query, QUERY_ATTRS, "&")):
        for item in filter(None, chunk.split(sep)):
            key, eq, value = item.partition("=")
            if not eq or key not in allowed:
                raise InvalidInput(f"unknown or malformed PKCS#11 URI attribute {key!r} (expected e.g. "
                                   "pkcs11:token=NAME;object=LABEL)")
            if key == "id":
                raw_id = unquote_to_bytes(value)
            else:
                values[key] = unquote_to_bytes(value).decode("utf-8")
    if not (values.get("object") or raw_id):
        raise InvalidInput("the PKCS#11 URI must name the key with object=LABEL or id=%XX")
    slot = values.get("slot-id")
    return Pkcs11Uri(
        token=values.get("token"), object=values.get("object"), id=raw_id, serial=values.get("serial"),
        slot_id=int(slot) if slot and slot.isdigit() else None, module_path=values.get("module-path"),
        pin_value=values.get("pin-value"), pin_source=values.get("pin-source"),
    )


def resolve_pin(uri: Pkcs11Uri, passphrase: bytes | None) -> str | None:
    """The PIN: from the environment (preferred), else pin-source=file:..., else pin-value."""
    if passphrase is not None:
        return passphrase.decode("utf-8")
    if uri.pin_source:
        source = uri.pin_source.removeprefix("file:")
        try:
            return Path(source).read_text().strip()
        except OSError as exc:
            raise KeyAccessError(f"cannot read the PIN file named by pin-source ({exc.strerror})") from None
    return uri.pin_value


class TokenKey:
    """A logged-in session on a token and the handles of one key and its certificate."""

    def __init__(self, uri: Pkcs11Uri, module: str, pin: str | None,
                 certificate_der: bytes | None = None) -> None:
        import pkcs11
        from pkcs11 import Attribute, ObjectClass
        from pkcs11.exceptions import PinIncorrect, PinLenRange, PKCS11Error
        from pyhanko.sign.pkcs11 import TokenCriteria, open_pkcs11_session

        self.uri = uri
        self.lock = threading.Lock()  # a PKCS#11 session serves one call at a time
        where = uri.describe()
        if not Path(module).exists():
            raise KeyNotFound(f"the PKCS#11 module {module} does not exist (check --module)")
        # login state belongs to the token and the process: log in once, later sessions share it
        login_key = (module, uri.token, uri.serial, uri.slot_id)
        digest = hmac.new(_PIN_SALT, (pin or "").encode(), hashlib.sha256).digest()
        with _logins_lock:
            known = _logins.get(login_key)
        if known is not None and not hmac.compare_digest(known, digest):
            raise KeyAccessError(f"the PIN for {where} is wrong")
        try:
            self.session = open_pkcs11_session(
                module, slot_no=uri.slot_id,
                token_criteria=TokenCriteria(label=uri.token, serial=uri.serial.encode() if uri.serial else None),
                user_pin=pin if known is None else None)
        except (PinIncorrect, PinLenRange):
            raise KeyAccessError(f"the PIN for {where} is wrong") from None
        except PKCS11Error as exc:
            text = str(exc) or type(exc).__name__
            if "No token" in text:
                raise KeyNotFound(f"no PKCS#11 token matches {where} (is the token plugged in?)") from None
            raise KeyAccessError(f"cannot open {where}: {text}") from None
        with _logins_lock:
            _logins.setdefault(login_key, digest)
        query: dict[Attribute, object] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
        if uri.object:
            query[Attribute.LABEL] = uri.object
        if uri.id:
            query[Attribute.ID] = uri.id
        keys = list(self.session.get_objects(query))
        if len(keys) != 1:
            self.session.close()
            found = "no" if not keys else "more than one"
            raise KeyNotFound(f"{found} private key matches {where} on the token")
        self.key = keys[0]
        if certificate_der is None:
            query[Attribute.CLASS] = ObjectClass.CERTIFICATE
            certs = list(self.session.get_objects(query))
            if not certs:
                self.session.close()
                raise KeyNotFound(f"the token holds no certificate for {where}")
            certificate_der = bytes(certs[0][Attribute.VALUE])
        self.certificate = asn1_x509.Certificate.load(certificate_der)
        other = self.session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE})
        self.other_certs = [asn1_x509.Certificate.load(bytes(c[Attribute.VALUE])) for c in other]
        self.other_certs = [c for c in self.other_certs if c.dump() != certificate_der]
        self._pkcs11 = pkcs11

    def sign(self, data: bytes, digest_algorithm: str) -> bytes:
        from pyhanko.sign.pkcs11 import select_pkcs11_signing_params
        from pyhanko.sign.signers.pdf_cms import Signer

        mechanism = Signer(signing_cert=self.certificate).get_signature_mechanism_for_digest(digest_algorithm)
        # SoftHSM2 and many tokens lack hash-and-sign ECDSA; hash here and use the raw mechanism
        spec = select_pkcs11_signing_params(mechanism, digest_algorithm,
                                            use_raw_mechanism=self.certificate.public_key.algorithm == "ec",
                                            sign_kwargs={})
        if spec.pre_sign_transform is not None:
            data = spec.pre_sign_transform(data)
        with self.lock:
            signature = self.key.sign(data, **spec.sign_kwargs)
        if spec.post_sign_transform is not None:
            signature = spec.post_sign_transform(signature)
        return bytes(signature)

    def close(self) -> None:
        self.session.close()
