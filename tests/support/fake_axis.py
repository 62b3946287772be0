"""A small national document axis (VXP) for the tests: a real HTTP server on loopback, in a thread, that
speaks the contract of the public SDK (SDKVXP-2.0.1.jar as used by PVN-Organization/API-Gateway-iOffice
"JDK 1.8/SDKVXP_Example" and QuangChuIT/edoc-integrator's ServiceVPCP):

- POST /sendEdoc (multipart ``file_doc``; headers from, servicetype, messagetype, hash-file) → DocId (the
  same file from the same sender again gets the same DocId: an assumption, the SDK sends hash-file);
- POST /getReceivedEdocList (servicetype, messagetype) → data[] of docId, from, to, ...;
- POST /getEdoc (docId) → data = the packet in base64;
- POST /updateStatus (docid, status done|fail);
- POST /getAgenciesList → data[] of id, pid, code, name, mail, oldCode.

Every request must carry the SDK's signed headers (XroadVnpt-sign-header-key/-sign-header/-hash-header,
HMAC-SHA256 with the system's secret); answers are JSON with status, ErrorCode, ErrorDesc. It routes a
packet to the systems owning the agencies it is addressed to (To of a document, ResponseFor of a status).

Faults a test can switch on: ``mode = "garbage"`` (an HTML page), ``"slow"`` (answers after
``slow_seconds``), ``"error500"``; :meth:`FakeAxis.stop` / :meth:`FakeAxis.start` take the server away and
bring it back on the same port (connection refused meanwhile)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, request
from lxml import etree
from werkzeug.serving import make_server

from tests.support.pki_server import free_port


@dataclass
class AxisDoc:
    doc_id: str
    from_code: str
    to_codes: list[str]
    message_type: str
    data: bytes
    created: str
    status: dict[str, str] = field(default_factory=dict)
    """receiving system → initial/done/fail"""


class FakeAxis:
    def __init__(self, systems: dict[str, tuple[str, set[str]]], directory: list[dict[str, str]] | None = None) -> None:
        """``systems``: systemId → (secret, the agency codes that system serves)."""
        self.systems = systems
        self.directory = directory or []
        self.docs: dict[str, AxisDoc] = {}
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        """(call, systemId, logical headers) of every well-signed request."""
        self.refused: list[str] = []
        self.mode = "ok"
        self.slow_seconds = 2.0
        self.port = free_port()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.app = self._build()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- the server's life ----------------------------------------------------------------------
    def start(self) -> FakeAxis:
        self._server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAxis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what tests look at ---------------------------------------------------------------------
    def sends(self, message_type: str | None = None) -> list[dict[str, str]]:
        return [h for call, _, h in self.calls if call == "sendEdoc"
                and (message_type is None or h.get("messagetype") == message_type)]

    def inject(self, from_code: str, to_codes: list[str], data: bytes, message_type: str = "edoc") -> str:
        """A packet another system sent through the axis."""
        with self._lock:
            doc_id = str(uuid.uuid4())
            self.docs[doc_id] = AxisDoc(doc_id, from_code, to_codes, message_type, data, _now(),
                                        {s: "initial" for s in self._systems_for(to_codes)})
        return doc_id

    def offer_again(self, doc_id: str) -> None:
        """The axis lost our acknowledgement: it lists the packet again."""
        with self._lock:
            for system in self.docs[doc_id].status:
                self.docs[doc_id].status[system] = "initial"

    def delivered_to(self, system_id: str, message_type: str) -> list[AxisDoc]:
        return [d for d in self.docs.values() if system_id in d.status and d.message_type == message_type]

    # -- the contract ---------------------------------------------------------------------------
    def _systems_for(self, codes: list[str]) -> list[str]:
        return [sid for sid, (_, served) in self.systems.items() if served & set(codes)]

    def _authenticate(self) -> tuple[str, dict[str, str]]:
        key_list = request.headers.get("XroadVnpt-sign-header-key", "")
        sign_header = request.headers.get("XroadVnpt-sign-header", "")
        given = request.headers.get("XroadVnpt-hash-header", "")
        if not key_list or not sign_header or not given:
            raise _Fail("-1", "missing XroadVnpt signature headers")
        try:
            signed = json.loads(sign_header)
        except ValueError:
            raise _Fail("-1", "XroadVnpt-sign-header is not JSON") from None
        logical = {}
        for name in key_list.split(";"):
            value = request.headers.get(f"XroadVnpt-{name}")
            if value is None or signed.get(f"XroadVnpt-{name}") != value:
                raise _Fail("-1", f"header {name} is not the signed one")
            logical[name] = value
        system_id = logical.get("systemid", "")
        if system_id not in self.systems:
            raise _Fail("-2", f"unknown systemid {system_id!r}")
        expected = hmac.new(self.systems[system_id][0].encode(), sign_header.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, given):
            raise _Fail("-3", "hash-header does not match (wrong secret or altered headers)")
        if request.headers.get("User-Agent") != "JAVASDKAgent/1.0.0 XRoad/VPCP" or \
                request.headers.get("XroadVnpt-version") != "3.0.201608" or "timestamp" not in logical:
            raise _Fail("-1", "not the SDK's User-Agent, version or timestamp")
        return system_id, logical

    def _build(self) -> Flask:
        app = Flask("fake-axis")

        @app.post("/<call>")
        def call(call: str) -> Response:
            if self.mode == "garbage":
                return Response("<html><body>502 Bad Gateway (nginx)</body></html>", 200, mimetype="text/html")
            if self.mode == "error500":
                return Response("Internal Server Error", 500)
            if self.mode == "slow":
                time.sleep(self.slow_seconds)
            try:
                system_id, logical = self._authenticate()
                handler = getattr(self, f"_{call}", None)
                if handler is None:
                    raise _Fail("-404", f"no call {call}")
                with self._lock:
                    self.calls.append((call, system_id, logical))
                    body = handler(system_id, logical)
            except _Fail as fail:
                self.refused.append(fail.desc)
                body = {"status": "FAIL", "ErrorCode": fail.code, "ErrorDesc": fail.desc}
            return Response(json.dumps(body), 200, mimetype="application/json")

        return app

    def _sendEdoc(self, system_id: str, h: dict[str, str]) -> dict[str, Any]:
        upload = request.files.get("file_doc")
        if upload is None:
            raise _Fail("-5", "no file_doc part")
        data = upload.read()
        if hashlib.sha256(data).hexdigest() != h.get("hash-file"):
            raise _Fail("-6", "hash-file does not match the file")
        if h.get("from") not in self.systems[system_id][1]:
            raise _Fail("-7", f"{h.get('from')} is not an agency of {system_id}")
        message_type = h.get("messagetype", "")
        try:
            root = etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))
        except etree.XMLSyntaxError:
            raise _Fail("-8", "the file is not XML") from None
        path = ".//{*}ResponseFor/{*}OrganId" if message_type == "status" else ".//{*}MessageHeader/{*}To/{*}OrganId"
        to_codes = [e.text or "" for e in root.iterfind(path)]
        for known in self.docs.values():  # the same file from the same sender again: the same document
            if known.from_code == h["from"] and hashlib.sha256(known.data).hexdigest() == h["hash-file"]:
                return {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success", "DocId": known.doc_id}
        doc_id = f"VXP-{next(self._ids):06d}"
        self.docs[doc_id] = AxisDoc(doc_id, h["from"], to_codes, message_type, data, _now(),
                                    {s: "initial" for s in self._systems_for(to_codes)})
        return {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success", "DocId": doc_id}

    def _getReceivedEdocList(self, system_id: str, h: dict[str, str]) -> dict[str, Any]:
        data = [{"docId": d.doc_id, "serviceType": "eDoc", "messageType": d.message_type, "from": d.from_code,
                 "to": json.dumps(d.to_codes), "status": "initial", "status_desc": "Chưa nhận",
                 "created_time": d.created, "updated_time": d.created}
                for d in self.docs.values()
                if d.status.get(system_id) == "initial" and d.message_type == h.get("messagetype")]
        return {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success", "data": data}

    def _getEdoc(self, system_id: str, h: dict[str, str]) -> dict[str, Any]:
        doc = self.docs.get(h.get("docId", ""))
        if doc is None or system_id not in doc.status:
            raise _Fail("-9", "no such document for this system")
        return {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success", "data": base64.b64encode(doc.data).decode()}

    def _updateStatus(self, system_id: str, h: dict[str, str]) -> dict[str, Any]:
        doc = self.docs.get(h.get("docid", ""))
        if doc is None or system_id not in doc.status:
            raise _Fail("-9", "no such document for this system")
        if h.get("status") not in {"done", "fail"}:
            raise _Fail("-10", f"unknown status {h.get('status')!r}")
        doc.status[system_id] = h["status"]
        return {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success"}

    def _getAgenciesList(self, system_id: str, h: dict[str, str]) -> dict[str, Any]:
        return {"status": "OK", "ErrorCode": "0", "ErrorDesc": "Success", "data": self.directory}


class _Fail(Exception):
    def __init__(self, code: str, desc: str) -> None:
        self.code, self.desc = code, desc


def _now() -> str:
    return time.strftime("%Y/%m/%d %H:%M:%S")
