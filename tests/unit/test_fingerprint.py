import hashlib
import os
import shutil

from dfew_build.media.fingerprint import SAMPLE_BYTES, bytes_read, fingerprint


def test_small_file_is_hashed_whole(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(b"abc")
    expected = hashlib.sha256(b"dfew-fp-v1" + (3).to_bytes(8, "little") + b"abc").hexdigest()
    assert fingerprint(path) == expected


def test_survives_rename_and_move(tmp_path):
    path = tmp_path / "movie.mkv"
    path.write_bytes(os.urandom(5 * SAMPLE_BYTES))
    before = fingerprint(path)
    (tmp_path / "elsewhere").mkdir()
    moved = shutil.move(path, tmp_path / "elsewhere" / "renamed.mkv")
    assert fingerprint(moved) == before


def test_large_file_reads_three_samples_and_sees_each(tmp_path):
    size = 8 * SAMPLE_BYTES
    data = bytearray(os.urandom(size))
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    base = fingerprint(path)
    assert bytes_read(size) == 3 * SAMPLE_BYTES
    # A change inside any sampled region changes the fingerprint...
    for offset in (10, (size - SAMPLE_BYTES) // 2 + 10, size - 10):
        changed = bytearray(data)
        changed[offset] ^= 0xFF
        path.write_bytes(changed)
        assert fingerprint(path) != base
    # ...and so does the size, even when every sample is unchanged.
    path.write_bytes(data + b"\0")
    assert fingerprint(path) != base
