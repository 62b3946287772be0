"""Decree 30/2020 signature layouts, one per role (domain-vn.md section 3).

Each role says where its block goes on the page and what the block shows. Positions are defaults a
clerk can override with ``--page``/``--rect`` or by naming an existing empty field.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass

from asn1crypto import x509 as asn1_x509
from PIL import Image

from docsign.signing.appearance import BLACK, RED, Item, Layout, Picture, Text
from docsign.signing.errors import BadSignRequest
from docsign.signing.images import seal_png, signature_png
from docsign.signing.request import VN_TZ, Role, SignRequest

Rect = tuple[float, float, float, float]
TEXT_PT = 10  # Decree 30: Times New Roman 10 pt for the agency's text-only blocks
NUMBER_PT = 13  # "Số:" line, 13 pt


@dataclass(frozen=True)
class VisiblePlan:
    page_ix: int
    """0-based page index."""
    rect: Rect
    layout: Layout


def vn_time(moment: dt.datetime) -> str:
    """ISO 8601 in Vietnam time, e.g. 2020-03-05T10:15:30+07:00 (Decree 30 App. I)."""
    return moment.astimezone(VN_TZ).replace(microsecond=0).isoformat()


def date_parts(day: dt.date) -> tuple[str, str, str]:
    """Day, month and year as Decree 30 writes them: a leading zero for days below 10 and for months 1
    and 2 ("ngày 05 tháng 02 năm 2026", "ngày 15 tháng 3 năm 2026")."""
    return f"{day.day:02d}", f"{day.month:02d}" if day.month < 3 else str(day.month), str(day.year)


def date_line(day: dt.date, place: str | None) -> str:
    """ "Hòa Bình, ngày 05 tháng 3 năm 2020"."""
    dd, mm, yyyy = date_parts(day)
    text = f"ngày {dd} tháng {mm} năm {yyyy}"
    return f"{place}, {text}" if place else text.capitalize()


def subject_field(cert: asn1_x509.Certificate, name: str) -> str | None:
    value = cert.subject.native.get(name)
    return value[0] if isinstance(value, list) else value


def default_rect(role: Role, page_w: float, page_h: float) -> Rect:
    if role is Role.APPROVE:
        return (page_w * 0.52, 90.0, page_w - 40.0, 230.0)
    if role is Role.INCOME:
        return (30.0, page_h - 82.0, 240.0, page_h - 14.0)
    return (page_w - 225.0, page_h - 66.0, page_w - 14.0, page_h - 12.0)  # page 1, top right


SEAL_DEFAULT_MM = 36.0  # the usual diameter of an agency's round seal
MM = 72 / 25.4
SIGNATURE_MAX_HEIGHT = 72.0  # a handwritten signature is at most about 25 mm tall


def seal_side(image: bytes | None, size_mm: float | None) -> float:
    """The seal's real size in points: the size asked for, else the size the PNG says it has (its pHYs
    resolution, as a scanner writes it), else 36 mm."""
    if size_mm:
        return size_mm * MM
    if image:
        try:
            with Image.open(io.BytesIO(image)) as picture:
                dpi = picture.info.get("dpi")
                if dpi and 50 <= float(dpi[0]) <= 2400:
                    return max(picture.width, picture.height) / float(dpi[0]) * 72
        except Exception:  # Pillow raises many types for a bad file; the layout reports it when drawing
            return SEAL_DEFAULT_MM * MM
    return SEAL_DEFAULT_MM * MM


def seal_rect(leader: Rect, side: float = SEAL_DEFAULT_MM * MM) -> Rect:
    """The seal at real size over the left third of the leader's signature (Decree 30 box 8): its right
    edge one third into the signature, its centre on the signature's middle."""
    x1, y1, x2, y2 = leader
    right = x1 + (x2 - x1) / 3
    middle = (y1 + y2) / 2
    left = max(right - side, 0.0)
    return (left, middle - side / 2, left + side, middle + side / 2)


def image_aspect(image: bytes) -> float:
    try:
        with Image.open(io.BytesIO(image)) as picture:
            return picture.width / max(picture.height, 1)
    except Exception:  # drawn later, where a bad image gets its clear message
        return 2.5


def signature_rect(space: Rect, centre: float, aspect: float) -> Rect:
    """The signature image in the draft's room between position and name, centred on the name."""
    x1, y1, x2, y2 = space
    height = min(y2 - y1, (x2 - x1) / aspect, SIGNATURE_MAX_HEIGHT)
    width = height * aspect
    middle = (y1 + y2) / 2
    return (centre - width / 2, middle - height / 2, centre + width / 2, middle + height / 2)


