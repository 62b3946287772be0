"""Big documents (issue 13 item 3): signing reads only what the incremental update needs, and writes what
pyHanko would.

* :class:`SigningReader` (cross-reference tables decoded per entry, page-tree arrays read at once) reads
  every object of every file of the corpora exactly as pyHanko's reader does: same objects, same
  containers, same revision bookkeeping, same errors, strict and lenient.
* :class:`PageTree` finds the same page as the full walk on trees other writers make and on odd ones
  (nested nodes, an empty node among pages whose counts still add up, a /Count that lies).
* 2,000-page files from other writers (reportlab with the boxes and /Rotate inherited from the tree;
  the same through qpdf into object and xref streams; a file with several revisions) signed by docsign:
  the increment is byte for byte what pyHanko's own signer writes (times and the signature masked), and
  both validate the same; a visible signature on the last page passes qpdf, pdfsig and pyHanko.
"""

from __future__ import annotations

import io
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader

from docsign.signing.lazyxref import SigningReader, reader_class
from docsign.signing.pdfio import IncrementalWriter, PageTree, page_geometry, page_refs
from docsign.signing.request import Level, Placement, SignRequest
from docsign.signing.service import DIGEST, sign_pdf
from tests.unit.signing.corpus import CORPUS, rewrite
from tests.unit.signing.helpers import assert_interop, load, need_tool, pyhanko_statuses

CORPUS_DIR = Path(__file__).resolve().parents[2] / "corpus"
PAGES = 2000


# -- the reader ----------------------------------------------------------------------------------

def _dump(obj: Any) -> bytes:
    out = io.BytesIO()
    obj.write_to_stream(out, None)
    return out.getvalue()


def _containers(obj: Any) -> list[Any]:
    """Where each value says it lives (what an incremental update marks as changed)."""
    ref = getattr(obj, "container_ref", None)
    own = (type(obj).__name__, getattr(ref, "idnum", ref.__class__.__name__), getattr(ref, "generation", None))
    indirect = generic.IndirectObject
    if isinstance(obj, generic.DictionaryObject):
        return [own] + [(k, _containers(v)) for k, v in sorted(obj.items()) if not isinstance(v, indirect)]
    if isinstance(obj, generic.ArrayObject):
        return [own] + [_containers(v) for v in list.__iter__(obj) if not isinstance(v, indirect)]
    return [own]


def _read_all(cls: type[PdfFileReader], data: bytes, strict: bool) -> Any:
    """Everything a reader says about a file, or the error it raises first (encrypted files opened with
    the user password ``u``)."""
    try:
        reader = cls(io.BytesIO(data), strict=strict)
        if reader.encrypted:
            reader.decrypt(b"u")
        xrefs = reader.xrefs
        out: list[Any] = [_dump(reader.trailer.flatten()), xrefs.total_revisions, xrefs.hybrid_xrefs_present,
                          sorted(map(repr, xrefs.xref_stream_refs))]
        refs: set[generic.Reference] = set()
        for rev in range(xrefs.total_revisions):
            explicit = xrefs.explicit_refs_in_revision(rev)
            refs |= explicit
            out.append((rev, sorted((r.idnum, r.generation) for r in explicit),
                        sorted((r.idnum, r.generation) for r in xrefs.refs_freed_in_revision(rev)),
                        sorted(r.idnum for r in xrefs.object_streams_used_in(rev)),
                        xrefs.get_startxref_for_revision(rev), xrefs.get_xref_container_info(rev)))
        for ref in sorted(refs, key=lambda r: (r.idnum, r.generation)):
            try:
                last = xrefs.get_last_change(ref)
                obj = reader.get_object(generic.Reference(ref.idnum, ref.generation, reader))
                out.append((ref.idnum, ref.generation, last, _dump(obj), _containers(obj)))
            except Exception as exc:
                out.append((ref.idnum, ref.generation, type(exc).__name__, str(exc)))
        return out
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc))


