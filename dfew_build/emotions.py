"""The seven DFEW emotions. Codes 1..7 in the database and CSV files; 0..6 only in tensors."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Emotion:
    code: int
    name: str
    colour: str

    @property
    def index(self) -> int:
        """0-based class index, used only inside training tensors."""
        return self.code - 1


# DFEW's order (release label files and the annotation table use it).
EMOTIONS: tuple[Emotion, ...] = (
    Emotion(1, "happy", "#f2c12e"),
    Emotion(2, "sad", "#3b6fb6"),
    Emotion(3, "neutral", "#9e9e9e"),
    Emotion(4, "angry", "#d7301f"),
    Emotion(5, "surprise", "#f28e2b"),
    Emotion(6, "disgust", "#59a14f"),
    Emotion(7, "fear", "#7b4ea3"),
)
NUM_EMOTIONS = len(EMOTIONS)
NAMES: tuple[str, ...] = tuple(e.name for e in EMOTIONS)
BY_CODE = {e.code: e for e in EMOTIONS}
BY_NAME = {e.name: e for e in EMOTIONS}
# Spellings annotators and older tools use for the same categories.
_ALIASES = {"happiness": "happy", "sadness": "sad", "anger": "angry",
            "surprised": "surprise", "disgusted": "disgust", "fearful": "fear"}


def parse_emotion(value: object) -> Emotion:
    """An emotion from a code 1..7 or a (case-insensitive) name; ValueError otherwise."""
    text = str(value).strip().lower()
    if text.isdigit() and int(text) in BY_CODE:
        return BY_CODE[int(text)]
    name = _ALIASES.get(text, text)
    if name in BY_NAME:
        return BY_NAME[name]
    raise ValueError(
        f"unknown emotion {value!r}: use a code 1..7 or one of {', '.join(NAMES)}")
