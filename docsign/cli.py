"""The `docsign` command line. Errors are translated into one line and one exit code here, and only here."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy.orm import Session

from docsign.config import Settings, load_settings, prepare_data_dir
from docsign.db import check_database, session_scope
from docsign.errors import EX_SOFTWARE, DocsignError, ServiceUnavailable


def settings() -> Settings:
    return load_settings()


@contextmanager
def db_session() -> Iterator[Session]:
    s = settings()
    check_database(s.database_url)
    with session_scope(s.database_url) as session:
        yield session


def require_initialised(s: Settings) -> None:
    from docsign import migrations

    check_database(s.database_url)
    if migrations.current_revision(s.database_url) is None:
        raise ServiceUnavailable("the database is not initialised: run `docsign init` (or `docsign init --demo`)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="docsign")
def cli() -> None:
    """docsign: sign, exchange and verify documents between government agencies."""


# -- setting up ----------------------------------------------------------------------------------
@cli.command()
@click.option("--demo", is_flag=True, help="Add the demo PKI, demo agencies and demo users.")
def init(demo: bool) -> None:
    """Create or migrate the database and folders (safe to run again)."""
    from docsign import migrations

    s = settings()
    prepare_data_dir(s)
    check_database(s.database_url)
    before = migrations.current_revision(s.database_url)
    migrations.upgrade(s.database_url)
    after = migrations.current_revision(s.database_url)
    click.echo(f"database: {'already at' if before == after else 'migrated to'} revision {after}")
    from docsign.audit import adopt_existing

    with session_scope(s.database_url) as session:
        if adopted := adopt_existing(session, s):
            click.echo(f"audit log: anchored the {adopted} chains recorded before this version")
    if not demo:
        return
    from docsign.demo import DEMO_PASSWORD, seed_demo

    s.keys_dir.mkdir(parents=True, exist_ok=True)
    with session_scope(s.database_url) as session:
        logins = seed_demo(session, s)
    click.echo(f"demo PKI: {s.keys_dir / 'demo'} (for trying docsign out only)")
    click.echo(f"demo logins (password '{DEMO_PASSWORD}'):")
    for entry in logins:
        click.echo(f"  {entry.login:<22} {entry.role:<8} {entry.agency}")
    click.echo(f"open {s.public_url}/ after `docsign run`")


@cli.group()
def db() -> None:
    """Database schema migrations."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    from docsign import migrations

    migrations.upgrade(settings().database_url, revision)


@db.command("downgrade")
@click.argument("revision")
def db_downgrade(revision: str) -> None:
    from docsign import migrations

    migrations.downgrade(settings().database_url, revision)


@db.command("revision")
@click.option("-m", "--message", required=True)
def db_revision(message: str) -> None:
    """Write a new migration from the difference between the models and the database (for developers)."""
    from alembic import command

    from docsign import migrations

    command.revision(migrations.alembic_config(settings().database_url), message=message, autogenerate=True)


# -- serving -------------------------------------------------------------------------------------
@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", "web_workers", default=2, show_default=True, type=click.IntRange(1, 64))
def web(host: str, port: int, web_workers: int) -> None:
    """Serve the web app and the API (gunicorn)."""
    from docsign.health import check_broker
    from docsign.web.server import serve

    s = settings()
    prepare_data_dir(s)
    _observability(s, "web")
    require_initialised(s)
    check_broker(s.broker_url)
    _exit_when_stopped(lambda: serve(s, host, port, web_workers))


@cli.command()
@click.option("--agency", "agency_code", help="Consume only this agency's queue (its own document system node).")
@click.option("--all", "all_queues", is_flag=True, help="Consume every agency's queue and the default queue.")
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(1, 64))
@click.option("--beat", is_flag=True, help="Also run the periodic jobs' scheduler and the long-term evidence tasks "
                                           "(queue docsign.ltv); exactly one worker of a deployment should.")
