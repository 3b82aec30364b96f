"""The events list: one row per alert, filled in by its new, update and end events."""

from __future__ import annotations

import time
from collections import OrderedDict

from rich.segment import Segment
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from emotui.alerts.events import AlertEvent
from emotui.vocabulary import EventType, RuleKind

EVENTS_KEPT = 500
COLUMNS = ("time", "camera", "rule", "face", "emotion", "peak", "duration", "snap")
CELL_PADDING = 1  # blank columns either side of a cell
SEVERITY_STYLES = {"alert": "bold red", "warning": "yellow", "info": ""}
SNAPSHOT_MARK = "▣"


def event_cells(event: AlertEvent) -> list[Text]:
    """The row of an alert as its latest event has it."""
    peak = f"{event.peak_score:g}" if event.kind == RuleKind.CROWD else f"{event.peak_score:.0%}"
    ended = event.type == EventType.END and event.end_time is not None
    return [
        Text(time.strftime("%H:%M:%S", time.localtime(event.start_time))),
        Text(event.camera[:12]),
        Text(event.rule, style=SEVERITY_STYLES.get(event.severity, "")),
        Text(f"#{event.track_id}" if event.track_id is not None else f"{event.faces} faces"),
        Text(event.emotion or ""),
        Text(peak),
        Text(f"{event.end_time - event.start_time:.1f} s") if ended else Text("open", style="dim"),
        Text(SNAPSHOT_MARK if event.snapshot else ""),
    ]


