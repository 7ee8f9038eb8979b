"""Bounds on every number and text a request may carry, so hostile input is a 4xx, never a
500: ids fit a 32-bit database integer (PostgreSQL's INTEGER; SQLite takes 64 bits but the
same bound holds everywhere), pages stay far below what an OFFSET can take, texts are short
and carry no NUL (PostgreSQL refuses NUL in text), and header numbers are parsed only when
short."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import AfterValidator, Field

MAX_ID = 2**31 - 1
MAX_PAGE = 1_000_000
MAX_TEXT = 2000


def _no_nul(value: str) -> str:
    # NUL and other C0 controls (but tab/newline) have no place in a note or reason.
    return "".join(ch for ch in value if ch >= " " or ch in "\t\n\r")


ClipId = Annotated[int, Path(ge=1, le=MAX_ID, description="a clip id")]
MovieId = Annotated[int, Path(ge=1, le=MAX_ID, description="a movie id")]
ReportId = Annotated[int, Path(ge=1, le=MAX_ID, description="a problem report id")]
Page = Annotated[int, Query(ge=1, le=MAX_PAGE)]
FormId = Annotated[int, Field(ge=1, le=MAX_ID)]
# Form text: give the length as Form("", max_length=MAX_TEXT).
Text = Annotated[str, AfterValidator(_no_nul)]
