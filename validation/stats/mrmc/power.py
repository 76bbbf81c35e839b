"""Power and sample size of a future MRMC study from pilot OR variance components.

Private module of :mod:`validation.stats.mrmc` (public names re-exported there).

Method of Hillis, Obuchowski & Berbaum (2011) for the OR random-readers,
random-cases test of two modalities. The pilot's error-covariance components
(``var_error, cov1, cov2, cov3``) estimate quantities that scale with ``1/C``, so
for ``C*`` cases they are multiplied by ``C_pilot / C*``; ``var_tr`` (and ``var_r``)
do not depend on the number of cases. With ``R*`` readers and effect ``d``:

``den = var_tr + var_error* - cov1* + (R* - 1) max(cov2* - cov3*, 0)``,
``lambda = R* d^2 / (2 den)``,
``ddf = den^2 / ((var_tr + var_error* - cov1* - max(cov2* - cov3*, 0))^2 / (R* - 1))``,
and the power is ``P(F'(1, ddf; lambda) > F_{1-alpha}(1, ddf))``. A negative pilot
``var_tr`` is set to 0, as the paper advises.

References
----------
Hillis SL, Obuchowski NA, Berbaum KS. Power estimation for multireader ROC methods:
an updated and unified approach. Acad Radiol 2011;18:129-142.
doi:10.1016/j.acra.2010.09.007
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from scipy import stats

from validation.stats._checks import check_confidence_level
from validation.stats._params import UNIT_INTERVAL, validate_params
from validation.stats._results import ResultMixin

__all__ = ["MRMCPower", "mrmc_power", "mrmc_sample_size"]

_KEYS = ("var_tr", "var_error", "cov1", "cov2", "cov3")


@dataclass(frozen=True)
class MRMCPower(ResultMixin):
    """Power of the OR RRRC test for a planned study.

    Attributes
    ----------
    power : float
    effect : float
        The difference in reader-averaged FOM to detect.
    n_readers, n_cases : int
    df_den : float
        Hillis (2007) denominator degrees of freedom expected for the planned study.
    noncentrality : float
    confidence_level : float
        ``1 - alpha`` of the two-sided test.
    """

    power: float
    effect: float
    n_readers: int
    n_cases: int
    df_den: float
    noncentrality: float
    confidence_level: float

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as they are (unlike the generic form, ``inf`` stays a float)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def variance_components_dict(
    variance_components: Any, pilot_n_cases: int | None
) -> tuple[dict[str, float], int]:
    vc = variance_components
    if hasattr(vc, "variance_components") and hasattr(vc, "n_cases"):
        if getattr(vc, "method", "or") != "or":
            raise ValueError("power needs OR variance components (method='or')")
        if pilot_n_cases is None:
            pilot_n_cases = int(vc.n_cases)
        vc = vc.variance_components
    if not isinstance(vc, Mapping):
        raise ValueError(
            "variance_components must be an MRMCResult or a dict with keys "
            f"{_KEYS}; got {type(vc).__name__}"
        )
    missing = [k for k in _KEYS if k not in vc]
    if missing:
        raise ValueError(f"variance_components lacks {missing}; expected keys {_KEYS}")
    if pilot_n_cases is None or pilot_n_cases < 2:
        raise ValueError(
            "pilot_n_cases (the pilot study's number of cases) is required "
            f"with a dict of components and must be >= 2; got {pilot_n_cases!r}"
        )
    return {k: float(vc[k]) for k in _KEYS}, int(pilot_n_cases)


def _power(c: dict[str, float], c0: int, effect: float, r: int, n: int, level: float) -> MRMCPower:
    scale = c0 / n
    var_tr = max(c["var_tr"], 0.0)
    ve, c1 = c["var_error"] * scale, c["cov1"] * scale
    d23 = max((c["cov2"] - c["cov3"]) * scale, 0.0)
    den = var_tr + ve - c1 + (r - 1) * d23
    ms_tr = var_tr + ve - c1 - d23
    if den <= 0:
        raise ValueError(
            "the variance components give a non-positive test variance "
            f"({den!r}); check the pilot components"
        )
    ddf = den**2 / (ms_tr**2 / (r - 1)) if ms_tr > 0 else math.inf
    lam = r * effect**2 / (2.0 * den)
    crit = stats.f.ppf(level, 1, ddf)
    pw = float(stats.ncf.sf(crit, 1, ddf, lam)) if lam > 0 else float(1 - level)
    return MRMCPower(
        power=pw,
        effect=float(effect),
        n_readers=r,
        n_cases=n,
        df_den=float(ddf),
        noncentrality=float(lam),
        confidence_level=level,
    )


@validate_params(
    {
        "confidence_level": [UNIT_INTERVAL],
    }
)
def mrmc_power(
    variance_components: Any,
    *,
    effect: float,
    n_readers: int,
    n_cases: int,
    confidence_level: float = 0.95,
    pilot_n_cases: int | None = None,
) -> MRMCPower:
    """Power of the OR random-readers random-cases test for a planned two-modality study.

    Parameters
    ----------
    variance_components : MRMCResult or dict
        Pilot OR components (``var_tr, var_error, cov1, cov2, cov3``), e.g. from
        ``mrmc_analysis(pilot).variance_components`` or the result itself.
    effect : float
        Difference in reader-averaged FOM to detect (e.g. 0.05 in AUC).
    n_readers, n_cases : int
        The planned study (``n_readers >= 2``).
    confidence_level : float
        ``1 - alpha`` of the two-sided test.
    pilot_n_cases : int, optional
        Cases in the pilot (taken from an MRMCResult when given one).

    Returns
    -------
    MRMCPower

    Examples
    --------
    >>> vc = {"var_tr": 2e-4, "var_error": 8e-4, "cov1": 3.5e-4, "cov2": 3.4e-4, "cov3": 2.4e-4}
    >>> p = mrmc_power(vc, effect=0.05, n_readers=5, n_cases=114, pilot_n_cases=114)
    >>> 0 < p.power < 1
    True

    References
    ----------
    Hillis SL, Obuchowski NA, Berbaum KS. Power estimation for multireader ROC methods:
    an updated and unified approach. Acad Radiol 2011;18:129-142.
    doi:10.1016/j.acra.2010.09.007
    """
    level = check_confidence_level(confidence_level)
    comps, c0 = variance_components_dict(variance_components, pilot_n_cases)
    if int(n_readers) < 2 or int(n_cases) < 2:
        raise ValueError(f"need n_readers >= 2 and n_cases >= 2; got {n_readers}, {n_cases}")
    return _power(comps, c0, float(effect), int(n_readers), int(n_cases), level)


@validate_params(
    {
        "power": [UNIT_INTERVAL],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def mrmc_sample_size(
    variance_components: Any,
    *,
    effect: float,
    power: float = 0.8,
    n_readers: Iterable[int] = range(3, 21),
    confidence_level: float = 0.95,
    pilot_n_cases: int | None = None,
    max_cases: int = 100_000,
) -> pd.DataFrame:
    """Fewest cases giving the target power, for each number of readers.

    Parameters
    ----------
    variance_components, effect, confidence_level, pilot_n_cases
        As for :func:`mrmc_power`.
    power : float
        Target power.
    n_readers : iterable of int
        Reader counts to tabulate.
    max_cases : int
        Search limit; when even ``max_cases`` cases fall short (reader variability
        dominates) the row has ``achievable = False`` and no case count.

    Returns
    -------
    pandas.DataFrame
        Columns ``n_readers, n_cases`` (nullable int), ``power`` (achieved, nullable),
        ``achievable``.

    Examples
    --------
    >>> vc = {"var_tr": 2e-4, "var_error": 8e-4, "cov1": 3.5e-4, "cov2": 3.4e-4, "cov3": 2.4e-4}
    >>> t = mrmc_sample_size(vc, effect=0.05, n_readers=[5, 10], pilot_n_cases=114)
    >>> list(t.columns)
    ['n_readers', 'n_cases', 'power', 'achievable']

    References
    ----------
    Hillis SL, Obuchowski NA, Berbaum KS. Acad Radiol 2011;18:129-142.
    doi:10.1016/j.acra.2010.09.007
    """
    level = check_confidence_level(confidence_level)
    if not 0 < power < 1:
        raise ValueError(f"power must be in (0, 1), got {power!r}")
    comps, c0 = variance_components_dict(variance_components, pilot_n_cases)
    rows: list[dict[str, Any]] = []
    for r in n_readers:
        r = int(r)
        if r < 2:
            raise ValueError(f"n_readers must be >= 2, got {r}")
        top = _power(comps, c0, float(effect), r, max_cases, level)
        if top.power < power:
            rows.append({"n_readers": r, "n_cases": None, "power": None, "achievable": False})
            continue
        lo, hi = 2, max_cases  # power(lo) may already suffice
        if _power(comps, c0, float(effect), r, lo, level).power >= power:
            hi = lo
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _power(comps, c0, float(effect), r, mid, level).power >= power:
                hi = mid
            else:
                lo = mid
        achieved = _power(comps, c0, float(effect), r, hi, level).power
        rows.append({"n_readers": r, "n_cases": hi, "power": achieved, "achievable": True})
    out = pd.DataFrame(rows, columns=["n_readers", "n_cases", "power", "achievable"])
    out["n_cases"] = out["n_cases"].astype("Int64")
    out["power"] = out["power"].astype("Float64")
    return out
