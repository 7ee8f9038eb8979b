"""Leakage-safe folds on real footage: a re-encoded copy of a movie (FFmpeg, another CRF and
size: another movie by fingerprint) and overlapping clips of one movie end up in one fold;
`--allow-leakage` opts out; the check is reported by `folds` and cached."""

from __future__ import annotations

import json
import subprocess

import pytest
from sqlalchemy import select

from dfew_build.db.models import Assignment, Clip, FaceTrack, Movie, Person, Vote
from dfew_build.dedup import CACHE_FILE, hash_clips, near_duplicate_pairs
from dfew_build.media.ingest import ingest
from dfew_build.splits import candidate_labels, load_folds, stratified_folds

SEED = 3


@pytest.fixture(scope="module")
def reencoded(tmp_path_factory, sample_media):
    """The first 8 s of WolfgangLanger_Pexels.mp4 re-encoded: CRF 34, 640x360 -> 426x240."""
    import imageio_ffmpeg

    out = tmp_path_factory.mktemp("reencode") / "wolfgang_reencoded.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-i",
                    str(sample_media / "WolfgangLanger_Pexels.mp4"), "-t", "8", "-vf",
                    "scale=426:240", "-c:v", "libx264", "-crf", "34", "-preset", "veryfast",
                    "-an", str(out)], check=True)
    return out


# (movie, start, end, emotion); clips 1/2: one scene, original and re-encode; 3/4 overlap.
CLIPS = [
    ("WolfgangLanger_Pexels.mp4", 0.0, 2.0, 1),
    ("reencoded", 0.0, 2.0, 1),
    ("WolfgangLanger_Pexels.mp4", 4.0, 6.0, 2),
    ("WolfgangLanger_Pexels.mp4", 5.0, 7.0, 2),
    ("single_face.mp4", 0.0, 2.0, 1),
    ("no_face.mp4", 0.0, 2.0, 2),
    (None, 0.0, 2.0, 1),     # an imported clip without any file: not hashed
    (None, 0.0, 2.0, 2),
]


def seed(workspace, sample_media, reencoded):
    paths = {"reencoded": reencoded}
    for name in ("WolfgangLanger_Pexels.mp4", "single_face.mp4", "no_face.mp4"):
        paths[name] = sample_media / name
    report = ingest(workspace, list(paths.values()))
    assert not [o for o in report.outcomes if o.status != "ingested"]
    with workspace.session() as session:
        movie_of = {path: movie_id for movie_id, path in
                    session.execute(select(Movie.id, Movie.path)).all()}
        # Two files, two fingerprints: the re-encode is another movie to the database.
        assert len(movie_of) == 4
        raters = [Person(name=f"r{i}", role="annotator") for i in range(10)]
        session.add_all(raters)
        session.flush()
        for movie, start, end, emotion in CLIPS:
            movie_id = movie_of[str(paths[movie])] if movie else None
            clip = Clip(movie_id=movie_id, start_s=start, end_s=end, duration_s=end - start)
            session.add(clip)
            session.flush()
            for rater in raters:
                session.add(Assignment(clip_id=clip.id, annotator_id=rater.id))
                session.flush()
                session.add(Vote(clip_id=clip.id, annotator_id=rater.id, emotion=emotion))
            session.add(FaceTrack(clip_id=clip.id, detector="mtcnn", status="kept"))


