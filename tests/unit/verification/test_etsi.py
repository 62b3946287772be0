"""The ETSI TS 119 102-2 XML report: well-formed, in the ETSI namespace, one SignatureValidationReport
per signature whose main indication (and sub-indication) is the signature's verdict in the JSON report."""

from __future__ import annotations

import pytest
from lxml import etree

from docsign.verification import etsi
from docsign.verification.engine import verify_pdf
from docsign.verification.errors import NoSignatureToReport, etsi_xml
from tests.unit.verification import attacks

VR = "http://uri.etsi.org/19102/v1.2.1#"
MAIN = {"TOTAL_PASSED": "urn:etsi:019102:mainindication:total-passed",
        "TOTAL_FAILED": "urn:etsi:019102:mainindication:total-failed",
        "INDETERMINATE": "urn:etsi:019102:mainindication:indeterminate"}


def parse(xml: bytes) -> etree._Element:
    """Parse as a careful consumer would: no entity expansion, no DTD, no network."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(xml, parser)


def statuses(xml: bytes) -> list[tuple[str, list[str]]]:
    root = parse(xml)
    assert root.tag == f"{{{VR}}}ValidationReport"
    found = []
    for sig in root.findall(f"{{{VR}}}SignatureValidationReport"):
        status = sig.find(f"{{{VR}}}SignatureValidationStatus")
        assert status is not None
        found.append((status.findtext(f"{{{VR}}}MainIndication"),
                      [s.text for s in status.findall(f"{{{VR}}}SubIndication")]))
    return found


def expected(report) -> list[tuple[str, list[str]]]:  # type: ignore[no-untyped-def]
    return [(MAIN[s.indication.value], [] if s.sub_indication is None else
             [f"urn:etsi:019102:subindication:{s.sub_indication}"]) for s in report.signatures]


def broken(data: bytes) -> bytes:
    changed = bytearray(data)
    changed[changed.index(b"page 1")] ^= 1
    return bytes(changed)


@pytest.mark.parametrize(("name", "change", "offline", "verdicts"), [
    ("b_lt", None, True, ["TOTAL_PASSED"]),
    ("b_lta", None, True, ["TOTAL_PASSED"]),
    ("two", None, True, ["TOTAL_PASSED", "TOTAL_PASSED"]),
    ("b_b", None, True, ["INDETERMINATE"]),                     # offline, no revocation data: TRY_LATER
    ("b_b", broken, True, ["TOTAL_FAILED"]),                    # HASH_FAILURE
    ("b_lt", attacks.unknown_subfilter, True, ["TOTAL_FAILED"]),  # pyHanko cannot process it: status only
    ("b_lt", attacks.usf_out_of_file, True, ["TOTAL_FAILED"]),
])
def test_one_validation_report_per_signature_with_its_verdict(kit, docs, no_revocation_cache, name, change,
                                                              offline, verdicts):  # type: ignore[no-untyped-def]
    data = getattr(docs, name)
    if change is not None:
        data = change(data)
    report = verify_pdf(data, [kit.root], offline=offline, etsi_report=True)
    assert [s.indication.value for s in report.signatures] == verdicts
    assert report.etsi_xml is not None and report.etsi_xml.startswith(b"<?xml")
    assert statuses(report.etsi_xml) == expected(report)


def test_processed_signatures_carry_pyhankos_details(kit, docs):  # type: ignore[no-untyped-def]
    report = verify_pdf(docs.two, [kit.root], offline=True, etsi_report=True)
    root = parse(report.etsi_xml)
    sigs = root.findall(f"{{{VR}}}SignatureValidationReport")
    assert [s.findtext(f".//{{{VR}}}SubFilterElement") for s in sigs] == ["ETSI.CAdES.detached"] * 2
    # each signer certificate it refers to is among the validation objects, and no object is listed twice
    ids = [vo.get("id") for vo in root.iterfind(f"{{{VR}}}SignatureValidationObjects/{{{VR}}}ValidationObject")]
    assert len(ids) == len(set(ids)) and ids
    for sig in sigs:
        assert sig.find(f".//{{{VR}}}SignerCertificate").get("VOReference") in ids


def test_json_report_is_the_same_with_or_without_the_xml(kit, docs):  # type: ignore[no-untyped-def]
    plain = verify_pdf(docs.b_lt, [kit.root], offline=True)
    with_xml = verify_pdf(docs.b_lt, [kit.root], offline=True, etsi_report=True)
    assert plain.etsi_xml is None
    strip = lambda r: {k: v for k, v in r.to_dict().items() if k != "validation_time"}  # noqa: E731
    assert strip(plain) == strip(with_xml)


def test_no_signature_means_no_report(docs):  # type: ignore[no-untyped-def]
    report = verify_pdf(docs.plain, [], etsi_report=True)
    assert report.etsi_xml is None
    with pytest.raises(NoSignatureToReport) as info:
        etsi_xml(report)
    assert info.value.http_status == 400


def test_merging_parser_does_not_expand_entities() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "expanded">]>'
            b'<r xmlns="http://uri.etsi.org/19102/v1.2.1#">&e;</r>')
    root = etree.fromstring(bomb, etsi.parser())
    assert "expanded" not in etree.tostring(root).decode()