def worker(agency_code: str | None, all_queues: bool, concurrency: int, beat: bool) -> None:
    """Run a Celery worker."""
    if agency_code and all_queues:
        raise click.UsageError("give either --agency CODE or --all, not both")
    s = settings()
    prepare_data_dir(s)
    _observability(s, "worker")
    from docsign.exchange.directory import get_agency, list_agencies
    from docsign.health import check_broker
    from docsign.verification import speedups
    from workers.app import BEAT_SCHEDULE_FILE, DEFAULT_QUEUE, agency_queue, celery_app

    require_initialised(s)
    check_broker(s.broker_url)
    speedups.log_startup_check()
    with session_scope(s.database_url) as session:
        if agency_code:
            queues = [agency_queue(get_agency(session, agency_code).code)]
        else:
            queues = [DEFAULT_QUEUE, *(agency_queue(a.code) for a in list_agencies(session))]
    # A node name of its own, so several workers can run on one machine (RabbitMQ refuses a second
    # consumer of the same node's remote-control queue).
    node = f"docsign-{agency_code or 'all'}-{os.getpid()}@%h"
    scheduler = []
    if beat:  # the periodic jobs, and the evidence work they (and receipts) queue
        from docsign.ltv.service import QUEUE as LTV_QUEUE

        queues.append(LTV_QUEUE)
        scheduler = ["--beat", "--schedule", str(s.data_dir / BEAT_SCHEDULE_FILE)]
    def serve() -> None:
        try:
            celery_app.worker_main([
                "worker", "--loglevel=INFO", f"--concurrency={concurrency}", "-Q", ",".join(queues), "-n", node,
                "--without-gossip", "--without-mingle", *scheduler])
        finally:
            _join_embedded_beat()

    _exit_when_stopped(serve)


def _join_embedded_beat() -> None:
    """The worker stops its embedded beat process with SIGTERM and does not wait for it; this process then
    exits at once (logs.exit_at_once), which left the beat behind, still saving its schedule. Wait for it
    briefly, then kill it: nothing of a stopped worker outlives it."""
    from billiard.process import active_children

    for child in active_children():
        child.join(timeout=3)
        if child.is_alive() and child.pid:
            os.kill(child.pid, signal.SIGKILL)
            child.join(timeout=1)


STOP_SECONDS = 9


def _observability(s: Settings, process: str) -> None:
    """JSON logs, and metrics counted where /metrics adds up every process's (set before prometheus-client
    is imported: it picks its storage at import)."""
    from docsign import logs

    logs.configure(process)
    _metrics_dir(s)


def _exit_when_stopped(serve_until_stopped: Callable[[], object]) -> None:
    """Run a long-lived command; once it has stopped cleanly, end the process at once (logs.exit_at_once)."""
    from docsign import logs

    try:
        serve_until_stopped()
    except SystemExit as stopped:
        if stopped.code not in (None, 0):
            raise
    logs.exit_at_once(0)


def _metrics_dir(s: Settings, *, fresh: bool = False) -> None:
    """Count metrics into ``<data dir>/metrics`` (this process and its children); ``fresh`` empties it
    first, which only the process that starts all the others (``docsign run``) may do."""
    import shutil

    directory = s.data_dir / "metrics"
    if fresh and directory.is_dir():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(directory))
    if "prometheus_client" in sys.modules:
        import logging

        logging.getLogger(__name__).warning("metrics: prometheus-client was imported before its directory was "
                                            "set; this process's own metrics will not reach /metrics")


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
def run(host: str, port: int) -> None:
    """Web app plus a worker on the embedded defaults; Ctrl-C stops both."""
    from docsign.health import check_broker

    s = settings()
    prepare_data_dir(s)
    require_initialised(s)
    check_broker(s.broker_url)
    _metrics_dir(s, fresh=True)  # before the children start: they inherit the variable
    python = sys.executable
    children = {
        "worker": subprocess.Popen([python, "-m", "docsign", "worker", "--all", "--concurrency", "2", "--beat"]),
        "relay": subprocess.Popen([python, "-m", "docsign", "relay"]),
        "web": subprocess.Popen([python, "-m", "docsign", "web", "--host", host, "--port", str(port)]),
    }
    click.echo(f"docsign is running at http://{host}:{port}/ (Ctrl-C stops it)")
    stopping = False

    def _stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        if not stopping:
            for proc in children.values():  # at once: every second counts towards docker's 10
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    failed = None
    while not stopping and failed is None:
        failed = next((name for name, proc in children.items() if proc.poll() is not None), None)
        time.sleep(0.2)
    if not stopping:  # a child stopped by itself: stop the others
        for proc in children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
    # Within docker's and systemd's 10 s before their SIGKILL; a child still there is killed, and named.
    stop_began = time.monotonic()
    deadline = stop_began + STOP_SECONDS
    took: dict[str, float] = {}
    while len(took) < len(children) and time.monotonic() < deadline:
        took.update({name: time.monotonic() - stop_began for name, proc in children.items()
                     if name not in took and proc.poll() is not None})
        time.sleep(0.05)
    for name, proc in children.items():
        if proc.poll() is None:
            click.echo(f"the {name} process did not stop within {STOP_SECONDS} s: killed", err=True)
            proc.kill()
            proc.wait()
    if failed is not None and not stopping:
        raise ServiceUnavailable(f"the {failed} process stopped unexpectedly (exit {children[failed].returncode})")
    click.echo("docsign stopped (" + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in took.items()) + ")")
    from docsign import logs

    logs.exit_at_once(0)


