"""The registers of Decree 30/2020: one number from one book.

**Outgoing** (sổ đăng ký văn bản đi, Art. 15-16): a book per agency, year and series. Legal normative
documents get one series per type (Art. 15.1a: "mỗi loại văn bản quy phạm pháp luật được cấp hệ thống
số riêng"); every other document shares one series. Numbers start at 01 each year. The number printed
on the PDF, the packet's CodeNumber, DocumentId and PromulgationDate all come from the book's entry.

**Arrivals** (sổ đăng ký văn bản đến, Art. 22): every received document gets the next arrival number of
its agency's year, with the fields of Appendix IV/VI; a second arrival of the same document is written
down as a duplicate of the first and takes no number.

Allocation is atomic and gapless: it first writes the book's row (a row lock on PostgreSQL, the write
lock on SQLite) and only then reads the last number, in the caller's transaction. The lock is held until
that transaction ends, so two concurrent allocations never see the same last number, and an issue that
fails rolls its number back with everything else: no number is burned. Functions never commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from pyhanko.pdf_utils.reader import PdfFileReader

from docsign.db import dialect_insert, transaction_memo
from docsign.errors import Conflict, InvalidInput
from docsign.models import (
    Agency,
    ArrivalEntry,
    BookKind,
    Document,
    DocumentRevision,
    OutgoingEntry,
    RegisterBook,
    utcnow,
)

VN_TZ = dt.timezone(dt.timedelta(hours=7))
NUMBER_FIELD = "so_ky_hieu"
"""The text field the issue role fills with "Số: 05/UBND-VP" (SignRequest.number_field)."""
_PRINTED = re.compile(r"^\s*(?:số\s*:?\s*)?0*(\d{1,11})\s*(?:/\s*(\S+?))?\s*$", re.IGNORECASE)


class NumberTaken(Conflict):
    """The number is already written in the book for another document."""

    code = "number_taken"
    title = "The number is already used"


class NumberMismatch(InvalidInput):
    """The number printed on the PDF is not the one the register gives the document."""

    code = "number_mismatch"
    title = "The printed number and the register disagree"


def today() -> dt.date:
    return dt.datetime.now(VN_TZ).date()


# -- books -----------------------------------------------------------------------------------------

BOOK_LABELS = {
    BookKind.LEGAL: ("Sổ văn bản quy phạm pháp luật", "Legal normative documents"),
    BookKind.OTHER: ("Sổ văn bản đi", "Outgoing documents"),
    BookKind.INCOMING: ("Sổ văn bản đến", "Incoming documents"),
}


def parse_kind(value: str | None, *, outgoing: bool = True) -> BookKind:
    try:
        kind = BookKind((value or BookKind.OTHER.value).strip().lower())
    except ValueError:
        kind = None
    if kind is None or (outgoing and kind is BookKind.INCOMING):
        raise InvalidInput(f"unknown register book {value!r}: use 'other' (văn bản đi) or 'legal' "
                           "(văn bản quy phạm pháp luật)")
    return kind


def series_for(kind: BookKind, type_name: str | None) -> str:
    """The series of a book: the type of a legal normative document ("Quyết định"), else empty."""
    if kind is not BookKind.LEGAL:
        return ""
    name = " ".join((type_name or "").split())
    if not name:
        raise InvalidInput("a legal normative document is numbered in the series of its type: give its type "
                           "(Nghị quyết, Quyết định, Chỉ thị...)")
    return unicodedata.normalize("NFC", name[:1].upper() + name[1:].lower())[:100]


def find_book(session: Session, agency_id: int, year: int, kind: BookKind, series: str = "") -> RegisterBook | None:
    return session.scalar(select(RegisterBook).where(RegisterBook.agency_id == agency_id, RegisterBook.year == year,
                                                     RegisterBook.kind == kind, RegisterBook.series == series))


def _locked_book(session: Session, agency_id: int, year: int, kind: BookKind, series: str) -> RegisterBook:
    """The book, created if need be, locked for the rest of the caller's transaction, freshly read.

    One statement takes the lock and reads the book (UPDATE ... RETURNING: the last number the previous
    holder committed); a transaction that already holds the book's lock (a batch of arrivals) reuses it."""
    held: dict[tuple[int, int, str, str], RegisterBook] = transaction_memo(session, "docsign.held_books")
    key = (agency_id, year, kind.value, series)
    if key in held:
        return held[key]
    lock = (update(RegisterBook)
            .where(RegisterBook.agency_id == agency_id, RegisterBook.year == year, RegisterBook.kind == kind,
                   RegisterBook.series == series)
            .values(locked_at=utcnow()).returning(RegisterBook)
            .execution_options(populate_existing=True, synchronize_session=False))
    book = session.scalars(lock).one_or_none()
    if book is None:
        session.execute(dialect_insert(session)(RegisterBook).values(
            agency_id=agency_id, year=year, kind=kind.value, series=series, last_number=0).on_conflict_do_nothing())
        book = session.scalars(lock).one()
    held[key] = book
    return book


