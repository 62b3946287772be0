"""Typed errors of the exchange domain layer.

Each is a subclass of a :mod:`docsign.errors` base, so every face (web, CLI, worker) already knows its
HTTP status and exit code. Messages name the field or the status so a clerk can fix the packet or
pick the right action.
"""

from __future__ import annotations

from docsign.errors import Conflict, InvalidInput, PayloadTooLarge, PermissionDenied


class InvalidAgencyCode(InvalidInput):
    """An OrganId is not a QCVN 102 agency code (``XXX.YY.ZZ.Mnn``)."""

    code = "invalid_agency_code"
    title = "Invalid agency code"


class InvalidPacket(InvalidInput):
    """An edXML packet cannot be read or built: not XML, not edXML, or a field breaks a rule."""

    code = "invalid_packet"
    title = "Invalid edXML packet"


class PacketFieldError(InvalidPacket):
    """One or more fields break QCVN 102 rules; ``problems`` lists ``(path, reason)`` pairs.

    The message joins them, e.g. ``MessageHeader/Code/CodeNumber: required``, so a rejection (02)
    can carry every reason at once instead of one per round trip.
    """

    code = "invalid_packet_field"

    def __init__(self, problems: list[tuple[str, str]] | tuple[tuple[str, str], ...]) -> None:
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        super().__init__("; ".join(f"{path}: {reason}" for path, reason in self.problems))


class UnsafeXml(InvalidPacket):
    """The packet declares a DOCTYPE or entities: refused before anything in it is used."""

    code = "unsafe_xml"
    title = "Refused XML"


class PacketTooLarge(PayloadTooLarge):
    """The packet is larger, or has more attachments, than this service accepts."""

    code = "packet_too_large"
    title = "The edXML packet is too large"


class InvalidTransition(Conflict):
    """A status code or transport event does not follow the delivery's current state."""

    code = "invalid_transition"
    title = "Status does not follow"

    def __init__(self, message: str, *, current: str, event: str) -> None:
        self.current = current
        self.event = event
        super().__init__(message)


class WrongParty(PermissionDenied):
    """A status code was sent by the wrong side (e.g. a receiver asking to recall, 13)."""

    code = "wrong_party"
    title = "This side may not send this status"
