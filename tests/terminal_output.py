"""What a terminal shows for the escape sequences the console writes: cells and half-block pixels."""

from __future__ import annotations

import re

_SGR = re.compile(r"\x1b\[([0-9;]*)m")
_UPPER, _LOWER, _FULL = "\u2580", "\u2584", "\u2588"


def terminal_cells(output: str) -> list[tuple[str, object, object]]:
    """(character, foreground, background) of each cell a terminal shows for one line of output
    made of text and SGR sequences: a colour is a palette index (0-255), an (r, g, b) tuple or
    None (the terminal's default)."""
    cells, fg, bg = [], None, None
    position = 0
    for match in [*_SGR.finditer(output), None]:
        end = match.start() if match else len(output)
        cells += [(char, fg, bg) for char in output[position:end]]
        if match is None:
            break
        position = match.end()
        parameters = [int(p) for p in match.group(1).split(";") if p] or [0]
        while parameters:
            code = parameters.pop(0)
            if code == 0:
                fg = bg = None
            elif code in (38, 48):
                kind = parameters.pop(0)
                colour = parameters.pop(0) if kind == 5 else tuple(parameters.pop(0) for _ in range(3))
                fg, bg = (colour, bg) if code == 38 else (fg, colour)
            elif 30 <= code <= 37 or 90 <= code <= 97:
                fg = code - 30 if code < 90 else code - 82
            elif 40 <= code <= 47 or 100 <= code <= 107:
                bg = code - 40 if code < 100 else code - 92
            else:
                raise ValueError(f"unexpected SGR parameter {code} in {match.group(0)!r}")
    return cells


def terminal_pixels(output: str) -> list[tuple[object, object]]:
    """(top, bottom) colour of each half-block cell a terminal shows for one line of output;
    any character other than the blocks and space shows its background."""
    pixels = []
    for char, fg, bg in terminal_cells(output):
        pixels.append((fg if char in (_UPPER, _FULL) else bg, fg if char in (_LOWER, _FULL) else bg))
    return pixels
