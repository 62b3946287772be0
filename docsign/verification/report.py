"""The verification report: frozen dataclasses whose ``to_dict()`` is the JSON contract of design.md."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from asn1crypto import x509 as asn1_x509

REPORT_VERSION = 1


class Indication(StrEnum):
    """ETSI EN 319 102-1 main indication (plus NO_SIGNATURE for a document without signatures)."""

    TOTAL_PASSED = "TOTAL_PASSED"
    TOTAL_FAILED = "TOTAL_FAILED"
    INDETERMINATE = "INDETERMINATE"
    NO_SIGNATURE = "NO_SIGNATURE"


class Level(StrEnum):
    B_B = "PAdES-B-B"
    B_T = "PAdES-B-T"
    B_LT = "PAdES-B-LT"
    B_LTA = "PAdES-B-LTA"
    PKCS7 = "PKCS7"


class Revocation(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"
    NOT_CHECKED = "not_checked"


class Coverage(StrEnum):
    ENTIRE_FILE = "ENTIRE_FILE"
    ENTIRE_REVISION = "ENTIRE_REVISION"
    PARTIAL = "PARTIAL"


class Modifications(StrEnum):
    NONE = "NONE"
    LTA_UPDATES = "LTA_UPDATES"
    FORM_FILLING = "FORM_FILLING"
    ANNOTATIONS = "ANNOTATIONS"
    OTHER = "OTHER"


PERSONAL_NAME_ATTRIBUTES = ("given_name", "surname", "pseudonym")
"""Subject attributes (asn1crypto names) that name a person (RFC 5280 4.1.2.6, X.520)."""


def _first(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value) if value is not None else None


def _time(value: dt.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Signer:
    common_name: str | None
    """CN of the signing certificate's subject."""
    organization: str | None
    """O of the subject: the agency, for a seal."""
    subject: str
    """The whole subject, human readable."""
    issuer: str
    """The issuing CA's subject, human readable."""
    serial: str
    """Certificate serial number, lowercase hex."""
    not_before: dt.datetime
    not_after: dt.datetime
    names_a_person: bool = False
    """The subject carries a person's name (givenName, surname or pseudonym): a personal certificate, never
    an agency's seal."""

    @classmethod
    def of_certificate(cls, cert: asn1_x509.Certificate) -> Signer:
        subject = cert.subject.native
        return cls(
            common_name=_first(subject.get("common_name")),
            organization=_first(subject.get("organization_name")),
            subject=cert.subject.human_friendly,
            issuer=cert.issuer.human_friendly,
            serial=format(cert.serial_number, "x"),
            not_before=cert.not_valid_before,
            not_after=cert.not_valid_after,
            names_a_person=any(subject.get(attr) for attr in PERSONAL_NAME_ATTRIBUTES),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "common_name": self.common_name,
            "organization": self.organization,
            "subject": self.subject,
            "issuer": self.issuer,
            "serial": self.serial,
            "not_before": _time(self.not_before),
            "not_after": _time(self.not_after),
        }