def test_reencode_and_overlap_share_a_fold_and_are_reported(cli, workspace, sample_media,
                                                            reencoded):
    seed(workspace, sample_media, reencoded)
    with workspace.session() as session:
        labels, _ = candidate_labels(session)
    # Before: plain stratified folds put both the re-encoded copy and the overlapping clip
    # in the other fold than their twins.
    before = stratified_folds(labels, 2, SEED)
    assert before[1] != before[2] and before[3] != before[4]

    result = cli("-w", workspace.root, "folds", "--k", "2", "--seed", SEED)
    assert result.exit_code == 0, result.output
    # Clips 3 and 4 also hash alike; the overlap is the stronger reason and is shown.
    assert result.stderr.splitlines() == [
        "leakage: 1 pair(s) of clips with near-duplicate footage (perceptual hash of frames at "
        "4 fps): 1~2",
        "leakage: 1 pair(s) of clips of one movie whose time spans overlap: 3~4",
        "leakage: linked clips are kept in one fold (--allow-leakage splits them)",
        "leakage: 2 clip(s) not checked for near-duplicates, no clip file and no movie file to "
        "read frames from: 7, 8"]
    assert result.stdout.splitlines()[-1].startswith(
        "scheme 'default' created: 8 clips in 2 folds (seed 3; 4 linked clips kept in 2 "
        "group(s)); ")
    with workspace.session() as session:
        folds = load_folds(session)
    assert folds[1] == folds[2] and folds[3] == folds[4]
    assert sorted(folds.value_counts()) == [4, 4]

    data = json.loads(cli("-w", workspace.root, "folds", "--k", "2", "--seed", SEED,
                          "--json").stdout)
    leakage = data["leakage"]
    assert data["status"] == "unchanged"
    assert [(link["a"], link["b"], link["kind"]) for link in leakage["links"]] == [
        (1, 2, "near-duplicate"), (3, 4, "overlap")]
    assert leakage["links"][1]["detail"].endswith(": 1.00 s shared")
    assert leakage["groups"] == [[1, 2], [3, 4]] and leakage["split_links"] == 0
    assert leakage["not_hashed"] == {
        "no clip file and no movie file to read frames from": [7, 8]}
    # The second run read every hash from WS/cache/frame_hashes.json.
    assert leakage["hashing"]["computed"] == 0 and leakage["hashing"]["cached"] == 6
    assert (workspace.root / CACHE_FILE).is_file()


def test_allow_leakage_keeps_the_plain_folds_and_counts_what_leaks(cli, workspace,
                                                                   sample_media, reencoded):
    seed(workspace, sample_media, reencoded)
    with workspace.session() as session:
        labels, _ = candidate_labels(session)
    result = cli("-w", workspace.root, "folds", "--k", "2", "--seed", SEED, "--allow-leakage")
    assert result.exit_code == 0, result.output
    assert "leakage: --allow-leakage: 2 of these pair(s) lie in different folds" in \
        result.stderr.splitlines()
    with workspace.session() as session:
        assert load_folds(session).equals(stratified_folds(labels, 2, SEED))

    # The default now refuses to overwrite those folds, and says why they differ.
    again = cli("-w", workspace.root, "folds", "--k", "2", "--seed", SEED)
    assert again.exit_code == 1
    assert again.stderr.splitlines()[-1] == (
        "Error: scheme 'default' already holds different folds (8 clips; they put 2 "
        "near-duplicate or overlapping pair(s) of clips in different folds); pass --replace "
        "to overwrite it, or --scheme NAME to store a new scheme")


def test_too_few_groups_for_k_names_the_fix(cli, workspace, sample_media, reencoded):
    seed(workspace, sample_media, reencoded)
    result = cli("-w", workspace.root, "folds", "--k", "7")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: only 6 group(s) of clips can be split, fewer than k=7 folds (2 near-duplicate "
        "or overlapping pair(s) keep 4 clips in 2 group(s)); use a smaller --k, or "
        "--allow-leakage to split linked clips anyway")
    assert cli("-w", workspace.root, "folds", "--k", "7", "--allow-leakage").exit_code == 0


def test_hashes_of_a_reencode_match_and_unrelated_footage_does_not(workspace, sample_media,
                                                                   reencoded):
    seed(workspace, sample_media, reencoded)
    with workspace.session() as session:
        run = hash_clips(workspace, session, range(1, 9))
    assert sorted(run.hashes) == [1, 2, 3, 4, 5, 6] and run.computed == 6
    assert all(len(h) == 8 for h in run.hashes.values())   # 2 s at 4 fps
    links, skipped = near_duplicate_pairs(run.hashes)
    assert skipped == 0
    pairs = {(link.a, link.b) for link in links}
    assert (1, 2) in pairs
    assert not pairs & {(1, 3), (1, 4), (1, 5), (1, 6), (2, 5), (5, 6), (2, 6)}
