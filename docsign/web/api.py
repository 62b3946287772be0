"""The agency API (``/api/v1``): another agency's document system sends and receives with a bearer token.

Every call acts for the token's agency and sees only that agency's exchanges and inbox. Views parse,
authorise and call the exchange service; errors are application/problem+json.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from flask.blueprints import BlueprintSetupState
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from docsign import accounts, validation
from docsign.errors import AuthenticationRequired, InvalidInput, NotFound, PayloadTooLarge, UnsupportedMediaType
from docsign.exchange import service as exchange_service
from docsign.exchange.directory import list_agencies
from docsign.exchange.views import exchange_summary
from docsign.models import Delivery, Exchange
from docsign.storage import BlobStore
from docsign.web.context import db, settings

bp = Blueprint("api", __name__, url_prefix="/api/v1")


@bp.record_once
def _exempt_from_csrf(state: BlueprintSetupState) -> None:
    # Bearer tokens, not cookies: a cross-site form cannot carry them, so CSRF tokens add nothing here.
    csrf = state.app.extensions.get("csrf")
    if csrf is not None:
        csrf.exempt(bp)


def token_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationRequired("send the agency's API token as 'Authorization: Bearer <token>'")
        row = accounts.resolve_token(db(), token.strip())
        g.agency = row.agency
        g.actor = f"token:{row.prefix}"
        db().commit()  # records last_used_at
        return view(*args, **kwargs)

    return wrapper


def _pdf_upload() -> tuple[bytes, str]:
    limit = settings().max_upload_bytes
    upload = request.files.get("file")
    if upload is None:
        raise InvalidInput("send the sealed PDF in the multipart field 'file'")
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the file is larger than {settings().max_upload_mb} MiB")
    if not data.startswith(b"%PDF-"):
        raise UnsupportedMediaType("the file is not a PDF")
    return data, upload.filename or "document.pdf"


def _visible_exchange(exchange_id: str) -> Exchange:
    exchange = db().get(Exchange, exchange_id)
    if exchange is None or not exchange.deliveries_seen_by(g.agency.id):
        raise NotFound(f"no exchange {exchange_id} for {g.agency.code}")
    return exchange


def _visible_delivery(delivery_id: int) -> Delivery:
    delivery = db().get(Delivery, delivery_id)
    if delivery is None or delivery.party_of(g.agency.id) is None:
        raise NotFound(f"no delivery {delivery_id} for {g.agency.code}")
    return delivery


@bp.get("/agencies")
@token_required
def agencies() -> Response:
    return jsonify([{"code": a.code, "name": a.name, "parent": a.parent.code if a.parent else None,
                     "queue": a.queue} for a in list_agencies(db())])


@bp.post("/exchanges")
@token_required
def send() -> tuple[Response, int]:
    """Send a sealed PDF: multipart ``file`` plus form fields ``to`` (comma-separated codes) and ``subject``."""
    pdf, name = _pdf_upload()
    form = request.form
    send_request = exchange_service.SendRequest(
        sender_code=g.agency.code, recipient_codes=tuple(form.get("to", "").split(",")),
        subject=form.get("subject", ""), file_name=name, code_number=form.get("number") or None,
        code_notation=form.get("notation") or "VP", type_name=form.get("type_name") or "Công văn",
        priority=validation.whole_number(form.get("priority"), "priority", low=0, high=4, default=0),
        **exchange_service.packet_fields(content=form.get("content"), due_date=form.get("due_date"),
                                         steering_type=form.get("steering_type"),
                                         to_places=form.getlist("to_place")),
    ).validated()  # before the PDF is verified: bad fields are refused at once
    exchange = exchange_service.send(db(), settings(), send_request, pdf, actor=g.actor)
    db().commit()
    return jsonify(exchange_summary(db(), exchange.id, viewer=g.agency)), 201


@bp.post("/exchanges/import")
@token_required
def import_packet() -> tuple[Response, int]:
    """Send on an edXML packet (request body) whose From is the token's agency."""
    data = request.get_data(cache=False)[: settings().max_upload_bytes * 2]
    from docsign.exchange import edxml

    packet = edxml.parse_document_packet(data)
    if packet.message_header.from_.organ_id != g.agency.code:
        raise InvalidInput(f"the packet's From is {packet.message_header.from_.organ_id}, not {g.agency.code}")
    exchange = exchange_service.import_packet(db(), settings(), data, actor=g.actor)
    db().commit()
    return jsonify(exchange_summary(db(), exchange.id, viewer=g.agency)), 201


@bp.get("/exchanges/<exchange_id>")
@token_required
def show(exchange_id: str) -> Response:
    return jsonify(exchange_summary(db(), exchange_id, viewer=g.agency))


@bp.get("/exchanges/<exchange_id>/packet")
@token_required
def packet(exchange_id: str) -> Response:
    data = exchange_service.read_packet(settings(), _visible_exchange(exchange_id))
    return Response(data, mimetype="application/xml",
                    headers={"Content-Disposition": f'attachment; filename="{exchange_id}.edxml"'})


@bp.get("/inbox")
@token_required
def inbox() -> Response:
    """Deliveries addressed to the token's agency, newest first (``?state=delivered`` filters)."""
    query = (select(Delivery).options(selectinload(Delivery.inbox_document))
             .where(Delivery.recipient_agency_id == g.agency.id).order_by(Delivery.id.desc()))
    if request.args.get("state"):
        query = query.where(Delivery.state == request.args["state"])
    limit = validation.whole_number(request.args.get("limit"), "limit", low=1, high=500, default=100)
    rows = db().scalars(query.limit(limit)).all()
    return jsonify([{"delivery_id": d.id, "exchange_id": d.exchange_id, "state": d.state,
                     "document_id": d.exchange.edxml_document_id, "subject": d.exchange.subject,
                     "from": {"code": d.exchange.sender.code, "name": d.exchange.sender.name},
                     "inbox_document_id": d.inbox_document_id} for d in rows])


@bp.get("/deliveries/<int:delivery_id>/document")
@token_required
def delivered_document(delivery_id: int) -> Response:
    delivery = _visible_delivery(delivery_id)
    if delivery.recipient_agency_id != g.agency.id or delivery.inbox_document is None:
        raise NotFound("the document has not arrived in this agency's inbox")
    # The bytes as received (those the signed receipt names) unless asked for the kept ones: extended to
    # B-LT/B-LTA by docsign.ltv after the receipt.
    version = request.args.get("version", "received")
    if version not in ("received", "kept"):
        raise InvalidInput(f"version must be 'received' or 'kept', not {version[:20]!r}")
    revisions = delivery.inbox_document.revisions
    data = BlobStore(settings().blob_dir).read_bytes((revisions[0] if version == "received" else revisions[-1]).sha256)
    return Response(data, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="delivery-{delivery_id}.pdf"',
                             "Cache-Control": "private, no-store"})


@bp.post("/deliveries/<int:delivery_id>/status")
@token_required
def status(delivery_id: int) -> tuple[Response, int]:
    """Give a status: ``{"code": "03", "staff": "...", "description": "..."}``."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("code"), str):
        raise InvalidInput('send JSON like {"code": "03"}')
    _visible_delivery(delivery_id)
    event = exchange_service.record_status(db(), settings(), delivery_id, body["code"], by_agency_code=g.agency.code,
                                           actor=g.actor, staff=body.get("staff"), description=body.get("description"))
    db().commit()
    return jsonify({"delivery_id": delivery_id, "code": event.code, "state": event.state}), 201


@bp.get("/openapi.json")
def openapi() -> Response:
    from docsign.web.openapi import SPEC

    return jsonify(SPEC)
