"""`dfew-build clips import|list|stats|confirm|reject` on real ingested sample movies."""

import json

import pytest


@pytest.fixture
def ws(cli, tmp_path, sample_media):
    cli("init", tmp_path / "ws")
    for name in ("WolfgangLanger_Pexels.mp4", "face_noface.mov", "single_face.mp4"):
        assert cli("-w", tmp_path / "ws", "ingest", sample_media / name).exit_code == 0
    return tmp_path / "ws"  # movies 1, 2, 3 in that order


def _clips(cli, ws, *args):
    result = cli("-w", ws, "clips", "list", "--json", *args)
    assert result.exit_code == 0
    return json.loads(result.stdout)


def test_import_reports_bad_rows_by_line_and_keeps_the_good_ones(cli, ws, tmp_path,
                                                                 sample_media):
    csv = tmp_path / "clips.csv"
    csv.write_text(
        "movie,start,end,extractor,emotion\n"
        "WolfgangLanger_Pexels.mp4,1.0,3.5,alice,fear\n"                     # 2 ok
        "2,00:00:01.000,00:00:03.000,bob,Happy\n"                            # 3 ok
        f"{sample_media / 'single_face.mp4'},24f,60f,carol,6\n"              # 4 ok (path)
        "nope.mp4,0,1,bob,\n"                                                # 5
        "1,5,4,bob,\n"                                                       # 6
        "1,18,21,bob,\n"                                                     # 7
        "1,5,5.2,bob,\n"                                                     # 8
        "1,5,7,bob,joy\n"                                                    # 9
        "1,1.5,3.0,bob,\n"                                                   # 10
        "1,ten,12,bob,\n"                                                    # 11
        "1,10,12,,\n"                                                        # 12
        "\n"                                                                 # 13 blank
        "1,10,12,bob,sad,extra\n"                                            # 14
        "1,10,12,dave\n")                                                    # 15 ok
    result = cli("-w", ws, "clips", "import", csv)
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        "clips.csv line 5: unknown movie 'nope.mp4': no ingested movie has that id, file name "
        "or path; ingest it first with: dfew-build ingest PATH",
        "clips.csv line 6: end 00:00:04.000 is not after start 00:00:05.000",
        "clips.csv line 7: 00:00:18.000-00:00:21.000 lies outside movie 1 "
        "(WolfgangLanger_Pexels.mp4), which is 00:00:19.685 long",
        "clips.csv line 8: duration 0.200 s is outside the allowed 0.5-10 s "
        "(clips.min_duration_s/max_duration_s in dfew.toml)",
        "clips.csv line 9: unknown emotion 'joy': use a code 1..7 or one of happy, sad, "
        "neutral, angry, surprise, disgust, fear",
        "clips.csv line 10: overlaps clip 1 (00:00:01.000-00:00:03.500) of movie 1 "
        "(WolfgangLanger_Pexels.mp4) by more than 50% of the shorter clip; use "
        "--allow-overlap to keep it",
        "clips.csv line 11: start 'ten' is not a time: use seconds (12.5), HH:MM:SS.mmm or a "
        "frame number with its unit (300f)",
        "clips.csv line 12: the extractor column is empty",
        "clips.csv line 14: 6 fields but the header has 5 (an unquoted comma?)",
    ]
    assert result.stdout == ("imported 4, already present 0, refused 9; new extractors: "
                             "alice, bob, carol, dave\n")
    clips = _clips(cli, ws)
    assert [(c["movie_id"], c["start_s"], c["end_s"], c["extractor"], c["intended_emotion"],
             c["source"], c["status"]) for c in clips] == [
        (1, 1.0, 3.5, "alice", "fear", "manual", "accepted"),
        (2, 1.0, 3.0, "bob", "happy", "manual", "accepted"),
        (3, 0.8, 2.0, "carol", "disgust", "manual", "accepted"),
        (1, 10.0, 12.0, "dave", None, "manual", "accepted")]
    # Importing the same file again adds nothing; --allow-overlap keeps line 10.
    again = cli("-w", ws, "clips", "import", "--json", "--allow-overlap", csv)
    data = json.loads(again.stdout)
    assert data["summary"] == {"rows": 13, "imported": 1, "already_present": 4, "refused": 8,
                               "new_extractors": []}
    assert [r["line"] for r in data["refused"]] == [5, 6, 7, 8, 9, 11, 12, 14]
    assert len(_clips(cli, ws)) == 5


