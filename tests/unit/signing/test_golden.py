"""Golden images (issue 10 item 7): the pages approve and issue produce, rendered by pdftoppm, against
reference PNGs that a person looked at (tests/fixtures/golden). A layout regression (the signature
off the draft's room, a second number line, the seal elsewhere) changes far more pixels than the
tolerance lets through.

Remake the references after an intended change with ``DOCSIGN_UPDATE_GOLDEN=1`` and look at them
before committing.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from docsign.signing.request import Level, Role, SignRequest
from docsign.signing.service import sign_pdf
from tests.unit.signing.helpers import load, need_tool

FIXTURES = Path(__file__).parents[2] / "fixtures"
GOLDEN = FIXTURES / "golden"
DPI = int(os.environ.get("DOCSIGN_GOLDEN_DPI", "50"))
PIXEL_DELTA = 60  # a pixel counts as different when a channel moves more than this (anti-aliasing moves less)
MAX_DIFFERING = 0.003  # share of differing pixels allowed on a page
SIGNED_AT = dt.datetime(2026, 2, 5, 3, 4, 5, tzinfo=dt.UTC)

CASES = {
    # draft in tests/fixtures/drafts, its notation, pages whose rendering is compared after approve / issue
    "quyet-dinh-lo": ("QĐ-UBND", [1], [1]),
    "cong-van-lo": ("SNV-VP", [2], [1, 2]),
    "to-trinh-docx": ("TTr-VP", [1], [1]),
    "left-fpdf2": ("UBND-VP", [3], [1, 3]),
    "no-block-fpdf2": ("UBND-VP", [1], [1]),
}


def render(path: Path, page: int, target: Path) -> Image.Image:
    tool = need_tool("pdftoppm")
    prefix = target.with_suffix("")
    subprocess.run([tool, "-r", str(DPI), "-png", "-f", str(page), "-l", str(page), "-singlefile", str(path),
                    str(prefix)], check=True, timeout=60)
    return Image.open(f"{prefix}.png").convert("RGB")


def differing_share(a: Image.Image, b: Image.Image) -> float:
    if a.size != b.size:
        return 1.0
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > PIXEL_DELTA else 0)
    return diff.histogram()[255] / (a.width * a.height)


def compare(image: Image.Image, name: str, tmp_path: Path) -> None:
    reference = GOLDEN / f"{name}.png"
    if os.environ.get("DOCSIGN_UPDATE_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        image.save(reference, optimize=True)
    assert reference.exists(), f"no reference image {reference}: run with DOCSIGN_UPDATE_GOLDEN=1 and look at it"
    share = differing_share(image, Image.open(reference).convert("RGB"))
    if share > MAX_DIFFERING:
        image.save(tmp_path / f"{name}.actual.png")
    assert share <= MAX_DIFFERING, f"{name}: {share:.2%} of the pixels differ from {reference}"


@pytest.fixture(scope="module")
def golden_leader(pki):  # type: ignore[no-untyped-def]
    """The leader's key with a certificate valid at SIGNED_AT: the fallback block prints the signing time."""
    from docsign.pki.authority import name

    return pki.store.issue_signer("golden-leader", name("Nguyễn Văn An", "UBND tỉnh Hòa Bình"), "issuing",
                                  not_before=SIGNED_AT - dt.timedelta(days=30), validity=dt.timedelta(days=3650))[2]


@pytest.mark.parametrize("case", list(CASES))
def test_golden_pages(case, pki, golden_leader, tmp_path):  # type: ignore[no-untyped-def]
    notation, approve_pages, issue_pages = CASES[case]
    draft = FIXTURES / "drafts" / f"{case}.pdf"
    approved, issued = tmp_path / "approved.pdf", tmp_path / "issued.pdf"
    sign_pdf(draft, approved, load(golden_leader, pki), SignRequest(
        role=Role.APPROVE, level=Level.B_B, signing_time=SIGNED_AT, position="Chủ tịch",
        signing_prefix="TM. Ủy ban nhân dân"))
    for page in approve_pages:
        compare(render(approved, page, tmp_path / f"a{page}.png"), f"{case}.approve.p{page}", tmp_path)
    sign_pdf(approved, issued, load(pki.seal, pki), SignRequest(
        role=Role.ISSUE, level=Level.B_B, number="5", notation=notation, date=SIGNED_AT.date()))
    for page in issue_pages:
        compare(render(issued, page, tmp_path / f"i{page}.png"), f"{case}.issue.p{page}", tmp_path)


def test_the_comparison_sees_a_moved_block(tmp_path):  # type: ignore[no-untyped-def]
    """The tolerance lets anti-aliasing through, not a block drawn 20 pt off."""
    reference = Image.open(GOLDEN / "quyet-dinh-lo.issue.p1.png").convert("RGB")
    moved = ImageChops.offset(reference, 0, int(20 * DPI / 72))
    assert differing_share(reference, reference) == 0
    assert differing_share(reference, moved) > MAX_DIFFERING
