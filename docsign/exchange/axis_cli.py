"""Commands of the national document axis and of a peer's packet settings, mounted by docsign.cli:
``docsign axis poll|run|sync-directory`` and ``docsign agency set``."""

from __future__ import annotations

import click

from docsign.errors import ConfigError


def _client():  # type: ignore[no-untyped-def]
    from docsign.cli import settings
    from docsign.exchange.axis import AxisClient

    client = AxisClient.from_settings(settings())
    if client is None:
        raise ConfigError("the national axis is off: set DOCSIGN_AXIS_URL, DOCSIGN_AXIS_SYSTEM_ID and "
                          "DOCSIGN_AXIS_SECRET")
    return client


@click.group("axis")
def axis_group() -> None:
    """The national document axis (VXP): poll it, synchronise the directory."""


@axis_group.command("poll")
def axis_poll() -> None:
    """Take once what the axis holds for this installation's agencies."""
    from docsign.cli import settings
    from workers.axis_tasks import poll_once

    result = poll_once(settings(), _client())
    click.echo(f"{result.filed} documents filed, {result.statuses} status packets, {result.refused} refused, "
               f"{result.acknowledged_again} acknowledged again, {result.echoes} of our own")


@axis_group.command("run")
@click.option("--every", default=10.0, show_default=True, help="Seconds between polls.")
def axis_run(every: float) -> None:
    """Poll the axis until stopped (Ctrl-C / SIGTERM)."""
    import logging
    import signal
    import threading

    from docsign.cli import settings
    from workers.axis_tasks import run_forever

    logging.basicConfig(level=logging.INFO, format="[%(asctime)s: %(levelname)s/axis] %(message)s")
    _client()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    run_forever(settings(), stop, every)


@axis_group.command("sync-directory")
def axis_sync_directory() -> None:
    """Bring the axis's agencies into the directory (old codes are kept as aliases)."""
    from docsign.cli import db_session
    from docsign.exchange.axis import sync_directory

    client = _client()
    with db_session() as session:
        result = sync_directory(session, client, actor="cli")
    click.echo(f"{result.added} added, {result.updated} updated, {result.renamed} renamed (old code kept)")
    for skipped in result.skipped or []:
        click.echo(f"skipped: {skipped}", err=True)


@click.command("set")
@click.argument("code")
@click.option("--sends-unsigned-packets/--signed-packets-only", default=None,
              help="Accept this peer's packets without an XML signature (its system cannot sign them).")
@click.option("--via-axis/--local", default=None, help="Reached through the national axis, or a docsign queue.")
def agency_set(code: str, sends_unsigned_packets: bool | None, via_axis: bool | None) -> None:
    """Change how packets are exchanged with an agency."""
    from docsign import audit
    from docsign.cli import db_session
    from docsign.exchange.directory import get_agency

    with db_session() as session:
        agency = get_agency(session, code)
        if sends_unsigned_packets is not None:
            agency.sends_unsigned_packets = sends_unsigned_packets
        if via_axis is not None:
            agency.via_axis = via_axis
        audit.record(session, "cli", "agency.set", agency_id=agency.id, object_type="agency", object_id=agency.code,
                     details={"sends_unsigned_packets": agency.sends_unsigned_packets, "via_axis": agency.via_axis})
        click.echo(f"{agency.code}: unsigned packets {'accepted' if agency.sends_unsigned_packets else 'refused'}, "
                   f"{'via the national axis' if agency.via_axis else 'local queue'}")