@pytest.fixture(scope="module")
def writers_files(tmp_path_factory) -> list[Path]:  # type: ignore[no-untyped-def]
    """The signing corpus (fpdf2, reportlab, Pillow, Ghostscript, qpdf, pyHanko, hand-made hybrid and
    generation files) as made at test time."""
    base = tmp_path_factory.mktemp("writers")
    made = []
    for name, (maker, _) in CORPUS.items():
        try:
            made.append(maker(base / f"{name}.pdf"))
        except pytest.skip.Exception:  # a tool this machine lacks (CI has them all)
            continue
    # encrypted (AES-256, RC4-128), and an xref entry pointing 3 bytes past its object
    for name, args in (("aes256", ["256"]), ("rc4", ["128", "--use-aes=n"])):
        out = base / f"encrypted-{name}.pdf"
        subprocess.run([need_tool("qpdf"), "--allow-weak-crypto", "--encrypt", "u", "o", *args, "--", str(made[0]),
                        str(out)], check=True)
        made.append(out)
    data = made[0].read_bytes()
    table = data.rindex(b"\nxref\n")
    entry = table + data[table:].index(b" 00000 n") - 10  # the first object in use
    offset = int(data[entry:entry + 10]) + 3
    made.append(base / "bad-offset.pdf")
    made[-1].write_bytes(data[:entry] + b"%010d" % offset + data[entry + 10:])
    return made


def test_signing_reader_reads_every_file_as_pyhanko_does(writers_files) -> None:  # type: ignore[no-untyped-def]
    files = sorted(CORPUS_DIR.glob("*/*.pdf")) + writers_files
    assert len(files) > 40
    assert reader_class() is SigningReader  # the installed pyHanko is one it reproduces
    with files[0].open("rb") as fh:  # its constructor sets up what pyHanko's does, nothing less
        assert vars(SigningReader(fh)).keys() == vars(PdfFileReader(fh)).keys()
    lazy: dict[str, int] = {"LazyTableData": 0, "LazyStreamData": 0}
    for path in files:
        data = path.read_bytes()
        for strict in (True, False):
            expected = _read_all(PdfFileReader, data, strict)
            assert _read_all(SigningReader, data, strict) == expected, (path.name, strict)
        try:
            reader = SigningReader(io.BytesIO(data), strict=False)
            kinds = {type(reader.xrefs.get_xref_data(r)).__name__ for r in range(reader.xrefs.total_revisions)}
            for kind in kinds & lazy.keys():
                lazy[kind] += 1
        except Exception:
            continue
    assert lazy["LazyTableData"] > 20 and lazy["LazyStreamData"] > 5, lazy  # most went through the lazy path


# -- the page tree -------------------------------------------------------------------------------

def _hand_tree(path: Path, kids_of_root: str, extra: dict[int, bytes], count: int) -> Path:
    """A PDF whose page tree is written out by hand: object 2 is the root /Pages node."""
    objects = {1: b"<< /Type /Catalog /Pages 2 0 R >>",
               2: b"<< /Type /Pages /Kids [%s] /Count %d /MediaBox [0 0 500 700] /Rotate 90 >>"
               % (kids_of_root.encode(), count)}
    objects.update(extra)
    body = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for num in sorted(objects):
        offsets[num] = len(body)
        body += b"%d 0 obj\n" % num + objects[num] + b"\nendobj\n"
    size = max(objects) + 1
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for num in range(1, size):
        body += b"%010d 00000 n \n" % offsets[num] if num in offsets else b"0000000000 00001 f \n"
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (size, xref)
    path.write_bytes(bytes(body))
    return path


def _page(parent: int, n: int, box: bytes = b"") -> bytes:
    return b"<< /Type /Page /Parent %d 0 R /Contents %d 0 R%s >>" % (parent, 100 + n, box)


