"""Issue 9.1: verifying an uploaded PDF never connects where the upload chose.

The attack: a PDF signed by a signer no trust anchor vouches for, with an untrusted timestamp, whose
certificates' AIA caIssuers, OCSP and CRL URLs all point at a listener on 127.0.0.1 (in the field:
127.0.0.1:6379, Redis). Before, POST /api/v1/verify made the server connect there (about 20 times
a request); now nothing arrives.
"""

from __future__ import annotations

import io
import time

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import async_validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.requests_fetchers import RequestsFetcherBackend
from pyhanko_certvalidator.registry import SimpleCertificateStore

from docsign import aio
from tests.support.listener import listening
from tests.support.pki_server import build_test_pki, free_port, serve_pki
from tests.unit.verification.pdfs import Kit, text_pdf
from tests.web.test_verify_api import make_app


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):  # type: ignore[no-untyped-def]
    """An attacker's B-T PDF whose every certificate URL names 127.0.0.1:<listener port>, and that port."""
    target = free_port()
    store = build_test_pki(tmp_path_factory.mktemp("hostile-pki"), target)  # AIA/OCSP/CRL -> the target
    tsa_port = free_port()
    with serve_pki(store, tsa_port) as tsa:  # only to make the untrusted timestamp; gone before the attack
        kit = Kit(store, f"http://127.0.0.1:{target}", f"{tsa}/pki/tsa")
        issued = kit.signer("mallory", common_name="Mallory")
        # only the signer's own certificate: a verifier must look for its issuer at the AIA URL
        leaf_only = signers.SimpleSigner(signing_cert=issued.signing_cert, signing_key=issued.signing_key,
                                         cert_registry=SimpleCertificateStore())
        data = kit.sign(text_pdf(), leaf_only, level="B-T")
    return data, target


def test_plain_library_fetching_does_connect(hostile):  # type: ignore[no-untyped-def]
    """The control: the same PDF makes pyHanko's own fetchers connect to the listener (so the test below
    can fail)."""
    data, target = hostile
    with listening(port=target) as listener:
        sig = PdfFileReader(io.BytesIO(data)).embedded_signatures[0]
        vc = ValidationContext(trust_roots=[], allow_fetching=True,
                               fetcher_backend=RequestsFetcherBackend(per_request_timeout=1))
        aio.run(async_validate_pdf_signature(sig, vc))
        time.sleep(0.2)
    assert listener.connections > 0


def test_public_api_verify_makes_no_connection(tmp_path, test_pki, hostile):  # type: ignore[no-untyped-def]
    data, target = hostile
    app = make_app(tmp_path, test_pki)
    with listening(port=target) as listener:
        response = app.test_client().post("/api/v1/verify", data=data, content_type="application/pdf")
        time.sleep(0.2)
    assert response.status_code == 200, response.get_data(as_text=True)
    sig = response.get_json()["signatures"][0]
    assert sig["indication"] == "INDETERMINATE" and not sig["trusted"]
    assert listener.connections == 0, listener.first_bytes


def test_allowing_private_addresses_still_does_not_follow_the_upload(tmp_path, test_pki, hostile):  # type: ignore[no-untyped-def]
    """DOCSIGN_FETCH_ALLOW_PRIVATE lifts only the address rule: issuer certificates still come only from
    hosts the anchors or the configuration name."""
    data, target = hostile
    app = make_app(tmp_path, test_pki, FETCH_ALLOW_PRIVATE="1")
    with listening(port=target) as listener:
        response = app.test_client().post("/api/v1/verify", data=data, content_type="application/pdf")
        time.sleep(0.2)
    assert response.status_code == 200
    assert listener.connections == 0, listener.first_bytes


def test_the_cli_makes_no_connection_either(tmp_path, hostile):  # type: ignore[no-untyped-def]
    from tests.conftest import run_cli

    data, target = hostile
    path = tmp_path / "hostile.pdf"
    path.write_bytes(data)
    env = {"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "keys"),
           "PATH": "/usr/bin:/bin"}
    with listening(port=target) as listener:
        result = run_cli("verify", str(path), "--json", env=env)
        time.sleep(0.2)
    assert result.returncode == 2, result.stderr
    assert listener.connections == 0
