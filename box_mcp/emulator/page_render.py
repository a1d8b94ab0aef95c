"""The emulator's preview stand-in: a file's text drawn into PNG pages, deterministically, in pure Python.

Box converts documents into paged PNG representations on its servers. The emulator cannot render PDF or
Office files, and does not pretend to: it draws the UTF-8 text of text-like files with a small built-in
5x7 bitmap font (80 columns, 53 lines a page, 1-bit grayscale PNG, zlib), and serves PNG and JPEG images
as themselves. Every other file has no preview representation. The same bytes always give the same pages.
"""

from __future__ import annotations

import math
import struct
import zlib

# 5 columns x 7 rows per glyph, '#' is ink; drawn for box-mcp (printable ASCII; anything else is a box).
_ART = {
    " ": ".....|.....|.....|.....|.....|.....|.....",
    "!": "..#..|..#..|..#..|..#..|..#..|.....|..#..",
    '"': ".#.#.|.#.#.|.....|.....|.....|.....|.....",
    "#": ".#.#.|.#.#.|#####|.#.#.|#####|.#.#.|.#.#.",
    "$": "..#..|.####|#.#..|.###.|..#.#|####.|..#..",
    "%": "##...|##..#|...#.|..#..|.#...|#..##|...##",
    "&": ".##..|#..#.|#.#..|.#...|#.#.#|#..#.|.##.#",
    "'": "..#..|..#..|.#...|.....|.....|.....|.....",
    "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
    ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
    "*": ".....|..#..|#.#.#|.###.|#.#.#|..#..|.....",
    "+": ".....|..#..|..#..|#####|..#..|..#..|.....",
    ",": ".....|.....|.....|.....|.##..|..#..|.#...",
    "-": ".....|.....|.....|#####|.....|.....|.....",
    ".": ".....|.....|.....|.....|.....|.##..|.##..",
    "/": ".....|....#|...#.|..#..|.#...|#....|.....",
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
    "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
    "3": "#####|...#.|..#..|...#.|....#|#...#|.###.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
    "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
    "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
    "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
    ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
    ";": ".....|.##..|.##..|.....|.##..|..#..|.#...",
    "<": "...#.|..#..|.#...|#....|.#...|..#..|...#.",
    "=": ".....|.....|#####|.....|#####|.....|.....",
    ">": ".#...|..#..|...#.|....#|...#.|..#..|.#...",
    "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
    "@": ".###.|#...#|....#|.##.#|#.#.#|#.#.#|.###.",
    "A": ".###.|#...#|#...#|#####|#...#|#...#|#...#",
    "B": "####.|#...#|#...#|####.|#...#|#...#|####.",
    "C": ".###.|#...#|#....|#....|#....|#...#|.###.",
    "D": "###..|#..#.|#...#|#...#|#...#|#..#.|###..",
    "E": "#####|#....|#....|####.|#....|#....|#####",
    "F": "#####|#....|#....|####.|#....|#....|#....",
    "G": ".###.|#...#|#....|#.###|#...#|#...#|.####",
    "H": "#...#|#...#|#...#|#####|#...#|#...#|#...#",
    "I": ".###.|..#..|..#..|..#..|..#..|..#..|.###.",
    "J": "..###|...#.|...#.|...#.|...#.|#..#.|.##..",
    "K": "#...#|#..#.|#.#..|##...|#.#..|#..#.|#...#",
    "L": "#....|#....|#....|#....|#....|#....|#####",
    "M": "#...#|##.##|#.#.#|#.#.#|#...#|#...#|#...#",
    "N": "#...#|#...#|##..#|#.#.#|#..##|#...#|#...#",
    "O": ".###.|#...#|#...#|#...#|#...#|#...#|.###.",
    "P": "####.|#...#|#...#|####.|#....|#....|#....",
    "Q": ".###.|#...#|#...#|#...#|#.#.#|#..#.|.##.#",
    "R": "####.|#...#|#...#|####.|#.#..|#..#.|#...#",
    "S": ".####|#....|#....|.###.|....#|....#|####.",
    "T": "#####|..#..|..#..|..#..|..#..|..#..|..#..",
    "U": "#...#|#...#|#...#|#...#|#...#|#...#|.###.",
    "V": "#...#|#...#|#...#|#...#|#...#|.#.#.|..#..",
    "W": "#...#|#...#|#...#|#.#.#|#.#.#|#.#.#|.#.#.",
    "X": "#...#|#...#|.#.#.|..#..|.#.#.|#...#|#...#",
    "Y": "#...#|#...#|#...#|.#.#.|..#..|..#..|..#..",
    "Z": "#####|....#|...#.|..#..|.#...|#....|#####",
    "[": ".###.|.#...|.#...|.#...|.#...|.#...|.###.",
    "\\": ".....|#....|.#...|..#..|...#.|....#|.....",
    "]": ".###.|...#.|...#.|...#.|...#.|...#.|.###.",
    "^": "..#..|.#.#.|#...#|.....|.....|.....|.....",
    "_": ".....|.....|.....|.....|.....|.....|#####",
    "`": ".#...|..#..|...#.|.....|.....|.....|.....",
    "a": ".....|.....|.###.|....#|.####|#...#|.####",
    "b": "#....|#....|#.##.|##..#|#...#|#...#|####.",
    "c": ".....|.....|.###.|#....|#....|#...#|.###.",
    "d": "....#|....#|.##.#|#..##|#...#|#...#|.####",
    "e": ".....|.....|.###.|#...#|#####|#....|.###.",
    "f": "..##.|.#..#|.#...|###..|.#...|.#...|.#...",
    "g": ".....|.####|#...#|#...#|.####|....#|.###.",
    "h": "#....|#....|#.##.|##..#|#...#|#...#|#...#",
    "i": "..#..|.....|.##..|..#..|..#..|..#..|.###.",
    "j": "...#.|.....|..##.|...#.|...#.|#..#.|.##..",
    "k": "#....|#....|#..#.|#.#..|##...|#.#..|#..#.",
    "l": ".##..|..#..|..#..|..#..|..#..|..#..|.###.",
    "m": ".....|.....|##.#.|#.#.#|#.#.#|#...#|#...#",
    "n": ".....|.....|#.##.|##..#|#...#|#...#|#...#",
    "o": ".....|.....|.###.|#...#|#...#|#...#|.###.",
    "p": ".....|.....|####.|#...#|####.|#....|#....",
    "q": ".....|.....|.##.#|#..##|.####|....#|....#",
    "r": ".....|.....|#.##.|##..#|#....|#....|#....",
    "s": ".....|.....|.###.|#....|.###.|....#|####.",
    "t": ".#...|.#...|###..|.#...|.#...|.#..#|..##.",
    "u": ".....|.....|#...#|#...#|#...#|#..##|.##.#",
    "v": ".....|.....|#...#|#...#|#...#|.#.#.|..#..",
    "w": ".....|.....|#...#|#...#|#.#.#|#.#.#|.#.#.",
    "x": ".....|.....|#...#|.#.#.|..#..|.#.#.|#...#",
    "y": ".....|.....|#...#|#...#|.####|....#|.###.",
    "z": ".....|.....|#####|...#.|..#..|.#...|#####",
    "{": "...#.|..#..|..#..|.#...|..#..|..#..|...#.",
    "|": "..#..|..#..|..#..|..#..|..#..|..#..|..#..",
    "}": ".#...|..#..|..#..|...#.|..#..|..#..|.#...",
    "~": ".....|.....|.#...|#.#.#|...#.|.....|.....",
}
_UNKNOWN = "#####|#...#|#...#|#...#|#...#|#...#|#####"
GLYPH_W, GLYPH_H = 5, 7


