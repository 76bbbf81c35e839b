"""The metric registry shared by subgroup analysis and the protocol runner.

A protocol names metrics by string (``metric: sensitivity``); this module resolves
each name to a frozen :class:`MetricSpec` that says what the metric needs
(``kind``: a thresholded prediction or a continuous score), which way is better
(``direction``), which CI methods are valid, and how to compute it with its CI
(``compute``), always through the case-level functions of
:mod:`validation.stats.proportions` and :mod:`validation.stats.roc`.

Built-in metrics: ``sensitivity``, ``specificity``, ``ppv``, ``npv``, ``accuracy``
(threshold metrics; exact/score intervals, the cluster-adjusted Wilson interval
``wilson_cluster``, or a patient-clustered bootstrap, which falls back to ``wilson_cluster``
at an estimate of 0 or 1) and
``auc`` (score metric; DeLong, DeLong on the logit scale, or bootstrap). Further
metrics are added with :func:`register_metric`.

Besides ``compute``, a spec may carry two vectorised forms used by bootstrap
engines: ``counts_ratio`` (for metrics that are a ratio of confusion counts: the
numerator and denominator cells) and ``weighted(y_true, y, weights)`` (the metric
under each row of a case-weight matrix, NaN where a row leaves it undefined).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from validation.errors import UndefinedMetricError, UnknownMetricError
from validation.stats import bootstrap as _bootstrap
from validation.stats import proportions as _proportions
from validation.stats import roc as _roc
from validation.stats._checks import (
    as_binary,
    as_rng,
    as_scores,
    check_confidence_level,
    check_method,
    check_same_length,
)
from validation.stats._params import validate_params
from validation.stats._results import Estimate

__all__ = [
    "MetricSpec",
    "UnknownMetricError",
    "get_metric",
    "list_metrics",
    "register_metric",
]

#: Confusion-matrix cells a ``counts_ratio`` may name.
COUNT_CELLS = ("tp", "fn", "tn", "fp")

PROPORTION_CI_METHODS = (
    "wilson",
    "wilson_cluster",
    "wilson_cc",
    "clopper_pearson",
    "agresti_coull",
    "jeffreys",
    "wald",
    "bootstrap",
)
AUC_CI_METHODS = ("delong", "delong_logit", "bootstrap")


@dataclass(frozen=True)
class MetricSpec:
    """Declaration of one metric.

    Attributes
    ----------
    name : str
        Registry key, e.g. ``"sensitivity"``.
    kind : {"threshold", "score"}
        ``"threshold"`` metrics take 0/1 predictions ``y_pred``; ``"score"`` metrics
        take continuous scores ``y_score``.
    direction : {"higher_is_better", "lower_is_better"}
        Which way is better; disparity analysis uses it to call a subgroup weaker.
    ci_methods : tuple of str
        CI methods ``compute`` accepts.
    default_ci_method : str
        The method used when a protocol or caller names none.
    compute : callable
        ``compute(y_true, y, *, method, confidence_level, clusters=None, rng=None,
        n_resamples=2000) -> Estimate``. Raises
        :class:`~validation.errors.UndefinedMetricError` where the metric is undefined.
    description : str
        One line for reports and ``radval`` help.
    counts_ratio : tuple of two tuples of str, optional
        For ratios of confusion counts: ``(numerator_cells, denominator_cells)`` from
        ``("tp", "fn", "tn", "fp")``; lets bootstrap engines work from weighted counts.
    weighted : callable, optional
        ``weighted(y_true, y, weights) -> ndarray`` giving the metric under each row
        of a ``(n_rows, n_cases)`` weight matrix (NaN where undefined).
    """

    name: str
    kind: Literal["threshold", "score"]
    direction: Literal["higher_is_better", "lower_is_better"]
    ci_methods: tuple[str, ...]
    default_ci_method: str
    compute: Callable[..., Estimate]
    description: str
    counts_ratio: tuple[tuple[str, ...], tuple[str, ...]] | None = None
    weighted: Callable[[NDArray[Any], NDArray[Any], NDArray[Any]], NDArray[np.float64]] | None = (
        None
    )

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError(f"MetricSpec.name must be a non-empty string, got {self.name!r}")
        if self.kind not in ("threshold", "score"):
            raise ValueError(f"MetricSpec.kind must be 'threshold' or 'score', got {self.kind!r}")
        if self.direction not in ("higher_is_better", "lower_is_better"):
            raise ValueError(
                "MetricSpec.direction must be 'higher_is_better' or 'lower_is_better', "
                f"got {self.direction!r}"
            )
        if not self.ci_methods:
            raise ValueError(f"MetricSpec {self.name!r}: ci_methods must not be empty")
        if self.default_ci_method not in self.ci_methods:
            raise ValueError(
                f"MetricSpec {self.name!r}: default_ci_method {self.default_ci_method!r} "
                f"is not one of ci_methods {self.ci_methods}"
            )
        if self.counts_ratio is not None:
            num, den = self.counts_ratio
            for cell in (*num, *den):
                if cell not in COUNT_CELLS:
                    raise ValueError(
                        f"MetricSpec {self.name!r}: counts_ratio cells must be among "
                        f"{COUNT_CELLS}, got {cell!r}"
                    )
            if not den:
                raise ValueError(f"MetricSpec {self.name!r}: counts_ratio needs a denominator")


_REGISTRY: dict[str, MetricSpec] = {}


@validate_params(
    {
        "replace": [bool],
    }
)
def register_metric(spec: MetricSpec, *, replace: bool = False) -> MetricSpec:
    """Add a metric to the registry.

    Parameters
    ----------
    spec : MetricSpec
        The metric declaration.
    replace : bool, default False
        Allow replacing an existing metric of the same name.

    Returns
    -------
    MetricSpec
        ``spec``, for use as a decorator-free one-liner.

    Examples
    --------
    >>> from validation.stats.registry import MetricSpec, get_metric, register_metric
    >>> sens = get_metric("sensitivity")
    >>> tpr = MetricSpec("tpr", "threshold", "higher_is_better", sens.ci_methods,
    ...                  "wilson", sens.compute, "alias of sensitivity",
    ...                  counts_ratio=sens.counts_ratio, weighted=sens.weighted)
    >>> register_metric(tpr).name
    'tpr'
    """
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"register_metric expects a MetricSpec, got {type(spec).__name__}")
    if spec.name in _REGISTRY and not replace:
        raise ValueError(
            f"metric {spec.name!r} is already registered; pass replace=True to replace it"
        )
    _REGISTRY[spec.name] = spec
    return spec


def get_metric(name: str) -> MetricSpec:
    """Return the registered :class:`MetricSpec` called ``name``.

    Raises
    ------
    UnknownMetricError
        If no metric of that name is registered; the message lists the known names.

    Examples
    --------
    >>> from validation.stats.registry import get_metric
    >>> get_metric("auc").kind
    'score'
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownMetricError(f"unknown metric {name!r}; known metrics: {known}") from None


