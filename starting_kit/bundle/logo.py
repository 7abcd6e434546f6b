"""The competition logo: a land-cover mosaic in the nomenclature's colours, drawn with Pillow.

No font is used (Pillow's default font changed across versions), so the same inputs give the same
pixels everywhere and, with the same zlib, the same PNG bytes. Pillow writes no timestamp in a PNG.
"""

from __future__ import annotations

import io

from PIL import Image, ImageDraw

from scoring.classes import CLASS_COLOURS, colour_rgb

#: Logo side in pixels; Codabench and CodaLab scale it down in their listings.
LOGO_SIZE = 256
_CELLS = 8
#: 3x5 bitmaps of the digits a FLAIR edition number needs, row by row.
_DIGITS = {
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
}


def _cell_class(row: int, col: int, edition: int) -> int:
    # A fixed, irregular pattern that looks like fields and buildings and differs per edition.
    return (row * row + 3 * col + edition * (row + 1) * (col + 2)) % (len(CLASS_COLOURS) - 1)


def _draw_digit(draw: ImageDraw.ImageDraw, digit: str, origin: tuple[int, int], unit: int) -> None:
    x0, y0 = origin
    for r, bits in enumerate(_DIGITS[digit]):
        for c, bit in enumerate(bits):
            if bit == "1":
                box = (
                    x0 + c * unit,
                    y0 + r * unit,
                    x0 + (c + 1) * unit - 1,
                    y0 + (r + 1) * unit - 1,
                )
                draw.rectangle(box, fill=(255, 255, 255))


def render_logo(edition: int) -> bytes:
    """PNG bytes of the logo of FLAIR #``edition`` (1 or 2).

    Raises:
        ValueError: an edition without a digit bitmap.
    """
    digit = str(edition)
    if digit not in _DIGITS:
        raise ValueError(f"no logo for FLAIR edition {edition!r}; expected 1 or 2")
    image = Image.new("RGB", (LOGO_SIZE, LOGO_SIZE), (0, 0, 0))
    draw = ImageDraw.Draw(image)
    cell = LOGO_SIZE // _CELLS
    for row in range(_CELLS):
        for col in range(_CELLS):
            colour = colour_rgb(CLASS_COLOURS[_cell_class(row, col, edition)])
            box = (col * cell, row * cell, (col + 1) * cell - 1, (row + 1) * cell - 1)
            draw.rectangle(box, fill=colour)
    # A dark plate with the edition number, readable over any cell colour.
    plate = (LOGO_SIZE // 2 - 40, LOGO_SIZE // 2 - 56, LOGO_SIZE // 2 + 40, LOGO_SIZE // 2 + 56)
    draw.rectangle(plate, fill=(21, 83, 174))
    unit = 16
    _draw_digit(draw, digit, (LOGO_SIZE // 2 - 3 * unit // 2, LOGO_SIZE // 2 - 5 * unit // 2), unit)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()
