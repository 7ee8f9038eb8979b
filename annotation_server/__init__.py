"""The annotation web server (FastAPI). Built in its own issue; see docs/index.md."""
