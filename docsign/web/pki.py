"""PKI services of the demo (or a test) authority over HTTP: CA certificates, CRLs, OCSP, RFC 3161.

Mounted at ``/pki`` so certificates issued by the demo PKI point here, and B-T/B-LT signing and
revocation checks work with no outside network.
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Response, abort, current_app, request

from docsign.pki.authority import PkiStore

bp = Blueprint("pki", __name__, url_prefix="/pki")
EXTENSION_KEY = "docsign.pki_store"
MAX_REQUEST_BYTES = 64 * 1024


def pki_store() -> PkiStore:
    store = current_app.extensions.get(EXTENSION_KEY)
    if store is None:
        loader = current_app.extensions.get(EXTENSION_KEY + ".loader")
        store = loader() if loader else None
        if store is None:
            abort(404, "this server runs no PKI services")
        current_app.extensions[EXTENSION_KEY] = store
    return store


def _body() -> bytes:
    if (request.content_length or 0) > MAX_REQUEST_BYTES:
        abort(413)
    return request.get_data(cache=False)[:MAX_REQUEST_BYTES + 1]


@bp.get("/ca/<label>.crt")
def ca_certificate(label: str) -> Response:
    return Response(pki_store().ca_certificate_der(label), mimetype="application/pkix-cert")


@bp.get("/crl/<label>.crl")
def crl(label: str) -> Response:
    return Response(pki_store().crl(label), mimetype="application/pkix-crl")


@bp.post("/ocsp/<label>")
def ocsp_post(label: str) -> Response:
    return Response(pki_store().ocsp_response(_body(), label), mimetype="application/ocsp-response")


@bp.get("/ocsp/<label>/<path:encoded>")
def ocsp_get(label: str, encoded: str) -> Response:
    try:
        der = base64.b64decode(encoded, validate=False)
    except (binascii.Error, ValueError):
        der = b""
    return Response(pki_store().ocsp_response(der, label), mimetype="application/ocsp-response")


@bp.post("/tsa")
def timestamp() -> Response:
    return Response(pki_store().timestamp_response(_body()), mimetype="application/timestamp-reply")