def next_number(session: Session, agency_id: int, kind: BookKind = BookKind.OTHER, series: str = "",
                on: dt.date | None = None) -> int:
    """The number the book would give now (a suggestion: allocation decides)."""
    book = find_book(session, agency_id, (on or today()).year, kind, series)
    return (book.last_number if book else 0) + 1


def book_label(book: RegisterBook) -> str:
    vi = BOOK_LABELS[book.kind][0]
    return f"{vi} {book.series} {book.year}".replace("  ", " ") if book.series else f"{vi} {book.year}"


# -- the outgoing register ------------------------------------------------------------------------

def take_number(session: Session, agency_id: int, *, issued_on: dt.date, notation: str, subject: str,
                kind: BookKind = BookKind.OTHER, type_name: str | None = None, number: int | None = None,
                document: Document | None = None, signer: str | None = None, created_by_id: int | None = None,
                consecutive: bool = True) -> OutgoingEntry:
    """Write the next number (or ``number``) of the book into the register for a document.

    ``consecutive`` (docsign's own numbering): a given number must be the book's next one. Without it (a
    number another system gave, recorded when the document is sent) it only has to be free. Either way
    the dates follow the numbers: a number's date is never before the date of the number before it.
    """
    if issued_on > today():
        raise InvalidInput(f"the date {issued_on:%d/%m/%Y} is in the future")
    series = series_for(kind, type_name)
    book = _locked_book(session, agency_id, issued_on.year, kind, series)
    label = book_label(book)
    if number is None:
        number = book.last_number + 1
    else:
        if number < 1:
            raise InvalidInput("a number is a whole number from 01")
        taken = session.scalar(select(OutgoingEntry).where(OutgoingEntry.book_id == book.id,
                                                           OutgoingEntry.number == number))
        if taken is not None:
            owner = f"document {taken.document_id}" if taken.document_id else "an entry"
            raise NumberTaken(f"number {number:02d} is already used in {label} ({owner} of "
                              f"{taken.issued_on:%d/%m/%Y}); the next number is {book.last_number + 1:02d}")
        if consecutive and number != book.last_number + 1:
            raise InvalidInput(f"numbers in {label} follow on without gaps (Decree 30 Art. 15): the next number "
                               f"is {book.last_number + 1:02d}, not {number:02d}")
    before = session.scalar(select(OutgoingEntry).where(OutgoingEntry.book_id == book.id, OutgoingEntry.number < number)
                            .order_by(OutgoingEntry.number.desc()).limit(1))
    if before is not None and before.issued_on > issued_on:
        raise InvalidInput(f"the date {issued_on:%d/%m/%Y} is before {before.issued_on:%d/%m/%Y}, the date of number "
                           f"{before.number:02d}, the number before it in {label}")
    after = session.scalar(select(OutgoingEntry).where(OutgoingEntry.book_id == book.id, OutgoingEntry.number > number)
                           .order_by(OutgoingEntry.number).limit(1))
    if after is not None and after.issued_on < issued_on:
        raise InvalidInput(f"the date {issued_on:%d/%m/%Y} is after {after.issued_on:%d/%m/%Y}, the date of number "
                           f"{after.number:02d}, the number after it in {label}")
    entry = OutgoingEntry(book=book, number=number, notation=notation, issued_on=issued_on, type_name=type_name,
                          subject=subject[:500], signer=signer, document=document, created_by_id=created_by_id)
    session.add(entry)
    book.last_number = max(book.last_number, number)
    session.flush()
    return entry


