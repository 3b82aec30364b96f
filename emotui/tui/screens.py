"""Modal screens: the key help and the threshold editor."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.validation import Number
from textual.widgets import Button, Input, Label, Static

from emotui.config import AlertRuleConfig


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
