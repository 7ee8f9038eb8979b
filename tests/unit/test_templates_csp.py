"""The pages' Content-Security-Policy (style-src/script-src 'self') blocks inline styles,
scripts and event handlers: none may appear in a template, and the per-emotion colours
the buttons need come from the stylesheet, in step with dfew_build.emotions."""

import re
from pathlib import Path

import annotation_server
from dfew_build.emotions import EMOTIONS

ROOT = Path(annotation_server.__file__).parent


def test_no_inline_style_script_or_handler_in_templates():
    offenders = []
    for template in sorted((ROOT / "templates").rglob("*.html")):
        for number, line in enumerate(template.read_text().splitlines(), 1):
            if re.search(r"\sstyle=|<script(?![^>]*\ssrc=)|\son[a-z]+=", line):
                offenders.append(f"{template.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_every_emotion_colour_is_in_the_stylesheet():
    css = (ROOT / "static" / "app.css").read_text()
    for e in EMOTIONS:
        assert f".emotion-{e.code} {{ --colour: {e.colour}; --on-colour: " in css, e.name
