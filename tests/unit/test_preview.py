"""The live preview: fitting, palettes, the bytes written, boxes, masks, zoom and the widget."""

from __future__ import annotations

import asyncio
import html
import io
import re

import cv2
import numpy as np
import pytest
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.screen import ModalScreen
from textual.widgets import Static
from textual.geometry import Region
from textual.strip import Strip

from emotui.tui.palette import TRUECOLOR_STEP, XTERM256, code_rgb, nearest, quantise, srgb_to_lab
from emotui.tui.preview import (
    COLOUR_MODES,
    STEADY_MARGIN,
    Preview,
    PreviewBox,
    PreviewRenderer,
    fit_cells,
    render_preview,
    steady_codes,
)
from emotui.vision import EMOTION_COLOURS
from emotui.vision.masks import Masks
from tests.terminal_output import terminal_cells, terminal_pixels

RICH_SYSTEMS = {"truecolor": "truecolor", "256": "256", "16": "standard", "grey": "256"}
RESET = "\x1b[0m"


def solid(rgb: tuple[int, int, int], width: int = 1, height: int = 2) -> np.ndarray:
    """A BGR image of one colour."""
    return np.full((height, width, 3), rgb[::-1], dtype=np.uint8)


def written(strips, system: str = "truecolor") -> list[str]:
    """What Textual writes to a terminal of the Rich colour system for each strip."""
    console = Console(file=io.StringIO(), color_system=system, force_terminal=True)
    return [strip.render(console) for strip in strips]


def pixels(strips, system: str = "truecolor") -> list[list[object]]:
    """The colours (palette index or RGB tuple) a terminal shows, one list per pixel row."""
    rows = []
    for line in written(strips, system):
        cells = terminal_pixels(line)
        rows += [[top for top, _ in cells], [bottom for _, bottom in cells]]
    return rows


def test_fit_cells_keeps_the_aspect_with_two_pixels_per_cell():
    assert fit_cells(640, 360, 100, 30) == (100, 28)  # wide: limited by the width
    assert fit_cells(360, 640, 100, 30) == (34, 30)   # tall: limited by the height
    assert fit_cells(100, 100, 100, 30) == (60, 30)   # square: 60 cells wide, 30 cells = 60 pixels tall
    assert fit_cells(640, 360, 1, 1) == (1, 1)
    assert fit_cells(640, 360, 0, 0) == (1, 1)


KNOWN = {  # RGB: (256-colour index, 16-colour index)
    (255, 0, 0): (196, 1), (0, 255, 0): (46, 10), (0, 0, 255): (21, 4), (255, 255, 255): (231, 15),
    (0, 0, 0): (16, 0), (255, 255, 0): (226, 11), (0, 255, 255): (51, 14), (255, 0, 255): (201, 13),
    (128, 128, 128): (244, 7), (48, 48, 48): (236, 8), (218, 218, 218): (253, 15), (8, 8, 8): (232, 0),
    (224, 172, 140): (180, 7), (141, 85, 36): (94, 3), (255, 219, 172): (223, 15), (198, 134, 66): (173, 3),
}


@pytest.mark.parametrize("mode", ["256", "16"])
def test_known_colours_map_to_the_expected_palette_entries(mode):
    """Primaries to the cube's corners, greys to the grey ramp (not the cube's 4 greys), skin tones
    from light to dark to the skin-coloured cube entries (215,175,135), (135,95,0), (255,215,175),
    (215,135,95); in 16 colours the nearest in CIELAB (before dithering)."""
    colours = np.array(list(KNOWN), dtype=np.uint8)
    expected = [indices[mode == "16"] for indices in KNOWN.values()]
    assert nearest(colours, mode).tolist() == expected
    if mode == "256":  # not dithered: the lookup table gives the same
        assert quantise(colours[None], mode)[0].tolist() == expected


def test_the_grey_mode_uses_only_the_ramp_and_the_cube_black_and_white():
    noise = np.random.default_rng(1).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    used = set(quantise(noise, "grey").ravel().tolist())
    assert len(used) > 10 and used <= {16, 231, *range(232, 256)}
    assert quantise(np.array([[[0, 0, 0], [255, 255, 255], [128, 128, 128]]], np.uint8), "grey").tolist() == [[16, 231, 244]]


