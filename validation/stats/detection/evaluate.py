"""One call for a study's detection endpoints: match, then FROC analysis."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from validation.stats._params import RESAMPLES, UNIT_INTERVAL, Real, validate_params
from validation.stats.detection.froc import (
    DEFAULT_BAND_FP_RATES,
    DetectionResult,
    froc_analysis,
)
from validation.stats.detection.matching import MatchingRule, match_detections

__all__ = ["evaluate_detection"]


@validate_params(
    {
        "threshold": [Real],
        "confidence_level": [UNIT_INTERVAL],
        "n_resamples": [RESAMPLES],
    }
)
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
