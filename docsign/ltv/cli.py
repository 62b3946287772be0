"""`docsign ltv status` and `docsign ltv renew`: the long-term evidence of kept documents."""

from __future__ import annotations

import datetime as dt
import json

import click

VN_TZ = dt.timezone(dt.timedelta(hours=7))


def _vn(moment: dt.datetime | None) -> str:
    return moment.astimezone(VN_TZ).strftime("%Y-%m-%d %H:%M +07:00") if moment else "—"


@click.group("ltv")
def ltv_group() -> None:
    """Long-term evidence (PAdES B-LT/B-LTA) of kept documents."""


@ltv_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per document, for machines.")
def ltv_status(as_json: bool) -> None:
    """Each kept document with its level and the date until which its evidence holds (earliest first)."""
    from docsign.cli import db_session, settings
    from docsign.ltv import service

    with db_session() as session:
        rows = service.status(session, settings())
    if as_json:
        for row in rows:
            click.echo(json.dumps({"document": row.document_id, "agency": row.agency_code, "level": row.level,
                                   "evidence_until": row.evidence_until.isoformat() if row.evidence_until else None,
                                   "state": row.state, "due": row.due, "attempts": row.attempts,
                                   "last_error": row.last_error}, ensure_ascii=False))
        return
    if not rows:
        click.echo("no kept documents yet / chưa có văn bản nào được lưu giữ")
        return
    click.echo(f"{'doc':>6}  {'agency':<14} {'level':<6} {'evidence holds until':<24} {'state':<8} title")
    for row in rows:
        state = row.state + (" due" if row.due and row.state == "ok" else "")
        click.echo(f"{row.document_id:>6}  {row.agency_code:<14} {row.level or '—':<6} {_vn(row.evidence_until):<24} "
                   f"{state:<8} {row.title[:50]}")
        if row.last_error:
            click.echo(f"{'':>8}last attempt failed ({row.attempts}×): {row.last_error}")


@ltv_group.command("renew")
@click.option("--before", "before_days", type=int, default=None,
              help="Renew documents whose evidence ends within this many days (default DOCSIGN_LTV_RENEW_DAYS_BEFORE).")
@click.option("--document", "document_id", type=int, default=None, help="Only this document.")
def ltv_renew(before_days: int | None, document_id: int | None) -> None:
    """Extend and renew now, in this process, what is due (or what --before makes due)."""
    from docsign.cli import db_session, settings
    from docsign.db import session_scope
    from docsign.errors import DocsignError
    from docsign.ltv import service

    s = settings()
    days = service.checked_days(before_days, s)
    with db_session() as session:
        if document_id is not None:
            service.require_tracked(session, document_id)
            targets = [document_id]
        else:
            targets = service.due_documents(session, days)
    failures: list[DocsignError] = []
    for target in targets:
        try:
            with session_scope(s.database_url) as session:
                outcome = service.maintain(session, s, target, before_days=days)
        except DocsignError as exc:
            with session_scope(s.database_url) as session:
                service.record_failure(session, target, exc.message, final=True)
            click.echo(f"document {target}: FAILED: {exc.message}")
            failures.append(exc)
            continue
        until = outcome.evidence.until if outcome.evidence else None
        level = outcome.evidence.level if outcome.evidence else ""
        click.echo(f"document {target}: {outcome.action} {level}; evidence holds until {_vn(until)}".rstrip())
        if outcome.detail:
            click.echo(f"document {target}: FAILED to renew: {outcome.detail}")
            failures.append(service.EvidenceNotRenewable(outcome.detail))
    if not targets:
        click.echo(f"nothing due within {days} days")
    if failures:
        first = failures[0]  # its kind sets the exit code; the message counts them all
        first.message = f"{len(failures)} of {len(targets)} documents could not be renewed: {first.message}"
        raise first
