"""`docsign register ...`: the outgoing register (sổ đăng ký văn bản đi) and the arrivals register (sổ văn
bản đến) of an agency: list, filter by date, export (CSV, XLSX, PDF), take a number, assign handling."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.orm import Session

DATE = click.DateTime(["%Y-%m-%d", "%d/%m/%Y"])


@contextmanager
def _session() -> Iterator[Session]:
    from docsign.config import load_settings
    from docsign.db import check_database, session_scope

    settings = load_settings()
    check_database(settings.database_url)
    with session_scope(settings.database_url) as session:
        yield session


def _day(value: dt.datetime | None) -> dt.date | None:
    return value.date() if value else None


def _write(data: bytes, output: Path | None, fmt: str) -> None:
    """Write the whole export or nothing: to a temporary file renamed into place, or to standard output."""
    if output is None:
        if fmt in ("xlsx", "pdf") and sys.stdout.isatty():
            raise click.UsageError(f"{fmt} is binary: give --output FILE (or redirect standard output)")
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    tmp = output.with_name(f".{output.name}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(output)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        from docsign.errors import StorageError

        raise StorageError(f"cannot write {output} ({exc.strerror})") from None


@click.group("register")
def register_group() -> None:
    """The registers of Decree 30/2020: outgoing numbers and arrivals."""


def _listing(kind: str, agency_code: str, date_from: dt.datetime | None, date_to: dt.datetime | None,
             fmt: str, output: Path | None) -> None:
    from docsign.documents import export, register
    from docsign.exchange.directory import get_agency

    with _session() as session:
        agency = get_agency(session, agency_code)
        start, end = _day(date_from), _day(date_to)
        if kind == "arrivals":
            table = export.arrivals_table(register.arrivals(session, agency.id, start, end), agency.name, start, end)
        else:
            table = export.outgoing_table(register.outgoing(session, agency.id, start, end), agency.name, start, end)
    if fmt == "table":
        click.echo(table.title)
        click.echo(table.period)
        click.echo(" | ".join(table.headers))
        for row in table.rows:
            click.echo(" | ".join(row))
        click.echo(f"({len(table.rows)} entries)")
        return
    _write(export.render(table, fmt), output, fmt)


def _listing_options(command):  # type: ignore[no-untyped-def]
    for option in reversed([
        click.option("--agency", "agency_code", required=True, help="The agency's code (QCVN 102)."),
        click.option("--from", "date_from", type=DATE, help="First day (YYYY-MM-DD or DD/MM/YYYY)."),
        click.option("--to", "date_to", type=DATE, help="Last day, included."),
        click.option("--format", "fmt", type=click.Choice(["table", "csv", "xlsx", "pdf"]), default="table",
                     show_default=True),
        click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write to this file (default: standard output)."),
    ]):
        command = option(command)
    return command


@register_group.command("arrivals")
@_listing_options
def arrivals(agency_code: str, date_from: dt.datetime | None, date_to: dt.datetime | None, fmt: str,
             output: Path | None) -> None:
    """The arrivals register (sổ đăng ký văn bản đến)."""
    _listing("arrivals", agency_code, date_from, date_to, fmt, output)


@register_group.command("outgoing")
@_listing_options
def outgoing(agency_code: str, date_from: dt.datetime | None, date_to: dt.datetime | None, fmt: str,
             output: Path | None) -> None:
    """The outgoing register (sổ đăng ký văn bản đi), every book."""
    _listing("outgoing", agency_code, date_from, date_to, fmt, output)


@register_group.command("number")
@click.option("--agency", "agency_code", required=True)
@click.option("--notation", required=True, help="Ký hiệu, e.g. UBND-VP.")
@click.option("--subject", required=True, help="Trích yếu.")
@click.option("--type-name", help="Loại văn bản (the series of a legal normative document).")
@click.option("--book", type=click.Choice(["other", "legal"]), default="other", show_default=True)
@click.option("--date", "issued_on", type=DATE, help="Date of the document (default: today, +07:00).")
@click.option("--number", type=int, help="The number you expect (refused unless it is the book's next one).")
@click.option("--signer", help="Người ký.")
def take(agency_code: str, notation: str, subject: str, type_name: str | None, book: str,
         issued_on: dt.datetime | None, number: int | None, signer: str | None) -> None:
    """Take the next number of a book for a document signed on paper; prints NUMBER/NOTATION DATE."""
    from docsign import audit
    from docsign.documents import register
    from docsign.exchange.directory import get_agency

    with _session() as session:
        agency = get_agency(session, agency_code)
        entry = register.take_number(session, agency.id, kind=register.parse_kind(book),
                                     issued_on=_day(issued_on) or register.today(), notation=notation.strip().upper(),
                                     subject=subject, type_name=type_name, number=number, signer=signer)
        audit.record(session, "cli", "register.number", agency_id=agency.id, object_type="register_outgoing",
                     object_id=entry.id, details={"number": entry.number, "notation": entry.notation})
        click.echo(f"{entry.number_text}/{entry.notation} {entry.issued_on:%Y-%m-%d}")


@register_group.command("assign")
@click.argument("entry_id", type=int)
@click.option("--agency", "agency_code", required=True)
@click.option("--unit", help="Đơn vị hoặc người nhận (empty clears it).")
@click.option("--due", type=DATE, help="Thời hạn giải quyết.")
def assign(entry_id: int, agency_code: str, unit: str | None, due: dt.datetime | None) -> None:
    """Record who handles an arrival and by when."""
    from docsign import audit
    from docsign.documents import register
    from docsign.exchange.directory import get_agency

    with _session() as session:
        agency = get_agency(session, agency_code)
        entry = register.set_handling(session, agency.id, entry_id, handling_unit=unit, due_date=_day(due))
        audit.record(session, "cli", "register.assign", agency_id=agency.id, object_type="register_arrival",
                     object_id=entry.id, details={"unit": entry.handling_unit, "due": str(entry.due_date or "")})
        click.echo(f"arrival {entry.number_text or entry.id}: {entry.handling_unit or '-'} "
                   f"until {entry.due_date or '-'}")
