"""Lesion detection endpoints: explicit matching, FROC, CPM, CAMELYON16, (w)AFROC.

Public API (implementation in the private ``_detection_*`` and ``_froc_fom``
modules, split for size):

* :class:`MatchingRule`, :func:`match_detections` -> :class:`DetectionMatch`:
  marks against lesion truth under a declared hit criterion, one-to-one
  assignment and double-detection / ignore-lesion handling.
* :func:`froc_analysis` -> :class:`DetectionResult` (and the one-call
  :func:`evaluate_detection`): lesion sensitivity and FPs per image at the locked
  threshold, FROC curve with a bootstrap band, CPM, CAMELYON16 score, AFROC and
  wAFROC, all with case- or patient-bootstrap CIs.
* :func:`froc_curve` -> :class:`FrocCurve`: the empirical curve from ratings.
* Reader-study FROC data: :func:`froc_figure_of_merit` and
  :func:`froc_fom_arrays` (-> :class:`FomArrays`, with the case jackknife the
  MRMC module's OR/DBM tests need).

References
----------
Chakraborty DP, Berbaum KS. Med Phys 2004;31(8):2313-2330. doi:10.1118/1.1769352.
Chakraborty DP. Observer Performance Methods for Diagnostic Imaging. CRC Press,
2017; RJafroc. doi:10.1201/9781351228190.
Bandos AI et al. Biometrics 2009;65(1):247-256. doi:10.1111/j.1541-0420.2008.01049.x.
Setio AAA et al. (LUNA16). Med Image Anal 2017;42:1-13. doi:10.1016/j.media.2017.06.015.
Ehteshami Bejnordi B et al. (CAMELYON16). JAMA 2017;318(22):2199-2210.
doi:10.1001/jama.2017.14585.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from validation.stats._detection_froc import (
    CAMELYON16_FP_RATES,
    CPM_FP_RATES,
    DEFAULT_BAND_FP_RATES,
    DetectionResult,
    FrocBand,
    FrocCurve,
    froc_analysis,
    froc_curve,
)
from validation.stats._detection_matching import DetectionMatch, MatchingRule, match_detections
from validation.stats._froc_fom import FROC_FOMS, FomArrays, froc_figure_of_merit, froc_fom_arrays

__all__ = [
    "CAMELYON16_FP_RATES",
    "CPM_FP_RATES",
    "FROC_FOMS",
    "DetectionMatch",
    "DetectionResult",
    "FomArrays",
    "FrocBand",
    "FrocCurve",
    "MatchingRule",
    "evaluate_detection",
    "froc_analysis",
    "froc_curve",
    "froc_figure_of_merit",
    "froc_fom_arrays",
    "match_detections",
]


def evaluate_detection(
    marks: pd.DataFrame,
    truth: pd.DataFrame,
    *,
    cases: Sequence[Any],
    rule: MatchingRule,
    threshold: float,
    clusters: Sequence[Any] | None = None,
    lesion_masks: Mapping[Any, Any] | None = None,
    confidence_level: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    band_fp_rates: ArrayLike = DEFAULT_BAND_FP_RATES,
) -> DetectionResult:
    """Match marks to lesions, then run :func:`froc_analysis` (one call).

    Parameters are those of :func:`match_detections` and :func:`froc_analysis`;
    ``clusters`` is aligned with ``cases``.

    Examples
    --------
    >>> import pandas as pd
    >>> marks = pd.DataFrame({"case_id": ["a", "b"], "x0": [0, 0], "y0": [0, 0],
    ...                       "x1": [4, 4], "y1": [4, 4], "score": [0.8, 0.6]})
    >>> truth = pd.DataFrame({"case_id": ["a"], "lesion_id": [1], "x0": [1], "y0": [1],
    ...                       "x1": [3], "y1": [3]})
    >>> r = evaluate_detection(marks, truth, cases=["a", "b", "c"],
    ...     rule=MatchingRule("center_in_box"), threshold=0.5, n_resamples=100, rng=1)
    >>> r.sensitivity.estimate, round(r.fp_per_image.estimate, 4)
    (1.0, 0.3333)

    References
    ----------
    See :func:`match_detections` and :func:`froc_analysis`.
    """
    match = match_detections(marks, truth, cases=cases, rule=rule, lesion_masks=lesion_masks)
    return froc_analysis(
        match,
        threshold=threshold,
        clusters=clusters,
        confidence_level=confidence_level,
        n_resamples=n_resamples,
        rng=rng,
        band_fp_rates=band_fp_rates,
    )
