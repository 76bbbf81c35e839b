"""Figures of merit for MRMC analysis on arrays: values and leave-one-case-out arrays.

Private module of :mod:`validation.stats.mrmc`. Every FOM here returns
``(fom, jackknife)`` with ``fom`` of shape ``(M, R)`` and ``jackknife[m, r, k]`` the FOM
of modality ``m`` and reader ``r`` with case ``k`` removed. The OR and DBM cores
(:mod:`validation.stats.mrmc.core`) only see these arrays, so any FOM with a
jackknife plugs in.

The empirical AUC's leave-one-case-out values have a closed form from the DeLong
placement values: removing diseased case ``i`` gives ``(K1*A - V10_i)/(K1 - 1)`` and
removing non-diseased case ``j`` gives ``(K0*A - V01_j)/(K0 - 1)``, where ``V10_i`` is
the fraction of non-diseased cases that diseased case ``i`` out-scores (ties count
1/2) and ``V01_j`` the fraction of diseased cases that out-score ``j``. Placement
values come from mid-ranks (Sun & Xu 2014), so the whole array costs one sort per
reader and modality instead of ``C`` AUC evaluations.

References
----------
DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or more
correlated ROC curves: a nonparametric approach. Biometrics 1988;44:837-845.
doi:10.2307/2531595
Sun X, Xu W. Fast implementation of DeLong's algorithm for comparing the areas under
correlated ROC curves. IEEE Signal Process Lett 2014;21:1389-1393.
doi:10.1109/LSP.2014.2337313
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.stats import rankdata

from validation.errors import UndefinedMetricError


@dataclass(frozen=True)
class GroupedScores:
    """Scores arranged as ``scores[m, r, k]`` with ``present[m, r, k]`` marking read cases."""

    scores: NDArray[np.float64]
    present: NDArray[np.bool_]
    truth: NDArray[np.int8]

    @property
    def fully_crossed(self) -> bool:
        return bool(self.present.all())


def placements(
    scores: NDArray[np.float64], truth: NDArray[np.int8]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """DeLong placement values along the last axis.

    Returns ``(v10, v01)``: ``v10[..., i]`` for diseased cases (fraction of non-diseased
    out-scored, ties 1/2) and ``v01[..., j]`` for non-diseased cases (fraction of
    diseased that out-score it, ties 1/2).
    """
    pos = truth == 1
    neg = ~pos
    k1 = int(pos.sum())
    k0 = int(neg.sum())
    if k1 == 0 or k0 == 0:
        raise UndefinedMetricError(
            f"AUC needs diseased and non-diseased cases; found {k1} diseased and {k0} non-diseased"
        )
    x = scores[..., pos]
    y = scores[..., neg]
    r_all = rankdata(scores, axis=-1, method="average")
    r_pos = rankdata(x, axis=-1, method="average")
    r_neg = rankdata(y, axis=-1, method="average")
    v10 = (r_all[..., pos] - r_pos) / k0
    v01 = 1.0 - (r_all[..., neg] - r_neg) / k1
    return v10, v01


def auc_arrays(g: GroupedScores) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Empirical (Wilcoxon) AUC per (m, r) and its leave-one-case-out array."""
    m_, r_, c_ = g.scores.shape
    fom = np.empty((m_, r_))
    jack = np.empty((m_, r_, c_))
    if g.fully_crossed:
        fom[:], jack[:] = _auc_jack_block(g.scores, g.truth)
        return fom, jack
    for m in range(m_):
        for r in range(r_):
            sel = g.present[m, r]
            if not sel.any():  # reader did not read this modality (readers nested)
                fom[m, r] = np.nan
                jack[m, r, :] = np.nan
                continue
            f, j = _auc_jack_block(g.scores[m, r, sel][None, :], g.truth[sel])
            fom[m, r] = f[0]
            jack[m, r, :] = f[0]
            jack[m, r, sel] = j[0]
    return fom, jack


def _auc_jack_block(
    scores: NDArray[np.float64], truth: NDArray[np.int8]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    pos = truth == 1
    k1 = int(pos.sum())
    k0 = int((~pos).sum())
    if k1 < 2 or k0 < 2:
        raise UndefinedMetricError(
            "the jackknife of the AUC needs at least 2 diseased and 2 non-diseased cases "
            f"per reader and modality; found {k1} diseased and {k0} non-diseased"
        )
    v10, v01 = placements(scores, truth)
    auc = v10.mean(axis=-1)
    jack = np.empty_like(scores)
    jack[..., pos] = (k1 * auc[..., None] - v10) / (k1 - 1)
    jack[..., ~pos] = (k0 * auc[..., None] - v01) / (k0 - 1)
    return auc, jack


def proportion_arrays(
    g: GroupedScores, *, threshold: float, which: str
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
    """Sensitivity (``which="sensitivity"``) or specificity at ``score >= threshold``.

    Returns ``(fom, jackknife, relevant)`` where ``relevant`` marks the cases the FOM
    depends on (diseased for sensitivity, non-diseased for specificity); the jackknife
    runs over those cases only, as MRMCaov does for ``binary_sens``/``binary_spec``.
    """
    target = 1 if which == "sensitivity" else 0
    relevant = g.truth == target
    scores = g.scores[..., relevant]
    present = g.present[..., relevant]
    hit = (scores >= threshold) if target == 1 else (scores < threshold)
    hit = hit & present
    n = present.sum(axis=-1)
    group = g.present.any(axis=-1)  # groups absent entirely: readers nested in modalities
    if (n[group] < 2).any():
        kind = "diseased" if target == 1 else "non-diseased"
        raise UndefinedMetricError(
            f"{which} needs at least 2 {kind} cases per reader and modality for its "
            f"jackknife; found {int(n[group].min())}"
        )
    s = hit.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fom = np.where(group, s / np.maximum(n, 1), np.nan)
        jack = np.where(present, (s[..., None] - hit) / (n[..., None] - 1), fom[..., None])
    return fom, jack, relevant


def weighted_auc(
    scores: NDArray[np.float64], truth: NDArray[np.int8], weights: NDArray[np.float64]
) -> NDArray[np.float64]:
    """AUCs for many case weightings at once (bootstrap counts), one sort per call.

    ``scores``: shape ``(C,)``; ``weights``: shape ``(B, C)``; returns shape ``(B,)``:
    ``sum_{i pos, j neg} w_i w_j psi(x_i, y_j) / (W1 W0)``.
    """
    uniq, inv = np.unique(scores, return_inverse=True)
    pos = truth == 1
    u = len(uniq)
    b = weights.shape[0]
    neg_bins = np.zeros((b, u))
    pos_bins = np.zeros((b, u))
    np.add.at(neg_bins.T, inv[~pos], weights[:, ~pos].T)
    np.add.at(pos_bins.T, inv[pos], weights[:, pos].T)
    below = np.cumsum(neg_bins, axis=1) - neg_bins
    num = (pos_bins * (below + 0.5 * neg_bins)).sum(axis=1)
    w1 = pos_bins.sum(axis=1)
    w0 = neg_bins.sum(axis=1)
    return np.asarray(num / (w1 * w0))


def auc_values(g: GroupedScores) -> NDArray[np.float64]:
    """Empirical AUC per (m, r) over the cases each group read (no jackknife)."""
    m_, r_, _ = g.scores.shape
    out = np.empty((m_, r_))
    for m in range(m_):
        for r in range(r_):
            sel = g.present[m, r]
            if not sel.any():
                out[m, r] = np.nan
                continue
            v10, _v01 = placements(g.scores[m, r, sel], g.truth[sel])
            out[m, r] = v10.mean()
    return out