def test_each_colour_maps_close_to_its_best_palette_entry_in_cielab():
    """Against an independent CIELAB (OpenCV's): the 256-colour lookup table (not dithered) loses
    at most a little to binning; the exact search agrees (but for near ties)."""
    colours = np.random.default_rng(7).integers(0, 256, (1, 4000, 3), dtype=np.uint8)
    lab = lambda rgb: cv2.cvtColor(rgb.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)  # noqa: E731
    for mode, candidates in (("256", np.arange(16, 256)), ("16", np.arange(16))):
        palette = lab(XTERM256[candidates][None])[0]
        errors = np.linalg.norm(lab(colours)[0][:, None] - palette[None], axis=-1)
        exact = errors[np.arange(len(errors)), np.searchsorted(candidates, nearest(colours[0], mode))]
        assert np.max(exact - errors.min(axis=1)) < 0.5, mode  # a near tie may fall either way
        if mode == "256":
            chosen = quantise(colours, mode)[0]
            loss = errors[np.arange(len(chosen)), chosen - 16] - errors.min(axis=1)
            assert loss.mean() < 0.3 and loss.max() < 4.0
    assert np.allclose(srgb_to_lab(colours[0]), lab(colours)[0], atol=0.5)


def test_16_colours_dither_a_flat_area_into_a_mix_nearer_than_any_one_colour():
    grey = (128, 128, 128)  # between the ANSI greys 85 and 170
    codes = quantise(np.full((8, 8, 3), grey, np.uint8), "16")
    assert set(codes.ravel().tolist()) == {7, 8}
    mean = XTERM256[codes].reshape(-1, 3).mean(axis=0)
    single = XTERM256[nearest(np.array(grey), "16")]
    assert np.linalg.norm(srgb_to_lab(mean) - srgb_to_lab(grey)) < np.linalg.norm(srgb_to_lab(single) - srgb_to_lab(grey))
    assert set(quantise(np.full((8, 8, 3), grey, np.uint8), "256").ravel().tolist()) == {244}  # 256: no dither


@pytest.mark.parametrize("mode", COLOUR_MODES)
def test_the_written_bytes_reproduce_the_cells(mode):
    """Decoding what a terminal receives (colours set only when they change) gives back every pixel."""
    image = np.random.default_rng(3).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    image[:16] = (40, 90, 200)  # a flat band: long runs
    strips = render_preview(image, 80, 24, mode)
    expected = quantise(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), mode)
    if mode == "truecolor":
        expected = [[(c >> 16 & 255, c >> 8 & 255, c & 255) for c in row] for row in (expected - 256).tolist()]
    else:
        expected = expected.tolist()
    assert pixels(strips, RICH_SYSTEMS[mode]) == expected
    assert all(strip.cell_length == 80 for strip in strips)


def test_colours_are_set_only_when_they_change_and_reset_only_at_the_end_of_a_row():
    stripes = np.zeros((48, 80, 3), np.uint8)
    stripes[:, 1::2] = (255, 255, 255)  # a colour change at every cell
    for line in written(render_preview(stripes, 80, 24, "256"), "256"):
        assert line.count(RESET) == 1 and line.endswith(RESET)
    flat = written(render_preview(solid((30, 60, 90), 160, 96), 80, 24, "256"), "256")
    assert all(line == "\x1b[48;5;24m" + " " * 80 + RESET for line in flat)  # one colour, spaces: 10 + 80 + 4 bytes
    noisy = np.random.default_rng(5).integers(0, 256, (48, 80, 3), dtype=np.uint8)
    noisy_bytes = sum(len(line.encode()) for line in written(render_preview(noisy, 80, 24, "256"), "256"))
    assert sum(len(line.encode()) for line in flat) == 24 * 94 < noisy_bytes


def test_each_cell_takes_the_block_that_needs_the_fewest_colour_changes():
    """Black over white then white over black: an upper then a lower half block, one colour set."""
    image = np.zeros((2, 3, 3), np.uint8)
    image[1, 0] = image[0, 1] = image[:, 2] = 255
    [line] = written(render_preview(image, 3, 1, "256"), "256")
    assert line == "\x1b[38;5;16;48;5;231m\u2580\u2584 " + RESET


def test_truecolor_is_written_in_24_bits_whatever_colours_the_terminal_announces():
    """ui.colour = "truecolor" under TERM=xterm-256color without COLORTERM: 24-bit codes, not the
    console's 256-colour downgrade; what follows on the line keeps its own colours."""
    strips = render_preview(solid((12, 200, 77), 4, 2), 4, 1, "truecolor")
    line = Strip.join([strips[0], Strip([Segment("x", Style(color="red"))])])
    [text] = written([line], "256")
    assert "48;2;12;200;76" in text  # channels rounded to TRUECOLOR_STEP
    assert terminal_cells(text)[:4] == [(" ", None, (12, 200, 76))] * 4
    assert terminal_cells(text)[4] == ("x", 1, None)


