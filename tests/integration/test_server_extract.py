"""The extractor page: save clips under the clips module's rules, confirm/reject candidates."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select

from dfew_build.db.models import Clip, Movie
from tests.annotation_data import make_client, page_csrf, site_on
from tests.databases import backends
from tests.videos import write_video

MP4 = "mov,mp4,m4a,3gp,3g2,mj2"


@pytest.fixture(params=backends())
def site(request, tmp_path):
    with site_on(request.param, tmp_path, annotators=2, clips=2, per_clip=1) as site:
        yield site


def _save(client, site, token, **fields):
    return client.post(f"/extract/movie/{site.movie_id}/clips",
                       data={"csrf_token": token, **fields})


def test_movie_list_and_page(site):
    client = make_client(site, "extractor1")
    index = client.get("/extract")
    assert index.status_code == 200
    assert f'href="/extract/movie/{site.movie_id}">Tiny movie</a>' in index.text
    page = client.get(f"/extract/movie/{site.movie_id}")
    assert f'src="/media/movie/{site.movie_id}"' in page.text
    assert 'id="mark-in"' in page.text and 'id="mark-out"' in page.text
    assert client.get("/extract/movie/999").status_code == 404


def test_movie_list_says_which_movies_play_in_the_browser(site):
    """Before opening a movie the extractor sees whether it plays as it is, plays from its
    proxy, or needs `dfew-build movies proxy` first (the player's own choice of file)."""
    root = site.workspace.root
    (root / "proxies").mkdir(exist_ok=True)
    write_video(root / "proxies/00002.mp4", frames=12, width=64, height=48, fps=12)
    movies = {  # title: columns as ingest records them
        "Rip": dict(container="avi", codec="mpeg4", browser_playable=False,
                    proxy_path="proxies/00002.mp4"),
        "Concert": dict(container="matroska,webm", codec="h264", browser_playable=False),
        "Broadcast": dict(container="mpegts", codec="mpeg2video", browser_playable=False,
                          proxy_path="proxies/00004.mp4"),  # recorded, but the file is gone
        "Grade": dict(container=MP4, codec="h264", browser_playable=False),  # 10-bit H.264
        "Moved": dict(container=MP4, codec="h264", browser_playable=True,
                      path=str(root / "gone.mp4")),
    }
    with site.workspace.session() as s:
        first = s.get(Movie, site.movie_id)
        first.container, first.codec, first.browser_playable = MP4, "h264", True
        for n, (title, columns) in enumerate(movies.items(), start=2):
            s.add(Movie(**{"path": first.path, **columns}, sha256=f"{n:064x}", size_bytes=1,
                        duration_s=60.0, fps=12.0, status="ok", title=title))
    page = make_client(site, "extractor1").get("/extract")
    assert page.status_code == 200
    cells = {int(i): (state, html.unescape(text)) for state, i, text in re.findall(
        r'<td class="playback playback-([a-z-]+)" id="playback-(\d+)">(.*?)</td>', page.text)}
    fix = "An admin can make a browser copy with <code>dfew-build movies proxy {}</code>"
    assert cells == {
        1: ("direct", "Plays in the browser"),
        2: ("proxy", "Plays, from a browser copy (same times as the movie)"),
        3: ("needs-proxy", "Cannot play yet: its format (H.264 in MKV (Matroska)) does not "
                           "play in browsers. " + fix.format(3)),
        4: ("needs-proxy", "Cannot play yet: its format (MPEG-2 in MPEG-TS) does not play in "
                           "browsers. " + fix.format(4)),
        5: ("needs-proxy", "Cannot play yet: browsers cannot play this file. " + fix.format(5)),
        6: ("missing", "Cannot play: the movie file is missing on the server; tell an admin"),
    }
    assert "style=" not in page.text and "<script>" not in page.text  # the CSP allows neither


def test_save_a_clip(site):
    client = make_client(site, "extractor1")
    token = page_csrf(client, f"/extract/movie/{site.movie_id}")
    response = _save(client, site, token, start="00:00:20.000", end="22.5", emotion="6")
    assert response.status_code == 303
    assert response.headers["location"] == f"/extract/movie/{site.movie_id}"
    with site.workspace.session() as s:
        clip = s.scalar(select(Clip).order_by(Clip.id.desc()))
    assert (clip.start_s, clip.end_s, clip.intended_emotion, clip.extractor_id, clip.source,
            clip.status, clip.path) == (20.0, 22.5, 6, site.ids["extractor1"], "manual",
                                        "accepted", None)
    page = client.get(f"/extract/movie/{site.movie_id}")
    assert f"Saved clip {clip.id} (00:00:20.000-00:00:22.500)" in page.text
    again = _save(client, site, token, start="20", end="22.5")
    assert again.status_code == 303
    page = html.unescape(client.get(f"/extract/movie/{site.movie_id}").text)
    assert f"00:00:20.000-00:00:22.500 of movie {site.movie_id} (tiny.mp4) is already clip " \
           f"{clip.id}; nothing new saved." in page


@pytest.mark.parametrize("fields, message", [
    ({"start": "20", "end": "40"}, "Not saved: duration 20.000 s is outside the allowed "
                                   "0.5-10 s (clips.min_duration_s/max_duration_s in dfew.toml)"),
    ({"start": "0.5", "end": "1.7"}, "Not saved: overlaps clip 1 (00:00:00.000-00:00:01.500) of "
                                     "movie 1 (tiny.mp4) by more than 50% of the shorter clip; "
                                     "tick Allow overlap to keep it"),
    ({"start": "30", "end": "29"}, "Not saved: end 00:00:29.000 is not after start "
                                   "00:00:30.000"),
    ({"start": "55", "end": "61"}, "Not saved: 00:00:55.000-00:01:01.000 lies outside movie 1 "
                                   "(tiny.mp4), which is 00:01:00.000 long"),
    ({"start": "soon", "end": "3"}, "Not saved: the in point: 'soon' is not a time"),
    ({"start": "", "end": "3"}, "Not saved: the in point is empty"),
    ({"start": "20", "end": "21", "emotion": "joy"}, "Not saved: unknown emotion 'joy'"),
])
def test_clip_rules_refuse_with_the_clips_module_messages(site, fields, message):
    client = make_client(site, "extractor1")
    token = page_csrf(client, f"/extract/movie/{site.movie_id}")
    response = _save(client, site, token, **fields)
    assert response.status_code == 422
    assert message in html.unescape(response.text)
    assert f'value="{fields["start"]}"' in response.text  # what was typed stays in the form
    with site.workspace.session() as s:
        assert len(s.scalars(select(Clip)).all()) == 2


def test_overlap_allowed_when_ticked(site):
    client = make_client(site, "extractor1")
    token = page_csrf(client, f"/extract/movie/{site.movie_id}")
    response = _save(client, site, token, start="0.5", end="1.7", allow_overlap="true")
    assert response.status_code == 303


def test_confirm_and_reject_candidates(site):
    with site.workspace.session() as s:
        candidates = [Clip(movie_id=site.movie_id, start_s=t, end_s=t + 2, duration_s=2,
                           source="proposed", status="candidate") for t in (30, 40, 1)]
        s.add_all(candidates)
        s.flush()
        good, bad, overlapping = (c.id for c in candidates)
    client = make_client(site, "extractor1")
    page = client.get(f"/extract/movie/{site.movie_id}")
    assert f'id="cand-{good}"' in page.text
    token = page_csrf(client, f"/extract/movie/{site.movie_id}")
    url = f"/extract/movie/{site.movie_id}/candidates"
    response = client.post(url, data={"csrf_token": token, "action": "confirm",
                                      "ids": [str(good), str(overlapping)]})
    assert response.status_code == 303
    response = client.post(url, data={"csrf_token": token, "action": "reject", "ids": [str(bad)]})
    assert response.status_code == 303
    with site.workspace.session() as s:
        status = {c.id: (c.status, c.extractor_id) for c in s.scalars(select(Clip))}
    assert status[good] == ("accepted", site.ids["extractor1"])
    assert status[bad][0] == "rejected"
    assert status[overlapping][0] == "candidate"
    page = html.unescape(client.get(f"/extract/movie/{site.movie_id}").text)
    assert f"confirmed 1 clip(s): {good}" in page
    assert f"clip {overlapping} not confirmed: clip {overlapping}: overlaps clip 2" in page


def test_bonus_tally_counts_rare_emotions(site):
    client = make_client(site, "extractor1")
    index = client.get("/extract")
    # build_site's two clips are the extractor's, intended fear (rare by default).
    assert '<strong id="bonus">2</strong>' in index.text
    assert "2 accepted clip(s), 2 of a rare emotion (disgust, fear): bonus" \
        in " ".join(index.text.split())


def test_extract_is_for_extractors(site):
    assert make_client(site, "admin1").get("/extract").status_code == 403
    assert make_client(site, "ann1").get(f"/extract/movie/{site.movie_id}").status_code == 403
    client = make_client(site, "extractor1")
    response = _save(client, site, "forged", start="20", end="21")
    assert response.status_code == 403
