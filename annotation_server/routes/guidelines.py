"""The annotation guidelines (WS/guidelines.md, rendered from Markdown) and /favicon.ico.

The Markdown file is the admin's to edit; a sensible default describing DFEW's seven
emotions is written when it is missing. Raw HTML in it is not passed through (markdown-it
with html off escapes it), so the page stays under the strict CSP. An annotator sees them
once, inline and open, on their first clip page after login, or on their first practice
page when there is a practice round (a cookie remembers it); every annotate and practice
page links here.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

from annotation_server.deps import current_person
from annotation_server.rendering import PACKAGE_DIR, render
from dfew_build.logins import Login

router = APIRouter()
SEEN_COOKIE = "dfew_guidelines_seen"
DEFAULT = """# Annotation guidelines

Watch the whole clip (replay it with **R** or **Space** if you need to), then choose the
**one** emotion the **main person** shows most clearly. Judge the face, voice and body
together, as a viewer of the film would; do not guess what the film's story implies.

## The seven emotions

1. **Happy** — joy, amusement, relief, a real smile or laughter.
2. **Sad** — grief, disappointment, crying, a downcast face, a breaking voice.
3. **Neutral** — no clear emotion; calm talking, listening, thinking.
4. **Angry** — irritation to rage: frowning, glaring, shouting, clenched jaw or fists.
5. **Surprise** — a sudden reaction to the unexpected: raised brows, open mouth, a gasp.
   It may be pleasant or unpleasant, but it is brief.
6. **Disgust** — revulsion or contempt: wrinkled nose, raised upper lip, turning away from
   something repellent (a smell, a sight, a person's behaviour).
7. **Fear** — fright, anxiety, terror: wide eyes, tense face, pulling back, trembling.

## Ambiguous cases

- **Angry or disgust?** Anger pushes *towards* its target (glare, shout); disgust pulls
  *away* from it (nose wrinkled, lip raised, turning aside).
- **Surprise or fear?** Surprise is a short start that passes; fear lasts and shows threat
  (tension, retreat). If the surprise turns into fright within the clip, choose fear.
- **Happy or surprise?** A pleasant surprise that ends in a smile is happy.
- **Two emotions in one clip?** Choose the one that dominates most of the clip.
- **Not sure at all?** Choose your best guess: ten people vote on every clip, and an
  honest guess helps more than a skipped clip.

## When to report a problem instead of voting

Open **Report a problem with this clip** (it is not a vote) when there is **no face**
(only the back of a head, the person is off screen), **several people** and it is unclear
who the main person is, the video **does not play**, or the clip is otherwise unusable.

## Keys

**1**–**7** vote, **R** or **Space** replays, **U** or **Backspace** goes back to your
last vote so you can change it. On a phone, tap the emotion.
"""


def guidelines_file(request: Request) -> Path | None:
    """WS/guidelines.md, written with the default text when it is missing."""
    path = Path(request.app.state.settings.workspace_root) / "guidelines.md"
    if not path.exists():
        try:
            path.write_text(DEFAULT, encoding="utf-8")
        except OSError:  # a read-only workspace: show the default without storing it
            return None
    return path


def render_markdown(text: str) -> str:
    """Markdown to HTML without raw HTML passthrough (escaped instead) or unsafe links."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).render(text)


def guidelines_html(request: Request) -> str:
    path = guidelines_file(request)
    return render_markdown(path.read_text(encoding="utf-8") if path is not None else DEFAULT)


def remember_guidelines_seen(request: Request, response) -> None:
    response.set_cookie(SEEN_COOKIE, "1", max_age=10 * 365 * 86400, httponly=True,
                        samesite="lax", secure=request.app.state.settings.https)


@router.get("/guidelines")
async def guidelines(request: Request, person: Login = Depends(current_person)):
    response = render(request, "guidelines.html", {"body": guidelines_html(request)},
                      person=person)
    remember_guidelines_seen(request, response)
    return response


@router.get("/favicon.ico", include_in_schema=False)
async def favicon():
    return FileResponse(PACKAGE_DIR / "static" / "favicon.ico", media_type="image/x-icon",
                        headers={"Cache-Control": "public, max-age=86400"})