def _rows(art: str) -> tuple[int, ...]:
    rows = art.split("|")
    assert len(rows) == GLYPH_H and all(len(r) == GLYPH_W for r in rows), art
    return tuple(int(r.replace("#", "1").replace(".", "0"), 2) for r in rows)


FONT: dict[str, tuple[int, ...]] = {ch: _rows(art) for ch, art in _ART.items()}
_BOX = _rows(_UNKNOWN)

# The page sizes Box offers paged PNG previews in, and the font's scale in each: same columns and lines.
PAGE_SCALES = {"1024x1024": 2, "2048x2048": 4}
COLUMNS = 80
LINES_PER_PAGE = 53
TAB = 4
MAX_TEXT_BYTES = 16 * 1024 * 1024  # longer text files get no preview (Box limits conversions too)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def wrap(text: str) -> list[str]:
    """The text's lines as drawn: tabs expanded, control characters dropped, hard-wrapped at COLUMNS."""
    out: list[str] = []
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = "".join(ch for ch in raw.expandtabs(TAB) if ch.isprintable())
        if not line:
            out.append("")
        while line:
            out.append(line[:COLUMNS])
            line = line[COLUMNS:]
    if out and out[-1] == "" and text.endswith(("\n", "\r")):
        out.pop()  # a final newline ends the last line; it does not start another
    return out


