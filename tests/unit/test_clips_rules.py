"""Time parsing, overlap arithmetic and the [clips] config of dfew.toml."""

import pytest

from dfew_build.clips.rules import (clip_rules, duration_bin, format_time, overlaps_too_much,
                                    parse_time)
from dfew_build.errors import ConfigError
from dfew_build.workspace import _defaults, load_config


@pytest.mark.parametrize("text, fps, seconds", [
    ("12.5", None, 12.5), ("12.5s", None, 12.5), ("7", None, 7.0), (".5", None, 0.5),
    ("00:01:02.500", None, 62.5), ("01:02.5", None, 62.5), ("1:00:00", None, 3600.0),
    ("300f", 25.0, 12.0), ("48 frames", 24.0, 2.0), ("0f", 30.0, 0.0),
])
def test_parse_time(text, fps, seconds):
    assert parse_time(text, fps) == pytest.approx(seconds)


@pytest.mark.parametrize("text, fps, message", [
    ("", 25.0, "is empty"),
    ("abc", 25.0, "'abc' is not a time: use seconds (12.5), HH:MM:SS.mmm or a frame number "
                  "with its unit (300f)"),
    ("-3", 25.0, "'-3' is not a time: use seconds (12.5), HH:MM:SS.mmm or a frame number "
                 "with its unit (300f)"),
    ("00:61:00", 25.0, "'00:61:00' is not a valid timecode (minutes and seconds must be "
                       "below 60)"),
    ("30f", None, "'30f' is a frame number but the movie's fps is unknown"),
])
def test_parse_time_errors(text, fps, message):
    with pytest.raises(ValueError) as info:
        parse_time(text, fps)
    assert str(info.value) == message


def test_format_time_round_trips():
    assert format_time(3723.5) == "01:02:03.500"
    assert parse_time(format_time(81.234), None) == pytest.approx(81.234)


def test_overlap_rule_is_relative_to_the_shorter_clip():
    assert not overlaps_too_much((0, 2), (1, 3), 0.5)  # exactly half: allowed
    assert overlaps_too_much((0, 2), (0.9, 3), 0.5)
    assert overlaps_too_much((0, 10), (4, 5), 0.5)  # a short clip inside a long one
    assert not overlaps_too_much((0, 1), (1, 2), 0.0)  # touching is not overlapping
    assert overlaps_too_much((0, 1), (0.99, 2), 0.0)


def test_duration_bins_follow_dfew_table_2():
    assert [duration_bin(d) for d in (0.5, 1.999, 2.0, 4.99, 5.0, 9.0)] == [
        "0-2s", "0-2s", "2-5s", "2-5s", "5s+", "5s+"]


def test_default_rules():
    rules = clip_rules(_defaults())
    assert (rules.max_per_movie, rules.min_duration_s, rules.max_duration_s,
            rules.max_overlap) == (20, 0.5, 10.0, 0.5)
    assert [e.name for e in rules.rare_emotions] == ["disgust", "fear"]
    assert rules.rare_codes == {6, 7} and rules.rare_bonus == 1
    assert rules.propose.clip_length_s == 2.0


def _config(tmp_path, text):
    path = tmp_path / "dfew.toml"
    path.write_text(text)
    return path, load_config(path)


def test_config_overrides_and_range_errors(tmp_path):
    _, config = _config(tmp_path, "[clips]\nmax_per_movie = 3\nrare_emotions = ['sad', 7]\n"
                                  "max_duration_s = 6\n")
    rules = clip_rules(config)
    assert rules.max_per_movie == 3 and rules.max_duration_s == 6.0
    assert rules.rare_codes == {2, 7}
    _, config = _config(tmp_path, "[clips]\nrare_emotions = ['joy']\n")
    with pytest.raises(ConfigError) as info:
        clip_rules(config)
    assert str(info.value) == ("dfew.toml: clips.rare_emotions: unknown emotion 'joy': use a "
                               "code 1..7 or one of happy, sad, neutral, angry, surprise, "
                               "disgust, fear")
    _, config = _config(tmp_path, "[clips]\nmin_duration_s = 5\nmax_duration_s = 4\n"
                                  "max_overlap = 2\n")
    with pytest.raises(ConfigError) as info:
        clip_rules(config)
    assert str(info.value) == (
        "dfew.toml: clips.min_duration_s must be above 0 and below clips.max_duration_s; "
        "clips.max_overlap must be between 0 and 1; clips.propose.clip_length_s must lie "
        "within clips.min_duration_s..clips.max_duration_s")


def test_config_types_are_checked_on_load(tmp_path):
    path = tmp_path / "dfew.toml"
    path.write_text("[clips]\nmax_overlap = 'half'\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (f"{path}: clips.max_overlap = 'half' should be a number; "
                               "see docs/workspace.md")
    path.write_text("[clips]\nmax_per_movie = 2.5\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (f"{path}: clips.max_per_movie = 2.5 should be a whole number; "
                               "see docs/workspace.md")
