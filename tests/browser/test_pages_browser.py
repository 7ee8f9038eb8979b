"""Every page for every role in a real Chromium: no console errors or CSP violations, an
axe-core scan without serious/critical violations, readable (WCAG AA) emotion buttons, the
next clip swapped in without a reload (timed), the plain form without JavaScript, undo,
unmute, a 360x640 phone, and screenshots of the button states in $TMPDIR/dfew-shots
($DFEW_SHOTS), for a person to look at."""

from __future__ import annotations

import statistics

import pytest
from sqlalchemy import select

from annotation_server import Settings, create_app
from dfew_build.db.models import Vote
from tests.annotation_data import build_site
from tests.browser.conftest import SHOTS, LiveServer
from tests.browser.test_annotation_browser import _on_clip, _wait_until

AA = 4.5

# WCAG 2 contrast of an element's text on its own background (both opaque here).
CONTRAST_JS = """(el) => {
  function rgb(value) { return value.match(/[\\d.]+/g).slice(0, 3).map(Number); }
  function lum(c) {
    const [r, g, b] = c.map(function (v) { v /= 255;
      return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  }
  const style = getComputedStyle(el);
  const a = lum(rgb(style.color)), b = lum(rgb(style.backgroundColor));
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


@pytest.fixture
def live(tmp_path):
    site = build_site(tmp_path / "ws", annotators=2, clips=5, per_clip=2)
    app = create_app(Settings.from_workspace(site.workspace, secret_key="browser-test"))
    with LiveServer(app) as server:
        yield site, server
    site.workspace.close()


def _log_in(page, server, site, name):
    page.goto(f"{server.url}/login/{site.tokens[name]}")


def _queue(site, name):
    from annotation_server.annotating import queue
    from dfew_build.annotation.assign import queue_order

    with site.workspace.session() as s:
        return queue(s, site.ids[name], queue_order(site.workspace.config))


def _votes(site, name):
    with site.workspace.session() as s:
        return dict(s.execute(select(Vote.clip_id, Vote.emotion).where(
            Vote.annotator_id == site.ids[name])).all())


def _watch(page) -> list[str]:
    """Console errors, page errors and CSP violations of the page, as they come."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    return problems


