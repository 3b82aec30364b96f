"""The words emotui's settings, results and events are made of, declared once and shared by the
configuration (which checks them) and the code that acts on them. No imports from emotui."""

from __future__ import annotations

from enum import StrEnum

# FER2013's seven classes, in the order the emotion models output them.
EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


class RuleKind(StrEnum):
    EMOTION = "emotion"  # a sustained emotion
    FACE = "face"  # a face present (for a while)
    CROWD = "crowd"  # more faces than allowed


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ALERT = "alert"


class EventType(StrEnum):
    NEW = "new"
    UPDATE = "update"
    END = "end"
