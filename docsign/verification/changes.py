"""What changed after a signature: pyHanko's difference analysis, made fast on big documents.

pyHanko's :class:`~pyhanko.sign.diff_analysis.StandardDiffPolicy` asks the signed revision, for
every object a later revision writes, by which paths the signed revision reaches it. To answer,
pyHanko reads *every* object of the signed revision and walks the whole object graph: on a
2,000-page document that is nearly all of a verification's time, even when the later revision
only adds a document security store (B-LT).

:class:`SignedRevision` answers the same question from the raw bytes when they settle it: an object
number that no object of the signed revision mentions (``N G R``, in the file or in its object
streams) is reached by no path; one that only the trailer mentions is reached by that trailer key
alone. Any other object (one the signed revision does mention) gets pyHanko's own full answer, so
the analysis reads the whole revision only when a later revision touches an object the signed
content uses. Every rule, level and verdict stays pyHanko's; the tests compare both ways on attack
files (``tests/unit/verification/test_changes.py``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver, PdfFileReader, RawPdfPath
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    DiffResult,
    ModificationLevel,
    StandardDiffPolicy,
    SuspiciousModification,
)
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

_SPACE = rb"(?:[\x00\t\n\x0c\r ]++|%[^\r\n]*+)++"
_REFERENCE = re.compile(rb"(?<![0-9])([0-9]+)" + _SPACE + rb"[0-9]+" + _SPACE + rb"R")
"""``N G R`` with any PDF whitespace or comments between the tokens (a superset of what a reader accepts)."""
WITHOUT_FORM_RULE = StandardDiffPolicy(global_rules=DEFAULT_DIFF_POLICY.global_rules, form_rule=None)
"""pyHanko's default policy for revisions that touch no form object (the form rule has nothing to judge)."""


class SignedRevision(HistoricalResolver):
    """The signed revision, answering "which paths reach this object?" from the bytes when they settle it."""

    def __init__(self, reader: PdfFileReader, revision: int, data: bytes, signed_end: int, *,
                 narrow: bool = True, gap: tuple[int, int] | None = None) -> None:
        super().__init__(reader, revision)
        self._mentioned: set[int] | None = None
        self._trailer_paths: dict[tuple[int, int], set[RawPdfPath]] = {}
        self.full_walk = False
        """True once pyHanko's walk of the whole revision was needed (for the tests and the benchmark)."""
        if narrow:
            self._mentioned = _mentioned_numbers(reader, revision, data, signed_end, gap)
            if self._mentioned is not None:
                self._trailer_paths = self._trailer_references()

    def _trailer_references(self) -> dict[tuple[int, int], set[RawPdfPath]]:
        """Objects the trailer itself names (/Root, /Info, ...): the trailer key is their only path
        when no object mentions them; anything nested deeper counts as mentioned."""
        assert self._mentioned is not None
        paths: dict[tuple[int, int], set[RawPdfPath]] = {}
        for key, value in self.trailer_view.items():
            if isinstance(value, generic.IndirectObject):
                ref = value.reference
                paths.setdefault((ref.idnum, ref.generation), set()).add(RawPdfPath(key))
            else:
                self._mentioned.update(_nested_numbers(value))
        return {ref: p for ref, p in paths.items() if ref[0] not in self._mentioned}

    def form_untouched(self, revision: int) -> bool:
        """Does ``revision`` only add objects this revision never mentions and rewrite at most the
        catalog (same form, same root) and objects only the trailer names? Decided from the bytes;
        False whenever they do not settle it."""
        if self._mentioned is None:
            return False
        xrefs = self.reader.xrefs
        if xrefs.refs_freed_in_revision(revision):
            return False
        new = self.reader.get_historical_resolver(revision)
        old_root, new_root = self.trailer_view.raw_get("/Root"), new.trailer_view.raw_get("/Root")
        if not isinstance(old_root, generic.IndirectObject) or old_root != new_root:
            return False
        root_ref = old_root.reference
        for ref in xrefs.explicit_refs_in_revision(revision):
            if xrefs.get_historical_ref(ref, self.revision) is None:  # new here
                if ref.idnum in self._mentioned:
                    return False  # the signed revision already pointed at it (a dangling reference filled in)
            elif (ref.idnum, ref.generation) not in self._trailer_paths:
                return False
        return self.root.raw_get("/AcroForm", None) == new.get_object(root_ref).raw_get("/AcroForm", None)

    def _load_reverse_xref_cache(self) -> None:
        if self._mentioned is None:
            self._full_walk()
        # otherwise answered per object by _get_usages_of_ref

    def _get_usages_of_ref(self, ref: generic.Reference) -> set[RawPdfPath]:
        if self._indirect_object_access_cache is None and self._mentioned is not None:
            paths = self._trailer_paths.get((ref.idnum, ref.generation))
            if paths is not None:
                return set(paths)
            if ref.idnum not in self._mentioned:
                return set()
        self._full_walk()
        return super()._get_usages_of_ref(ref)

    def _full_walk(self) -> None:
        if self._indirect_object_access_cache is None:
            self.full_walk = True
            super()._load_reverse_xref_cache()


