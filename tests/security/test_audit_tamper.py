"""Issue 9.9: someone who can write the database tampers with the audit log; `docsign audit verify` notices.

The attacks go straight at the database (SQL, as a DBA or an intruder with the database password would),
never through docsign; the attacker knows docsign's code (the hash recipe is public) but not the audit
key, which lives outside the database.
"""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap

import pytest
from sqlalchemy import select, text

from docsign import audit
from docsign.db import get_engine
from docsign.models import Agency, AuditEvent
from tests.conftest import run_cli


@pytest.fixture
def log(session):  # type: ignore[no-untyped-def]
    """Two agencies and the system recording, one transaction per event (as the app does)."""
    first = Agency(code="000.00.01.H30", name="UBND tỉnh")
    second = Agency(code="000.00.16.H30", name="Sở TT&TT")
    session.add_all([first, second])
    session.commit()
    for i in range(4):
        for agency_id in (first.id, second.id, None):
            audit.record(session, "system", "test.event", agency_id=agency_id, details={"i": i})
            session.commit()
    return session, first.id, second.id


def _chain(session, agency_id):  # type: ignore[no-untyped-def]
    session.expire_all()
    return session.scalars(select(AuditEvent).where(AuditEvent.agency_id == agency_id)
                           .order_by(AuditEvent.id)).all()


def _sql(settings, statement: str, **params: object) -> None:  # type: ignore[no-untyped-def]
    with get_engine(settings.database_url).begin() as conn:
        conn.execute(text(statement), params)


def _verify(settings_env):  # type: ignore[no-untyped-def]
    return run_cli("audit", "verify", env=settings_env)


def test_an_untouched_log_is_intact(log, settings_env):  # type: ignore[no-untyped-def]
    done = _verify(settings_env)
    assert done.returncode == 0, done.stderr
    assert "intact: 12 events" in done.stdout


def test_deleting_the_newest_events_is_reported(log, migrated, settings_env):  # type: ignore[no-untyped-def]
    session, first, _ = log
    chain = _chain(session, first)
    _sql(migrated, "DELETE FROM audit_events WHERE id IN (:a, :b)", a=chain[-2].id, b=chain[-1].id)
    done = _verify(settings_env)
    assert done.returncode == 1
    assert f"BROKEN at event {chain[-2].id}:" in done.stderr  # the first event it can no longer vouch for
    assert "deleted" in done.stderr


def test_deleting_all_of_one_agencys_events_is_reported(log, migrated, settings_env):  # type: ignore[no-untyped-def]
    session, _, second = log
    chain = _chain(session, second)
    _sql(migrated, "DELETE FROM audit_events WHERE agency_id = :agency", agency=second)
    done = _verify(settings_env)
    assert done.returncode == 1
    assert f"BROKEN at event {chain[0].id}:" in done.stderr
    assert f"agency-{second} chain has 0 events but 4 were anchored" in done.stderr


def test_editing_an_event_and_recomputing_the_hashes_is_reported(log, migrated, settings_env):  # type: ignore[no-untyped-def]
    session, first, _ = log
    chain = _chain(session, first)
    # The attacker rewrites the second event and re-chains every later one with docsign's public recipe.
    prev = chain[0].hash
    for position, event in enumerate(chain[1:], 2):
        if position == 2:
            event.details = {"i": "rewritten"}
        event.prev_hash = prev
        new_hash = audit._digest(prev, event)
        _sql(migrated, "UPDATE audit_events SET details = :details, prev_hash = :prev, hash = :hash WHERE id = :id",
             details='{"i": "rewritten"}' if position == 2 else f'{{"i": {position - 1}}}', prev=prev, hash=new_hash,
             id=event.id)
        prev = new_hash
    session.rollback()
    done = _verify(settings_env)  # every hash and link agrees now; only the MAC, under the key, cannot
    assert done.returncode == 1
    assert f"BROKEN at event {chain[1].id}: its MAC does not match" in done.stderr


def test_a_mac_copied_from_another_position_does_not_vouch(log, migrated):  # type: ignore[no-untyped-def]
    """Deleting a middle event and shifting the next one into its place, MAC and all, is still caught."""
    session, first, _ = log
    chain = _chain(session, first)
    _sql(migrated, "DELETE FROM audit_events WHERE id = :id", id=chain[1].id)
    _sql(migrated, "UPDATE audit_events SET prev_hash = :prev WHERE id = :id", prev=chain[0].hash, id=chain[2].id)
    check = audit.verify_chain(session, migrated)
    assert check.first_broken_id == chain[2].id


def test_one_event_the_head_file_missed_is_tolerated_two_are_not(log, migrated):  # type: ignore[no-untyped-def]
    """A crash between the commit and the head file append leaves one event unanchored: reported, not
    broken. Two missing appends cannot come from one crash of one writer: broken at the first of them."""
    session, first, _ = log
    head_file = audit.heads_dir(migrated) / f"agency-{first}.log"
    lines = head_file.read_text().splitlines(keepends=True)
    head_file.write_text("".join(lines[:-1]))
    check = audit.verify_chain(session, migrated)
    assert check.intact and check.not_yet_anchored == 1
    head_file.write_text("".join(lines[:-2]))
    check = audit.verify_chain(session, migrated)
    chain = _chain(session, first)
    assert check.first_broken_id == chain[2].id and "never anchored" in check.reason


