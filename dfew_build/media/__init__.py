"""Movies: content fingerprint, probing, metadata and ingest."""

from dfew_build.media.fingerprint import fingerprint
from dfew_build.media.probe import ProbeResult, probe

__all__ = ["ProbeResult", "fingerprint", "probe"]