@cli.command()
def relay() -> None:
    """Publish the outbox to the broker and re-publish lost deliveries (run one per deployment, or more)."""
    s = settings()
    prepare_data_dir(s)
    _observability(s, "relay")
    from docsign.health import check_broker
    from workers.app import celery_app
    from workers.relay import run_forever

    require_initialised(s)
    check_broker(s.broker_url)
    _exit_when_stopped(lambda: run_forever(s, celery_app))


# -- exchange ------------------------------------------------------------------------------------
@cli.group()
def exchange() -> None:
    """Send and receive documents between agencies (edXML packets)."""


@exchange.command("send")
@click.option("--from", "sender", required=True, help="Sending agency code (its seal must be on the PDF).")
@click.option("--to", "recipients", required=True, help="Recipient agency codes, comma-separated.")
@click.option("--subject", required=True, help="Trích yếu: what the document is about.")
@click.option("--number", help="Document number (default: the next number of the year).")
@click.option("--notation", default="VP", show_default=True, help="Ký hiệu, e.g. UBND-VP.")
@click.option("--type-name", default="Công văn", show_default=True)
@click.option("--priority", type=click.IntRange(0, 4), default=0, show_default=True)
@click.option("--due-date", help="Hạn xử lý, yyyy-mm-dd.")
@click.option("--steering-type", type=click.Choice(["1", "2", "3"]),
              help="1 not a directive, 2 directive, 3 report on a directive.")
@click.option("--to-place", "to_places", multiple=True, help="A 'Nơi nhận' line beyond the recipients (repeatable).")
@click.option("--content", help="Nội dung: a short summary beyond the subject.")
@click.option("--business-type", type=click.IntRange(0, 3), default=0, show_default=True,
              help="0 new document, 1 revocation, 2 update, 3 replacement.")
@click.option("--of", "related", help="For 1-3: the DocumentId revoked, updated or replaced.")
@click.argument("pdf", type=click.Path(dir_okay=False, path_type=Path))
def exchange_send(sender: str, recipients: str, subject: str, number: str | None, notation: str, type_name: str,
                  priority: int, due_date: str | None, steering_type: str | None, to_places: tuple[str, ...],
                  content: str | None, business_type: int, related: str | None, pdf: Path) -> None:
    from docsign.exchange import service

    s = settings()
    request = service.SendRequest(sender_code=sender, recipient_codes=tuple(recipients.split(",")), subject=subject,
                                  file_name=pdf.name, code_number=number, code_notation=notation,
                                  type_name=type_name, priority=priority, business_type=business_type,
                                  related_document_id=related,
                                  **service.packet_fields(content=content, due_date=due_date,
                                                          steering_type=steering_type, to_places=to_places))
    with db_session() as session, _refusals_recorded(session, "exchange.send.refused", sender):
        sent = service.send(session, s, request, service.pdf_path_bytes(pdf, s), actor="cli")
        click.echo(sent.id)


@contextmanager
def _refusals_recorded(session: Session, action: str, agency_code: str | None) -> Iterator[None]:
    """Refused input changes nothing, but the refusal itself is recorded in the audit log."""
    from docsign import audit

    try:
        yield
    except DocsignError as exc:
        session.rollback()
        audit.record(session, "cli", action, details={"agency": agency_code, "reason": exc.message[:1000]})
        session.commit()
        raise


@exchange.command("show")
@click.argument("exchange_id")
@click.option("--json", "as_json", is_flag=True)
def exchange_show(exchange_id: str, as_json: bool) -> None:
    import json

    from docsign.exchange.views import exchange_summary

    with db_session() as session:
        summary = exchange_summary(session, exchange_id, viewer=None)  # the operator
    if as_json:
        click.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    click.echo(f"{summary['id']}  {summary['document_id']}  {summary['subject']}")
    click.echo(f"from {summary['sender']['code']} {summary['sender']['name']}, sent {summary['created_at']}")
    for d in summary["deliveries"]:
        click.echo(f"  to {d['recipient']['code']} {d['recipient']['name']}: {d['state']} ({d['state_label']})")
        for e in d["history"]:
            code = e["code"] or "--"
            click.echo(f"     {e['at']}  {code}  {e['state']:<16} {e['description'] or ''}")
            if e["receipt"] is not None:
                verdict = "signed receipt verified" if e["receipt"]["verified"] else "signed receipt REFUSED"
                click.echo(f"                 {verdict}: {e['receipt']['note']}")


