"""Real pixels in the preview: the Kitty and Sixel sequences it writes, parsed back."""

from __future__ import annotations

import asyncio
import base64
import re
import zlib

import numpy as np
import pytest
from textual.app import App, ComposeResult
from textual.screen import ModalScreen

from emotui.tui.graphics import MAX_WIDTH, Graphics, resolve
from emotui.tui.preview import Preview, PreviewBox

KITTY = re.compile(r"\x1b_G([^;]*);([^\x1b]*)\x1b\\")
POSITIONED = re.compile(r"\x1b7\x1b\[(\d+);(\d+)H(.*)\x1b8", re.S)
SIXEL = re.compile(r'\x1bP0;0;0q"1;1;(\d+);(\d+)(.*)\x1b\\', re.S)
CELL_PX = (9, 18)


class GraphicsApp(App):
    CSS = "Preview { margin: 2 0 0 3; }"  # the picture's screen position is not (0, 0)

    def __init__(self, protocol: str) -> None:
        super().__init__()
        self.graphics = Graphics(protocol, CELL_PX)

    def compose(self) -> ComposeResult:
        yield Preview(graphics=self.graphics)


def written_by_the_preview(protocol: str, image: np.ndarray, size=(100, 30), boxes=()) -> tuple[tuple, list[str]]:
    """The preview pane's size and its picture's lines as a terminal receives them, once it shows `image`."""
    async def scenario():
        async with GraphicsApp(protocol).run_test(size=size) as pilot:
            preview = pilot.app.query_one(Preview)
            preview.show(image, boxes)
            await pilot.pause()
            picture = preview.picture
            return tuple(preview.size), [picture.render_line(y).render(pilot.app.console)
                                         for y in range(picture.size.height)]

    return asyncio.run(scenario())