def list_metrics() -> tuple[str, ...]:
    """Return the registered metric names, sorted.

    Examples
    --------
    >>> from validation.stats.registry import list_metrics
    >>> "sensitivity" in list_metrics()
    True
    """
    return tuple(sorted(_REGISTRY))


# --------------------------------------------------------------------------- builtins


def _confusion_vectors(y_true: NDArray[np.int8], y_pred: NDArray[np.int8]) -> dict[str, NDArray]:
    t = y_true.astype(bool)
    p = y_pred.astype(bool)
    return {"tp": t & p, "fn": t & ~p, "tn": ~t & ~p, "fp": ~t & p}


def _ratio_weighted(
    num: tuple[str, ...], den: tuple[str, ...]
) -> Callable[[NDArray[Any], NDArray[Any], NDArray[Any]], NDArray[np.float64]]:
    def weighted(y_true: NDArray[Any], y_pred: NDArray[Any], weights: NDArray[Any]) -> NDArray:
        cells = _confusion_vectors(as_binary(y_true), as_binary(y_pred, name="y_pred"))
        w = np.asarray(weights, dtype=np.float64)
        numv = np.zeros(w.shape[-1])
        denv = np.zeros(w.shape[-1])
        for c in num:
            numv += cells[c]
        for c in den:
            denv += cells[c]
        a = w @ numv
        b = w @ denv
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(b > 0, a / np.where(b > 0, b, 1.0), np.nan)

    return weighted


def _resample_weights(
    n: int,
    *,
    clusters: ArrayLike | None,
    strata: NDArray[Any] | None,
    n_resamples: int,
    rng: np.random.Generator,
) -> NDArray[np.float64]:
    """All bootstrap case-weight rows from the shared engine (patients resampled)."""
    source: Any = np.asarray(clusters) if clusters is not None else n
    chunks = list(
        _bootstrap.bootstrap_weights(
            source,
            strata=None if clusters is not None else strata,
            n_resamples=n_resamples,
            rng=rng,
        )
    )
    return np.vstack([np.asarray(c, dtype=np.float64) for c in chunks])