def _axe(page, axe_source) -> list[str]:
    """Serious and critical axe-core violations of the page. Injected through the DevTools
    protocol (page.evaluate): the page's CSP rightly blocks an injected <script>."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source)
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})"
                           ".then(r => r.violations.map(v => ({id: v.id, impact: v.impact, "
                           "nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)})))")
    return [f"{v['id']} ({v['impact']}): {v['nodes']}" for v in result
            if v["impact"] in ("serious", "critical")]


def test_every_page_every_role_is_clean_and_accessible(live, new_page, axe_source):
    site, server = live
    first = _queue(site, "ann1")[0]
    other = 999  # not assigned to ann1: a 403 page
    pages = {
        None: ["/login", "/login/not-a-token"],
        "ann1": ["/annotate", "/annotate", f"/annotate/clip/{first}", "/annotate/history",
                 "/guidelines", f"/annotate/clip/{other}", "/no-such-page",
                 f"/login/{site.tokens['ann2']}"],
        "extractor1": ["/extract", f"/extract/movie/{site.movie_id}", "/guidelines",
                       "/annotate"],
        "admin1": ["/admin", "/admin/clips", "/guidelines"],
    }
    found = {}
    for role, paths in pages.items():
        page = new_page()
        problems = _watch(page)
        if role:
            _log_in(page, server, site, role)
        for path in paths:
            response = page.goto(server.url + path)
            page.wait_for_load_state("load")
            expected_error = path in ("/no-such-page", f"/annotate/clip/{other}") or \
                (role == "extractor1" and path == "/annotate") or path.endswith("not-a-token")
            assert (response.status >= 400) == expected_error, (role, path, response.status)
            if role:
                # Error pages too keep the person's own navigation.
                assert page.locator(".nav .who").count() == 1, (role, path)
            page.wait_for_timeout(150)  # late console messages (media, favicon)
            if not found:  # the scan can fail: a button without a name is critical
                page.evaluate("document.body.appendChild(document.createElement('button'))")
                assert any(v.startswith("button-name") for v in _axe(page, axe_source))
                page.evaluate("document.body.lastElementChild.remove()")
            violations = _axe(page, axe_source)
            found[(role, path)] = violations
            # Console 4xx of the deliberate error pages are the navigation itself.
            errors = [p for p in problems if "status of 40" not in p]
            assert errors == [], (role, path, errors)
            assert violations == [], (role, path, violations)
            problems.clear()
        if role:
            # The navigation shows only pages the role may open.
            links = page.eval_on_selector_all(".nav a", "els => els.map(e => e.href)")
            for link in links:
                assert page.goto(link).status == 200, (role, link)
    assert page.request.get(f"{server.url}/favicon.ico").status == 200
    print(f"\naxe-core: {len(found)} pages, serious/critical violations: "
          f"{sum(len(v) for v in found.values())}")


def _contrasts(page, selector):
    return page.eval_on_selector_all(selector, f"els => els.map({CONTRAST_JS})")


def test_emotion_buttons_are_readable_in_every_state(live, new_page):
    site, server = live
    first, second = _queue(site, "ann1")[:2]
    page = new_page(viewport={"width": 1100, "height": 900})
    _log_in(page, server, site, "ann1")
    page.goto(f"{server.url}/annotate")  # the second visit: guidelines folded away
    _on_clip(page, first)
    SHOTS.mkdir(parents=True, exist_ok=True)
    ratios = {"default": _contrasts(page, "button.emotion")}
    assert len(ratios["default"]) == 7
    page.screenshot(path=str(SHOTS / "default.png"), full_page=True)
    ratios["focused"] = []
    for key in range(1, 8):
        page.focus(f'button[data-key="{key}"]')
        ratios["focused"] += _contrasts(page, "button.emotion:focus")
    page.focus('button[data-key="1"]')  # happy, the light yellow one
    page.keyboard.press("Tab")
    page.keyboard.press("Shift+Tab")  # keyboard focus: :focus-visible ring shows too
    page.screenshot(path=str(SHOTS / "focused.png"), full_page=True)
    # Chosen: the class the server puts on the annotator's own vote, on each in turn.
    ratios["chosen"] = []
    for key in range(1, 8):
        page.evaluate(f"""document.querySelectorAll('button.emotion').forEach(b =>
            b.classList.toggle('chosen', b.dataset.key === '{key}'))""")
        page.evaluate("document.activeElement.blur()")
        ratios["chosen"] += _contrasts(page, "button.emotion.chosen")
        if key == 4:  # a dark one (white text), beside the yellow of the real vote below
            page.screenshot(path=str(SHOTS / "chosen-angry.png"), full_page=True)
    print("\ncontrast (happy..fear): " + "; ".join(
        f"{state} " + ", ".join(f"{r:.2f}" for r in values) for state, values in ratios.items()))
    for state, values in ratios.items():
        assert len(values) == 7 and min(values) >= AA, (state, values)
    # And the real thing: the revise page of a clip voted happy shows it chosen.
    page.keyboard.press("1")
    _on_clip(page, second)
    page.goto(f"{server.url}/annotate/clip/{first}")
    assert "chosen" in page.get_attribute('button[data-key="1"]', "class")
    assert min(_contrasts(page, "button.emotion.chosen")) >= AA
    page.screenshot(path=str(SHOTS / "chosen.png"), full_page=True)


def test_vote_swaps_the_next_clip_in_without_a_reload(live, new_page):
    site, server = live
    order = _queue(site, "ann1")
    page = new_page()
    problems = _watch(page)
    _log_in(page, server, site, "ann1")
    _on_clip(page, order[0])
    page.evaluate("window.noReload = true")
    page.evaluate("""() => {
        window.timings = [];
        document.addEventListener('keydown', () => { window.pressed = performance.now(); },
                                  true);
        setInterval(() => {
          const v = document.getElementById('clip-video');
          if (window.pressed && v && v.dataset.clip !== window.lastClip && v.readyState >= 3) {
            window.timings.push(performance.now() - window.pressed);
            window.pressed = null;
            window.lastClip = v.dataset.clip;
          }
        }, 1);
        window.lastClip = document.getElementById('clip-video').dataset.clip;
    }""")
    for n, clip in enumerate(order[1:], 1):
        # The next clip is prefetched while this one plays.
        _wait_until(page, f"(v => v && v.readyState >= 3)"
                          f"(document.querySelector('video[data-clip=\"{clip}\"]'))")
        page.keyboard.press(str(n))
        _wait_until(page, f"window.timings.length === {n}")
        assert page.url == f"{server.url}/annotate/clip/{clip}"  # history.pushState
        _wait_until(page, f"document.getElementById('progress-done').textContent === '{n}'")
    timings = page.evaluate("window.timings")
    print(f"\nkey press -> next clip readyState>=3: median {statistics.median(timings):.1f} ms, "
          f"max {max(timings):.1f} ms over {len(timings)} votes")
    assert max(timings) < 250
    assert page.evaluate("window.noReload === true")  # no page load in between
    _wait_until(page, f"document.getElementById('progress-done').textContent === "
                      f"'{len(order) - 1}'")
    assert _votes(site, "ann1") == {c: n for n, c in enumerate(order[:-1], 1)}
    page.keyboard.press("7")  # the last one: on to the done page
    page.wait_for_selector("text=All done")
    assert _votes(site, "ann1")[order[-1]] == 7
    assert problems == []


def test_plain_form_without_javascript(live, new_page):
    site, server = live
    first, second = _queue(site, "ann1")[:2]
    page = new_page(java_script_enabled=False)
    _log_in(page, server, site, "ann1")
    assert page.url == f"{server.url}/annotate"
    page.click('button[data-key="2"]')  # POST, 303, GET
    page.wait_for_selector(f'video[data-clip="{second}"]')
    assert page.url == f"{server.url}/annotate"
    assert page.inner_text("#progress-done") == "1"
    assert _votes(site, "ann1") == {first: 2}
    # CSRF is enforced on the plain form and on the fetch alike: a forged token is refused.
    for accept in ("text/html", "application/json"):
        response = page.request.post(f"{server.url}/annotate/clip/{second}/vote",
                                     form={"emotion": "5", "csrf_token": "forged"},
                                     headers={"Accept": accept}, max_redirects=0)
        assert response.status == 403, accept
    assert _votes(site, "ann1") == {first: 2}


def test_unmute_button_when_autoplay_falls_back_to_muted(live, chromium):
    site, server = live
    context = chromium.new_context()
    try:
        # The browser refuses autoplay with sound (as without a user gesture).
        context.add_init_script("""(() => {
          const play = HTMLMediaElement.prototype.play;
          HTMLMediaElement.prototype.play = function () {
            if (!this.muted && !window.gesture) {
              return Promise.reject(new DOMException('no gesture', 'NotAllowedError'));
            }
            return play.call(this);
          };
          document.addEventListener('click', () => { window.gesture = true; }, true);
        })()""")
        page = context.new_page()
        _log_in(page, server, site, "ann1")
        page.wait_for_selector("#unmute", state="visible")
        assert page.evaluate("document.getElementById('clip-video').muted")
        page.click("#unmute")
        assert not page.evaluate("document.getElementById('clip-video').muted")
        assert page.is_hidden("#unmute")
    finally:
        context.close()


def test_phone_shows_all_buttons_with_big_targets(live, new_page):
    site, server = live
    page = new_page(viewport={"width": 360, "height": 640}, has_touch=True, is_mobile=True,
                    device_scale_factor=2)
    _log_in(page, server, site, "ann1")
    page.goto(f"{server.url}/annotate")  # after the first visit's guidelines
    _on_clip(page, _queue(site, "ann1")[0])
    boxes = page.eval_on_selector_all("button.emotion", """els => els.map(e => {
        const r = e.getBoundingClientRect();
        return {top: r.top, bottom: r.bottom, left: r.left, right: r.right,
                width: r.width, height: r.height}; })""")
    assert len(boxes) == 7
    for box in boxes:
        assert box["top"] >= 0 and box["bottom"] <= 640 and box["right"] <= 360, box
        assert box["width"] >= 44 and box["height"] >= 44, box
    assert page.evaluate("window.scrollY") == 0
    assert page.is_visible(".tap-hint") and page.is_hidden(".keys-hint")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "phone.png"))


def test_guidelines_from_the_workspace_without_raw_html(live, new_page):
    site, server = live
    (site.workspace.root / "guidelines.md").write_text(
        "# Our rules\n\n**Fear** lasts.\n\n<script>alert(1)</script>\n")
    page = new_page()
    problems = _watch(page)
    _log_in(page, server, site, "ann1")
    # Shown on the first clip page after login, and linked from every annotate page.
    assert "Our rules" in page.inner_text("#first-guidelines")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "first-visit.png"), full_page=True)
    page.goto(f"{server.url}/annotate")
    assert page.locator("#first-guidelines").count() == 0  # once
    page.click("#guidelines-link")
    assert page.inner_text("#guidelines h1") == "Our rules"
    assert page.inner_text("#guidelines strong") == "Fear"
    assert "<script>alert(1)</script>" in page.inner_text("#guidelines")  # shown, not run
    assert page.locator("#guidelines script").count() == 0
    assert problems == []
    (site.workspace.root / "guidelines.md").unlink()  # the default, as a campaign starts
    page.reload()
    assert "Angry or disgust?" in page.inner_text("#guidelines")
    page.screenshot(path=str(SHOTS / "guidelines.png"), full_page=True)
