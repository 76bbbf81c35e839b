"""Subgroup performance and bias analysis with statistical guardrails.

:func:`subgroup_table` reports each metric of the registry
(:mod:`validation.stats.registry`) for every group of every attribute (sex, age
band, site, manufacturer ...) and of declared intersections (sex x manufacturer),
with confidence intervals from the case-level functions, minimum-size guardrails,
pre-specified vs exploratory labels, disparities against the rest of the cases
(or a declared reference group) with multiplicity-adjusted tests, fairlearn's
equalized-odds and demographic-parity differences, and a heterogeneity test per
attribute.

:func:`subgroup_table` is a short orchestrator over private collaborators (in the
spirit of fairlearn's ``metrics/_metric_frame.py`` over ``_group_feature.py`` and
``_bootstrap.py``):

* :mod:`.cases` - truth, scores, the calls at the threshold and the patients;
* :mod:`.groups` - attributes, age bands (:func:`age_bands`, the one banding function),
  partitions and intersections, and the *units* of the analysis (the overall population,
  then every group) with their counts, which fairlearn's ``MetricFrame`` disaggregates.
  It is fed the distinct (group, truth) cells weighted by their case counts rather than
  the cases: fairlearn 0.15 converts every column element by element in each metric call
  (about 1 s per frame at 20,000 cases), and on weighted cells every count is exactly
  the case-level one;
* :mod:`.replicates` - one set of patient-level resamples
  (:func:`validation.stats.bootstrap.bootstrap_weights`) evaluated for all groups and
  their complements at once by the hand-written kernel of :mod:`.cells`: fairlearn's
  ``MetricFrame`` would recompute every group in pandas for each of thousands of
  resamples (see ``benchmarks/bench_subgroups.py``). Using the same resamples for a
  group and its reference keeps the difference paired by design;
* :mod:`.estimates` - guardrails, and every cell's estimate and CI from the metric's
  registry ``compute`` (:func:`validation.stats.proportions.sensitivity`,
  :func:`~validation.stats.roc.roc_auc` ...) on that subset alone, so a cell equals the
  case-level function on the subset (or the bootstrap replicates around it);
* :mod:`.disparity` - differences and ratios against the reference and fairlearn's
  ``equalized_odds_difference`` / ``demographic_parity_difference`` reproduced from the
  groups' confusion counts on every resample;
* :mod:`.heterogeneity` - statsmodels' binomial GLM (likelihood-ratio test) and a
  DeLong-based chi-square for AUC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from validation.stats import multiplicity as _multiplicity
from validation.stats._checks import as_rng, check_confidence_level
from validation.stats._params import Integral, Interval, Options, Real, validate_params
from validation.stats._results import ResultMixin, jsonable
from validation.stats.registry import (
    MetricSpec,
    get_metric,
    list_metrics,
    register_metric,
    resolve_metrics,
)
from validation.stats.subgroups.cases import Cases, check_truth_and_values, make_cases
from validation.stats.subgroups.disparity import (
    DISPARITY_COLUMNS,
    FAIRNESS_COLUMNS,
    DisparityContext,
    disparity_rows,
    fairness_rows,
)
from validation.stats.subgroups.estimates import (
    CellContext,
    Estimability,
    Guardrails,
    estimability,
    estimate_table,
    resolve_ci_methods,
)
from validation.stats.subgroups.groups import (
    Partition,
    age_band_labels,
    age_bands,
    build_units,
    format_edge,
    make_partitions,
    prepare_attributes,
    resolve_prespecified,
    resolve_reference,
)
from validation.stats.subgroups.heterogeneity import HETEROGENEITY_COLUMNS, heterogeneity_rows
from validation.stats.subgroups.replicates import UnitReplicates, bootstrap_units

__all__ = [
    "MULTIPLICITY_CHOICES",
    "MetricSpec",
    "SubgroupAnalysis",
    "age_band_labels",
    "age_bands",
    "get_metric",
    "list_metrics",
    "register_metric",
    "subgroup_table",
]

#: Adjustments of the disparity and heterogeneity p-values (``"none"``: unadjusted).
MULTIPLICITY_CHOICES = ("holm", "fdr_bh", "bonferroni", "hochberg", "none")


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
        out.append(jsonable(clean))
    return out


@dataclass(frozen=True, eq=False)
class SubgroupAnalysis(ResultMixin):
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
        """JSON-ready dict for ``results.json`` (``subgroups`` block); NaN becomes null.

        Overrides the generic form: the four tables are written as lists of records.
        """
        return {
            "rows": _records(self.table),
            "disparity": _records(self.disparity),
            "heterogeneity": _records(self.heterogeneity),
            "fairness": _records(self.fairness),
            "multiplicity": self.settings.get("multiplicity"),
            "settings": jsonable(self.settings),
        }


# ------------------------------------------------------------------------ orchestration


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


@dataclass(frozen=True)
class _Design:
    """The partitions of one analysis with their units and declarations."""

    parts: list[Partition]
    pre: set[str]
    refs: dict[str, str]


def _disparity_tables(
    ctx: DisparityContext,
    design: _Design,
    cases: Cases,
    specs: Sequence[MetricSpec],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    disp_rows: list[dict[str, Any]] = []
    fair_rows: list[dict[str, Any]] = []
    for p, off in zip(design.parts, ctx.units.offsets, strict=True):
        pre = p.name in design.pre
        disp_rows.extend(disparity_rows(ctx, p, off, specs, design.refs.get(p.name), pre))
        if cases.pred is not None:
            fair_rows.extend(fairness_rows(ctx, p, off, pre))
    return disp_rows, fair_rows


def _settings(
    specs: Sequence[MetricSpec],
    ci_methods: dict[str, str],
    design: _Design,
    cases: Cases,
    options: dict[str, Any],
    need_boot: bool,
) -> dict[str, Any]:
    """Everything that determined the numbers, in the order results.json has always had."""
    age_bins = options["age_bins"]
    threshold = options["threshold"]
    cl = cases.clusters
    return {
        "metrics": [s.name for s in specs],
        "ci_methods": ci_methods,
        "threshold": None if threshold is None else float(threshold),
        "confidence_level": options["confidence_level"],
        "min_n": options["min_n"],
        "min_pos": options["min_pos"],
        "min_neg": options["min_neg"],
        "multiplicity": options["multiplicity"],
        "multiplicity_families": ["prespecified", "exploratory"],
        "reference": {p.name: design.refs.get(p.name, "rest") for p in design.parts},
        "attributes": [p.name for p in design.parts],
        "prespecified": sorted(design.pre),
        "age_bins": None if age_bins is None else [format_edge(float(b)) for b in age_bins],
        "age_band_labels": None if age_bins is None else age_band_labels(age_bins),
        "n_resamples": options["n_resamples"] if need_boot else 0,
        "bootstrap": ("patients" if cl is not None else "cases, stratified by truth")
        if need_boot
        else None,
        "n_clusters": None if cl is None else int(len(pd.unique(cl))),
        "disparity_ci": "percentile",
        "disparity_test": "wald_bootstrap_se",
        "n_cases": cases.n,
    }


_COUNT = Interval(Integral, 0, None, closed="left")


@validate_params(
    {
        "metrics": [str, Sequence],
        "threshold": [Real, None],
        "age_column": [str],
        "min_n": [_COUNT],
        "min_pos": [_COUNT],
        "min_neg": [_COUNT],
        "ci_method": [str, Mapping, None],
        "reference": [Mapping, None],
        "confidence_level": [Interval(Real, 0, 1, closed="neither")],
        "n_resamples": [Interval(Integral, 2, None, closed="left")],
        "multiplicity": [Options(MULTIPLICITY_CHOICES)],
        "disparity": [bool],
    }
)
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
    >>> res.table["metric"].head(3).tolist(), res.table.iloc[3][["attribute", "group"]].tolist()
    (['sensitivity', 'specificity', 'auc'], ['sex', 'F'])
    >>> res.table["status"].head(4).tolist()
    ['ok', 'ok', 'ok', 'ok']
    """
    level = check_confidence_level(confidence_level)
    yt, values = check_truth_and_values(y_true, y_score_or_pred)
    specs = resolve_metrics(metrics)
    cases = make_cases(yt, values, specs, threshold=threshold, clusters=clusters)
    ci_methods = resolve_ci_methods(specs, ci_method, cases.clusters is not None)
    attrs = prepare_attributes(groups, cases.n, age_bins, age_column)
    parts = make_partitions(attrs, intersections, age_column)
    design = _Design(
        parts,
        resolve_prespecified(prespecified, attrs, parts, age_column),
        resolve_reference(reference, attrs, parts, age_column),
    )
    boot_rng, cell_rng = as_rng(rng).spawn(2)
    units = build_units(parts, cases.y, design.pre)
    guard = Guardrails(int(min_n), int(min_pos), int(min_neg))
    status: Estimability = estimability(units, specs, guard)

    need_boot = disparity or any(m == "bootstrap" for m in ci_methods.values())
    reps: UnitReplicates | None = None
    if need_boot:
        reps = bootstrap_units(cases, parts, units, specs, int(n_resamples), boot_rng)
    ctx = CellContext(cases, units, ci_methods, level, int(n_resamples), reps, cell_rng)
    table = estimate_table(ctx, specs, status)

    alpha = 1.0 - level
    disp_rows: list[dict[str, Any]] = []
    fair_rows: list[dict[str, Any]] = []
    if disparity:
        if reps is None:
            raise RuntimeError("the disparity analysis needs the bootstrap replicates")
        dctx = DisparityContext(units, status, reps, guard, level)
        disp_rows, fair_rows = _disparity_tables(dctx, design, cases, specs)
    disp = pd.DataFrame(disp_rows, columns=DISPARITY_COLUMNS)
    _adjust(disp, multiplicity, alpha, weaker_col=True)
    fair = pd.DataFrame(fair_rows, columns=FAIRNESS_COLUMNS)

    het_rows = []
    for p, off in zip(design.parts, units.offsets, strict=True):
        het_rows.extend(heterogeneity_rows(cases, p, off, specs, status, p.name in design.pre))
    het = pd.DataFrame(het_rows, columns=HETEROGENEITY_COLUMNS)
    _adjust(het, multiplicity, alpha, weaker_col=False)

    options = {
        "threshold": threshold,
        "confidence_level": level,
        "min_n": guard.min_n,
        "min_pos": guard.min_pos,
        "min_neg": guard.min_neg,
        "multiplicity": multiplicity,
        "age_bins": age_bins,
        "n_resamples": int(n_resamples),
    }
    settings = _settings(specs, ci_methods, design, cases, options, need_boot)
    return SubgroupAnalysis(
        table=table, disparity=disp, heterogeneity=het, fairness=fair, settings=settings
    )