def test_a_box_is_drawn_in_its_colour_with_its_label():
    colour = tuple(code_rgb(quantise(np.array([EMOTION_COLOURS["happy"]], np.uint8), "truecolor"))[0].tolist())
    image = solid((0, 0, 0), 160, 96)  # scaled by 1/2 to 80x48 pixels
    box = PreviewBox((40, 20, 120, 80), colour, "#3")  # preview pixels x 20..60, y 10..40
    strips = render_preview(image, 80, 24, "truecolor", [box])
    assert all(strip.cell_length == 80 for strip in strips)

    label_row = terminal_cells(written(strips)[5])  # the box top (pixel row 10) is in cell row 5
    assert label_row[20:22] == [("#", (0, 0, 0), colour), ("3", (0, 0, 0), colour)]
    shown = pixels(strips)
    assert shown[10][22] == colour and shown[11][22] == (0, 0, 0)  # the top edge continues after the label
    assert shown[25][20] == shown[25][60] == shown[40][40] == colour  # left, right and bottom edges
    assert shown[25][40] == shown[25][19] == shown[25][61] == shown[41][40] == (0, 0, 0)


def test_masks_are_shaded_and_outlined_in_the_preview():
    image = solid((200, 200, 200), 160, 96)  # 80 x 48 preview pixels
    masks = Masks.from_config([[[0.5, 0.0], [1.0, 0.0], [1.0, 0.5], [0.5, 0.5]]])  # the top-right quarter
    shown = pixels(render_preview(image, 80, 24, "truecolor", masks=masks))
    assert shown[12][60] != (200, 200, 200) and shown[12][60][0] < 200  # inside: shaded darker
    assert shown[0][60] == (128, 128, 128)  # the outline along the top edge
    assert shown[12][20] == shown[40][60] == (200, 200, 200)  # outside: untouched


def test_a_region_is_shown_enlarged_with_its_boxes_and_masks_moved():
    image = np.zeros((100, 200, 3), np.uint8)
    image[:50, 100:] = (0, 0, 255)  # BGR: the top-right quarter red
    box = PreviewBox((120, 10, 160, 30), (0, 255, 0), "#7")
    masks = Masks.from_config([[[0.75, 0.25], [1.0, 0.25], [1.0, 0.5], [0.75, 0.5]]])  # the quarter's lower right
    strips = render_preview(image, 50, 25, "truecolor", [box], masks, region=(100, 0, 200, 50))
    shown = pixels(strips)
    assert shown[2][2] == (255, 0, 0) and shown[48][2] == (255, 0, 0)  # only the red quarter, 2x enlarged
    assert shown[20][10] == (0, 255, 0) and shown[20][30] == (0, 255, 0)  # the box at (40..120, 20..60) / 2
    assert "".join(c for c, _, _ in terminal_cells(written(strips)[5])[10:12]) == "#7"
    assert shown[40][45] != (255, 0, 0) and shown[40][20] == (255, 0, 0)  # the mask's corner, moved
    assert pixels(render_preview(image, 50, 25, "truecolor", region=(-50, -10, 500, 400))) == \
        pixels(render_preview(image, 50, 25, "truecolor"))  # clipped to the image


@pytest.mark.parametrize("mode", ["truecolor", "256", "grey"])
def test_a_row_of_cells_keeps_its_colours_while_they_all_show_their_pixels_within_the_margin(mode):
    before = np.full((4, 3, 3), (100, 150, 200), np.uint8)  # two cell rows of three cells
    previous = quantise(before, mode)
    after = before.astype(int)
    after[0:2] += [2, -3, 1]  # cell row 0: a little drift everywhere (kept)
    after[2:4, 0] += [2, -3, 1]  # cell row 1: the same drift, and one cell turned another colour
    after[2:4, 2] = (20, 20, 20)
    after = after.astype(np.uint8)
    fresh = quantise(after, mode)
    codes = steady_codes(after, fresh, previous, mode)
    assert codes[0:2].tolist() == previous[0:2].tolist()
    assert codes[2:4].tolist() == fresh[2:4].tolist() != previous[2:4].tolist()  # the whole row afresh
    assert steady_codes(after, fresh, None, mode).tolist() == fresh.tolist()
    assert steady_codes(after, fresh, previous[:, :2], mode).tolist() == fresh.tolist()  # another shape


def test_truecolor_channels_are_rounded_to_the_step():
    rgb = np.array([[[0, 1, 2], [3, 254, 255], [129, 130, 131]]], np.uint8)
    assert code_rgb(quantise(rgb, "truecolor")).tolist() == [[[0, 0, 4], [4, 255, 255], [128, 132, 132]]]
    assert TRUECOLOR_STEP == 4


