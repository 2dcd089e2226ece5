"""The Rivanna kernels' logo: a GPU chip (navy package, orange die, grey pins).

Jupyter shows logo-32x32.png / logo-64x64.png (and JupyterLab's launcher logo-svg.svg)
from a kernelspec's directory. A chip says "this runs on a GPU somewhere else" where a
letter would read as a language (an "R" reads as the R language). Drawn here on a 16x16
grid of rectangles and written as PNG with zlib alone, so no image library is needed.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

GRID = 16
NAVY = (35, 45, 75, 255)  # UVA's navy
ORANGE = (229, 114, 0, 255)  # UVA's orange
GREY = (154, 160, 166, 255)
_PINS = ((4, 5), (6, 7), (9, 10), (11, 12))  # along each side, in grid units

# (x0, y0, x1, y1, colour) in grid units, drawn in order.
SHAPES: tuple[tuple[int, int, int, int, tuple[int, int, int, int]], ...] = (
    *((1, a, 3, b, GREY) for a, b in _PINS),
    *((13, a, 15, b, GREY) for a, b in _PINS),
    *((a, 1, b, 3, GREY) for a, b in _PINS),
    *((a, 13, b, 15, GREY) for a, b in _PINS),
    (3, 3, 13, 13, NAVY),
    (5, 5, 11, 11, ORANGE),
)

FILES = ("logo-32x32.png", "logo-64x64.png", "logo-svg.svg")


def pixels(size: int) -> list[list[tuple[int, int, int, int]]]:
    """The logo as rows of RGBA pixels, `size` a multiple of 16."""
    unit = size // GRID
    rows = [[(0, 0, 0, 0)] * size for _ in range(size)]
    for x0, y0, x1, y1, colour in SHAPES:
        for y in range(y0 * unit, y1 * unit):
            rows[y][x0 * unit : x1 * unit] = [colour] * ((x1 - x0) * unit)
    return rows


def png(size: int) -> bytes:
    """The logo as a PNG file (8-bit RGBA, no filtering)."""
    raw = b"".join(b"\0" + bytes(c for px in row for c in px) for row in pixels(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack("!I", len(data)) + kind + data + struct.pack("!I", zlib.crc32(kind + data))
        )

    header = struct.pack("!IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")
    )  # fmt: skip


def svg() -> str:
    """The same logo as SVG."""
    rects = "".join(
        f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" '
        f'fill="#{r:02x}{g:02x}{b:02x}"/>'
        for x0, y0, x1, y1, (r, g, b, _a) in SHAPES
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {GRID} {GRID}">{rects}</svg>\n'


def write(kernelspec_dir: Path) -> None:
    """Put the logo files into a kernelspec's directory."""
    (kernelspec_dir / "logo-32x32.png").write_bytes(png(32))
    (kernelspec_dir / "logo-64x64.png").write_bytes(png(64))
    (kernelspec_dir / "logo-svg.svg").write_text(svg())
