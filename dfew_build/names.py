"""Names people type (persons, extractors, movie titles) must be plain text (issue 17 item 16).

A name is printed in terminal tables, CSV exports, the report and the web pages. Some
characters there are not text but instructions:

* control characters, C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F): ESC
  (U+001B) and CSI (U+009B) start terminal escape sequences (colours, cursor moves, a
  rewritten title bar, or a line erased so that "Ann" hides what came before), CR returns
  to the start of the line, NUL truncates strings in C libraries;
* bidirectional formatting: the embeddings and overrides U+202A–U+202E and the isolates
  U+2066–U+2069 reorder the text around them ("Trojan Source", CVE-2021-42574), and the
  invisible marks LRM U+200E, RLM U+200F and ALM U+061C make two names that look the same
  differ;
* line and paragraph separators (U+2028, U+2029) and lone surrogates (U+D800–U+DFFF, from
  undecodable bytes), which break lines or cannot be stored as UTF-8.

Other invisible characters stay allowed: ZWJ/ZWNJ (U+200D, U+200C) are part of how
Persian, Indic scripts and emoji are written. Whitespace is not refused here:
people.normalize_name turns any run of it into one space first.
"""

from __future__ import annotations

import unicodedata

BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
                          "\u200e\u200f\u061c")
_REFUSED_CATEGORIES = {"Cc": "a control character", "Cs": "a lone surrogate",
                       "Zl": "a line separator", "Zp": "a paragraph separator"}

# Control characters have no Unicode name ("<control>"); their standard aliases say more.
_C0 = ("NULL", "START OF HEADING", "START OF TEXT", "END OF TEXT", "END OF TRANSMISSION",
       "ENQUIRY", "ACKNOWLEDGE", "BELL", "BACKSPACE", "CHARACTER TABULATION", "LINE FEED",
       "LINE TABULATION", "FORM FEED", "CARRIAGE RETURN", "SHIFT OUT", "SHIFT IN",
       "DATA LINK ESCAPE", "DEVICE CONTROL ONE", "DEVICE CONTROL TWO", "DEVICE CONTROL THREE",
       "DEVICE CONTROL FOUR", "NEGATIVE ACKNOWLEDGE", "SYNCHRONOUS IDLE",
       "END OF TRANSMISSION BLOCK", "CANCEL", "END OF MEDIUM", "SUBSTITUTE", "ESCAPE",
       "INFORMATION SEPARATOR FOUR", "INFORMATION SEPARATOR THREE",
       "INFORMATION SEPARATOR TWO", "INFORMATION SEPARATOR ONE")
_C1 = {0x7F: "DELETE", 0x85: "NEXT LINE", 0x90: "DEVICE CONTROL STRING",
       0x9B: "CONTROL SEQUENCE INTRODUCER", 0x9C: "STRING TERMINATOR",
       0x9D: "OPERATING SYSTEM COMMAND", 0x9E: "PRIVACY MESSAGE",
       0x9F: "APPLICATION PROGRAM COMMAND"}


def character_name(char: str) -> str:
    """The Unicode name of one character (unicodedata.name), or a control character's
    standard alias ("ESCAPE"), else "<control>" / "<unnamed>"."""
    code = ord(char)
    if code < 0x20:
        return _C0[code]
    if code in _C1:
        return _C1[code]
    return unicodedata.name(char, "<control>" if unicodedata.category(char) == "Cc"
                            else "<unnamed>")


def describe(char: str) -> str:
    """'U+001B ESCAPE'."""
    return f"U+{ord(char):04X} {character_name(char)}"


def unsafe_character(text: str) -> tuple[int, str] | None:
    """The first refused character of `text` as (index, why), or None when it is plain."""
    for index, char in enumerate(text):
        if char in BIDI_CONTROLS:
            return index, "a bidirectional formatting character"
        why = _REFUSED_CATEGORIES.get(unicodedata.category(char))
        if why:
            return index, why
    return None


def name_problem(text: str, what: str = "the name") -> str | None:
    """Why `text` cannot be a name, or None. The message names the character (U+XXXX and its
    name), where it is (the name shown with escapes, safe to print) and the fix."""
    found = unsafe_character(text)
    if found is None:
        return None
    index, why = found
    # repr escapes every non-printable character (all the refused ones) and keeps "Zoë".
    return (f"{what} {text!r} contains {describe(text[index])} ({why}) at position "
            f"{index + 1}, which a terminal or browser would act on instead of showing; "
            "remove it and use plain text")


def check_name(text: str, what: str = "the name", error: type[Exception] = ValueError) -> str:
    """`text` unchanged when it is plain; `error` (a DfewError subclass at the callers) with
    name_problem's message otherwise."""
    problem = name_problem(text, what)
    if problem is not None:
        raise error(problem)
    return text


def quoted(text: str) -> str:
    """A name for a message: in single quotes as typed ("'Ann $\\foo'", not repr's doubled
    backslash); with repr's escapes when it holds a character a terminal would act on (a
    name stored before names were checked)."""
    return repr(text) if unsafe_character(text) else f"'{text}'"