def page_count(text: str) -> int:
    return max(1, math.ceil(len(wrap(text)) / LINES_PER_PAGE))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png_1bit(width: int, height: int, rows: list[bytes]) -> bytes:
    """A 1-bit grayscale PNG (0 black, 1 white) of `rows`, each width/8 bytes."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    raw = b"".join(b"\x00" + row for row in rows)  # filter type 0 on every scanline
    return (
        PNG_SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )


def render_page(text: str, page: int, dimensions: str) -> bytes:
    """Page `page` (1-based) of `text` as a PNG of `dimensions` (a key of PAGE_SCALES)."""
    scale = PAGE_SCALES[dimensions]
    width = height = int(dimensions.split("x")[0])
    lines = wrap(text)
    pages = max(1, math.ceil(len(lines) / LINES_PER_PAGE))
    if not 1 <= page <= pages:
        raise ValueError(f"page {page} is outside 1..{pages}")
    cell_w, line_h, margin = (GLYPH_W + 1) * scale, (GLYPH_H + 2) * scale, 16 * scale
    white = (1 << width) - 1
    stretched: dict[int, int] = {}

    def stretch(bits: int) -> int:  # one glyph row, each pixel `scale` pixels wide
        if bits not in stretched:
            out = 0
            for i in range(GLYPH_W - 1, -1, -1):
                out = (out << scale) | (((1 << scale) - 1) if bits >> i & 1 else 0)
            stretched[bits] = out
        return stretched[bits]

    blank = white.to_bytes(width // 8, "big")
    rows = [blank] * margin
    for line in lines[(page - 1) * LINES_PER_PAGE : page * LINES_PER_PAGE]:
        glyphs = [FONT.get(ch, _BOX) for ch in line]
        for r in range(GLYPH_H):
            ink = 0
            for col, glyph in enumerate(glyphs):
                if glyph[r]:
                    shift = width - margin - col * cell_w - GLYPH_W * scale
                    ink |= stretch(glyph[r]) << shift
            drawn = (white ^ ink).to_bytes(width // 8, "big")
            rows.extend([drawn] * scale)
        rows.extend([blank] * (line_h - GLYPH_H * scale))
    rows.extend([blank] * (height - len(rows)))
    return encode_png_1bit(width, height, rows[:height])


def png_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR, or None when `data` is not a PNG."""
    if len(data) < 24 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's first frame header (SOFn), or None."""
    if not data.startswith(b"\xff\xd8"):
        return None
    at = 2
    for _ in range(256):  # bounded: a JPEG's frame header comes after a handful of segments
        if at + 4 > len(data) or data[at] != 0xFF:
            return None
        marker = data[at + 1]
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            if at + 9 > len(data):
                return None
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            return width, height
        at += 2 + length
    return None