def _nested_numbers(value: generic.PdfObject) -> Iterable[int]:
    if isinstance(value, generic.IndirectObject):
        yield value.reference.idnum
    elif isinstance(value, generic.DictionaryObject):
        for item in value.values():
            yield from _nested_numbers(item)
    elif isinstance(value, generic.ArrayObject):
        for item in value:
            yield from _nested_numbers(item)


def _mentioned_numbers(reader: PdfFileReader, revision: int, data: bytes, signed_end: int,
                       gap: tuple[int, int] | None) -> set[int] | None:
    """Every object number written as ``N G R`` in the objects of revisions 0..``revision`` (their
    bytes before ``signed_end``, cross-reference sections and trailers left out, object streams
    decoded); None when the bytes cannot settle it (hybrid files, objects stored after ``signed_end``)."""
    xrefs = reader.xrefs
    if xrefs.hybrid_xrefs_present or reader.encrypted:
        return None
    if signed_end > len(data):
        return None
    cuts: list[tuple[int, int]] = []
    streams: set[int] = set()
    for rev in range(revision + 1):
        start = xrefs.get_xref_container_info(rev).start_location
        end = data.find(b"startxref", start) if isinstance(start, int) else -1
        if end < 0 or end > signed_end:
            return None
        cuts.append((start, end))
        section = xrefs.get_xref_data(rev)
        streams.update(where.obj_stream_id for where in section.xrefs_in_objstm.values())
        if any(offset >= signed_end for _, offset in section.standard_xrefs.values()):
            return None  # read from bytes appended after signing: only the full analysis may judge
    if gap is not None:
        cuts.append(gap)  # the signature value: a hex string mentions no object, and scanning it is slow
    mentioned: set[int] = set()
    position = 0
    for start, end in sorted(cuts):
        mentioned.update(int(m.group(1)) for m in _REFERENCE.finditer(data, position, max(position, start)))
        position = max(position, end)
    mentioned.update(int(m.group(1)) for m in _REFERENCE.finditer(data, position, signed_end))
    resolver = reader.get_historical_resolver(revision)
    for number in streams:
        try:
            stream = resolver(generic.Reference(number, 0))
            body = stream.data if isinstance(stream, generic.StreamObject) else None
        except Exception:
            return None
        if body is None:
            return None
        mentioned.update(int(m.group(1)) for m in _REFERENCE.finditer(body))
    return mentioned


def _hex_gap(emb: EmbeddedPdfSignature, data: bytes) -> tuple[int, int] | None:
    """The span the signature leaves out, when it is exactly one hex string."""
    try:
        start1, len1, start2, _ = (int(x) for x in emb.byte_range)
    except (TypeError, ValueError):
        return None
    if re.fullmatch(rb"<[0-9A-Fa-f\x00\t\n\x0c\r ]*>", data[start1 + len1:start2]):
        return start1 + len1, start2
    return None


