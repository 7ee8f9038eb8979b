"""The annotator page by keyboard in a real Chromium (issue 15): tab order (skip link,
navigation, then the seven emotion buttons, before the guidelines link and the player's
controls, while the player still shows above the buttons), and undo in place (U or
Backspace: the previous clip with the vote shown, no page load; the revision goes on to
the clip that was left), with the page-load undo kept where JavaScript does not run."""

from __future__ import annotations

from tests.browser.test_annotation_browser import _on_clip, _wait_until
from tests.browser.test_pages_browser import live  # noqa: F401  (the fixture)
from tests.browser.conftest import SHOTS
from tests.browser.test_pages_browser import _log_in, _queue, _votes, _watch

# What has the keyboard focus: its id, "emotion-K" for an emotion button, else tag:text.
FOCUSED_JS = """() => { const e = document.activeElement;
  if (e.id) return e.id;
  if (e.dataset && e.dataset.key) return 'emotion-' + e.dataset.key;
  return e.tagName.toLowerCase() + ':' + e.textContent.trim().replace(/\\s+/g, ' '); }"""
NAVIGATION = ["a:Skip to main content", "a:Next clip", "a:My votes", "a:Guidelines",
              "button:Log out"]
BUTTONS = [f"emotion-{k}" for k in range(1, 8)]


def _tab_stops(page, n: int) -> list[str]:
    stops = []
    for _ in range(n):
        page.keyboard.press("Tab")
        stops.append(page.evaluate(FOCUSED_JS))
    return stops


def _box(page, selector):
    return page.eval_on_selector(selector, "e => { const r = e.getBoundingClientRect(); "
                                           "return {top: r.top, bottom: r.bottom}; }")


def test_tab_reaches_the_emotion_buttons_before_the_player(live, new_page):
    site, server = live
    first = _queue(site, "ann1")[0]
    page = new_page(viewport={"width": 1100, "height": 900})
    problems = _watch(page)
    _log_in(page, server, site, "ann1")
    page.goto(f"{server.url}/annotate")  # the second visit: the guidelines are folded away
    _on_clip(page, first)
    page.evaluate("window.noReload = true")
    stops = _tab_stops(page, 24)
    print("\ntab order: " + ", ".join(stops))
    assert stops[:12] == NAVIGATION + BUTTONS
    assert stops[12] == "guidelines-link"
    # Then the player: the video's own controls (focus inside them is the <video>) and
    # Replay, all after the buttons.
    assert "clip-video" in stops[13:] and "replay" in stops[13:]
    assert stops.index("clip-video") > 12
    # The layout is as before: hint, then the player, then the buttons below it.
    hint, video, button = (_box(page, s) for s in
                           ("#hint", "#clip-video", 'button[data-key="1"]'))
    assert hint["bottom"] <= video["top"] and video["bottom"] <= button["top"]

    # The skip link: shown when focused, and Enter moves on to the buttons, no reload.
    page.goto(f"{server.url}/annotate")
    _on_clip(page, first)
    page.evaluate("window.noReload = true")
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED_JS) == NAVIGATION[0]
    skip = page.eval_on_selector(".skip-link", "e => e.getBoundingClientRect().left")
    assert skip >= 0  # on screen while focused
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "skip-link.png"))
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate(FOCUSED_JS) == "emotion-1"
    assert page.evaluate("window.noReload === true")
    assert problems == []


def _shown(page) -> dict:
    return page.evaluate("""() => ({
        clip: Number(document.getElementById('clip-video').dataset.clip),
        form: Number(document.getElementById('vote-form').dataset.clip),
        chosen: [...document.querySelectorAll('button.emotion.chosen')].map(b => b.value),
        current: document.getElementById('current-line').hidden ? null :
                 document.getElementById('current-vote').textContent,
        title: document.getElementById('clip-title').textContent,
        done: document.getElementById('progress-done').textContent,
        url: location.pathname + location.search,
        marker: window.noReload === true})""")


def _wait_shown(page, clip: int) -> dict:
    _wait_until(page, f"Number(document.getElementById('clip-video').dataset.clip) === {clip}")
    return _shown(page)


