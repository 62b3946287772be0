"""`docsign verify` and `docsign pki trust`: exit codes of the contract, no traceback on any stream."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from docsign.pki.trust_cli import trust

RUN = "import sys; from docsign.verification.cli import verify; sys.argv[0] = 'docsign verify'; verify()"


@pytest.fixture
def env(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    values = {"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "keys")}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def root_pem(kit, tmp_path):  # type: ignore[no-untyped-def]
    from asn1crypto import pem

    path = tmp_path / "root.pem"
    path.write_bytes(pem.armor("CERTIFICATE", kit.root.dump()))
    return path


def run(args, env):  # type: ignore[no-untyped-def]
    import os

    return subprocess.run([sys.executable, "-c", RUN, *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


@pytest.mark.parametrize(("name", "trusted", "code"), [("b_lt", True, 0), ("b_b", False, 2)])
def test_exit_codes_for_reports(docs, tmp_path, env, root_pem, name, trusted, code):  # type: ignore[no-untyped-def]
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(getattr(docs, name))
    result = run([pdf, "--json", *(["--trust", root_pem] if trusted else [])], env)
    assert result.returncode == code, result.stderr
    body = json.loads(result.stdout)
    assert body["report_version"] == 1
    assert "Traceback" not in result.stderr + result.stdout


def test_failed_signature_and_no_signature_exit_1(docs, tmp_path, env, root_pem):  # type: ignore[no-untyped-def]
    broken = bytearray(docs.b_b)
    broken[broken.index(b"page 1")] ^= 1
    (tmp_path / "broken.pdf").write_bytes(bytes(broken))
    (tmp_path / "plain.pdf").write_bytes(docs.plain)
    for name in ("broken.pdf", "plain.pdf"):
        result = run([tmp_path / name, "--trust", root_pem, "--offline"], env)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    assert "HASH_FAILURE" in run([tmp_path / "broken.pdf", "--trust", root_pem], env).stdout


@pytest.mark.parametrize("content", [b"", b"not a pdf", b"%PDF-1.7 garbage"])
def test_unreadable_input_exits_3(tmp_path, env, content):  # type: ignore[no-untyped-def]
    path = tmp_path / "x.pdf"
    path.write_bytes(content)
    result = run([path], env)
    assert result.returncode == 3
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    assert run([tmp_path / "missing.pdf"], env).returncode == 3


def test_trust_add_list_remove(env, root_pem, kit):  # type: ignore[no-untyped-def]
    runner = CliRunner()
    added = runner.invoke(trust, ["add", str(root_pem)])
    assert added.exit_code == 0, added.output
    fingerprint = added.output.split()[1]
    listed = runner.invoke(trust, ["list"])
    assert fingerprint in listed.output and "Test Root CA" in listed.output
    assert runner.invoke(trust, ["remove", fingerprint[:16]]).exit_code == 0
    assert fingerprint not in runner.invoke(trust, ["list"]).output


def test_etsi_report_file(docs, tmp_path, env, root_pem):  # type: ignore[no-untyped-def]
    from lxml import etree

    pdf, out = tmp_path / "two.pdf", tmp_path / "report.xml"
    pdf.write_bytes(docs.two)
    result = run([pdf, "--trust", root_pem, "--offline", "--etsi-report", out], env)
    assert result.returncode == 0, result.stderr
    root = etree.fromstring(out.read_bytes(), etree.XMLParser(resolve_entities=False, no_network=True))
    vr = "http://uri.etsi.org/19102/v1.2.1#"
    assert [e.text for e in root.iter(f"{{{vr}}}MainIndication")] == ["urn:etsi:019102:mainindication:total-passed"] * 2
    assert not list(tmp_path.glob(".report.xml.*"))  # no temporary file left behind


def test_etsi_report_for_a_document_without_signature(docs, tmp_path, env):  # type: ignore[no-untyped-def]
    pdf, out = tmp_path / "plain.pdf", tmp_path / "report.xml"
    pdf.write_bytes(docs.plain)
    result = run([pdf, "--offline", "--etsi-report", out], env)
    assert result.returncode == 1 and "no ETSI report" in result.stderr and not out.exists()
    assert "Traceback" not in result.stderr
