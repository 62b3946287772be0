"""The audit log: the one place that records who did what, and notices when it is edited or cut short.

Each agency has its own chain (events without an agency form the system's chain): an event's hash covers
its content and the hash of the agency's previous event. One chain per agency lets agencies record in
parallel; a single chain would serialise every writer of the province.

A hash chain alone proves nothing to someone who can write the database: they can recompute every hash,
or simply delete the newest events. So:

* each event also carries ``mac``, an HMAC of its hash and position under a key kept outside the database
  (``DOCSIGN_AUDIT_KEY`` or the ``audit_key`` file in the data dir, mode 0600): re-hashing needs the key;
* each chain's head (length, last event id, hash) is appended to a head file outside the database
  (``<data dir>/audit/heads/<chain>.log``) right after the transaction that recorded it commits:
  deleting anchored events, or a whole chain, leaves the database shorter than its head file;
* on a schedule (the relay loop), the heads of all chains are written to a checkpoint that an RFC 3161
  timestamp authority signs, so a head file rolled back later still disagrees with a dated checkpoint.

Crash between commit and append: the append cannot be part of the database transaction, so a process
that dies in between leaves a committed event the head file does not know. ``verify`` accepts at most
ONE such event at the end of each chain (still checked by its MAC, and reported as "not yet anchored"):
the append follows the commit at once, under the chain's file lock, so only a crash (or a verify racing
a commit by microseconds) leaves a gap, and one writer leaves at most one. Two or more events beyond the
head cannot come from one crash of one writer, so they are reported as not vouched for. What this
allows an attacker is deleting the single newest event of a chain that was never anchored, which is the
same as the event never having been recorded: nothing anchored can go unnoticed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event as orm_event
from sqlalchemy import inspect as orm_inspect
from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from docsign.db import transaction_memo
from docsign.errors import ConfigError, ServiceUnavailable
from docsign.models import AuditEvent, utcnow

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from docsign.config import Settings

log = logging.getLogger(__name__)

GENESIS = "0" * 64
_ADVISORY_LOCK = 0x646F63  # with the agency id: serialises appends to one chain on PostgreSQL
_PENDING = "docsign.audit.pending"
_HEADS = "docsign.audit.heads"
_APPENDED = "a"  # head file line kinds: a head reached by appending...
_ADOPTED = "l"  # ...or the head of events recorded before MACs existed, adopted once (`docsign init`)
_TAIL_BYTES = 512


# -- where the key and the anchors live ----------------------------------------------------------------
_bound: dict[URL, Settings] = {}


def bind(settings: Settings) -> None:
    """Tell the audit log which data dir and key belong to ``settings.database_url`` (the app factory, the
    CLI and the workers do this through ``prepare_data_dir``)."""
    _bound[make_url(settings.database_url)] = settings


def _settings_for(session: Session) -> Settings:
    url = session.get_bind().url
    found = _bound.get(url)
    if found is None:
        from docsign.config import load_settings

        candidate = load_settings()
        if make_url(candidate.database_url) != url:
            raise ConfigError("the audit log has no key for this database (call docsign.audit.bind(settings))")
        bind(candidate)
        found = candidate
    return found


def heads_dir(settings: Settings) -> Path:
    return settings.data_dir / "audit" / "heads"


def checkpoints_dir(settings: Settings) -> Path:
    return settings.data_dir / "audit" / "checkpoints"


def _chain_name(agency_id: int | None) -> str:
    return "system" if agency_id is None else f"agency-{agency_id}"


def _chain_of(name: str) -> int | None:
    return None if name == "system" else int(name.removeprefix("agency-"))


def _key(settings: Settings) -> bytes:
    return settings.audit_key.encode()


# -- recording -----------------------------------------------------------------------------------------
def _digest(prev_hash: str, event: AuditEvent) -> str:
    body = json.dumps(
        [prev_hash, event.created_at.isoformat(), event.actor, event.agency_id, event.action,
         event.object_type, event.object_id, event.details],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(body.encode()).hexdigest()


def _mac(key: bytes, agency_id: int | None, seq: int, event_hash: str) -> str:
    return hmac.new(key, f"{_chain_name(agency_id)}:{seq}:{event_hash}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Anchor:
    """A chain's head as written to its head file: ``length`` events, the last one ``event_id``/``hash``."""

    chain: int | None
    length: int
    event_id: int
    hash: str
    kind: str = _APPENDED

    def line(self, key: bytes) -> str:
        body = f"{self.length} {self.event_id} {self.hash} {self.kind}"
        return f"{body} {hmac.new(key, f'{_chain_name(self.chain)}:{body}'.encode(), hashlib.sha256).hexdigest()}\n"

    @classmethod
    def parse(cls, chain: int | None, line: str, key: bytes) -> Anchor | None:
        """The anchor on ``line``, or None when the line is not one this key wrote."""
        parts = line.split()
        if len(parts) != 5:
            return None
        body = " ".join(parts[:4])
        expected = hmac.new(key, f"{_chain_name(chain)}:{body}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, parts[4]) or not parts[0].isdigit() or not parts[1].isdigit():
            return None
        return cls(chain, int(parts[0]), int(parts[1]), parts[2], parts[3])


def record(session: Session, actor: str, action: str, *, agency_id: int | None = None,
           object_type: str | None = None, object_id: object = None,
           details: dict[str, Any] | None = None) -> AuditEvent:
    """Append an event in the caller's transaction (it commits or rolls back with the change it records);
    its chain's head goes to the head file once that transaction commits."""
    settings = _settings_for(session)
    # The chain's head this transaction appended last: it still holds the chain's lock (taken below until
    # commit), so a batch of events in one transaction reads and locks the head once.
    heads: dict[int | None, tuple[str, int]] = transaction_memo(session, _HEADS)
    head = heads.get(agency_id)
    if head is None:
        dialect = session.get_bind().dialect.name
        if dialect == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key, :chain)"),
                            {"key": _ADVISORY_LOCK, "chain": agency_id or 0})
        elif dialect == "sqlite":
            # Take SQLite's write lock before reading the chain's head: a transaction that has not written
            # yet reads without it, and two such writers would both extend the same head (a forked chain).
            session.execute(text("UPDATE audit_events SET id = id WHERE 0"))
        same_chain = AuditEvent.agency_id.is_(None) if agency_id is None else AuditEvent.agency_id == agency_id
        last = session.execute(select(AuditEvent.hash, AuditEvent.seq).where(same_chain)
                               .order_by(AuditEvent.id.desc()).limit(1)).first()
        head = (last.hash, _chain_length(session, agency_id) if last.seq is None else last.seq) if last \
            else (GENESIS, 0)
    event = AuditEvent(
        created_at=utcnow().replace(microsecond=0), actor=actor, agency_id=agency_id, action=action,
        object_type=object_type, object_id=None if object_id is None else str(object_id), details=details or {},
    )
    event.prev_hash = head[0]
    event.seq = head[1] + 1
    event.hash = _digest(event.prev_hash, event)
    event.mac = _mac(_key(settings), agency_id, event.seq, event.hash)
    session.add(event)  # inserted with the transaction's next flush: a receipt's rows go out together
    heads[agency_id] = (event.hash, event.seq)
    pending: dict[int | None, list[tuple[Settings, AuditEvent, int, str]]] = session.info.setdefault(_PENDING, {})
    pending.setdefault(agency_id, []).append((settings, event, event.seq, event.hash))
    return event