def frame(width: int = 640, height: int = 480) -> np.ndarray:
    image = np.zeros((height, width, 3), np.uint8)
    image[:, : width // 2] = (0, 0, 255)  # BGR: the left half red
    return image


def test_kitty_the_image_is_placed_at_the_picture_corner_and_sized_to_the_panel():
    size, lines = written_by_the_preview("kitty", frame())
    assert size == (97, 28)
    cols, rows = 75, 28  # a 4:3 frame fitted to 97x28 cells (2 pixels per cell)
    width = MAX_WIDTH["kitty"]
    height = round(rows * CELL_PX[1] * width / (cols * CELL_PX[0]))  # 675x504 cell pixels, sent 320 wide
    images = [(y, line) for y, line in enumerate(lines) if "\x1b_G" in line]
    assert [y for y, _ in images] == [27]  # written after every cell it covers
    position = POSITIONED.search(images[0][1])
    left = (97 - cols) // 2
    assert (int(position.group(1)), int(position.group(2))) == (2 + 1, 3 + left + 1)
    commands = KITTY.findall(position.group(3))
    header = dict(pair.split("=") for pair in commands[0][0].split(","))
    assert header | {"m": "*"} == {"a": "T", "f": "24", "o": "z", "s": str(width), "v": str(height), "c": str(cols),
                                   "r": str(rows), "i": header["i"], "p": "1", "C": "1", "q": "2", "m": "*"}
    assert [dict(pair.split("=") for pair in c.split(","))["m"] for c, _ in commands] == ["1"] * (len(commands) - 1) + ["0"]
    assert all(len(payload) <= 4096 for _, payload in commands)
    pixels = np.frombuffer(zlib.decompress(base64.b64decode("".join(p for _, p in commands))), np.uint8)
    image = pixels.reshape(height, width, 3)
    assert image[120, 10].tolist() == [248, 0, 0] and image[120, -10].tolist() == [0, 0, 0]  # RGB, 5 bits, left red
    cells = re.sub(r"\x1b\[[0-9;]*m", "", "".join(lines).replace(position.group(0), ""))
    assert cells == " " * cols * rows  # the cells under the image: blank


def test_sixel_the_image_has_its_cells_pixel_size_at_most_the_width_limit_centred():
    box = PreviewBox((100, 100, 300, 300), (0, 255, 0), "#4")
    size, lines = written_by_the_preview("sixel", frame(320, 240), size=(60, 17), boxes=[box])
    assert size == (57, 15)
    # 4:3 fits 40x15 cells, 360x270 pixels: sent 240x180, which covers 27x10 cells, centred in the 40x15
    [line] = [line for y, line in enumerate(lines) if "\x1bP" in line and y == (15 - 10) // 2 + 10 - 1]
    position = POSITIONED.search(line)
    assert (int(position.group(1)), int(position.group(2))) == (2 + 2 + 1, 3 + (57 - 40) // 2 + (40 - 27) // 2 + 1)
    width, height, data = SIXEL.fullmatch(position.group(3)).groups()
    assert (int(width), int(height)) == (MAX_WIDTH["sixel"], 180)
    assert re.fullmatch(r"[#0-9;!$\-?-~]*", data)  # colour registers, repeats, sixels, carriage returns, new lines
    assert "#" in data and "2;100;0;0" in data  # a red register (percent RGB)
    small, lines = written_by_the_preview("sixel", frame(320, 240), size=(20, 8), boxes=[box])
    width, height, _ = SIXEL.search("".join(lines)).groups()
    assert (int(width), int(height)) == (16 * CELL_PX[0], 6 * CELL_PX[1])  # 16x6 cells: within the limit, exact


def test_kitty_frames_are_drawn_at_most_at_the_graphics_rate_and_the_newest_wins():
    async def scenario():
        async with GraphicsApp("kitty").run_test(size=(60, 20)) as pilot:
            preview = pilot.app.query_one(Preview).picture
            first, second, third = frame(), frame(), frame()
            second[:] = 255
            third[:] = 90
            preview.show(first)
            await pilot.pause()
            last = preview.size.height - 1  # the picture fills the height
            drawn = preview.render_line(last).render(pilot.app.console)
            preview.show(second)  # too soon: kept for later
            preview.show(third)
            assert preview.render_line(last).render(pilot.app.console) == drawn
            deadline = asyncio.get_running_loop().time() + 10
            while preview.render_line(last).render(pilot.app.console) == drawn:
                assert asyncio.get_running_loop().time() < deadline, "the pending frame was never drawn"
                await pilot.pause(0.05)
            commands = KITTY.findall(POSITIONED.search(preview.render_line(last).render(pilot.app.console)).group(3))
            pixels = zlib.decompress(base64.b64decode("".join(p for _, p in commands)))
            assert set(pixels) == {90 & 0xF8}  # the newest frame, not the one in between
            preview.clear("paused")
            deleted = preview.render_line(0).render(pilot.app.console)
            assert re.search(r"\x1b_Ga=d,d=I,i=\d+,q=2\x1b\\", deleted)

    asyncio.run(scenario())


def test_resolve_forces_a_protocol_keeps_half_blocks_off_a_terminal_and_names_bad_modes():
    assert resolve("halfblock") is None
    assert resolve("auto") is None  # the tests' output is not a terminal: nothing to ask
    assert resolve("kitty").protocol == "kitty" and resolve("sixel").protocol == "sixel"
    with pytest.raises(ValueError, match="auto, halfblock, kitty, sixel, not 'iterm'"):
        resolve("iterm")


def test_no_pixels_cover_another_screen_and_they_come_back_after_it():
    async def scenario():
        async with GraphicsApp("kitty").run_test(size=(60, 20)) as pilot:
            preview = pilot.app.query_one(Preview).picture
            preview.show(frame())
            await pilot.pause()
            written = lambda: "".join(preview.render_line(y).render(pilot.app.console)  # noqa: E731
                                      for y in range(preview.size.height))
            assert "a=T" in written()
            await pilot.app.push_screen(ModalScreen())
            await pilot.pause()
            assert "a=T" not in written() and "a=d,d=I" in written()
            pilot.app.pop_screen()
            await pilot.pause()
            assert "a=T" in written() and "a=d" not in written()

    asyncio.run(scenario())
