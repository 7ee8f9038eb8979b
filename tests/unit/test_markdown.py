"""Markdown tables read as tables in the raw file (issue 17 item 6): summary.md of a
k-fold run and report.md."""

import re

from dfew_build.bench import runs
from dfew_build.markdown import display_width, markdown_table


def pipe_columns(line: str) -> list[int]:
    """Display columns of the unescaped pipes of a table line."""
    columns, width, previous = [], 0, ""
    for char in line:
        if char == "|" and previous != "\\":
            columns.append(width)
        width += display_width(char)
        previous = char
    return columns


def assert_aligned(table: str) -> None:
    lines = table.strip("\n").splitlines()
    assert len({tuple(pipe_columns(line)) for line in lines}) == 1, table
    # GFM delimiter row: dashes, a colon only at the end of a right-aligned cell.
    assert re.fullmatch(r"\|(-{3,}:?\|)+", lines[1]), lines[1]


def test_padded_with_numbers_right_aligned():
    text = markdown_table(["annotator", "votes", "flags"],
                          [["Zoe\u0308", 12, "says fear for surprise (0.80 vs 0.10)"],
                           ["王芳", 3, None], ["a|b", "—", ""]])
    assert_aligned(text)
    lines = text.splitlines()
    assert lines[1] == "|-----------|------:|---------------------------------------|"
    assert lines[2].startswith("| Zoe\u0308       |    12 | says fear")
    assert lines[3] == "| 王芳      |     3 |                                       |"
    assert lines[4].startswith("| a\\|b      |     — |")
    assert display_width("王芳") == 4 and display_width("Zoe\u0308") == 3


def test_summary_table_is_aligned_with_dashes_for_missing_recall():
    recall = {"happy": 0.5, "sad": None, "neutral": 0.25, "angry": 1.0, "surprise": 0.0,
              "disgust": None, "fear": 1 / 3}
    metrics = {"per_class_recall": recall, "uar": 0.41666, "war": 0.5}
    table = runs.paper_table([("3D Resnet18, EC-STFL", metrics), ("C3D", metrics)])
    table.insert(1, "Split", ["fd1", "mean"])
    text = runs.to_markdown(table)
    assert_aligned(text)
    header, rule, first, _ = text.strip().splitlines()
    assert header.startswith("| Model                | Split | Happy | Sad |")
    assert rule.startswith("|----------------------|-------|------:|----:|")
    cells = [c.strip() for c in first.strip("|").split("|")]
    assert cells == ["3D Resnet18, EC-STFL", "fd1", "50.00", "–", "25.00", "100.00", "0.00",
                     "–", "33.33", "41.67", "50.00"]