def signature_image(request: SignRequest, cert: asn1_x509.Certificate) -> bytes:
    return request.image or signature_png(request.signer_name or subject_field(cert, "common_name") or "")


def picture_layout(image: bytes) -> Layout:
    """Only the image: the draft already prints the position and the name."""

    def build(w: float, h: float) -> Sequence[Item]:
        return [Picture(image, 0, 0, w, h)]

    return build


def approve_layout(request: SignRequest, cert: asn1_x509.Certificate, moment: dt.datetime) -> Layout:
    name = request.signer_name or subject_field(cert, "common_name") or ""
    position = (request.position or "").upper()
    image = request.image or signature_png(name)

    def build(w: float, h: float) -> Sequence[Item]:
        items: list[Item] = []
        top = h - 12
        for line in (request.signing_prefix, position):
            if line:
                items.append(Text(line.upper(), w / 2, top, size=11, bold=True, align="center", max_width=w - 4))
                top -= 13
        items.append(Text(f"Ký ngày: {vn_time(moment)}", w / 2, 3, size=7, align="center", italic=True,
                          max_width=w - 4))
        items.append(Text(name, w / 2, 14, size=12, bold=True, align="center", max_width=w - 4))
        image_bottom, image_top = 28.0, top + 2
        if image_top - image_bottom > 10:
            items.append(Picture(image, w * 0.1, image_bottom, w * 0.8, image_top - image_bottom))
        return items

    return build


def seal_layout(request: SignRequest, cert: asn1_x509.Certificate) -> Layout:
    agency = request.agency_name or subject_field(cert, "organization_name") or subject_field(cert, "common_name")
    image = request.image or seal_png(agency or "")
    qr = verify_qr_png(request.verify_qr_url) if request.verify_qr_url else None

    def build(w: float, h: float) -> Sequence[Item]:
        if qr is None:
            return [Picture(image, 0, 0, w, h)]
        # one-stop-shop result: the seal shrinks to the upper right, the QR takes the lower left corner
        # (away from the leader's name, which is centred under the signature to the right)
        side = min(w, h) * 0.45
        return [Picture(image, side * 0.6, side * 0.6, w - side * 0.6, h - side * 0.6), Picture(qr, 0, 0, side, side)]

    return build


def verify_qr_png(url: str) -> bytes:
    """The QR code (error correction M, 4-module quiet zone) of a citizen's verification URL, as PNG."""
    import io

    import segno
    from PIL import Image

    raw = io.BytesIO()
    segno.make_qr(url, error="m").save(raw, kind="png", scale=8, border=4)
    buffer = io.BytesIO()
    Image.open(raw).convert("L").save(buffer, format="PNG")  # pyHanko embeds grey, not 1-bit, images
    return buffer.getvalue()


def text_block(lines: Sequence[tuple[str, bool]], color: tuple[float, float, float] = BLACK) -> Layout:
    """Left-aligned lines, top to bottom, 10 pt (bold flag per line)."""

    def build(w: float, h: float) -> Sequence[Item]:
        items: list[Item] = []
        y = h - TEXT_PT - 2
        for text, bold in lines:
            items.append(Text(text, 4, y, size=TEXT_PT, bold=bold, color=color, max_width=w - 8))
            y -= TEXT_PT + 2
        return items

    return build


def agency_layout(request: SignRequest, cert: asn1_x509.Certificate, moment: dt.datetime) -> Layout:
    agency = request.agency_name or subject_field(cert, "organization_name") or subject_field(cert, "common_name") or ""
    time_line = f"Thời gian ký: {vn_time(moment)}"
    role = request.role
    if role is Role.APPENDIX:
        if not request.number:
            raise BadSignRequest("an appendix signature shows the main document's number: "
                                 "pass --number (and --notation)")
        return text_block([(agency, True), (request.number_text(), False), (time_line, False)])
    if role is Role.COPY:
        return text_block([(request.copy_form.upper(), True), (agency, False), (time_line, False)])
    if role is Role.INCOME:
        if not request.number:
            raise BadSignRequest("an incoming-document signature records the arrival number: pass --number")
        arrival = request.date or moment.astimezone(VN_TZ).date()
        return text_block([(agency, True), (f"ĐẾN  Số: {request.number}", True),
                           (f"Ngày: {arrival:%d/%m/%Y}", False), (time_line, False)], color=RED)
    raise AssertionError(role)
