"""docsign's additions to pyHanko's difference analysis: changes EU DSS and iText accept after a signature
that pyHanko's default policy calls unexplained, each as narrow as the change it allows.

Every rule only *explains* objects (pyHanko's :class:`~pyhanko.sign.diff_analysis.StandardDiffPolicy` keeps
failing a revision with any object no rule explains), at a level that DocMDP then judges: a certification
signature with P=1 rejects anything above LTA_UPDATES, P=2 anything above FORM_FILLING (ISO 32000-1,
12.8.2.2; pyHanko compares the level with P when it summarises the result).

* :class:`FreedUnusedObjectRule` (LTA_UPDATES): a revision frees an object number the signed revision did
  not have (iText links unused numbers into its free list). The signed revision read such a number as
  null and so does the new one: nothing changes.
* :class:`StructureTreeRule` (FORM_FILLING): the structure tree (tagged PDF) gains elements and parent-tree
  entries, as when a signature field is added to a tagged document. It changes no page content, but it
  is what assistive technology reads, so a certification with P=1 still forbids it.
* :class:`AnnotationEditRule` (ANNOTATIONS): a page gains comments (markup annotations without actions)
  or drops annotations that are not form widgets; its other entries unchanged. ISO 32000-1 (table 254)
  lets P=3 create and delete annotations, P=1/2 not.
* :class:`AppearanceNamesRule` (ANNOTATIONS): the catalog gains a /Names dictionary holding only named
  appearance streams (/AP, the icons a viewer uses for comments). Any other name tree (/JavaScript,
  /EmbeddedFiles, /Dests, ...) or a change of existing names stays unexplained.
* :class:`WriterMarkerRule` (LTA_UPDATES): iText 5's version stamp (/ITXT) on the page tree root, and
  nothing else there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import HistoricalResolver
from pyhanko.sign.diff_analysis import (
    DEFAULT_DIFF_POLICY,
    CatalogModificationRule,
    ModificationLevel,
    QualifiedWhitelistRule,
    ReferenceUpdate,
    StandardDiffPolicy,
    SuspiciousModification,
)
from pyhanko.sign.diff_analysis.constants import ROOT_EXEMPT_STRICT_COMPARISON
from pyhanko.sign.diff_analysis.rules_api import Context

_MAX_DEPTH = 64
"""How deep the structure-tree and name-tree walks go (a real tree is far shallower; cycles stop earlier)."""


def _is_new(old: HistoricalResolver, ref: generic.Reference) -> bool:
    return old.reader.xrefs.get_historical_ref(ref, old.revision) is None


def _raw(obj: generic.PdfObject) -> generic.PdfObject:
    return obj.get_object() if isinstance(obj, generic.IndirectObject) else obj


def _entry(dictionary: generic.DictionaryObject, key: str) -> generic.PdfObject | None:
    """The entry as written (a reference stays a reference); None when absent."""
    return dictionary.raw_get(key) if key in dictionary else None


def _refs(value: generic.PdfObject) -> list[generic.Reference] | None:
    """The references in an array (direct or indirect); None when it is not an array of references."""
    array = _raw(value)
    if not isinstance(array, generic.ArrayObject):
        return None
    out = []
    for item in array:
        if not isinstance(item, generic.IndirectObject):
            return None
        out.append(item.reference)
    return out


class FreedUnusedObjectRule(QualifiedWhitelistRule):
    """Freeing an object number the signed revision did not have changes nothing it showed."""

    def apply_qualified(self, old: HistoricalResolver, new: HistoricalResolver
                        ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        for ref in new.refs_freed_in_revision():
            if _is_new(old, ref):
                yield ModificationLevel.LTA_UPDATES, ReferenceUpdate(ref)


_STRUCTURE_TYPES = frozenset({"/StructElem", "/OBJR", "/MCR"})
_STRUCTURE_ROOT_KEYS = frozenset({"/K", "/ParentTree", "/ParentTreeNextKey"})
"""What adding an element may change in the structure tree root."""
_CONTENT_KEYS = frozenset({"/Pg", "/Obj", "/Stm", "/StmOwn", "/P"})
"""Links out of the structure tree (to pages, annotations, content streams) or back up: not walked."""


def _structure_element(obj: generic.PdfObject) -> bool:
    return isinstance(obj, generic.DictionaryObject) and not isinstance(obj, generic.StreamObject) and (
        obj.get("/Type") in _STRUCTURE_TYPES or ("/S" in obj and "/P" in obj and "/Type" not in obj))


class StructureTreeRule(QualifiedWhitelistRule):
    """New structure elements and parent-tree entries, and existing elements that only gain children.

    Explained: the structure tree root when only /K, /ParentTree or /ParentTreeNextKey changed; an existing
    element (/StructElem) when only its /K changed; structure objects (elements, object references, attribute
    objects, parent-tree nodes and arrays of elements) new in this revision reached from the new root,
    never through the links out of the tree (/Pg, /Obj, /Stm: pages, annotations and content streams stay
    for the other rules). A rewritten object is explained only by the paths that reach it through the
    structure tree (an element also by outline items' /SE links); any other use still needs another rule."""

    def apply_qualified(self, old: HistoricalResolver, new: HistoricalResolver
                        ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        old_root_value, new_root_value = _entry(old.root, "/StructTreeRoot"), _entry(new.root, "/StructTreeRoot")
        if not isinstance(new_root_value, generic.IndirectObject) or old_root_value != new_root_value:
            return  # a new or replaced structure tree is not what this rule allows
        updated = new.explicit_refs_in_revision()
        tree_root = new_root_value.reference
        level = ModificationLevel.FORM_FILLING
        rewritten = [r for r in updated if not _is_new(old, r)]
        if not any(r == tree_root or _structure_element(old(r)) or _parent_tree_node(old(r)) for r in rewritten):
            return  # the tree is untouched: no need to walk it (it can be as large as the document)
        if tree_root in updated:
            before, after = old(tree_root), new(tree_root)
            if not (isinstance(before, generic.DictionaryObject) and isinstance(after, generic.DictionaryObject)
                    and _same_except(before, after, _STRUCTURE_ROOT_KEYS)):
                return
            yield from _through_tree(old, tree_root, level)
        for ref in self._tree_objects(new, tree_root):
            if ref == tree_root or ref not in updated:
                continue
            after = new(ref)
            if _is_new(old, ref):
                if _structure_element(after) or _parent_tree_node(after) or _attributes(after):
                    yield level, ReferenceUpdate(ref)
                continue
            before = old(ref)
            element = _structure_element(before) and _structure_element(after) and _same_except(before, after, {"/K"})
            if element or (_parent_tree_node(before) and _parent_tree_node(after)):
                yield from _through_tree(old, ref, level, outline_links=element)

    @staticmethod
    def _tree_objects(new: HistoricalResolver, tree_root: generic.Reference) -> Iterator[generic.Reference]:
        """References reached from the structure tree root through the tree itself (see the class)."""
        seen: set[generic.Reference] = set()
        stack: list[tuple[generic.PdfObject, int]] = [(generic.IndirectObject(tree_root.idnum, tree_root.generation,
                                                                              new), 0)]
        while stack:
            value, depth = stack.pop()
            if depth > _MAX_DEPTH:
                continue
            if isinstance(value, generic.IndirectObject):
                ref = value.reference
                if ref in seen:
                    continue
                seen.add(ref)
                yield ref
                value = new(ref)
            if isinstance(value, generic.StreamObject):
                continue
            if isinstance(value, generic.DictionaryObject):
                for key in value:
                    if key not in _CONTENT_KEYS and key not in ("/RoleMap", "/ClassMap"):
                        stack.append((value.raw_get(key), depth + 1))
            elif isinstance(value, generic.ArrayObject):
                stack.extend((item, depth + 1) for item in value)


def _through_tree(old: HistoricalResolver, ref: generic.Reference, level: ModificationLevel, *,
                  outline_links: bool = False) -> Iterator[tuple[ModificationLevel, ReferenceUpdate]]:
    """Explain a rewritten object only by the signed revision's paths through the structure tree (and, for a
    structure element, outline items' links to it, /SE): were it also, say, a page's /Contents array, that
    use stays unexplained."""
    for path in old._get_usages_of_ref(ref):
        if path.path[:2] == ("/Root", "/StructTreeRoot") or (outline_links and path.path[-1:] == ("/SE",)):
            yield level, ReferenceUpdate(ref, context_checked=Context.from_absolute(old, path))


def _attributes(obj: generic.PdfObject) -> bool:
    """A structure element's attribute object (/O names its owner: layout, list, table, ...)."""
    return isinstance(obj, generic.DictionaryObject) and not isinstance(obj, generic.StreamObject) and "/O" in obj


def _parent_tree_node(obj: generic.PdfObject) -> bool:
    """A number-tree node of the parent tree, or one of its values (an array of structure elements)."""
    if isinstance(obj, generic.StreamObject):
        return False
    if isinstance(obj, generic.DictionaryObject):
        return set(obj.keys()) <= {"/Nums", "/Kids", "/Limits"}
    return isinstance(obj, generic.ArrayObject) and all(
        isinstance(item, generic.IndirectObject | generic.NullObject) for item in obj)


def _same_except(before: generic.DictionaryObject, after: generic.DictionaryObject, keys: Iterable[str]) -> bool:
    allowed = set(keys)
    return all(_entry(before, k) == _entry(after, k)
               for k in (set(before.keys()) | set(after.keys())) - allowed)


MARKUP_ANNOTATIONS = frozenset({
    "/Text", "/FreeText", "/Line", "/Square", "/Circle", "/Polygon", "/PolyLine", "/Highlight", "/Underline",
    "/Squiggly", "/StrikeOut", "/Stamp", "/Caret", "/Ink", "/Popup"})
"""Comments a reviewer adds (ISO 32000-1, 12.5.6): no actions, files, sounds or media."""


class AnnotationEditRule(QualifiedWhitelistRule):
    """A page's annotations changed and nothing else: comments added (new markup annotations without actions,
    with their new appearance streams) or annotations other than form widgets removed. Explained: the page
    when only its /Annots changed, or the page's /Annots array object when only pages' /Annots use it (it may
    be freed when the page no longer points to it). Widgets (form fields, signatures) are the form rule's: a
    change that adds or removes one is left to it."""

    def apply_qualified(self, old: HistoricalResolver, new: HistoricalResolver
                        ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        updated = new.explicit_refs_in_revision()
        freed = new.refs_freed_in_revision()
        level = ModificationLevel.ANNOTATIONS
        for ref in updated:
            if ref in freed or _is_new(old, ref):
                continue
            before, after = old(ref), new(ref)
            if isinstance(before, generic.ArrayObject):
                edit = self._edit(old, new, _refs(before), _refs(after)) if _only_annots_use(old, ref) else None
                for found in [*edit, ref] if edit is not None else ():
                    yield level, ReferenceUpdate(found)
                continue
            if not (isinstance(before, generic.DictionaryObject) and before.get("/Type") == "/Page"
                    and isinstance(after, generic.DictionaryObject) and after.get("/Type") == "/Page"
                    and _same_except(before, after, {"/Annots"})):
                continue
            old_value, new_value = _entry(before, "/Annots"), _entry(after, "/Annots")
            if old_value == new_value:
                continue
            old_annots = [] if old_value is None else _refs(old_value)
            new_annots = [] if new_value is None else _refs(new_value)
            explained = self._edit(old, new, old_annots, new_annots)
            if explained is None:
                continue
            array = old_value.reference if isinstance(old_value, generic.IndirectObject) else None
            if array is not None and array in updated:
                if array not in freed or not _only_annots_use(old, array):
                    continue  # the old array object rewritten while the page points elsewhere
                explained.append(array)
            if isinstance(new_value, generic.IndirectObject):
                if not _is_new(old, new_value.reference):
                    continue  # the page now uses an array the signed revision had for something else
                explained.append(new_value.reference)
            for found in explained:
                yield level, ReferenceUpdate(found)
            yield level, ReferenceUpdate(ref)

    @classmethod
    def _edit(cls, old: HistoricalResolver, new: HistoricalResolver, before: list[generic.Reference] | None,
              after: list[generic.Reference] | None) -> list[generic.Reference] | None:
        """The new objects a change of an /Annots list brings (comments and their appearances); None when
        the change is more than comments added and non-widget annotations removed."""
        if before is None or after is None or before == after:
            return None
        removed, added = set(before) - set(after), set(after) - set(before)
        if any(_raw(old(a)).get("/Subtype") == "/Widget" for a in removed):
            return None
        explained: list[generic.Reference] = []
        for annotation in added:
            found = cls._comment(old, new, annotation)
            if found is None:
                return None
            explained.extend(found)
        return explained

    @staticmethod
    def _comment(old: HistoricalResolver, new: HistoricalResolver, ref: generic.Reference
                 ) -> list[generic.Reference] | None:
        """A new markup annotation without actions: it and the new objects its appearance uses; else None."""
        if not _is_new(old, ref):
            return None
        annotation = new(ref)
        if not isinstance(annotation, generic.DictionaryObject) or isinstance(annotation, generic.StreamObject):
            return None
        if annotation.get("/Subtype") not in MARKUP_ANNOTATIONS or "/A" in annotation or "/AA" in annotation:
            return None
        appearance = _entry(annotation, "/AP")
        found = [ref]
        if appearance is not None:
            found.extend(new.collect_dependencies(appearance, since_revision=new.revision))
        return found


def _only_annots_use(old: HistoricalResolver, ref: generic.Reference) -> bool:
    """Does the signed revision use this object only as some page's /Annots?"""
    usages = old._get_usages_of_ref(ref)
    return bool(usages) and all(path.path[-1:] == ("/Annots",) and "/Pages" in path.path for path in usages)


class AppearanceNamesRule(CatalogModificationRule):
    """pyHanko's catalog rule, letting the catalog gain a /Names dictionary with only named appearance
    streams (/AP). The catalog's own update is then at ANNOTATIONS level."""

    def __init__(self) -> None:
        super().__init__(ignored_keys=ROOT_EXEMPT_STRICT_COMPARISON | {"/Names"})

    def apply_qualified(self, old: HistoricalResolver, new: HistoricalResolver
                        ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        old_names, new_names = _entry(old.root, "/Names"), _entry(new.root, "/Names")
        if old_names == new_names:
            yield from super().apply_qualified(old, new)
            return
        if old_names is not None:
            raise SuspiciousModification("The catalog's name dictionary (/Names) was changed.")
        names = _raw(new_names)
        if not isinstance(names, generic.DictionaryObject) or isinstance(names, generic.StreamObject) or \
                set(names.keys()) != {"/AP"}:
            raise SuspiciousModification("A name dictionary (/Names) other than named appearances was added.")
        explained = [new_names, names.raw_get("/AP")]
        refs = [v.reference for v in explained if isinstance(v, generic.IndirectObject)]
        refs.extend(_name_tree_values(new, _raw(names.raw_get("/AP"))))
        if any(not _is_new(old, ref) for ref in refs):
            raise SuspiciousModification("The added name dictionary (/Names) reuses objects of the signed revision.")
        for ref in refs:
            yield ModificationLevel.ANNOTATIONS, ReferenceUpdate(ref)
        for level, update in super().apply_qualified(old, new):
            if update.updated_ref == new.root_ref:
                level = max(level, ModificationLevel.ANNOTATIONS)
            yield level, update


def _name_tree_values(new: HistoricalResolver, node: generic.PdfObject, depth: int = 0) -> list[generic.Reference]:
    """The kids and the values (appearance streams, each a form XObject) of a name tree, as references."""
    if depth > _MAX_DEPTH or not isinstance(node, generic.DictionaryObject):
        raise SuspiciousModification("The added name tree is malformed.")
    refs: list[generic.Reference] = []
    names = _entry(node, "/Names")
    if names is not None:
        pairs = _raw(names)
        if not isinstance(pairs, generic.ArrayObject):
            raise SuspiciousModification("The added name tree is malformed.")
        for value in list(pairs)[1::2]:
            stream = _raw(value)
            if not (isinstance(value, generic.IndirectObject) and isinstance(stream, generic.StreamObject)
                    and stream.get("/Subtype") == "/Form"):
                raise SuspiciousModification("The added appearance names hold something other than appearances.")
            refs.append(value.reference)
    for kid in _raw(_entry(node, "/Kids") or generic.ArrayObject()):
        if not isinstance(kid, generic.IndirectObject):
            raise SuspiciousModification("The added name tree is malformed.")
        refs.append(kid.reference)
        refs.extend(_name_tree_values(new, kid.get_object(), depth + 1))
    return refs


class WriterMarkerRule(QualifiedWhitelistRule):
    """iText 5 stamps its version (/ITXT, a string or name) on the page tree root at every incremental save,
    signing and adding validation data included. It is not an inheritable page attribute, so no page looks
    different; only that key may be added or changed."""

    def apply_qualified(self, old: HistoricalResolver, new: HistoricalResolver
                        ) -> Iterable[tuple[ModificationLevel, ReferenceUpdate]]:
        pages = _entry(new.root, "/Pages")
        if not isinstance(pages, generic.IndirectObject) or pages != _entry(old.root, "/Pages"):
            return
        ref = pages.reference
        if ref not in new.explicit_refs_in_revision() or ref in new.refs_freed_in_revision():
            return
        before, after = old(ref), new(ref)
        if isinstance(before, generic.DictionaryObject) and isinstance(after, generic.DictionaryObject) and \
                isinstance(_entry(after, "/ITXT"), generic.TextStringObject | generic.ByteStringObject
                           | generic.NameObject) and _same_except(before, after, {"/ITXT"}):
            yield ModificationLevel.LTA_UPDATES, ReferenceUpdate(ref)


def _global_rules() -> list[QualifiedWhitelistRule]:
    rules: list[QualifiedWhitelistRule] = [
        AppearanceNamesRule() if type(rule) is CatalogModificationRule else rule
        for rule in DEFAULT_DIFF_POLICY.global_rules]
    return [*rules, FreedUnusedObjectRule(), StructureTreeRule(), AnnotationEditRule(),
            WriterMarkerRule()]


DOCSIGN_DIFF_POLICY = StandardDiffPolicy(global_rules=_global_rules(), form_rule=DEFAULT_DIFF_POLICY.form_rule,
                                         reject_object_freeing=False)
"""pyHanko's default policy with docsign's rules above. Freeing is left to the rules: a freed object is
explained only by :class:`FreedUnusedObjectRule` or :class:`AnnotationEditRule`."""
DOCSIGN_POLICY_WITHOUT_FORM_RULE = StandardDiffPolicy(global_rules=_global_rules(), form_rule=None,
                                                      reject_object_freeing=False)
"""The same for revisions that touch no form object (the form rule has nothing to judge)."""
