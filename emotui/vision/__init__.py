"""Face detection, emotion classification and tracking (no UI imports)."""

from emotui.vocabulary import EMOTIONS

# One colour (RGB) per emotion, shared by the console and the annotated snapshots.
EMOTION_COLOURS = {
    "angry": (230, 57, 70),
    "disgust": (106, 168, 79),
    "fear": (155, 89, 182),
    "happy": (255, 209, 102),
    "sad": (52, 152, 219),
    "surprise": (255, 127, 80),
    "neutral": (170, 170, 170),
}
