#!/usr/bin/env python3
"""Writes HookScope's icon as SVG and as PNGs from one list of shapes.

The icon: a causal attention pattern (a lower-triangular grid of cells whose
opacity is the attention weight) under a magnifying lens. Standard library only:
the PNGs are rasterised here with 4x4 supersampling. Run from anywhere; the files
land next to this script. The outputs are committed; run it again after a change.
"""
import math
import os
import struct
import zlib

SIZE = 256  # the design grid; PNGs are scaled from it
BACKGROUND = (0x1F, 0x2A, 0x44)
CELL = (0x4A, 0x90, 0xD9)
LENS = (0xF5, 0xC5, 0x42)

# (row, column, weight): the lower triangle of a 4x4 pattern.
CELLS = [(0, 0, 1.0), (1, 0, 0.35), (1, 1, 0.9), (2, 0, 0.25), (2, 1, 0.8), (2, 2, 0.3),
         (3, 0, 0.2), (3, 1, 0.25), (3, 2, 0.95), (3, 3, 0.3)]
CELL_ORIGIN, CELL_PITCH, CELL_SIZE = 40, 40, 32
LENS_CENTRE, LENS_RADIUS, LENS_RING = (150, 106), 52, 14
HANDLE = ((188, 144), (224, 180), 20)  # from, to, width
CORNER = 40


def svg():
    cells = "\n".join(
        f'    <rect x="{CELL_ORIGIN + c * CELL_PITCH}" y="{CELL_ORIGIN + r * CELL_PITCH}" '
        f'width="{CELL_SIZE}" height="{CELL_SIZE}" opacity="{w}"/>' for r, c, w in CELLS)
    (x0, y0), (x1, y1), width = HANDLE
    hex_ = lambda rgb: "#%02x%02x%02x" % rgb
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<!-- HookScope's icon, written by make-icons.py: an attention pattern under a lens. -->
<svg xmlns="http://www.w3.org/2000/svg" width="{SIZE}" height="{SIZE}" viewBox="0 0 {SIZE} {SIZE}">
  <rect x="8" y="8" width="240" height="240" rx="{CORNER}" fill="{hex_(BACKGROUND)}"/>
  <g fill="{hex_(CELL)}">
{cells}
  </g>
  <circle cx="{LENS_CENTRE[0]}" cy="{LENS_CENTRE[1]}" r="{LENS_RADIUS}" fill="#ffffff" fill-opacity="0.12"
          stroke="{hex_(LENS)}" stroke-width="{LENS_RING}"/>
  <line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="{hex_(LENS)}" stroke-width="{width}" stroke-linecap="round"/>
</svg>
"""


def colour_at(x, y):
    """RGBA (0..1 floats) of the design at point (x, y) of the 256 grid."""
    rgba = [0.0, 0.0, 0.0, 0.0]

    def over(rgb, alpha):
        a = alpha + rgba[3] * (1 - alpha)
        if a == 0:
            return
        for i in range(3):
            rgba[i] = (rgb[i] / 255 * alpha + rgba[i] * rgba[3] * (1 - alpha)) / a
        rgba[3] = a

    # Rounded square background, 8..248.
    cx, cy = min(max(x, 8 + CORNER), 248 - CORNER), min(max(y, 8 + CORNER), 248 - CORNER)
    if 8 <= x <= 248 and 8 <= y <= 248 and math.hypot(x - cx, y - cy) <= CORNER:
        over(BACKGROUND, 1.0)
    for r, c, w in CELLS:
        left, top = CELL_ORIGIN + c * CELL_PITCH, CELL_ORIGIN + r * CELL_PITCH
        if left <= x <= left + CELL_SIZE and top <= y <= top + CELL_SIZE:
            over(CELL, w)
    d = math.hypot(x - LENS_CENTRE[0], y - LENS_CENTRE[1])
    if d <= LENS_RADIUS:
        over((255, 255, 255), 0.12)
    if abs(d - LENS_RADIUS) <= LENS_RING / 2:
        over(LENS, 1.0)
    (x0, y0), (x1, y1), width = HANDLE
    t = max(0.0, min(1.0, ((x - x0) * (x1 - x0) + (y - y0) * (y1 - y0)) / ((x1 - x0) ** 2 + (y1 - y0) ** 2)))
    if math.hypot(x - (x0 + t * (x1 - x0)), y - (y0 + t * (y1 - y0))) <= width / 2:
        over(LENS, 1.0)
    return rgba


def png(size, samples=4):
    rows = []
    scale = SIZE / size
    for py in range(size):
        row = bytearray([0])  # filter: none
        for px in range(size):
            acc = [0.0] * 4
            for sy in range(samples):
                for sx in range(samples):
                    r, g, b, a = colour_at((px + (sx + 0.5) / samples) * scale, (py + (sy + 0.5) / samples) * scale)
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            n = samples * samples
            alpha = acc[3] / n
            rgb = [acc[i] / acc[3] if acc[3] else 0.0 for i in range(3)]
            row += bytes(round(v * 255) for v in rgb) + bytes([round(alpha * 255)])
        rows.append(bytes(row))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)  # 8-bit RGBA
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
            + chunk(b"IEND", b""))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "hookscope.svg"), "w") as f:
        f.write(svg())
    for size in (16, 32, 48, 64, 128, 256):
        with open(os.path.join(here, f"hookscope-{size}.png"), "wb") as f:
            f.write(png(size))


if __name__ == "__main__":
    main()
