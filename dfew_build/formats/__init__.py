"""Interop: the DFEW release layout (export and import) and Former-DFER list files.

See docs/formats.md for every file these modules read and write.
"""
