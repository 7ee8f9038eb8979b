"""CLI tables line up by display width: a movie file named in decomposed Unicode (as copied
from a Mac) and CJK names must not shift the columns after them (`clips list`)."""

import unicodedata

from dfew_build.cli.base import format_table
from dfew_build.markdown import display_width
from tests.videos import write_video

NFD_MOVIE = unicodedata.normalize("NFD", "Amélie.mp4")  # "e" + U+0301: 11 code points, 10 cols
CJK_MOVIE = "王芳的电影.mp4"  # 9 code points, 14 columns


def _column_starts(line: str, cells: list[str]) -> list[int]:
    """The display column where each cell (in order, left to right) begins in line."""
    starts, at = [], 0
    for cell in cells:
        at = line.index(cell, at)
        starts.append(display_width(line[:at]))
        at += len(cell)
    return starts


def test_format_table_pads_by_display_width():
    rows = [{"name": NFD_MOVIE, "n": 1}, {"name": CJK_MOVIE, "n": 22}, {"name": "x", "n": 3}]
    lines = format_table(rows, ["name", "n"]).splitlines()
    # The widest name is the CJK one (14 columns); every "n" cell starts at column 16.
    assert [display_width(line[:-len(str(r["n"]))]) for line, r in zip(lines[1:], rows)] == \
        [16, 16, 16]
    assert lines[0] == "name" + " " * 12 + "n"
    assert lines[1] == NFD_MOVIE + " " * 6 + "1"  # len() would have padded 5


def test_clips_list_columns_line_up_after_nfd_and_cjk_names(cli, tmp_path):
    ws = tmp_path / "ws"
    assert cli("init", ws).exit_code == 0
    # Different frame counts: ingest skips a file whose content it already has.
    for name, frames in ((NFD_MOVIE, 72), (CJK_MOVIE, 96), ("plain.mp4", 120)):
        write_video(tmp_path / name, frames=frames)
        result = cli("-w", ws, "ingest", tmp_path / name)
        assert result.exit_code == 0, result.output
    csv = tmp_path / "clips.csv"
    csv.write_text("movie,start,end,extractor,emotion\n"
                   f"{CJK_MOVIE},0,1.5,王芳,fear\n"
                   f"{NFD_MOVIE},0,1.5,alice,happy\n"
                   "plain.mp4,0,2,bob,sad\n", encoding="utf-8")
    assert cli("-w", ws, "clips", "import", csv).exit_code == 0
    result = cli("-w", ws, "clips", "list")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    header, rows = lines[0], lines[1:-1]
    names = {line.split()[2] for line in rows}
    assert names == {NFD_MOVIE, CJK_MOVIE, "plain.mp4"}  # stored as found on disk
    # "start" follows the movie column, "emotion" the extractor column.
    want = _column_starts(header, ["start", "emotion"])
    for line in rows:
        movie, extractor = line.split()[2], line.split()[6]
        emotion = {"王芳": "fear", "alice": "happy", "bob": "sad"}[extractor]
        start = _column_starts(line, [movie, "00:00:00.000"])[1]
        assert [start, _column_starts(line, [extractor, emotion])[1]] == want, line
