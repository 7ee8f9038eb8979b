"""The FFmpeg binary (imageio-ffmpeg's) and the filters that turn a movie's coded picture into
its displayed one, shared by every stage that writes video (clips, proxies).

FFmpeg's command line already rotates by the display matrix (``-autorotate`` is its
default); what it does not do by itself is deinterlace or square the pixels, so those
filters come from the movie's record (dfew_build.media.decode, DESIGN.md §7).
"""

from __future__ import annotations

from fractions import Fraction

from dfew_build.errors import ClipError


def ffmpeg_exe() -> str:
    """Path of the FFmpeg binary imageio-ffmpeg ships; ClipError naming the fix if absent."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise ClipError(f"no FFmpeg binary to cut clips with ({exc}); install it with: "
                        "pip install imageio-ffmpeg") from None


def parse_sar(value: str | None) -> Fraction:
    """'64:45' -> Fraction(64, 45); None, '', '0:1' or junk -> 1 (square pixels)."""
    if not value:
        return Fraction(1)
    try:
        num, den = (int(part) for part in str(value).split(":"))
    except ValueError:
        return Fraction(1)
    return Fraction(num, den) if num > 0 and den > 0 else Fraction(1)


# FFmpeg's autorotate for a display rotation (counter-clockwise degrees), and its inverse.
_ROTATE = {90: "transpose=cclock", 180: "hflip,vflip", 270: "transpose=clock"}
_UNROTATE = {90: "transpose=clock", 180: "hflip,vflip", 270: "transpose=cclock"}


def display_filters(*, interlaced: bool | None, sar: str | None,
                    field_order: str | None = None, rotation: int | None = None) -> list[str]:
    """FFmpeg -vf filters, in order, that make the decoded picture progressive with square
    pixels (rotation is left to FFmpeg's autorotate, applied before these).

    Deinterlacing: ``bwdif`` (one frame per frame, so the timeline and frame count stay),
    with the field order the ingest detected. Fields are rows of the *coded* picture, so
    for a rotated interlaced movie the autorotation is undone around bwdif (transposes are
    lossless). Square pixels: the width is scaled by the SAR (``scale=iw*sar:ih``, the
    usual anamorphic-to-square rule; transpose swaps the SAR with the axes), rounded to
    even so yuv420p encoders accept it, then ``setsar=1``.
    """
    filters: list[str] = []
    if interlaced:
        parity = {"tff": "tff", "bff": "bff"}.get(field_order or "", "auto")
        turn = int(rotation or 0) % 360
        if turn in _UNROTATE:
            filters.append(_UNROTATE[turn])
        filters.append(f"bwdif=mode=send_frame:parity={parity}:deint=all")
        if turn in _ROTATE:
            filters.append(_ROTATE[turn])
    if parse_sar(sar) != 1:
        filters.append("scale=trunc(iw*sar/2+0.5)*2:ih:flags=bicubic")
    filters.append("setsar=1")
    return filters
