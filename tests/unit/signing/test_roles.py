"""Decree 30 roles: the full outgoing flow (approve then issue), appendix, income and copy; the blocks are
really drawn (pdftoppm) with Vietnamese text (pdftotext), and every earlier signature stays valid."""

from __future__ import annotations

import datetime as dt
import re
import subprocess

import pytest
from PIL import Image

from docsign.signing.errors import BadSignRequest
from docsign.signing.images import seal_png, signature_png
from docsign.signing.request import Level, Placement, Role, SignRequest
from docsign.signing.roles import date_line, seal_rect
from docsign.signing.service import sign_pdf
from tests.unit.signing.drafts import DraftSpec, make_draft
from tests.unit.signing.helpers import (
    assert_interop,
    assert_pyhanko_ok,
    assert_qpdf_ok,
    load,
    need_tool,
    pdfsig_signatures,
)

DPI = 72  # one pixel per point: PDF coordinates map straight onto the image


def render(path, page=1):  # type: ignore[no-untyped-def]
    tool = need_tool("pdftoppm")
    prefix = path.with_suffix("")
    subprocess.run([tool, "-r", str(DPI), "-png", "-f", str(page), "-l", str(page), "-singlefile", str(path),
                    str(prefix)], check=True, timeout=60)
    return Image.open(f"{prefix}.png").convert("RGB")


