"""The gold practice round in a real Chromium (issue 15): a new annotator is sent to
/practice, votes with keys 1-7, sees feedback for a wrong and a right answer with the
known answer, reaches the done state and starts the real work; no console error or CSP
violation and no serious/critical axe-core violation on any of its pages. Screenshots of
each state go to $TMPDIR/dfew-shots ($DFEW_SHOTS)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from annotation_server import Settings, create_app
from dfew_build.annotation.gold import set_gold
from dfew_build.db.models import PracticeVote, Vote
from dfew_build.emotions import BY_CODE
from tests.annotation_data import build_site
from tests.browser.conftest import LiveServer
from tests.browser.test_annotation_browser import _wait_until
from tests.browser.conftest import SHOTS
from tests.browser.test_keyboard_browser import BUTTONS, NAVIGATION, _tab_stops
from tests.browser.test_pages_browser import _axe, _watch

ANSWERS = (2, 7, 5)  # the three gold clips' known answers: sad, fear, surprise


@pytest.fixture
def practice_live(tmp_path):
    site = build_site(tmp_path / "ws", annotators=2, clips=6, per_clip=2)
    gold = dict(zip(site.clip_ids[3:], ANSWERS))
    with site.workspace.session() as s:
        for clip, emotion in gold.items():
            set_gold(s, clip, emotion)
    site.workspace.config.setdefault("annotation", {})["practice_clips"] = 3
    app = create_app(Settings.from_workspace(site.workspace, secret_key="browser-test"))
    with LiveServer(app) as server:
        yield site, server, gold
    site.workspace.close()


def _practice_clip(page) -> int:
    action = page.get_attribute("#practice-form", "action")
    return int(action.split("/")[-2])


def _playable(page) -> None:
    _wait_until(page, "document.getElementById('clip-video').readyState >= 1")


def test_practice_round_by_keyboard_with_feedback_then_real_work(practice_live, new_page,
                                                                 axe_source):
    site, server, gold = practice_live
    SHOTS.mkdir(parents=True, exist_ok=True)
    page = new_page(viewport={"width": 1100, "height": 900})
    problems = _watch(page)
    page.goto(f"{server.url}/login/{site.tokens['ann1']}")
    # A new annotator (no vote yet) practises first, and sees the guidelines there.
    assert page.url == f"{server.url}/practice"
    assert "Disgust" in page.inner_text("#first-guidelines")
    assert page.inner_text("h1") == "Practice clip 1 of 3"
    page.screenshot(path=str(SHOTS / "practice-first.png"), full_page=True)
    page.click("#first-guidelines summary")  # folded away
    assert _axe(page, axe_source) == []

    seen, answered = [], []
    for step, right in enumerate((False, True, True)):
        clip = _practice_clip(page)
        assert clip in gold and clip not in seen
        seen.append(clip)
        _playable(page)
        known = gold[clip]
        pressed = known if right else (1 if known != 1 else 3)
        answered.append((clip, pressed, known))
        page.keyboard.press(str(pressed))  # keys 1-7, as on the annotator page
        page.wait_for_url(f"{server.url}/practice?after={clip}")
        feedback = page.locator("#practice-feedback")
        if right:
            assert "matched" in feedback.get_attribute("class").split()
            assert f"Right: you chose {BY_CODE[known].name}" in feedback.inner_text()
            assert page.locator("#practice-answer").count() == 0
        else:
            assert "not-matched" in feedback.get_attribute("class").split()
            assert page.inner_text("#practice-answer") == BY_CODE[known].name
            assert BY_CODE[pressed].name in feedback.inner_text()
        if step < 2:
            assert page.inner_text("h1") == f"Practice clip {step + 2} of 3"
            if step == 0:  # tab order as on the annotator page: the buttons first
                assert _tab_stops(page, 12) == NAVIGATION + BUTTONS
            page.screenshot(path=str(SHOTS / f"practice-{'right' if right else 'wrong'}.png"),
                            full_page=True)
        assert _axe(page, axe_source) == [], step

    # The done state, then the real work.
    assert "You practised on 3 clip(s)" in page.inner_text("#practice-done")
    page.screenshot(path=str(SHOTS / "practice-done.png"), full_page=True)
    page.click("#start-annotating")
    page.wait_for_url(f"{server.url}/annotate")
    page.wait_for_selector("#vote-form")
    first_real = int(page.get_attribute("#vote-form", "data-clip"))
    _playable(page)
    page.keyboard.press("4")
    _wait_until(page, "document.getElementById('progress-done').textContent === '1'")
    with site.workspace.session() as s:
        stored = s.execute(select(PracticeVote.clip_id, PracticeVote.emotion,
                                  PracticeVote.gold_emotion)
                           .where(PracticeVote.person_id == site.ids["ann1"])
                           .order_by(PracticeVote.id)).all()
        assert [tuple(r) for r in stored] == answered
        # Practice votes count nowhere: the only vote is the real one.
        assert s.execute(select(Vote.clip_id, Vote.emotion)).all() == [(first_real, 4)]
    # Practice over: /annotate no longer sends this person back.
    page.goto(f"{server.url}/annotate")
    assert page.url == f"{server.url}/annotate"
    assert problems == []


def test_practice_keys_send_one_vote_and_on_a_phone(practice_live, new_page):
    site, server, gold = practice_live
    page = new_page(viewport={"width": 360, "height": 640}, has_touch=True, is_mobile=True,
                    device_scale_factor=2)
    problems = _watch(page)
    page.goto(f"{server.url}/login/{site.tokens['ann2']}")
    page.click("#first-guidelines summary")  # read, folded away
    clip = _practice_clip(page)
    # As on the annotator page: all seven buttons on a 360x640 screen, 44 px targets.
    boxes = page.eval_on_selector_all("#practice-form button.emotion", """els => els.map(e =>
        { const r = e.getBoundingClientRect();
          return [r.top, r.bottom, r.right, r.width, r.height]; })""")
    assert len(boxes) == 7
    for top, bottom, right, width, height in boxes:
        assert top >= 0 and bottom <= 640 and right <= 360 and min(width, height) >= 44
    assert page.is_visible("#practice-form ~ .hint .tap-hint")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "practice-phone.png"))
    _playable(page)
    page.keyboard.press("r")  # replay is not a vote
    page.keyboard.press("x")  # nor is any other key
    page.wait_for_timeout(200)
    assert page.url == f"{server.url}/practice"
    # Two presses before the page changes are one practice vote (dispatched in one task,
    # so the second surely reaches this page).
    page.evaluate("""['6', '1'].forEach(key => document.dispatchEvent(
        new KeyboardEvent('keydown', {key: key, bubbles: true})))""")
    page.wait_for_url(f"{server.url}/practice?after={clip}")
    with site.workspace.session() as s:
        assert s.scalar(select(func.count()).select_from(PracticeVote)) == 1
        assert s.scalar(select(PracticeVote.emotion)) == 6
    assert BY_CODE[6].name in page.inner_text("#practice-feedback")
    assert problems == []
