"""Camera tiles on made-up frames: the grid's shape from the camera count and its size, the tiles'
text, pages, and selection with arrows, Enter and the mouse."""

from __future__ import annotations

import numpy as np
import pytest
from textual.app import App, ComposeResult

from emotui.tui.tiles import CameraGrid, TileState, grid_side, state_style


@pytest.mark.parametrize("cameras, columns, rows, side", [
    (0, 200, 50, 1),
    (1, 200, 50, 1),
    (2, 80, 12, 2),
    (4, 200, 50, 2),
    (5, 200, 50, 3),
    (9, 120, 24, 3),
    (9, 80, 12, 2),  # 3x3 tiles would be 26 columns and 4 rows: 2x2, with pages
    (9, 120, 23, 2),
    (12, 200, 50, 3),
])
def test_the_grid_is_one_two_by_two_or_three_by_three_by_count_and_size(cameras, columns, rows, side):
    assert grid_side(cameras, columns, rows) == side


def test_a_state_is_coloured_by_its_first_word():
    assert state_style("live") == "bold green"
    assert state_style("retrying, retry in 2 s") == state_style("retrying") == "yellow"
    assert state_style("lost") == "bold red" and state_style("offline") == "bold red"


def _states(count: int) -> list[TileState]:
    picture = np.full((48, 64, 3), 120, np.uint8)
    return [TileState(f"cam{number}", "live" if number % 2 else "retrying, retry in 2 s", faces=number % 3,
                      dominant="happy" if number % 3 else "", last_alert="fear #1 10:15:03" if number == 1 else "",
                      picture=picture if number % 2 else None)
            for number in range(1, count + 1)]


class GridApp(App):
    def __init__(self, states: list[TileState]) -> None:
        super().__init__()
        self.states = states
        self.messages: list[tuple[str, int]] = []

    def compose(self) -> ComposeResult:
        yield CameraGrid(colour_mode="256")

    def on_mount(self) -> None:
        grid = self.query_one(CameraGrid)
        grid.show(self.states)
        grid.focus()

    def on_camera_grid_selected(self, message: CameraGrid.Selected) -> None:
        self.messages.append(("selected", message.index))

    def on_camera_grid_opened(self, message: CameraGrid.Opened) -> None:
        self.messages.append(("opened", message.index))


def _titles(grid: CameraGrid) -> list[str]:
    return [str(tile._title.render()) for tile in grid.tiles if tile.display and tile.visible]


async def test_tiles_show_each_camera_s_number_name_state_faces_and_last_alert():
    app = GridApp(_states(4))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        grid = app.query_one(CameraGrid)
        assert grid.side == 2
        assert _titles(grid) == [" 1  cam1 live  1 face  happy", " 2  cam2 retrying, retry in 2 s  2 faces  happy",
                                 " 3  cam3 live  0 faces", " 4  cam4 retrying, retry in 2 s  1 face  happy"]
        assert str(grid.tiles[0]._alert.render()) == " last alert: fear #1 10:15:03"
        assert str(grid.tiles[1]._alert.render()) == " no alert"
        assert grid.tiles[0].has_class("selected") and not grid.tiles[1].has_class("selected")
        assert grid.tiles[0].preview.picture._image is not None  # the picture
        assert grid.tiles[1].preview.picture._image is None and grid.tiles[1].preview.picture._message.startswith("retrying")


async def test_arrows_move_the_selection_and_enter_opens_the_selected_camera():
    app = GridApp(_states(4))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("right", "down", "left", "left", "up", "down", "right", "enter")
        assert app.messages == [("selected", 1), ("selected", 3), ("selected", 2), ("selected", 1),
                                ("selected", 0), ("selected", 2), ("selected", 3), ("opened", 3)]
        assert app.query_one(CameraGrid).tiles[3].has_class("selected")


async def test_a_click_selects_a_tile_and_a_click_on_the_selected_tile_opens_it():
    app = GridApp(_states(4))
    async with app.run_test(size=(120, 40)) as pilot:
        grid = app.query_one(CameraGrid)
        await pilot.pause()
        await pilot.click(grid.tiles[2])
        assert app.messages == [("selected", 2)] and grid.selected == 2
        await pilot.click(grid.tiles[2], offset=(5, 5))
        assert app.messages == [("selected", 2), ("opened", 2)]


async def test_more_cameras_than_tiles_are_shown_a_page_at_a_time_and_a_small_terminal_gets_two_by_two():
    app = GridApp(_states(11))
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        grid = app.query_one(CameraGrid)
        assert grid.side == 3 and grid.page_text == "page 1/2"
        assert [tile.index for tile in grid.tiles] == list(range(9))
        await pilot.press("down", "down", "down")  # 0 -> 3 -> 6 -> 9: the second page
        assert grid.selected == 9 and grid.page_text == "page 2/2"
        assert _titles(grid)[0].startswith(" 10  cam10") and len(_titles(grid)) == 2
        assert grid.tiles[0].has_class("selected")
        await pilot.click(offset=(grid.tiles[1].region.right + 5, grid.tiles[1].region.bottom + 5))  # an empty cell
        assert grid.selected == 9 and app.messages[-1] == ("selected", 9)
        await pilot.resize_terminal(80, 12)  # 3x3 tiles no longer fit
        await pilot.pause()
        assert grid.side == 2 and grid.page_text == "page 3/3" and sum(tile.display for tile in grid.tiles) == 4
        assert _titles(grid) == [" 9  cam9 live  0 faces", " 10  cam10 retrying, retry in 2 s  1 face  happy",
                                 " 11  cam11 live  2 faces  happy"]
