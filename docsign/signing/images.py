"""Demo signature images drawn with Pillow: a blue handwritten-looking signature and a red round seal.

Real deployments register the scanned signature and seal of each person and agency (PNG with a
transparent background, Decree 30 box 7c and 8). These stand-ins make the demo and the tests look
like the real thing without committing binaries.
"""

from __future__ import annotations

import io
import math
import random
import unicodedata

from PIL import Image, ImageDraw, ImageFont

from docsign.signing.fonts import font_path

SEAL_RED = (218, 37, 29, 255)
INK_BLUE = (22, 48, 168, 255)


def _ascii_fold(text: str) -> str:
    folded = unicodedata.normalize("NFD", text.replace("Đ", "D").replace("đ", "d"))
    return "".join(c for c in folded if not unicodedata.combining(c))


def signature_png(full_name: str, size: tuple[int, int] = (600, 240)) -> bytes:
    """A blue scribble derived from the person's name (the same name always gives the same image)."""
    width, height = size
    rng = random.Random(full_name)
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    letters = [c for c in _ascii_fold(full_name).split()[-1] if c.isalpha()] or ["x"]
    points = []
    x = width * 0.08
    step = width * 0.8 / (len(letters) * 4)
    for i, letter in enumerate(letters * 4):
        amplitude = height * (0.32 if letter.isupper() or i == 0 else 0.18) * rng.uniform(0.7, 1.2)
        phase = ord(letter) / 7
        for t in range(8):
            angle = phase + t * math.pi / 4
            points.append((x + step * t / 8, height / 2 + amplitude * math.sin(angle) - i * 0.4))
        x += step
    draw.line(points, fill=INK_BLUE, width=7, joint="curve")
    flourish = [(width * 0.1 + k * width * 0.8 / 20, height * 0.78 - 25 * math.sin(k / 3)) for k in range(21)]
    draw.line(flourish, fill=INK_BLUE, width=5, joint="curve")
    return _png(image)


def seal_png(agency_name: str, diameter: int = 600) -> bytes:
    """A red round seal: two rings, the agency name around the edge, a star in the centre."""
    image = Image.new("RGBA", (diameter, diameter), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    c = diameter / 2
    draw.ellipse((6, 6, diameter - 6, diameter - 6), outline=SEAL_RED, width=14)
    inner = diameter * 0.3
    draw.ellipse((c - inner, c - inner, c + inner, c + inner), outline=SEAL_RED, width=6)
    star = [(c + (inner * 0.8 if k % 2 == 0 else inner * 0.33) * math.sin(k * math.pi / 5),
             c - (inner * 0.8 if k % 2 == 0 else inner * 0.33) * math.cos(k * math.pi / 5)) for k in range(10)]
    draw.polygon(star, fill=SEAL_RED)
    font = ImageFont.truetype(str(font_path("bold")), int(diameter * 0.075))
    text = agency_name.upper()
    radius = c - diameter * 0.12
    span = min(2 * math.pi * 0.85, len(text) * 0.2)
    for i, char in enumerate(text):
        angle = -span / 2 + span * (i + 0.5) / len(text)
        glyph = Image.new("RGBA", (int(diameter * 0.12), int(diameter * 0.12)), (0, 0, 0, 0))
        ImageDraw.Draw(glyph).text((glyph.width / 2, glyph.height / 2), char, font=font, fill=SEAL_RED, anchor="mm")
        glyph = glyph.rotate(-math.degrees(angle), resample=Image.Resampling.BICUBIC)
        x = c + radius * math.sin(angle) - glyph.width / 2
        y = c - radius * math.cos(angle) - glyph.height / 2
        image.alpha_composite(glyph, (int(x), int(y)))
    return _png(image)


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