def _trees(base: Path) -> dict[str, Path]:
    contents = {100 + n: b"<< /Length 0 >>\nstream\n\nendstream" for n in range(12)}
    flat = {10 + n: _page(2, n) for n in range(6)}
    # an empty node first, then pages, then a node of two: the counts add up to the number of kids
    empty = {3: b"<< /Type /Pages /Parent 2 0 R /Kids [] /Count 0 >>",
             4: b"<< /Type /Pages /Parent 2 0 R /Kids [12 0 R 13 0 R] /Count 2 >>",
             10: _page(2, 0), 11: _page(2, 1), 12: _page(4, 2, b" /MediaBox [0 0 300 400]"), 13: _page(4, 3)}
    nested = {3: b"<< /Type /Pages /Parent 2 0 R /Kids [10 0 R 5 0 R] /Count 3 /Rotate 180 >>",
              5: b"<< /Type /Pages /Parent 3 0 R /Kids [11 0 R 12 0 R] /Count 2 >>",
              10: _page(3, 0), 11: _page(5, 1), 12: _page(5, 2), 13: _page(2, 3)}
    # a page whose dictionary names /Pages in a string: looked at as text it could be a node, so it is read
    strings = {**flat, 11: b"<< /Type /Page /Parent 2 0 R /Contents 101 0 R /PieceInfo << /X (/Pages) >> >>"}
    return {
        "flat": _hand_tree(base / "flat.pdf", " ".join(f"{10 + n} 0 R" for n in range(6)), {**flat, **contents}, 6),
        "empty-node": _hand_tree(base / "empty.pdf", "3 0 R 10 0 R 11 0 R 4 0 R", {**empty, **contents}, 4),
        "nested": _hand_tree(base / "nested.pdf", "3 0 R 13 0 R", {**nested, **contents}, 4),
        "string": _hand_tree(base / "string.pdf", " ".join(f"{10 + n} 0 R" for n in range(6)),
                             {**strings, **contents}, 6),
        "count-lies": _hand_tree(base / "lies.pdf", " ".join(f"{10 + n} 0 R" for n in range(5)),
                                 {**{10 + n: _page(2, n) for n in range(5)}, **contents}, 6),
    }


def test_page_tree_finds_the_pages_the_full_walk_finds(tmp_path: Path) -> None:
    for name, path in _trees(tmp_path).items():
        with path.open("rb") as fh:
            reader = SigningReader(fh)
            walked = page_refs(reader)
            tree = IncrementalWriter(fh, reader).pages  # what pyHanko's widget placement asks
            found = [tree.ref(i).reference for i in range(min(len(tree), len(walked)))]
            assert found == walked[:len(found)], name
            assert [PageTree(reader.root, reader).index(tree.ref(i)) for i in range(len(found))] \
                == list(range(len(found))), name
            assert [PageTree(reader.root, reader).geometry(i) for i in range(len(found))] \
                == [page_geometry(r.get_object()) for r in walked[:len(found)]], name
            if name == "count-lies":  # /Count says 6, the tree holds 5: the sixth page is refused, not invented
                with pytest.raises(Exception, match="holds 5"):
                    tree.ref(5)
    # the empty node: taken page by page the answer would be wrong (index 1 is object 11, not 13)
    with _trees(tmp_path)["empty-node"].open("rb") as fh:
        reader = SigningReader(fh)
        assert [r.idnum for r in page_refs(reader)] == [10, 11, 12, 13]
        geometry = PageTree(reader.root, reader).geometry(2)  # its own /MediaBox, /Rotate from the root
        assert (geometry.media, geometry.rotate) == ((0, 0, 300, 400), 90)


