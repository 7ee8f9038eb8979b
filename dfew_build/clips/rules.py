"""DFEW's extraction rules, read from the [clips] section of dfew.toml, and time parsing.

Times in CSV files and forms are seconds (`12.5`, `12.5s`), timecodes (`HH:MM:SS.mmm` or
`MM:SS.mmm`) or frame numbers with an explicit unit (`300f`; frame n starts at n / fps).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dfew_build.emotions import Emotion, parse_emotion
from dfew_build.errors import ConfigError
from dfew_build.labels.subset import BIN_NAMES, duration_bins



@dataclass(frozen=True)
class ProposeSettings:
    clip_length_s: float = 2.0
    face_sample_fps: float = 2.0
    min_face_fraction: float = 0.8
    scene_threshold: float = 27.0
    max_per_movie: int = 40


@dataclass(frozen=True)
class ClipRules:
    max_per_movie: int = 20
    min_duration_s: float = 0.5
    max_duration_s: float = 10.0
    max_overlap: float = 0.5
    rare_emotions: tuple[Emotion, ...] = ()
    rare_bonus: float = 1
    propose: ProposeSettings = ProposeSettings()

    @property
    def rare_codes(self) -> frozenset[int]:
        return frozenset(e.code for e in self.rare_emotions)


def clip_rules(config: dict) -> ClipRules:
    """The [clips] rules of a workspace config (types are checked by load_config; the ranges
    here)."""
    section = config.get("clips", {})
    propose = section.get("propose", {})
    try:
        rare = tuple(parse_emotion(e) for e in section.get("rare_emotions", ()))
    except ValueError as exc:
        raise ConfigError(f"dfew.toml: clips.rare_emotions: {exc}") from None
    rules = ClipRules(
        max_per_movie=int(section.get("max_per_movie", 20)),
        min_duration_s=float(section.get("min_duration_s", 0.5)),
        max_duration_s=float(section.get("max_duration_s", 10.0)),
        max_overlap=float(section.get("max_overlap", 0.5)),
        rare_emotions=rare,
        rare_bonus=section.get("rare_bonus", 1),
        propose=ProposeSettings(
            clip_length_s=float(propose.get("clip_length_s", 2.0)),
            face_sample_fps=float(propose.get("face_sample_fps", 2.0)),
            min_face_fraction=float(propose.get("min_face_fraction", 0.8)),
            scene_threshold=float(propose.get("scene_threshold", 27.0)),
            max_per_movie=int(propose.get("max_per_movie", 40))))
    problems = []
    if rules.max_per_movie < 1:
        problems.append("clips.max_per_movie must be at least 1")
    if not 0 < rules.min_duration_s < rules.max_duration_s:
        problems.append("clips.min_duration_s must be above 0 and below clips.max_duration_s")
    if not 0 <= rules.max_overlap <= 1:
        problems.append("clips.max_overlap must be between 0 and 1")
    p = rules.propose
    if not rules.min_duration_s <= p.clip_length_s <= rules.max_duration_s:
        problems.append("clips.propose.clip_length_s must lie within clips.min_duration_s.."
                        "clips.max_duration_s")
    if p.face_sample_fps <= 0:
        problems.append("clips.propose.face_sample_fps must be above 0")
    if not 0 <= p.min_face_fraction <= 1:
        problems.append("clips.propose.min_face_fraction must be between 0 and 1")
    if p.scene_threshold <= 0:
        problems.append("clips.propose.scene_threshold must be above 0")
    if p.max_per_movie < 1:
        problems.append("clips.propose.max_per_movie must be at least 1")
    if problems:
        raise ConfigError("dfew.toml: " + "; ".join(problems))
    return rules


def duration_bin(duration_s: float) -> str:
    """The name of the DFEW Table 2 length bin (0-2s, 2-5s, 5s+), shared with `labels`."""
    return BIN_NAMES[int(duration_bins([duration_s])[0])]


def overlap_s(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


def overlaps_too_much(a: tuple[float, float], b: tuple[float, float], max_overlap: float) -> bool:
    """More than max_overlap of the shorter clip is shared (DFEW: more than half)."""
    shared = overlap_s(*a, *b)
    shorter = min(a[1] - a[0], b[1] - b[0])
    return shared > max_overlap * shorter + 1e-9


_TIMECODE = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")
_FRAMES = re.compile(r"^(\d+)\s*(?:f|frames?)$", re.IGNORECASE)
_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*s?$", re.IGNORECASE)


def parse_time(value: str, fps: float | None) -> float:
    """Seconds from `12.5`, `12.5s`, `00:01:02.500`, `01:02.5` or `300f` (needs fps).

    ValueError with a message naming the value otherwise.
    """
    text = str(value).strip()
    if not text:
        raise ValueError("is empty")
    match = _FRAMES.match(text)
    if match:
        if not fps:
            raise ValueError(f"{text!r} is a frame number but the movie's fps is unknown")
        return int(match.group(1)) / fps
    match = _TIMECODE.match(text)
    if match:
        hours, minutes, seconds = int(match.group(1) or 0), int(match.group(2)), float(
            match.group(3))
        if minutes >= 60 or seconds >= 60:
            raise ValueError(f"{text!r} is not a valid timecode (minutes and seconds must be "
                             "below 60)")
        return hours * 3600 + minutes * 60 + seconds
    match = _SECONDS.match(text)
    if match:
        return float(match.group(1))
    raise ValueError(f"{text!r} is not a time: use seconds (12.5), HH:MM:SS.mmm or a frame "
                     "number with its unit (300f)")


def format_time(seconds: float) -> str:
    """HH:MM:SS.mmm, the form extractors see in players."""
    millis = round(seconds * 1000)
    if millis < 0:
        return "-" + format_time(-seconds)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest / 1000:06.3f}"