def _proportion_compute(
    name: str, func_name: str, num: tuple[str, ...], den: tuple[str, ...]
) -> Callable[..., Estimate]:
    weighted = _ratio_weighted(num, den)

    def compute(
        y_true: ArrayLike,
        y_pred: ArrayLike,
        *,
        method: str = "wilson",
        confidence_level: float = 0.95,
        clusters: ArrayLike | None = None,
        rng: np.random.Generator | int | None = None,
        n_resamples: int = 2000,
    ) -> Estimate:
        """The proportion with its CI: the function of :mod:`validation.stats.proportions`
        named by the spec, the cluster-adjusted Wilson interval, or the bootstrap."""
        check_method(method, PROPORTION_CI_METHODS)
        level = check_confidence_level(confidence_level)
        if method == "wilson_cluster":
            return _clustered_wilson(y_true, y_pred, clusters, level, num, den)
        if method != "bootstrap":
            func = getattr(_proportions, func_name)
            est: Estimate = func(y_true, y_pred, method=method, confidence_level=level)
            if clusters is not None:
                extra = dict(est.extra)
                extra["cluster_note"] = (
                    f"{method} interval treats cases as independent; clusters not used"
                )
                est = Estimate(
                    estimate=est.estimate,
                    ci_low=est.ci_low,
                    ci_high=est.ci_high,
                    confidence_level=est.confidence_level,
                    method=est.method,
                    n=est.n,
                    se=est.se,
                    successes=est.successes,
                    extra=extra,
                )
            return est
        # Percentile bootstrap over patients (or cases, stratified by truth): no
        # closed-form interval accounts for within-patient correlation of a ratio
        # of counts, so the shared resampling engine supplies the weights.
        yt = as_binary(y_true)
        yp = as_binary(y_pred, name="y_pred")
        n = check_same_length(y_true=yt, y_pred=yp, clusters=clusters)
        cells = _confusion_vectors(yt, yp)
        successes = int(sum(cells[c].sum() for c in num))
        denom = int(sum(cells[c].sum() for c in den))
        if denom == 0:
            raise UndefinedMetricError(
                f"{name} is undefined: its denominator ({' + '.join(den)}) is 0"
            )
        point = successes / denom
        if successes in (0, denom):
            # every resample gives the same 0 or 1: the percentile interval would be a point
            est = _clustered_wilson(yt, yp, clusters, level, num, den)
            extra = dict(est.extra)
            extra["requested"] = "bootstrap"
            extra["reason"] = DEGENERATE_NOTE.format(p=point, x=successes, n=denom)
            return Estimate(
                estimate=est.estimate,
                ci_low=est.ci_low,
                ci_high=est.ci_high,
                confidence_level=est.confidence_level,
                method=est.method,
                n=est.n,
                se=est.se,
                successes=est.successes,
                extra=extra,
            )
        w = _resample_weights(
            n, clusters=clusters, strata=yt, n_resamples=int(n_resamples), rng=as_rng(rng)
        )
        reps = weighted(yt, yp, w)
        ok = np.isfinite(reps)
        n_undefined = int((~ok).sum())
        if not ok.any():
            raise UndefinedMetricError(f"{name} is undefined in every bootstrap resample")
        interval = _bootstrap.bootstrap_interval(
            point, reps[ok], method="percentile", confidence_level=level
        )
        lo, hi = _interval_bounds(interval)
        return Estimate(
            estimate=point,
            ci_low=lo,
            ci_high=hi,
            confidence_level=level,
            method="bootstrap_percentile" if clusters is None else "cluster_bootstrap_percentile",
            n=denom,
            se=float(np.std(reps[ok], ddof=1)) if ok.sum() > 1 else None,
            successes=successes,
            extra={
                "n_resamples": int(len(reps)),
                "n_resamples_undefined": n_undefined,
                "n_clusters": None if clusters is None else int(len(np.unique(clusters))),
            },
        )

    compute.__name__ = f"compute_{name}"
    return compute


#: Why a bootstrap interval of a proportion at 0 or 1 is replaced.
DEGENERATE_NOTE = (
    "estimate {p:.3f} ({x}/{n}): every bootstrap resample gives the same value, so the "
    "percentile interval would be a single point; cluster-adjusted Wilson interval "
    "(Dean & Pagano 2015) instead"
)


