"""Models, constraints and migrations on every configured backend."""

import datetime as dt
import uuid

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from docsign import audit, migrations
from docsign.accounts import add_user, authenticate, create_token, resolve_token
from docsign.db import get_engine
from docsign.errors import AuthenticationRequired, Conflict, InvalidInput
from docsign.exchange.directory import add_agency
from docsign.models import (
    Agency,
    AuditEvent,
    Delivery,
    Document,
    DocumentRevision,
    Exchange,
    KeyKind,
    KeyRef,
    KeySource,
    Role,
)

pytestmark = pytest.mark.backend
TABLES = {"agencies", "users", "api_tokens", "key_refs", "documents", "document_revisions", "signatures",
          "exchanges", "deliveries", "status_events", "outbox", "audit_events"}


def test_migrations_upgrade_and_downgrade(settings):
    migrations.upgrade(settings.database_url)
    assert set(inspect(get_engine(settings.database_url)).get_table_names()) >= TABLES
    assert migrations.current_revision(settings.database_url) is not None
    migrations.downgrade(settings.database_url, "base")
    assert not TABLES & set(inspect(get_engine(settings.database_url)).get_table_names())
    migrations.upgrade(settings.database_url)
    assert set(inspect(get_engine(settings.database_url)).get_table_names()) >= TABLES


def _agency(session, code="000.00.00.H30", name="UBND tỉnh"):
    return add_agency(session, code=code, name=name)


def test_agency_codes_are_validated(session):
    with pytest.raises(InvalidInput, match="OrganId"):
        session.add(Agency(code="H30", name="x"))
    _agency(session)
    with pytest.raises(Conflict):
        _agency(session)


