"""Frame sources and the capture thread: `sources` (what a source is), `readers` (one module per
kind of source), `buffer` (the hand-over to analysis) and `capture` (the thread that reads,
reconnects and reports). The names other modules use are importable from here."""

from emotui.capture.buffer import Frame, FrameBuffer
from emotui.capture.capture import Capture, SourceState, SourceStatus
from emotui.capture.readers.demo import rules_for_source
from emotui.capture.readers.images import read_image
from emotui.capture.sources import IMAGE_SUFFIXES, SourceError, SourceSpec, parse_source, redact_source

__all__ = [
    "IMAGE_SUFFIXES", "Capture", "Frame", "FrameBuffer", "SourceError", "SourceSpec", "SourceState", "SourceStatus",
    "parse_source", "read_image", "redact_source", "rules_for_source",
]
