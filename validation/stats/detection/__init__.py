"""Lesion detection endpoints: explicit matching, FROC, CPM, CAMELYON16, (w)AFROC.

Public API (implementation in :mod:`.matching`, :mod:`.froc`, :mod:`.fom` and
:mod:`.evaluate`):

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

from validation.stats.detection.evaluate import evaluate_detection
from validation.stats.detection.fom import (
    FROC_FOMS,
    FomArrays,
    froc_figure_of_merit,
    froc_fom_arrays,
)
from validation.stats.detection.froc import (
    CAMELYON16_FP_RATES,
    CPM_FP_RATES,
    DetectionResult,
    FrocBand,
    FrocCurve,
    froc_analysis,
    froc_curve,
)
from validation.stats.detection.matching import DetectionMatch, MatchingRule, match_detections

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