def entry_of(session: Session, document: Document) -> OutgoingEntry | None:
    if document.id is None:
        return None
    return session.scalar(select(OutgoingEntry).where(OutgoingEntry.document_id == document.id))


@dataclass(frozen=True)
class PrintedNumber:
    number: int
    notation: str | None

    def __str__(self) -> str:
        return f"{self.number:02d}/{self.notation}" if self.notation else f"{self.number:02d}"


def printed_number(pdf: bytes) -> PrintedNumber | None:
    """The number the PDF shows in its number field ("Số: 05/UBND-VP", or just "05"), or None when it
    has none: a scan, or a file sealed without the issue role."""
    from pyhanko.pdf_utils.misc import PdfError
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        root = reader.root
        if "/AcroForm" not in root or "/Fields" not in root["/AcroForm"]:
            return None
        pending = [(ref.get_object(), None) for ref in root["/AcroForm"]["/Fields"]]
        seen = 0
        while pending and seen < 500:
            field, inherited_type = pending.pop()
            seen += 1
            field_type = field.raw_get("/FT") if "/FT" in field else inherited_type
            if "/Kids" in field:
                pending.extend((kid.get_object(), field_type) for kid in field["/Kids"])
            if field_type == "/Sig":
                continue  # its /V is the signature dictionary: reading it would parse the whole CMS hex string
            value = field["/V"] if "/V" in field else None  # noqa: SIM401 ([] dereferences, get() does not)
            if not isinstance(value, str):
                continue
            value = unicodedata.normalize("NFC", value)
            name = str(field["/T"]) if "/T" in field else ""
            if name != NUMBER_FIELD and not value.strip().lower().startswith("số"):
                continue
            match = _PRINTED.match(value)
            if match:
                # Filled into a draft's "Số:      /UBND-VP" blank, the field holds the number only: the
                # notation is the draft's own text after it.
                return PrintedNumber(int(match.group(1)), match.group(2) or _printed_notation(pdf, reader))
    except (PdfError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return None


def _printed_notation(pdf: bytes, reader: PdfFileReader) -> str | None:
    """The notation the page prints after the "Số:" blank, as the signing role read it from the draft."""
    from docsign.signing.draft import read_draft
    from docsign.signing.pdfio import PageTree

    geometries = PageTree(reader.root, reader).geometries  # page 1 is read, not all of them
    with tempfile.NamedTemporaryFile(suffix=".pdf") as copy:
        copy.write(pdf)
        copy.flush()
        number = read_draft(Path(copy.name), geometries, want_signer=False).number
    # a notation with the year ("2026/QĐ-UBND") is compared by its notation, as issuing does
    return re.sub(r"^\d{4}/", "", number.notation) if number is not None and number.notation else None


@dataclass(frozen=True)
class Numbering:
    """What a sent document is known by: from its register entry."""

    entry: OutgoingEntry
    document: Document | None
    """The document the entry already belongs to (None: the caller files one and links it)."""

    @property
    def number(self) -> str:
        return self.entry.number_text

    @property
    def notation(self) -> str:
        return self.entry.notation

    @property
    def issued_on(self) -> dt.date:
        return self.entry.issued_on


def numbering_for_sending(session: Session, sender: Agency, pdf: bytes, *, document: Document | None,
                          number: str | None, notation: str, subject: str, type_name: str | None,
                          created_by_id: int | None = None) -> Numbering:
    """The number, notation and date a document goes out with, from the outgoing register; refuses a PDF
    whose printed number disagrees with the register (or with the number given)."""
    printed = printed_number(pdf)
    given = _given_number(number)
    if document is not None and document.id is not None:
        entry = entry_of(session, document)
        if entry is None:
            raise InvalidInput(f"document {document.id} has no number in the outgoing register: issue it first")
        _agree(printed, entry.number, entry.notation, "the register")
        if given is not None and given != entry.number:
            raise NumberMismatch(f"the register gives this document number {entry.number_text}, not {given:02d}")
        return Numbering(entry, document)
    if printed is not None and given is not None and printed.number != given:
        raise NumberMismatch(f"the PDF shows Số: {printed} but number {given:02d} was given")
    known = _entry_for_bytes(session, sender.id, pdf)  # a document issued here, sent again from outside
    if known is not None:
        _agree(printed, known.number, known.notation, "the register")
        if given is not None and given != known.number:
            raise NumberMismatch(f"the register gives this document number {known.number_text}, not {given:02d}")
        return Numbering(known, known.document)
    wanted = printed.number if printed is not None else given
    notation = (printed.notation if printed is not None and printed.notation else notation).upper()
    entry = take_number(session, sender.id, issued_on=today(), notation=notation, subject=subject,
                        type_name=type_name, number=wanted, created_by_id=created_by_id, consecutive=False)
    return Numbering(entry, None)


def _entry_for_bytes(session: Session, agency_id: int, pdf: bytes) -> OutgoingEntry | None:
    """The register entry of the agency's document one of whose revisions is exactly these bytes."""
    digest = hashlib.sha256(pdf).hexdigest()
    return session.scalar(select(OutgoingEntry).join(Document, OutgoingEntry.document_id == Document.id)
                          .join(DocumentRevision, DocumentRevision.document_id == Document.id)
                          .where(Document.agency_id == agency_id, DocumentRevision.sha256 == digest).limit(1))


def _given_number(number: str | None) -> int | None:
    number = (number or "").strip()
    if not number:
        return None
    if not number.isdigit() or len(number) > 11 or int(number) < 1:
        raise InvalidInput(f"the number (số) is a whole number such as 05, not {number!r}")
    return int(number)


def _agree(printed: PrintedNumber | None, number: int, notation: str, source: str) -> None:
    if printed is None:
        return
    if printed.number != number or (printed.notation and printed.notation.upper() != notation.upper()):
        raise NumberMismatch(f"the PDF shows Số: {printed} but {source} has {number:02d}/{notation}; "
                             "the document cannot be sent with two numbers")


# -- the arrivals register --------------------------------------------------------------------------

def register_arrival(session: Session, document: Document, *, agency_id: int, issuer: Agency,
                     edxml_document_id: str | None, due_date: dt.date | None = None, business_type: int = 0,
                     arrived_at: dt.datetime | None = None) -> ArrivalEntry:
    """Write a received document into its agency's arrivals register with the next arrival number of the
    year; a second arrival of a document already registered (same DocumentId, or the same number,
    notation and issuer in the same year) is written as a duplicate of the first, without a number.
    Updates, replacements and revocations (BussinessDocType 1-3) reuse a DocumentId on purpose: they
    are new arrivals."""
    arrived_at = arrived_at or utcnow()
    arrived_on = arrived_at.astimezone(VN_TZ).date()
    code_number = _normal_code_number(document.code_number)
    original = None
    with session.no_autoflush:  # the document goes out with its register entry, in the one flush below
        book = _locked_book(session, agency_id, arrived_on.year, BookKind.INCOMING, "")
        if business_type == 0:
            original = first_arrival(session, agency_id, edxml_document_id=edxml_document_id,
                                     issuer_code=issuer.code, code_number=code_number,
                                     code_notation=document.code_notation, issued_on=document.promulgation_date)
    number = None if original is not None else book.last_number + 1
    entry = ArrivalEntry(book=book, number=number, arrived_on=arrived_on, arrived_at=arrived_at,
                         issuer_code=issuer.code, issuer_name=issuer.name[:200], code_number=code_number,
                         code_notation=document.code_notation, issued_on=document.promulgation_date,
                         type_name=document.document_type, subject=document.title[:500],
                         edxml_document_id=edxml_document_id, due_date=due_date, document=document,
                         duplicate_of=original)
    session.add(entry)
    if number is not None:
        book.last_number = number
    session.flush()
    return entry


def first_arrival(session: Session, agency_id: int, *, edxml_document_id: str | None, issuer_code: str,
                  code_number: str | None, code_notation: str | None,
                  issued_on: dt.date | None) -> ArrivalEntry | None:
    """The registered (numbered) arrival of the same document, if any."""
    same_id = ArrivalEntry.edxml_document_id == edxml_document_id if edxml_document_id else None
    same_code = None
    if code_number and code_notation:
        same_code = (ArrivalEntry.issuer_code == issuer_code) & (ArrivalEntry.code_number == code_number) & \
            (ArrivalEntry.code_notation == code_notation)
    conditions = [c for c in (same_id, same_code) if c is not None]
    if not conditions:
        return None
    from sqlalchemy import or_

    candidates = session.scalars(select(ArrivalEntry).join(RegisterBook)
                                 .where(RegisterBook.agency_id == agency_id, ArrivalEntry.number.is_not(None),
                                        or_(*conditions)).order_by(ArrivalEntry.id)).all()
    for candidate in candidates:
        if edxml_document_id and candidate.edxml_document_id == edxml_document_id:
            return candidate
        # numbers restart each year: the same number and notation of another year is another document
        if issued_on is None or candidate.issued_on is None or candidate.issued_on.year == issued_on.year:
            return candidate
    return None


def _normal_code_number(number: str | None) -> str | None:
    number = (number or "").strip() or None
    if number and number.isdigit():
        return str(int(number)).zfill(2)
    return number


def arrival_of(session: Session, document_id: int) -> ArrivalEntry | None:
    return session.scalar(select(ArrivalEntry).where(ArrivalEntry.document_id == document_id))


def arrivals_of(session: Session, document_ids: list[int]) -> dict[int, ArrivalEntry]:
    """The arrival entries of these inbox documents, by document id."""
    if not document_ids:
        return {}
    rows = session.scalars(select(ArrivalEntry).where(ArrivalEntry.document_id.in_(document_ids)))
    return {entry.document_id: entry for entry in rows if entry.document_id is not None}


def arrivals(session: Session, agency_id: int, date_from: dt.date | None = None,
             date_to: dt.date | None = None) -> list[ArrivalEntry]:
    """The agency's arrivals register, in arrival order, optionally between two arrival dates (inclusive)."""
    if date_from and date_to and date_from > date_to:
        raise InvalidInput(f"the period starts ({date_from:%d/%m/%Y}) after it ends ({date_to:%d/%m/%Y})")
    query = select(ArrivalEntry).join(RegisterBook).where(RegisterBook.agency_id == agency_id)
    if date_from:
        query = query.where(ArrivalEntry.arrived_on >= date_from)
    if date_to:
        query = query.where(ArrivalEntry.arrived_on <= date_to)
    return list(session.scalars(query.order_by(ArrivalEntry.arrived_at, ArrivalEntry.id)))


def outgoing(session: Session, agency_id: int, date_from: dt.date | None = None,
             date_to: dt.date | None = None) -> list[OutgoingEntry]:
    """The agency's outgoing register (every book), by date then book and number."""
    if date_from and date_to and date_from > date_to:
        raise InvalidInput(f"the period starts ({date_from:%d/%m/%Y}) after it ends ({date_to:%d/%m/%Y})")
    query = select(OutgoingEntry).join(RegisterBook).where(RegisterBook.agency_id == agency_id)
    if date_from:
        query = query.where(OutgoingEntry.issued_on >= date_from)
    if date_to:
        query = query.where(OutgoingEntry.issued_on <= date_to)
    return list(session.scalars(query.order_by(OutgoingEntry.issued_on, RegisterBook.kind, RegisterBook.series,
                                               OutgoingEntry.number)))


def set_handling(session: Session, agency_id: int, entry_id: int, *, handling_unit: str | None,
                 due_date: dt.date | None) -> ArrivalEntry:
    """Who handles an arrival, and by when (đơn vị hoặc người nhận, thời hạn giải quyết)."""
    from docsign.errors import NotFound

    entry = session.scalar(select(ArrivalEntry).join(RegisterBook)
                           .where(ArrivalEntry.id == entry_id, RegisterBook.agency_id == agency_id))
    if entry is None:
        raise NotFound(f"arrival {entry_id} is not in your agency's register")
    unit = " ".join((handling_unit or "").split()) or None
    if unit and len(unit) > 200:
        raise InvalidInput("the handling unit has at most 200 characters")
    if due_date is not None and due_date < entry.arrived_on:
        raise InvalidInput(f"the due date {due_date:%d/%m/%Y} is before the arrival ({entry.arrived_on:%d/%m/%Y})")
    entry.handling_unit = unit
    entry.due_date = due_date
    session.flush()
    return entry