def _chain_length(session: Session, agency_id: int | None) -> int:
    from sqlalchemy import func

    same_chain = AuditEvent.agency_id.is_(None) if agency_id is None else AuditEvent.agency_id == agency_id
    return session.scalar(select(func.count()).select_from(AuditEvent).where(same_chain)) or 0


@orm_event.listens_for(Session, "after_commit")
def _anchor_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for chain, events in (pending or {}).items():
        # The chain's last event that was written (one recorded in a savepoint that was rolled back never was);
        # its id from the identity key, as reading an attribute after a commit may mean a query.
        written = [(settings, seq, digest, orm_inspect(event).identity) for settings, event, seq, digest in events
                   if orm_inspect(event).identity is not None]
        if not written:
            continue
        settings, seq, digest, identity = written[-1]
        anchor = Anchor(chain, seq, identity[0], digest)
        try:
            append_anchor(settings, anchor)
        except OSError:  # committed is committed: say so loudly; verify reports the event as not anchored
            log.exception("audit: could not anchor %s at event %d", _chain_name(anchor.chain), anchor.event_id)
            from docsign import metrics

            metrics.AUDIT_ANCHOR_FAILURES.inc()


@orm_event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint: its events are no longer in the session, and the ones before it still count
    session.info.pop(_PENDING, None)


