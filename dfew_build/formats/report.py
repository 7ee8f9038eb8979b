"""The summary an export or import returns: files per kind, what was missing, problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dfew_build.formats.layout import Tally, clip_name

SHOWN_IDS = 10  # clip names listed per missing-reason line (--json has them all)


@dataclass
class ExportReport:
    format: str
    out: Path
    scheme: str
    clips: int = 0                       # clips in the export (voted clips / listed clips)
    folds: int = 0                       # folds written (0: none)
    files: Tally = field(default_factory=Tally)
    missing: dict[str, list[int]] = field(default_factory=dict)  # reason -> clip ids
    notes: list[str] = field(default_factory=list)

    def miss(self, reason: str, clip_id: int) -> None:
        self.missing.setdefault(reason, []).append(int(clip_id))

    def missing_lines(self) -> list[str]:
        return [describe_clips(reason, ids) for reason, ids in self.missing.items()]

    def as_dict(self) -> dict:
        return {"format": self.format, "out": str(self.out), "scheme": self.scheme,
                "clips": self.clips, "folds": self.folds, "files": self.files.as_dict(),
                "missing": {reason: [clip_name(c) for c in ids]
                            for reason, ids in self.missing.items()},
                "notes": self.notes}


def describe_clips(reason: str, ids: list[int]) -> str:
    names = ", ".join(clip_name(c) for c in ids[:SHOWN_IDS])
    more = f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else ""
    return f"{len(ids)} clip(s) {reason}: {names}{more}"
