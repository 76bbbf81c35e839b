"""Subgroup performance and bias analysis with statistical guardrails.

:func:`subgroup_table` reports each metric of the registry
(:mod:`validation.stats.registry`) for every group of every attribute (sex, age
band, site, manufacturer ...) and of declared intersections (sex x manufacturer),
with confidence intervals from the case-level functions, minimum-size guardrails,
pre-specified vs exploratory labels, disparities against the rest of the cases
(or a declared reference group) with multiplicity-adjusted tests, fairlearn's
equalized-odds and demographic-parity differences, and a heterogeneity test per
attribute.

What comes from where:

* fairlearn's ``MetricFrame`` disaggregates the per-group counts (n, positives,
  negatives) of every attribute and intersection. It is fed the distinct
  (group, truth) cells weighted by their case counts rather than the cases:
  fairlearn 0.15 converts every column element by element in each metric call
  (about 1 s per frame at 20,000 cases), and on weighted cells every count is
  exactly the case-level one.
* fairlearn's ``equalized_odds_difference`` and ``demographic_parity_difference``
  are reproduced from the groups' confusion counts (max - min of the group rates,
  fairlearn's ``between_groups``/``worst_case`` definitions), so that the same
  formula runs on every bootstrap resample; the tests check equality with
  fairlearn's functions.
* Every cell's estimate and CI comes from the metric's registry ``compute``
  (:func:`validation.stats.proportions.sensitivity`, :func:`~validation.stats.roc.roc_auc`
  ...) on that subset alone, so a cell equals the case-level function on the subset.
* Bootstrap intervals (cell CIs when ``ci_method="bootstrap"``, which is the default
  when ``clusters`` is given, and every disparity CI) come from one set of
  patient-level resamples (:func:`validation.stats.bootstrap.bootstrap_weights`)
  evaluated for all groups and their complements at once by a hand-written kernel
  (``_subgroup_engine``): fairlearn's ``MetricFrame`` would recompute every group
  in pandas for each of thousands of resamples (see ``benchmarks/bench_subgroups.py``).
  Using the same resamples for a group and its reference keeps the difference
  paired by design.
* Heterogeneity tests: statsmodels' binomial GLM (likelihood-ratio test) and a
  DeLong-based chi-square for AUC.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats as _sstats

from validation.errors import UndefinedMetricError
from validation.stats import bootstrap as _bootstrap
from validation.stats import multiplicity as _multiplicity
from validation.stats import roc as _roc
from validation.stats._checks import (
    as_binary,
    as_rng,
    as_scores,
    check_confidence_level,
    check_same_length,
)
from validation.stats._results import _jsonable
from validation.stats.registry import (
    DEGENERATE_NOTE,
    MetricSpec,
    get_metric,
    list_metrics,
    register_metric,
    resolve_metrics,
)
from validation.stats.subgroups import cells as _eng

__all__ = [
    "MetricSpec",
    "SubgroupAnalysis",
    "age_band_labels",
    "get_metric",
    "list_metrics",
    "register_metric",
    "subgroup_table",
]

UNKNOWN = "unknown"
INTERSECTION_SEP = " & "
MULTIPLICITY_CHOICES = ("holm", "fdr_bh", "bonferroni", "hochberg", "none")

TABLE_COLUMNS = [
    "attribute",
    "group",
    "metric",
    "n",
    "n_pos",
    "n_neg",
    "estimate",
    "ci_low",
    "ci_high",
    "confidence_level",
    "method",
    "denominator",
    "status",
    "reason",
    "prespecified",
]
DISPARITY_COLUMNS = [
    "attribute",
    "group",
    "reference",
    "metric",
    "estimate",
    "reference_estimate",
    "difference",
    "difference_ci_low",
    "difference_ci_high",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_value",
    "p_adjusted",
    "significant",
    "weaker",
    "flagged",
    "n_resamples_undefined",
    "status",
    "reason",
    "prespecified",
]
HETEROGENEITY_COLUMNS = [
    "attribute",
    "metric",
    "statistic",
    "df",
    "p_value",
    "p_adjusted",
    "significant",
    "method",
    "n_groups",
    "groups_excluded",
    "status",
    "reason",
    "prespecified",
]
FAIRNESS_COLUMNS = [
    "attribute",
    "measure",
    "estimate",
    "ci_low",
    "ci_high",
    "n_groups",
    "groups_excluded",
    "n_resamples_undefined",
    "status",
    "reason",
    "prespecified",
]


# ----------------------------------------------------------------------------- results


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    out = []
    for rec in df.to_dict(orient="records"):
        clean = {}
        for k, v in rec.items():
            if isinstance(v, float) and math.isnan(v):
                v = None
            elif v is pd.NA or v is pd.NaT:
                v = None
            clean[str(k)] = v
        out.append(_jsonable(clean))
    return out


@dataclass(frozen=True, eq=False)
class SubgroupAnalysis:
    """Result of :func:`subgroup_table`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (attribute, group, metric), the overall population first
        (``attribute="overall"``, ``group="all"``). Columns ``attribute, group,
        metric, n, n_pos, n_neg, estimate, ci_low, ci_high, confidence_level,
        method, denominator, status, reason, prespecified``. ``status`` is ``"ok"``
        or ``"not_estimable"``; a ``not_estimable`` row has no numbers (NaN in the
        frame, ``null`` in :meth:`to_dict`) and says why in ``reason``.
    disparity : pandas.DataFrame
        One row per (attribute, group, metric): the group's metric against its
        reference (``"rest"`` = all other cases, or a declared group), difference
        and ratio with percentile-bootstrap CIs, a Wald p-value (bootstrap SE), the
        multiplicity-adjusted p-value, ``significant`` (adjusted p below
        ``1 - confidence_level``), ``weaker`` (worse than the reference by the
        metric's direction) and ``flagged`` (both).
    heterogeneity : pandas.DataFrame
        One test per (attribute, metric): likelihood-ratio chi-square for
        proportion metrics, DeLong chi-square for AUC; adjusted p-values.
    fairness : pandas.DataFrame
        Per attribute: fairlearn's ``equalized_odds_difference`` and
        ``demographic_parity_difference`` over the estimable groups, with
        percentile-bootstrap CIs.
    settings : dict
        Everything that determined the numbers (metrics, CI methods, guardrails,
        multiplicity, reference, bins, resamples, clustering).
    """

    table: pd.DataFrame
    disparity: pd.DataFrame
    heterogeneity: pd.DataFrame
    fairness: pd.DataFrame
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict for ``results.json`` (``subgroups`` block); NaN becomes null."""
        return {
            "rows": _records(self.table),
            "disparity": _records(self.disparity),
            "heterogeneity": _records(self.heterogeneity),
            "fairness": _records(self.fairness),
            "multiplicity": self.settings.get("multiplicity"),
            "settings": _jsonable(self.settings),
        }


# ------------------------------------------------------------------------ groups/bins


def age_band_labels(age_bins: Sequence[float]) -> list[str]:
    """Labels of the right-open age bands ``[b_i, b_{i+1})`` for declared edges.

    Integer edges give ``"40-49"`` (``[40, 50)``); an infinite last edge gives
    ``"80+"``; non-integer edges give ``"[40.5, 50)"``.

    Examples
    --------
    >>> age_band_labels([0, 40, 50, 65, float("inf")])
    ['0-39', '40-49', '50-64', '65+']
    """
    edges = _check_bins(age_bins)
    labels = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        if math.isinf(hi) and float(lo).is_integer():
            labels.append(f"{int(lo)}+")
        elif float(lo).is_integer() and float(hi).is_integer():
            labels.append(f"{int(lo)}-{int(hi) - 1}")
        else:
            labels.append(f"[{_fmt(lo)}, {_fmt(hi)})")
    return labels


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _check_bins(age_bins: Sequence[float]) -> list[float]:
    try:
        edges = [float(b) for b in age_bins]
    except (TypeError, ValueError):
        raise ValueError(
            f"age_bins must be a sequence of numbers (band edges), got {age_bins!r}"
        ) from None
    if len(edges) < 2:
        raise ValueError(f"age_bins must have at least 2 edges, got {len(edges)}")
    if any(math.isnan(e) for e in edges) or any(
        b <= a for a, b in zip(edges[:-1], edges[1:], strict=True)
    ):
        raise ValueError(f"age_bins must be strictly increasing, got {list(age_bins)!r}")
    if math.isinf(edges[0]) and edges[0] > 0:
        raise ValueError(f"age_bins must start below +inf, got {list(age_bins)!r}")
    return edges


def _value_label(v: Any) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


@dataclass
class _Attribute:
    name: str
    labels: NDArray[np.object_]  # one label per case
    order: list[str]  # display order of the groups


def _categorical(name: str, col: pd.Series) -> _Attribute:
    missing = col.isna().to_numpy()
    if isinstance(col.dtype, pd.CategoricalDtype):
        cats = [_value_label(c) for c in col.cat.categories]
        raw = col.astype(object)
    else:
        raw = col.astype(object)
        present = pd.unique(raw[~missing])
        try:
            present = sorted(present)
        except TypeError:
            present = sorted(present, key=str)
        cats = [_value_label(c) for c in present]
    labels = np.array(
        [UNKNOWN if m else _value_label(v) for v, m in zip(raw, missing, strict=True)], dtype=object
    )
    seen = set(labels.tolist())
    order = [c for c in dict.fromkeys(cats) if c in seen and c != UNKNOWN]
    if UNKNOWN in seen:
        order.append(UNKNOWN)
    return _Attribute(name, labels, order)


def _age_attribute(col: pd.Series, age_bins: Sequence[float], column: str) -> _Attribute:
    edges = _check_bins(age_bins)
    names = age_band_labels(edges)
    values = pd.to_numeric(col, errors="coerce")
    bad = values.isna().to_numpy() & ~col.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"groups column {column!r} must be numeric to derive age bands, "
            f"found {col.iloc[i]!r} at row {i}"
        )
    v = values.to_numpy(dtype=np.float64)
    missing = np.isnan(v)
    out = ~missing & ((v < edges[0]) | (v >= edges[-1]))
    if out.any():
        i = int(np.flatnonzero(out)[0])
        raise ValueError(
            f"age {_fmt(v[i])} at row {i} lies outside the declared age_bins "
            f"[{_fmt(edges[0])}, {_fmt(edges[-1])})"
        )
    idx = np.searchsorted(np.asarray(edges), np.where(missing, edges[0], v), side="right") - 1
    labels = np.array(
        [UNKNOWN if m else names[i] for i, m in zip(idx, missing, strict=True)], dtype=object
    )
    seen = set(labels.tolist())
    order = [b for b in names if b in seen]
    if UNKNOWN in seen:
        order.append(UNKNOWN)
    return _Attribute("age_band", labels, order)


