"""Exceptions with messages an operator can act on.  The CLI turns each into one line and an exit code."""


class CloudPyPIError(Exception):
    """Base class: the message is meant for the operator."""

    exit_code = 1


class ConfigError(CloudPyPIError):
    exit_code = 2


class UnsafeInput(CloudPyPIError):
    """Origin data (a name, filename or URL) that would escape the target or break an invariant."""


class OriginError(CloudPyPIError):
    """The origin answered something unusable for one request, after retries."""


class IntegrityError(CloudPyPIError):
    """Downloaded bytes do not match the hash or size that the origin announced."""


class BundleRefused(CloudPyPIError):
    """A bundle that cannot be applied as it is (damaged, hostile, out of sequence), or a bundle that
    cannot be made as asked: nothing was written."""

    exit_code = 2


class LockHeld(CloudPyPIError):
    """Another sync holds the target's lock."""

    exit_code = 75  # EX_TEMPFAIL: try again later


class StorageError(CloudPyPIError):
    pass


class Stopping(CloudPyPIError):
    """A signal asked the sync to stop: work in flight is abandoned, what was complete stays."""

    exit_code = 143