def test_import_whole_file_errors(cli, ws, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("film,from,to\nx,1,2\n")
    result = cli("-w", ws, "clips", "import", csv)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {csv} has no movie, start, end, extractor column: the "
                             "header is film, from, to; it needs columns movie, start, end, "
                             "extractor and optionally emotion\n")
    result = cli("-w", ws, "clips", "import", tmp_path / "missing.csv")
    assert result.stderr == (f"Error: cannot read the clips CSV {tmp_path / 'missing.csv'}: "
                             "No such file or directory\n")


def test_nothing_imported_exits_1_and_strict(cli, ws, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("movie,start,end,extractor\nnope.mp4,0,1,x\n")
    result = cli("-w", ws, "clips", "import", csv)
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == "Error: 1 of 1 rows refused; see the reasons above"
    csv.write_text("movie,start,end,extractor\n1,0,1,x\nnope.mp4,0,1,x\n")
    assert cli("-w", ws, "clips", "import", csv).exit_code == 0
    assert cli("-w", ws, "clips", "import", "--strict", csv).exit_code == 1


def test_extractor_name_of_an_annotator_is_a_row_error(cli, ws, tmp_path):
    assert cli("-w", ws, "people", "add", "ann", "--role", "annotator").exit_code == 0
    csv = tmp_path / "c.csv"
    csv.write_text("movie,start,end,extractor\n1,0,1,ann\n1,2,3,eve\n")
    result = cli("-w", ws, "clips", "import", csv)
    assert result.stderr == ("c.csv line 2: 'ann' is an annotator, not an extractor; name an "
                             "extractor (or add one with: dfew-build people add NAME --role "
                             "extractor)\n")
    assert result.stdout == "imported 1, already present 0, refused 1; new extractors: eve\n"


def test_21st_clip_via_csv_names_movie_and_count(cli, ws, tmp_path):
    rows = [f"1,{i * 0.9:.1f},{i * 0.9 + 0.8:.1f},alice" for i in range(21)]
    csv = tmp_path / "c.csv"
    csv.write_text("movie,start,end,extractor\n" + "\n".join(rows) + "\n")
    result = cli("-w", ws, "clips", "import", csv)
    assert result.stderr == ("c.csv line 22: movie 1 (WolfgangLanger_Pexels.mp4) already has "
                             "20 clips, the most allowed (clips.max_per_movie = 20)\n")
    assert result.stdout == "imported 20, already present 0, refused 1; new extractors: alice\n"


def test_stats_and_list_filters(cli, ws, tmp_path):
    csv = tmp_path / "c.csv"
    csv.write_text("movie,start,end,extractor,emotion\n"
                   "1,0,1.5,alice,fear\n1,2,5,alice,disgust\n1,6,12,alice,happy\n"
                   "2,0,2,bob,7\n2,3,4,bob,\n")
    cli("-w", ws, "clips", "import", csv)
    stats = json.loads(cli("-w", ws, "clips", "stats", "--json").stdout)
    assert stats["by_status"] == {"candidate": 0, "accepted": 5, "rejected": 0}
    assert stats["per_emotion"] == {"happy": 1, "sad": 0, "neutral": 0, "angry": 0,
                                    "surprise": 0, "disgust": 1, "fear": 2, "unspecified": 1}
    assert stats["per_duration_bin"] == {"0-2s": 2, "2-5s": 2, "5s+": 1}
    assert [(m["movie_id"], m["accepted"]) for m in stats["per_movie"]] == [(1, 3), (2, 2)]
    assert [(e["extractor"], e["clips"], e["rare_clips"], e["bonus"])
            for e in stats["per_extractor"]] == [("alice", 3, 2, 2), ("bob", 2, 1, 1)]
    table = cli("-w", ws, "clips", "stats").stdout
    assert "alice      3      0         2           2" in table
    assert [c["id"] for c in _clips(cli, ws, "--movie", "face_noface.mov")] == [4, 5]
    assert [c["id"] for c in _clips(cli, ws, "--extractor", "alice")] == [1, 2, 3]
    listing = cli("-w", ws, "clips", "list", "--status", "accepted").stdout.splitlines()
    assert listing[-1] == "5 clips" and listing[0].split()[:4] == ["id", "movie_id", "movie",
                                                                   "start"]
    # Rarity and bonus are configurable.
    config = ws / "dfew.toml"
    config.write_text(config.read_text().replace('rare_emotions = ["disgust", "fear"]',
                                                 'rare_emotions = ["happy"]')
                      .replace("rare_bonus = 1 ", "rare_bonus = 3 "))
    stats = json.loads(cli("-w", ws, "clips", "stats", "--json").stdout)
    assert [(e["extractor"], e["rare_clips"], e["bonus"]) for e in stats["per_extractor"]] == [
        ("alice", 1, 3), ("bob", 0, 0)]


def test_confirm_and_reject_commands(cli, ws, tmp_path):
    from dfew_build.db.models import Clip
    from dfew_build.workspace import open_workspace

    workspace = open_workspace(ws)
    with workspace.session() as session:
        for start in (0, 0.5, 4, 8):
            session.add(Clip(movie_id=1, start_s=start, end_s=start + 2, duration_s=2,
                             source="proposed", status="candidate"))
    workspace.close()
    # zoe is nobody yet: refused, naming the flag that adds her (a typo must not add people).
    result = cli("-w", ws, "clips", "confirm", "1-2", "3", "--extractor", "zoe")
    assert result.exit_code == 1
    assert result.stderr == ("Error: unknown extractor 'zoe' (there are no extractors yet); "
                             "pass --new-extractor to add 'zoe' as a new extractor\n")
    result = cli("-w", ws, "clips", "confirm", "1-2", "3", "--extractor", "zoe",
                 "--new-extractor")
    assert result.stderr == ("refused: clip 2: overlaps clip 1 (00:00:00.000-00:00:02.000) of "
                             "movie 1 (WolfgangLanger_Pexels.mp4) by more than 50% of the "
                             "shorter clip; use --allow-overlap to keep it\n")
    assert result.stdout == "confirmed 2, unchanged 0, refused 1\n"
    assert cli("-w", ws, "clips", "reject", "2,4").stdout == "rejected 2, unchanged 0, refused 0\n"
    result = cli("-w", ws, "clips", "reject", "1")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        # Accepted clips leave the campaign by `clips retire`, which the message names.
        "refused: clip 1 is accepted, not a candidate; only candidates can be rejected (take "
        "an accepted clip out of the campaign with: dfew-build clips retire 1 --reason TEXT)",
        "Error: no clip rejected"]
    result = cli("-w", ws, "clips", "confirm", "x7")
    assert result.exit_code == 2 and "'x7' is not a clip id or a range like 12-20" in \
        result.stderr
    clips = _clips(cli, ws)
    assert [(c["status"], c["extractor"]) for c in clips] == [
        ("accepted", "zoe"), ("rejected", None), ("accepted", "zoe"), ("rejected", None)]
    stats = json.loads(cli("-w", ws, "clips", "stats", "--json").stdout)
    assert stats["per_extractor"][0]["proposed"] == 2


def test_list_of_an_empty_workspace_says_what_to_run(cli, tmp_path):
    cli("init", tmp_path / "empty")
    result = cli("-w", tmp_path / "empty", "clips", "list")
    assert result.exit_code == 0
    assert result.stdout == ("no clips; add some with: dfew-build clips import CSV "
                             "(or clips propose)\n")
    assert json.loads(cli("-w", tmp_path / "empty", "clips", "list", "--json").stdout) == []
