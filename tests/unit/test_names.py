"""The one validator for names people type (issue 17 item 16)."""

import pytest

from dfew_build.errors import PeopleError
from dfew_build.names import check_name, describe, name_problem, unsafe_character


@pytest.mark.parametrize("char, shown", [
    ("\x00", "U+0000 NULL"), ("\x1b", "U+001B ESCAPE"), ("\x07", "U+0007 BELL"),
    ("\r", "U+000D CARRIAGE RETURN"), ("\x7f", "U+007F DELETE"),
    ("\x9b", "U+009B CONTROL SEQUENCE INTRODUCER"), ("\x80", "U+0080 <control>"),
    ("\u202e", "U+202E RIGHT-TO-LEFT OVERRIDE"), ("\u202a", "U+202A LEFT-TO-RIGHT EMBEDDING"),
    ("\u2066", "U+2066 LEFT-TO-RIGHT ISOLATE"), ("\u2069", "U+2069 POP DIRECTIONAL ISOLATE"),
    ("\u200f", "U+200F RIGHT-TO-LEFT MARK"), ("\u061c", "U+061C ARABIC LETTER MARK"),
    ("\u2028", "U+2028 LINE SEPARATOR"), ("\ud800", "U+D800 <unnamed>"),
])
def test_refused_characters_are_named(char, shown):
    text = f"Ann{char}Lee"
    assert unsafe_character(text)[0] == 3
    assert describe(char) == shown
    assert f"contains {shown} (" in name_problem(text) and "at position 4" in name_problem(text)
    with pytest.raises(PeopleError, match="remove it and use plain text"):
        check_name(text, error=PeopleError)


@pytest.mark.parametrize("text", ["Zoë Brontë", "Zoe\u0308", "王芳", "محمد", "שרה",
                                  "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",  # ZWNJ
                                  "👩\u200d🔬 Kim", "O'Brien-Smith", "Ann $\\foo{ x$"])
def test_plain_names_pass(text):
    assert name_problem(text) is None and check_name(text) == text


def test_the_message_shows_the_name_escaped():
    assert name_problem("Ann\x1b[2K\rBob", "the annotator name") == (
        "the annotator name 'Ann\\x1b[2K\\rBob' contains U+001B ESCAPE (a control character) "
        "at position 4, which a terminal or browser would act on instead of showing; remove it "
        "and use plain text")
    assert "'Zoë \\u202eevil'" in name_problem("Zoë \u202eevil")  # é kept, U+202E escaped


def test_quoted_shows_a_name_as_typed_and_escapes_only_unsafe_ones():
    from dfew_build.names import quoted

    assert quoted("Ann $\\foo{ x$") == "'Ann $\\foo{ x$'"   # one backslash, as typed
    assert quoted("Zoë") == "'Zoë'"
    assert quoted("bad\x1b[31m") == "'bad\\x1b[31m'"       # stored before names were checked
