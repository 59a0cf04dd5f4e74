"""Errors a user can act on. Each message says what was wrong and what to do about it."""


class LatentforgeError(Exception):
    """Base class for every error latentforge raises on purpose."""


class DataError(LatentforgeError, ValueError):
    """A dataset could not be found, read or understood."""


class ConfigError(LatentforgeError, ValueError):
    """A configuration value is unknown, missing or out of range."""


class CheckpointError(LatentforgeError):
    """A saved model or training checkpoint is missing, corrupt or incompatible."""


class TrainingError(LatentforgeError, RuntimeError):
    """Training had to stop (for example on a non-finite loss)."""


class OutputError(LatentforgeError, OSError):
    """An output path cannot be written: a missing or read-only folder, a full disk, a target that is not a
    regular file (a directory or a device), or an empty name."""


class IntegrityError(CheckpointError):
    """A saved file does not match the SHA-256 recorded beside it, or holds non-finite weights."""


class RunLockedError(TrainingError):
    """Another process is training in the same run directory."""
