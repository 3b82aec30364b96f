"""Alert events as they leave the rule engine: Frigate-like `new`, `update` and `end` records."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from emotui.vocabulary import EventType, RuleKind, Severity


class AlertSetupError(Exception):
    """An alert sink cannot start (bad setting, missing secret, unusable folder); names what to fix."""


@dataclass(frozen=True)
class AlertEvent:
    type: EventType
    id: str  # the same for an alert's new, updates and end
    camera: str
    rule: str
    kind: RuleKind
    severity: Severity
    track_id: int | None  # None for crowd rules
    emotion: str | None  # the watched emotion (emotion rules) or the face's dominant one
    score: float  # now: the emotion's score, the detector's confidence, or the face count (crowd)
    peak_score: float  # the highest score since the alert started
    faces: int  # faces in the frame
    start_time: float  # epoch seconds
    end_time: float | None
    timestamp: float  # when this record was produced, epoch seconds
    source_time: float  # on the source's clock, seconds
    snapshot: str | None = None  # path of the saved snapshot, once there is one
    sequence: int = 0  # the event's number in its alert (new: 1); with `id`, the event's identity

    def to_dict(self) -> dict:
        """The fields as published; the enums are strings, so JSON holds their plain values."""
        return asdict(self)

    def placeholders(self) -> dict[str, object]:
        """The values of the {placeholders} of `alerts.exec` and the notification templates (see
        config.schema.EXEC_PLACEHOLDERS); missing ones are empty, scores have three decimals."""
        return {**self.to_dict(), "snapshot": self.snapshot or "", "track_id": self.track_id or "",
                "emotion": self.emotion or "", "score": f"{self.score:.3f}", "peak_score": f"{self.peak_score:.3f}"}

    def fill(self, template: str) -> str:
        """`template` with its {placeholders} filled from this event."""
        return template.format_map(self.placeholders())

    def describe(self) -> str:
        who = f"face #{self.track_id}" if self.track_id is not None else f"{self.faces} faces"
        what = f" {self.emotion} {self.score:.0%}" if self.kind == RuleKind.EMOTION else ""
        if self.type == EventType.NEW:
            return f"{self.rule}: {who}{what}"
        if self.type == EventType.END:
            return f"{self.rule} ended: {who} (peak {self._peak()}, {self.end_time - self.start_time:.1f} s)"
        return f"{self.rule} update: {who}{what}" + (f" snapshot {self.snapshot}" if self.snapshot else "")

    def _peak(self) -> str:
        return f"{self.peak_score:.0%}" if self.kind == RuleKind.EMOTION else f"{self.peak_score:g}"