# -- 2,000 pages ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def big_files(tmp_path_factory, pki) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    """2,000 pages from reportlab, turned by /Rotate 90, with /MediaBox, /CropBox and /Rotate moved up to
    the page tree; the same file through qpdf (object streams, xref stream); and that file signed once
    (three revisions once signed again)."""
    from reportlab.pdfgen import canvas

    base = tmp_path_factory.mktemp("big")
    source = base / "reportlab.pdf"
    c = canvas.Canvas(str(source))
    for n in range(PAGES):
        c.setPageRotation(90)
        c.drawString(72, 760, f"page {n + 1} of {PAGES}")
        c.showPage()
    c.save()
    inherited = rewrite(source, base / "inherited.pdf", inherit_boxes=True)
    objstm = base / "objstm.pdf"
    subprocess.run([need_tool("qpdf"), "--object-streams=generate", str(inherited), str(objstm)], check=True)
    revisions = base / "revisions.pdf"
    sign_pdf(inherited, revisions, load(pki.leader, pki), SignRequest(level=Level.B_B, placement=Placement(
        1000, (100, 100, 300, 160))))
    return {"inherited": inherited, "objstm": objstm, "revisions": revisions}


def test_big_file_has_what_the_tests_need(big_files) -> None:  # type: ignore[no-untyped-def]
    with big_files["inherited"].open("rb") as fh:
        reader = PdfFileReader(fh)
        pages = reader.root["/Pages"]
        assert int(pages["/Count"]) == PAGES and "/MediaBox" in pages and int(pages["/Rotate"]) == 90
        assert "/MediaBox" not in pages["/Kids"][PAGES - 1] and not reader.has_xref_stream
    with big_files["objstm"].open("rb") as fh:
        reader = PdfFileReader(fh)
        assert reader.has_xref_stream and reader.xrefs.object_streams_used_in(0)


_VOLATILE = re.compile(rb"/Contents <[0-9a-fA-F]+>|\(D(?::|\\072)[^)]*\)|/ID \[[^]]*\]|/ByteRange \[[^]]*\]")
"""What depends on the clock: the signature, dates (pyHanko escapes their colon), the document ID, and
where the signature ends up."""


def _increment(path: Path, start: int) -> bytes:
    return _VOLATILE.sub(b"~", path.read_bytes()[start:])


@pytest.mark.parametrize("name", ["inherited", "objstm", "revisions"])
def test_big_file_signed_as_pyhanko_signs_it(name, big_files, pki, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Invisible B-B: docsign's increment equals pyHanko's own signer's (same signer, field, reservation)."""
    from pyhanko.sign.fields import SigFieldSpec, SigSeedSubFilter
    from pyhanko.sign.signers.pdf_signer import PdfSignatureMetadata, PdfSigner

    from docsign.signing.fast import signer_for

    source = big_files[name]
    key = load(pki.leader, pki)
    ours, theirs = tmp_path / "docsign.pdf", tmp_path / "pyhanko.pdf"
    result = sign_pdf(source, ours, key, SignRequest(level=Level.B_B))
    signer = signer_for(key)
    meta = PdfSignatureMetadata(field_name=result.field_name, md_algorithm=DIGEST, subfilter=SigSeedSubFilter.PADES)
    with source.open("rb") as inf, theirs.open("wb") as out:
        PdfSigner(meta, signer, new_field_spec=SigFieldSpec(result.field_name)).sign_pdf(
            IncrementalPdfFileWriter(inf), existing_fields_only=False, bytes_reserved=signer.reserved_size(DIGEST),
            output=out)
    size = source.stat().st_size
    assert _increment(ours, size) == _increment(theirs, size)
    verdicts = [[(s.bottom_line, s.coverage, s.modification_level, s.docmdp_ok) for s in pyhanko_statuses(p, pki.root)]
                for p in (ours, theirs)]
    assert verdicts[0] == verdicts[1] and all(v[0] for v in verdicts[0])


def test_big_file_visible_signature_on_the_last_page(big_files, pki, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The block goes on page 2,000, whose box and rotation come from the tree: upright, and valid."""
    out = tmp_path / "last.pdf"
    sign_pdf(big_files["revisions"], out, load(pki.seal, pki), SignRequest(level=Level.B_B, placement=Placement(
        -1, (100, 100, 300, 160))))
    assert_interop(out, pki.root, 2)
    with out.open("rb") as fh:
        reader = PdfFileReader(fh)
        fields = reader.root["/AcroForm"]["/Fields"]
        widget = fields[len(fields) - 1]
        assert widget.raw_get("/P").reference == page_refs(reader)[-1]
        drawn = widget["/AP"]["/N"].data
        assert b"q 0 1 -1 0 200.00 0.00 cm" in drawn  # drawn turned back for the inherited /Rotate 90


def test_other_projects_files_signed_on_their_last_page(pki, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """pypdf's test files (tests/corpus/pypdf: an indirect /Rotate, comments in objects, an xref stream): the
    widget lands on the page the full walk calls last, and qpdf, pdfsig and pyHanko accept the result."""
    for source in sorted((CORPUS_DIR / "pypdf").glob("*.pdf")):
        out = tmp_path / source.name
        sign_pdf(source, out, load(pki.leader, pki), SignRequest(level=Level.B_B, placement=Placement(
            -1, (50, 50, 250, 110))))
        assert_interop(out, pki.root, 1)
        with out.open("rb") as fh:
            reader = PdfFileReader(fh)
            fields = reader.root["/AcroForm"]["/Fields"]
            assert fields[len(fields) - 1].raw_get("/P").reference == page_refs(reader)[-1], source.name
