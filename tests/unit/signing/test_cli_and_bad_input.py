"""`docsign sign` through click's runner: the contract options, and every bad input of issue 3 giving a
typed error, a non-zero exit code equal to the error's, and no output file (nor temporary file)."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from click.testing import CliRunner

from docsign.errors import DocsignError
from docsign.signing import errors as sign_errors
from docsign.signing.cli import sign_command
from tests.unit.signing.helpers import PASS_ENV, assert_interop, leftovers
from tests.unit.signing.pdfgen import make_pdf


def run(*args, env=None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(sign_command, [str(a) for a in args], env=env or {}, catch_exceptions=True)


def error_of(result):  # type: ignore[no-untyped-def]
    assert isinstance(result.exception, DocsignError), result.output + repr(result.exception)
    return result.exception


@pytest.fixture(scope="module")
def garbage_tsa():  # type: ignore[no-untyped-def]
    """An HTTP server that answers every timestamp request with junk."""

    class Junk(BaseHTTPRequestHandler):
        def do_POST(self):  # type: ignore[no-untyped-def]
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.end_headers()
            self.wfile.write(b"\x30\x03garbage")

        def log_message(self, *args):  # type: ignore[no-untyped-def]
            pass

    server = HTTPServer(("127.0.0.1", 0), Junk)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/tsa"
    server.shutdown()


def dead_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"  # nothing listens there once the socket is closed


def test_cli_contract(pki, pdfs, work):  # type: ignore[no-untyped-def]
    out = work / "out.pdf"
    result = run(pdfs.three, out, "--key", pki.leader, "--passphrase-env", PASS_ENV, "--level", "B-T",
                 "--tsa-url", pki.tsa_url, "--role", "approve", "--position", "Chủ tịch", "--reason", "Ký duyệt",
                 "--location", "Hòa Bình", "--certify", env=pki.env)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "approve-1" in result.output
    out2 = work / "out2.pdf"
    result = run(out, out2, "--key", f"pem:{pki.pem_key},{pki.pem_cert},{pki.pem_chain}", "--passphrase-env",
                 PASS_ENV, "--role", "issue", "--number", "7", "--notation", "UBND-VP", "--date", "2026-01-02",
                 "--place", "Hòa Bình", env=pki.env)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert_interop(out2, pki.root, 2)
    assert leftovers(work) == ["out.pdf", "out2.pdf"]


def test_cli_pkcs11(pki, pdfs, work, softhsm):  # type: ignore[no-untyped-def]
    out = work / "token.pdf"
    result = run(pdfs.one, out, "--key", "pkcs11:token=docsign-test;object=leader", "--module", softhsm.module,
                 "--passphrase-env", "TOKEN_PIN", "--role", "approve", env={"TOKEN_PIN": softhsm.pin})
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert_interop(out, pki.root, 1)


def _bad_files(folder):  # type: ignore[no-untyped-def]
    good = make_pdf(folder / "good-src.pdf", 2).read_bytes()
    (folder / "src").mkdir()
    files = {
        "not_pdf": b"PK\x03\x04 this is a zip, not a PDF" * 20,
        "truncated": good[: len(good) // 2],
        "broken_xref": good.replace(b"startxref", b"startxref\n999999\n%"),
    }
    paths = {}
    for label, data in files.items():
        paths[label] = folder / "src" / f"{label}.pdf"
        paths[label].write_bytes(data)
    (folder / "good-src.pdf").rename(folder / "src" / "good.pdf")
    paths["good"] = folder / "src" / "good.pdf"
    encrypted = folder / "src" / "encrypted.pdf"
    from pyhanko.pdf_utils.crypt import StandardSecurityHandler
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.pdf_utils.writer import copy_into_new_writer

    with paths["good"].open("rb") as fh:
        writer = copy_into_new_writer(PdfFileReader(fh))
    writer.security_handler = StandardSecurityHandler.build_from_pw("owner-pw", "user-pw")
    writer._encrypt = writer.add_object(writer.security_handler.as_pdf_object())
    with encrypted.open("wb") as fh:
        writer.write(fh)
    paths["encrypted"] = encrypted
    return paths


CASES = [
    ("not_pdf", {}, sign_errors.NotAPdf),
    ("truncated", {}, sign_errors.DamagedPdf),
    ("broken_xref", {}, sign_errors.DamagedPdf),
    ("encrypted", {}, sign_errors.EncryptedPdf),
    ("wrong_passphrase", {"key": "leader", "pass": "bad-secret-4711"}, "KeyAccessError"),
    ("key_mismatch", {"key": "mismatch"}, sign_errors.CertificateNotUsable),
    ("expired", {"key": "expired"}, sign_errors.CertificateNotUsable),
    ("not_yet_valid", {"key": "future"}, sign_errors.CertificateNotUsable),
    ("no_key_usage", {"key": "no_ku"}, sign_errors.CertificateNotUsable),
    ("tsa_down", {"tsa": "dead"}, sign_errors.TimestampUnavailable),
    ("tsa_garbage", {"tsa": "garbage"}, sign_errors.TimestampUnavailable),
    ("bad_rect", {"rect": "1,2,3"}, sign_errors.BadSignRequest),
    ("missing_input", {"input": "nope.pdf"}, "NotFound"),
]


@pytest.mark.parametrize("case, opts, expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input(pki, work, garbage_tsa, case, opts, expected):  # type: ignore[no-untyped-def]
    files = _bad_files(work)
    source = files.get(case, files["good"])
    if "input" in opts:
        source = work / opts["input"]
    out_dir = work / "out"
    out_dir.mkdir()
    out = out_dir / "signed.pdf"
    key_name = opts.get("key", "leader")
    key = f"pem:{pki.pem_key},{pki.stranger_cert}" if key_name == "mismatch" else getattr(pki, key_name)
    args = [source, out, "--key", key, "--passphrase-env", PASS_ENV]
    env = {PASS_ENV: opts.get("pass", pki.passphrase.decode())}
    if "tsa" in opts:
        args += ["--level", "B-T", "--tsa-url", dead_url() if opts["tsa"] == "dead" else garbage_tsa]
    if "field" in opts:
        args += ["--field", opts["field"]]
    if "rect" in opts:
        args += ["--page", "1", "--rect", opts["rect"]]
    result = run(*args, env=env)
    exc = error_of(result)
    if isinstance(expected, str):
        assert expected in [c.__name__ for c in type(exc).__mro__]
    else:
        assert isinstance(exc, expected), repr(exc)
    assert result.exit_code != 0 and exc.exit_code not in (0, 1)  # docsign's main() exits with exc.exit_code
    assert exc.message and len(exc.message) < 300 and "Traceback" not in exc.message
    assert env[PASS_ENV] not in exc.message
    assert leftovers(out_dir) == []  # nothing written, no temporary file left


def test_exit_codes_through_docsign_main(pki, work):  # type: ignore[no-untyped-def]
    """The real command line: `docsign sign` prints one error line and exits with the error's code."""
    import os
    import subprocess
    import sys

    files = _bad_files(work)
    env = {**os.environ, PASS_ENV: pki.passphrase.decode()}
    cases = [(files["not_pdf"], pki.leader, sign_errors.NotAPdf.exit_code),
             (files["good"], pki.expired, sign_errors.CertificateNotUsable.exit_code)]
    for source, key, code in cases:
        out = work / "o.pdf"
        proc = subprocess.run([sys.executable, "-m", "docsign", "sign", str(source), str(out), "--key", str(key),
                               "--passphrase-env", PASS_ENV], capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == code, proc.stderr
        assert proc.stderr.startswith("error: ") and "Traceback" not in proc.stderr
        assert not out.exists()
