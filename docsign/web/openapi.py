"""OpenAPI 3.1 description of ``/api/v1`` (served at /api/v1/openapi.json)."""

from __future__ import annotations

from typing import Any

from docsign import __version__

_PROBLEM = {"description": "Problem (RFC 9457)", "content": {"application/problem+json": {
    "schema": {"$ref": "#/components/schemas/Problem"}}}}
_AUTH_ERRORS = {"401": _PROBLEM, "404": _PROBLEM}


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "security": [{"bearer": []}], "responses": {**responses, **_AUTH_ERRORS}, **extra}


SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "docsign agency API", "version": __version__,
             "description": "Send and receive signed documents between agencies (edXML, QCVN 102:2016)."},
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "An agency token from `docsign token create --agency CODE`."}},
        "schemas": {"Problem": {"type": "object", "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}}}},
    },
    "paths": {
        "/api/v1/verify": {"post": {
            "summary": "Verify every signature of a PDF (no token needed)",
            "requestBody": {"content": {"application/pdf": {}, "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}},
            "responses": {"200": {"description": "The verification report"}, "400": _PROBLEM, "413": _PROBLEM,
                          "415": _PROBLEM}}},
        "/api/v1/agencies": {"get": _op("The agency directory", {"200": {"description": "Agencies"}})},
        "/api/v1/exchanges": {"post": _op(
            "Send a sealed PDF to agencies",
            {"201": {"description": "The exchange with one delivery per recipient"}, "400": _PROBLEM,
             "409": _PROBLEM, "413": _PROBLEM, "415": _PROBLEM},
            requestBody={"content": {"multipart/form-data": {"schema": {"type": "object", "required": [
                "file", "to", "subject"], "properties": {
                "file": {"type": "string", "format": "binary"},
                "to": {"type": "string", "description": "Recipient codes, comma-separated"},
                "subject": {"type": "string", "maxLength": 500}, "number": {"type": "string", "maxLength": 11},
                "notation": {"type": "string", "maxLength": 30}, "type_name": {"type": "string"},
                "priority": {"type": "integer", "minimum": 0, "maximum": 4}}}}}})},
        "/api/v1/exchanges/import": {"post": _op(
            "Send on an edXML packet", {"201": {"description": "The exchange"}, "400": _PROBLEM, "409": _PROBLEM},
            requestBody={"content": {"application/xml": {}}})},
        "/api/v1/exchanges/{id}": {"get": _op(
            "An exchange and its deliveries' status history (a recipient sees only its own delivery)",
            {"200": {"description": "The exchange"}})},
        "/api/v1/exchanges/{id}/packet": {"get": _op("The exchange's edXML packet",
                                                      {"200": {"description": "edXML", "content": {
                                                          "application/xml": {}}}})},
        "/api/v1/inbox": {"get": _op("Deliveries addressed to the token's agency",
                                     {"200": {"description": "Deliveries"}},
                                     parameters=[{"name": "state", "in": "query", "schema": {"type": "string"}},
                                                 {"name": "limit", "in": "query", "schema": {"type": "integer"}}])},
        "/api/v1/register/arrivals": {"get": _op(
            "The token's agency's arrivals register (sổ đăng ký văn bản đến)",
            {"200": {"description": "Entries in arrival order (JSON), or the CSV, XLSX or PDF table", "content": {
                "application/json": {}, "text/csv": {}, "application/pdf": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}}}, "400": _PROBLEM},
            parameters=[{"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}},
                        {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}},
                        {"name": "format", "in": "query",
                         "schema": {"type": "string", "enum": ["json", "csv", "xlsx", "pdf"]}}])},
        "/api/v1/deliveries/{id}/document": {"get": _op("The received PDF", {"200": {
            "description": "PDF", "content": {"application/pdf": {}}}, "400": _PROBLEM}, parameters=[{
                "name": "version", "in": "query", "description": "received (default): the bytes as received; "
                "kept: as kept, extended with validation data and document timestamps (B-LT/B-LTA)",
                "schema": {"type": "string", "enum": ["received", "kept"]}}])},
        "/api/v1/deliveries/{id}/status": {"post": _op(
            "Give a status (03-06, 15/16 as recipient; 13 as sender)",
            {"201": {"description": "The new state"}, "400": _PROBLEM, "403": _PROBLEM, "409": _PROBLEM},
            requestBody={"content": {"application/json": {"schema": {"type": "object", "required": ["code"],
                                                                      "properties": {
                                                                          "code": {"type": "string"},
                                                                          "staff": {"type": "string"},
                                                                          "description": {"type": "string"}}}}}})},
    },
}
