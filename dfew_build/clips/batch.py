"""What a batch of clip changes did to each id: done, unchanged, or refused with the reason
(a refused id never stops the others)."""

from __future__ import annotations

from dataclasses import dataclass, field

from dfew_build.errors import ClipError


@dataclass
class BatchOutcome:
    """What happened to each id of a confirm/reject batch."""

    done: list[int] = field(default_factory=list)
    unchanged: list[int] = field(default_factory=list)  # already in the asked state
    refused: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {"done": self.done, "unchanged": self.unchanged,
                "refused": {str(k): v for k, v in self.refused.items()}}


def each_clip(ids, change) -> BatchOutcome:
    """change(clip_id) -> changed (bool) for each id; a ClipError refuses that id only."""
    outcome = BatchOutcome()
    for clip_id in map(int, ids):
        try:
            changed = change(clip_id)
        except ClipError as exc:
            outcome.refused[clip_id] = str(exc)
            continue
        (outcome.done if changed else outcome.unchanged).append(clip_id)
    return outcome
