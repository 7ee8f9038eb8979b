import pytest

from dfew_build.errors import MetadataError
from dfew_build.media.metadata import read_metadata


def _csv(tmp_path, text, name="movies.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rows_by_name_and_path(tmp_path):
    table = read_metadata(_csv(tmp_path, "File,Title,Year,Genre,Country\n"
                                         "a.mp4,Alpha,1999,drama,FR\n"
                                         "sub/b.mp4,\"Beta, the movie\",,comedy,\n"))
    assert table.problems == []
    a = table.lookup(tmp_path / "anywhere" / "a.mp4", {"a.mp4": 1})
    assert a.fields() == {"title": "Alpha", "year": 1999, "genre": "drama", "country": "FR"}
    b = table.lookup(tmp_path / "sub" / "b.mp4", {"b.mp4": 1})
    assert b.fields() == {"title": "Beta, the movie", "genre": "comedy"}
    assert table.lookup(tmp_path / "other" / "b.mp4", {"b.mp4": 1}) is None


def test_quoted_fields_may_span_lines(tmp_path):
    """Spreadsheets export a cell with a line break as one quoted field over two lines."""
    table = read_metadata(_csv(tmp_path, 'file,title,year\n'
                                         'a.mp4,"Alpha\nPart two",1999\n'
                                         'b.mp4,B,nineteen\n'))
    # Shown in one-line tables: the line break becomes a space (issue 17 item 16).
    assert table.by_name["a.mp4"].fields() == {"title": "Alpha Part two", "year": 1999}
    assert table.problems == [
        "movies.csv line 4: year 'nineteen' is not a year (1870..2100); year left empty"]


def test_bad_rows_are_reported_by_line_and_skipped(tmp_path):
    table = read_metadata(_csv(tmp_path, "file,title,year\n"
                                         "a.mp4,A,nineteen\n"
                                         ",No file,2000\n"
                                         "c.mp4,C,2001,extra\n"
                                         "a.mp4,Again,2002\n"
                                         "\n"
                                         "d.mp4,D,1600\n"))
    assert table.problems == [
        "movies.csv line 2: year 'nineteen' is not a year (1870..2100); year left empty",
        "movies.csv line 3: the file column is empty; row skipped",
        "movies.csv line 4: 4 fields but the header has 3 (an unquoted comma?); row skipped",
        "movies.csv line 5: 'a.mp4' was already given on line 2; line 5 ignored",
        "movies.csv line 7: year '1600' is not a year (1870..2100); year left empty",
    ]
    assert table.by_name["a.mp4"].fields() == {"title": "A"}
    assert table.by_name["d.mp4"].fields() == {"title": "D"}


def test_ambiguous_name_is_not_applied(tmp_path):
    table = read_metadata(_csv(tmp_path, "file,title\nx.mp4,X\n"))
    assert table.lookup(tmp_path / "one" / "x.mp4", {"x.mp4": 2}) is None
    assert table.problems == ["movies.csv line 2: file name 'x.mp4' matches 2 files; give the "
                              "path instead (not applied)"]


def test_no_key_column(tmp_path):
    with pytest.raises(MetadataError, match=r"has no file column: the header is name, title; "
                                            r"name the column .* one of: file, path, filename"):
        read_metadata(_csv(tmp_path, "name,title\na.mp4,A\n"))


def test_empty_and_missing_csv(tmp_path):
    with pytest.raises(MetadataError, match="is empty; it needs a header row"):
        read_metadata(_csv(tmp_path, ""))
    with pytest.raises(MetadataError, match="cannot read the metadata CSV .*No such file"):
        read_metadata(tmp_path / "missing.csv")


def test_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes("file,title\na.mp4,Am\xe9lie\n".encode("latin-1"))
    with pytest.raises(MetadataError, match="is not UTF-8 text; save it as UTF-8 CSV"):
        read_metadata(path)
