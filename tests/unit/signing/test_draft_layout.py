"""Filling the draft's own blanks (issue 10 items 1-3): the "Số:" blank, the date blanks and the room
between the position and the name, on drafts written by fpdf2 and by LibreOffice (committed under
tests/fixtures/drafts), one page and several, signer block right or left; and the bad drafts."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from docsign.signing.cli import sign_command
from docsign.signing.draft import read_draft
from docsign.signing.errors import BadSignRequest
from docsign.signing.pdfio import open_reader, page_geometry, page_refs
from docsign.signing.request import Level, Placement, Role, SignRequest
from docsign.signing.roles import MM
from docsign.signing.service import sign_pdf
from tests.unit.signing.drafts import DraftSpec, make_draft
from tests.unit.signing.helpers import PASS_ENV, assert_interop, leftovers, load, need_tool

FIXTURES = Path(__file__).parents[2] / "fixtures" / "drafts"
ISSUE_DAY = dt.date(2026, 2, 5)


def geometries(path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as fh:
        reader = open_reader(path, fh)
        return [page_geometry(ref.get_object()) for ref in page_refs(reader)]


def layout_of(path: Path, names=("Nguyễn Văn An",)):  # type: ignore[no-untyped-def]
    return read_draft(path, geometries(path), names=names)


def words(path: Path, page: int) -> list[tuple[str, float, float, float, float]]:
    """pdftotext's words with boxes (x1, top, x2, bottom from the top of the page)."""
    tool = need_tool("pdftotext")
    html = subprocess.run([tool, "-bbox", "-f", str(page), "-l", str(page), str(path), "-"], check=True,
                          capture_output=True, text=True).stdout
    return [(m[4], float(m[0]), float(m[1]), float(m[2]), float(m[3])) for m in re.findall(
        r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>', html)]


def text_of(path: Path) -> str:
    tool = need_tool("pdftotext")
    return subprocess.run([tool, "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout


def widget(path: Path, field: str) -> tuple[int, tuple[float, float, float, float]]:
    from pyhanko.pdf_utils.reader import PdfFileReader

    with path.open("rb") as fh:
        reader = PdfFileReader(fh)
        refs = page_refs(reader)
        for ref in reader.root["/AcroForm"]["/Fields"]:
            obj = ref.get_object()
            if obj.get("/T") == field:
                w = obj if "/Rect" in obj else obj["/Kids"][0].get_object()
                x1, y1, x2, y2 = (float(v) for v in w["/Rect"])
                return refs.index(w.raw_get("/P").reference), (x1, y1, x2, y2)
    raise AssertionError(field)


DRAFTS = {
    "fpdf2-one-page": lambda d: make_draft(d / "one.pdf"),
    "fpdf2-three-pages-left": lambda d: make_draft(d / "three.pdf", DraftSpec(pages=3, side="left")),
    "fpdf2-kt-prefix": lambda d: make_draft(d / "kt.pdf", DraftSpec(
        lines=("TM. ỦY BAN NHÂN DÂN", "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH"), notation="SNV-VP", place="Lạc Sơn")),
    "libreoffice-quyet-dinh": lambda d: FIXTURES / "quyet-dinh-lo.pdf",
    "libreoffice-cong-van-2p": lambda d: FIXTURES / "cong-van-lo.pdf",
    "word-docx-via-libreoffice": lambda d: FIXTURES / "to-trinh-docx.pdf",
}


@pytest.mark.parametrize("which", list(DRAFTS))
def test_read_blanks(which, tmp_path):  # type: ignore[no-untyped-def]
    path = DRAFTS[which](tmp_path)
    found = layout_of(path)
    assert found.number is not None and found.number.blank is not None, found
    assert found.date is not None and found.date.day and found.date.month, found
    assert found.signer is not None, found
    assert found.signer.name == "Nguyễn Văn An"
    assert found.signer.prefix is not None and found.signer.prefix.split(".")[0] in {"TM", "KT", "TL"}
    assert found.signer.lines[-1] in {"CHỦ TỊCH", "PHÓ CHỦ TỊCH", "PHÓ GIÁM ĐỐC", "CHÁNH VĂN PHÒNG"}
    assert found.signer.page_ix == len(geometries(path)) - 1
    assert found.signer.space[3] - found.signer.space[1] > 30  # the room for the signature
    # the number blank ends right before the slash of "/NOTATION"
    page1 = words(path, 1)
    notation = next(w for w in page1 if w[0].startswith("/" + found.number.notation) or w[0].endswith(
        "/" + found.number.notation))
    blank = found.number.blank.rect
    slash_x = notation[1] if notation[0].startswith("/") else notation[3] - len(notation[0]) * 0.1
    assert abs(blank[2] - slash_x) < 4 or notation[0].startswith("Số")
    assert found.number.blank.size == pytest.approx(13, abs=0.6)


@pytest.mark.parametrize("which", ["fpdf2-one-page", "fpdf2-three-pages-left", "libreoffice-quyet-dinh",
                                   "word-docx-via-libreoffice"])
def test_approve_then_issue_fills_the_draft(which, pki, tmp_path):  # type: ignore[no-untyped-def]
    draft = DRAFTS[which](tmp_path)
    approved, issued = tmp_path / "approved.pdf", tmp_path / "issued.pdf"
    result = sign_pdf(draft, approved, load(pki.leader, pki), SignRequest(role=Role.APPROVE))
    assert result.warnings == ()
    found = layout_of(draft)
    page_ix, sig = widget(approved, result.field_name)
    assert page_ix == found.signer.page_ix
    # the signature sits in the room between the position line and the name, centred on the name
    geometry = geometries(draft)[page_ix]
    visual = geometry.rect_to_visual(sig)
    room = found.signer.space
    assert room[1] - 1 <= visual[1] and visual[3] <= room[3] + 1
    assert abs((visual[0] + visual[2]) / 2 - found.signer.centre) < 1

    sign_pdf(approved, issued, load(pki.seal, pki), SignRequest(role=Role.ISSUE, number="5", notation=found.number
                                                                .notation, date=ISSUE_DAY))
    statuses = assert_interop(issued, pki.root, 2)
    assert statuses[0].modification_level.name == "FORM_FILLING"
    text = text_of(issued)
    assert len(re.findall(r"Số:", text)) == 1, text
    assert re.search(r"Số:\s+05\s?/" + re.escape(found.number.notation), text), text
    assert re.search(r"ngày\s+05\s+tháng\s+02\s+năm\s+2026", text), text
    assert text.count("Nguyễn Văn An") == 1
    assert "+07:00" not in text  # nothing of the fallback block is printed
    # the seal: real size (36 mm), its right edge a third into the signature, centred on it vertically
    _, seal = widget(issued, "issue-1")
    seal_v = geometry.rect_to_visual(seal)
    assert seal_v[2] - seal_v[0] == pytest.approx(36 * MM, abs=0.5)
    assert seal_v[2] == pytest.approx(visual[0] + (visual[2] - visual[0]) / 3, abs=0.5)
    assert (seal_v[1] + seal_v[3]) / 2 == pytest.approx((visual[1] + visual[3]) / 2, abs=0.5)


def test_minutes_with_two_blocks_pick_the_signer(pki, tmp_path):  # type: ignore[no-untyped-def]
    """Minutes (biên bản): the chair signs right, the secretary left; the signer's name picks the block."""
    draft = make_draft(tmp_path / "bb.pdf", DraftSpec(name="Phạm Văn Dũng", lines=("CHỦ TỌA",),
                                                      second_block=(("THƯ KÝ",), "Trần Thị Bình")))
    found = read_draft(draft, geometries(draft), names=["Trần Thị Bình"])
    assert found.signer is not None and found.signer.lines == ("THƯ KÝ",) and found.signer.centre < 300
    ambiguous = layout_of(draft)
    assert ambiguous.signer is None and "2 signer blocks" in ambiguous.problems[0]
    out = tmp_path / "out.pdf"
    with pytest.raises(BadSignRequest, match=r"CHỦ TỌA.*THƯ KÝ|THƯ KÝ.*CHỦ TỌA"):
        sign_pdf(draft, out, load(pki.leader, pki), SignRequest(role=Role.APPROVE))
    assert not out.exists()
    result = sign_pdf(draft, out, load(pki.leader, pki), SignRequest(role=Role.APPROVE, signer_name="Trần Thị Bình"))
    assert "Trần Thị Bình" in result.warnings[0]  # not the certificate's holder
    page_ix, rect = widget(out, result.field_name)
    assert page_ix == 0 and rect[2] < 300
    # by hand it still works
    placed = tmp_path / "placed.pdf"
    sign_pdf(draft, placed, load(pki.leader, pki), SignRequest(role=Role.APPROVE, placement=Placement(
        -1, (320, 200, 520, 270))))
    assert_interop(placed, pki.root, 1)


def test_no_signer_block_falls_back_to_the_whole_block(pki, tmp_path):  # type: ignore[no-untyped-def]
    draft = make_draft(tmp_path / "noblock.pdf", DraftSpec(lines=()))
    assert layout_of(draft).signer is None and layout_of(draft).problems == ()
    out = tmp_path / "out.pdf"
    sign_pdf(draft, out, load(pki.leader, pki), SignRequest(role=Role.APPROVE, position="Chủ tịch"))
    text = text_of(out)
    assert "CHỦ TỊCH" in text and "+07:00" in text  # drawn by docsign, as before


def test_prefix_without_name_is_ambiguous(pki, tmp_path):  # type: ignore[no-untyped-def]
    draft = make_draft(tmp_path / "noname.pdf", DraftSpec(name="   "))
    out = tmp_path / "out.pdf"
    with pytest.raises(BadSignRequest, match=r"TM. ỦY BAN NHÂN DÂN.*--page and --rect"):
        sign_pdf(draft, out, load(pki.leader, pki), SignRequest(role=Role.APPROVE))
    assert leftovers(tmp_path) == ["noname.pdf"]


def test_name_differs_from_certificate_holder_warns(pki, tmp_path):  # type: ignore[no-untyped-def]
    draft = make_draft(tmp_path / "other.pdf", DraftSpec(name="Trần Văn Bảo"))
    runner = CliRunner()
    result = runner.invoke(sign_command, [str(draft), str(tmp_path / "out.pdf"), "--key", str(pki.leader),
                                  "--passphrase-env", PASS_ENV, "--role", "approve"],
                           env={PASS_ENV: pki.passphrase.decode()})
    assert result.exit_code == 0, result.output
    assert "warning: the draft is signed for 'Trần Văn Bảo' but the signing certificate belongs to " \
           "'Nguyễn Văn An'" in result.output


def test_issue_refuses_a_draft_without_number_line(pki, tmp_path):  # type: ignore[no-untyped-def]
    seal = load(pki.seal, pki)
    for spec, message in ((DraftSpec(number_line=False), "no 'Số:"), (DraftSpec(date_line=False), "ngày")):
        draft = make_draft(tmp_path / "d.pdf", spec)
        approved = tmp_path / "a.pdf"
        sign_pdf(draft, approved, load(pki.leader, pki), SignRequest(role=Role.APPROVE))
        with pytest.raises(BadSignRequest, match=message):
            sign_pdf(approved, tmp_path / "i.pdf", seal, SignRequest(role=Role.ISSUE, number="3", notation="UBND-VP"))
        assert not (tmp_path / "i.pdf").exists()
    draft = make_draft(tmp_path / "n.pdf")
    approved = tmp_path / "a2.pdf"
    sign_pdf(draft, approved, load(pki.leader, pki), SignRequest(role=Role.APPROVE))
    with pytest.raises(BadSignRequest, match="notation /UBND-VP, not /SNV-VP"):
        sign_pdf(approved, tmp_path / "i.pdf", seal, SignRequest(role=Role.ISSUE, number="3", notation="SNV-VP"))
    assert not (tmp_path / "i.pdf").exists()


def test_issue_straight_on_an_unsigned_draft_and_seal_size(pki, tmp_path):  # type: ignore[no-untyped-def]
    """No approve before (a seal-only document placed by hand): the blanks are filled all the same."""
    draft = make_draft(tmp_path / "d.pdf")
    out = tmp_path / "i.pdf"
    sign_pdf(draft, out, load(pki.seal, pki), SignRequest(role=Role.ISSUE, number="12", notation="UBND-VP",
                                                          date=dt.date(2026, 11, 3),
                                                          placement=Placement(1, (100, 100, 200, 200)),
                                                          level=Level.B_B))
    assert_interop(out, pki.root, 1)
    text = text_of(out)
    assert re.search(r"Số:\s+12\s?/UBND-VP", text) and re.search(r"ngày\s+03\s+tháng\s+11\s+năm\s+2026", text), text


def test_seal_real_size_and_decree_date_format():  # type: ignore[no-untyped-def]
    import io

    from PIL import Image

    from docsign.signing.images import seal_png
    from docsign.signing.roles import date_parts, seal_side

    scanned = io.BytesIO()
    Image.open(io.BytesIO(seal_png("Sở Nội vụ"))).save(scanned, "PNG", dpi=(600, 600))  # 600 px at 600 dpi
    assert seal_side(scanned.getvalue(), None) == pytest.approx(72, abs=0.01)  # one inch, as the scan says
    assert seal_side(seal_png("Sở Nội vụ"), None) == pytest.approx(36 * MM)  # no resolution: 36 mm
    assert seal_side(scanned.getvalue(), 40) == pytest.approx(40 * MM)  # --seal-size-mm wins
    assert date_parts(dt.date(2026, 2, 5)) == ("05", "02", "2026")
    assert date_parts(dt.date(2026, 1, 31)) == ("31", "01", "2026")
    assert date_parts(dt.date(2026, 3, 9)) == ("09", "3", "2026")
    assert date_parts(dt.date(2026, 12, 25)) == ("25", "12", "2026")


def test_encrypted_and_broken_drafts_are_refused_with_nothing_written(pki, tmp_path):  # type: ignore[no-untyped-def]
    from docsign.signing.errors import DamagedPdf, EncryptedPdf

    draft = make_draft(tmp_path / "d.pdf")
    locked = tmp_path / "locked.pdf"
    subprocess.run([need_tool("qpdf"), "--encrypt", "u", "o", "256", "--", str(draft), str(locked)], check=True)
    broken = tmp_path / "broken.pdf"
    data = draft.read_bytes()
    broken.write_bytes(data[: len(data) // 3] + b"\n%%EOF\n")
    for source, error in ((locked, EncryptedPdf), (broken, DamagedPdf)):
        for role in (Role.APPROVE, Role.ISSUE):
            out = tmp_path / f"out-{role.value}.pdf"
            with pytest.raises(error) as info:
                sign_pdf(source, out, load(pki.seal, pki), SignRequest(role=role, number="1", notation="UBND-VP"))
            assert "\n" not in info.value.message and not out.exists()


def test_template_variants(pki, tmp_path):  # type: ignore[no-untyped-def]
    """Number with the year in the notation, dotted blanks with the century printed, a placeholder in the room."""
    draft = make_draft(tmp_path / "v.pdf", DraftSpec(
        number_text="Số:        /2026/QĐ-UBND", date_text="Hà Nội, ngày ..... tháng ..... năm 20.....",
        placeholder="(Chữ ký, dấu)", lines=("TUQ. BỘ TRƯỞNG", "VỤ TRƯỞNG VỤ PHÁP CHẾ")))
    found = layout_of(draft)
    assert found.number.notation == "2026/QĐ-UBND" and found.number.blank is not None
    assert found.date.printed == (None, None, "20") and found.date.year is not None
    assert found.signer.lines == ("TUQ. BỘ TRƯỞNG", "VỤ TRƯỞNG VỤ PHÁP CHẾ")
    approved, issued = tmp_path / "a.pdf", tmp_path / "i.pdf"
    sign_pdf(draft, approved, load(pki.leader, pki), SignRequest(role=Role.APPROVE))
    sign_pdf(approved, issued, load(pki.seal, pki), SignRequest(role=Role.ISSUE, number="15", notation="QĐ-UBND",
                                                                date=dt.date(2026, 3, 9)))
    assert_interop(issued, pki.root, 2)
    text = text_of(issued)
    assert re.search(r"Số:\s+15\s?/2026/QĐ-UBND", text), text
    from pyhanko.pdf_utils.reader import PdfFileReader

    with issued.open("rb") as fh:  # the dots of the blanks interleave with the digits in pdftotext's output
        values = {f.get_object()["/T"]: f.get_object().get("/V") for f in PdfFileReader(fh).root["/AcroForm"]["/Fields"]
                  if f.get_object().get("/FT") == "/Tx"}
    assert values == {"so_ky_hieu": "15", "ngay_ban_hanh_ngay": "09", "ngay_ban_hanh_thang": "3",
                      "ngay_ban_hanh_nam": "26"}