def _prepare_attributes(
    groups: Any, n: int, age_bins: Sequence[float] | None, age_column: str
) -> dict[str, _Attribute]:
    if not isinstance(groups, pd.DataFrame):
        raise ValueError(
            "groups must be a pandas DataFrame of attribute columns (one row per case), "
            f"got {type(groups).__name__}"
        )
    if len(groups) != n:
        raise ValueError(
            f"groups has {len(groups)} rows but y_true has {n} cases; expected one row per case"
        )
    if groups.shape[1] == 0:
        raise ValueError("groups has no attribute columns")
    if age_bins is not None:
        _check_bins(age_bins)
    attrs: dict[str, _Attribute] = {}
    for col in groups.columns:
        name = str(col)
        series = groups[col].reset_index(drop=True)
        if name == age_column:
            if age_bins is None:
                if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
                    raise ValueError(
                        f"groups column {name!r} is numeric; declare age_bins "
                        "(e.g. [0, 40, 50, 60, 70, inf]) to derive age bands"
                    )
                attrs[name] = _categorical(name, series)
            else:
                attrs["age_band"] = _age_attribute(series, age_bins, name)
            continue
        if name in attrs:
            raise ValueError(f"groups has two columns named {name!r}")
        attrs[name] = _categorical(name, series)
    if age_bins is not None and "age_band" not in attrs:
        raise ValueError(
            f"age_bins were declared but groups has no {age_column!r} column; "
            f"columns: {', '.join(map(str, groups.columns))}"
        )
    return attrs


@dataclass
class _Partition:
    name: str
    members: tuple[str, ...]
    order: list[str]
    codes: NDArray[np.intp]
    labels: NDArray[np.object_]


def _make_partitions(
    attrs: dict[str, _Attribute], intersections: Sequence[Sequence[str]], age_column: str
) -> list[_Partition]:
    parts: list[_Partition] = []
    for a in attrs.values():
        lookup = {g: i for i, g in enumerate(a.order)}
        codes = np.fromiter((lookup[x] for x in a.labels), dtype=np.intp, count=len(a.labels))
        parts.append(_Partition(a.name, (a.name,), a.order, codes, a.labels))
    seen = {p.name for p in parts}
    for inter in intersections:
        if isinstance(inter, str):
            raise ValueError(
                f"each intersection must be a sequence of attribute names, got {inter!r}"
            )
        names = tuple(
            "age_band" if (x == age_column and "age_band" in attrs) else str(x) for x in inter
        )
        if len(names) < 2:
            raise ValueError(f"intersection {tuple(inter)!r} must name at least two attributes")
        if len(set(names)) != len(names):
            raise ValueError(f"intersection {tuple(inter)!r} names an attribute twice")
        for x in names:
            if x not in attrs:
                raise ValueError(
                    f"intersection {tuple(inter)!r} names unknown attribute {x!r}; "
                    f"attributes: {', '.join(attrs)}"
                )
        name = INTERSECTION_SEP.join(names)
        if name in seen:
            raise ValueError(f"intersection {name!r} is declared twice")
        seen.add(name)
        comps = [attrs[x] for x in names]
        mult = 1
        key = np.zeros(len(comps[0].labels), dtype=np.int64)
        for a in reversed(comps):
            lookup = {g: i for i, g in enumerate(a.order)}
            key += mult * np.fromiter(
                (lookup[x] for x in a.labels), dtype=np.int64, count=len(a.labels)
            )
            mult *= len(a.order)
        uniq, codes = np.unique(key, return_inverse=True)
        order = []
        for k in uniq:
            rem = int(k)
            parts_lab = []
            for a in reversed(comps):
                parts_lab.append(a.order[rem % len(a.order)])
                rem //= len(a.order)
            order.append(INTERSECTION_SEP.join(reversed(parts_lab)))
        labels = np.asarray(order, dtype=object)[codes]
        parts.append(_Partition(name, names, order, codes.astype(np.intp), labels))
    return parts


