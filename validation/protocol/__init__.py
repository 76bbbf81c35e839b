"""Study protocols: the schema (:mod:`.schema`), loading and checking (:mod:`.load`),
locks and deviations (:mod:`.lock`) and the generated reference (:mod:`.reference`)."""

from validation.protocol.load import LoadedProtocol, Problem, check_protocol, load_protocol
from validation.protocol.lock import (
    Lock,
    declare_deviation,
    lock_path_for,
    lock_protocol,
    read_lock,
    verify_lock,
)
from validation.protocol.schema import PROTOCOL_FORMAT_VERSION, Protocol

__all__ = [
    "PROTOCOL_FORMAT_VERSION",
    "LoadedProtocol",
    "Lock",
    "Problem",
    "Protocol",
    "check_protocol",
    "declare_deviation",
    "load_protocol",
    "lock_path_for",
    "lock_protocol",
    "read_lock",
    "verify_lock",
]
