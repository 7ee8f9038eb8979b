"""Videos by id with HTTP Range requests, and who may fetch them."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from annotation_server.routes.media import bad_byte_ranges
from dfew_build.db.models import Assignment, Clip
from tests.annotation_data import build_site, make_client


@pytest.fixture
def site(tmp_path):
    site = build_site(tmp_path / "ws", annotators=3, clips=3, per_clip=2)
    yield site
    site.workspace.close()


def _clip_of(site, name):
    with site.workspace.session() as s:
        clip_id = s.scalar(select(Assignment.clip_id).where(
            Assignment.annotator_id == site.ids[name]).order_by(Assignment.clip_id))
        path = site.workspace.root / s.get(Clip, clip_id).path
    return clip_id, path.read_bytes()


def test_whole_clip_with_accept_ranges(site):
    client = make_client(site, "ann1")
    clip_id, data = _clip_of(site, "ann1")
    response = client.get(f"/media/clip/{clip_id}")
    assert response.status_code == 200
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(data)
    assert response.content == data
    assert "content-disposition" not in response.headers
    # Players and proxies probe with HEAD: the same headers, no body.
    head = client.head(f"/media/clip/{clip_id}")
    assert head.status_code == 200 and head.content == b""
    assert int(head.headers["content-length"]) == len(data)


@pytest.mark.parametrize("header, start, end", [
    ("bytes=0-99", 0, 99),
    ("bytes=100-", 100, None),
    ("bytes=-50", -50, None),
    ("bytes=10-10", 10, 10),
    ("bytes=5-999999999", 5, None),  # a last byte past the end is clamped
])
def test_range_requests_get_206(site, header, start, end):
    client = make_client(site, "ann1")
    clip_id, data = _clip_of(site, "ann1")
    response = client.get(f"/media/clip/{clip_id}", headers={"Range": header})
    size = len(data)
    first = start % size
    last = size - 1 if end is None else end
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {first}-{last}/{size}"
    assert response.content == data[first:last + 1]
    assert int(response.headers["content-length"]) == last - first + 1


@pytest.mark.parametrize("header", ["bytes={size}-", "bytes={size}-{size}", "bytes=50-10",
                                    "bytes=abc", "bytes=-0", "bytes=-", "bytes=0-1,x-3"])
def test_bad_or_unsatisfiable_ranges_get_416(site, header):
    client = make_client(site, "ann1")
    clip_id, data = _clip_of(site, "ann1")
    response = client.get(f"/media/clip/{clip_id}",
                          headers={"Range": header.format(size=len(data))})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(data)}"


def test_range_parser():
    assert not bad_byte_ranges("bytes=0-0", 10)
    assert not bad_byte_ranges("bytes=0-1, 4-5", 10)
    assert not bad_byte_ranges("bytes=-100", 10)  # a suffix longer than the file: all of it
    assert bad_byte_ranges("bytes=10-", 10)
    assert bad_byte_ranges("bytes=", 10)
    assert not bad_byte_ranges("items=0-1", 10)  # not ours to judge: another unit


def test_who_may_fetch_which_video(site):
    clip_id, _ = _clip_of(site, "ann1")
    with site.workspace.session() as s:
        outsider = next(name for name in ("ann2", "ann3") if s.scalar(
            select(Assignment.id).where(Assignment.clip_id == clip_id,
                                        Assignment.annotator_id == site.ids[name])) is None)
    assert make_client(site, outsider).get(f"/media/clip/{clip_id}").status_code == 403
    assert make_client(site, outsider).head(f"/media/clip/{clip_id}").status_code == 403
    assert make_client(site, "admin1").get(f"/media/clip/{clip_id}").status_code == 200
    extractor = make_client(site, "extractor1")  # the clip's own extractor
    assert extractor.get(f"/media/clip/{clip_id}").status_code == 200
    movie = extractor.get(f"/media/movie/{site.movie_id}", headers={"Range": "bytes=0-9"})
    assert movie.status_code == 206 and len(movie.content) == 10
    assert make_client(site, "ann1").get(f"/media/movie/{site.movie_id}").status_code == 403
    assert make_client(site).get(f"/media/clip/{clip_id}").status_code == 303  # to login


def test_ids_only_no_paths(site):
    client = make_client(site, "admin1")
    for path in ("/media/clip/..%2F..%2Fdfew.toml", "/media/clip/1%2F..%2F..%2Fdfew.toml",
                 "/media/clip/-1x", "/media/movie/%2Fetc%2Fpasswd"):
        response = client.get(path)
        assert response.status_code in (404, 422), path
        assert b"database_url" not in response.content and b"root:" not in response.content
    assert client.get("/media/clip/9999").status_code == 404
    assert client.get("/media/movie/9999").status_code == 404


def test_missing_or_uncut_clip_file_is_404(site):
    client = make_client(site, "admin1")
    clip_id = site.clip_ids[0]
    (site.workspace.root / f"clips/{clip_id:05d}.mp4").unlink()
    response = client.get(f"/media/clip/{clip_id}")
    assert response.status_code == 404 and "missing on the server" in response.text
    with site.workspace.session() as s:
        s.get(Clip, site.clip_ids[1]).path = None
    response = client.get(f"/media/clip/{site.clip_ids[1]}")
    assert response.status_code == 404 and "not cut" in response.text
