"""Malformed PDFs from pyHanko's test data (tests/corpus/README.md): each ends in a report or in the
one-line "cannot be read" error (exit 3), never in an exception of another kind, and the CLI prints
no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from docsign.errors import DocsignError
from docsign.verification.engine import verify_pdf
from docsign.verification.report import Indication

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
MALFORMED = sorted((CORPUS / "malformed").glob("*.pdf"))


@pytest.mark.parametrize("path", MALFORMED, ids=lambda p: p.name)
def test_report_or_exit_3(path: Path) -> None:
    try:
        report = verify_pdf(path.read_bytes(), [], offline=True)
    except DocsignError as exc:
        assert exc.exit_code == 3 and exc.http_status in (400, 413, 415), exc
        assert "\n" not in exc.message
        return
    assert all(s.indication is not Indication.TOTAL_PASSED for s in report.signatures)


def test_cli_gives_one_line_and_a_contract_exit_code(tmp_path: Path) -> None:
    """The command on every corpus file (signed and malformed): exit 0-3, no traceback."""
    files = [*MALFORMED, *sorted((CORPUS / "dss").glob("*.pdf"))[:3]]
    script = ("import sys\nfrom click.testing import CliRunner\nfrom docsign.verification.cli import verify\n"
              "for f in sys.argv[1:]:\n"
              "    r = CliRunner().invoke(verify, [f, '--offline'])\n"
              "    print(f, r.exit_code, 'Traceback' in r.output, sep='|')\n")
    env_home = {"DOCSIGN_DATA_DIR": str(tmp_path / "var"), "DOCSIGN_KEYS_DIR": str(tmp_path / "keys")}
    result = subprocess.run([sys.executable, "-c", script, *map(str, files)], capture_output=True, text=True,
                            env={**os.environ, **env_home}, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(files)
    for line in lines:
        _, code, traceback = line.split("|")
        assert code in ("0", "1", "2", "3") and traceback == "False", line
