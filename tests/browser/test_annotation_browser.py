"""The annotation server in a real Chromium against a real uvicorn server: log in by link,
vote with key presses, see progress, revise, report a problem, mark a clip as extractor."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import select

from annotation_server import Settings, create_app
from dfew_build.db.models import Clip, ProblemReport, Vote
from tests.annotation_data import build_site
from tests.browser.conftest import SHOTS, LiveServer


@pytest.fixture
def live(tmp_path):
    site = build_site(tmp_path / "ws", annotators=2, clips=3, per_clip=2)
    app = create_app(Settings.from_workspace(site.workspace, secret_key="browser-test"))
    with LiveServer(app) as server:
        yield site, server
    site.workspace.close()


def _votes(site, name):
    with site.workspace.session() as s:
        return dict(s.execute(select(Vote.clip_id, Vote.emotion).where(
            Vote.annotator_id == site.ids[name])).all())


def _wait_until(page, expression: str, timeout_s: float = 15.0) -> None:
    """Poll a JavaScript condition. Playwright's wait_for_function polls with eval(), which
    the server's Content-Security-Policy (script-src 'self') rightly forbids; page.evaluate
    goes through the DevTools protocol and is not subject to it."""
    deadline = time.monotonic() + timeout_s
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_s} s: {expression}")
        page.wait_for_timeout(50)


def _on_clip(page, clip_id):
    page.wait_for_selector(f'video[data-clip="{clip_id}"]')
    # The video really loads in the browser (metadata fetched with Range requests).
    _wait_until(page, "document.getElementById('clip-video').readyState >= 1")


def test_annotator_session(live, new_page):
    site, server = live
    from annotation_server.annotating import queue
    from dfew_build.annotation.assign import queue_order

    with site.workspace.session() as s:  # the order ann1's page shows (random per annotator)
        first, second, third = queue(s, site.ids["ann1"], queue_order(site.workspace.config))
    page = new_page()
    page.goto(f"{server.url}/login/{site.tokens['ann1']}")
    assert page.url == f"{server.url}/annotate"
    # The first clip page shows the guidelines (WS/guidelines.md, its default written now).
    assert "Disgust" in page.inner_text("#first-guidelines")
    assert (site.workspace.root / "guidelines.md").exists()
    page.click("#first-guidelines summary")  # folded away
    _on_clip(page, first)
    assert page.inner_text("#progress").split() == ["0", "/", "3", "done"]

    page.keyboard.press("3")
    _on_clip(page, second)
    assert page.inner_text("#progress-done") == "1"
    page.keyboard.press("r")  # replay is not a vote
    page.dblclick('button[data-key="5"]')  # a double click is one vote
    _on_clip(page, third)
    assert _votes(site, "ann1") == {first: 3, second: 5}
    assert page.inner_text("#progress-done") == "2"

    page.click("details.problem summary")
    page.check('input[value="no_face"]')
    page.fill('input[name="note"]', "only a back of a head")
    page.click("#report-problem")
    page.wait_for_selector("text=All done")
    assert "reported (no face visible)" in page.inner_text("main")
    with site.workspace.session() as s:
        assert s.execute(select(ProblemReport.clip_id, ProblemReport.kind)).all() == [
            (third, "no_face")]
    assert third not in _votes(site, "ann1")

    page.click("text=My votes")
    page.click(f'tr[data-clip="{first}"] >> text=change')
    _on_clip(page, first)
    assert page.get_attribute('button[data-key="3"]', "class") == "emotion emotion-3 chosen"
    page.keyboard.press("7")
    page.wait_for_url(f"{server.url}/annotate/history")
    assert "your vote is now fear" in page.inner_text("main")
    assert page.inner_text(f'tr[data-clip="{first}"] td.vote') == "fear"
    assert _votes(site, "ann1") == {first: 7, second: 5}

    cookie = next(c for c in page.context.cookies() if c["name"] == "dfew_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    # The login token never reaches the access log.
    assert any("/login/[redacted]" in line for line in server.log)
    assert not any(site.tokens["ann1"] in line for line in server.log)


def test_other_annotators_clip_is_refused_in_the_browser(live, new_page):
    site, server = live
    page = new_page()
    page.goto(f"{server.url}/login/{site.tokens['ann2']}")
    page.goto(f"{server.url}/annotate/clip/999")
    assert "This clip is not assigned to you." in page.inner_text("#error-message")
    page.goto(f"{server.url}/login/wrong")
    assert "This login link is not valid" in page.inner_text("#error-message")


def test_extractor_marks_a_clip(live, new_page):
    site, server = live
    page = new_page()
    page.goto(f"{server.url}/login/{site.tokens['extractor1']}")
    page.click("text=Tiny movie")
    page.wait_for_selector("#movie-video")  # the click's navigation has landed
    _wait_until(page, "document.getElementById('movie-video').readyState >= 1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "extractor.png"), full_page=True)
    page.evaluate("document.getElementById('movie-video').currentTime = 0.5")
    _wait_until(page, "document.getElementById('movie-video').currentTime >= 0.5")
    page.keyboard.press("i")
    page.fill("#end", "00:00:05.250")
    page.select_option("#emotion", "6")
    page.evaluate("window.noReload = true")  # gone if the page reloads
    page.click("#save-clip")
    # The clips module's overlap rule, in the form's words; ticking the box overrides it.
    page.wait_for_selector("#save-status.error")
    refusal = page.inner_text("#save-status")
    assert "Not saved: overlaps clip 1" in refusal and "tick Allow overlap" in refusal
    assert "--allow-overlap" not in refusal
    assert page.input_value("#end") == "00:00:05.250"  # what was entered is kept
    page.screenshot(path=str(SHOTS / "extractor-refused.png"), full_page=True)
    page.check('input[name="allow_overlap"]')
    page.click("#save-clip")
    page.wait_for_selector("#save-status.flash")
    assert "Saved clip" in page.inner_text("#save-status")
    # Saved in place: no reload, the player is where it was.
    assert page.evaluate("window.noReload === true")
    assert page.evaluate("document.getElementById('movie-video').currentTime") >= 0.5
    # ... and the saved clip joins "Clips on this movie", in in-point order, by title.
    saved = int(page.inner_text("#save-status").split()[2])
    rows = page.eval_on_selector_all("table.clips tbody tr", """rows => rows.map(r =>
        [...r.cells].map(c => c.textContent.trim()))""")
    assert [r[0] for r in rows] == ["1", str(saved), "2", "3"]
    assert rows[1][1:] == ["Tiny movie", "00:00:00.500", "00:00:05.250", "disgust",
                           "accepted", "no"]
    assert {r[1] for r in rows} == {"Tiny movie"}
    page.screenshot(path=str(SHOTS / "extractor-saved.png"), full_page=True)
    page.goto(f"{server.url}/extract")
    assert "Tiny movie" in page.inner_text("table.clips")  # My clips names the movie
    page.screenshot(path=str(SHOTS / "extractor-index.png"), full_page=True)
    with site.workspace.session() as s:
        clip = s.scalar(select(Clip).order_by(Clip.id.desc()))
    assert re.fullmatch(r"0\.5\d*", str(clip.start_s)) and clip.end_s == 5.25
    assert clip.intended_emotion == 6 and clip.extractor_id == site.ids["extractor1"]
