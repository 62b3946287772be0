"""A seeded history for the adoption report, written as rows the way the flows write them: January and
February 2026 for a province P, its child C and C's child G, with documents from a sender S, many of them
a few minutes either side of midnight in +07:00 (where a month or day taken in UTC would be wrong).

The expected figures, counted by hand from the list below, are in :data:`EXPECTED`."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass

from sqlalchemy.orm import Session

from docsign.documents import register
from docsign.models import (
    Agency,
    Delivery,
    Document,
    DocumentOrigin,
    DocumentRevision,
    Exchange,
    PaperSending,
    Signature,
    StatusEvent,
)
from docsign.reports.adoption import Figures

VN = dt.timezone(dt.timedelta(hours=7))
SEAL_REASON = "the seal certificate does not belong to the sender"
_ids = itertools.count(1)
Event = tuple[str, dt.datetime, str]
"""A status: code, when, description."""


def vn(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=VN)


@dataclass
class History:
    session: Session
    sender: Agency

    def issue(self, agency: Agency, at: dt.datetime, *, approved: bool) -> Document:
        document = Document(agency=agency, origin=DocumentOrigin.DRAFTED, title=f"Văn bản {next(_ids)}")
        document.revisions.append(DocumentRevision(number=1, sha256="0" * 64, size=1, action="upload"))
        if approved:
            self._sign(document, "approve", at - dt.timedelta(hours=3))
        self._sign(document, "issue", at)
        self.session.add(document)
        self.session.flush()
        return document

    def _sign(self, document: Document, role: str, at: dt.datetime) -> None:
        revision = DocumentRevision(number=len(document.revisions) + 1, sha256="0" * 64, size=1, action=role)
        revision.signatures.append(Signature(field_name=role, role=role, level="PAdES-B-T", signer_common_name="x",
                                             signer_serial="1", signed_at=at))
        document.revisions.append(revision)

    def deliver(self, recipient: Agency, *, arrived: dt.datetime | None, events: tuple[Event, ...] = (),
                due: dt.date | None = None, edxml_id: str | None = None) -> Delivery:
        """A document from the sender to ``recipient``: filed and registered when ``arrived``, then statuses."""
        number = next(_ids)
        source = self.issue(self.sender, vn(1, 2, 9), approved=True)
        exchange = Exchange(id=f"ex-{number}", document=source, revision=source.revisions[-1], sender=self.sender,
                            edxml_document_id=f"{self.sender.code},2026/01/02,{number}/UBND-VP",
                            subject=f"Công văn {number}", due_date=due)
        delivery = Delivery(exchange=exchange, recipient=recipient, state="delivered")
        self.session.add(delivery)
        self.session.flush()
        if arrived is not None:
            inbox = Document(agency=recipient, origin=DocumentOrigin.RECEIVED, title=exchange.subject,
                             code_number=str(number), code_notation="UBND-VP", received_via_delivery_id=delivery.id)
            self.session.add(inbox)
            register.register_arrival(self.session, inbox, agency_id=recipient.id, issuer=self.sender,
                                      edxml_document_id=edxml_id or exchange.edxml_document_id, due_date=due,
                                      arrived_at=arrived.astimezone(dt.UTC))
            self.session.add(StatusEvent(delivery=delivery, code="01", state="delivered", created_at=arrived))
        for code, at, description in events:
            self.session.add(StatusEvent(delivery=delivery, code=code, state="x", description=description,
                                         created_at=at))
        self.session.flush()
        return delivery

    def paper(self, agency: Agency, sent_on: dt.date, recipients: tuple[str, ...]) -> None:
        entry = register.take_number(self.session, agency.id, issued_on=sent_on, notation="UBND-VP",
                                     subject="Giấy mời họp")
        for recipient in recipients:
            self.session.add(PaperSending(agency_id=agency.id, entry=entry, recipient=recipient, sent_on=sent_on))
        self.session.flush()


def rejected(reason: str = "") -> str:
    return "Từ chối tiếp nhận / Rejected" + (f": {reason}" if reason else "")


def seed(session: Session, p: Agency, c: Agency, g: Agency, s: Agency) -> None:
    """P > C > G; S sends. Each line says in which month and column it counts."""
    h = History(session, s)
    accepted, finished = "03", "06"
    # -- issued (month of the seal signature, +07:00)
    h.issue(p, vn(1, 5, 10), approved=True)             # P Jan: issued, both
    h.issue(p, vn(1, 31, 23, 30), approved=False)       # P Jan: issued only (16:30 UTC)
    h.issue(p, vn(2, 1, 0, 30), approved=True)          # P Feb: issued, both (17:30 UTC on 31 Jan)
    h.issue(p, vn(3, 1, 0, 30), approved=True)          # March: outside (17:30 UTC on 28 Feb)
    h.issue(c, vn(1, 20, 9), approved=True)             # C Jan: issued, both
    h.issue(g, vn(2, 14, 9), approved=False)            # G Feb: issued only
    # -- received, registered (03) the same day, answered (06) late or not
    h.deliver(p, arrived=vn(1, 10, 9), due=dt.date(2026, 1, 20),
              events=((accepted, vn(1, 11, 6), ""),                # next day (23:00 UTC on 10 Jan)
                      (finished, vn(1, 25, 10), "")))              # P Jan: answered late
    h.deliver(p, arrived=vn(1, 20, 0, 30),                         # 17:30 UTC on 19 Jan
              events=((accepted, vn(1, 20, 6), ""),                # same day (23:00 UTC on 19 Jan)
                      (finished, vn(2, 3, 10), "")))               # P Feb: answered, no due date
    h.deliver(p, arrived=vn(2, 1, 0, 15), due=dt.date(2026, 2, 10),  # P Feb (17:15 UTC on 31 Jan)
              events=((accepted, vn(2, 1, 8), ""),                 # same day
                      (finished, vn(2, 11, 0, 30), "")))           # late (17:30 UTC on 10 Feb)
    h.deliver(p, arrived=vn(2, 5, 9), due=dt.date(2026, 2, 10),
              events=((accepted, vn(2, 5, 10), ""),                # same day
                      (finished, vn(2, 10, 23), "")))              # on time (16:00 UTC on 10 Feb)
    h.deliver(p, arrived=vn(2, 28, 10),
              events=(("02", vn(2, 28, 23, 50), rejected("thiếu phụ lục")),))  # P Feb: received, rejected
    h.deliver(p, arrived=None, events=(("02", vn(3, 1, 0, 10), rejected(SEAL_REASON)),))  # March: outside
    h.deliver(p, arrived=vn(12, 31, 23, 59, year=2025),            # December: outside
              events=((accepted, vn(1, 1, 8), ""),))
    first = h.deliver(c, arrived=vn(1, 12, 14), events=((accepted, vn(1, 12, 15), ""),))  # C Jan: same day
    h.deliver(c, arrived=vn(2, 4, 9), edxml_id=first.exchange.edxml_document_id)  # duplicate: not counted
    h.deliver(c, arrived=None, events=(("02", vn(1, 31, 23, 50), rejected(SEAL_REASON)),))  # C Jan
    h.deliver(c, arrived=None, events=(("02", vn(2, 2, 9), rejected(SEAL_REASON)),))        # C Feb
    h.deliver(c, arrived=None, events=(("02", vn(2, 3, 9), rejected()),))                   # C Feb, no reason
    h.deliver(g, arrived=vn(1, 31, 23), events=((accepted, vn(2, 1, 7), ""),))  # G Jan: received, next day
    # -- paper (date sent)
    h.paper(p, dt.date(2026, 1, 15), ("Bộ Nội vụ",))
    h.paper(g, dt.date(2026, 1, 31), ("Bưu điện tỉnh", "Công an huyện"))
    h.paper(g, dt.date(2026, 2, 1), ("Bưu điện tỉnh",))


NO_REASON = "(không ghi lý do)"
EXPECTED: dict[tuple[str, str, bool], Figures] = {
    # (agency, month, rolled up)
    ("P", "2026-01", False): Figures(issued=2, issued_both=1, received=2, registered_same_day=1, answered=1,
                                     answered_late=1, paper=1),
    ("P", "2026-02", False): Figures(issued=1, issued_both=1, received=3, registered_same_day=2, rejected=1,
                                     answered=3, answered_late=1, reasons=(("thiếu phụ lục", 1),)),
    ("C", "2026-01", False): Figures(issued=1, issued_both=1, received=1, registered_same_day=1, rejected=1,
                                     reasons=((SEAL_REASON, 1),)),
    ("C", "2026-02", False): Figures(rejected=2, reasons=((NO_REASON, 1), (SEAL_REASON, 1))),
    ("G", "2026-01", False): Figures(received=1, paper=2),
    ("G", "2026-02", False): Figures(issued=1, paper=1),
    ("C", "2026-01", True): Figures(issued=1, issued_both=1, received=2, registered_same_day=1, rejected=1, paper=2,
                                    reasons=((SEAL_REASON, 1),)),
    ("C", "2026-02", True): Figures(issued=1, rejected=2, paper=1, reasons=((NO_REASON, 1), (SEAL_REASON, 1))),
    ("P", "2026-01", True): Figures(issued=3, issued_both=2, received=4, registered_same_day=2, rejected=1,
                                    answered=1, answered_late=1, paper=3, reasons=((SEAL_REASON, 1),)),
    ("P", "2026-02", True): Figures(issued=2, issued_both=1, received=3, registered_same_day=2, rejected=3,
                                    answered=3, answered_late=1, paper=1,
                                    reasons=((NO_REASON, 1), (SEAL_REASON, 1), ("thiếu phụ lục", 1))),
}
