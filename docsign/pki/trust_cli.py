"""`docsign pki trust add|list|remove`: the trust anchors verification relies on."""

from __future__ import annotations

from pathlib import Path

import click


def _store():  # type: ignore[no-untyped-def]
    from docsign.config import load_settings
    from docsign.pki.trust import default_trust_store

    return default_trust_store(load_settings())


@click.group("trust")
def trust() -> None:
    """Trust anchors: the demo roots plus certificates an admin imports."""


@trust.command("add")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
def trust_add(path: Path) -> None:
    """Import every certificate in PATH (a PEM or DER file, or a folder of them)."""
    for anchor in _store().add(path):
        click.echo(f"added {anchor.fingerprint}  {anchor.subject}")


@trust.command("list")
def trust_list() -> None:
    """Show every trust anchor with its SHA-256 fingerprint, source and expiry."""
    anchors = _store().anchors()
    if not anchors:
        click.echo("no trust anchors (run `docsign init --demo` or `docsign pki trust add FILE`)")
    for anchor in anchors:
        click.echo(f"{anchor.fingerprint}  {anchor.source:<14} until {anchor.not_after:%Y-%m-%d}  {anchor.subject}")


@trust.command("remove")
@click.argument("fingerprint")
def trust_remove(fingerprint: str) -> None:
    """Remove an imported anchor by its SHA-256 fingerprint (or a unique prefix of 8+ hex digits)."""
    _store().remove(fingerprint)
    click.echo(f"removed {fingerprint}")
