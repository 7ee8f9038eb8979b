"""dfew-build: build and benchmark dynamic facial expression datasets the way DFEW was built."""

__version__ = "0.1.0"
