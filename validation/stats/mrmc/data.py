"""Arranging tidy readings into arrays, figures of merit and their covariance.

Private module of :mod:`validation.stats.mrmc` (public names are re-exported there).
Readings become ``scores[m, r, k]`` with a ``present`` mask; FOMs come back as
``fom[m, r]`` and the leave-one-case-out ``jackknife[m, r, k]``; the OR covariance of
the FOMs is estimated by the jackknife, DeLong, the unbiased U-statistic estimator or
a stratified case bootstrap.

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL. Biometrics 1988;44:837-845.
doi:10.2307/2531595
Gallas BD, Pennello GA, Myers KJ. Multireader multicase variance analysis for binary
data. J Opt Soc Am A 2007;24:B70-B80. doi:10.1364/JOSAA.24.000B70
Smith BJ, Hillis SL. MRMCaov (R package), ``jackknife()``, ``DeLong()``, ``unbiased()``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from validation.errors import ReadingsError
from validation.stats._checks import as_rng, required
from validation.stats._params import Options, Real, validate_params
from validation.stats.detection.fom import froc_fom_arrays
from validation.stats.mrmc import core
from validation.stats.mrmc.fom import (
    GroupedScores,
    auc_arrays,
    auc_values,
    placements,
    proportion_arrays,
    weighted_auc,
)
from validation.stats.mrmc.readings import detect_design, validate_readings

__all__ = ["reader_foms"]

ROC_FOMS = ("auc", "sensitivity", "specificity")
METHODS = ("or", "dbm")
COVARIANCES = ("jackknife", "delong", "unbiased", "bootstrap")
ANALYSES = ("RRRC", "FRRC", "RRFC")


def _digit_key(s: str) -> tuple[tuple[int, int, str], ...]:
    return tuple((0, int(p), p) if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", s))


def natural_order(values: Any) -> list[str]:
    """IDs in natural order: numerically when all are numbers, else digit runs as numbers."""
    vals = [str(v) for v in values]
    try:
        return sorted(vals, key=lambda v: (float(v), v))
    except ValueError:
        return sorted(vals, key=_digit_key)


# ------------------------------------------------------------------------ arranging
@dataclass(frozen=True)
class Arranged:
    modalities: list[str]
    readers: list[str]
    cases: list[str]
    grouped: GroupedScores
    design: str


def arrange_readings(readings: pd.DataFrame, design: str | None) -> Arranged:
    frame = validate_readings(readings, design=design)
    found = detect_design(frame)
    if design is None:
        design = found
    mods = natural_order(frame["modality"].unique())
    rdrs = natural_order(frame["reader"].unique())
    cases = [str(c) for c in pd.unique(frame["case"])]
    mi = pd.Index(mods).get_indexer(frame["modality"])
    ri = pd.Index(rdrs).get_indexer(frame["reader"])
    ci = pd.Index(cases).get_indexer(frame["case"])
    scores = np.zeros((len(mods), len(rdrs), len(cases)))
    present = np.zeros(scores.shape, dtype=bool)
    scores[mi, ri, ci] = frame["score"].to_numpy(dtype=float)
    present[mi, ri, ci] = True
    truth = np.zeros(len(cases), dtype=np.int8)
    truth[ci] = frame["truth"].to_numpy()
    return Arranged(mods, rdrs, cases, GroupedScores(scores, present, truth), design)


def fom_arrays(
    arr: Arranged, fom: str, threshold: float | None
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """FOM (M, R), jackknife over the relevant cases, and the relevant-case mask."""
    if fom == "auc":
        f, j = auc_arrays(arr.grouped)
        return f, j, np.ones(len(arr.cases), dtype=bool)
    if threshold is None:
        raise ValueError(f"fom={fom!r} needs a decision threshold (threshold=); got None")
    return proportion_arrays(arr.grouped, threshold=float(threshold), which=fom)


@validate_params(
    {
        "fom": [Options(ROC_FOMS)],
        "threshold": [Real, None],
    }
)
def reader_foms(
    readings: pd.DataFrame, *, fom: str = "auc", threshold: float | None = None
) -> pd.DataFrame:
    """Figure of merit of every reader in every modality.

    Parameters
    ----------
    readings : pandas.DataFrame
        Tidy readings ``reader, modality, case, truth, score``.
    fom : {"auc", "sensitivity", "specificity"}
        Empirical (Wilcoxon) AUC, or sensitivity / specificity at ``threshold``
        (a reading is positive when ``score >= threshold``).
    threshold : float, optional
        Needed for sensitivity and specificity.

    Returns
    -------
    pandas.DataFrame
        Columns ``modality, reader, fom``.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"reader": "a", "modality": "x", "case": ["1", "2", "3"],
    ...                   "truth": [0, 1, 1], "score": [1.0, 2.0, 1.0]})
    >>> reader_foms(f)["fom"].tolist()
    [0.75]

    References
    ----------
    Hanley JA, McNeil BJ. The meaning and use of the area under a ROC curve.
    Radiology 1982;143:29-36. doi:10.1148/radiology.143.1.7063747
    """
    arr = arrange_readings(readings, None)
    if fom == "auc":
        values = auc_values(arr.grouped)
    else:
        if threshold is None:
            raise ValueError(f"fom={fom!r} needs a decision threshold (threshold=); got None")
        values = _proportion_value(arr.grouped, float(threshold), fom)
    return fom_frame(arr.modalities, arr.readers, values)


def _proportion_value(g: GroupedScores, threshold: float, which: str) -> NDArray[np.float64]:
    target = 1 if which == "sensitivity" else 0
    rel = (g.truth == target)[None, None, :] & g.present
    hit = (g.scores >= threshold) if target == 1 else (g.scores < threshold)
    n = rel.sum(axis=-1)
    if (n == 0).any():
        raise ReadingsError(
            f"{which} is undefined: some reader and modality read no "
            f"{'diseased' if target else 'non-diseased'} case"
        )
    return np.asarray((hit & rel).sum(axis=-1) / n)


def fom_frame(mods: list[str], rdrs: list[str], values: NDArray[np.float64]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "modality": np.repeat(mods, len(rdrs)),
            "reader": np.tile(rdrs, len(mods)),
            "fom": values.reshape(-1),
        }
    )


def froc_inputs(
    marks: pd.DataFrame, truth: pd.DataFrame | None, fom: str, design: str | None
) -> tuple[Any, Any, list[str], list[str], str]:
    if truth is None:
        raise ValueError(f"fom={fom!r} needs the FROC truth table (truth=)")
    if design not in (None, "fully_crossed"):
        raise ValueError(f"FROC FOMs need fully crossed data; got design={design!r}")

    fa = froc_fom_arrays(marks, truth, fom=fom)
    mods = natural_order(fa.modalities)
    rdrs = natural_order(fa.readers)
    mi = [list(fa.modalities).index(m) for m in mods]
    ri = [list(fa.readers).index(r) for r in rdrs]
    fom_m = np.asarray(fa.fom)[np.ix_(mi, ri)]
    jack = np.asarray(fa.jackknife)[np.ix_(mi, ri)]
    return fom_m, jack, mods, rdrs, "fully_crossed"


def fom_covariance(
    arr: Arranged,
    fom: str,
    covariance: str,
    jack: NDArray[np.float64],
    relevant: NDArray[np.bool_],
    threshold: float | None,
    rng: np.random.Generator | int | None,
    n_resamples: int,
) -> NDArray[np.float64]:
    g = arr.grouped
    if covariance == "jackknife":
        return core.jackknife_cov(jack)
    if covariance in ("delong", "unbiased") and fom != "auc":
        raise ValueError(f"covariance {covariance!r} is for fom='auc', got fom={fom!r}")
    if covariance == "delong":
        if not g.fully_crossed:
            raise ValueError(
                f"DeLong covariance needs fully crossed data (as in MRMCaov); these readings "
                f"are {arr.design} — use covariance='jackknife' or 'unbiased'"
            )
        v10, v01 = placements(g.scores, g.truth)
        return core.delong_cov(v10, v01)
    if covariance == "unbiased":
        with np.errstate(invalid="ignore", divide="ignore"):
            return core.unbiased_cov(g.scores, g.present, g.truth)
    # bootstrap: resample cases within truth strata; covariance of the resampled FOMs
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    gen = as_rng(rng)
    m_, r_, c_ = g.scores.shape
    pos = np.flatnonzero(g.truth == 1)
    neg = np.flatnonzero(g.truth == 0)
    weights = np.zeros((n_resamples, c_))
    for idx in (pos, neg):
        draws = gen.integers(0, len(idx), size=(n_resamples, len(idx)))
        for b in range(n_resamples):
            weights[b, idx] = np.bincount(draws[b], minlength=len(idx))
    boot = np.empty((n_resamples, m_, r_))
    for m in range(m_):
        for r in range(r_):
            if not g.present[m, r].any():  # readers nested in modalities
                boot[:, m, r] = 0.0
                continue
            w = weights * g.present[m, r][None, :]
            if fom == "auc":
                with np.errstate(invalid="ignore", divide="ignore"):
                    boot[:, m, r] = weighted_auc(g.scores[m, r], g.truth, w)
            else:
                threshold = required(threshold, "the decision threshold")
                target = 1 if fom == "sensitivity" else 0
                rel = g.truth == target
                hit = (g.scores[m, r] >= threshold) if target else (g.scores[m, r] < threshold)
                with np.errstate(invalid="ignore", divide="ignore"):
                    boot[:, m, r] = (w[:, rel] * hit[rel]).sum(1) / w[:, rel].sum(1)
    ok = np.isfinite(boot).all(axis=(1, 2))
    if ok.sum() < 2:
        raise ValueError("too few bootstrap resamples had both truth classes for every reader")
    flat = boot[ok].reshape(int(ok.sum()), m_ * r_)
    return np.asarray(np.cov(flat, rowvar=False, ddof=1)).reshape(m_, r_, m_, r_)
