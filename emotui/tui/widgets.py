"""The console's panels: per-face emotion bars and the status line."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from emotui.config import AlertRuleConfig
from emotui.pipeline import FrameResult, MetricsSnapshot
from emotui.vision import EMOTION_COLOURS, EMOTIONS
from emotui.vision.tracker import TrackedFace
from emotui.vocabulary import RuleKind

BAR_CELLS = 16
EIGHTHS = " ▏▎▍▌▋▊▉█"


def rgb(emotion: str) -> str:
    red, green, blue = EMOTION_COLOURS[emotion]
    return f"rgb({red},{green},{blue})"


def bar(fraction: float, cells: int = BAR_CELLS) -> str:
    """A horizontal bar in eighth-blocks, exactly `cells` wide."""
    eighths = round(max(0.0, min(1.0, fraction)) * cells * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[rest] if rest else "")).ljust(cells)


class EmotionBars(Static):
    """One block per tracked face: id, dwell time, seven smoothed bars with %, the dominant one
    highlighted, and a marker at each rule's threshold (the selected rule's in bold)."""

    def show(self, faces: list[TrackedFace], rules: list[AlertRuleConfig], selected_rule: int) -> None:
        if not faces:
            self.update(Text("no faces", style="dim"))
            return
        text = Text()
        for face in sorted(faces, key=lambda f: f.track_id):
            text.append(f"#{face.track_id}", style=f"bold {rgb(face.dominant)}")
            text.append(f" {face.dwell_s:5.1f}s ", style="dim")
            text.append(face.dominant, style=rgb(face.dominant))
            text.append(" still (stationary)\n" if face.stationary else "\n", style="dim")
            for index, emotion in enumerate(EMOTIONS):
                self._bar_line(text, emotion, float(face.probabilities[index]), face.dominant == emotion,
                               rules, selected_rule)
        self.update(text)

    @staticmethod
    def _bar_line(text: Text, emotion: str, score: float, dominant: bool,
                  rules: list[AlertRuleConfig], selected_rule: int) -> None:
        cells = list(bar(score))
        styles = [rgb(emotion)] * BAR_CELLS
        for index, rule in enumerate(rules):
            if rule.kind == RuleKind.EMOTION and emotion in rule.emotions:
                position = min(BAR_CELLS - 1, int(rule.threshold * BAR_CELLS))
                cells[position] = "│" if cells[position] == " " else "┃"
                styles[position] = "bold white" if index == selected_rule else "grey70"
        label_style = f"bold reverse {rgb(emotion)}" if dominant else ""
        text.append(f" {emotion[:8]:<8}", style=label_style)
        text.append(" ")
        for cell, style in zip(cells, styles):
            text.append(cell, style=style)
        text.append(f" {score:4.0%}\n", style="bold" if dominant else "")


class StatusLine(Static):
    """Source, resolution, rates, stage times, drops, models and the paused and alert states in one line."""

    def show(self, source: str, state: str, result: FrameResult | None, metrics: MetricsSnapshot | None,
             models: str, paused: bool, alerts: str = "armed") -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if paused:
            text.append(" PAUSED ", style="bold black on yellow")
            text.append(" ")
        if alerts != "armed":  # disarmed, or off because the alert sinks could not start
            text.append(f" {alerts.upper()} ", style="bold white on red")
            text.append(" ")
        text.append(source, style="bold")
        if state:
            text.append(f" [{state}]", style="yellow")
        if result is not None and metrics is not None:
            height, width = result.image.shape[:2]
            text.append(f" {width}x{height}")
            text.append(f" cap/proc {metrics.capture_fps:.1f}/{metrics.processed_fps:.1f} fps")
            text.append(f" det {metrics.stage_ms['detect']:.1f} cls {metrics.stage_ms['classify']:.1f} ms")
            text.append(f" drop {metrics.dropped_frames}")
        text.append(f" {models}", style="dim")
        text.append(" ?=help", style="dim")
        self.update(text)
