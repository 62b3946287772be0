"""The font for visible signatures: Noto Serif (from the ``fontpkg-noto-serif`` PyPI package).

Decree 30 asks for Times New Roman, which cannot be redistributed; Noto Serif is a Times-like serif
with every Vietnamese glyph. The package ships a variable font; PDF viewers draw only a variable
font's default outlines, so docsign makes static Regular and Bold instances once, cut down to the
Latin and Vietnamese ranges (small subsets embed faster), and caches them on disk. The italic
instance is for values written into an italic line of the draft (the date line).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

from docsign.signing.errors import SigningFailed

FAMILY = "Noto Serif"
WEIGHTS = {"regular": 400, "bold": 700, "italic": 400}
# Basic Latin, Latin-1, Latin Extended-A/B, combining marks, Latin Extended Additional (Vietnamese),
# general punctuation, currency, letterlike symbols
UNICODE_RANGES = [(0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x1E00, 0x1EFF), (0x2000, 0x206F),
                  (0x20A0, 0x20CF), (0x2100, 0x214F)]


def _variable_font(italic: bool = False) -> Path:
    try:
        import fontpkg_noto_serif
    except ImportError:
        raise SigningFailed("the font package fontpkg-noto-serif is missing (reinstall docsign)") from None
    pattern = "NotoSerif-Italic[[]*.ttf" if italic else "NotoSerif[[]*.ttf"
    matches = sorted((Path(fontpkg_noto_serif.ROOT) / "files").glob(pattern))
    if not matches:
        raise SigningFailed("fontpkg-noto-serif ships no NotoSerif variable font")
    return matches[0]


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    for candidate in (Path(base) / "docsign" / "fonts", Path(tempfile.gettempdir()) / f"docsign-fonts-{os.getuid()}"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            if os.access(candidate, os.W_OK):
                return candidate
        except OSError:
            continue
    raise SigningFailed("no writable cache directory for the signature font (set XDG_CACHE_HOME)")


@functools.cache
def font_path(weight: str = "regular") -> Path:
    """A static TrueType instance of Noto Serif at ``weight``, made once and cached on disk."""
    source = _variable_font(italic=weight == "italic")
    stamp = hashlib.sha256(f"{source}:{source.stat().st_size}:{weight}:{UNICODE_RANGES}".encode()).hexdigest()[:16]
    target = _cache_dir() / f"NotoSerif-{weight}-{stamp}.ttf"
    if target.exists():
        return target
    from fontTools import subset
    from fontTools.ttLib import TTFont
    from fontTools.varLib import instancer

    font = instancer.instantiateVariableFont(TTFont(str(source)), {"wght": WEIGHTS[weight], "wdth": 100})
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=[u for lo, hi in UNICODE_RANGES for u in range(lo, hi + 1)])
    subsetter.subset(font)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    font.save(str(tmp))
    os.replace(tmp, target)  # another process may have made the same file meanwhile: same bytes
    return target