def _clustered_wilson(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    clusters: ArrayLike | None,
    level: float,
    num: tuple[str, ...],
    den: tuple[str, ...],
) -> Estimate:
    """Cluster-adjusted Wilson interval of a ratio of confusion counts
    (:func:`validation.stats.proportions.proportion_ci_clustered`); each case is its own
    cluster when ``clusters`` is None."""
    yt = as_binary(y_true)
    yp = as_binary(y_pred, name="y_pred")
    n = check_same_length(y_true=yt, y_pred=yp, clusters=clusters)
    cells = _confusion_vectors(yt, yp)
    in_den = np.zeros(n, dtype=bool)
    for c in den:
        in_den |= cells[c]
    success = np.zeros(n, dtype=bool)
    for c in num:
        success |= cells[c]
    codes = np.arange(n) if clusters is None else pd.factorize(np.asarray(clusters))[0]
    k = int(codes.max()) + 1 if n else 0
    trials = np.bincount(codes, weights=in_den.astype(np.float64), minlength=k)
    succ = np.bincount(codes, weights=(success & in_den).astype(np.float64), minlength=k)
    if trials.sum() == 0:
        raise UndefinedMetricError(
            f"the proportion is undefined: its denominator ({' + '.join(den)}) is 0"
        )
    return _proportions.proportion_ci_clustered(succ, trials, confidence_level=level)


def _interval_bounds(interval: Any) -> tuple[float, float]:
    """Accept an Estimate-like object or a (low, high) pair from ``bootstrap_interval``."""
    if hasattr(interval, "ci_low"):
        return float(interval.ci_low), float(interval.ci_high)
    lo, hi = interval
    return float(lo), float(hi)


def _auc_compute(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    method: str = "delong",
    confidence_level: float = 0.95,
    clusters: ArrayLike | None = None,
    rng: np.random.Generator | int | None = None,
    n_resamples: int = 2000,
) -> Estimate:
    """AUC with its CI; see :func:`validation.stats.roc.roc_auc`."""
    check_method(method, AUC_CI_METHODS)
    est: Estimate = _roc.roc_auc(
        y_true,
        y_score,
        method=method,
        confidence_level=confidence_level,
        clusters=clusters,
        n_resamples=n_resamples,
        rng=rng,
    )
    return est


def _auc_weighted(
    y_true: NDArray[Any], y_score: NDArray[Any], weights: NDArray[Any]
) -> NDArray[np.float64]:
    yt = as_binary(y_true)
    ys = as_scores(y_score)
    w = np.atleast_2d(np.asarray(weights, dtype=np.float64))
    out = np.asarray(_bootstrap.weighted_auc(yt, ys, w), dtype=np.float64)
    npos = w @ (yt == 1)
    nneg = w @ (yt == 0)
    return np.where((npos > 0) & (nneg > 0), out, np.nan)


_PROPORTIONS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], str]] = {
    "sensitivity": ("sensitivity", ("tp",), ("tp", "fn"), "TP / (TP + FN): true positive rate"),
    "specificity": ("specificity", ("tn",), ("tn", "fp"), "TN / (TN + FP): true negative rate"),
    "ppv": ("ppv", ("tp",), ("tp", "fp"), "TP / (TP + FP): positive predictive value"),
    "npv": ("npv", ("tn",), ("tn", "fn"), "TN / (TN + FN): negative predictive value"),
    "accuracy": (
        "accuracy",
        ("tp", "tn"),
        ("tp", "fn", "tn", "fp"),
        "(TP + TN) / N: fraction of cases classified correctly",
    ),
}

BUILTIN_METRICS: dict[str, MetricSpec] = {}

for _name, (_func, _num, _den, _desc) in _PROPORTIONS.items():
    BUILTIN_METRICS[_name] = MetricSpec(
        name=_name,
        kind="threshold",
        direction="higher_is_better",
        ci_methods=PROPORTION_CI_METHODS,
        default_ci_method="wilson",
        compute=_proportion_compute(_name, _func, _num, _den),
        description=_desc,
        counts_ratio=(_num, _den),
        weighted=_ratio_weighted(_num, _den),
    )

BUILTIN_METRICS["auc"] = MetricSpec(
    name="auc",
    kind="score",
    direction="higher_is_better",
    ci_methods=AUC_CI_METHODS,
    default_ci_method="delong",
    compute=_auc_compute,
    description="area under the ROC curve (Mann-Whitney, ties count 1/2)",
    weighted=_auc_weighted,
)

for _spec in BUILTIN_METRICS.values():
    register_metric(_spec)


def resolve_metrics(names: Sequence[str] | str) -> tuple[MetricSpec, ...]:
    """Resolve metric names to specs, rejecting duplicates and unknown names."""
    if isinstance(names, str):
        names = (names,)
    specs = tuple(get_metric(n) for n in names)
    seen: set[str] = set()
    for s in specs:
        if s.name in seen:
            raise ValueError(f"metric {s.name!r} is listed twice in metrics")
        seen.add(s.name)
    if not specs:
        raise ValueError("metrics must name at least one metric, got none")
    return specs
