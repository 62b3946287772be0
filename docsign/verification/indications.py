"""The one table that turns what pyHanko (and docsign's own checks) found into an ETSI verdict.

Rules are tried in order; the first that matches gives (indication, sub-indication). The order is
the order of EN 319 102-1's basic validation: format, then integrity (hash, signature value), then
the signature's constraints (what changed after signing), then the certificate (chain, validity,
revocation), and only then TOTAL_PASSED.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESStatus, AdESSubIndic

from docsign.verification.report import Indication, Modifications


class TotalFailed(AdESSubIndic, enum.Enum):
    """EN 319 102-1 TOTAL_FAILED sub-indications that pyHanko's AdESFailure lacks."""

    EXPIRED = enum.auto()
    """The signature was made (as proven by a timestamp) after the signing certificate expired."""

    @property
    def status(self) -> AdESStatus:
        return AdESStatus.FAILED

    @property
    def standard_name(self) -> str:
        return self.name


@dataclass(frozen=True)
class SignatureFacts:
    """What the checks established about one signature, before any verdict."""

    format_error: str | None = None
    """The signature cannot be processed as a PAdES/PKCS#7 signature (structure, ByteRange, CMS)."""
    digest_ok: bool = True
    """The digest of the signed byte ranges matches the signed messageDigest attribute."""
    der_ok: bool = True
    """The signed attributes are DER encoded (what is signed is what is hashed)."""
    signature_ok: bool = True
    """The signature value verifies with the signing certificate's public key."""
    modifications: Modifications | None = None
    docmdp_ok: bool | None = None
    """Later changes are within the DocMDP/FieldMDP permissions (None: not evaluated)."""
    certificate_problem: AdESSubIndic | None = None
    """pyHanko's sub-indication for the certificate (chain, validity, revocation), None if fine."""
    crypto_problem: AdESSubIndic | None = None
    """The algorithms are not acceptable at the time the signature is proven to exist (e.g. SHA-1)."""
    changes_unknown: bool = False
    """Later revisions exist and their analysis failed: nothing says the signature allows them."""


Verdict = tuple[Indication, str | None]


@dataclass(frozen=True)
class Rule:
    name: str
    applies: Callable[[SignatureFacts], bool]
    verdict: Callable[[SignatureFacts], Verdict]


def _fixed(indication: Indication, sub: str | None) -> Callable[[SignatureFacts], Verdict]:
    return lambda _facts: (indication, sub)


def certificate_verdict(sub: AdESSubIndic) -> Verdict:
    """pyHanko's AdES sub-indication as (indication, EN 319 102-1 name)."""
    indication = {
        AdESStatus.FAILED: Indication.TOTAL_FAILED,
        AdESStatus.INDETERMINATE: Indication.INDETERMINATE,
        AdESStatus.PASSED: Indication.TOTAL_PASSED,
    }[sub.status]
    return indication, (None if indication is Indication.TOTAL_PASSED else sub.standard_name)


RULES: tuple[Rule, ...] = (
    Rule("format", lambda f: f.format_error is not None, _fixed(Indication.TOTAL_FAILED, "FORMAT_FAILURE")),
    Rule("digest", lambda f: not f.digest_ok or not f.der_ok, _fixed(Indication.TOTAL_FAILED, "HASH_FAILURE")),
    Rule("signature value", lambda f: not f.signature_ok, _fixed(Indication.TOTAL_FAILED, "SIG_CRYPTO_FAILURE")),
    Rule("changes not allowed", lambda f: f.modifications is Modifications.OTHER or f.docmdp_ok is False,
         _fixed(Indication.TOTAL_FAILED, "SIG_CONSTRAINTS_FAILURE")),
    Rule("crypto constraints", lambda f: f.crypto_problem is not None and _crypto_first(f.certificate_problem),
         lambda f: certificate_verdict(f.crypto_problem)),  # type: ignore[arg-type]
    Rule("certificate", lambda f: f.certificate_problem is not None,
         lambda f: certificate_verdict(f.certificate_problem)),  # type: ignore[arg-type]
    Rule("changes not analysed", lambda f: f.changes_unknown,
         _fixed(Indication.INDETERMINATE, "SIG_CONSTRAINTS_FAILURE")),
    Rule("passed", lambda f: True, _fixed(Indication.TOTAL_PASSED, None)),
)


def _crypto_first(certificate_problem: AdESSubIndic | None) -> bool:
    """A weak algorithm is the verdict unless the certificate gives a stronger one: a failure, or no
    chain at all (EN 319 102-1 checks the chain before the signature's acceptance)."""
    return certificate_problem is None or (certificate_problem.status is AdESStatus.INDETERMINATE
                                           and certificate_problem not in CHAIN_PROBLEMS)


def classify(facts: SignatureFacts) -> Verdict:
    for rule in RULES:
        if rule.applies(facts):
            return rule.verdict(facts)
    raise AssertionError("the last rule always applies")  # pragma: no cover


# Sub-indications that describe the revocation status, for the report's "revocation" field.
REVOKED = frozenset({AdESFailure.REVOKED, AdESIndeterminate.REVOKED_NO_POE, AdESIndeterminate.REVOKED_CA_NO_POE})
REVOCATION_UNKNOWN = frozenset({AdESIndeterminate.TRY_LATER, AdESIndeterminate.REVOCATION_OUT_OF_BOUNDS_NO_POE})
CHAIN_PROBLEMS = frozenset({AdESIndeterminate.NO_CERTIFICATE_CHAIN_FOUND, AdESIndeterminate.CHAIN_CONSTRAINTS_FAILURE,
                            AdESIndeterminate.CERTIFICATE_CHAIN_GENERAL_FAILURE,
                            AdESIndeterminate.NO_SIGNING_CERTIFICATE_FOUND})
# Problems a valid signature timestamp can cure (EN 319 102-1 5.6.2.4, past signature validation).
CURABLE_BY_POE = frozenset({AdESIndeterminate.OUT_OF_BOUNDS_NO_POE, AdESIndeterminate.REVOKED_NO_POE,
                            AdESIndeterminate.REVOKED_CA_NO_POE, AdESIndeterminate.REVOCATION_OUT_OF_BOUNDS_NO_POE,
                            AdESIndeterminate.OUT_OF_BOUNDS_NOT_REVOKED, AdESIndeterminate.EXPIRED,
                            AdESIndeterminate.TRY_LATER, AdESFailure.REVOKED})
