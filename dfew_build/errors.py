"""Typed errors raised by the library. Only the CLI turns them into click errors.

Every message names the file, row or value at fault and what to do about it.
"""


class DfewError(Exception):
    """Base class of every error the library raises on purpose."""


class WorkspaceError(DfewError):
    """No workspace, or a workspace that cannot be used."""


class ConfigError(DfewError):
    """dfew.toml is malformed or holds an invalid value."""


class DatabaseError(DfewError):
    """The database cannot be reached, or its schema cannot be brought up to date."""


class ProbeError(DfewError):
    """A file is not a readable video. The message is the reason stored on the movie."""


class MetadataError(DfewError):
    """The movie metadata CSV cannot be used as a whole (unreadable, no key column)."""


class SampleMediaError(DfewError):
    """The real sample media could not be fetched or failed its checksum."""
