"""The national document axis (Trục liên thông văn bản quốc gia, VXP): exchange with agencies outside
this installation through a VXP-style REST service, as the public SDK does (``SDKVXP-2.0.1.jar``'s
``KnobstickServiceImp``/``AgencyServiceImp``/``VnptService``, used by Bkav's hub in
QuangChuIT/edoc-integrator and the VPCP example in PVN-Organization/API-Gateway-iOffice).

The wire contract, as the SDK speaks it:

- Every call is an HTTP POST to ``<endpoint>/<call>``; its parameters travel as headers. Each logical
  header (``systemid``, ``timestamp`` as ``ddMMyyyy'T'HHmmss+SSSS``, ``Content-Type`` and the call's
  own) is sent as ``XroadVnpt-<name>``; ``XroadVnpt-sign-header-key`` lists the names joined by ``;``,
  ``XroadVnpt-sign-header`` is the JSON object of the prefixed headers, ``XroadVnpt-hash-header`` the
  hex HMAC-SHA256 of that JSON keyed with the secret; plus ``User-Agent: JAVASDKAgent/1.0.0 XRoad/VPCP``
  and ``XroadVnpt-version: 3.0.201608``.
- sendEdoc: multipart body, the packet in part ``file_doc``; headers ``from``, ``servicetype=eDoc``,
  ``messagetype`` (``edoc`` or ``status``), ``hash-file`` (hex SHA-256 of the packet) → ``DocId``.
- getReceivedEdocList (``servicetype``, ``messagetype``) → ``data[]`` of ``docId, from, to, ...``;
  getEdoc (``docId``) → ``data`` = the packet in base64; updateStatus (``docid``, ``status`` done|fail);
  getAgenciesList → ``data[]`` of ``id, pid, code, name, mail, oldCode``.
- Every answer is JSON with ``status`` (OK/FAIL), ``ErrorCode`` ("0" is success) and ``ErrorDesc``.

How docsign uses it: a delivery or status packet for an agency marked ``via_axis`` goes through the
outbox like any other, to the ``docsign.axis.send`` task (:func:`route`), which publishes it once
(:class:`AxisMessage` rows remember what was sent). :func:`poll` takes what the axis holds for us:
document packets are filed for our agencies with :func:`service.record_received` and then take the
same receive path as the Celery queues (verification, 01/02); status packets move our deliveries on
(a 01's signed receipt is checked). Each DocId is acknowledged with updateStatus after our transaction
committed, so a lost acknowledgement means the axis offers it again, and we acknowledge it again
without filing it twice. :func:`sync_directory` brings in the axis's agencies, keeping old codes as
aliases.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from docsign import audit
from docsign.config import Settings
from docsign.errors import DocsignError, InvalidInput, NotFound, ServiceUnavailable
from docsign.exchange.agency_codes import validate_agency_code
from docsign.exchange.errors import InvalidAgencyCode
from docsign.models import Agency, AgencyAlias, AxisMessage, Delivery, Exchange, StatusEvent, utcnow

log = logging.getLogger(__name__)
SEND_TASK = "docsign.axis.send"
AXIS_QUEUE = "docsign"
"""The default queue, which every ``docsign worker --all`` consumes."""
USER_AGENT = "JAVASDKAgent/1.0.0 XRoad/VPCP"
SDK_VERSION = "3.0.201608"
TIMEOUT_SECONDS = 30.0
VN_TZ = dt.timezone(dt.timedelta(hours=7))


class AxisUnavailable(ServiceUnavailable):
    """The axis did not answer, or answered something that is not its JSON: try again later."""

    code = "axis_unavailable"
    title = "The national document axis is unavailable"


class AxisRefused(DocsignError):
    """The axis answered FAIL (``ErrorCode`` other than "0") for a request."""

    http_status = 502
    exit_code = 69
    code = "axis_refused"
    title = "The national document axis refused the request"


# -- the client ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReceivedItem:
    """One entry of getReceivedEdocList."""

    doc_id: str
    from_code: str
    to: str
    message_type: str
    status: str


@dataclass(frozen=True)
class AxisAgency:
    """One entry of getAgenciesList."""

    id: str
    pid: str
    code: str
    name: str
    mail: str
    old_code: str


def sdk_timestamp(now: dt.datetime | None = None) -> str:
    """The SDK's ``ddMMyyyy'T'HHmmss+SSSS`` (Java SimpleDateFormat: ``SSSS`` is milliseconds, 4 digits)."""
    now = (now or dt.datetime.now(VN_TZ)).astimezone(VN_TZ)
    return f"{now:%d%m%Y}T{now:%H%M%S}+{now.microsecond // 1000:04d}"