def text_of(path):  # type: ignore[no-untyped-def]
    tool = need_tool("pdftotext")
    return subprocess.run([tool, "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def ink(image, rect, page_height=842):  # type: ignore[no-untyped-def]
    """Share of non-white pixels inside a PDF rectangle, and the set of dominant colours."""
    x1, y1, x2, y2 = rect
    box = image.crop((int(x1), int(page_height - y2), int(x2), int(page_height - y1)))
    raw = box.tobytes()
    pixels = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]
    dark = [p for p in pixels if sum(p) < 600]
    reds = [p for p in dark if p[0] > 150 and p[1] < 110 and p[2] < 110]
    blues = [p for p in dark if p[2] > 120 and p[0] < 90]
    return len(dark) / max(len(pixels), 1), len(reds), len(blues)


def test_outgoing_flow_approve_then_issue(pki, work):  # type: ignore[no-untyped-def]
    """A draft without a signer block: approve draws the whole block (position, signature, name, time) at
    the default place; issue fills the draft's number and date blanks and puts the seal on the block."""
    leader, seal = load(pki.leader, pki), load(pki.seal, pki)
    approved, issued = work / "approved.pdf", work / "issued.pdf"
    draft = make_draft(work / "draft.pdf", DraftSpec(pages=3, lines=()))
    sign_pdf(draft, approved, leader, SignRequest(
        role=Role.APPROVE, position="Chủ tịch", signing_prefix="TM. Ủy ban nhân dân", level=Level.B_T,
        tsa_url=pki.tsa_url))
    assert_interop(approved, pki.root, 1)
    before = render(approved, page=3)
    block = (595 * 0.52, 90.0, 555.0, 230.0)
    share, _, blues = ink(before, block)
    assert share > 0.02 and blues > 200  # the blue handwritten signature is drawn

    sign_pdf(approved, issued, seal, SignRequest(
        role=Role.ISSUE, number="5", notation="UBND-VP", date=dt.date(2020, 3, 5), place="Hòa Bình",
        level=Level.B_T, tsa_url=pki.tsa_url))
    statuses = assert_interop(issued, pki.root, 2)
    assert statuses[0].modification_level.name == "FORM_FILLING"  # number/date filled in, nothing else
    after = render(issued, page=3)
    left_third = (block[0], block[1], block[0] + (block[2] - block[0]) / 3, block[3])
    assert ink(after, left_third)[1] > 300  # the red seal covers the left third of the leader's block
    right_part = (block[0] + 2 * (block[2] - block[0]) / 3 + 20, block[1] + 30, block[2], block[3] - 30)
    assert ink(after, right_part)[1] < 20
    text = text_of(issued)
    assert re.search(r"Số:\s+05\s?/UBND-VP", text), text
    assert re.search(r"Hòa Bình, ngày\s+05\s+tháng\s+3\s+năm\s+2020", text), text
    assert "CHỦ TỊCH" in text and "Nguyễn Văn An" in text
    assert "+07:00" in text


@pytest.mark.parametrize("role, expected", [
    (Role.APPENDIX, ["Số: 12/UBND-VP", "Thời gian ký:"]),
    (Role.COPY, ["SAO Y", "UBND tỉnh Hòa Bình", "Thời gian ký:"]),
    (Role.INCOME, ["ĐẾN", "Số: 345", "Ngày:"]),
])
def test_agency_blocks_on_page_one(pki, pdfs, work, role, expected):  # type: ignore[no-untyped-def]
    out = work / f"{role.value}.pdf"
    sign_pdf(pdfs.three, out, load(pki.seal, pki), SignRequest(role=role, number="12" if role is Role.APPENDIX
                                                                  else "345", notation="UBND-VP"))
    assert_interop(out, pki.root, 1)
    text = text_of(out)
    for fragment in expected:
        assert fragment in text, text
    page = render(out, page=1)
    rect = (30.0, 760.0, 240.0, 828.0) if role is Role.INCOME else (370.0, 776.0, 581.0, 830.0)
    share, reds, _ = ink(page, rect)
    assert share > 0.01
    assert (reds > 50) == (role is Role.INCOME)
    assert "+07:00" in text


def test_fill_existing_field_by_name(pki, pdfs, work):  # type: ignore[no-untyped-def]
    first, second = work / "f1.pdf", work / "f2.pdf"
    sign_pdf(pdfs.fields, first, load(pki.leader, pki), SignRequest(field_name="Leader", role=Role.APPROVE,
                                                                    position="Giám đốc"))
    sign_pdf(first, second, load(pki.seal, pki), SignRequest(field_name="Seal", role=Role.COPY))
    statuses = assert_interop(second, pki.root, 2)
    assert [s.field_name for s in statuses] if hasattr(statuses[0], "field_name") else True
    with pytest.raises(BadSignRequest, match="already signed"):
        sign_pdf(second, work / "y.pdf", load(pki.seal, pki), SignRequest(field_name="Seal"))
    assert not (work / "y.pdf").exists()


@pytest.mark.parametrize("placement", [None, Placement(1, (100, 100, 300, 160))])
def test_field_that_does_not_exist_is_created(pki, pdfs, work, placement):  # type: ignore[no-untyped-def]
    """As pyHanko's own --field: a new field of that name, invisible unless placed."""
    out = work / "new.pdf"
    result = sign_pdf(pdfs.fields, out, load(pki.seal, pki), SignRequest(field_name="Nope", placement=placement))
    assert result.field_name == "Nope"
    assert_qpdf_ok(out)
    assert_pyhanko_ok(out, pki.root, 1)
    signed = [sig for sig in pdfsig_signatures(out) if sig["field"] == "Nope"]  # the empty fields are listed too
    assert len(signed) == 1 and signed[0]["valid"] and signed[0]["total"]
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.fields import enumerate_sig_fields

    with out.open("rb") as fh:
        fields = {name: ref.get_object() for name, _, ref in enumerate_sig_fields(PdfFileReader(fh))}
    assert set(fields) == {"Leader", "Seal", "Nope"}
    rect = [float(v) for v in (fields["Nope"].get("/Rect") or fields["Nope"]["/Kids"][0].get_object()["/Rect"])]
    assert (rect == [100, 100, 300, 160]) == (placement is not None)


def test_explicit_placement(pki, pdfs, work):  # type: ignore[no-untyped-def]
    out = work / "placed.pdf"
    sign_pdf(pdfs.three, out, load(pki.leader, pki),
             SignRequest(placement=Placement(2, (100, 100, 300, 160))))
    assert_interop(out, pki.root, 1)
    assert ink(render(out, page=2), (100, 100, 300, 160))[0] > 0.01
    with pytest.raises(BadSignRequest, match="outside"):
        sign_pdf(pdfs.three, work / "bad.pdf", load(pki.leader, pki),
                 SignRequest(placement=Placement(9, (100, 100, 300, 160))))


def test_issue_needs_leader_and_number(pki, pdfs, work):  # type: ignore[no-untyped-def]
    seal = load(pki.seal, pki)
    with pytest.raises(BadSignRequest, match="--number"):
        sign_pdf(pdfs.one, work / "a.pdf", seal, SignRequest(role=Role.ISSUE))
    with pytest.raises(BadSignRequest, match="leader"):
        sign_pdf(pdfs.one, work / "b.pdf", seal, SignRequest(role=Role.ISSUE, number="1", notation="X"))
    plain = work / "plain.pdf"
    sign_pdf(pdfs.one, plain, load(pki.leader, pki), SignRequest())
    with pytest.raises(BadSignRequest, match="without a field for the number"):
        sign_pdf(plain, work / "c.pdf", seal, SignRequest(role=Role.ISSUE, number="1", placement=Placement(
            1, (10, 10, 100, 100))))
    assert sorted(p.name for p in work.iterdir()) == ["plain.pdf"]


def test_layout_helpers():  # type: ignore[no-untyped-def]
    assert date_line(dt.date(2020, 3, 5), "Hòa Bình") == "Hòa Bình, ngày 05 tháng 3 năm 2020"
    assert date_line(dt.date(2021, 1, 15), None) == "Ngày 15 tháng 01 năm 2021"
    assert SignRequest(number="5", notation="BNV-VP").number_text() == "Số: 05/BNV-VP"
    x1, _, x2, _ = seal_rect((300, 100, 540, 240))
    assert x2 == 300 + 80 and x2 - x1 == pytest.approx(36 * 72 / 25.4)  # real size, its right edge a third in
    for png in (signature_png("Nguyễn Văn An"), seal_png("Sở Thông tin và Truyền thông")):
        image = Image.open(__import__("io").BytesIO(png))
        assert image.mode == "RGBA" and image.getpixel((0, 0))[3] == 0  # transparent background
