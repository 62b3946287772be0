"""The adoption report as a table (CSV and XLSX through :mod:`docsign.documents.export`, the one writer
of tables): one line per month and agency, and a roll-up line for an agency with subordinate agencies."""

from __future__ import annotations

from docsign.documents import export
from docsign.documents.export import Column
from docsign.reports.adoption import AdoptionReport, Row

FORMATS = ("csv", "xlsx")
MEDIA_TYPES = {fmt: export.MEDIA_TYPES[fmt] for fmt in FORMATS}
OWN, ROLLED_UP = ("Đơn vị", "Gồm đơn vị trực thuộc")

COLUMNS = (
    Column("Tháng", "Month", lambda r: r.month, 6),
    Column("Mã cơ quan", "Agency code", lambda r: r.agency.code, 9),
    Column("Cơ quan", "Agency", lambda r: r.agency.name, 20),
    Column("Cơ quan cấp trên", "Parent agency", lambda r: r.agency.parent_code or "", 9),
    Column("Phạm vi", "Scope", lambda r: ROLLED_UP if r.rolled_up else OWN, 9),
    Column("Đã phát hành", "Issued", lambda r: r.figures.issued, 6),
    Column("Ký đủ hai chữ ký số", "Issued with both signatures", lambda r: r.figures.issued_both, 7),
    Column("Nhận điện tử", "Received electronically", lambda r: r.figures.received, 6),
    Column("Vào sổ trong ngày", "Registered the same day", lambda r: r.figures.registered_same_day, 7),
    Column("Từ chối", "Rejected", lambda r: r.figures.rejected, 6),
    Column("Lý do từ chối", "Rejection reasons", lambda r: r.figures.reasons_text, 20),
    Column("Đã xử lý xong", "Answered", lambda r: r.figures.answered, 6),
    Column("Trả lời quá hạn", "Answered late", lambda r: r.figures.answered_late, 6),
    Column("Gửi bản giấy", "Sent on paper", lambda r: r.figures.paper, 6),
)


def adoption_table(report: AdoptionReport) -> export.Table:
    rows: list[Row] = report.rows
    return export.Table("BÁO CÁO MỨC ĐỘ SỬ DỤNG VĂN BẢN ĐIỆN TỬ", report.period.label, COLUMNS,
                        [[c.value(r) for c in COLUMNS] for r in rows], sheet="Van ban dien tu")


def render(report: AdoptionReport, fmt: str) -> bytes:
    if fmt not in FORMATS:
        from docsign.errors import InvalidInput

        raise InvalidInput(f"unknown format {fmt!r}: use csv or xlsx")
    return export.render(adoption_table(report), fmt)
