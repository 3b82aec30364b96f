"""The live preview: fitting, quantisation, run merging, boxes, masks and the widget."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from rich.color import Color
from rich.console import Console
from rich.segment import Segment, Segments
from rich.style import Style
from textual.app import App, ComposeResult

from emotui.tui.preview import (
    COLOUR_MODES,
    HALF_BLOCK,
    Preview,
    PreviewBox,
    fit_cells,
    render_preview,
)
from emotui.vision import EMOTION_COLOURS
from emotui.vision.masks import Masks

RICH_SYSTEMS = {"truecolor": "truecolor", "256": "256", "16": "standard", "grey": "256"}
def solid(rgb: tuple[int, int, int], width: int = 1, height: int = 2) -> np.ndarray:
    """A BGR image of one colour."""
    return np.full((height, width, 3), rgb[::-1], dtype=np.uint8)


def cells(strip) -> list[tuple[str, Style]]:
    """(character, style) of each cell of a strip."""
    return [(char, segment.style) for segment in strip for char in segment.text]


def ansi_bytes(strips, mode: str, width: int) -> int:
    """Bytes a terminal of the mode's colour system receives for the strips."""
    buffer = io.StringIO()
    console = Console(file=buffer, color_system=RICH_SYSTEMS[mode], force_terminal=True, width=width)
    for strip in strips:
        console.print(Segments(list(strip)))
    return len(buffer.getvalue().encode())


def test_fit_cells_keeps_the_aspect_with_two_pixels_per_cell():
    assert fit_cells(640, 360, 100, 30) == (100, 28)  # wide: limited by the width
    assert fit_cells(360, 640, 100, 30) == (34, 30)   # tall: limited by the height
    assert fit_cells(100, 100, 100, 30) == (60, 30)   # square: 60 cells wide, 30 cells = 60 pixels tall
    assert fit_cells(640, 360, 1, 1) == (1, 1)
    assert fit_cells(640, 360, 0, 0) == (1, 1)


PURE = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "white": (255, 255, 255), "black": (0, 0, 0)}


@pytest.mark.parametrize(("mode", "expected"), [
    ("256", {"red": 196, "green": 46, "blue": 21, "white": 231, "black": 16}),
    ("16", {"red": 1, "green": 2, "blue": 4, "white": 15, "black": 0}),
])
def test_pure_colours_map_to_the_expected_palette_indices(mode, expected):
    for name, rgb in PURE.items():
        [[segment]] = render_preview(solid(rgb), 1, 1, mode)
        assert segment.text == " " and segment.style.color is None  # fg == bg: a space on the background
        assert segment.style.bgcolor == Color.from_ansi(expected[name]), name


def test_256_mode_picks_the_grey_ramp_when_it_is_nearer():
    [[segment]] = render_preview(solid((128, 128, 128)), 1, 1, "256")
    assert segment.style.bgcolor.number == 244  # ramp grey 8 + 10 * 12; the cube's nearest grey is 135
    [[segment]] = render_preview(solid((95, 135, 175)), 1, 1, "256")
    assert segment.style.bgcolor.number == 16 + 36 * 1 + 6 * 2 + 3


def test_truecolor_keeps_the_exact_colour_and_grey_mode_only_greys():
    [[segment]] = render_preview(solid((12, 200, 77)), 1, 1, "truecolor")
    assert segment.style.bgcolor.triplet == (12, 200, 77)

    noise = np.random.default_rng(1).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    styles = [style for strip in render_preview(noise, 80, 24, "grey") for _, style in cells(strip)]
    triplets = {colour.get_truecolor() for style in styles for colour in (style.color, style.bgcolor) if colour}
    assert len(triplets) > 10
    assert all(r == g == b for r, g, b in triplets)


def test_a_uniform_frame_is_one_segment_of_spaces_per_row_and_spaces_are_cheaper():
    strips = render_preview(solid((30, 60, 90), 160, 96), 80, 24, "256")
    assert len(strips) == 24
    assert all(len(list(strip)) == 1 and strip.text == " " * 80 for strip in strips)

    colour = Color.from_ansi(67)
    space = [[Segment(" ", Style(bgcolor=colour))]]
    half_block = [[Segment(HALF_BLOCK, Style(color=colour, bgcolor=colour))]]
    assert ansi_bytes(space, "256", 1) < ansi_bytes(half_block, "256", 1)


def test_horizontal_bands_merge_into_half_block_runs():
    image = np.zeros((48, 80, 3), dtype=np.uint8)
    image[1::2] = (255, 255, 255)  # every bottom pixel white, every top pixel black
    strips = render_preview(image, 80, 24, "16")
    assert all(len(list(strip)) == 1 and strip.text == HALF_BLOCK * 80 for strip in strips)


def test_n_vertical_stripes_give_n_segments_per_row():
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255)]
    image = np.concatenate([solid(c, 16, 48) for c in colours], axis=1)
    for mode in COLOUR_MODES[:3]:
        for strip in render_preview(image, 80, 24, mode):
            segments = list(strip)
            assert [len(s.text) for s in segments] == [16] * 5, mode
            assert len({s.style for s in segments}) == 5


