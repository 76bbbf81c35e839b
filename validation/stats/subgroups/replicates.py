"""The patient-level bootstrap of every unit of a subgroup analysis at once.

One set of resamples (:func:`validation.stats.bootstrap.bootstrap_weights`: patients when
clusters are given, else cases stratified by truth) is evaluated for the overall
population, every group and every group's complement ("the rest"): ratio-of-count
metrics and the AUC by the vectorised kernel of :mod:`.cells`, other metrics with a
weighted form through that form, unit by unit. Using the same resamples for a group and
its reference keeps every difference paired by design (in the spirit of fairlearn's
``metrics/_bootstrap.py``, which resamples once for all groups).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from validation.stats import bootstrap as _bootstrap
from validation.stats.registry import BUILTIN_METRICS, MetricSpec
from validation.stats.subgroups import cells as _eng
from validation.stats.subgroups.cases import Cases
from validation.stats.subgroups.groups import Partition, Units

_COUNT_INDEX = {"tp": 0, "fn": 1, "tn": 2, "fp": 3}


def is_fast_auc(spec: MetricSpec) -> bool:
    """The built-in AUC (or a metric with its weighted form): the kernel computes it."""
    return spec.kind == "score" and spec.weighted is BUILTIN_METRICS["auc"].weighted


def metric_values(
    spec: MetricSpec,
    counts: NDArray[np.float64],
    pair: NDArray[np.float64] | None,
) -> NDArray[np.float64]:
    """Metric from weighted counts ``(..., 4)`` (and pair sums) for the fast metrics."""
    if spec.counts_ratio is not None:
        num = sum(counts[..., _COUNT_INDEX[c]] for c in spec.counts_ratio[0])
        den = sum(counts[..., _COUNT_INDEX[c]] for c in spec.counts_ratio[1])
        return _eng.ratio(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64))
    if pair is None:
        raise RuntimeError(f"metric {spec.name!r} needs the pair sums, which were not computed")
    p = counts[..., 0] + counts[..., 1]
    q = counts[..., 2] + counts[..., 3]
    return _eng.ratio(pair, p * q)


def map_chunks(func: Callable[[Any], Any], chunks: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
    """Yield ``(chunk, func(chunk))`` in order, evaluating up to two chunks at once.

    numpy releases the GIL in the kernel's sorts, gathers, cumulative sums and
    sparse products, so two threads use both cores of a small machine; at most
    three chunks are held at a time.
    """
    workers = max(1, min(2, os.cpu_count() or 1))
    if workers == 1:
        for chunk in chunks:
            yield chunk, func(chunk)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: deque[tuple[Any, Any]] = deque()
        for chunk in chunks:
            pending.append((chunk, pool.submit(func, chunk)))
            if len(pending) > workers:
                c, fut = pending.popleft()
                yield c, fut.result()
        while pending:
            c, fut = pending.popleft()
            yield c, fut.result()


@dataclass(frozen=True)
class UnitReplicates:
    """Bootstrap replicates and point values of every metric in every unit.

    ``reps[name]`` is ``(B, U)``; ``reps_rest[name]`` the same for each unit's
    complement; ``points`` / ``points_rest`` the values on the data (``U``).
    ``counts`` ``(B, U, 4)`` and ``point_counts`` ``(1, U, 4)`` are the weighted
    confusion counts ``tp, fn, tn, fp``. Metrics without a weighted form are absent.
    """

    reps: dict[str, NDArray[np.float64]]
    reps_rest: dict[str, NDArray[np.float64]]
    points: dict[str, NDArray[np.float64]]
    points_rest: dict[str, NDArray[np.float64]]
    counts: NDArray[np.float64]
    point_counts: NDArray[np.float64]


def _weighted_by_unit(
    spec: MetricSpec, cases: Cases, units: Units, w: NDArray[Any]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``spec.weighted`` in every unit and every unit's complement, for weight rows ``w``."""
    if spec.weighted is None:
        raise RuntimeError(f"metric {spec.name!r} has no weighted form")
    yt, yv = cases.y, cases.for_metric(spec)
    cell_vals = np.full((w.shape[0], len(units)), np.nan)
    rest_vals = np.full((w.shape[0], len(units)), np.nan)
    for u in range(len(units)):
        m = units.subset(u)
        cell_vals[:, u] = spec.weighted(yt[m], yv[m], w[:, m])
        if u > 0 and (~m).any():
            rest_vals[:, u] = spec.weighted(yt[~m], yv[~m], w[:, ~m])
    return cell_vals, rest_vals


def bootstrap_units(
    cases: Cases,
    parts: Sequence[Partition],
    units: Units,
    specs: Sequence[MetricSpec],
    n_resamples: int,
    rng: np.random.Generator,
) -> UnitReplicates:
    """Resample patients (or cases within truth) once and evaluate every unit on it."""
    n = cases.n
    fast = [s for s in specs if s.counts_ratio is not None or is_fast_auc(s)]
    slow = [s for s in specs if s not in fast and s.weighted is not None]
    need_scores = any(is_fast_auc(s) for s in specs)
    engine = _eng.Engine(
        cases.y, cases.pred, cases.values if need_scores else None, [p.codes for p in parts]
    )
    cl = cases.clusters
    # ~1e6 weights per chunk keeps each pass in cache; at most 16 rows because the
    # cumulative sums run down the case axis of an (n, rows) array.
    chunks = _bootstrap.bootstrap_weights(
        cl if cl is not None else n,
        strata=None if cl is not None else cases.y,
        n_resamples=n_resamples,
        rng=rng,
        chunk_size=int(min(16, max(1, 1_000_000 // n))),
    )
    slow_cell: dict[str, list[NDArray[np.float64]]] = {s.name: [] for s in slow}
    slow_rest: dict[str, list[NDArray[np.float64]]] = {s.name: [] for s in slow}
    acc_c: list[NDArray[np.float64]] = []
    acc_s: list[NDArray[np.float64]] = []
    acc_r: list[NDArray[np.float64]] = []
    for w, (c, sp_, rp_) in map_chunks(engine.process, chunks):
        acc_c.append(c)
        if sp_ is not None and rp_ is not None:
            acc_s.append(sp_)
            acc_r.append(rp_)
        for s in slow:
            cell_vals, rest_vals = _weighted_by_unit(s, cases, units, w)
            slow_cell[s.name].append(cell_vals)
            slow_rest[s.name].append(rest_vals)
    boot_counts = np.concatenate(acc_c, axis=0)
    pair = np.concatenate(acc_s, axis=0) if acc_s else None
    pair_rest = np.concatenate(acc_r, axis=0) if acc_r else None
    pc, ps, pr = engine.process(np.ones((1, n)))
    rest_counts = boot_counts[:, :1, :] - boot_counts
    prest_counts = pc[:, :1, :] - pc
    out = UnitReplicates({}, {}, {}, {}, boot_counts, pc)
    for s in fast:
        out.reps[s.name] = metric_values(s, boot_counts, pair)
        out.reps_rest[s.name] = metric_values(s, rest_counts, pair_rest)
        out.points[s.name] = metric_values(s, pc, ps)[0]
        out.points_rest[s.name] = metric_values(s, prest_counts, pr)[0]
    for s in slow:
        out.reps[s.name] = np.concatenate(slow_cell[s.name], axis=0)
        out.reps_rest[s.name] = np.concatenate(slow_rest[s.name], axis=0)
        pt, pt_rest = _weighted_by_unit(s, cases, units, np.ones((1, n)))
        out.points[s.name] = pt[0]
        out.points_rest[s.name] = pt_rest[0]
    return out
