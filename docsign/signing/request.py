"""What a signature should be: level, role, placement and the role's inputs, as one frozen request."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from asn1crypto import x509 as asn1_x509

VN_TZ = dt.timezone(dt.timedelta(hours=7), "+07:00")


class Level(StrEnum):
    """PAdES baseline level."""

    B_B = "B-B"
    B_T = "B-T"
    B_LT = "B-LT"
    B_LTA = "B-LTA"

    @property
    def needs_timestamp(self) -> bool:
        return self is not Level.B_B

    @property
    def needs_revocation(self) -> bool:
        return self in (Level.B_LT, Level.B_LTA)


class Role(StrEnum):
    """Decree 30 signing roles (design.md, "Signing roles")."""

    APPROVE = "approve"
    """Leader: personal signature with handwritten image, position, name, time."""
    ISSUE = "issue"
    """Clerk: number and date filled in, then the agency seal over the leader's signature."""
    APPENDIX = "appendix"
    """Clerk: agency signature on page 1 top right, text only (number/notation and time)."""
    INCOME = "income"
    """Receiving clerk: agency signature recording arrival number and date."""
    COPY = "copy"
    """Clerk: certified electronic copy, "SAO Y", page 1 top right."""


@dataclass(frozen=True)
class Placement:
    page: int
    """1-based page number; negative counts from the end (-1 is the last page)."""
    rect: tuple[float, float, float, float]
    """x1, y1, x2, y2 in PDF points from the page's lower-left corner."""


@dataclass(frozen=True)
class SignRequest:
    level: Level = Level.B_B
    """PAdES level."""
    role: Role | None = None
    """Decree 30 role; None makes a plain signature (invisible unless placed)."""
    field_name: str | None = None
    """Sign this existing empty field, or name the new one."""
    placement: Placement | None = None
    """Where the visible block goes (overrides the role's default position)."""
    reason: str | None = None
    location: str | None = None
    certify: bool = False
    """Make a certification signature (DocMDP); only as the document's first signature."""
    docmdp: int = 2
    """DocMDP permission when certifying: 1 no changes, 2 form filling and signing, 3 also annotations."""
    tsa_url: str | None = None
    """RFC 3161 timestamp authority for B-T and up."""
    signer_name: str | None = None
    """Full name shown in the block (defaults to the certificate's common name)."""
    position: str | None = None
    """Job title shown above the signature image (approve), e.g. "CHỦ TỊCH"."""
    signing_prefix: str | None = None
    """TM., KT., Q., TL., TUQ. line above the position (Decree 30 App. I §II.7), e.g. "TM. ỦY BAN NHÂN DÂN"."""
    image: bytes | None = field(default=None, repr=False)
    """PNG: the handwritten signature (approve) or the red seal (issue)."""
    agency_name: str | None = None
    """Name of the signing agency (seal text, copy form); defaults to the certificate's organisation."""
    number: str | None = None
    """Document number (issue, appendix) or arrival number (income)."""
    notation: str | None = None
    """Notation ("ký hiệu") such as UBND-VP."""
    date: dt.date | None = None
    """Issue date (issue) or arrival date (income); defaults to today in Vietnam."""
    place: str | None = None
    """Place name before the date line: "Hòa Bình, ngày ... tháng ... năm ..."."""
    copy_form: str = "SAO Y"
    """SAO Y, SAO LỤC or TRÍCH SAO."""
    number_field: str = "so_ky_hieu"
    """Text field that receives "Số: NN/NOTATION" (issue)."""
    date_field: str = "ngay_ban_hanh"
    """Text field that receives the date line (issue)."""
    number_rect: tuple[float, float, float, float] | None = None
    """Where the approve role puts the empty number field on page 1 when the draft has no "Số:" blank
    (default: the draft's own blank; none when the draft has no "Số:" line)."""
    date_rect: tuple[float, float, float, float] | None = None
    """Where the approve role puts the empty date field on page 1 when the draft has no date line."""
    seal_size_mm: float | None = None
    """The seal's real size (issue); default: from the PNG's resolution, else 36 mm."""
    trust_roots: tuple[asn1_x509.Certificate, ...] = ()
    """Extra trust anchors for B-LT revocation collection (the key's own root is always used)."""
    signing_time: dt.datetime | None = None
    """Shown in the block; defaults to now. The signature's own time is the signing moment."""
    verify_qr_url: str | None = None
    """Issue role: print a QR code of this URL (the citizen's public /verify page) in the seal's block."""

    def number_text(self) -> str:
        """ "Số: 05/UBND-VP": numbers below 10 get a leading zero."""
        number = (self.number or "").strip()
        if number.isdigit() and len(number) < 2:
            number = number.zfill(2)
        return f"Số: {number}/{self.notation}" if self.notation else f"Số: {number}"
