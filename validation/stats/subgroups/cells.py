"""Vectorised bootstrap kernel behind :func:`validation.stats.subgroups.subgroup_table`.

Hand-written because no library computes, from one set of case-weight rows
(patients resampled by :func:`validation.stats.bootstrap.bootstrap_weights`), the
metrics of *every* subgroup of several partitions and of each subgroup's
complement at once: fairlearn's ``MetricFrame`` recomputes per group and per
resample in pandas (orders of magnitude slower, see
``benchmarks/bench_subgroups.py``).

For one chunk of weight rows ``W`` (``b x n``) and every unit (unit 0 is the
overall population, then every group of every partition) it returns:

* weighted confusion counts ``tp, fn, tn, fp`` (one sparse product with the
  unit x confusion-cell indicator matrix);
* the weighted Mann-Whitney pair sum ``S = sum_{i pos, j neg} w_i w_j H(s_i - s_j)``
  (``H`` = 1, 1/2, 0 for >, =, <) of every group from one sort per partition
  (cases ordered by group, then score), through the weighted-midrank identity
  ``S = sum_{i pos} w_i R_i - P^2 / 2`` (``R_i`` the weighted midrank of case i
  within its group, ``P`` the group's weighted positives); and
* the pair sum of each group's complement without another sort:
  ``S(rest) = S(all) - [S(G pos, all neg) + S(all pos, G neg)] + S(G)``, the
  bracket being the sum over the group's cases of their weighted placement
  values among all cases of the other class (DeLong et al. 1988,
  doi:10.2307/2531595; Sun & Xu 2014, doi:10.1109/LSP.2014.2337313).

All arithmetic is in integers (pair sums doubled so that ties' halves stay integral):
exact, and half the memory traffic of float64 for the weights and their cumulative sums.
AUC of a unit is ``S / (P N)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

TP, FN, TN, FP = 0, 1, 2, 3


@dataclass
class _Sorted:
    order: NDArray[np.intp]
    is_pos: NDArray[np.bool_]
    neg_i: NDArray[np.int32]
    pos_i64: NDArray[np.int64]
    tied: NDArray[np.intp]  # sorted positions in tie blocks of size > 1
    tied_lo: NDArray[np.intp]
    tied_hi: NDArray[np.intp]
    seg_starts: NDArray[np.intp]
    pos_seg: Any  # sparse (k, n): 1 where the sorted case is a positive of group g
    n_groups: int


def _sort(y: NDArray[np.bool_], s: NDArray[np.float64], code: NDArray[np.intp]) -> _Sorted:
    n = len(code)
    order = np.lexsort((s, code))
    cs = code[order]
    ss = s[order]
    new_seg = np.ones(n, dtype=bool)
    new_seg[1:] = cs[1:] != cs[:-1]
    new_block = new_seg.copy()
    new_block[1:] |= ss[1:] != ss[:-1]
    block_starts = np.flatnonzero(new_block)
    block_ends = np.append(block_starts[1:], n)
    boc = np.cumsum(new_block) - 1
    size = (block_ends - block_starts)[boc]
    tied = np.flatnonzero(size > 1)
    yo = y[order]
    pos_at = np.flatnonzero(yo)
    k = int(new_seg.sum())
    seg_id = np.cumsum(new_seg) - 1
    pos_seg = sp.csr_matrix(
        (np.ones(len(pos_at), dtype=np.int64), (seg_id[pos_at], pos_at)), shape=(k, n)
    )
    return _Sorted(
        order=order,
        is_pos=yo,
        neg_i=(~yo).astype(np.int32),
        pos_i64=yo.astype(np.int64),
        tied=tied,
        tied_lo=block_starts[boc[tied]],
        tied_hi=block_ends[boc[tied]],
        seg_starts=np.flatnonzero(new_seg),
        pos_seg=pos_seg,
        n_groups=k,
    )


@dataclass
class Engine:
    y: NDArray[Any]
    pred: NDArray[Any] | None
    score: NDArray[Any] | None
    codes: list[NDArray[np.intp]]
    n_units: int = field(init=False)
    offsets: list[int] = field(init=False)

    def __post_init__(self) -> None:
        y = np.asarray(self.y).astype(bool)
        n = len(y)
        self.offsets = []
        u = 1
        for c in self.codes:
            self.offsets.append(u)
            u += int(np.max(c)) + 1
        self.n_units = u
        units = np.empty((n, len(self.codes) + 1), dtype=np.intp)
        units[:, 0] = 0
        for j, (c, off) in enumerate(zip(self.codes, self.offsets, strict=True)):
            units[:, j + 1] = off + np.asarray(c)
        if self.pred is not None:
            p = np.asarray(self.pred).astype(bool)
            cell = np.where(y, np.where(p, TP, FN), np.where(p, FP, TN))
        else:
            cell = np.where(y, TP, TN)
        rows = np.repeat(np.arange(n), units.shape[1])
        self._count_t = sp.csr_matrix(
            (np.ones(rows.size, dtype=np.int32), ((units * 4 + cell[:, None]).ravel(), rows)),
            shape=(4 * u, n),
        )
        self._parts: list[_Sorted] = []
        if self.score is None:
            return
        s = np.asarray(self.score, dtype=np.float64)
        self._overall = _sort(y, s, np.zeros(n, dtype=np.intp))
        self._parts = [_sort(y, s, np.asarray(c, dtype=np.intp)) for c in self.codes]
        su = units[self._overall.order]
        r = np.repeat(np.arange(n), su.shape[1])
        self._g_sorted = sp.csr_matrix(
            (np.ones(r.size, dtype=np.int64), (su.ravel(), r)), shape=(u, n)
        )

    def process(
        self, w_rows: NDArray[Any]
    ) -> tuple[NDArray[np.float64], NDArray[np.float64] | None, NDArray[np.float64] | None]:
        """Return ``(counts (b, U, 4), S (b, U), S_rest (b, U))`` for weight rows ``(b, n)``.

        Weights are integer counts (bootstrap resamples); the arithmetic is done in
        integers (pair sums doubled, so that ties' halves stay integral) and is exact.
        """
        w = np.ascontiguousarray(np.asarray(w_rows).T, dtype=np.int32)  # (n, b)
        n, b = w.shape
        counts_i = (self._count_t @ w).reshape(self.n_units, 4, b).transpose(2, 0, 1)
        counts = np.ascontiguousarray(counts_i, dtype=np.float64)
        if self.score is None:
            return counts, None, None
        s2 = np.empty((self.n_units, b), dtype=np.int64)  # doubled pair sums
        ov = self._overall
        wg = np.take(w, ov.order, axis=0)
        cn = np.empty((n + 1, b), dtype=np.int32)
        cn[0] = 0
        np.cumsum(wg * ov.neg_i[:, None], axis=0, out=cn[1:])
        cp = np.empty((n + 1, b), dtype=np.int32)
        cp[0] = 0
        np.cumsum(wg, axis=0, out=cp[1:])
        cp -= cn  # cumulative weight of positives
        tot_p = cp[n].copy()
        # twice the placement of each case among all cases of the other class (ties
        # 1/2): positives: negatives below; negatives: positives above
        q = np.where(ov.is_pos[:, None], 2 * cn[1:], 2 * (tot_p - cp[1:]))
        if len(ov.tied):
            t, lo, hi = ov.tied, ov.tied_lo, ov.tied_hi
            q[t] = np.where(
                ov.is_pos[t][:, None],
                cn[lo] + cn[hi],
                2 * tot_p - (cp[lo] + cp[hi]),
            )
        q2 = np.multiply(q, wg, dtype=np.int64)
        del q, cp
        s2[0] = ov.pos_i64 @ q2
        cross2 = self._g_sorted @ q2  # (U, b)
        del q2
        buf = cn
        p_all = counts_i[:, :, TP] + counts_i[:, :, FN]  # (b, U) weighted positives
        for part, off in zip(self._parts, self.offsets, strict=True):
            k = part.n_groups
            wg = np.take(w, part.order, axis=0)
            np.cumsum(wg, axis=0, out=buf[1:])
            c2 = 2 * buf[1:] - wg  # twice (weight below + half own), no ties
            if len(part.tied):
                c2[part.tied] = buf[part.tied_lo] + buf[part.tied_hi]
            x = np.multiply(c2, wg, dtype=np.int64)
            sraw2 = part.pos_seg @ x
            base = buf[part.seg_starts].astype(np.int64)
            pk = p_all[:, off : off + k].T.astype(np.int64)
            s2[off : off + k] = sraw2 - 2 * base * pk - pk * pk
        rest2 = s2[:1] - cross2 + s2
        rest2[0] = 0
        return counts, np.ascontiguousarray(s2.T / 2.0), np.ascontiguousarray(rest2.T / 2.0)


@dataclass
class Replicates:
    """Bootstrap output accumulated over all chunks (resamples x units)."""

    counts: NDArray[np.float64]  # (B, U, 4): tp, fn, tn, fp
    pair: NDArray[np.float64] | None  # (B, U)
    pair_rest: NDArray[np.float64] | None  # (B, U)


def run(engine: Engine, weight_chunks: Iterable[NDArray[Any]]) -> Replicates:
    """Accumulate counts and pair sums over every chunk of weight rows."""
    counts: list[NDArray[np.float64]] = []
    pairs: list[NDArray[np.float64]] = []
    rests: list[NDArray[np.float64]] = []
    for chunk in weight_chunks:
        w = np.asarray(chunk, dtype=np.float64)
        if w.ndim == 1:
            w = w[None, :]
        c, s, r = engine.process(w)
        counts.append(c)
        if s is not None and r is not None:
            pairs.append(s)
            rests.append(r)
    if not counts:
        raise ValueError("no bootstrap weight rows were produced")
    return Replicates(
        counts=np.concatenate(counts, axis=0),
        pair=np.concatenate(pairs, axis=0) if pairs else None,
        pair_rest=np.concatenate(rests, axis=0) if rests else None,
    )


def ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """``num / den`` with NaN where ``den == 0`` (an undefined replicate)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out: NDArray[np.float64] = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    return out
