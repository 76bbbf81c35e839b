"""The study: a locked protocol in, ``results.json`` (and the report) out.

:func:`run_study` (:mod:`.runner`) is a short list of named stages over private
collaborators: :mod:`.inputs` (manifest, scores and model records, case alignment,
random streams), :mod:`.endpoints` and :mod:`.criteria` (endpoint estimates, tests and
acceptance decisions), :mod:`.analyses` (ROC, calibration, subgroups, reader study,
detection, segmentation records), :mod:`.tables` (the user's marks, lesions, predictions
and readings tables), :mod:`.document` (the ``results.json`` document), :mod:`.folder`
(the study folder's lock and the atomic commit of its evidence) and :mod:`.checks`
(``radval protocol check``: every problem of a protocol and the files it names). The
document's typed model and its reading and writing live in :mod:`validation.results`.
"""

from validation.study.checks import check_study_protocol
from validation.study.runner import StudyOutcome, run_study

__all__ = ["StudyOutcome", "check_study_protocol", "run_study"]
