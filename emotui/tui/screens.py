"""Modal screens: the key help, the threshold editor, an alert's snapshot and JSON, and the too-small notice."""

from __future__ import annotations

import json

import cv2
from rich.json import JSON
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.validation import Number
from textual.widgets import Button, Input, Label, Static

from emotui.alerts.events import AlertEvent
from emotui.config import AlertRuleConfig
from emotui.tui.preview import Preview

MIN_COLUMNS, MIN_ROWS = 80, 24


class HelpScreen(ModalScreen[None]):
    """Every key and what it does; any key closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 64; max-height: 90%; height: auto; border: round $accent;
                                  background: $surface; padding: 0 1; }
    """

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = keys

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold")
        table.add_column()
        for key, description in self._keys:
            table.add_row(key, description)
        with VerticalScroll():
            yield Static("[b]emotui keys[/b]  (any key closes this)\n")
            yield Static(table)

    def on_key(self, event) -> None:
        event.stop()
        self.dismiss()


class ThresholdEditor(ModalScreen[dict[str, float] | None]):
    """Edit every rule's threshold (numbers from 0 to 1); Enter or Save applies, Escape cancels."""

    DEFAULT_CSS = """
    ThresholdEditor { align: center middle; }
    ThresholdEditor > Vertical { width: 60; height: auto; max-height: 90%; border: round $accent;
                                 background: $surface; padding: 0 1; }
    ThresholdEditor Horizontal { height: auto; }
    ThresholdEditor Label { width: 24; padding: 1 0 0 0; }
    ThresholdEditor Input { width: 1fr; }
    ThresholdEditor #error { color: $error; height: auto; }
    ThresholdEditor #buttons { align-horizontal: right; }
    """
    BINDINGS = [("escape", "cancel", "Cancel")]

    def __init__(self, rules: list[AlertRuleConfig]) -> None:
        super().__init__()
        self._rules = rules

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static("[b]Alert thresholds[/b] (0–1)")
            with VerticalScroll():
                for index, rule in enumerate(self._rules):
                    with Horizontal():
                        yield Label(f"{rule.name} ({', '.join(rule.emotions)})")
                        yield Input(f"{rule.threshold:g}", id=f"rule-{index}",
                                    validators=[Number(minimum=0.0, maximum=1.0)])
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        if self._rules:
            self.query_one("#rule-0", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._save()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def _save(self) -> None:
        values = {}
        for index, rule in enumerate(self._rules):
            field = self.query_one(f"#rule-{index}", Input)
            if not field.validate(field.value).is_valid:
                self.query_one("#error", Static).update(f"{rule.name}: enter a number from 0 to 1")
                field.focus()
                return
            values[rule.name] = float(field.value)
        self.dismiss(values)


class EventScreen(ModalScreen[None]):
    """An alert: its snapshot drawn in the terminal and its latest event as JSON; Escape closes."""

    DEFAULT_CSS = """
    EventScreen { align: center middle; }
    EventScreen > Vertical { width: 90%; height: 90%; border: round $accent; background: $surface; }
    EventScreen Preview { height: 1fr; }
    EventScreen VerticalScroll { height: 40%; border-top: solid $primary-darken-2; }
    """
    BINDINGS = [("escape,enter", "close", "Close")]

    def __init__(self, event: AlertEvent, colour_mode: str) -> None:
        super().__init__()
        self.event = event
        self._colour_mode = colour_mode

    def compose(self) -> ComposeResult:
        event = self.event
        with Vertical():
            yield Static(Text.assemble((event.describe(), "bold"), "  (Escape closes)"))
            yield Preview(colour_mode=self._colour_mode)
            with VerticalScroll():
                yield Static(JSON(json.dumps(event.to_dict())), id="json")

    def on_mount(self) -> None:
        preview = self.query_one(Preview)
        snapshot = self.event.snapshot
        image = cv2.imread(snapshot) if snapshot else None
        if image is not None:
            preview.show(image)
        else:
            preview.clear(f"cannot read the snapshot {snapshot}" if snapshot else "no snapshot for this alert")

    def action_close(self) -> None:
        self.dismiss()


class TooSmallScreen(Screen[None]):
    """Shown while the terminal is smaller than MIN_COLUMNS x MIN_ROWS; the keys still work."""

    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; }
    TooSmallScreen Static { width: auto; text-align: center; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="too-small")

    def on_mount(self) -> None:
        self.show_size(self.app.size.width, self.app.size.height)

    def show_size(self, columns: int, rows: int) -> None:
        self.query_one(Static).update(
            f"terminal too small ({columns}×{rows}, need {MIN_COLUMNS}×{MIN_ROWS})\nq quits")
