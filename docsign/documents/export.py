"""The registers as tables a clerk prints and files (Decree 30 Art. 16.2b, 22.3b: a register kept in the
system is printed with every field of the Appendix IV form and bound): CSV, XLSX (openpyxl) and a PDF
table (fpdf2) in the Noto Serif font docsign ships for Vietnamese text."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from docsign.models import ArrivalEntry, OutgoingEntry

FORMATS = ("csv", "xlsx", "pdf")
MEDIA_TYPES = {"csv": "text/csv; charset=utf-8",
               "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
               "pdf": "application/pdf"}


def _date(value: dt.date | None) -> str:
    return f"{value:%d/%m/%Y}" if value else ""


def _arrival_note(entry: ArrivalEntry) -> str:
    if entry.duplicate_of is not None:
        return f"Trùng với văn bản đến số {entry.duplicate_of.number_text} (không vào sổ lần hai)"
    return ""


@dataclass(frozen=True)
class Column:
    vi: str
    en: str
    value: Callable[[Any], str | int]
    width: float
    """Share of the printed page's width."""


ARRIVAL_COLUMNS = (
    Column("Ngày đến", "Arrival date", lambda e: _date(e.arrived_on), 8),
    Column("Số đến", "Arrival no.", lambda e: e.number_text or "—", 6),
    Column("Tác giả", "Issuer", lambda e: e.issuer_name, 15),
    Column("Số, ký hiệu", "Number, notation", lambda e: e.code_text, 10),
    Column("Ngày tháng", "Date", lambda e: _date(e.issued_on), 8),
    Column("Tên loại và trích yếu nội dung", "Type and subject",
           lambda e: " ".join(x for x in (e.type_name, e.subject) if x), 25),
    Column("Đơn vị hoặc người nhận", "Handling unit", lambda e: e.handling_unit or "", 11),
    Column("Thời hạn giải quyết", "Due date", lambda e: _date(e.due_date), 8),
    Column("Ghi chú", "Notes", lambda e: _arrival_note(e), 9),
)

OUTGOING_COLUMNS = (
    Column("Số, ký hiệu văn bản", "Number, notation",
           lambda e: f"{e.number_text}/{e.notation}", 12),
    Column("Ngày tháng văn bản", "Date", lambda e: _date(e.issued_on), 9),
    Column("Sổ", "Book", lambda e: e.book.series or "Văn bản đi", 12),
    Column("Tên loại và trích yếu nội dung", "Type and subject",
           lambda e: " ".join(x for x in (e.type_name, e.subject) if x), 40),
    Column("Người ký", "Signer", lambda e: e.signer or "", 14),
    Column("Ghi chú", "Notes", lambda e: f"văn bản {e.document_id}" if e.document_id else "", 13),
)


@dataclass(frozen=True)
class Table:
    title: str
    period: str
    columns: tuple[Column, ...]
    rows: list[list[str | int]]
    sheet: str = "So dang ky"
    """The XLSX sheet's name."""

    @property
    def headers(self) -> list[str]:
        return [c.vi for c in self.columns]


def arrivals_table(entries: Sequence[ArrivalEntry], agency_name: str, date_from: dt.date | None,
                   date_to: dt.date | None) -> Table:
    return Table(f"SỔ ĐĂNG KÝ VĂN BẢN ĐẾN — {agency_name}", _period(date_from, date_to), ARRIVAL_COLUMNS,
                 [[c.value(e) for c in ARRIVAL_COLUMNS] for e in entries])


def outgoing_table(entries: Sequence[OutgoingEntry], agency_name: str, date_from: dt.date | None,
                   date_to: dt.date | None) -> Table:
    return Table(f"SỔ ĐĂNG KÝ VĂN BẢN ĐI — {agency_name}", _period(date_from, date_to), OUTGOING_COLUMNS,
                 [[c.value(e) for c in OUTGOING_COLUMNS] for e in entries])


def _period(date_from: dt.date | None, date_to: dt.date | None) -> str:
    if date_from and date_to:
        return f"Từ ngày {_date(date_from)} đến ngày {_date(date_to)}"
    if date_from:
        return f"Từ ngày {_date(date_from)}"
    if date_to:
        return f"Đến ngày {_date(date_to)}"
    return "Toàn bộ sổ"


def _inert(value: str | int) -> str | int:
    """Text from other agencies' packets must not become a spreadsheet formula (CSV/formula injection);
    counts stay numbers."""
    if not isinstance(value, str):
        return value
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def render(table: Table, fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(table)
    if fmt == "xlsx":
        return to_xlsx(table)
    if fmt == "pdf":
        return to_pdf(table)
    from docsign.errors import InvalidInput

    raise InvalidInput(f"unknown format {fmt!r}: use csv, xlsx or pdf")


def to_csv(table: Table) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.headers)
    writer.writerows([_inert(v) for v in row] for row in table.rows)
    return ("\ufeff" + out.getvalue()).encode()  # the BOM makes Excel read UTF-8 (Vietnamese) correctly


def to_xlsx(table: Table) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    book = Workbook()
    sheet = book.active
    sheet.title = table.sheet
    sheet.append([table.title])
    sheet.append([table.period])
    sheet.append(table.headers)
    for cell in sheet[3]:
        cell.font = Font(bold=True)
    for row in table.rows:
        sheet.append([_inert(v) for v in row])
    for index, column in enumerate(table.columns, start=1):
        sheet.column_dimensions[sheet.cell(row=3, column=index).column_letter].width = column.width * 1.6
    for row in sheet.iter_rows(min_row=4):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def to_pdf(table: Table) -> bytes:
    from fpdf import FPDF

    from docsign.signing.fonts import font_path

    pdf = FPDF(orientation="L", unit="mm", format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_font("NotoSerif", "", str(font_path("regular")))
    pdf.add_font("NotoSerif", "B", str(font_path("bold")))
    pdf.add_page()
    pdf.set_font("NotoSerif", "B", 13)
    pdf.cell(0, 8, table.title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("NotoSerif", "", 10)
    pdf.cell(0, 6, table.period, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font("NotoSerif", "", 8)
    widths = tuple(c.width for c in table.columns)
    with pdf.table(col_widths=widths, text_align="LEFT", line_height=4.2, first_row_as_headings=True,
                   repeat_headings=1) as grid:
        heading = grid.row()
        for title in table.headers:
            heading.cell(title)
        for values in table.rows:
            row = grid.row()
            for value in values:
                row.cell(str(value))
    if not table.rows:
        pdf.ln(3)
        pdf.cell(0, 6, "Chưa có văn bản nào trong sổ cho khoảng thời gian này.", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