# ----------------------------------------------------------------------------- counts


def _cells(
    codes: NDArray[np.intp], y: NDArray[np.int8], pred: NDArray[np.int8] | None
) -> tuple[NDArray[np.intp], NDArray[np.int8], NDArray[np.int8], NDArray[np.float64]]:
    """Collapse cases to distinct (group, truth, call) cells with their case counts.

    fairlearn's ``MetricFrame`` converts its columns element by element in every
    metric call (about 1 s per frame at 20,000 cases in fairlearn 0.15), so it is
    fed these cells, at most ``4 k`` rows, with the counts as ``sample_weight``:
    every count and rate it computes is then exactly the case-level one.
    """
    p = np.zeros_like(y) if pred is None else pred
    key = (codes.astype(np.int64) * 2 + y) * 2 + p
    uniq, cnt = np.unique(key, return_counts=True)
    return (
        (uniq // 4).astype(np.intp),
        ((uniq // 2) % 2).astype(np.int8),
        (uniq % 2).astype(np.int8),
        cnt.astype(np.float64),
    )


def _w_n(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    return float(np.sum(sample_weight))


def _w_pos(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    return float(np.sum(np.asarray(sample_weight)[np.asarray(y_true) == 1]))


def _w_neg(y_true: Any, y_pred: Any, sample_weight: Any) -> float:
    return float(np.sum(np.asarray(sample_weight)[np.asarray(y_true) == 0]))


def _group_counts(part: _Partition, y: NDArray[np.int8]) -> pd.DataFrame:
    """n, n_pos, n_neg per group of ``part``, disaggregated by fairlearn's MetricFrame."""
    from fairlearn.metrics import MetricFrame

    code, yt, _, w = _cells(part.codes, y, None)
    funcs = {"n": _w_n, "n_pos": _w_pos, "n_neg": _w_neg}
    mf = MetricFrame(
        metrics=funcs,
        y_true=yt,
        y_pred=yt,
        sensitive_features=pd.Series(np.asarray(part.order, dtype=object)[code], name=part.name),
        sample_params={k: {"sample_weight": w} for k in funcs},
    )
    by = mf.by_group
    by.index = [str(i) for i in by.index]
    return by.reindex(part.order).round().astype(np.int64)


# ------------------------------------------------------------------------- guardrails


def _needs(spec: MetricSpec) -> tuple[bool, bool]:
    """Whether a metric needs positives / negatives (for the guardrails)."""
    if spec.counts_ratio is not None:
        den = set(spec.counts_ratio[1])
        if den <= {"tp", "fn"}:
            return True, False
        if den <= {"tn", "fp"}:
            return False, True
    return True, True


def _guard(
    n: int, npos: int, nneg: int, spec: MetricSpec, min_n: int, min_pos: int, min_neg: int
) -> str:
    need_pos, need_neg = _needs(spec)
    reasons = []
    if n < min_n:
        reasons.append(f"n={n} < min_n={min_n}")
    if need_pos and npos < min_pos:
        reasons.append(f"n_pos={npos} < min_pos={min_pos}")
    if need_neg and nneg < min_neg:
        reasons.append(f"n_neg={nneg} < min_neg={min_neg}")
    return "; ".join(reasons)


# ------------------------------------------------------------------------- replicates


def _is_fast_auc(spec: MetricSpec) -> bool:
    return spec.kind == "score" and spec.weighted is _builtin("auc").weighted


def _builtin(name: str) -> MetricSpec:
    from validation.stats.registry import BUILTIN_METRICS

    return BUILTIN_METRICS[name]


def _metric_values(
    spec: MetricSpec,
    counts: NDArray[np.float64],
    pair: NDArray[np.float64] | None,
) -> NDArray[np.float64]:
    """Metric from weighted counts ``(..., 4)`` (and pair sums) for the fast metrics."""
    if spec.counts_ratio is not None:
        idx = {"tp": 0, "fn": 1, "tn": 2, "fp": 3}
        num = sum(counts[..., idx[c]] for c in spec.counts_ratio[0])
        den = sum(counts[..., idx[c]] for c in spec.counts_ratio[1])
        return _eng.ratio(np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64))
    assert pair is not None
    p = counts[..., 0] + counts[..., 1]
    q = counts[..., 2] + counts[..., 3]
    return _eng.ratio(pair, p * q)


def _point_estimate(spec: MetricSpec, yt: NDArray[Any], v: NDArray[Any], level: float) -> float:
    methods = [m for m in spec.ci_methods if m != "bootstrap"]
    method = (
        spec.default_ci_method
        if spec.default_ci_method != "bootstrap"
        else (methods[0] if methods else "bootstrap")
    )
    return float(spec.compute(yt, v, method=method, confidence_level=level, n_resamples=2).estimate)


# ---------------------------------------------------------------------- heterogeneity


def _lr_binomial(successes: NDArray[np.int64], trials: NDArray[np.int64]) -> tuple[float, int]:
    """LR chi-square of 'one proportion per group' vs 'a common proportion'.

    Both models are statsmodels binomial GLMs (logit link) on the grouped counts:
    the full model has one intercept per group, the reduced one a single intercept.
    For sensitivity (specificity) this is exactly the LR test, in the logistic model
    of the call on truth x subgroup, of the subgroup terms within the diseased
    (non-diseased) stratum: that model's likelihood factorises by truth stratum.
    """
    import statsmodels.api as sm
    from statsmodels.tools.sm_exceptions import PerfectSeparationWarning

    k = len(successes)
    endog = np.column_stack([successes, trials - successes]).astype(np.float64)
    full_x = np.eye(k)
    red_x = np.ones((k, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PerfectSeparationWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        full = sm.GLM(endog, full_x, family=sm.families.Binomial()).fit(tol=1e-12, maxiter=200)
        red = sm.GLM(endog, red_x, family=sm.families.Binomial()).fit(tol=1e-12, maxiter=200)
    stat = max(0.0, 2.0 * (float(full.llf) - float(red.llf)))
    return stat, k - 1


# ----------------------------------------------------------------------- main function


def _resolve_ci_methods(
    specs: tuple[MetricSpec, ...], ci_method: str | Mapping[str, str] | None, clustered: bool
) -> dict[str, str]:
    out: dict[str, str] = {}
    if isinstance(ci_method, Mapping):
        unknown = [k for k in ci_method if k not in {s.name for s in specs}]
        if unknown:
            raise ValueError(
                f"ci_method names metric {unknown[0]!r}, which is not in metrics "
                f"{tuple(s.name for s in specs)}"
            )
    elif isinstance(ci_method, str) and not any(ci_method in s.ci_methods for s in specs):
        raise ValueError(
            f"ci_method {ci_method!r} is not valid for any of the metrics "
            f"{tuple(s.name for s in specs)}; valid: "
            + "; ".join(f"{s.name}: {s.ci_methods}" for s in specs)
        )
    for s in specs:
        default = "bootstrap" if clustered and "bootstrap" in s.ci_methods else s.default_ci_method
        if ci_method is None:
            m = default
        elif isinstance(ci_method, str):
            # one method for the table: it applies to the metrics it is valid for
            m = ci_method if ci_method in s.ci_methods else default
        else:
            m = ci_method.get(s.name) or default
        if m not in s.ci_methods:
            raise ValueError(
                f"ci_method {m!r} is not valid for metric {s.name!r}; valid: {s.ci_methods}"
            )
        out[s.name] = m
    return out


def _check_count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


def subgroup_table(
    y_true: ArrayLike,
    y_score_or_pred: ArrayLike,
    groups: pd.DataFrame,
    *,
    metrics: Sequence[str] | str = ("sensitivity", "specificity", "auc"),
    threshold: float | None = None,
    intersections: Sequence[Sequence[str]] = (),
    age_bins: Sequence[float] | None = None,
    age_column: str = "age",
    min_n: int = 20,
    min_pos: int = 10,
    min_neg: int = 10,
    prespecified: Sequence[str | Sequence[str]] = (),
    ci_method: str | Mapping[str, str] | None = None,
    reference: Mapping[str, str] | None = None,
    clusters: ArrayLike | None = None,
    confidence_level: float = 0.95,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    multiplicity: str = "holm",
    disparity: bool = True,
) -> SubgroupAnalysis:
    """Per-subgroup performance with CIs, guardrails, disparities and heterogeneity tests.

    Parameters
    ----------
    y_true : array-like of 0/1, shape (n,)
        Reference standard per case.
    y_score_or_pred : array-like, shape (n,)
        Scores (with ``threshold`` for threshold metrics) or 0/1 predictions.
    groups : pandas.DataFrame
        One row per case (same order as ``y_true``), one column per attribute
        (``sex``, ``site``, ``manufacturer`` ...). Missing values (NaN/None) form an
        explicit ``"unknown"`` group; they are never dropped. A numeric ``age``
        column needs ``age_bins``.
    metrics : sequence of str
        Registry names (:func:`validation.stats.registry.list_metrics`).
    threshold : float, optional
        Operating threshold: ``y_pred = y_score >= threshold``. Without it, threshold
        metrics need ``y_score_or_pred`` to be 0/1 predictions.
    intersections : sequence of tuples of attribute names
        E.g. ``[("sex", "manufacturer")]``; group labels join values with ``" & "``
        (``"F & GE"``) and the attribute is ``"sex & manufacturer"``.
    age_bins : sequence of float, optional
        Edges of right-open age bands ``[b_i, b_{i+1})`` derived from the numeric
        ``age_column`` into the attribute ``"age_band"``; labels by
        :func:`age_band_labels` (``"40-49"``, ``"80+"``). Ages outside the edges are
        an error; missing ages go to ``"unknown"``.
    age_column : str
        Name of the numeric age column (default ``"age"``).
    min_n, min_pos, min_neg : int
        Guardrails: a cell with fewer cases (and, for metrics that use them, fewer
        positives / negatives: sensitivity needs positives, specificity negatives,
        the others both) is ``not_estimable`` with the reason, not a number.
    prespecified : sequence
        Attributes (and intersections, as tuples or ``"a & b"``) declared in the
        protocol before the data were seen; every other analysis is labelled
        exploratory. Multiplicity is controlled within each of the two families.
    ci_method : str or mapping metric -> str, optional
        CI method per metric; default: the metric's ``default_ci_method`` (Wilson
        for proportions, DeLong for AUC), or ``"bootstrap"`` (patient-clustered,
        percentile) when ``clusters`` is given.
    reference : mapping attribute -> group label, optional
        Disparities of that attribute against this group; other attributes compare
        each group with the rest of the cases.
    clusters : array-like, optional
        Patient ID per case: every bootstrap resamples patients.
    confidence_level : float
        For all intervals; tests are significant at ``1 - confidence_level`` after
        multiplicity adjustment.
    n_resamples : int
        Bootstrap resamples for bootstrap CIs and disparities.
    rng : Generator, int, SeedSequence or None
    multiplicity : {"holm", "fdr_bh", "bonferroni", "hochberg", "none"}
        Adjustment across the disparity tests, and separately across the
        heterogeneity tests, within the pre-specified and within the exploratory
        family.
    disparity : bool
        Compute the disparity and fairness tables (the bootstrap); heterogeneity
        tests are always computed.

    Returns
    -------
    SubgroupAnalysis

    Raises
    ------
    ValueError
        Bad input, with a message naming what was expected and found (e.g.
        ``"groups has 99 rows but y_true has 100 cases; expected one row per case"``).
    validation.stats.registry.UnknownMetricError
        A metric name not in the registry (the message lists the known ones).

    Notes
    -----
    Disparity CIs are percentile intervals over ``n_resamples`` resamples of
    patients (``clusters``) or of cases stratified by truth; a group and its
    reference are evaluated on the same resample (paired by design). The
    disparity p-value is the two-sided Wald test of ``difference = 0`` with the
    bootstrap standard error. Heterogeneity: for ratio-of-count metrics the
    likelihood-ratio test of group-specific vs common proportion (statsmodels
    binomial GLM; for sensitivity and specificity this is the test of the
    subgroup terms within a truth stratum of the logistic model of the call on
    truth x subgroup); for AUC ``Q = sum (A_g - A_bar)^2 / V_g`` with DeLong (or,
    with clusters, Obuchowski) variances ``V_g`` and ``k - 1`` df. These tests
    treat cases as independent and groups as independent.

    References
    ----------
    Weerts H, et al. (2023). Fairlearn: Assessing and Improving Fairness of AI
    Systems. JMLR 24(257):1-8. https://jmlr.org/papers/v24/23-0389.html
    Hardt M, Price E, Srebro N (2016). Equality of opportunity in supervised
    learning. NeurIPS. arXiv:1610.02413.
    DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Biometrics 44:837-845.
    doi:10.2307/2531595.
    Holm S (1979). Scand J Stat 6:65-70.
    Wang R, Lagakos SW, Ware JH, Hunter DJ, Drazen JM (2007). Statistics in
    medicine - reporting of subgroup analyses in clinical trials. N Engl J Med
    357:2189-2194. doi:10.1056/NEJMsr077003.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> score = y + rng.normal(0, 1, 400)
    >>> groups = pd.DataFrame({"sex": rng.choice(["F", "M", None], 400)})
    >>> res = subgroup_table(y, score, groups, threshold=0.5, n_resamples=200, rng=1)
    >>> res.table[["attribute", "group", "metric", "status"]].head(4).to_string(index=False)
    'attribute group      metric status\\n  overall   all sensitivity     ok\\n  overall   all specificity     ok\\n  overall   all         auc     ok\\n      sex     F sensitivity     ok'
    """
    level = check_confidence_level(confidence_level)
    yt = as_binary(y_true)
    values = as_scores(y_score_or_pred, name="y_score_or_pred")
    n = check_same_length(y_true=yt, y_score_or_pred=values)
    if n == 0:
        raise ValueError("y_true is empty; expected at least one case")
    specs = resolve_metrics(metrics)
    if multiplicity not in MULTIPLICITY_CHOICES:
        raise ValueError(
            f"multiplicity must be one of {MULTIPLICITY_CHOICES}, got {multiplicity!r}"
        )
    min_n = _check_count("min_n", min_n)
    min_pos = _check_count("min_pos", min_pos)
    min_neg = _check_count("min_neg", min_neg)
    n_resamples = int(n_resamples)
    if n_resamples < 2:
        raise ValueError(f"n_resamples must be at least 2, got {n_resamples}")
    cl: NDArray[Any] | None = None
    if clusters is not None:
        cl = np.asarray(clusters)
        check_same_length(y_true=yt, clusters=cl)
        if pd.isna(cl).any():
            i = int(np.flatnonzero(pd.isna(cl))[0])
            raise ValueError(f"clusters must not contain missing values, found one at index {i}")
    need_pred = any(s.kind == "threshold" for s in specs)
    pred: NDArray[np.int8] | None = None
    if threshold is not None:
        thr = float(threshold)
        if not math.isfinite(thr):
            raise ValueError(f"threshold must be finite, got {threshold!r}")
        pred = (values >= thr).astype(np.int8)
    elif need_pred:
        bad = ~np.isin(values, (0.0, 1.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            names = tuple(s.name for s in specs if s.kind == "threshold")
            raise ValueError(
                f"metrics {names} need 0/1 predictions: pass threshold= or give "
                f"y_score_or_pred as 0/1 predictions; found {float(values[i])!r} at index {i}"
            )
        pred = values.astype(np.int8)
    elif np.isin(values, (0.0, 1.0)).all():
        pred = values.astype(np.int8)
    ci_methods = _resolve_ci_methods(specs, ci_method, cl is not None)

    attrs = _prepare_attributes(groups, n, age_bins, age_column)
    parts = _make_partitions(attrs, intersections, age_column)
    part_names = [p.name for p in parts]
    pre = set()
    for item in prespecified:
        nm = (
            item
            if isinstance(item, str)
            else INTERSECTION_SEP.join(
                "age_band" if (x == age_column and "age_band" in attrs) else str(x) for x in item
            )
        )
        if nm == age_column and "age_band" in attrs:
            nm = "age_band"
        if nm not in part_names:
            raise ValueError(
                f"prespecified names {nm!r}, which is not an analysed attribute; "
                f"analysed: {', '.join(part_names)}"
            )
        pre.add(nm)
    refs: dict[str, str] = {}
    for attr, grp in (reference or {}).items():
        nm = "age_band" if (attr == age_column and "age_band" in attrs) else str(attr)
        match = [p for p in parts if p.name == nm]
        if not match:
            raise ValueError(
                f"reference names attribute {attr!r}, which is not analysed; "
                f"analysed: {', '.join(part_names)}"
            )
        if str(grp) not in match[0].order:
            raise ValueError(
                f"reference group {grp!r} for attribute {attr!r} does not occur; "
                f"groups: {', '.join(match[0].order)}"
            )
        refs[nm] = str(grp)

    base = as_rng(rng)
    boot_rng, cell_rng = base.spawn(2)

    # --- units: overall, then every group of every partition --------------------------
    unit_attr = ["overall"]
    unit_group = ["all"]
    unit_mask: list[NDArray[np.bool_] | None] = [None]
    counts_rows = [(n, int(yt.sum()), int(n - yt.sum()))]
    offsets = []
    for p in parts:
        offsets.append(len(unit_attr))
        gc = _group_counts(p, yt)
        for g_i, g in enumerate(p.order):
            unit_attr.append(p.name)
            unit_group.append(g)
            unit_mask.append(p.codes == g_i)
            row = gc.loc[g]
            counts_rows.append((int(row["n"]), int(row["n_pos"]), int(row["n_neg"])))
    n_units = len(unit_attr)
    unit_pre = [True] + [p.name in pre for p in parts for _ in p.order]

    all_cases = np.ones(n, dtype=bool)

    def subset(u: int) -> NDArray[np.bool_]:
        m = unit_mask[u]
        return all_cases if m is None else m

    # --- cells ----------------------------------------------------------------------
    estimable = np.zeros((n_units, len(specs)), dtype=bool)
    reasons: dict[tuple[int, int], str] = {}
    for u in range(n_units):
        nn, npos, nneg = counts_rows[u]
        for j, s in enumerate(specs):
            r = _guard(nn, npos, nneg, s, min_n, min_pos, min_neg)
            if r:
                reasons[(u, j)] = r
            else:
                estimable[u, j] = True

    # --- bootstrap over all units at once -------------------------------------------
    need_boot = disparity or any(m == "bootstrap" for m in ci_methods.values())
    reps: dict[str, NDArray[np.float64]] = {}
    reps_rest: dict[str, NDArray[np.float64]] = {}
    points: dict[str, NDArray[np.float64]] = {}
    points_rest: dict[str, NDArray[np.float64]] = {}
    boot_counts: NDArray[np.float64] | None = None
    point_counts: NDArray[np.float64] | None = None
    if need_boot:
        fast = [s for s in specs if s.counts_ratio is not None or _is_fast_auc(s)]
        slow = [s for s in specs if s not in fast and s.weighted is not None]
        need_scores = any(_is_fast_auc(s) for s in specs)
        engine = _eng.Engine(yt, pred, values if need_scores else None, [p.codes for p in parts])
        source: Any = cl if cl is not None else n
        # ~1e6 weights per chunk keeps each pass in cache; at most 16 rows because the
        # cumulative sums run down the case axis of an (n, rows) array.
        chunks = _bootstrap.bootstrap_weights(
            source,
            strata=None if cl is not None else yt,
            n_resamples=n_resamples,
            rng=boot_rng,
            chunk_size=int(min(16, max(1, 1_000_000 // n))),
        )
        slow_cell: dict[str, list[NDArray[np.float64]]] = {s.name: [] for s in slow}
        slow_rest: dict[str, list[NDArray[np.float64]]] = {s.name: [] for s in slow}
        acc_c: list[NDArray[np.float64]] = []
        acc_s: list[NDArray[np.float64]] = []
        acc_r: list[NDArray[np.float64]] = []
        for w, (c, sp_, rp_) in _map_chunks(engine.process, chunks):
            acc_c.append(c)
            if sp_ is not None and rp_ is not None:
                acc_s.append(sp_)
                acc_r.append(rp_)
            for s in slow:
                yv = values if s.kind == "score" else pred
                assert s.weighted is not None and yv is not None
                cell_vals = np.full((w.shape[0], n_units), np.nan)
                rest_vals = np.full((w.shape[0], n_units), np.nan)
                for u in range(n_units):
                    m = subset(u)
                    cell_vals[:, u] = s.weighted(yt[m], yv[m], w[:, m])
                    if u > 0 and (~m).any():
                        rest_vals[:, u] = s.weighted(yt[~m], yv[~m], w[:, ~m])
                slow_cell[s.name].append(cell_vals)
                slow_rest[s.name].append(rest_vals)
        boot_counts = np.concatenate(acc_c, axis=0)
        pair = np.concatenate(acc_s, axis=0) if acc_s else None
        pair_rest = np.concatenate(acc_r, axis=0) if acc_r else None
        pc, ps, pr = engine.process(np.ones((1, n)))
        point_counts = pc
        rest_counts = boot_counts[:, :1, :] - boot_counts
        prest_counts = pc[:, :1, :] - pc
        for s in fast:
            reps[s.name] = _metric_values(s, boot_counts, pair)
            reps_rest[s.name] = _metric_values(s, rest_counts, pair_rest)
            points[s.name] = _metric_values(s, pc, ps)[0]
            points_rest[s.name] = _metric_values(s, prest_counts, pr)[0]
        for s in slow:
            reps[s.name] = np.concatenate(slow_cell[s.name], axis=0)
            reps_rest[s.name] = np.concatenate(slow_rest[s.name], axis=0)
            yv = values if s.kind == "score" else pred
            assert s.weighted is not None and yv is not None
            ones = np.ones((1, n))
            pt = np.full(n_units, np.nan)
            pt_rest = np.full(n_units, np.nan)
            for u in range(n_units):
                m = subset(u)
                pt[u] = s.weighted(yt[m], yv[m], ones[:, m])[0]
                if u > 0 and (~m).any():
                    pt_rest[u] = s.weighted(yt[~m], yv[~m], ones[:, ~m])[0]
            points[s.name] = pt
            points_rest[s.name] = pt_rest

    rows = []
    cell_est: dict[tuple[int, int], float] = {}
    for u in range(n_units):
        m = subset(u)
        nn, npos, nneg = counts_rows[u]
        for j, s in enumerate(specs):
            rec: dict[str, Any] = {
                "attribute": unit_attr[u],
                "group": unit_group[u],
                "metric": s.name,
                "n": nn,
                "n_pos": npos,
                "n_neg": nneg,
                "estimate": np.nan,
                "ci_low": np.nan,
                "ci_high": np.nan,
                "confidence_level": level,
                "method": ci_methods[s.name],
                "denominator": pd.NA,
                "status": "ok",
                "reason": "",
                "prespecified": unit_pre[u],
            }
            yv = values if s.kind == "score" else pred
            assert yv is not None
            if not estimable[u, j]:
                rec["status"] = "not_estimable"
                rec["reason"] = reasons[(u, j)]
                rows.append(rec)
                continue
            try:
                if (ci_methods[s.name] == "bootstrap" and s.counts_ratio is not None
                        and _at_boundary(s, yt[m], yv[m])):
                    # every resample gives the same 0 or 1: a percentile interval would be a
                    # point, so the cluster-adjusted Wilson interval is reported instead
                    est = s.compute(
                        yt[m], yv[m], method="wilson_cluster", confidence_level=level,
                        clusters=None if cl is None else cl[m],
                    )
                    rec.update(
                        estimate=est.estimate, ci_low=est.ci_low, ci_high=est.ci_high,
                        method=est.method, denominator=est.n,
                        reason=DEGENERATE_NOTE.format(p=est.estimate, x=est.successes, n=est.n),
                    )
                elif ci_methods[s.name] == "bootstrap":
                    try:
                        point = _point_estimate(s, yt[m], yv[m], level)
                    except UndefinedMetricError:
                        # e.g. DeLong needs 2 cases of a class; the bootstrap does not
                        point = float(points[s.name][u])
                        if not math.isfinite(point):
                            raise
                    rv = reps[s.name][:, u]
                    ok = np.isfinite(rv)
                    if ok.sum() < 2:
                        raise UndefinedMetricError(
                            f"{s.name} is undefined in {int((~ok).sum())} of {len(rv)} bootstrap resamples"
                        )
                    lo, hi = _bootstrap.bootstrap_interval(
                        point, rv[ok], method="percentile", confidence_level=level
                    )
                    rec.update(
                        estimate=point,
                        ci_low=lo,
                        ci_high=hi,
                        method=(
                            "cluster_bootstrap_percentile"
                            if cl is not None
                            else "bootstrap_percentile"
                        ),
                        denominator=_denominator(s, yt[m], yv[m]),
                    )
                    if (~ok).any():
                        rec["reason"] = (
                            f"{int((~ok).sum())} of {len(rv)} resamples undefined, excluded"
                        )
                else:
                    est = s.compute(
                        yt[m],
                        yv[m],
                        method=ci_methods[s.name],
                        confidence_level=level,
                        clusters=None if cl is None else cl[m],
                        rng=cell_rng,
                        n_resamples=n_resamples,
                    )
                    rec.update(
                        estimate=est.estimate,
                        ci_low=est.ci_low,
                        ci_high=est.ci_high,
                        method=est.method,
                        denominator=est.n,
                    )
                cell_est[(u, j)] = float(rec["estimate"])
            except UndefinedMetricError as exc:
                rec["status"] = "not_estimable"
                rec["reason"] = f"undefined: {exc}"
                estimable[u, j] = False
            rows.append(rec)
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)

    # --- disparity --------------------------------------------------------------------
    alpha = 1.0 - level
    disp_rows: list[dict[str, Any]] = []
    fair_rows: list[dict[str, Any]] = []
    if disparity:
        assert boot_counts is not None and point_counts is not None
        for p, off in zip(parts, offsets, strict=True):
            ref_label = refs.get(p.name)
            ref_u = off + p.order.index(ref_label) if ref_label is not None else None
            for g_i, g in enumerate(p.order):
                u = off + g_i
                if ref_u is not None and u == ref_u:
                    continue
                for j, s in enumerate(specs):
                    disp_rows.append(
                        _disparity_row(
                            p,
                            g,
                            u,
                            ref_u,
                            j,
                            s,
                            estimable,
                            reasons,
                            counts_rows,
                            n,
                            points,
                            points_rest,
                            reps,
                            reps_rest,
                            ci_methods,
                            level,
                            min_n,
                            min_pos,
                            min_neg,
                            p.name in pre,
                            ref_label,
                        )
                    )
            if pred is not None:
                fair_rows.extend(
                    _fairness_rows(
                        p,
                        off,
                        yt,
                        pred,
                        counts_rows,
                        boot_counts,
                        point_counts,
                        min_n,
                        min_pos,
                        min_neg,
                        level,
                        p.name in pre,
                    )
                )
    disp = pd.DataFrame(disp_rows, columns=DISPARITY_COLUMNS)
    _adjust(disp, multiplicity, alpha, weaker_col=True)
    fair = pd.DataFrame(fair_rows, columns=FAIRNESS_COLUMNS)

    # --- heterogeneity -------------------------------------------------------------------
    het_rows = []
    for p, off in zip(parts, offsets, strict=True):
        for j, s in enumerate(specs):
            het_rows.append(
                _heterogeneity_row(
                    p, off, j, s, estimable, yt, values, pred, cl, level, p.name in pre
                )
            )
    het = pd.DataFrame(het_rows, columns=HETEROGENEITY_COLUMNS)
    _adjust(het, multiplicity, alpha, weaker_col=False)

    settings = {
        "metrics": [s.name for s in specs],
        "ci_methods": ci_methods,
        "threshold": None if threshold is None else float(threshold),
        "confidence_level": level,
        "min_n": min_n,
        "min_pos": min_pos,
        "min_neg": min_neg,
        "multiplicity": multiplicity,
        "multiplicity_families": ["prespecified", "exploratory"],
        "reference": {p.name: refs.get(p.name, "rest") for p in parts},
        "attributes": part_names,
        "prespecified": sorted(pre),
        "age_bins": None if age_bins is None else [_fmt(float(b)) for b in age_bins],
        "age_band_labels": None if age_bins is None else age_band_labels(age_bins),
        "n_resamples": n_resamples if need_boot else 0,
        "bootstrap": ("patients" if cl is not None else "cases, stratified by truth")
        if need_boot
        else None,
        "n_clusters": None if cl is None else int(len(pd.unique(cl))),
        "disparity_ci": "percentile",
        "disparity_test": "wald_bootstrap_se",
        "n_cases": n,
    }
    return SubgroupAnalysis(
        table=table, disparity=disp, heterogeneity=het, fairness=fair, settings=settings
    )


def _map_chunks(func: Any, chunks: Any) -> Any:
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


def _at_boundary(spec: MetricSpec, yt: NDArray[Any], yv: NDArray[Any]) -> bool:
    """A ratio-of-counts metric at exactly 0 or 1 (with a non-zero denominator)."""
    assert spec.counts_ratio is not None
    num, den = spec.counts_ratio
    t = yt.astype(bool)
    p = yv.astype(bool)
    cells = {"tp": t & p, "fn": t & ~p, "tn": ~t & ~p, "fp": ~t & p}
    a = int(sum(int(cells[c].sum()) for c in num))
    b = int(sum(int(cells[c].sum()) for c in den))
    return b > 0 and a in (0, b)


def _denominator(spec: MetricSpec, yt: NDArray[Any], yv: NDArray[Any]) -> int:
    if spec.counts_ratio is None:
        return int(len(yt))
    t = yt.astype(bool)
    p = yv.astype(bool)
    cells = {"tp": t & p, "fn": t & ~p, "tn": ~t & ~p, "fp": ~t & p}
    return int(sum(int(cells[c].sum()) for c in spec.counts_ratio[1]))


def _disparity_row(
    p: _Partition,
    g: str,
    u: int,
    ref_u: int | None,
    j: int,
    s: MetricSpec,
    estimable: NDArray[np.bool_],
    reasons: dict[tuple[int, int], str],
    counts_rows: list[tuple[int, int, int]],
    n: int,
    points: dict[str, NDArray[np.float64]],
    points_rest: dict[str, NDArray[np.float64]],
    reps: dict[str, NDArray[np.float64]],
    reps_rest: dict[str, NDArray[np.float64]],
    ci_methods: dict[str, str],
    level: float,
    min_n: int,
    min_pos: int,
    min_neg: int,
    prespecified: bool,
    ref_label: str | None,
) -> dict[str, Any]:
    rec: dict[str, Any] = {c: np.nan for c in DISPARITY_COLUMNS}
    rec.update(
        attribute=p.name,
        group=g,
        reference=ref_label if ref_label is not None else "rest",
        metric=s.name,
        significant=False,
        weaker=False,
        flagged=False,
        n_resamples_undefined=pd.NA,
        status="ok",
        reason="",
        prespecified=prespecified,
    )
    problems = []
    if not estimable[u, j]:
        problems.append(f"group: {reasons.get((u, j), 'metric undefined in the group')}")
    if ref_u is None:
        nn, npos, nneg = counts_rows[0]
        gn, gp, gq = counts_rows[u]
        rn, rp, rq = nn - gn, npos - gp, nneg - gq
        if rn == 0:
            problems.append("reference: no cases outside this group")
        else:
            r = _guard(rn, rp, rq, s, min_n, min_pos, min_neg)
            if r:
                problems.append(f"reference: {r}")
    elif not estimable[ref_u, j]:
        problems.append(f"reference: {reasons.get((ref_u, j), 'metric undefined in the group')}")
    if s.name not in reps:
        problems.append(f"metric {s.name!r} has no weighted form for the bootstrap")
    if problems:
        rec["status"] = "not_estimable"
        rec["reason"] = "; ".join(problems)
        return rec
    a = float(points[s.name][u])
    b = float(points_rest[s.name][u]) if ref_u is None else float(points[s.name][ref_u])
    ra = reps[s.name][:, u]
    rb = reps_rest[s.name][:, u] if ref_u is None else reps[s.name][:, ref_u]
    if not (math.isfinite(a) and math.isfinite(b)):
        rec["status"] = "not_estimable"
        rec["reason"] = "metric undefined in the group or its reference"
        return rec
    ok = np.isfinite(ra) & np.isfinite(rb)
    n_bad = int((~ok).sum())
    rec["n_resamples_undefined"] = n_bad
    if ok.sum() < 2:
        rec["status"] = "not_estimable"
        rec["reason"] = f"difference undefined in {n_bad} of {len(ra)} resamples"
        return rec
    diff = a - b
    d = ra[ok] - rb[ok]
    lo, hi = _bootstrap.bootstrap_interval(diff, d, method="percentile", confidence_level=level)
    se = float(np.std(d, ddof=1))
    if se > 0:
        pval = float(2.0 * _sstats.norm.sf(abs(diff) / se))
    else:
        pval = 1.0 if diff == 0 else 0.0
    rec.update(
        estimate=a,
        reference_estimate=b,
        difference=diff,
        difference_ci_low=lo,
        difference_ci_high=hi,
        p_value=pval,
        weaker=bool(diff < 0 if s.direction == "higher_is_better" else diff > 0),
    )
    notes = []
    if n_bad:
        notes.append(f"{n_bad} of {len(ra)} resamples undefined, excluded")
    if b > 0:
        rr = ra[ok] / np.where(rb[ok] > 0, rb[ok], np.nan)
        fin = np.isfinite(rr)
        rec["ratio"] = a / b
        if fin.sum() >= 2:
            rlo, rhi = _bootstrap.bootstrap_interval(
                a / b, rr[fin], method="percentile", confidence_level=level
            )
            rec["ratio_ci_low"], rec["ratio_ci_high"] = rlo, rhi
            if (~fin).any():
                notes.append(f"ratio undefined in {int((~fin).sum())} resamples (reference 0)")
    else:
        notes.append("ratio undefined: reference metric is 0")
    rec["reason"] = "; ".join(notes)
    return rec


def _fairness_rows(
    p: _Partition,
    off: int,
    yt: NDArray[np.int8],
    pred: NDArray[np.int8],
    counts_rows: list[tuple[int, int, int]],
    boot_counts: NDArray[np.float64],
    point_counts: NDArray[np.float64],
    min_n: int,
    min_pos: int,
    min_neg: int,
    level: float,
    prespecified: bool,
) -> list[dict[str, Any]]:
    keep = []
    excluded = []
    for g_i, g in enumerate(p.order):
        nn, npos, nneg = counts_rows[off + g_i]
        if nn >= max(min_n, 1) and npos >= max(min_pos, 1) and nneg >= max(min_neg, 1):
            keep.append(g_i)
        else:
            excluded.append(g)
    out = []
    for measure in ("equalized_odds_difference", "demographic_parity_difference"):
        rec: dict[str, Any] = {
            "attribute": p.name,
            "measure": measure,
            "estimate": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "n_groups": len(keep),
            "groups_excluded": ", ".join(excluded),
            "n_resamples_undefined": pd.NA,
            "status": "ok",
            "reason": "",
            "prespecified": prespecified,
        }
        if len(keep) < 2:
            rec["status"] = "not_estimable"
            rec["reason"] = f"{len(keep)} group(s) pass the guardrails; need at least 2"
            out.append(rec)
            continue
        # fairlearn's definition (max - min over groups) from the groups' confusion
        # counts; equality with fairlearn's own functions is tested.
        point = float(
            _fairness_from_counts(measure, point_counts[:, [off + k for k in keep], :])[0]
        )
        c = boot_counts[:, [off + k for k in keep], :]
        reps = _fairness_from_counts(measure, c)
        ok = np.isfinite(reps)
        rec["n_resamples_undefined"] = int((~ok).sum())
        rec["estimate"] = point
        if ok.sum() >= 2:
            rec["ci_low"], rec["ci_high"] = _bootstrap.bootstrap_interval(
                point, reps[ok], method="percentile", confidence_level=level
            )
        else:
            rec["reason"] = "no interval: measure undefined in the resamples"
        out.append(rec)
    return out


def _fairness_from_counts(measure: str, c: NDArray[np.float64]) -> NDArray[np.float64]:
    """fairlearn's between-groups measures from weighted counts ``(..., groups, 4)``.

    ``demographic_parity_difference`` = max - min of the selection rate
    ``(tp + fp) / n``; ``equalized_odds_difference`` = the larger of the max - min
    of the true-positive rate and of the false-positive rate (fairlearn's
    ``agg="worst_case"``, ``method="between_groups"``). NaN where a group lacks the
    denominator.
    """
    tp, fn, tn, fp = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
    if measure == "demographic_parity_difference":
        sel = _eng.ratio(tp + fp, tp + fn + tn + fp)
        return np.asarray(np.max(sel, axis=-1) - np.min(sel, axis=-1), dtype=np.float64)
    tpr = _eng.ratio(tp, tp + fn)
    fpr = _eng.ratio(fp, fp + tn)
    d1 = np.max(tpr, axis=-1) - np.min(tpr, axis=-1)
    d2 = np.max(fpr, axis=-1) - np.min(fpr, axis=-1)
    return np.asarray(np.maximum(d1, d2), dtype=np.float64)


def _heterogeneity_row(
    p: _Partition,
    off: int,
    j: int,
    s: MetricSpec,
    estimable: NDArray[np.bool_],
    yt: NDArray[np.int8],
    values: NDArray[np.float64],
    pred: NDArray[np.int8] | None,
    cl: NDArray[Any] | None,
    level: float,
    prespecified: bool,
) -> dict[str, Any]:
    keep = [g_i for g_i in range(len(p.order)) if estimable[off + g_i, j]]
    excluded = [g for g_i, g in enumerate(p.order) if not estimable[off + g_i, j]]
    rec: dict[str, Any] = {
        "attribute": p.name,
        "metric": s.name,
        "statistic": np.nan,
        "df": pd.NA,
        "p_value": np.nan,
        "p_adjusted": np.nan,
        "significant": False,
        "method": "",
        "n_groups": len(keep),
        "groups_excluded": ", ".join(excluded),
        "status": "ok",
        "reason": "",
        "prespecified": prespecified,
    }
    if len(keep) < 2:
        rec["status"] = "not_estimable"
        rec["reason"] = f"{len(keep)} estimable group(s); need at least 2"
        return rec
    if s.counts_ratio is not None:
        assert pred is not None
        t = yt.astype(bool)
        q = pred.astype(bool)
        cells = {"tp": t & q, "fn": t & ~q, "tn": ~t & ~q, "fp": ~t & q}
        num_v = np.zeros(len(t), dtype=np.int64)
        den_v = np.zeros(len(t), dtype=np.int64)
        for c in s.counts_ratio[0]:
            num_v += cells[c]
        for c in s.counts_ratio[1]:
            den_v += cells[c]
        k = len(p.order)
        num = np.bincount(p.codes, weights=num_v, minlength=k).astype(np.int64)[keep]
        den = np.bincount(p.codes, weights=den_v, minlength=k).astype(np.int64)[keep]
        if (den == 0).any():
            rec["status"] = "not_estimable"
            rec["reason"] = "a group has an empty denominator"
            return rec
        stat, df = _lr_binomial(num, den)
        rec.update(
            statistic=stat,
            df=df,
            p_value=float(_sstats.chi2.sf(stat, df)),
            method="likelihood_ratio_logistic",
        )
        if cl is not None:
            rec["reason"] = "treats cases as independent: patient clustering not accounted for"
        return rec
    if _is_fast_auc(s):
        aucs = []
        var = []
        for g_i in keep:
            m = p.codes == g_i
            try:
                est = _roc.roc_auc(
                    yt[m], values[m], method="delong", clusters=None if cl is None else cl[m]
                )
            except UndefinedMetricError as exc:
                rec["status"] = "not_estimable"
                rec["reason"] = f"group {p.order[g_i]!r}: {exc}"
                return rec
            aucs.append(est.estimate)
            var.append((est.se or 0.0) ** 2)
        a = np.asarray(aucs)
        v = np.asarray(var)
        if (v <= 0).any():
            g0 = p.order[keep[int(np.flatnonzero(v <= 0)[0])]]
            rec["status"] = "not_estimable"
            rec["reason"] = f"DeLong variance is 0 in group {g0!r} (perfect separation)"
            return rec
        wts = 1.0 / v
        abar = float(np.sum(wts * a) / np.sum(wts))
        stat = float(np.sum(wts * (a - abar) ** 2))
        df = len(keep) - 1
        rec.update(
            statistic=stat,
            df=df,
            p_value=float(_sstats.chi2.sf(stat, df)),
            method="delong_chi_square" if cl is None else "obuchowski_chi_square",
        )
        return rec
    rec["status"] = "not_estimable"
    rec["reason"] = f"no heterogeneity test is defined for metric {s.name!r}"
    return rec


def _adjust(df: pd.DataFrame, method: str, alpha: float, *, weaker_col: bool) -> None:
    """Fill ``p_adjusted``/``significant`` (and ``flagged``) within each family, in place."""
    if df.empty:
        return
    df["p_adjusted"] = np.nan
    for fam in (True, False):
        sel = (df["status"] == "ok") & (df["prespecified"] == fam) & df["p_value"].notna()
        if not sel.any():
            continue
        pv = df.loc[sel, "p_value"].to_numpy(dtype=np.float64)
        adj = pv if method == "none" else _multiplicity.adjust_pvalues(pv, method=method)
        df.loc[sel, "p_adjusted"] = adj
    df["significant"] = (df["p_adjusted"] < alpha).fillna(False).astype(bool)
    if weaker_col:
        df["flagged"] = df["significant"] & df["weaker"].astype(bool)