def review(emb: EmbeddedPdfSignature, data: bytes, *, signed_end: int, narrow: bool = True
           ) -> DiffResult | SuspiciousModification:
    """pyHanko's ``evaluate_modifications`` for this signature with its default policy (same result).

    With ``narrow``, the signed revision is a :class:`SignedRevision`, and when every later revision
    only adds objects the signed revision never mentions and rewrites at most the catalog (its form
    untouched) and the document information (objects only the trailer names), as adding validation
    data does, the form rule is left out: no form object changed, so it has nothing to judge.
    Exceptions other than SuspiciousModification mean the analysis failed."""
    coverage = emb.evaluate_signature_coverage()
    if coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        return SuspiciousModification("Nonstandard signature coverage level")
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return DiffResult(ModificationLevel.NONE, set())
    reader = emb.reader
    base = SignedRevision(reader, emb.signed_revision, data, signed_end, narrow=narrow, gap=_hex_gap(emb, data))
    later = range(emb.signed_revision + 1, reader.xrefs.total_revisions)
    policy = WITHOUT_FORM_RULE if all(base.form_untouched(r) for r in later) else DEFAULT_DIFF_POLICY
    level = ModificationLevel.NONE
    changed_fields: set[str] = set()
    for revision in later:  # as StandardDiffPolicy.review_file
        try:
            result = policy.apply(old=base, new=reader.get_historical_resolver(revision),
                                  field_mdp_spec=emb.fieldmdp, doc_mdp=emb.docmdp_level)
        except SuspiciousModification as exc:
            return exc
        level = max(level, result.modification_level)
        changed_fields |= result.changed_form_fields
    return DiffResult(level, changed_fields)


VALIDATION_DATA_KEYS = frozenset({"/DSS", "/Extensions"})
"""Catalog entries that adding validation data (PAdES B-LT/LTA) writes."""


def only_validation_data(emb: EmbeddedPdfSignature, data: bytes, *, signed_end: int) -> bool:
    """docsign's own check, for when pyHanko's analysis cannot run: every later revision only adds
    objects the signed revision never mentions, and rewrites at most the document information and the
    catalog's validation data entries. Nothing the signed revision shows can then have changed."""
    reader = emb.reader
    base = SignedRevision(reader, emb.signed_revision, data, signed_end, gap=_hex_gap(emb, data))
    for revision in range(emb.signed_revision + 1, reader.xrefs.total_revisions):
        if not base.form_untouched(revision):
            return False
        old_root, new_root = base.root, reader.get_historical_resolver(revision).root
        for key in set(old_root) | set(new_root):
            if key not in VALIDATION_DATA_KEYS and old_root.raw_get(key, None) != new_root.raw_get(key, None):
                return False
    return True


def _inherited(field: generic.DictionaryObject, key: str, depth: int = 0) -> generic.PdfObject | None:
    """A field's entry as PDF inheritance gives it (own value, else the parent's)."""
    if key in field:
        return field.raw_get(key)
    parent = field.get("/Parent")
    if isinstance(parent, generic.DictionaryObject) and depth < 32:
        return _inherited(parent, key, depth + 1)
    return None


def _normal_appearance(widget: generic.DictionaryObject) -> generic.PdfObject | None:
    ap = widget.get("/AP")
    return ap.raw_get("/N") if isinstance(ap, generic.DictionaryObject) and "/N" in ap else None


def appearance_without_value(reader: PdfFileReader, signed_revision: int) -> list[str]:
    """Form fields whose widget shows a new appearance after ``signed_revision`` while the field's value
    stayed the same: filling a form changes the value (and redraws it); only the look changing is the
    shadow "replace" attack (the page shows content nobody signed)."""
    found: list[str] = []
    old = reader.get_historical_resolver(signed_revision)
    for revision in range(signed_revision + 1, reader.xrefs.total_revisions):
        new = reader.get_historical_resolver(revision)
        for ref in reader.xrefs.explicit_refs_in_revision(revision):
            if reader.xrefs.get_historical_ref(ref, signed_revision) is None:
                continue  # a new object: new fields are the form rules' business
            before, after = old(ref), new(ref)
            if not (isinstance(before, generic.DictionaryObject) and isinstance(after, generic.DictionaryObject)):
                continue
            if after.get("/Subtype") != "/Widget" or _inherited(after, "/FT") is None:
                continue
            if _normal_appearance(before) != _normal_appearance(after) and \
                    _inherited(before, "/V") == _inherited(after, "/V"):
                found.append(str(_inherited(after, "/T") or f"object {ref.idnum}"))
    return list(dict.fromkeys(found))
