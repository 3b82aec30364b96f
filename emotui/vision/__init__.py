"""Face detection, emotion classification and tracking (no UI imports)."""

EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
