"""Reading DFEW's annotation table and split CSVs: columns by name, bad rows reported."""

from __future__ import annotations

import pytest

from dfew_build.errors import FormatError
from dfew_build.formats.release import read_annotation, read_split, split_files
from tests.dfew_fixture import HEADER, write_csv


def _annotation(root, rows, header=HEADER):
    write_csv(root / "Annotation" / "annotation.csv", header, rows)


def test_annotation_rows_and_bad_rows_reported_by_row(tmp_path):
    _annotation(tmp_path, [
        [8, 2, 0, 0, 0, 0, 0, "00001", 1],
        [0, "x", 3, 0, 0, 0, 0, "00002", 2],
        [0, 0, 0, 9, 0, 0, 1, "00004", 9],
        [0, 0, 0, 9, 0, 0, 1, "abc", 4],
        [],
        [0, 0, 0, 0, 10, 0, 0, "5", 5],
        [0, 0, 0, 0, 10, 0, 0, "00005", 5],
        [1, 0, 0, 0, 0, 0, 0, "00006", "-1"],
    ])
    rows, problems, path = read_annotation(tmp_path)
    assert path == tmp_path / "Annotation" / "annotation.csv"
    assert [(r.row, r.clip_id, r.votes, r.label) for r in rows] == [
        (2, 1, (8, 2, 0, 0, 0, 0, 0), 1), (7, 5, (0, 0, 0, 0, 10, 0, 0), 5)]
    assert [str(p) for p in problems] == [
        "Annotation/annotation.csv, row 3: clip 00002: vote count for sad is 'x', not a whole "
        "number ≥ 0; row skipped",
        "Annotation/annotation.csv, row 4: clip 00004: label '9' is out of range (0 = not "
        "single-labelled, 1..7 = DFEW emotions); row skipped",
        "Annotation/annotation.csv, row 5: clip name 'abc' is not a DFEW clip number; row "
        "skipped",
        "Annotation/annotation.csv, row 8: clip 00005 appears again (first at row 7); row "
        "skipped",
        "Annotation/annotation.csv, row 9: clip 00006: label '-1' is out of range (0 = not "
        "single-labelled, 1..7 = DFEW emotions); row skipped",
    ]


def test_annotation_columns_found_by_name_in_any_order(tmp_path):
    header = ["clip_name", "label", "vote_fear", "vote_disgust", "vote_surprise", "vote_angry",
              "vote_neutral", "vote_sad", "vote_happy"]
    _annotation(tmp_path, [["00003", 7, 7, 3, 0, 0, 0, 0, 0]], header)
    rows, problems, _ = read_annotation(tmp_path)
    assert problems == []
    assert (rows[0].clip_id, rows[0].votes, rows[0].label) == (3, (0, 0, 0, 0, 0, 3, 7), 7)


def test_headerless_annotation_uses_dfew_readme_order(tmp_path):
    _annotation(tmp_path, [[0, 0, 0, 0, 0, 3, 7, 12, 7]], header=None)
    rows, problems, _ = read_annotation(tmp_path)
    assert problems == []
    assert (rows[0].row, rows[0].clip_id, rows[0].votes) == (1, 12, (0, 0, 0, 0, 0, 3, 7))


def test_annotation_missing_columns_and_missing_table(tmp_path):
    with pytest.raises(FormatError) as missing:
        read_annotation(tmp_path)
    assert str(missing.value) == (
        f"{tmp_path} holds no annotation table: expected Annotation/annotation.csv or "
        "Annotation/annotation.xlsx (7 vote counts, clip name, label per clip); is this the "
        "root of a DFEW release?")
    _annotation(tmp_path, [[1, 2]], header=["1happy", "order"])
    with pytest.raises(FormatError) as bad:
        read_annotation(tmp_path)
    assert str(bad.value) == (
        "Annotation/annotation.csv: no column for sad, neutral, angry, surprise, disgust, "
        "fear, label; expected the header 1happy,2sad,3neutral,4angry,5surprise,6disgust,"
        "7fear,order,label")


def test_annotation_xlsx(tmp_path):
    import openpyxl  # the [test] extra installs it

    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.active.append([0, 7, 3, 0, 0, 0, 0, 2, 2])
    book.active.append([0, 7, 3, 0, 0, 0, 0, 3.0, 2.0])
    (tmp_path / "Annotation").mkdir()
    book.save(tmp_path / "Annotation" / "annotation.xlsx")
    rows, problems, path = read_annotation(tmp_path)
    assert path.name == "annotation.xlsx" and problems == []
    assert [(r.row, r.clip_id, r.label) for r in rows] == [(2, 2, 2), (3, 3, 2)]


def test_split_rows_and_bad_rows(tmp_path):
    path = write_csv(tmp_path / "EmoLabel_DataSplit" / "test(single-labeled)" / "set_1.csv",
                     ["video_name", "label"],
                     [["00001", 1], ["7", 3], ["x1", 2], ["00004", 0], ["00005", "happy"],
                      ["00006", 8]])
    rows, problems = read_split(tmp_path, path)
    assert [(r.row, r.clip_id, r.label) for r in rows] == [(2, 1, 1), (3, 7, 3)]
    where = "EmoLabel_DataSplit/test(single-labeled)/set_1.csv"
    assert [str(p) for p in problems] == [
        f"{where}, row 4: video_name 'x1' is not a DFEW clip number; row skipped",
        f"{where}, row 5: clip 00004: label '0' is out of range 1..7; row skipped",
        f"{where}, row 6: clip 00005: label 'happy' is out of range 1..7; row skipped",
        f"{where}, row 7: clip 00006: label '8' is out of range 1..7; row skipped",
    ]


def test_split_bad_header_and_both_folder_spellings(tmp_path):
    path = write_csv(tmp_path / "EmoLabel_DataSplit" / "test(single_labeled)" / "set_2.csv",
                     ["clip", "emotion"], [["1", "2"]])
    assert split_files(tmp_path, __import__("pathlib").Path(
        "EmoLabel_DataSplit", "test(single-labeled)")) == {2: path}
    with pytest.raises(FormatError) as bad:
        read_split(tmp_path, path)
    assert str(bad.value) == ("EmoLabel_DataSplit/test(single_labeled)/set_2.csv: expected the "
                              "header video_name,label, found 'clip,emotion'")
