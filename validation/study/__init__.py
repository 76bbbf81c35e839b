"""The study: a locked protocol in, ``results.json`` (and the report) out.

:func:`run_study` (:mod:`.runner`) is a short list of named stages over private
collaborators: :mod:`.inputs` (manifest, scores and model records, case alignment,
random streams), :mod:`.endpoints` and :mod:`.criteria` (endpoint estimates, tests and
acceptance decisions), :mod:`.analyses` (ROC, calibration, subgroups, reader study,
detection, segmentation records), :mod:`.tables` (the user's marks, lesions, predictions
and readings tables), :mod:`.document` (the ``results.json`` document) and :mod:`.checks`
(``radval protocol check``: every problem of a protocol and the files it names).
"""

from validation.study.checks import check_study_protocol
from validation.study.runner import (
    RESULTS_FILE,
    StudyOutcome,
    dumps_results,
    load_results,
    results_schema,
    run_study,
    validate_results,
)

__all__ = [
    "RESULTS_FILE",
    "StudyOutcome",
    "check_study_protocol",
    "dumps_results",
    "load_results",
    "results_schema",
    "run_study",
    "validate_results",
]