def test_timestamps_come_back_aware_utc(session):
    agency = _agency(session)
    session.commit()
    session.expire_all()
    loaded = session.get(Agency, agency.id)
    assert loaded.created_at.tzinfo is not None
    assert abs(loaded.created_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_users_passwords_and_tokens(session):
    _agency(session)
    user = add_user(session, login="Van.Thu", full_name="Lê Thị Hoa", agency_code="000.00.00.H30",
                    role=Role.CLERK, password="correct horse battery")
    assert user.login == "van.thu"
    assert user.password_hash.startswith("$argon2id$")
    assert authenticate(session, "van.thu", "correct horse battery").id == user.id
    with pytest.raises(AuthenticationRequired):
        authenticate(session, "van.thu", "wrong password!")
    with pytest.raises(InvalidInput, match="at least"):
        add_user(session, login="short", full_name="x", agency_code="000.00.00.H30", role="clerk", password="123")
    row, plain = create_token(session, "000.00.00.H30", "dms")
    assert plain not in row.token_hash and len(row.token_hash) == 64
    assert resolve_token(session, plain).id == row.id
    row.revoked_at = dt.datetime.now(dt.UTC)
    with pytest.raises(AuthenticationRequired):
        resolve_token(session, plain)


def test_key_ref_has_exactly_one_owner(session):
    agency = _agency(session)
    session.add(KeyRef(kind=KeyKind.SEAL, source=KeySource.PKCS12, location="x.p12", certificate_der=b"0",
                       label="no owner"))
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    agency = _agency(session)
    session.add(KeyRef(agency=agency, kind=KeyKind.SEAL, source=KeySource.PKCS12, location="x.p12",
                       certificate_der=b"0", label="seal"))
    session.flush()


def _exchange(session, sender, document_id="000.00.00.H30,2026/11/26,01/UBND-VP", business_type=0):
    doc = Document(agency=sender, title="Công văn")
    rev = DocumentRevision(document=doc, number=1, sha256="a" * 64, size=1, action="upload")
    ex = Exchange(id=str(uuid.uuid4()), document=doc, revision=rev,
                  sender=sender, edxml_document_id=document_id, business_type=business_type, subject="s")
    session.add(ex)
    session.flush()
    return ex


def test_one_delivery_per_exchange_and_recipient(session):
    sender = _agency(session)
    recipient = _agency(session, "000.00.16.H30", "Sở TT&TT")
    ex = _exchange(session, sender)
    session.add(Delivery(exchange=ex, recipient=recipient))
    session.flush()
    session.add(Delivery(exchange=ex, recipient=recipient))
    with pytest.raises(IntegrityError):
        session.flush()


def test_a_new_document_id_is_unique_but_updates_may_repeat_it(session):
    sender = _agency(session)
    _exchange(session, sender)
    _exchange(session, sender, business_type=2)  # an update of the same document is allowed
    with pytest.raises(IntegrityError):
        _exchange(session, sender)


def test_document_ids_are_unique_per_sender(session):
    """Another sender's (opaque) DocumentId never blocks a new document's."""
    _exchange(session, _agency(session), document_id="2b7f6c1e-5d7a-4c55-9d0e-3f1a2b4c5d6e")
    opaque = "2b7f6c1e-5d7a-4c55-9d0e-3f1a2b4c5d6e"
    _exchange(session, _agency(session, "000.00.16.H30", "Sở TT&TT"), document_id=opaque)


def test_audit_chain_detects_tampering(session):
    for i in range(5):
        audit.record(session, "system", "test.event", details={"i": i})
    session.commit()
    assert audit.verify_chain(session).intact
    assert audit.verify_chain(session).events == 5
    third = session.scalars(select(AuditEvent).order_by(AuditEvent.id).offset(2).limit(1)).one()
    third.details = {"i": 99}
    session.commit()
    check = audit.verify_chain(session)
    assert not check.intact and check.first_broken_id == third.id


def test_models_and_migrations_agree(migrated):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from docsign.models import Base

    with get_engine(migrated.database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], "write a migration: docsign db revision -m '...'"


def test_each_agency_has_its_own_audit_chain(session):
    first = _agency(session)
    second = _agency(session, "000.00.16.H30", "Sở TT&TT")
    for i in range(3):
        for agency_id in (first.id, second.id, None):
            audit.record(session, "system", "test.event", agency_id=agency_id, details={"i": i})
    session.commit()
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    second_chain = [e for e in events if e.agency_id == second.id]
    assert second_chain[1].prev_hash == second_chain[0].hash  # linked within the agency, not to the neighbour
    assert audit.verify_chain(session).intact
    session.delete(second_chain[1])
    session.commit()
    check = audit.verify_chain(session)
    assert not check.intact and check.first_broken_id == second_chain[2].id


def test_a_transaction_reads_a_chains_head_once_and_again_after_a_savepoint_is_undone(session):
    """Events appended in one transaction chain on the head it read (and locked) first; an event appended
    in a savepoint that is rolled back is not what the next one links to."""
    from sqlalchemy import event as orm_event

    audit.record(session, "system", "test.event", details={"i": 0})
    session.commit()
    head_reads: list[str] = []

    def seen(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        if "FROM audit_events" in statement:
            head_reads.append(statement)

    engine = session.get_bind()
    orm_event.listen(engine, "before_cursor_execute", seen)
    try:
        first = audit.record(session, "system", "test.event", details={"i": 1})
        second = audit.record(session, "system", "test.event", details={"i": 2})
        assert len(head_reads) == 1 and second.prev_hash == first.hash and second.seq == first.seq + 1
        with pytest.raises(RuntimeError), session.begin_nested():
            audit.record(session, "system", "test.event", details={"i": "undone"})
            raise RuntimeError("undo the savepoint")
        third = audit.record(session, "system", "test.event", details={"i": 3})
    finally:
        orm_event.remove(engine, "before_cursor_execute", seen)
    session.commit()
    assert len(head_reads) == 2  # read again after the savepoint was undone
    assert third.prev_hash == second.hash and third.seq == second.seq + 1
    assert audit.verify_chain(session).intact and audit.verify_chain(session).events == 4


def test_the_head_file_names_the_last_event_written_when_the_last_one_was_undone(session):
    """An event appended in a savepoint that is rolled back is never anchored: the chain's head file names
    the last event that was committed, so the chain still checks out."""
    audit.record(session, "system", "test.event", details={"i": 1})
    kept = audit.record(session, "system", "test.event", details={"i": 2})
    with pytest.raises(RuntimeError), session.begin_nested():
        audit.record(session, "system", "test.event", details={"i": "undone"})
        raise RuntimeError("undo the savepoint")
    session.commit()
    anchors, problems = audit.read_anchors(audit._settings_for(session))
    assert not problems
    assert anchors[None][-1].event_id == kept.id and anchors[None][-1].hash == kept.hash
    check = audit.verify_chain(session)
    assert check.intact, check
