"""`docsign report ...`: statistics over the records. `docsign report adoption --from --to` prints, per
agency and month, how far the agencies have moved to electronic documents, or writes it as CSV/XLSX."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("report")
def report_group() -> None:
    """Statistics over the records."""


@report_group.command("adoption")
@click.option("--from", "date_from", required=True, metavar="YYYY-MM[-DD]",
              help="First month (or day) of the period, Vietnam time.")
@click.option("--to", "date_to", required=True, metavar="YYYY-MM[-DD]", help="Last month (or day), inclusive.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "xlsx"]), default="table", show_default=True)
@click.option("--agency", "agency_code", default=None, help="Only this agency and the agencies under it.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file (whole or not at all) instead of standard output.")
def report_adoption(date_from: str, date_to: str, fmt: str, agency_code: str | None, output: Path | None) -> None:
    """Documents issued with both signatures, received electronically, registered the same day, rejected
    (with reasons), answered late and still sent on paper: per agency and month, rolled up to the parent."""
    from docsign.documents.cli import _session, _write
    from docsign.reports import export
    from docsign.reports.adoption import adoption, parse_period
    from docsign.reports.service import agencies_for_code

    period = parse_period(date_from, date_to)  # refused before anything is opened or written
    with _session() as session:
        report = adoption(session, period, agencies_for_code(session, agency_code))
    if fmt != "table":
        _write(export.render(report, fmt), output, fmt)
        return
    table = export.adoption_table(report)
    lines = [table.title, table.period, " | ".join(c.en for c in table.columns)]
    lines += [" | ".join(str(v) for v in row) for row in table.rows]
    lines.append(f"({len(report.agencies)} agencies, {len(report.period.months)} months)")
    text = "\n".join(lines) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        _write(text.encode(), output, "csv")
