"""The events list: one row per alert, filled in by its new, update and end events."""

from __future__ import annotations

import time
from collections import OrderedDict

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from emotui.alerts.events import AlertEvent
from emotui.vocabulary import EventType, RuleKind

EVENTS_KEPT = 500
COLUMNS = ("time", "camera", "rule", "face", "emotion", "peak", "duration", "snap")
SEVERITY_STYLES = {"alert": "bold red", "warning": "yellow", "info": ""}
SNAPSHOT_MARK = "▣"


def event_cells(event: AlertEvent) -> list[Text | str]:
    """The row of an alert as its latest event has it."""
    peak = f"{event.peak_score:g}" if event.kind == RuleKind.CROWD else f"{event.peak_score:.0%}"
    ended = event.type == EventType.END and event.end_time is not None
    return [
        time.strftime("%H:%M:%S", time.localtime(event.start_time)),
        event.camera[:12],
        Text(event.rule, style=SEVERITY_STYLES.get(event.severity, "")),
        f"#{event.track_id}" if event.track_id is not None else f"{event.faces} faces",
        event.emotion or "",
        peak,
        f"{event.end_time - event.start_time:.1f} s" if ended else Text("open", style="dim"),
        SNAPSHOT_MARK if event.snapshot else "",
    ]


class EventsList(DataTable):
    """The newest EVENTS_KEPT alerts, the newest at the bottom, keyboard and mouse scrolled. It follows
    new alerts while its cursor is on the last row and it is scrolled to the end; otherwise its border
    counts the new alerts below. Enter (or a click on the selected row) posts DataTable.RowSelected,
    whose row key is the alert's id."""

    BINDINGS = [
        Binding("home", "scroll_top", "First event", show=False),
        Binding("end", "scroll_bottom", "Newest event", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.events: OrderedDict[str, AlertEvent] = OrderedDict()
        self.unseen = 0  # alerts added below the view since the user scrolled up
        self._scrolled_up = False

    def on_mount(self) -> None:
        for column in COLUMNS:
            self.add_column(column, key=column)
        self.border_title = "events"

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if new_value < old_value:  # the wheel, the scroll bar or the cursor going up
            self._scrolled_up = True
        elif new_value >= self.max_scroll_y:
            self._scrolled_up = False

    @property
    def following(self) -> bool:
        return not self._scrolled_up and self.cursor_row >= self.row_count - 1

    def record(self, event: AlertEvent) -> None:
        """Add the alert's row, or fill in the row it already has."""
        cells = event_cells(event)
        if event.id in self.events:
            self.events[event.id] = event
            for column, value in zip(COLUMNS, cells):
                self.update_cell(event.id, column, value)
            return
        following = self.following
        if len(self.events) >= EVENTS_KEPT:
            oldest, _ = self.events.popitem(last=False)
            self.remove_row(oldest)
        self.events[event.id] = event
        self.add_row(*cells, key=event.id)
        if following:
            self.move_cursor(row=self.row_count - 1, animate=False, scroll=True)
        else:
            self.unseen += 1
            self._show_unseen()

    def check_unseen(self) -> None:
        """Clear the "new events below" marker once the view is at the end (called after layout)."""
        if self.unseen and self.is_vertical_scroll_end:
            self.unseen = 0
            self._show_unseen()

    def _show_unseen(self) -> None:
        self.border_subtitle = f"▼ {self.unseen} new below (End)" if self.unseen else ""
