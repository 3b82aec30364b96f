"""The console's panels: the header, the rules, per-face emotion bars with their timelines and the status line."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from rich.text import Text
from textual.widgets import Static

from emotui.config import AlertRuleConfig
from emotui.pipeline import FrameResult, MetricsSnapshot
from emotui.tui.timeline import TIMELINE_S, Timelines
from emotui.vision import EMOTION_COLOURS, EMOTIONS
from emotui.vision.tracker import TrackedFace
from emotui.vocabulary import RuleKind

BAR_CELLS = 12
COMPACT_FROM = 2  # faces: from this many on, one line per face
EIGHTHS = " ▏▎▍▌▋▊▉█"


def rgb(emotion: str) -> str:
    red, green, blue = EMOTION_COLOURS[emotion]
    return f"rgb({red},{green},{blue})"


def bar(fraction: float, cells: int = BAR_CELLS) -> str:
    """A horizontal bar in eighth-blocks, exactly `cells` wide."""
    eighths = round(max(0.0, min(1.0, fraction)) * cells * 8)
    full, rest = divmod(eighths, 8)
    return ("█" * full + (EIGHTHS[rest] if rest else "")).ljust(cells)


def short_source(source: str) -> str:
    """The source as a person names it: a file's name, a URL's host (never its credentials)."""
    if "://" in source:
        parts = urlsplit(source)
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    return source.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or source


class ConsoleHeader(Static):
    """Camera name, clock, ARMED / DISARMED, PAUSED, muted, the source's state and the models."""

    def show(self, camera: str, alerts: str, paused: bool, muted: bool, source_state: str, models: str) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" emotui ", style="bold")
        text.append(camera, style="bold")
        text.append(f"  {time.strftime('%H:%M:%S')}  ")
        text.append(f" {alerts.upper()} ", style="bold black on green" if alerts == "armed" else "bold white on red")
        if paused:
            text.append(" ")
            text.append(" PAUSED ", style="bold black on yellow")
        if muted:
            text.append(" ")
            text.append(" MUTED ", style="bold black on grey70")
        text.append(f"  {source_state}", style="yellow" if source_state != "live" else "green")
        text.append(f"  {models}", style="dim")
        self.update(text)


class RulesBar(Static):
    """Every rule with its threshold, the selected one highlighted."""

    def show(self, rules: list[AlertRuleConfig], selected_rule: int) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" rules", style="dim")
        for index, rule in enumerate(rules):
            text.append("  ")
            what = {RuleKind.EMOTION: f"{'/'.join(rule.emotions)} ≥{rule.threshold:.2f}",
                    RuleKind.FACE: f"face {rule.min_duration_s:g} s",
                    RuleKind.CROWD: f"faces >{rule.max_faces}"}[rule.kind]
            label = f"{rule.name}: {what}" if rule.name not in rule.emotions else what
            text.append(f" {label} ", style="bold reverse" if index == selected_rule else "")
        if not rules:
            text.append("  none", style="dim")
        self.update(text)


class EmotionBars(Static):
    """One block per tracked face: id, dwell time, seven smoothed bars with %, the dominant one
    highlighted, a marker at each rule's threshold (the selected rule's in bold) and each score's
    sparkline over the last minute. From COMPACT_FROM faces on, one line per face: its dominant
    emotion, score and sparkline."""

    _shown: tuple[list[TrackedFace], list[AlertRuleConfig], int, Timelines] | None = None

    def on_resize(self) -> None:
        """The sparklines fit the width: drawn again at the new one."""
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, faces: list[TrackedFace], rules: list[AlertRuleConfig], selected_rule: int,
             timelines: Timelines) -> None:
        self._shown = (faces, rules, selected_rule, timelines)
        if not faces:
            self.update(Text("no faces", style="dim"))
            return
        width = self.content_size.width or 40
        text = Text(no_wrap=True, overflow="crop")  # a line too long for the panel is cut, never wrapped
        faces = sorted(faces, key=lambda f: f.track_id)
        if len(faces) >= COMPACT_FROM:
            text.append(f"{len(faces)} faces · last {TIMELINE_S:.0f} s\n", style="dim")
            for face in faces:
                dominant = EMOTIONS.index(face.dominant)
                text.append(f"#{face.track_id:<3}", style=f"bold {rgb(face.dominant)}")
                text.append(f"{face.dominant[:8]:<8} {float(face.probabilities[dominant]):4.0%} ")
                text.append(timelines.sparkline(face.track_id, dominant, width - 18) + "\n", style=rgb(face.dominant))
            self.update(text)
            return
        for face in faces:
            text.append(f"#{face.track_id}", style=f"bold {rgb(face.dominant)}")
            text.append(f" {face.dwell_s:5.1f}s ", style="dim")
            text.append(face.dominant, style=rgb(face.dominant))
            text.append(" still (stationary)" if face.stationary else "", style="dim")
            text.append(f"  last {TIMELINE_S:.0f} s\n", style="dim")
            for index, emotion in enumerate(EMOTIONS):
                self._bar_line(text, emotion, float(face.probabilities[index]), face.dominant == emotion,
                               rules, selected_rule)
                text.append(timelines.sparkline(face.track_id, index, width - 29) + "\n", style=rgb(emotion))
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
        text.append(f" {score:4.0%} ", style="bold" if dominant else "")


class StatusLine(Static):
    """The source's state while it is not live, then rates, stage times, drops and the shortened source
    with its resolution: the most important first, so that 80 columns show them."""

    def show(self, source: str, state: str, result: FrameResult | None, metrics: MetricsSnapshot | None) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        if state:
            text.append(f"[{state}] ", style="yellow")
        if result is not None and metrics is not None:
            text.append(f"cap/proc {metrics.capture_fps:.1f}/{metrics.processed_fps:.1f} fps", style="bold")
            text.append(f" det {metrics.stage_ms['detect']:.1f} cls {metrics.stage_ms['classify']:.1f} ms")
            text.append(f" drop {metrics.dropped_frames} ")
        text.append(short_source(source), style="bold")
        if result is not None:
            height, width = result.image.shape[:2]
            text.append(f" {width}x{height}")
        self.update(text)