def test_16_colours_are_never_held_as_their_dither_chooses_worse_colours_on_purpose():
    rgb = np.full((4, 4, 3), 128, np.uint8)
    assert steady_codes(rgb, quantise(rgb, "16"), np.zeros((4, 4), int), "16").tolist() == quantise(rgb, "16").tolist()


def test_the_renderer_gives_back_the_same_strip_for_an_unchanged_row():
    frame = np.random.default_rng(3).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    renderer = PreviewRenderer()
    first = renderer.render(frame, 40, 15, "256")
    changed = frame.copy()
    changed[20:24] = 255  # image rows 20-23: half-cell rows 10-11, cell row 5
    second = renderer.render(changed, 40, 15, "256")
    assert [y for y, (a, b) in enumerate(zip(first, second)) if a is not b] == [5]
    assert written(second, "256") == written(render_preview(changed, 40, 15, "256"), "256")[:5] + \
        written(second, "256")[5:6] + written(render_preview(changed, 40, 15, "256"), "256")[6:]
    boxed = renderer.render(changed, 40, 15, "256", [PreviewBox((0, 0, 20, 20), (0, 255, 0), "#1")])
    assert [y for y, (a, b) in enumerate(zip(second, boxed)) if a is not b] == [0, 1, 2, 3, 4, 5]  # box rows only
    assert renderer.render(changed, 40, 15, "truecolor")[7] is not boxed[7]  # another mode: all new


def test_a_label_is_clipped_to_the_preview_width():
    box = PreviewBox((76, 4, 90, 40), (255, 0, 0), "#12345")
    strips = render_preview(solid((0, 0, 0), 80, 48), 80, 24, "256", [box])
    assert strips[2].cell_length == 80
    assert "".join(c for c, _, _ in terminal_cells(written(strips)[2])).endswith("#123")


class PreviewApp(App):
    def compose(self) -> ComposeResult:
        yield Preview(colour_mode="256")


def test_the_picture_widget_is_sized_to_the_picture_centred_in_its_pane_and_refits():
    """The blank around the picture is the pane's, so a frame sends only picture cells."""
    red = solid((255, 0, 0), 120, 120)  # square: 60x30 cells centred in 100x30

    async def scenario() -> None:
        async with PreviewApp().run_test(size=(100, 30)) as pilot:
            preview = pilot.app.query_one(Preview)
            assert preview.size == (100, 30)
            assert "no frame yet" in preview.picture.render_line(15).text

            preview.show(red)
            await pilot.pause()
            assert preview.picture.region == Region(20, 0, 60, 30) and preview.size == (100, 30)
            line = terminal_cells(preview.picture.render_line(10).render(pilot.app.console))
            assert [bg for _, _, bg in line] == [196] * 60

            preview.colour_mode = "truecolor"  # re-rendered in the new mode, in 24 bits whatever the console's
            await pilot.pause()
            assert preview.active_mode == "truecolor"
            assert terminal_cells(preview.picture.render_line(10).render(pilot.app.console))[30][2] == (255, 0, 0)

            await pilot.resize_terminal(80, 20)  # a new size re-fits the same frame: 40x20 cells
            await pilot.pause()
            assert preview.picture.region == Region(20, 0, 40, 20) and preview.size == (80, 20)
            line = terminal_cells(preview.picture.render_line(5).render(pilot.app.console))
            assert [bg for _, _, bg in line] == [(255, 0, 0)] * 40

            half = np.concatenate([red, solid((0, 0, 255), 120, 120)], axis=1)  # red left, blue right: 2:1
            preview.show(half)
            await pilot.pause()
            assert preview.picture.region == Region(0, 0, 80, 20)
            line = terminal_cells(preview.picture.render_line(5).render(pilot.app.console))
            assert (line[0][2], line[79][2]) == ((255, 0, 0), (0, 0, 255))
            preview.zoom((120, 0, 240, 60))  # the top half of the blue square: 2:1 as well, all blue
            await pilot.pause()
            assert {bg for _, _, bg in terminal_cells(preview.picture.render_line(5).render(pilot.app.console))} == {(0, 0, 255)}
            preview.zoom((120, 0, 180, 60))  # a square region: 40x20 cells, centred again
            await pilot.pause()
            assert preview.picture.region == Region(20, 0, 40, 20)
            preview.zoom(None)
            await pilot.pause()
            assert preview.picture.region == Region(0, 0, 80, 20)
            assert terminal_cells(preview.picture.render_line(5).render(pilot.app.console))[0][2] == (255, 0, 0)

            preview.clear("preview off")  # a message takes the whole pane
            await pilot.pause()
            assert preview.picture.region == Region(0, 0, 80, 20)
            assert "preview off" in preview.picture.render_line(10).text  # the middle line of 20

            preview.colour_mode = "auto"
            assert preview.active_mode in COLOUR_MODES
            with pytest.raises(ValueError):
                preview.colour_mode = "8"

    asyncio.run(scenario())