@exchange.command("export")
@click.argument("exchange_id")
def exchange_export(exchange_id: str) -> None:
    """Write the exchange's edXML packet to standard output."""
    from docsign.exchange import service
    from docsign.models import Exchange

    with db_session() as session:
        found = session.get(Exchange, exchange_id)
        if found is None:
            from docsign.errors import NotFound

            raise NotFound(f"no exchange {exchange_id}")
        data = service.read_packet(settings(), found)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


@exchange.command("import")
@click.argument("packet", type=click.Path(dir_okay=False, path_type=Path))
def exchange_import(packet: Path) -> None:
    """Send on an edXML packet written elsewhere; prints the new exchange id."""
    from docsign.exchange import service

    s = settings()
    try:
        data = packet.read_bytes()
    except OSError as exc:
        from docsign.errors import NotFound

        raise NotFound(f"cannot read {packet} ({exc.strerror})") from None
    with db_session() as session, _refusals_recorded(session, "exchange.import.refused", None):
        click.echo(service.import_packet(session, s, data, actor="cli").id)


@exchange.command("inspect")
@click.argument("packet", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True)
def exchange_inspect(packet: Path, as_json: bool) -> None:
    """Print what an edXML packet says without importing it (exit 65 with the field path when it cannot be read)."""
    import json

    from docsign.exchange.packet_report import packet_report

    try:
        data = packet.read_bytes()
    except OSError as exc:
        from docsign.errors import NotFound

        raise NotFound(f"cannot read {packet} ({exc.strerror})") from None
    from docsign.pki.trust import trust_roots

    report = packet_report(data, max_bytes=_max_packet_bytes(), trust_roots=trust_roots(settings()))
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    sender = report["from"]
    click.echo(f"{report['kind']} packet from {sender['organ_id']} {sender['name']}".rstrip())
    for recipient in report["to"]:
        click.echo(f"  to {recipient['organ_id']} {recipient['name']}".rstrip())
    click.echo(f"  DocumentId: {report['document_id']}")
    if report["kind"] == "status":
        click.echo(f"  status {report['status_code']} ({report['status']}) at {report['timestamp']}, "
                   f"staff {report['staff'] or '-'} [{report['form']} form]")
        click.echo(f"  answers {report['code']} of {report['responds_to_agency']}")
    else:
        click.echo(f"  {report['number']}/{report['notation']} of {report['promulgation_date']}: {report['subject']}")
        click.echo(f"  business type {report['business_type']}"
                   + (f", acting on {', '.join(report['related_document_ids'])}" if report["related_document_ids"]
                      else ""))
        for a in report["attachments"]:
            click.echo(f"  attachment {a['name']} ({a['content_type']}, {a['size']} bytes) sha256 {a['sha256']}")
    click.echo(f"  signature: {report['signature']['detail']}")


def _max_packet_bytes() -> int:
    from docsign.exchange.send import max_packet_bytes

    return max_packet_bytes(settings())


@exchange.command("status")
@click.argument("delivery_id", type=int)
@click.argument("code")
@click.option("--by", "by_agency", required=True, help="The agency giving the status (recipient, or sender for 13).")
@click.option("--staff")
@click.option("--description")
def exchange_status(delivery_id: int, code: str, by_agency: str, staff: str | None, description: str | None) -> None:
    """Move a delivery on: 03-06, 15/16 by the recipient, 13 (recall) by the sender."""
    from docsign.exchange import service

    with db_session() as session, _refusals_recorded(session, "exchange.status.refused", by_agency):
        event = service.record_status(session, settings(), delivery_id, code, by_agency_code=by_agency, actor="cli",
                                      staff=staff, description=description)
        click.echo(f"delivery {delivery_id}: {event.code} -> {event.state}")


@exchange.command("redrive")
@click.option("--id", "delivery_ids", type=int, multiple=True, help="Only these deliveries (default: all).")
def exchange_redrive(delivery_ids: tuple[int, ...]) -> None:
    """Put dead-lettered deliveries back on their queues."""
    from docsign.exchange import service

    with db_session() as session:
        moved = service.redrive(session, actor="cli", delivery_ids=list(delivery_ids) or None)
    click.echo(f"re-driven {len(moved)} deliveries" + (f": {', '.join(map(str, moved))}" if moved else ""))