def append_anchor(settings: Settings, anchor: Anchor) -> None:
    """Append ``anchor`` to its chain's head file, under the chain's lock, unless the file already holds
    a longer head (two writers of one chain may finish their commits in either order)."""
    directory = heads_dir(settings)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(directory / f"{_chain_name(anchor.chain)}.log", os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        tail = os.pread(fd, min(size, _TAIL_BYTES), max(0, size - _TAIL_BYTES)).decode(errors="replace")
        lines = [line for line in tail.splitlines() if line.strip()]
        last = Anchor.parse(anchor.chain, lines[-1], _key(settings)) if lines else None
        if last is not None and last.length >= anchor.length:
            return
        os.write(fd, anchor.line(_key(settings)).encode())
        os.fdatasync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def read_anchors(settings: Settings) -> tuple[dict[int | None, list[Anchor]], list[str]]:
    """Every chain's anchors, oldest first, and the problems found in the head files themselves."""
    anchors: dict[int | None, list[Anchor]] = {}
    problems: list[str] = []
    directory = heads_dir(settings)
    for path in sorted(directory.glob("*.log")) if directory.is_dir() else []:
        try:
            chain = _chain_of(path.stem)
        except ValueError:
            continue
        found: list[Anchor] = []
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            parsed = Anchor.parse(chain, line, _key(settings))
            if parsed is None or (found and parsed.length <= found[-1].length):
                problems.append(f"{path.name} line {number} was not written by docsign (or not in order)")
                continue
            found.append(parsed)
        anchors[chain] = found
    return anchors, problems


def adopt_existing(session: Session, settings: Settings) -> int:
    """Anchor the chains that have events but no head file yet (events recorded before this version):
    from now on they cannot shrink unnoticed. Returns how many chains were adopted."""
    existing, _ = read_anchors(settings)
    adopted = 0
    heads = session.execute(select(AuditEvent.agency_id, AuditEvent.id, AuditEvent.hash)
                            .order_by(AuditEvent.id)).all()
    last: dict[int | None, tuple[int, int, str]] = {}
    for agency_id, event_id, event_hash in heads:
        length = last.get(agency_id, (0, 0, ""))[0] + 1
        last[agency_id] = (length, event_id, event_hash)
    for chain, (length, event_id, event_hash) in last.items():
        if chain not in existing:
            append_anchor(settings, Anchor(chain, length, event_id, event_hash, _ADOPTED))
            adopted += 1
    return adopted


# -- verifying -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ChainCheck:
    events: int
    first_broken_id: int | None
    """Id of the first event the log can no longer vouch for (edited, re-hashed, missing, or never
    anchored), or None when every chain is intact."""
    reason: str = ""
    not_yet_anchored: int = 0
    """Events at the end of a chain that committed but whose head was not yet written (at most one per
    chain: see the module's note on a crash between commit and append)."""
    checkpoints: int = 0
    warnings: tuple[str, ...] = field(default=())

    @property
    def intact(self) -> bool:
        return self.first_broken_id is None


@dataclass
class _Chain:
    positions: list[tuple[int, str]] = field(default_factory=list)
    """(event id, hash) of the chain's events, in order."""
    broken: tuple[int, str] | None = None


def verify_chain(session: Session, settings: Settings | None = None) -> ChainCheck:
    """Check every chain's links and MACs, then its length against the head files and checkpoints."""
    settings = settings or _settings_for(session)
    key = _key(settings)
    anchors, problems = read_anchors(settings)
    adopted_up_to = {chain: max((a.length for a in found if a.kind == _ADOPTED), default=0)
                     for chain, found in anchors.items()}
    chains: dict[int | None, _Chain] = {}
    count = 0
    for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=500)):
        count += 1
        chain = chains.setdefault(event.agency_id, _Chain())
        if chain.broken:
            continue
        position = len(chain.positions) + 1
        prev = chain.positions[-1][1] if chain.positions else GENESIS
        if event.prev_hash != prev or _digest(prev, event) != event.hash:
            chain.broken = (event.id, "its hash or its link to the previous event does not match")
        elif event.mac is None:
            if position > adopted_up_to.get(event.agency_id, 0):
                chain.broken = (event.id, "it has no MAC and is newer than the log's adoption")
        elif event.seq != position or not hmac.compare_digest(
                event.mac, _mac(key, event.agency_id, position, event.hash)):
            chain.broken = (event.id, "its MAC does not match (edited or re-hashed without the audit key)")
        chain.positions.append((event.id, event.hash))

    checkpoints, checkpoint_problems = read_checkpoints(settings)
    problems += checkpoint_problems
    for checkpoint in checkpoints:
        for chain_id, anchor in checkpoint.items():
            anchors.setdefault(chain_id, [])
            if all(a.length != anchor.length for a in anchors[chain_id]):
                anchors[chain_id].append(anchor)

    breaks: list[tuple[int, str]] = []
    unanchored = 0
    for chain_id in set(chains) | set(anchors):
        chain = chains.get(chain_id, _Chain())
        if chain.broken:
            breaks.append(chain.broken)
            continue
        found = anchors.get(chain_id, [])
        length = len(chain.positions)
        missing = _first_missing(session, chain_id, chain.positions, found)
        if missing:
            breaks.append(missing)
            continue
        head = max((a.length for a in found), default=0)
        if length - head > 1:
            breaks.append((chain.positions[head][0],
                           f"{length - head} events of the {_chain_name(chain_id)} chain were never anchored "
                           "in its head file (at most one may be, after a crash)"))
        unanchored += max(0, length - head)
    if breaks:
        event_id, reason = min(breaks)
        return ChainCheck(count, event_id, reason, unanchored, len(checkpoints), tuple(problems))
    if problems:
        return ChainCheck(count, 0, "; ".join(problems), unanchored, len(checkpoints), tuple(problems))
    return ChainCheck(count, None, "", unanchored, len(checkpoints))


