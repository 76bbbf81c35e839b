"""Error types shared across radval.

Every error caused by bad *input* (a manifest, a DICOM file, a protocol, a readings
file, a checkpoint) derives from :class:`InputError`; the CLI turns it into a
one-line message and exit code 2 without a traceback. Its message must say which
file, row and field were wrong, what was expected and what was found.
"""

from __future__ import annotations


class RadvalError(Exception):
    """Base class of every radval error."""


class InputError(RadvalError, ValueError):
    """Invalid user input; the CLI exits with code 2 and prints the message."""


class DicomReadError(InputError):
    """A DICOM file could not be read; the message names the file and the reason."""


class ManifestError(InputError):
    """A manifest is invalid; the message names the file, row and column."""


class ReadingsError(InputError):
    """A reader-study readings file is invalid."""


class ProtocolError(InputError):
    """A study protocol is invalid or does not match its lock."""


class CheckpointError(InputError):
    """A model checkpoint is missing, has the wrong sha256 or cannot be loaded safely."""


class UndefinedMetricError(RadvalError, ValueError):
    """A metric is undefined on the given data (e.g. AUC with no positive cases).

    Statistics never return NaN for an undefined metric; they raise this, and the
    caller (the study runner, by the protocol's rule) decides whether to stop or
    to record ``not_estimable``.
    """


class StorageError(InputError):
    """A file could not be written or read: a full disk, a read-only folder, a file where a
    folder is expected. The message names the path; nothing already written was changed."""


class PublishError(InputError):
    """A CI or tracking output could not be produced: an output path that would overwrite a file
    radval records, MLflow not installed or not configured (``MLFLOW_TRACKING_URI``), a tracking
    server that refuses or cannot be reached, a model card's run that does not exist. The message
    says what was already written; it never contains credentials."""