def test_a_forged_head_file_line_is_reported(log, migrated):  # type: ignore[no-untyped-def]
    session, first, _ = log
    head_file = audit.heads_dir(migrated) / f"agency-{first}.log"
    with head_file.open("a") as fh:
        fh.write("99 99 " + "0" * 64 + " a " + "0" * 64 + "\n")
    check = audit.verify_chain(session, migrated)
    assert not check.intact and "not written by docsign" in check.reason


def test_the_head_file_is_private(log, migrated):  # type: ignore[no-untyped-def]
    _session, first, _ = log
    assert (audit.heads_dir(migrated) / f"agency-{first}.log").stat().st_mode & 0o777 == 0o600
    assert (migrated.data_dir / "audit_key").stat().st_mode & 0o777 == 0o600


def test_a_timestamped_checkpoint_catches_a_head_file_rolled_back_with_the_database(
        log, migrated, test_pki):  # type: ignore[no-untyped-def]
    session, first, _ = log
    s = dataclasses.replace(migrated, tsa_url=test_pki.tsa_url)
    path = audit.checkpoint(s)
    assert path.with_suffix(".tsr").stat().st_size > 500  # a real RFC 3161 token, signed by the test TSA
    assert audit.verify_chain(session, s).checkpoints == 1
    chain = _chain(session, first)
    # Delete the newest event and also cut the head file back to match: only the checkpoint remembers.
    _sql(migrated, "DELETE FROM audit_events WHERE id = :id", id=chain[-1].id)
    head_file = audit.heads_dir(s) / f"agency-{first}.log"
    head_file.write_text("".join(head_file.read_text().splitlines(keepends=True)[:-1]))
    check = audit.verify_chain(session, s)
    assert check.first_broken_id == chain[-1].id
    # And a checkpoint edited to agree with the shortened log no longer matches its timestamp.
    path.write_text(path.read_text().replace(f'"agency-{first}":[4', f'"agency-{first}":[3'))
    check = audit.verify_chain(session, s)
    assert not check.intact and "does not match its timestamp" in check.reason


def test_events_from_before_the_upgrade_are_adopted_once(log, migrated, settings_env):  # type: ignore[no-untyped-def]
    session, first, _ = log
    adopted_head = _chain(session, first)[-1].id
    # An install upgraded from 0003: events without position or MAC, and no head files yet.
    _sql(migrated, "UPDATE audit_events SET mac = NULL")
    for head_file in audit.heads_dir(migrated).iterdir():
        head_file.unlink()
    assert not audit.verify_chain(session, migrated).intact
    done = run_cli("init", env=settings_env)
    assert done.returncode == 0 and "anchored the 3 chains" in done.stdout, done.stderr
    assert _verify(settings_env).returncode == 0
    audit.record(session, "system", "after.upgrade", agency_id=first)  # new events get a MAC at once
    session.commit()
    assert _chain(session, first)[-1].mac is not None
    assert audit.verify_chain(session, migrated).intact
    _sql(migrated, "DELETE FROM audit_events WHERE agency_id = :a", a=first)  # adopted chains are anchored
    check = audit.verify_chain(session, migrated)  # the adoption named only the head: it is what is reported
    assert check.first_broken_id == adopted_head and "events from #1 on were deleted" in check.reason


def test_parallel_writers_keep_the_head_files_consistent(migrated, settings_env):  # type: ignore[no-untyped-def]
    """Several processes append to the same chains at once; every chain stays verifiable, and each head
    file ends at its chain's true length."""
    from docsign.db import session_scope

    with session_scope(migrated.database_url) as s:
        agencies = [Agency(code=f"000.00.0{i}.H30", name=f"Sở {i}") for i in (1, 2)]
        s.add_all(agencies)
        s.flush()
        ids = ",".join(str(a.id) for a in agencies)
    script = textwrap.dedent("""
        import sys
        from docsign import audit
        from docsign.config import load_settings, prepare_data_dir
        from docsign.db import session_scope
        s = load_settings(); prepare_data_dir(s)
        chains = [int(a) for a in sys.argv[2].split(",")]
        for i in range(15):
            with session_scope(s.database_url) as session:
                audit.record(session, "system", "parallel", agency_id=chains[i % 2], details={"w": sys.argv[1]})
    """)
    writers = 4
    procs = [subprocess.Popen([sys.executable, "-c", script, str(w), ids], env=settings_env) for w in range(writers)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    done = _verify(settings_env)
    assert done.returncode == 0, done.stderr
    assert f"{writers * 15} events" in done.stdout and "not yet anchored" not in done.stdout
    anchors, problems = audit.read_anchors(migrated)
    assert not problems
    assert sorted(found[-1].length for found in anchors.values()) == [writers * 7, writers * 8]


def test_the_relay_timestamps_a_checkpoint_when_one_is_due_and_retries_a_tsa_that_is_down(
        log, migrated, test_pki, caplog):  # type: ignore[no-untyped-def]
    from workers.relay import checkpoint_if_due

    down = dataclasses.replace(migrated, tsa_url="http://127.0.0.1:9/tsa", audit_checkpoint_seconds=3600)
    assert not checkpoint_if_due(down)
    assert "audit checkpoint failed" in caplog.text
    s = dataclasses.replace(down, tsa_url=test_pki.tsa_url)
    assert checkpoint_if_due(s)
    assert not checkpoint_if_due(s)  # the next one is due in an hour
    assert len(list(audit.checkpoints_dir(s).glob("*.json"))) == 1
