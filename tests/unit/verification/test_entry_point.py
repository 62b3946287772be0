"""Issue 12.6: one way to verify. :func:`docsign.verification.verify` owns the trust anchors (a change made
by `docsign pki trust add/remove` in another process counts at once) and the bounded sandbox; every face
calls it."""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path

from docsign.config import load_settings
from docsign.verification import trust_fingerprint, verify
from tests.conftest import run_cli

REPO = Path(__file__).resolve().parents[3]


def test_trust_add_and_remove_in_another_process_count_at_once(tmp_path, kit, docs):  # type: ignore[no-untyped-def]
    env = {"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "keys"),
           "PATH": "/usr/bin:/bin"}
    settings = load_settings(env)
    root = tmp_path / "root.der"
    root.write_bytes(kit.root.dump())
    before = trust_fingerprint(settings)
    assert verify(docs.b_lt, settings, offline=True).signatures[0].sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"

    added = run_cli("pki", "trust", "add", str(root), env=env)
    assert added.returncode == 0, added.stderr
    assert trust_fingerprint(settings) != before
    assert verify(docs.b_lt, settings, offline=True).indication.value == "TOTAL_PASSED"

    removed = run_cli("pki", "trust", "remove", hashlib.sha256(kit.root.dump()).hexdigest(), env=env)
    assert removed.returncode == 0, removed.stderr
    assert trust_fingerprint(settings) == before
    assert verify(docs.b_lt, settings, offline=True).signatures[0].sub_indication == "NO_CERTIFICATE_CHAIN_FOUND"


def test_every_face_calls_the_entry_point_and_none_calls_the_engine() -> None:
    """No module but the entry point and the sandbox worker runs the engine or the sandbox directly."""
    may_run_the_engine = {"docsign/verification/__init__.py", "docsign/verification/sandbox.py"}
    offenders = []
    for path in sorted((REPO / "docsign").rglob("*.py")):
        relative = str(path.relative_to(REPO))
        if relative in may_run_the_engine:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            if any(n.startswith(("docsign.verification.engine.verify_pdf", "docsign.verification.sandbox"))
                   or n.endswith(("verify_bounded", "verify_pdf")) for n in names):
                offenders.append(relative)
    assert offenders == []
    entry = re.compile(r"from docsign\.verification import \(?[^)\n]*\bverify\b|verification\.verify\(")
    callers = {str(p.relative_to(REPO)) for p in (REPO / "docsign").rglob("*.py") if entry.search(p.read_text())}
    assert {"docsign/web/verify.py", "docsign/verification/cli.py", "docsign/exchange/service.py",
            "docsign/documents/service.py"} <= callers
