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


class ProxyError(DfewError):
    """A proxy cannot be made as asked (unknown movie, no FFmpeg); per-movie failures are
    reported in ProxyReport.failed instead."""


class ExecutorError(DfewError):
    """An executor cannot be created or reached (Ray missing, no cluster at the address),
    or a job could not be run at all."""


class ServeError(DfewError):
    """The server cannot listen where asked (port in use, not an address of this machine),
    or stopped during start-up."""


class SampleMediaError(DfewError):
    """The real sample media could not be fetched or failed its checksum."""


class ClipError(DfewError):
    """A clip cannot be imported, proposed, confirmed or cut (the message names it)."""


class PeopleError(DfewError):
    """A person cannot be added, found or changed."""


class AssignmentError(DfewError):
    """Clips cannot be assigned as asked (e.g. too few active annotators)."""


class VoteError(DfewError):
    """Votes cannot be imported or exported as a whole (unreadable file, missing columns)."""


class LabelsError(DfewError):
    """Agreement or labels cannot be computed (e.g. no clip with 2 counted votes, or a
    --raters that almost no clip has)."""


class FacesError(DfewError):
    """Face preprocessing cannot run (bad options, unusable tensor store)."""


class DetectorError(FacesError):
    """A face detector cannot be created: missing model pack or weights, bad device."""


class SplitError(DfewError):
    """Folds cannot be made or found for a scheme."""


class FormatError(DfewError):
    """An export or a DFEW release import cannot proceed (the message names the file)."""


class TrainingError(DfewError):
    """A benchmark run cannot start, resume or be evaluated."""


class GoldError(DfewError):
    """A gold-clip mark or file that cannot be applied (the message says which and why)."""


class Interrupted(DfewError, KeyboardInterrupt):
    """A long stage stopped by Ctrl-C (SIGINT); still a KeyboardInterrupt, so code that
    stops on one keeps doing so. ``str()`` says what finished and is saved;
    ``resume`` is the command's own arguments that continue it (e.g. ``["train",
    "--resume", RUN]``), or None when running the same command line again does only what
    is missing. ``remaining``: the ids (clips, movies) not done, for a command given
    --redo/--again, whose same command line would redo the finished ones too. The CLI
    prints what finished and the command, and exits with status 130 (128 + SIGINT)."""

    exit_code = 130

    def __init__(self, done: str, resume: list[str] | None = None,
                 remaining: list[int] | None = None):
        super().__init__(done)
        self.resume = resume
        self.remaining = remaining
