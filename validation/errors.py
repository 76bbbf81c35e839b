"""Error types shared across radval.

Every error caused by bad *input* (a manifest, a DICOM file, a protocol, a readings
file, a checkpoint) derives from :class:`InputError`; the CLI turns it into a
one-line message and exit code 2 without a traceback. Its message must say which
file, row and field were wrong, what was expected and what was found.
"""

from __future__ import annotations

from enum import IntEnum


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


class DicomWebError(InputError):
    """A DICOMweb server refused, failed or answered something unusable (the message names
    the server without credentials, the request and what was expected)."""


class UnknownMetricError(KeyError, InputError):
    """A metric name that is not in the registry (the message lists the known names)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ModelSpecError(InputError):
    """A model spec is invalid; the message names the file and the field path of each problem."""


class AuditError(InputError):
    """An audit log is missing, unreadable or fails verification."""


class StudyBusyError(AuditError):
    """Another radval process holds the study folder's lock."""


class StudyExistsError(InputError):
    """The output folder already holds a study and ``force`` was not given."""


class StudyStop(InputError):
    """The protocol says to stop: an endpoint is undefined on the data (``on_undefined: error``)."""


class ReportError(InputError):
    """A study folder cannot be rendered (missing or invalid results, bad template folder)."""


class PlanningError(InputError):
    """A study plan's inputs cannot give a sample size (``radval plan``)."""


class ResultsSchemaError(RadvalError, RuntimeError):
    """A results document radval built does not conform to its schema: an internal error."""


class PublishError(InputError):
    """A CI or tracking output could not be produced: an output path that would overwrite a file
    radval records, MLflow not installed or not configured (``MLFLOW_TRACKING_URI``), a tracking
    server that refuses or cannot be reached, a model card's run that does not exist. The message
    says what was already written; it never contains credentials."""


class ExitCode(IntEnum):
    """Process exit codes of every ``radval`` command (``DESIGN.md`` §9)."""

    OK = 0
    #: A pre-specified criterion failed (``monitor``: an alarm); outputs are still written.
    CRITERION_FAILED = 1
    #: Invalid input: one line naming the file, row and field.
    INPUT_ERROR = 2
    #: An internal error: a bug, not a verdict.
    INTERNAL_ERROR = 3
    #: Interrupted by the user (Ctrl-C).
    ABORTED = 130


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code an exception ends a command with: the one mapping of errors to codes.

    Invalid input (:class:`InputError`) and data on which a declared analysis is undefined
    and the study stops (:class:`UndefinedMetricError`) are ``INPUT_ERROR`` (2); an
    interrupt is ``ABORTED``; anything else is an ``INTERNAL_ERROR`` (3), never 1, which
    means "a criterion failed".
    """
    if isinstance(exc, InputError | UndefinedMetricError):
        return ExitCode.INPUT_ERROR
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.ABORTED
    return ExitCode.INTERNAL_ERROR