def test_a_box_is_drawn_in_its_colour_with_its_label():
    colour = EMOTION_COLOURS["happy"]
    image = solid((0, 0, 0), 160, 96)  # scaled by 1/2 to 80x48 pixels
    box = PreviewBox((40, 20, 120, 80), colour, "#3")  # preview pixels x 20..60, y 10..40
    strips = render_preview(image, 80, 24, "truecolor", [box])
    assert all(strip.cell_length == 80 for strip in strips)

    label_row = cells(strips[5])  # the box top (pixel row 10) is in cell row 5
    assert "".join(char for char, _ in label_row[20:22]) == "#3"
    assert all(style.bgcolor.triplet == colour and style.color.triplet == (0, 0, 0) for _, style in label_row[20:22])
    char, style = label_row[22]  # the top edge continues after the label: colour above black
    assert char == HALF_BLOCK and style.color.triplet == colour and style.bgcolor.triplet == (0, 0, 0)

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        char, style = cells(strips[y // 2])[x]
        top = y % 2 == 0 and char == HALF_BLOCK
        return (style.color if top else style.bgcolor).triplet

    assert pixel(20, 25) == pixel(60, 25) == pixel(40, 40) == colour  # left, right and bottom edges
    assert pixel(40, 25) == pixel(19, 25) == pixel(61, 25) == pixel(40, 41) == (0, 0, 0)


def test_masks_are_shaded_and_outlined_in_the_preview():
    image = solid((200, 200, 200), 160, 96)  # 80 x 48 preview pixels
    masks = Masks.from_config([[[0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [0.5, 0.5]]])  # the top-right quarter
    strips = render_preview(image, 80, 24, "truecolor", masks=masks)

    def pixel(x: int, y: int) -> tuple[int, int, int]:
        char, style = cells(strips[y // 2])[x]
        top = y % 2 == 0 and char == HALF_BLOCK
        return (style.color if top else style.bgcolor).triplet

    assert pixel(60, 12) != (200, 200, 200) and pixel(60, 12)[0] < 200  # inside: shaded darker
    assert pixel(60, 0) == (128, 128, 128)  # the outline along the top edge
    assert pixel(20, 12) == pixel(60, 40) == (200, 200, 200)  # outside: untouched
    assert render_preview(image, 80, 24, "truecolor") != strips


def test_a_label_is_clipped_to_the_preview_width():
    box = PreviewBox((76, 4, 90, 40), (255, 0, 0), "#12345")
    strips = render_preview(solid((0, 0, 0), 80, 48), 80, 24, "256", [box])
    assert strips[2].cell_length == 80
    assert strips[2].text.endswith("#123")


class PreviewApp(App):
    def compose(self) -> ComposeResult:
        yield Preview(colour_mode="256")


def test_the_widget_centres_the_frame_and_redraws_only_on_change():
    red = solid((255, 0, 0), 120, 120)  # square: 60x30 cells centred in 100x30

    async def scenario() -> None:
        async with PreviewApp().run_test(size=(100, 30)) as pilot:
            preview = pilot.app.query_one(Preview)
            assert preview.size == (100, 30)
            assert "no frame yet" in preview.render_line(15).text

            refreshes = []
            refresh = preview.refresh
            preview.refresh = lambda *args, **kwargs: (refreshes.append(1), refresh(*args, **kwargs))[1]
            preview.show(red)
            await pilot.pause()
            line = cells(preview.render_line(10))
            assert len(line) == 100
            picture = [i for i, (_, style) in enumerate(line) if style.bgcolor == Color.from_ansi(196)]
            assert picture == list(range(20, 80))
            assert len(refreshes) == 1

            drawn = preview.render_line(10)
            preview.show(red)  # the same frame object: nothing to do
            await pilot.pause()
            assert len(refreshes) == 1
            assert preview.render_line(10) is drawn

            preview.colour_mode = "truecolor"  # re-rendered in the new mode
            await pilot.pause()
            line = cells(preview.render_line(10))
            assert preview.active_mode == "truecolor"
            assert line[40][1].bgcolor.triplet == (255, 0, 0)
            assert len(refreshes) == 2

            preview.show(red.copy())  # a new frame object
            assert preview.render_line(10) is not drawn
            assert len(refreshes) == 3

            await pilot.resize_terminal(80, 20)  # a new size re-fits the same frame: 40x20 cells
            await pilot.pause()
            line = cells(preview.render_line(5))
            assert len(line) == 80
            red_cells = [i for i, (_, style) in enumerate(line) if style.bgcolor.triplet == (255, 0, 0)]
            assert red_cells == list(range(20, 60))

            preview.clear("preview off")
            assert "preview off" in preview.render_line(10).text  # the middle line of 20
            count = len(refreshes)
            preview.clear("preview off")  # the same message again: nothing to do
            assert len(refreshes) == count

            preview.colour_mode = "auto"
            assert preview.active_mode in COLOUR_MODES
            with pytest.raises(ValueError):
                preview.colour_mode = "8"

    asyncio.run(scenario())
