"""`docsign verify FILE [--json] [--trust ROOT ...] [--offline]`; exit 0/1/2/3 as design.md says."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from docsign.errors import DocsignError
from docsign.verification.errors import EXIT_UNREADABLE, UnreadableDocument


@click.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report (design.md contract).")
@click.option("--trust", "trust_files", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Also trust the certificates in this PEM/DER file or folder (repeatable).")
@click.option("--offline", is_flag=True, help="Never fetch OCSP, CRLs or certificates over the network.")
def verify(file: Path, as_json: bool, trust_files: tuple[Path, ...], offline: bool) -> None:
    """Verify every signature in FILE.

    Exit status: 0 all signatures TOTAL_PASSED, 1 TOTAL_FAILED or no signature, 2 INDETERMINATE,
    3 the file cannot be read.
    """
    from docsign.config import load_settings
    from docsign.pki.trust import default_trust_store, load_certificates
    from docsign.verification.render import to_json, to_text
    from docsign.verification.sandbox import verify_bounded

    try:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise UnreadableDocument(f"cannot read {file} ({exc.strerror})") from None
        roots = default_trust_store(load_settings()).roots()
        for path in trust_files:
            files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
            for f in files:
                roots.extend(load_certificates(f.read_bytes(), str(f)))
        report = verify_bounded(data, roots, offline=offline)
    except DocsignError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_UNREADABLE if exc.exit_code == EXIT_UNREADABLE or isinstance(exc, UnreadableDocument)
                 else exc.exit_code)
    click.echo(to_json(report) if as_json else to_text(report))
    sys.exit(report.exit_code)
