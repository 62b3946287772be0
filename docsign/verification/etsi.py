"""The ETSI TS 119 102-2 XML validation report, made with pyHanko's report generator.

pyHanko (:func:`pyhanko.sign.validation.report.tools.generate_report`) writes one report per
signature from an AdES validation result. docsign hands it its own verdict (the indication and
sub-indication of :mod:`docsign.verification.indications`, so the XML and the JSON report never
disagree) and pyHanko's status of the signature, then joins the per-signature reports into one
``ValidationReport``: one ``SignatureValidationReport`` per signature, in the order of the JSON
report, and the validation objects (certificates, OCSP responses, CRLs) once each. A signature
pyHanko could not process at all (an unreadable CMS, a forged ByteRange) gets a report with its
status alone. The XML is produced and parsed here without DTDs, entities or network access.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lxml import etree
from pyhanko.generated.etsi import ts_11910202
from pyhanko.sign.ades.report import AdESFailure, AdESIndeterminate, AdESPassed, AdESStatus, AdESSubIndic
from pyhanko.sign.validation.ades import AdESBasicValidationResult, AdESWithTimeValidationResult, ValidationObjectSet
from pyhanko.sign.validation.report.tools import NAMESPACES, generate_report
from pyhanko_certvalidator.ltv.poe import ValidationObject, ValidationObjectType
from pyhanko_certvalidator.revinfo.archival import CRLContainer, OCSPContainer

from docsign.verification.errors import NoSignatureToReport
from docsign.verification.report import Indication, SignatureReport

if TYPE_CHECKING:
    from docsign.verification.engine import Evidence

log = logging.getLogger(__name__)

VR_NS = NAMESPACES["vr"]
"""ETSI TS 119 102-2 v1.2.1 namespace of the report."""
MEDIA_TYPE = "application/vnd.etsi.validation-report+xml"
MAIN_INDICATION = {
    Indication.TOTAL_PASSED: "urn:etsi:019102:mainindication:total-passed",
    Indication.TOTAL_FAILED: "urn:etsi:019102:mainindication:total-failed",
    Indication.INDETERMINATE: "urn:etsi:019102:mainindication:indeterminate",
}
SUB_INDICATION_PREFIX = "urn:etsi:019102:subindication:"
_STATUS = {Indication.TOTAL_PASSED: AdESStatus.PASSED, Indication.TOTAL_FAILED: AdESStatus.FAILED,
           Indication.INDETERMINATE: AdESStatus.INDETERMINATE}


@dataclass(frozen=True)
class _SubIndication(AdESSubIndic):
    """docsign's verdict in the shape pyHanko's report generator reads (status and standard name)."""

    indication: Indication
    name: str

    @property
    def status(self) -> AdESStatus:
        return _STATUS[self.indication]

    @property
    def standard_name(self) -> str:
        return self.name


def verdict_indic(report: SignatureReport) -> AdESSubIndic:
    """The signature's docsign verdict as a pyHanko AdES sub-indication."""
    if report.indication is Indication.TOTAL_PASSED:
        return AdESPassed.OK
    name = report.sub_indication or "GENERIC"
    family = AdESFailure if report.indication is Indication.TOTAL_FAILED else AdESIndeterminate
    member = family.__members__.get(name)
    return member if member is not None else _SubIndication(report.indication, name)


def _validation_objects(evidence: Evidence) -> ValidationObjectSet:
    def objects() -> Iterable[ValidationObject]:
        status = evidence.status
        for path in (status.validation_path if status else None,
                     status.timestamp_validity.validation_path if status and status.timestamp_validity else None):
            if path is not None:
                for cert in path.iter_certs(include_root=True):
                    yield ValidationObject(ValidationObjectType.CERTIFICATE, cert)
        for response in evidence.ocsps:
            for container in OCSPContainer.load_multi(response):
                yield ValidationObject(ValidationObjectType.OCSP_RESPONSE, container)
        for crl in evidence.crls:
            yield ValidationObject(ValidationObjectType.CRL, CRLContainer(crl))

    return ValidationObjectSet(objects())