# -- directory, accounts, keys -------------------------------------------------------------------
@cli.group()
def agency() -> None:
    """The agency directory."""


@agency.command("add")
@click.option("--code", required=True, help="QCVN 102 code XXX.YY.ZZ.Mnn")
@click.option("--name", required=True)
@click.option("--parent", "parent_code")
@click.option("--address")
@click.option("--email")
@click.option("--telephone")
@click.option("--status-form", type=click.Choice(["MessageHeader", "Status"]), default="MessageHeader",
              show_default=True, help="The form of edXML status packet the agency's system reads.")
def agency_add(code: str, name: str, parent_code: str | None, address: str | None, email: str | None,
               telephone: str | None, status_form: str) -> None:
    from docsign.exchange.directory import add_agency

    with db_session() as session:
        added = add_agency(session, code=code, name=name, parent_code=parent_code, address=address, email=email,
                           telephone=telephone, status_form=status_form, actor="cli")
        click.echo(f"added {added.code} {added.name} (queue {added.queue})")


@agency.command("list")
def agency_list() -> None:
    from docsign.exchange.directory import list_agencies

    with db_session() as session:
        for a in list_agencies(session):
            click.echo(f"{a.code}  {a.name}{'  [demo]' if a.is_demo else ''}")


@cli.group()
def user() -> None:
    """People who log in."""


@user.command("add")
@click.option("--login", required=True)
@click.option("--name", "full_name", required=True)
@click.option("--agency", "agency_code", required=True)
@click.option("--role", type=click.Choice(["admin", "leader", "clerk", "officer"]), required=True)
@click.option("--position")
@click.option("--email", help="Address for the agency's signed e-mail notifications.")
@click.option("--password-env", default="DOCSIGN_NEW_PASSWORD", show_default=True,
              help="Environment variable holding the password (never on the command line).")
def user_add(login: str, full_name: str, agency_code: str, role: str, position: str | None, email: str | None,
             password_env: str) -> None:
    from docsign.accounts import add_user
    from docsign.errors import InvalidInput

    password = os.environ.get(password_env)
    if not password:
        raise InvalidInput(f"set the password in the environment variable {password_env}")
    with db_session() as session:
        added = add_user(session, login=login, full_name=full_name, agency_code=agency_code, role=role,
                         password=password, position=position, email=email, actor="cli")
        click.echo(f"added user {added.login} ({role}) in {agency_code}")


@user.command("passwd")
@click.argument("login")
@click.option("--password-env", default="DOCSIGN_NEW_PASSWORD", show_default=True,
              help="Environment variable holding the new password (never on the command line).")
def user_passwd(login: str, password_env: str) -> None:
    """Set a new password; the user's open sessions end."""
    from docsign.accounts import set_password
    from docsign.errors import InvalidInput

    password = os.environ.get(password_env)
    if not password:
        raise InvalidInput(f"set the new password in the environment variable {password_env}")
    with db_session() as session:
        changed = set_password(session, login, password, actor="cli")
        click.echo(f"new password for {changed.login}; the sessions open before have ended")


@user.command("disable")
@click.argument("login")
def user_disable(login: str) -> None:
    """Stop a user at once: no login, and the sessions open now end."""
    from docsign.accounts import set_active

    with db_session() as session:
        changed = set_active(session, login, False, actor="cli")
        click.echo(f"disabled {changed.login}")


@user.command("enable")
@click.argument("login")
def user_enable(login: str) -> None:
    from docsign.accounts import set_active

    with db_session() as session:
        changed = set_active(session, login, True, actor="cli")
        click.echo(f"enabled {changed.login}")


@cli.group()
def token() -> None:
    """API tokens for agencies' systems."""


@token.command("create")
@click.option("--agency", "agency_code", required=True)
@click.option("--name", default="api", show_default=True)
@click.option("--expires-days", type=click.IntRange(1, 3650), default=365, show_default=True,
              help="Days until the token stops working.")
@click.option("--no-expiry", is_flag=True, help="A token that does not expire (revoke it when it is no longer used).")
def token_create(agency_code: str, name: str, expires_days: int, no_expiry: bool) -> None:
    from docsign.accounts import create_token

    with db_session() as session:
        row, plain = create_token(session, agency_code, name, actor="cli",
                                  expires_in_days=None if no_expiry else expires_days)
        click.echo(plain)
        until = f"until {row.expires_at:%Y-%m-%d %H:%M} UTC" if row.expires_at else "without expiry"
        click.echo(f"token {row.prefix}… for {agency_code}, {until}: shown once, store it now", err=True)


