"""Krippendorff's alpha for nominal, ordinal, interval and ratio ratings, with a
bootstrap interval over cases."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from validation.errors import UndefinedMetricError
from validation.stats._checks import check_confidence_level
from validation.stats._params import RESAMPLES, UNIT_INTERVAL, Options, validate_params
from validation.stats._results import Estimate
from validation.stats.agreement.ratings import plain, rating_counts
from validation.stats.bootstrap import bootstrap_interval, bootstrap_weights

__all__ = ["ALPHA_LEVELS", "krippendorff_alpha"]

ALPHA_LEVELS = ("nominal", "ordinal", "interval", "ratio")

# bootstrap rows per chunk for the (rows x categories) marginals
_CHUNK = 256


def _ratio_delta2(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    """Krippendorff's ratio metric ((a - b) / (a + b))^2, 0 when a = b = 0."""
    total = a + b
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(total == 0.0, 0.0, (a - b) / total)
    return out**2


def _ordinal_positions(marg: NDArray[np.float64]) -> NDArray[np.float64]:
    """Krippendorff's ordinal metric as an interval metric on positions.

    ``delta_ck = sum_{g=c..k} n_g - (n_c + n_k) / 2`` equals ``M_k - M_c`` with
    ``M_g = sum_{h<g} n_h + n_g / 2``; works row-wise on a (rows x q) array.
    """
    return np.cumsum(marg, axis=-1) - marg / 2.0