def _pyhanko_report(report: SignatureReport, evidence: Evidence) -> bytes | None:
    emb, status = evidence.embedded, evidence.status
    if emb is None or status is None or status.validation_time is None:
        return None
    indic = verdict_indic(report)
    objects = _validation_objects(evidence)
    result: AdESBasicValidationResult[Any]
    if report.timestamp_time is not None:
        result = AdESWithTimeValidationResult(ades_subindic=indic, api_status=status, failure_msg=None,
                                              validation_objects=objects, best_signature_time=report.timestamp_time,
                                              signature_not_before_time=None)
    else:
        result = AdESBasicValidationResult(ades_subindic=indic, api_status=status, failure_msg=None,
                                           validation_objects=objects)
    try:
        return generate_report(emb, result).encode()
    except Exception:
        log.debug("pyHanko could not write the ETSI report of %s", report.field, exc_info=True)
        return None


def _status_only_report(report: SignatureReport, validation_time: dt.datetime) -> bytes:
    from xsdata.formats.dataclass.serializers import XmlSerializer
    from xsdata.models.datatype import XmlDateTime

    sub = () if report.indication is Indication.TOTAL_PASSED else (
        SUB_INDICATION_PREFIX + (report.sub_indication or "GENERIC"),)
    single = ts_11910202.SignatureValidationReportType(
        validation_time_info=ts_11910202.ValidationTimeInfoType(
            validation_time=XmlDateTime.from_datetime(validation_time)),
        signature_validation_status=ts_11910202.ValidationStatusType(
            main_indication=MAIN_INDICATION[report.indication], sub_indication=sub),
    )
    xml = XmlSerializer().render(ts_11910202.ValidationReport(signature_validation_report=(single,)),
                                 ns_map=NAMESPACES)
    return xml.encode()


def parser(*, remove_blank_text: bool = False) -> etree.XMLParser:
    """An XML parser that expands no entities, loads no DTD and touches no network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                           remove_blank_text=remove_blank_text)




def _q(name: str) -> str:
    return f"{{{VR_NS}}}{name}"


def document_report(items: Sequence[tuple[SignatureReport, Evidence | None]], validation_time: dt.datetime) -> bytes:
    """One ``ValidationReport`` for the document (UTF-8 XML with declaration)."""
    if not items:
        raise NoSignatureToReport("The document has no signature, so there is no ETSI validation report to give.")
    root: Any = None
    objects: Any = None
    seen: set[str] = set()
    for report, evidence in items:
        xml = (_pyhanko_report(report, evidence) if evidence is not None else None) \
            or _status_only_report(report, validation_time)
        tree = etree.fromstring(xml, parser(remove_blank_text=True))
        for status in tree.iter(_q("SignatureValidationStatus")):
            # TS 119 102-2: no sub-indication with TOTAL_PASSED (pyHanko writes "OK")
            if status.findtext(_q("MainIndication")) == MAIN_INDICATION[Indication.TOTAL_PASSED]:
                for sub in status.findall(_q("SubIndication")):
                    status.remove(sub)
        if root is None:
            root = etree.Element(_q("ValidationReport"), nsmap=tree.nsmap)
        signature_reports = tree.findall(_q("SignatureValidationReport"))
        for element in signature_reports:
            root.append(element)
        for vo in tree.iterfind(f"{_q('SignatureValidationObjects')}/{_q('ValidationObject')}"):
            vo_id = vo.get("id") or vo.get("Id") or ""
            if vo_id in seen:
                continue
            seen.add(vo_id)
            if objects is None:
                objects = etree.Element(_q("SignatureValidationObjects"))
            objects.append(vo)
    if objects is not None:
        root.append(objects)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
