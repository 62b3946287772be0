"""`docsign verify FILE [--json] [--trust ROOT ...] [--offline] [--etsi-report OUT.xml]`; exit 0/1/2/3 as
design.md says."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from docsign.errors import EX_CANTCREAT, DocsignError
from docsign.verification.errors import EXIT_UNREADABLE, UnreadableDocument


@click.command("verify")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report (design.md contract).")
@click.option("--trust", "trust_files", multiple=True, type=click.Path(exists=True, path_type=Path),
              help="Also trust the certificates in this PEM/DER file or folder (repeatable).")
@click.option("--offline", is_flag=True, help="Never fetch OCSP, CRLs or certificates over the network.")
@click.option("--etsi-report", "etsi_out", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Also write the ETSI TS 119 102-2 XML validation report to this file.")
def verify(file: Path, as_json: bool, trust_files: tuple[Path, ...], offline: bool, etsi_out: Path | None) -> None:
    """Verify every signature in FILE.

    Exit status: 0 all signatures TOTAL_PASSED, 1 TOTAL_FAILED or no signature, 2 INDETERMINATE,
    3 the file cannot be read. With --etsi-report, a document without signatures writes no XML
    (a message on stderr says so; the exit status is still 1).
    """
    from docsign.config import load_settings
    from docsign.pki.trust import load_certificates
    from docsign.verification import verify as verify_document
    from docsign.verification.render import to_json, to_text

    try:
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise UnreadableDocument(f"cannot read {file} ({exc.strerror})") from None
        extra_roots = []
        for path in trust_files:
            files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
            for f in files:
                extra_roots.extend(load_certificates(f.read_bytes(), str(f)))
        report = verify_document(data, load_settings(), offline=offline, etsi_report=etsi_out is not None,
                                 extra_roots=extra_roots)
    except DocsignError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(EXIT_UNREADABLE if exc.exit_code == EXIT_UNREADABLE or isinstance(exc, UnreadableDocument)
                 else exc.exit_code)
    click.echo(to_json(report) if as_json else to_text(report))
    if etsi_out is not None:
        if report.etsi_xml is None:
            click.echo("note: the document has no signature, so no ETSI report was written", err=True)
        else:
            try:
                _write_atomically(etsi_out, report.etsi_xml)
            except OSError as exc:
                click.echo(f"error: cannot write {etsi_out} ({exc.strerror})", err=True)
                sys.exit(EX_CANTCREAT)
    sys.exit(report.exit_code)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write the whole file or leave none (a temporary file beside it, then a rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