@dataclass(frozen=True)
class SignatureReport:
    field: str
    """Fully qualified name of the signature field."""
    indication: Indication
    sub_indication: str | None
    """ETSI EN 319 102-1 sub-indication name (e.g. HASH_FAILURE), None when passed."""
    signer: Signer | None
    """None when no signing certificate could be read."""
    signing_time: dt.datetime | None
    """Time claimed by the signer (signed attribute or /M); not proof of anything."""
    timestamp_time: dt.datetime | None
    """Time from a valid and trusted RFC 3161 signature timestamp."""
    level: Level | None
    integrity: bool
    """The signed bytes are unchanged and the signature value matches the certificate's key."""
    trusted: bool
    """A chain to a trust anchor was found for the signing certificate."""
    revocation: Revocation
    coverage: Coverage | None
    modifications: Modifications | None
    """What changed after this signature's revision, per pyHanko's difference analysis and docsign's checks."""
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    revision: int | None = None
    """The document revision this signature signs (0 is the oldest); not part of the contract."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "indication": self.indication.value,
            "sub_indication": self.sub_indication,
            "signer": self.signer.to_dict() if self.signer else None,
            "signing_time": _time(self.signing_time),
            "timestamp_time": _time(self.timestamp_time),
            "level": self.level.value if self.level else None,
            "integrity": self.integrity,
            "trusted": self.trusted,
            "revocation": self.revocation.value,
            "coverage": self.coverage.value if self.coverage else None,
            "modifications": self.modifications.value if self.modifications else None,
            "errors": list(self.errors),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class DocumentInfo:
    sha256: str
    size: int
    pages: int | None
    revisions: int

    def to_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "size": self.size, "pages": self.pages, "revisions": self.revisions}


@dataclass(frozen=True)
class VerificationReport:
    document: DocumentInfo
    signatures: tuple[SignatureReport, ...]
    validation_time: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    """When the verification ran (or the time asked for); not part of the contract's required keys."""
    etsi_xml: bytes | None = field(default=None, repr=False, compare=False)
    """The ETSI TS 119 102-2 XML report (UTF-8), when it was asked for; not part of the JSON report."""

    @property
    def indication(self) -> Indication:
        return document_indication(s.indication for s in self.signatures)

    @property
    def exit_code(self) -> int:
        """`docsign verify` exit code: 0 all passed, 1 failed or no signature, 2 indeterminate."""
        return {Indication.TOTAL_PASSED: 0, Indication.TOTAL_FAILED: 1, Indication.NO_SIGNATURE: 1,
                Indication.INDETERMINATE: 2}[self.indication]

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_version": REPORT_VERSION,
            "document": self.document.to_dict(),
            "indication": self.indication.value,
            "validation_time": _time(self.validation_time),
            "signatures": [s.to_dict() for s in self.signatures],
        }


def document_indication(indications: Any) -> Indication:
    """TOTAL_PASSED only when there are signatures and all pass; any failure fails the document."""
    found = list(indications)
    if not found:
        return Indication.NO_SIGNATURE
    if Indication.TOTAL_FAILED in found:
        return Indication.TOTAL_FAILED
    if all(i is Indication.TOTAL_PASSED for i in found):
        return Indication.TOTAL_PASSED
    return Indication.INDETERMINATE


# -- kept verdicts: the report in a form that reads back (docsign.exchange.verdicts keeps issued documents')
def _read_time(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _required_time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def report_to_record(report: VerificationReport) -> dict[str, Any]:
    """``report.to_dict()`` plus what it leaves out and :func:`report_from_record` needs back."""
    record = report.to_dict()
    for sig, out in zip(report.signatures, record["signatures"], strict=True):
        out["revision"] = sig.revision
        if sig.signer is not None:
            out["signer"]["names_a_person"] = sig.signer.names_a_person
    return record


def report_from_record(record: dict[str, Any]) -> VerificationReport:
    """The report :func:`report_to_record` wrote (raises KeyError/ValueError/TypeError on anything else)."""
    if record.get("report_version") != REPORT_VERSION:
        raise ValueError(f"report version {record.get('report_version')!r}")
    signatures = []
    for sig in record["signatures"]:
        signer = sig["signer"]
        signatures.append(SignatureReport(
            field=sig["field"], indication=Indication(sig["indication"]), sub_indication=sig["sub_indication"],
            signer=None if signer is None else Signer(
                common_name=signer["common_name"], organization=signer["organization"], subject=signer["subject"],
                issuer=signer["issuer"], serial=signer["serial"], not_before=_required_time(signer["not_before"]),
                not_after=_required_time(signer["not_after"]), names_a_person=bool(signer["names_a_person"])),
            signing_time=_read_time(sig["signing_time"]), timestamp_time=_read_time(sig["timestamp_time"]),
            level=Level(sig["level"]) if sig["level"] else None, integrity=bool(sig["integrity"]),
            trusted=bool(sig["trusted"]), revocation=Revocation(sig["revocation"]),
            coverage=Coverage(sig["coverage"]) if sig["coverage"] else None,
            modifications=Modifications(sig["modifications"]) if sig["modifications"] else None,
            errors=tuple(sig["errors"]), warnings=tuple(sig["warnings"]), revision=sig["revision"]))
    document = record["document"]
    return VerificationReport(
        document=DocumentInfo(sha256=document["sha256"], size=int(document["size"]), pages=document["pages"],
                              revisions=int(document["revisions"])),
        signatures=tuple(signatures), validation_time=_read_time(record["validation_time"]) or dt.datetime.now(dt.UTC))