@token.command("list")
@click.option("--agency", "agency_code", help="Only this agency's tokens.")
def token_list(agency_code: str | None) -> None:
    """Tokens with their prefix, agency, name, expiry, last use and state (never the token itself)."""
    from docsign.accounts import list_tokens
    from docsign.models import utcnow

    def when(moment) -> str:  # type: ignore[no-untyped-def]
        return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"

    now = utcnow()
    with db_session() as session:
        for row in list_tokens(session, agency_code):
            state = ("revoked" if row.revoked_at else "expired" if row.expires_at and row.expires_at <= now
                     else "active")
            click.echo(f"{row.prefix}  {row.agency.code:<14} {state:<8} expires {when(row.expires_at):<16} "
                       f"last used {when(row.last_used_at):<16} {row.name}")


@token.command("revoke")
@click.argument("prefix")
def token_revoke(prefix: str) -> None:
    """Revoke the token with this prefix (as `docsign token list` shows it): refused from now on."""
    from docsign.accounts import revoke_token

    with db_session() as session:
        row = revoke_token(session, prefix, actor="cli")
        click.echo(f"revoked token {row.prefix}… of {row.agency.code}")


@cli.group()
def pki() -> None:
    """Keys, certificates and trust anchors."""


@pki.command("demo")
def pki_demo() -> None:
    """Create the demo PKI (root, issuing CA, TSA, OCSP responder) if it does not exist."""
    from docsign.pki.demo import demo_dir, ensure_demo_pki

    s = settings()
    prepare_data_dir(s)
    s.keys_dir.mkdir(parents=True, exist_ok=True)
    _store, created = ensure_demo_pki(s)
    click.echo(f"demo PKI {'created' if created else 'already present'} in {demo_dir(s)}")


@cli.group()
def audit() -> None:
    """The hash-chained audit log."""


@audit.command("verify")
def audit_verify() -> None:
    """Check every chain's hashes, MACs and length against the head files and timestamped checkpoints."""
    from docsign.audit import verify_chain

    with db_session() as session:
        result = verify_chain(session, settings())
    if not result.intact:
        where = f"at event {result.first_broken_id}" if result.first_broken_id else "in its anchors"
        click.echo(f"audit log BROKEN {where}: {result.reason} ({result.events} events read)", err=True)
        sys.exit(1)
    note = f", {result.not_yet_anchored} not yet anchored (a crash between commit and anchoring)" \
        if result.not_yet_anchored else ""
    click.echo(f"audit chain intact: {result.events} events, {result.checkpoints} timestamped checkpoints{note}")


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Have the TSA timestamp the heads of every chain now (the relay does it on a schedule)."""
    from docsign.audit import checkpoint

    s = settings()
    prepare_data_dir(s)
    click.echo(f"checkpoint {checkpoint(s)}")


def _attach_domain_commands() -> None:
    # Each domain keeps its commands beside its code (docsign/<domain>/cli.py); they are mounted here.
    from docsign.documents.citizen_cli import result_group
    from docsign.documents.cli import register_group
    from docsign.exchange.axis_cli import agency_set, axis_group
    from docsign.ltv.cli import ltv_group
    from docsign.mail.cli import agency_set_email, mail, user_set_email
    from docsign.pki.trust_cli import trust
    from docsign.reports.cli import report_group
    from docsign.signing.cli import sign_command
    from docsign.verification.cli import verify

    cli.add_command(sign_command)
    cli.add_command(verify)
    cli.add_command(register_group)
    cli.add_command(result_group)
    cli.add_command(report_group)
    pki.add_command(trust)
    cli.add_command(axis_group)
    agency.add_command(agency_set)
    cli.add_command(mail)
    agency.add_command(agency_set_email)
    user.add_command(user_set_email)
    cli.add_command(ltv_group)


_attach_domain_commands()


def main() -> None:
    """Entry point: run the CLI, turning every DocsignError into one line and its exit code."""
    try:
        cli.main(standalone_mode=False)
    except DocsignError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # the last line of defence: no traceback for the person at the terminal
        click.echo(f"error: unexpected {type(exc).__name__}: {exc} (set DOCSIGN_DEBUG=1 for details)", err=True)
        if os.environ.get("DOCSIGN_DEBUG"):
            raise
        sys.exit(EX_SOFTWARE)