class EventsList(ScrollView, can_focus=True):
    """The newest EVENTS_KEPT alerts under a fixed header row, the newest at the bottom, keyboard and
    mouse scrolled. It follows new alerts while its cursor is on the last row and it is scrolled to
    the end; otherwise its border counts the new alerts below. Enter (or a click on the selected row)
    posts EventsList.Selected.

    Each row is drawn once per change of its alert, so a new alert costs one row, not the whole list
    (a busy fleet console adds several a second while the terminal must keep up)."""

    DEFAULT_CSS = """
    EventsList { background: $surface; color: $foreground; }
    EventsList:focus { background-tint: $foreground 5%; }
    EventsList > .events-list--header { text-style: bold; background: $panel; color: $foreground; }
    EventsList > .events-list--cursor {
        background: $block-cursor-blurred-background; color: $block-cursor-blurred-foreground;
        text-style: $block-cursor-blurred-text-style;
    }
    EventsList:focus > .events-list--cursor {
        background: $block-cursor-background; color: $block-cursor-foreground; text-style: $block-cursor-text-style;
    }
    """
    COMPONENT_CLASSES = {"events-list--header", "events-list--cursor"}
    BINDINGS = [
        Binding("up", "cursor(-1)", "Previous event", show=False),
        Binding("down", "cursor(1)", "Next event", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "first", "First event", show=False),
        Binding("end", "last", "Newest event", show=False),
        Binding("enter", "select", "Open event", show=False),
    ]

    class Selected(Message):
        """An alert chosen with Enter or a click on the selected row."""

        def __init__(self, event: AlertEvent) -> None:
            super().__init__()
            self.event = event

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.events: OrderedDict[str, AlertEvent] = OrderedDict()
        self.cursor_row = -1
        self.unseen = 0  # alerts added below the view since the user scrolled up
        self._ids: list[str] = []  # the rows' alert ids, oldest first
        self._cells: dict[str, list[Text]] = {}
        self._strips: dict[str, Strip] = {}  # each row drawn at the current column widths
        self._widths = [len(name) for name in COLUMNS]
        self._header: Strip | None = None
        self._scrolled_up = False

    def on_mount(self) -> None:
        self.border_title = "events"
        self._resize_content()

    # --- what it holds ------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._ids)

    def row_texts(self, index: int) -> list[str]:
        """The cells of a row as text (oldest row 0)."""
        return [cell.plain for cell in self._cells[self._ids[index]]]

    @property
    def following(self) -> bool:
        return not self._scrolled_up and self.cursor_row >= self.row_count - 1

    def record(self, event: AlertEvent) -> None:
        """Add the alert's row, or fill in the row it already has."""
        cells = event_cells(event)
        known = event.id in self.events
        following = self.following
        self.events[event.id] = event
        self._cells[event.id] = cells
        self._strips.pop(event.id, None)
        widened = self._widen(cells)
        if known:
            if widened:  # every row is drawn again at the new widths
                self._resize_content()
                self.refresh()
            else:
                self._refresh_row(self._ids.index(event.id))
            return
        if len(self._ids) >= EVENTS_KEPT:
            oldest = self._ids.pop(0)
            del self.events[oldest], self._cells[oldest]
            self._strips.pop(oldest, None)
            self.cursor_row = max(0, self.cursor_row - 1)
        self._ids.append(event.id)
        self._resize_content()
        if following:
            self._move_cursor(self.row_count - 1)
        else:
            self.unseen += 1
            self._show_unseen()
        self.refresh()

    def check_unseen(self) -> None:
        """Clear the "new events below" marker once the view is at the end (called after layout)."""
        if self.unseen and self.is_vertical_scroll_end:
            self.unseen = 0
            self._show_unseen()

    def _show_unseen(self) -> None:
        self.border_subtitle = f"▼ {self.unseen} new below (End)" if self.unseen else ""

    def _widen(self, cells: list[Text]) -> bool:
        """Grow the columns to fit `cells`; True if any grew (every row is drawn again)."""
        widths = [max(width, cell.cell_len) for width, cell in zip(self._widths, cells)]
        if widths == self._widths:
            return False
        self._widths, self._header = widths, None
        self._strips.clear()
        return True

    def _resize_content(self) -> None:
        self.virtual_size = Size(sum(self._widths) + 2 * CELL_PADDING * len(COLUMNS), self.row_count + 1)

    # --- drawing --------------------------------------------------------------------------------

    def _row_strip(self, cells: list[Text]) -> Strip:
        line = Text(no_wrap=True, end="")
        for cell, width in zip(cells, self._widths):
            line.append(" " * CELL_PADDING)
            line.append_text(cell)
            line.append(" " * (width - cell.cell_len + CELL_PADDING))
        return Strip(line.render(self.app.console))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        scroll_x, scroll_y = self.scroll_offset
        if y == 0:
            if self._header is None:
                self._header = self._row_strip([Text(name) for name in COLUMNS])
            style = self.get_component_rich_style("events-list--header")
            return self._header.crop(scroll_x, scroll_x + width).extend_cell_length(width).apply_style(style)
        row = scroll_y + y - 1
        if not 0 <= row < self.row_count:
            return Strip.blank(width, self.rich_style)
        alert = self._ids[row]
        if (strip := self._strips.get(alert)) is None:
            strip = self._strips[alert] = self._row_strip(self._cells[alert])
        strip = strip.crop(scroll_x, scroll_x + width).extend_cell_length(width)
        if row == self.cursor_row:  # over the cells' own colours
            cursor = self.get_component_rich_style("events-list--cursor")
            strip = Strip(Segment.apply_style(strip, post_style=cursor), strip.cell_length)
        return strip.apply_style(self.rich_style)

    def _refresh_row(self, row: int) -> None:
        self.refresh_line(row + 1)  # the header is line 0

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._header = None

    # --- moving ---------------------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value:  # the wheel, the scroll bar or the cursor going up
            self._scrolled_up = True
        elif new_value >= self.max_scroll_y:
            self._scrolled_up = False

    def _move_cursor(self, row: int) -> None:
        """Put the cursor on `row` (within the rows) and scroll it into view, at once."""
        if not self.row_count:
            return
        previous, self.cursor_row = self.cursor_row, max(0, min(self.row_count - 1, row))
        for changed in (previous, self.cursor_row):
            self._refresh_row(changed)
        rows_shown = max(1, self.scrollable_content_region.height - 1)
        top = self.scroll_offset.y
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False, immediate=True, force=True)
        elif self.cursor_row >= top + rows_shown:
            self.scroll_to(y=self.cursor_row - rows_shown + 1, animate=False, immediate=True, force=True)

    def action_cursor(self, step: int) -> None:
        self._move_cursor(self.cursor_row + step)

    def action_page(self, direction: int) -> None:
        self._move_cursor(self.cursor_row + direction * max(1, self.scrollable_content_region.height - 2))

    def action_first(self) -> None:
        self._move_cursor(0)

    def action_last(self) -> None:
        self._move_cursor(self.row_count - 1)
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def action_select(self) -> None:
        if 0 <= self.cursor_row < self.row_count:
            self.post_message(self.Selected(self.events[self._ids[self.cursor_row]]))

    def on_click(self, event: events.Click) -> None:
        """A click selects its row; a click on the selected row opens it."""
        offset = event.get_content_offset(self)
        if offset is None or offset.y < 1:
            return
        row = self.scroll_offset.y + offset.y - 1
        if row == self.cursor_row:
            self.action_select()
        elif row < self.row_count:
            self._move_cursor(row)
