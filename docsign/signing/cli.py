"""`docsign sign`: the command-line face of the signing engine.

It parses options into a :class:`SignRequest` and a :class:`KeySpec`, and raises typed errors; the
main `docsign` group turns them into ``error: message`` and the error's exit code.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import click

from docsign.errors import InvalidInput
from docsign.pki.keys import load_key, parse_keyref
from docsign.signing.errors import BadSignRequest
from docsign.signing.request import Level, Placement, Role, SignRequest
from docsign.signing.service import sign_pdf


def _rect(value: str | None, option: str) -> tuple[float, float, float, float] | None:
    if value is None:
        return None
    try:
        x1, y1, x2, y2 = (float(v) for v in value.split(","))
    except ValueError:
        raise BadSignRequest(f"{option} takes four numbers x1,y1,x2,y2 in points, not {value!r}") from None
    if x2 <= x1 or y2 <= y1:
        raise BadSignRequest(f"{option} {value}: x2 must be greater than x1 and y2 greater than y1")
    return (x1, y1, x2, y2)


def _read_image(path: str | None) -> bytes | None:
    if path is None:
        return None
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BadSignRequest(f"cannot read the image {path} ({exc.strerror})") from None
    if not data.startswith(b"\x89PNG"):
        raise BadSignRequest(f"{path} is not a PNG image (signature and seal images are PNG with transparency)")
    return data


def _registered_key(keyref: str, passphrase_env: str | None, module: str | None):  # type: ignore[no-untyped-def]
    """agency:/user: references need the database; imported only for them."""
    from docsign.config import load_settings
    from docsign.db import session_scope

    settings = load_settings()
    with session_scope(settings.database_url) as session:
        return parse_keyref(keyref, passphrase_env=passphrase_env, module=module, session=session, settings=settings)


@click.command("sign")
@click.argument("input_pdf", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("output_pdf", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "keyref", required=True,
              help="FILE.p12 | pem:KEY,CERT[,CHAIN] | pkcs11:token=..;object=.. | agency:CODE | user:LOGIN")
@click.option("--passphrase-env", metavar="VAR", help="Environment variable holding the passphrase or PIN "
              "(default DOCSIGN_KEY_PASSPHRASE). Never put a passphrase on the command line.")
@click.option("--module", metavar="LIB", help="PKCS#11 module (.so) for pkcs11: keys.")
@click.option("--level", type=click.Choice([lv.value for lv in Level]), default=Level.B_B.value, show_default=True)
@click.option("--tsa-url", metavar="URL", help="RFC 3161 timestamp authority (default DOCSIGN_TSA_URL).")
@click.option("--role", type=click.Choice([r.value for r in Role]), help="Decree 30 signing role.")
@click.option("--field", "field_name", metavar="NAME",
              help="Sign this empty signature field, or create a field of that name.")
@click.option("--page", type=int, help="Page for the visible block (1 is the first, -1 the last).")
@click.option("--rect", metavar="x1,y1,x2,y2", help="Visible block rectangle in points.")
@click.option("--reason")
@click.option("--location")
@click.option("--certify", is_flag=True, help="Certification signature (DocMDP); first signature only.")
@click.option("--docmdp", type=click.IntRange(1, 3), default=2, show_default=True,
              help="DocMDP permission with --certify.")
@click.option("--signer-name", help="Full name shown in the block (default: the certificate's name).")
@click.option("--position", help="Job title above the signature image, e.g. 'Chủ tịch'.")
@click.option("--prefix", "signing_prefix", help="TM./KT./Q./TL./TUQ. line, e.g. 'TM. Ủy ban nhân dân'.")
@click.option("--image", type=click.Path(dir_okay=False), help="PNG: handwritten signature or red seal.")
@click.option("--agency-name", help="Agency name (copy and income blocks, demo seal).")
@click.option("--number", help="Document number (issue, appendix) or arrival number (income).")
@click.option("--notation", help="Notation, e.g. UBND-VP.")
@click.option("--date", "date_", type=click.DateTime(["%Y-%m-%d"]), help="Issue or arrival date (YYYY-MM-DD).")
@click.option("--place", help="Place before the date line, e.g. 'Hòa Bình'.")
@click.option("--seal-size-mm", type=click.FloatRange(5, 100), help="The seal's real size (issue); default: "
              "from the PNG's resolution, else 36 mm.")
@click.option("--copy-form", default="SAO Y", show_default=True, help="SAO Y, SAO LỤC or TRÍCH SAO.")
@click.option("--pdf-password-env", metavar="VAR", help="Environment variable holding the PDF's password.")
def sign_command(input_pdf: Path, output_pdf: Path, keyref: str, passphrase_env: str | None, module: str | None,
                 level: str, tsa_url: str | None, role: str | None, field_name: str | None, page: int | None,
                 rect: str | None, reason: str | None, location: str | None, certify: bool, docmdp: int,
                 signer_name: str | None, position: str | None, signing_prefix: str | None, image: str | None,
                 agency_name: str | None, number: str | None, notation: str | None, date_: dt.datetime | None,
                 place: str | None, seal_size_mm: float | None, copy_form: str,
                 pdf_password_env: str | None) -> None:
    """Sign IN.pdf into OUT.pdf (PAdES). OUT is written completely or not at all."""
    if (page is None) != (rect is None):
        raise BadSignRequest("--page and --rect go together")
    chosen = Level(level)
    tsa = tsa_url
    if chosen.needs_timestamp and not tsa:
        from docsign.config import load_settings

        tsa = load_settings().tsa_url
    pdf_password = None
    if pdf_password_env:
        if pdf_password_env not in os.environ:
            raise InvalidInput(f"the environment variable {pdf_password_env} is not set")
        pdf_password = os.environ[pdf_password_env].encode()
    placement_rect = _rect(rect, "--rect")
    request = SignRequest(
        level=chosen, role=Role(role) if role else None, field_name=field_name,
        placement=Placement(page, placement_rect) if page is not None and placement_rect else None,
        reason=reason, location=location, certify=certify, docmdp=docmdp, tsa_url=tsa,
        signer_name=signer_name, position=position, signing_prefix=signing_prefix, image=_read_image(image),
        agency_name=agency_name, number=number, notation=notation, date=date_.date() if date_ else None,
        place=place, copy_form=copy_form, seal_size_mm=seal_size_mm,
    )
    if keyref.startswith(("agency:", "user:")):
        spec = _registered_key(keyref, passphrase_env, module)
    else:
        spec = parse_keyref(keyref, passphrase_env=passphrase_env, module=module)
    result = sign_pdf(input_pdf, output_pdf, load_key(spec), request, pdf_password=pdf_password)
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"signed {result.output} ({result.level.value}, field {result.field_name}, {result.size} bytes)")
