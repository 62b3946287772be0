"""Checks the signing tests share: pdfsig, qpdf --check and pyHanko's validator, and key loading."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from docsign.pki import keys

PASS_ENV = "DOCSIGN_TEST_KEY_PASS"


def need_tool(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (apt-get install poppler-utils qpdf softhsm2)")
    return path


def load(path: Path | str, pki, **kwargs):  # type: ignore[no-untyped-def]
    """A loaded key from a PKCS#12 file or a ``pem:``/``pkcs11:`` reference."""
    spec = keys.parse_keyref(str(path), passphrase_env=PASS_ENV, environ={PASS_ENV: pki.passphrase.decode()},
                             **kwargs)
    return keys.load_key(spec)


# -- checks ----------------------------------------------------------------------------------------

def pdfsig(path: Path) -> str:
    tool = need_tool("pdfsig")
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=60)
    return result.stdout


def pdfsig_signatures(path: Path) -> list[dict[str, Any]]:
    """pdfsig's report split per signature: field name, validity, whether it covers the whole file."""
    out = []
    for block in pdfsig(path).split("Signature #")[1:]:
        field = next((line.split(":", 1)[1].strip() for line in block.splitlines() if "Field Name" in line), "")
        ranges = re.findall(r"\[(\d+) - (\d+)\]", block)
        out.append({"field": field, "valid": "Signature is Valid." in block, "end": int(ranges[-1][1]) if ranges else 0,
                    "total": "Total document signed" in block,
                    # poppler cannot verify RFC 3161 document timestamps (B-LTA); it calls their type unknown
                    "doc_timestamp": "Signature Type: unknown" in block and "Timestamp" in field})
    return out


def assert_pdfsig_ok(path: Path, count: int) -> None:
    sigs = pdfsig_signatures(path)
    assert len(sigs) == count, pdfsig(path)
    assert all(s["valid"] for s in sigs if not s["doc_timestamp"]), pdfsig(path)
    latest = max(sigs, key=lambda s: s["end"])  # pdfsig lists by field order, not by revision
    assert latest["total"], pdfsig(path)


def assert_qpdf_ok(path: Path) -> None:
    tool = need_tool("qpdf")
    result = subprocess.run([tool, "--check", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No syntax or stream encoding errors found" in result.stdout


def pyhanko_statuses(path: Path, root: x509.Certificate, strict: bool = True) -> list:  # type: ignore[type-arg]
    from asn1crypto import x509 as asn1_x509
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp

    from docsign.pki.trust import build_validation_context

    trust = asn1_x509.Certificate.load(root.public_bytes(serialization.Encoding.DER))
    with path.open("rb") as fh:
        reader = PdfFileReader(fh, strict=strict)
        return [validate_pdf_signature(sig, build_validation_context([trust])) if sig.sig_object_type == "/Sig"
                else validate_pdf_timestamp(sig, validation_context=build_validation_context([trust]))
                for sig in reader.embedded_signatures]


def assert_pyhanko_ok(path: Path, root: x509.Certificate, count: int,  # type: ignore[type-arg]
                      strict: bool = True) -> list:
    statuses = pyhanko_statuses(path, root, strict)
    assert len(statuses) == count
    for status in statuses:
        if hasattr(status, "bottom_line"):
            assert status.bottom_line, status.pretty_print_details()
        else:  # a document timestamp
            assert status.valid and status.intact and status.trusted, status.pretty_print_details()
        assert status.docmdp_ok is not False, status.pretty_print_details()
    return statuses


def assert_interop(path: Path, root: x509.Certificate, count: int = 1,  # type: ignore[type-arg]
                   strict: bool = True) -> list:
    """qpdf --check, pdfsig and pyHanko's validator (``strict=False``: pyHanko reading as its CLI's
    --no-strict-syntax does, for files its strict mode refuses to read at all)."""
    assert_qpdf_ok(path)
    assert_pdfsig_ok(path, count)
    return assert_pyhanko_ok(path, root, count, strict)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())
