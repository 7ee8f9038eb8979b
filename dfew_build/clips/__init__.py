"""Clips: import extractors' clips under DFEW's rules, propose candidates, cut, count.

What other parts of dfew-build (and the annotation server's extractor page) call:

- ``add_clip(session, config, *, movie, start_s, end_s, extractor, intended_emotion=None,
  allow_overlap=False, source="manual") -> Clip`` (ClipError / DuplicateClipError)
- ``confirm_clip(session, config, clip_id, *, extractor=None, allow_overlap=False) -> Clip``
  and ``reject_clip(session, clip_id) -> Clip`` (one clip; ClipError when refused)
- ``confirm_clips(session, config, ids, ...)`` / ``reject_clips(session, ids)``: batches
  that go on past refused ids (-> BatchOutcome)
- ``clip_rules(config) -> ClipRules``: the [clips] section of dfew.toml
- ``list_clips``, ``clip_dict``, ``clip_stats``, ``import_clips``, ``propose_clips``,
  ``cut_clips``
"""

from dfew_build.clips.cut import clip_relpath, cut_clips
from dfew_build.clips.importer import import_clips
from dfew_build.clips.library import (BatchOutcome, DuplicateClipError, add_clip, clip_dict,
                                      confirm_clip, confirm_clips, find_extractor,
                                      get_or_create_extractor, list_clips, reject_clip,
                                      reject_clips, resolve_movie)
from dfew_build.clips.propose import propose_clips
from dfew_build.clips.rules import ClipRules, clip_rules, format_time, parse_time
from dfew_build.clips.stats import clip_stats

__all__ = ["BatchOutcome", "ClipRules", "DuplicateClipError", "add_clip", "clip_dict",
           "clip_relpath", "clip_rules", "clip_stats", "confirm_clip", "confirm_clips",
           "cut_clips", "find_extractor", "format_time", "get_or_create_extractor",
           "import_clips", "list_clips", "parse_time", "propose_clips", "reject_clip",
           "reject_clips", "resolve_movie"]