def test_undo_in_place_shows_the_previous_clip_and_vote(live, new_page):
    site, server = live
    first, second, third = _queue(site, "ann1")[:3]
    page = new_page(viewport={"width": 1100, "height": 900})
    problems = _watch(page)
    _log_in(page, server, site, "ann1")
    _on_clip(page, first)
    page.evaluate("window.noReload = true")  # gone if a page loads
    _wait_until(page, f"document.querySelector('video[data-clip=\"{second}\"]') !== null")
    page.keyboard.press("3")
    _wait_until(page, "document.getElementById('progress-done').textContent === '1'")
    assert _wait_shown(page, second)["current"] is None

    # Timed: key press to the previous clip's video shown and loaded (readyState >= 1).
    page.evaluate(f"""() => {{
        document.addEventListener('keydown', () => {{ window.pressed = performance.now(); }},
                                  {{capture: true, once: true}});
        const poll = setInterval(() => {{
          const v = document.getElementById('clip-video');
          if (window.pressed && v && v.dataset.clip === '{first}' && v.readyState >= 1) {{
            window.undoMs = performance.now() - window.pressed;
            clearInterval(poll);
          }}
        }}, 1);
    }}""")
    page.keyboard.press("u")
    shown = _wait_shown(page, first)
    _wait_until(page, "window.undoMs !== undefined")
    print(f"\nundo: key press -> previous clip shown and loaded: "
          f"{page.evaluate('window.undoMs'):.1f} ms")
    assert shown == {"clip": first, "form": first, "chosen": ["3"], "current": "neutral",
                     "title": f"Revise your vote on clip {first}", "done": "1",
                     "url": f"/annotate/clip/{first}?undo=1", "marker": True}
    _wait_until(page, "document.getElementById('clip-video').readyState >= 1")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "undo.png"), full_page=True)

    # The revision goes on to the clip that was left (kept loaded), and is not a new vote.
    page.keyboard.press("4")
    shown = _wait_shown(page, second)
    assert shown["chosen"] == [] and shown["current"] is None and shown["done"] == "1"
    assert shown["url"] == f"/annotate/clip/{second}" and shown["marker"]
    assert page.evaluate("document.getElementById('clip-video').readyState") >= 1
    _wait_until(page, f"document.querySelector('video[data-clip=\"{third}\"]') !== null")
    assert _votes(site, "ann1") == {first: 4}

    # Two undos in a row walk back two votes; the revision then goes to the unvoted clip.
    page.keyboard.press("5")  # second: surprise
    _wait_until(page, "document.getElementById('progress-done').textContent === '2'")
    _wait_shown(page, third)
    page.keyboard.press("Backspace")
    assert _wait_shown(page, second)["chosen"] == ["5"]
    page.keyboard.press("u")
    shown = _wait_shown(page, first)
    assert shown["chosen"] == ["4"] and shown["current"] == "angry" and shown["done"] == "2"
    page.keyboard.press("6")
    shown = _wait_shown(page, third)
    assert shown["chosen"] == [] and shown["marker"]
    _wait_until(page, "document.querySelectorAll('video').length >= 1")
    assert _votes(site, "ann1") == {first: 6, second: 5}
    page.keyboard.press("u")  # back to the last vote: clip `first`, now disgust
    assert _wait_shown(page, first)["chosen"] == ["6"]
    assert page.evaluate("window.noReload === true")
    assert problems == []


def test_undo_page_without_javascript(live, new_page):
    """Without JavaScript there is no U key; the undo page (/annotate/clip/N?undo=1, also
    what a reload after an in-place undo shows) takes the revision and goes on to the next
    clip."""
    site, server = live
    first, second = _queue(site, "ann1")[:2]
    page = new_page(java_script_enabled=False)
    _log_in(page, server, site, "ann1")
    page.click('button[data-key="2"]')
    page.wait_for_selector(f'video[data-clip="{second}"]')
    page.goto(f"{server.url}/annotate/clip/{first}?undo=1")
    assert "chosen" in page.get_attribute('button[data-key="2"]', "class")
    assert page.inner_text("#current-vote") == "sad"
    page.click('button[data-key="7"]')  # POST, 303 to the next clip
    page.wait_for_selector(f'video[data-clip="{second}"]')
    assert page.url == f"{server.url}/annotate"
    assert _votes(site, "ann1") == {first: 7}