def signed_headers(logical: dict[str, str], secret: str) -> dict[str, str]:
    """The HTTP headers of a call whose logical headers are ``logical`` (VnptService.addXroadVnptHashHeader)."""
    prefixed = {f"XroadVnpt-{name}": value for name, value in logical.items()}
    # compact JSON as Gson writes it; anything outside ASCII is escaped (HTTP header values are Latin-1)
    sign_header = json.dumps(prefixed, separators=(",", ":"))
    headers = dict(prefixed)
    if "Content-Type" in logical:
        headers["Content-Type"] = logical["Content-Type"]
    headers.update({
        "XroadVnpt-sign-header-key": ";".join(logical),
        "XroadVnpt-sign-header": sign_header,
        "XroadVnpt-hash-header": hmac.new(secret.encode("utf-8"), sign_header.encode("utf-8"),
                                          hashlib.sha256).hexdigest(),
        "User-Agent": USER_AGENT,
        "XroadVnpt-version": SDK_VERSION,
    })
    return headers


class AxisClient:
    """Calls of the VXP REST service, with the SDK's signed headers. Raises :class:`AxisUnavailable` when the
    axis is down, slow or answers garbage, :class:`AxisRefused` when it answers FAIL."""

    def __init__(self, url: str, system_id: str, secret: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        self.url, self.system_id, self._secret, self.timeout = url.rstrip("/"), system_id, secret, timeout
        self.http = requests.Session()

    @classmethod
    def from_settings(cls, settings: Settings) -> AxisClient | None:
        """The configured client, or None when the axis is off (DOCSIGN_AXIS_URL unset)."""
        if not settings.axis_url or not settings.axis_system_id or not settings.axis_secret:
            return None
        return cls(settings.axis_url, settings.axis_system_id, settings.axis_secret)

    def _call(self, name: str, params: dict[str, str], *, content_type: str = "application/json",
              files: dict[str, Any] | None = None) -> dict[str, Any]:
        logical = {"Content-Type": content_type, "systemid": self.system_id, "timestamp": sdk_timestamp(), **params}
        headers = signed_headers(logical, self._secret)
        if files is not None:
            del headers["Content-Type"]  # requests writes the multipart boundary
        try:
            response = self.http.post(f"{self.url}/{name}", headers=headers, files=files, timeout=self.timeout)
        except requests.Timeout:
            raise AxisUnavailable(f"{name}: the axis did not answer within {self.timeout:g} s") from None
        except requests.RequestException as exc:
            raise AxisUnavailable(f"{name}: the axis cannot be reached ({type(exc).__name__})") from None
        if response.status_code >= 500 or response.status_code in (408, 429):
            raise AxisUnavailable(f"{name}: the axis answered HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError:
            raise AxisUnavailable(f"{name}: the axis answered HTTP {response.status_code} with something that is "
                                  f"not JSON ({response.text[:80]!r})") from None
        if not isinstance(body, dict) or "ErrorCode" not in body:
            raise AxisUnavailable(f"{name}: the axis's answer has no ErrorCode ({str(body)[:80]!r})")
        if str(body.get("ErrorCode")) != "0" or str(body.get("status", "OK")).upper() == "FAIL":
            detail = f"{body.get('ErrorCode')} {body.get('ErrorDesc') or ''}".strip()
            raise AxisRefused(f"{name}: the axis refused: {detail}")
        return body

    def send_edoc(self, packet: bytes, *, from_code: str, message_type: str) -> str:
        body = self._call("sendEdoc", {"from": from_code, "servicetype": "eDoc", "messagetype": message_type,
                                       "hash-file": hashlib.sha256(packet).hexdigest()},
                          content_type="application/octet-stream",
                          files={"file_doc": ("packet.edxml", packet, "application/octet-stream")})
        doc_id = body.get("DocId")
        if not isinstance(doc_id, str | int) or not str(doc_id).strip():
            raise AxisUnavailable("sendEdoc: the axis's answer carries no DocId")
        return str(doc_id)

    def get_received_edoc_list(self, message_type: str) -> list[ReceivedItem]:
        body = self._call("getReceivedEdocList", {"servicetype": "eDoc", "messagetype": message_type})
        data = body.get("data") or []
        if not isinstance(data, list):
            raise AxisUnavailable("getReceivedEdocList: data is not a list")
        items = []
        for entry in data:
            if not isinstance(entry, dict) or not str(entry.get("docId") or "").strip():
                raise AxisUnavailable(f"getReceivedEdocList: an entry has no docId ({str(entry)[:80]!r})")
            items.append(ReceivedItem(str(entry["docId"]), str(entry.get("from") or ""), str(entry.get("to") or ""),
                                      str(entry.get("messageType") or message_type), str(entry.get("status") or "")))
        return items

    def get_edoc(self, doc_id: str) -> bytes:
        body = self._call("getEdoc", {"docId": doc_id})
        try:
            return base64.b64decode(str(body["data"]), validate=True)
        except (KeyError, ValueError):
            raise AxisUnavailable(f"getEdoc {doc_id}: data is not base64") from None

    def update_status(self, doc_id: str, status: str) -> None:
        self._call("updateStatus", {"docid": doc_id, "status": status})

    def get_agencies_list(self) -> list[AxisAgency]:
        body = self._call("getAgenciesList", {})
        data = body.get("data") or []
        if not isinstance(data, list):
            raise AxisUnavailable("getAgenciesList: data is not a list")
        return [AxisAgency(*(str(entry.get(k) or "").strip() for k in ("id", "pid", "code", "name", "mail", "oldCode")))
                for entry in data if isinstance(entry, dict)]


# -- sending --------------------------------------------------------------------------------------

def route(session: Session, task: str, agency: Agency | str, queue: str) -> tuple[str, str]:
    """The outbox's task and queue for a message to ``agency`` (or the agency of that code): unchanged for
    agencies of this installation, the axis's send task for agencies reached through the axis."""
    via_axis = (session.scalar(select(Agency.via_axis).where(Agency.code == agency)) if isinstance(agency, str)
                else agency.via_axis)
    if via_axis:
        return SEND_TASK, AXIS_QUEUE
    return task, queue


def publish(session: Session, settings: Settings, client: AxisClient, *, delivery_id: int | None = None,
            status_event_id: int | None = None) -> str:
    """Publish a delivery's document packet or a status packet on the axis, once: a message the axis
    already took is not sent again (the outbox and its sweeper may offer it more than once).
    Returns the axis's DocId. Errors propagate; :func:`record_failure` keeps their reason."""
    from docsign.storage import BlobStore

    ref, message_type, from_code, data = _outgoing(session, settings, delivery_id, status_event_id)
    row = session.scalar(select(AxisMessage).where(AxisMessage.direction == "out", AxisMessage.local_ref == ref)
                         .with_for_update())
    if row is not None and row.state == "sent":
        log.info("%s already on the axis as %s: not sent again", ref, row.axis_doc_id)
        return str(row.axis_doc_id)
    if row is None:
        row = AxisMessage(direction="out", message_type=message_type, local_ref=ref, state="pending", attempts=0)
        session.add(row)
    row.attempts += 1
    row.packet_sha256 = BlobStore(settings.blob_dir).put_bytes(data).key
    doc_id = client.send_edoc(data, from_code=from_code, message_type=message_type)
    row.axis_doc_id, row.state, row.last_error = doc_id, "sent", None
    audit.record(session, "system", "axis.send", object_type=message_type, object_id=ref, details={"doc_id": doc_id})
    return doc_id


def _outgoing(session: Session, settings: Settings, delivery_id: int | None,
              status_event_id: int | None) -> tuple[str, str, str, bytes]:
    from docsign.exchange.send import read_packet
    from docsign.storage import BlobStore

    if delivery_id is not None:
        delivery = session.get(Delivery, delivery_id)
        if delivery is None:
            raise NotFound(f"delivery {delivery_id} does not exist")
        exchange = delivery.exchange
        return f"delivery:{delivery.id}", "edoc", exchange.sender.code, read_packet(settings, exchange)
    event = session.get(StatusEvent, status_event_id)
    if event is None or not event.packet_sha256:
        raise NotFound(f"status event {status_event_id} has no status packet")
    by = session.get(Agency, event.actor_agency_id) if event.actor_agency_id else None
    return (f"status:{event.id}", "status", by.code if by else "",
            BlobStore(settings.blob_dir).read_bytes(event.packet_sha256))


def record_failure(session: Session, *, delivery_id: int | None, status_event_id: int | None, reason: str) -> None:
    """Keep why publishing failed (in a transaction of its own: the failed one was rolled back)."""
    ref = f"delivery:{delivery_id}" if delivery_id is not None else f"status:{status_event_id}"
    row = session.scalar(select(AxisMessage).where(AxisMessage.direction == "out", AxisMessage.local_ref == ref))
    if row is None:
        row = AxisMessage(direction="out", message_type="edoc" if delivery_id is not None else "status",
                          local_ref=ref, state="pending", attempts=0)
        session.add(row)
    if row.state == "sent":
        return
    row.attempts += 1
    row.last_error = reason[:2000]


# -- receiving ------------------------------------------------------------------------------------

@dataclass
class PollResult:
    filed: int = 0
    statuses: int = 0
    acknowledged_again: int = 0
    refused: int = 0
    echoes: int = 0
    """Our own packets the axis routed back to our agencies (acknowledged, not filed)."""


def poll(sessions: Callable[[], Any], settings: Settings, client: AxisClient) -> PollResult:
    """Take everything the axis holds for us: document packets, then status packets. Each DocId is handled
    in a transaction of its own and acknowledged after it committed. An axis that goes away mid-way raises
    :class:`AxisUnavailable`; what was handled stays handled, the rest is offered again next time."""
    result = PollResult()
    for message_type in ("edoc", "status"):
        for item in client.get_received_edoc_list(message_type):
            _take(sessions, settings, client, item, message_type, result)
    return result


def _take(sessions: Callable[[], Any], settings: Settings, client: AxisClient, item: ReceivedItem,
          message_type: str, result: PollResult) -> None:
    with sessions() as session:
        known = session.scalar(select(AxisMessage).where(AxisMessage.direction == "in",
                                                         AxisMessage.axis_doc_id == item.doc_id))
        if known is not None:
            answer = "done" if known.state == "done" else "fail"
    if known is not None:
        client.update_status(item.doc_id, answer)  # our earlier acknowledgement was lost
        result.acknowledged_again += 1
        return
    data = client.get_edoc(item.doc_id)
    reason = None
    echoes_before = result.echoes
    try:
        with sessions() as session:
            if message_type != "edoc":
                _file_status(session, settings, data)
            elif _file_document(session, settings, data) is None:
                result.echoes += 1
            session.add(AxisMessage(direction="in", message_type=message_type, axis_doc_id=item.doc_id, state="done",
                                    attempts=1, packet_sha256=hashlib.sha256(data).hexdigest()))
    except DocsignError as exc:
        if exc.retryable:
            raise
        reason = exc.message
    if reason is not None:
        with sessions() as session:
            session.add(AxisMessage(direction="in", message_type=message_type, axis_doc_id=item.doc_id,
                                    state="failed", attempts=1, last_error=reason[:2000],
                                    packet_sha256=hashlib.sha256(data).hexdigest()))
            audit.record(session, "system", "axis.refuse", object_type=message_type, object_id=item.doc_id,
                         details={"reason": reason[:500], "from": item.from_code})
        log.warning("axis %s %s from %s refused: %s", message_type, item.doc_id, item.from_code, reason)
        client.update_status(item.doc_id, "fail")
        result.refused += 1
        return
    client.update_status(item.doc_id, "done")
    if message_type == "edoc":
        result.filed += 1 - min(1, result.echoes - echoes_before)
    else:
        result.statuses += 1


def _file_document(session: Session, settings: Settings, data: bytes) -> Exchange | None:
    from docsign.errors import Conflict
    from docsign.exchange import edxml
    from docsign.exchange.directory import get_agency
    from docsign.exchange.send import max_packet_bytes, record_received

    packet = edxml.parse_document_packet(data, max_bytes=max_packet_bytes(settings))
    header = packet.message_header
    try:
        sender = get_agency(session, header.from_.organ_id)
    except NotFound:
        raise InvalidInput(f"the sender {header.from_.organ_id} is not in the directory (synchronise it with "
                           "the axis)") from None
    if not sender.via_axis:
        # One of our own packets, which the axis also routes to our agencies among its recipients: they
        # had it through our own queues already.
        log.info("axis: our own packet %s came back: acknowledged, not filed again", header.document_id)
        return None
    recipients: list[Agency] = []
    for organization in header.to:
        try:
            agency = get_agency(session, organization.organ_id)
        except NotFound:
            continue
        if not agency.via_axis and agency not in recipients:
            recipients.append(agency)
    if not recipients:
        raise InvalidInput("the packet is addressed to none of the agencies of this installation")
    try:
        with session.begin_nested():
            return record_received(session, settings, data, recipients, actor="axis")
    except Conflict:
        raise InvalidInput(f"DocumentId {header.document_id} was already received as a new document") from None


def _file_status(session: Session, settings: Settings, data: bytes) -> StatusEvent:
    from docsign.exchange import edxml, receipts
    from docsign.exchange.directory import get_agency
    from docsign.exchange.statuses import Party, StatusCode, next_state
    from docsign.storage import BlobStore

    status = edxml.parse_status_packet(data)
    try:
        original_sender = get_agency(session, status.response_for.organ_id)
    except NotFound:
        raise InvalidInput(f"the status answers a document of {status.response_for.organ_id}, which is not in "
                           "the directory") from None
    # DocumentIds are unique per sender only: the one answered is the original sender's.
    exchange = session.scalar(select(Exchange).where(Exchange.sender_agency_id == original_sender.id,
                                                     Exchange.edxml_document_id == status.response_for.document_id)
                              .order_by(Exchange.created_at.desc()))
    if exchange is None:
        raise InvalidInput(f"the status answers DocumentId {status.response_for.document_id}, which was not sent here")
    try:
        by = get_agency(session, status.from_.organ_id)
    except NotFound:
        raise InvalidInput(f"the status comes from {status.from_.organ_id}, which is not in the directory") from None
    delivery = next((d for d in exchange.deliveries if d.recipient_agency_id == by.id), None)
    if delivery is None:
        raise InvalidInput(f"{by.code} is not a recipient of DocumentId {exchange.edxml_document_id}")
    code = StatusCode.parse(status.status_code.value)
    target = next_state(delivery.state, code, by=Party.RECEIVER, before_recall=delivery.before_recall)
    if code is StatusCode.RECALL_AGREED or code is StatusCode.RECALL_REFUSED:
        delivery.before_recall = None
    delivery.state = target
    event = StatusEvent(delivery=delivery, code=code.value, state=target.value,
                        description=status.description or f"{code.label_vi} / {code.label_en}",
                        actor_agency_id=by.id, staff=status.staff_info.staff or None,
                        packet_sha256=BlobStore(settings.blob_dir).put_bytes(data).key, received_at=utcnow())
    session.add(event)
    session.flush()
    receipts.record_receipt(session, settings, event, data)
    return event


# -- the directory --------------------------------------------------------------------------------

@dataclass
class DirectorySync:
    added: int = 0
    updated: int = 0
    renamed: int = 0
    skipped: list[str] | None = None


def sync_directory(session: Session, client: AxisClient, *, actor: str = "system") -> DirectorySync:
    """Bring the axis's agencies into the directory as agencies reached through the axis. An agency whose
    code changed (``oldCode``) keeps its row and history under the new code; the old code stays an alias,
    so packets still addressed to it arrive. Agencies of this installation are left as they are."""
    result = DirectorySync(skipped=[])
    assert result.skipped is not None
    for entry in client.get_agencies_list():
        try:
            code = validate_agency_code(entry.code)
        except InvalidAgencyCode:
            result.skipped.append(f"{entry.code or '(no code)'} {entry.name}: not a QCVN 102 agency code")
            continue
        name = (entry.name or code)[:200]
        agency = session.scalar(select(Agency).where(Agency.code == code))
        old = None
        if entry.old_code and entry.old_code.upper() != code:
            old = session.scalar(select(Agency).where(Agency.code == entry.old_code.strip().upper()))
        if agency is None and old is not None:
            session.add(AgencyAlias(code=old.code, agency=old))
            old.code = code
            agency = old
            result.renamed += 1
            audit.record(session, actor, "agency.renamed", agency_id=old.id, object_type="agency", object_id=code,
                         details={"old_code": entry.old_code})
        elif agency is None:
            agency = Agency(code=code, name=name, email=entry.mail[:100] or None, via_axis=True)
            session.add(agency)
            session.flush()
            result.added += 1
            audit.record(session, actor, "agency.add", agency_id=agency.id, object_type="agency", object_id=code,
                         details={"name": name, "source": "axis"})
            continue
        elif agency.via_axis and (agency.name != name or (agency.email or "") != entry.mail[:100]):
            result.updated += 1
        if agency.via_axis:
            agency.name, agency.email = name, entry.mail[:100] or None
        if entry.old_code and entry.old_code.upper() != code and session.scalar(
                select(AgencyAlias.id).where(AgencyAlias.code == entry.old_code.strip().upper())) is None \
                and session.scalar(select(Agency.id).where(Agency.code == entry.old_code.strip().upper())) is None:
            # an old code in another form (QĐ 20) is no OrganId a packet can carry
            with contextlib.suppress(InvalidAgencyCode):
                session.add(AgencyAlias(code=validate_agency_code(entry.old_code), agency=agency))
        session.flush()
    return result
