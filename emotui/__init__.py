"""emotui: an emotion-aware security console for IoT cameras, in the terminal."""

__version__ = "0.1.0"