def _first_missing(session: Session, chain_id: int | None, positions: list[tuple[int, str]],
                   anchors: Iterable[Anchor]) -> tuple[int, str] | None:
    """The first anchored event that is not in the database as anchored (deleted or re-hashed)."""
    for anchor in sorted(anchors, key=lambda a: a.length):
        if anchor.length <= len(positions):
            event_id, event_hash = positions[anchor.length - 1]
            if event_id != anchor.event_id or event_hash != anchor.hash:
                return (min(event_id, anchor.event_id),
                        f"event #{anchor.length} of the {_chain_name(chain_id)} chain is not the one anchored "
                        f"(id {anchor.event_id})")
            continue
        # Committed after this check read the table? Then it is there now, as anchored.
        later = session.get(AuditEvent, anchor.event_id, populate_existing=True)
        if later is not None and later.hash == anchor.hash and later.agency_id == chain_id:
            continue
        # The first deleted event the anchors name (each append names one; an adoption only the head).
        first_gone = next(a for a in sorted(anchors, key=lambda a: a.length) if a.length > len(positions))
        anchored = max(a.length for a in anchors)
        return (first_gone.event_id,
                f"the {_chain_name(chain_id)} chain has {len(positions)} events but {anchored} were "
                f"anchored: events from #{len(positions) + 1} on were deleted")
    return None


# -- timestamped checkpoints ---------------------------------------------------------------------------
def checkpoint(settings: Settings) -> Path:
    """Write the heads of every chain to a checkpoint and have the configured TSA timestamp it."""
    from pyhanko.sign.timestamps.requests_client import RequestsHTTPTimeStamper

    anchors, _ = read_anchors(settings)
    heads = {_chain_name(chain): [found[-1].length, found[-1].event_id, found[-1].hash]
             for chain, found in sorted(anchors.items(), key=lambda item: _chain_name(item[0])) if found}
    body = json.dumps({"created": utcnow().isoformat(), "heads": heads}, sort_keys=True,
                      separators=(",", ":")).encode()
    stamper = RequestsHTTPTimeStamper(settings.tsa_url, timeout=10)
    try:
        token = asyncio.run(stamper.async_timestamp(hashlib.sha256(body).digest(), "sha256"))
    except Exception as exc:  # pyHanko wraps network and protocol faults in several exception types
        raise ServiceUnavailable(f"the timestamp authority {settings.tsa_url} did not timestamp the audit "
                                 f"checkpoint ({exc})") from exc
    directory = checkpoints_dir(settings)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    (directory / f"{name}.tsr").write_bytes(token.dump())
    path = directory / f"{name}.json"
    path.write_bytes(body)  # written last: a checkpoint is the pair, and the .json says it is complete
    return path


def read_checkpoints(settings: Settings) -> tuple[list[dict[int | None, Anchor]], list[str]]:
    """The heads each timestamped checkpoint vouches for, and the checkpoints whose token does not fit."""
    from asn1crypto import cms
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data

    directory = checkpoints_dir(settings)
    result: list[dict[int | None, Anchor]] = []
    problems: list[str] = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        body = path.read_bytes()
        imprint = hashlib.sha256(body).digest()
        try:
            token = cms.ContentInfo.load(path.with_suffix(".tsr").read_bytes())
            status = asyncio.run(validate_tst_signed_data(token["content"], None,
                                                          lambda _alg, imprint=imprint: imprint))
            heads = json.loads(body)["heads"]
        except Exception as exc:  # unreadable token or JSON: the checkpoint itself was tampered with
            problems.append(f"checkpoint {path.name} is unreadable ({type(exc).__name__})")
            continue
        if not (status.get("intact") and status.get("valid")):
            problems.append(f"checkpoint {path.name} does not match its timestamp")
            continue
        result.append({_chain_of(name): Anchor(_chain_of(name), length, event_id, event_hash)
                       for name, (length, event_id, event_hash) in heads.items()})
    return result, problems


def checkpoint_due(settings: Settings, every_seconds: float) -> bool:
    directory = checkpoints_dir(settings)
    newest = max((p.stat().st_mtime for p in directory.glob("*.json")), default=0.0) if directory.is_dir() else 0.0
    return dt.datetime.now(dt.UTC).timestamp() - newest >= every_seconds