class _Alpha:
    """Alpha as a function of per-unit sufficient statistics and unit weights.

    Observed disagreement is a weighted sum over units of ``d_u = c_u' Delta c_u /
    (m_u - 1)`` (``c_u`` the unit's value counts); expected disagreement is
    ``n' Delta n`` of the weighted marginals ``n``. Nominal and interval use closed
    forms; ordinal recomputes the rank positions from each row's marginals.
    """

    def __init__(self, counts: NDArray[np.float64], values: NDArray[np.float64], level: str):
        self.counts = counts
        self.values = values
        self.level = level
        self.m = counts.sum(axis=1)
        if level == "nominal":
            self.d = (self.m**2 - np.sum(counts**2, axis=1)) / (self.m - 1.0)
        elif level == "interval":
            centred = values - values.mean()  # alpha is shift invariant; less cancellation
            self.s1, self.s2 = counts @ centred, counts @ centred**2
            self.d = 2.0 * (self.m * self.s2 - self.s1**2) / (self.m - 1.0)
        elif level == "ratio":
            unit, cat = np.nonzero(counts)
            c = counts[unit, cat]
            # all (entry, entry) pairs inside a unit: sum_i nnz_i^2 rows
            starts = np.searchsorted(unit, np.arange(counts.shape[0]))
            sizes = np.diff(np.append(starts, unit.size))
            left = np.repeat(np.arange(unit.size), sizes[unit])
            offs = np.arange(left.size) - np.repeat(
                np.cumsum(sizes[unit]) - sizes[unit], sizes[unit]
            )
            right = starts[unit[left]] + offs
            contrib = c[left] * c[right] * _ratio_delta2(values[cat[left]], values[cat[right]])
            self.d = np.bincount(unit[left], weights=contrib, minlength=counts.shape[0])
            self.d = self.d / (self.m - 1.0)
            self.delta = _ratio_delta2(values[:, None], values[None, :])

    def parts(
        self, w: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
        """(N, observed numerator, expected numerator) for each row of unit weights."""
        n_values = w @ self.m
        if self.level == "interval":
            s1, s2 = w @ self.s1, w @ self.s2
            return n_values, w @ self.d, 2.0 * (n_values * s2 - s1**2)
        marg = w @ self.counts
        if self.level == "nominal":
            return n_values, w @ self.d, n_values**2 - np.sum(marg**2, axis=1)
        if self.level == "ratio":
            return n_values, w @ self.d, np.einsum("ra,ab,rb->r", marg, self.delta, marg)
        pos = _ordinal_positions(marg)  # rows x q
        a = self.counts @ pos.T  # units x rows: sum of positions of the unit's values
        b = self.counts @ (pos**2).T
        d = 2.0 * (self.m[:, None] * b - a**2) / (self.m[:, None] - 1.0)
        observed = np.einsum("ru,ur->r", w, d)
        expected = 2.0 * (
            n_values * np.sum(marg * pos**2, axis=1) - np.sum(marg * pos, axis=1) ** 2
        )
        return n_values, observed, expected

    def alpha(self, w: NDArray[np.float64]) -> NDArray[np.float64]:
        n_values, observed, expected = self.parts(w)
        out = np.full(n_values.shape, np.nan)
        ok = expected > 1e-12 * np.maximum(n_values, 1.0) ** 2 * self._scale
        out[ok] = 1.0 - (n_values[ok] - 1.0) * observed[ok] / expected[ok]
        return out

    @property
    def _scale(self) -> float:
        """Size of delta2 for two distinct values (to tell a zero D_e from rounding)."""
        if self.level == "interval":
            v = self.values
            return float(np.min(np.diff(np.unique(v))) ** 2) if v.size > 1 else 1.0
        return (
            1.0 if self.level != "ratio" else float(np.min(self.delta[self.delta > 0], initial=1.0))
        )


@validate_params(
    {
        "level": [Options(ALPHA_LEVELS)],
        "case": [str],
        "rater": [str],
        "label": [str],
        "confidence_level": [UNIT_INTERVAL],
        "ci_method": [Options(("percentile", "bca"))],
        "n_resamples": [RESAMPLES],
    }
)
def krippendorff_alpha(
    ratings: Any,
    *,
    level: str = "nominal",
    case: str = "case",
    rater: str = "rater",
    label: str = "label",
    labels: Sequence[Any] | None = None,
    confidence_level: float = 0.95,
    ci_method: str = "percentile",
    n_resamples: int = 2000,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
) -> Estimate:
    """Krippendorff's alpha with a bootstrap interval that resamples cases.

    ``alpha = 1 - D_o / D_e`` from the coincidence matrix of pairable values (values
    in cases with two or more ratings; missing ratings allowed):
    ``alpha = 1 - (N - 1) sum_ck o_ck delta2_ck / sum_ck n_c n_k delta2_ck`` with
    ``N`` pairable values, ``o_ck`` the coincidences and ``n_c`` their marginals. The
    difference function ``delta2`` is Krippendorff's: nominal ``1[c != k]``, ordinal
    ``(sum_{g=c..k} n_g - (n_c + n_k)/2)^2`` (ranks of the pooled values), interval
    ``(c - k)^2``, ratio ``((c - k) / (c + k))^2``.

    The interval resamples cases (the units) with replacement, recomputes alpha on
    each resample from weighted sufficient statistics (no data copied), and takes the
    percentile or BCa interval (:func:`~validation.stats.bootstrap_interval`; BCa uses
    the leave-one-case-out jackknife). Resamples in which alpha is undefined (a single
    pooled value) are dropped and counted in ``extra["n_undefined_resamples"]``. This
    is the case bootstrap recommended by Zapf et al. (2016); Krippendorff's own
    bootstrap (Hayes & Krippendorff 2007) resamples pairs of values instead.

    Parameters
    ----------
    ratings : pandas.DataFrame
        One row per rating (case, rater, label). For ``interval`` and ``ratio`` the
        labels must be numbers (ratio: non-negative).
    level : {"nominal", "ordinal", "interval", "ratio"}
    case, rater, label : str
        Column names.
    labels : sequence, optional
        Category order for ``ordinal`` when the labels do not sort naturally (an
        ordered Categorical's order is used too). Unused categories do not change
        alpha.
    confidence_level : float
    ci_method : {"percentile", "bca"}
    n_resamples : int
    rng : Generator, int, SeedSequence or None

    Returns
    -------
    Estimate
        ``method = "bootstrap_cases_percentile"`` or ``"bootstrap_cases_bca"``;
        ``n`` = cases with two or more ratings (the resampled units); ``extra``:
        ``level``, ``n_pairable_values``, ``d_observed``, ``d_expected``,
        ``n_resamples``, ``n_undefined_resamples``, ``n_cases_single_rating``,
        ``n_missing``.

    Raises
    ------
    ValueError
        Unknown level or interval method, non-numeric labels for interval/ratio,
        negative labels for ratio, a bad ratings table.
    UndefinedMetricError
        No case with two ratings, or one pooled value only (``D_e = 0``); fewer than
        two defined bootstrap resamples.

    References
    ----------
    Krippendorff K (2011). Computing Krippendorff's alpha-reliability. Annenberg
    School for Communication, University of Pennsylvania.
    https://repository.upenn.edu/asc_papers/43
    Hayes AF, Krippendorff K (2007). Answering the call for a standard reliability
    measure for coding data. Commun Methods Meas 1:77-89.
    doi:10.1080/19312450709336664.
    Zapf A, Castell S, Morawietz L, Karch A (2016). Measuring inter-rater reliability
    for nominal data - which coefficients and confidence intervals are appropriate?
    BMC Med Res Methodol 16:93. doi:10.1186/s12874-016-0200-9.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"case": [1, 1, 2, 2, 3, 3, 4, 4],
    ...                    "rater": ["A", "B"] * 4,
    ...                    "label": ["x", "x", "y", "y", "x", "y", "y", "y"]})
    >>> round(krippendorff_alpha(df, n_resamples=200, rng=0).estimate, 4)
    0.5333
    """
    conf = check_confidence_level(confidence_level)
    n_resamples = int(n_resamples)
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    rc = rating_counts(
        ratings,
        case=case,
        rater=rater,
        label=label,
        labels=labels,
        ordered=level == "ordinal",
    )
    if level in ("interval", "ratio"):
        try:
            values = np.asarray(rc.categories, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(
                f"level={level!r} needs numeric labels, found {plain(rc.categories[:3])!r}..."
            ) from None
        if not np.isfinite(values).all():
            bad = plain(values[~np.isfinite(values)][0])
            raise ValueError(f"level={level!r} needs finite labels, found {bad!r}")
        if level == "ratio" and (values < 0).any():
            raise ValueError(
                f"level='ratio' needs non-negative labels, found {plain(values[values < 0][0])!r}"
            )
    else:
        values = np.arange(len(rc.categories), dtype=np.float64)
    r = rc.raters_per_case
    pairable = r >= 2
    if not pairable.any():
        raise UndefinedMetricError(
            "Krippendorff's alpha is undefined: no case was rated by two or more raters"
        )
    counts = rc.counts[pairable].astype(np.float64)
    engine = _Alpha(counts, values, level)
    units = counts.shape[0]
    ones = np.ones((1, units))
    n_values, observed, expected = (float(v[0]) for v in engine.parts(ones))
    alpha = float(engine.alpha(ones)[0])
    if not np.isfinite(alpha):
        raise UndefinedMetricError(
            "Krippendorff's alpha is undefined: all pairable ratings have the same value "
            "(expected disagreement is 0)"
        )
    reps = []
    for w in bootstrap_weights(units, n_resamples=n_resamples, rng=rng, chunk_size=_CHUNK):
        reps.append(engine.alpha(w.astype(np.float64)))
    t = np.concatenate(reps)
    defined = np.isfinite(t)
    n_undefined = int((~defined).sum())
    if defined.sum() < 2:
        raise UndefinedMetricError(
            f"the bootstrap interval of alpha is undefined: {n_undefined} of {n_resamples} "
            "resamples hold a single value"
        )
    jack = None
    if ci_method == "bca":
        if units < 2:
            raise UndefinedMetricError("a BCa interval needs at least 2 cases")
        jack = engine.alpha(1.0 - np.eye(units))
        if not np.isfinite(jack).all():
            raise UndefinedMetricError(
                "BCa interval undefined: leaving out one case leaves a single value; "
                "use ci_method='percentile'"
            )
    low, high = bootstrap_interval(
        alpha, t[defined], method=ci_method, confidence_level=conf, jackknife=jack
    )
    return Estimate(
        estimate=alpha,
        ci_low=low,
        ci_high=high,
        confidence_level=conf,
        method=f"bootstrap_cases_{ci_method}",
        n=units,
        extra={
            "level": level,
            "n_pairable_values": int(n_values),
            "d_observed": observed / n_values,
            "d_expected": expected / (n_values * (n_values - 1.0)),
            "n_resamples": n_resamples,
            "n_undefined_resamples": n_undefined,
            "n_cases_single_rating": int((~pairable).sum()),
            "n_missing": rc.n_missing,
        },
    )