def test_only_the_lines_that_change_are_sent_again():
    red = solid((255, 0, 0), 120, 120)  # 60x30 cells, 2x2 pixels each half cell

    async def scenario() -> None:
        async with PreviewApp().run_test(size=(100, 30)) as pilot:
            preview = pilot.app.query_one(Preview)
            preview.show(red)
            await pilot.pause()
            redraws, line_refreshes = [], []
            picture = preview.picture
            redraw, refresh = picture._redraw, picture.refresh
            picture._redraw = lambda: (redraws.append(1), redraw())
            picture.refresh = lambda *regions, **kwargs: (line_refreshes.extend(regions), refresh(*regions, **kwargs))[1]

            drawn = preview.picture.render_line(10)
            preview.show(red)  # the same frame object: nothing to do
            preview.show(red.copy())  # another frame showing the same picture: no line to send
            noisy = np.clip(red.astype(int) + np.random.default_rng(1).integers(-3, 4, red.shape), 0, 255)
            preview.show(noisy.astype(np.uint8))  # camera noise: the cells keep their colours
            await pilot.pause()
            assert (redraws, line_refreshes) == ([], [])
            assert preview.picture.render_line(10) is drawn

            changed = red.copy()
            changed[40:48, 60:80] = (255, 255, 255)  # picture rows 10-11
            preview.show(changed)
            assert line_refreshes == [Region(0, 10, 60, 2)] and redraws == []
            await pilot.pause()
            line = terminal_cells(preview.picture.render_line(10).render(pilot.app.console))
            assert (line[35][2], line[45][2]) == (231, 196)  # white where it changed, red beside
            preview.show(red.copy())
            assert line_refreshes == [Region(0, 10, 60, 2)] * 2
            await pilot.pause()
            assert terminal_cells(preview.picture.render_line(10).render(pilot.app.console))[35][2] == 196

    asyncio.run(scenario())


class Covering(ModalScreen):
    DEFAULT_CSS = "Covering { align: center middle; } Covering Static { width: 30; height: 5; border: round red; }"

    def compose(self) -> ComposeResult:
        yield Static("on top")


def test_a_screen_over_the_preview_cuts_it_cleanly():
    """Textual cuts the lines under a smaller screen on top; the picture's colour changes must not
    come out as text ("[48;5;130m") around it."""
    stripes = np.zeros((60, 80, 3), np.uint8)
    stripes[:, 1::2] = (200, 120, 60)

    async def scenario() -> None:
        async with PreviewApp().run_test(size=(80, 30)) as pilot:
            preview = pilot.app.query_one(Preview)
            preview.show(stripes)
            await pilot.pause()
            assert "\x1b[" in preview.picture.render_line(10).render(pilot.app.console)  # compact colour changes
            await pilot.app.push_screen(Covering())
            await pilot.pause()
            shown = html.unescape(pilot.app.export_screenshot()).replace("\xa0", " ")
            assert "on top" in shown and not re.search(r"\[(38|48);5;", shown)
            pilot.app.pop_screen()
            await pilot.pause()
            assert not re.search(r"\[(38|48);5;", pilot.app.export_screenshot())

    asyncio.run(scenario())


def test_in_the_app_a_row_is_written_with_its_colour_changes_and_one_reset():
    """Through Textual's rendering of the widget (its styles and the app's line filters, which
    turn ANSI colours into the theme's truecolor by rebuilding every segment)."""
    stripes = np.zeros((60, 80, 3), np.uint8)
    stripes[:, 1::2] = (200, 120, 60)  # BGR: RGB (60, 120, 200), palette 68

    async def scenario() -> None:
        async with PreviewApp().run_test(size=(80, 30)) as pilot:
            preview = pilot.app.query_one(Preview)
            preview.show(stripes)
            await pilot.pause()
            [line] = preview.picture.render_lines(Region(0, 10, 80, 1))
            text = line.render(pilot.app.console)
            assert text.count(RESET) == 1 and text.count("\x1b[") == 81  # 80 colour changes, one reset
            assert [bg for _, _, bg in terminal_cells(text)] == [16, 68] * 40

    asyncio.run(scenario())
