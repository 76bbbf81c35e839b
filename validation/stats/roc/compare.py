"""Paired, unpaired and performance-goal AUC tests (public via ``roc``).

Internal module of :mod:`validation.stats.roc`; see that module for conventions.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as sps
from scipy.special import logit

from validation.stats._checks import (
    as_rng,
    check_confidence_level,
    check_same_length,
)
from validation.stats._params import (
    ALTERNATIVES,
    RESAMPLES,
    UNIT_INTERVAL,
    Interval,
    Options,
    Real,
    validate_params,
)
from validation.stats._results import Comparison, TestResult
from validation.stats.bootstrap import (
    AucEngine,
    bootstrap_weights,
)
from validation.stats.roc._delong import (
    case_jackknife,
    case_placements,
    cluster_design,
    cluster_jackknife,
    delong_covariance,
    delong_variance,
    obuchowski_covariance,
    prepare,
)
from validation.stats.roc.auc import (
    AUC_METHODS,
    BOOTSTRAP_CI_METHODS,
    check_boot_args,
    finish_boot,
    null_from_margin,
    roc_auc,
    z_critical,
    z_test,
)

_COMPARE_METHODS = ("delong", "bootstrap")


@validate_params(
    {
        "method": [Options(_COMPARE_METHODS)],
        "confidence_level": [UNIT_INTERVAL],
        "alternative": [ALTERNATIVES],
        "margin": [Interval(Real, 0, None, closed="left")],
        "n_resamples": [RESAMPLES],
        "bootstrap_ci": [Options(BOOTSTRAP_CI_METHODS)],
    }
)
def compare_auc(
    y_true: ArrayLike,
    y_score_a: ArrayLike,
    y_score_b: ArrayLike,
    *,
    method: str = "delong",
    confidence_level: float = 0.95,
    alternative: str = "two-sided",
    margin: float = 0.0,
    clusters: ArrayLike | None = None,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    bootstrap_ci: str = "bca",
) -> Comparison:
    """Compare the AUCs of two scores on the same cases (paired); ``difference = a - b``.

    Hypotheses (``d = AUC_a - AUC_b``, ``margin >= 0``):

    - ``alternative="two-sided"``: H0: d = 0 vs H1: d != 0 (``margin`` must be 0);
    - ``alternative="greater"``: H0: d <= -margin vs H1: d > -margin. With
      ``margin > 0`` this is the non-inferiority test of a against b; with
      ``margin = 0`` the superiority test;
    - ``alternative="less"``: H0: d >= margin vs H1: d < margin.

    The statistic is ``z = (d - null) / se`` with ``null`` the boundary of H0 above,
    referred to the standard normal. ``ci_low``/``ci_high`` are always the two-sided
    interval at ``confidence_level`` (for a one-sided test at level alpha, use
    ``confidence_level = 1 - 2 alpha`` and compare the lower bound with ``-margin``).

    Methods: ``"delong"``: ``se^2 = var_a + var_b - 2 cov_ab`` from paired placement
    values (DeLong 1988; pROC ``roc.test(paired=TRUE, method="delong")``), or with
    ``clusters`` Obuchowski's (1997) clustered covariances (method ``"obuchowski"``);
    interval ``d +- z se``. ``"bootstrap"``: paired resamples (stratified by class, or of
    clusters), ``se`` the SD of the replicated differences (pROC's bootstrap
    ``roc.test`` statistic ``D = d / sd``), interval BCa or percentile of the replicates.

    Parameters
    ----------
    y_true : array-like of 0/1
    y_score_a, y_score_b : array-like of float
    method : {"delong", "bootstrap"}
    confidence_level : float
    alternative : {"two-sided", "greater", "less"}
    margin : float
    clusters : array-like, optional
    n_resamples : int
    rng : numpy.random.Generator, int, SeedSequence or None
    bootstrap_ci : {"bca", "percentile"}

    Returns
    -------
    Comparison
        ``difference``, ``ci_low``, ``ci_high``, ``statistic`` (z), ``p_value``, ``se``,
        ``estimate_a``, ``estimate_b``; ``extra`` has ``covariance``, ``variance_a``,
        ``variance_b``, ``correlation`` (DeLong) or the bootstrap counts.
    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or
       more correlated ROC curves. Biometrics 1988;44:837-845. doi:10.2307/2531595
    .. [2] Sun X, Xu W. Fast implementation of DeLong's algorithm. IEEE Signal Process
       Lett 2014;21:1389-1393. doi:10.1109/LSP.2014.2337313
    .. [3] Obuchowski NA. Nonparametric analysis of clustered ROC curve data.
       Biometrics 1997;53:567-578. doi:10.2307/2533960
    .. [4] Efron B. Better bootstrap confidence intervals. JASA 1987;82:171-185.
    .. [5] Robin X et al. pROC: an open-source package for R and S+ to analyze and
       compare ROC curves. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77
    Examples
    --------
    >>> y = [0, 0, 0, 1, 1, 1]
    >>> c = compare_auc(y, [0.1, 0.3, 0.5, 0.4, 0.8, 0.9], [0.2, 0.1, 0.6, 0.3, 0.7, 0.5])
    >>> round(c.difference, 4)
    0.1111
    """
    level = check_confidence_level(confidence_level)
    null = null_from_margin(alternative, margin)
    y, sa = prepare(y_true, y_score_a, score_name="y_score_a")
    _, sb = prepare(y, y_score_b, score_name="y_score_b")
    check_same_length(y_score_a=sa, y_score_b=sb)
    pa, pb = case_placements(y, sa), case_placements(y, sb)
    d = pa.auc - pb.auc
    extra: dict[str, Any] = {"n_positive": pa.v10.size, "n_negative": pa.v01.size}
    design = cluster_design(clusters, y) if clusters is not None else None
    if design is not None:
        extra["n_clusters"] = design.n_clusters
    if method == "delong":
        if design is None:
            va, vb = delong_variance(pa.v10, pa.v01), delong_variance(pb.v10, pb.v01)
            cov = delong_covariance(pa, pb)
            name = "delong"
        else:
            va = obuchowski_covariance(pa, pa, design)
            vb = obuchowski_covariance(pb, pb, design)
            cov = obuchowski_covariance(pa, pb, design)
            name = "obuchowski"
        var = va + vb - 2.0 * cov
        se = float(np.sqrt(max(var, 0.0)))
        zq = z_critical(level)
        lo, hi = d - zq * se, d + zq * se
        corr = cov / np.sqrt(va * vb) if va > 0 and vb > 0 else None
        extra.update(variance_a=va, variance_b=vb, covariance=cov, correlation=corr)
    else:
        n_res = check_boot_args(n_resamples, bootstrap_ci)
        ea, eb = AucEngine(y, sa), AucEngine(y, sb)
        if design is None:
            weights = bootstrap_weights(y.size, strata=y, n_resamples=n_res, rng=rng)
            name = "bootstrap_" + bootstrap_ci
        else:
            weights = bootstrap_weights(design.codes, n_resamples=n_res, rng=rng)
            name = "cluster_bootstrap_" + bootstrap_ci
        reps = np.concatenate([ea.auc(w) - eb.auc(w) for w in weights])

        def jackknife() -> tuple[NDArray[np.float64], Any]:
            if design is None:
                ja, strata = case_jackknife(pa)
                jb, _ = case_jackknife(pb)
                return ja - jb, strata
            return cluster_jackknife(y, sa, pa, design) - cluster_jackknife(y, sb, pb, design), None

        boot = finish_boot(reps, d, ci_method=bootstrap_ci, level=level, jackknife=jackknife)
        se = float(np.std(boot.replicates, ddof=1))
        lo, hi = boot.ci
        extra.update(n_resamples=n_res, n_undefined_resamples=boot.n_undefined)
    z, p = z_test(d, se, alternative=alternative, null=null)
    return Comparison(
        difference=d,
        ci_low=float(lo),
        ci_high=float(hi),
        statistic=z,
        p_value=p,
        confidence_level=level,
        method=name,
        df=None,
        estimate_a=pa.auc,
        estimate_b=pb.auc,
        alternative=alternative,
        margin=float(margin),
        se=se,
        n=int(y.size),
        extra=extra,
    )


@validate_params(
    {
        "method": [Options(_COMPARE_METHODS)],
        "confidence_level": [UNIT_INTERVAL],
        "alternative": [ALTERNATIVES],
        "margin": [Interval(Real, 0, None, closed="left")],
        "n_resamples": [RESAMPLES],
        "bootstrap_ci": [Options(BOOTSTRAP_CI_METHODS)],
    }
)
def compare_auc_unpaired(
    y_true_a: ArrayLike,
    y_score_a: ArrayLike,
    y_true_b: ArrayLike,
    y_score_b: ArrayLike,
    *,
    method: str = "delong",
    confidence_level: float = 0.95,
    alternative: str = "two-sided",
    margin: float = 0.0,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    bootstrap_ci: str = "bca",
) -> Comparison:
    """Compare AUCs from two independent samples; ``difference = a - b``.

    ``"delong"`` (as pROC ``roc.test(paired=FALSE, method="delong")``):
    ``t = (d - null) / sqrt(V_a + V_b)`` with DeLong variances and Welch-type degrees of
    freedom ``df = (V_a + V_b)^2 / (V_a^2 / (N_a - 1) + V_b^2 / (N_b - 1))`` (``N`` = cases
    in each sample), p-value from Student's t; interval ``d +- t_df se``. If both
    variances are 0 the test is a degenerate z test (``df = inf``; p = 1 when the
    difference equals the null value, pROC returns NaN there).
    ``"bootstrap"``: independent stratified resamples of each sample; ``se`` the SD of
    the replicated differences, z test as pROC's bootstrap ``roc.test``; BCa (jackknife
    over both samples, stratified by sample and class) or percentile interval.

    Hypotheses as in :func:`compare_auc` (``null = 0``, ``-margin`` for "greater",
    ``+margin`` for "less").

    Parameters
    ----------
    y_true_a, y_score_a : array-like
        Labels and scores of sample a.
    y_true_b, y_score_b : array-like
        Labels and scores of sample b.
    method : {"delong", "bootstrap"}
    confidence_level, alternative, margin, n_resamples, rng, bootstrap_ci
        As in :func:`compare_auc`.

    Returns
    -------
    Comparison
        With ``df`` for the DeLong t test.
    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or
       more correlated ROC curves. Biometrics 1988;44:837-845. doi:10.2307/2531595
    .. [2] Sun X, Xu W. Fast implementation of DeLong's algorithm. IEEE Signal Process
       Lett 2014;21:1389-1393. doi:10.1109/LSP.2014.2337313
    .. [3] Obuchowski NA. Nonparametric analysis of clustered ROC curve data.
       Biometrics 1997;53:567-578. doi:10.2307/2533960
    .. [4] Efron B. Better bootstrap confidence intervals. JASA 1987;82:171-185.
    .. [5] Robin X et al. pROC: an open-source package for R and S+ to analyze and
       compare ROC curves. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77
    Examples
    --------
    >>> c = compare_auc_unpaired([0, 0, 1, 1, 0, 1], [0.1, 0.4, 0.35, 0.8, 0.3, 0.6],
    ...                          [0, 1, 0, 1, 1, 0], [0.2, 0.5, 0.6, 0.9, 0.4, 0.1])
    >>> round(c.difference, 4)
    0.1111
    """
    level = check_confidence_level(confidence_level)
    null = null_from_margin(alternative, margin)
    ya, sa = prepare(y_true_a, y_score_a, score_name="y_score_a")
    yb, sb = prepare(y_true_b, y_score_b, score_name="y_score_b")
    pa, pb = case_placements(ya, sa), case_placements(yb, sb)
    d = pa.auc - pb.auc
    extra: dict[str, Any] = {"n_a": int(ya.size), "n_b": int(yb.size)}
    df: float | None = None
    if method == "delong":
        va, vb = delong_variance(pa.v10, pa.v01), delong_variance(pb.v10, pb.v01)
        var = va + vb
        se = float(np.sqrt(var))
        extra.update(variance_a=va, variance_b=vb)
        if var == 0.0:
            z, p = z_test(d, 0.0, alternative=alternative, null=null)
            df = float("inf")
            lo = hi = d
        else:
            df = var**2 / (va**2 / (ya.size - 1) + vb**2 / (yb.size - 1))
            z = (d - null) / se
            tdist = sps.t(df)
            if alternative == "two-sided":
                p = float(2.0 * tdist.sf(abs(z)))
            elif alternative == "greater":
                p = float(tdist.sf(z))
            else:
                p = float(tdist.cdf(z))
            tq = float(tdist.ppf(0.5 + level / 2.0))
            lo, hi = d - tq * se, d + tq * se
        name = "delong_unpaired"
    else:
        n_res = check_boot_args(n_resamples, bootstrap_ci)
        gen = as_rng(rng)
        ga, gb = gen.spawn(2)
        ea, eb = AucEngine(ya, sa), AucEngine(yb, sb)
        ra = np.concatenate(
            [ea.auc(w) for w in bootstrap_weights(ya.size, strata=ya, n_resamples=n_res, rng=ga)]
        )
        rb = np.concatenate(
            [eb.auc(w) for w in bootstrap_weights(yb.size, strata=yb, n_resamples=n_res, rng=gb)]
        )

        def jackknife() -> tuple[NDArray[np.float64], Any]:
            ja, sta = case_jackknife(pa)
            jb, stb = case_jackknife(pb)
            return np.concatenate((ja - pb.auc, pa.auc - jb)), np.concatenate((sta, stb + 2))

        boot = finish_boot(ra - rb, d, ci_method=bootstrap_ci, level=level, jackknife=jackknife)
        se = float(np.std(boot.replicates, ddof=1))
        lo, hi = boot.ci
        z, p = z_test(d, se, alternative=alternative, null=null)
        extra.update(n_resamples=n_res, n_undefined_resamples=boot.n_undefined)
        name = "bootstrap_unpaired_" + bootstrap_ci
    return Comparison(
        difference=d,
        ci_low=float(lo),
        ci_high=float(hi),
        statistic=float(z),
        p_value=min(1.0, float(p)),
        confidence_level=level,
        method=name,
        df=df,
        estimate_a=pa.auc,
        estimate_b=pb.auc,
        alternative=alternative,
        margin=float(margin),
        se=se,
        n=int(ya.size + yb.size),
        extra=extra,
    )


@validate_params(
    {
        "null_value": [UNIT_INTERVAL],
        "alternative": [ALTERNATIVES],
        "method": [Options(AUC_METHODS)],
        "confidence_level": [UNIT_INTERVAL],
        "n_resamples": [RESAMPLES],
        "bootstrap_ci": [Options(BOOTSTRAP_CI_METHODS)],
    }
)
def auc_test(
    y_true: ArrayLike,
    y_score: ArrayLike,
    *,
    null_value: float,
    alternative: str = "greater",
    method: str = "delong",
    confidence_level: float = 0.95,
    clusters: ArrayLike | None = None,
    n_resamples: int = 2000,
    rng: np.random.Generator | int | np.random.SeedSequence | None = None,
    bootstrap_ci: str = "bca",
) -> TestResult:
    """Test the AUC against a performance goal, e.g. H0: AUC <= 0.80.

    ``alternative="greater"``: H0: AUC <= null_value vs H1: AUC > null_value;
    ``"less"``: H0: AUC >= null_value; ``"two-sided"``: H0: AUC = null_value.
    ``z = (AUC - null_value) / se`` with the standard error of :func:`roc_auc` for the
    same ``method`` (DeLong, Obuchowski with ``clusters``, or the bootstrap SD); for
    ``"delong_logit"`` the test is on the logit scale,
    ``z = (logit AUC - logit null_value) AUC (1 - AUC) / se``. The returned interval is
    :func:`roc_auc`'s two-sided interval at ``confidence_level``.

    Parameters
    ----------
    y_true, y_score : array-like
    null_value : float
        The performance goal, in (0, 1).
    alternative : {"greater", "less", "two-sided"}
    method, confidence_level, clusters, n_resamples, rng, bootstrap_ci
        As in :func:`roc_auc`.

    Returns
    -------
    TestResult
        ``statistic`` (z), ``p_value``, ``estimate`` (AUC), ``ci_low``, ``ci_high``,
        ``extra["se"]``.
    References
    ----------
    .. [1] DeLong ER, DeLong DM, Clarke-Pearson DL. Comparing the areas under two or
       more correlated ROC curves. Biometrics 1988;44:837-845. doi:10.2307/2531595
    .. [2] Sun X, Xu W. Fast implementation of DeLong's algorithm. IEEE Signal Process
       Lett 2014;21:1389-1393. doi:10.1109/LSP.2014.2337313
    .. [3] Obuchowski NA. Nonparametric analysis of clustered ROC curve data.
       Biometrics 1997;53:567-578. doi:10.2307/2533960
    .. [4] Efron B. Better bootstrap confidence intervals. JASA 1987;82:171-185.
    .. [5] Robin X et al. pROC: an open-source package for R and S+ to analyze and
       compare ROC curves. BMC Bioinformatics 2011;12:77. doi:10.1186/1471-2105-12-77
    Examples
    --------
    >>> r = auc_test([0, 0, 0, 1, 1, 1, 0, 1], [.1, .2, .3, .7, .8, .9, .6, .4],
    ...              null_value=0.5)
    >>> r.alternative, r.p_value < 0.05
    ('greater', True)
    """
    null = float(null_value)
    est = roc_auc(
        y_true,
        y_score,
        method=method,
        confidence_level=confidence_level,
        clusters=clusters,
        n_resamples=n_resamples,
        rng=rng,
        bootstrap_ci=bootstrap_ci,
    )
    se = float(est.se or 0.0)
    if method == "delong_logit":
        z, p = z_test(
            float(logit(est.estimate)),
            se / (est.estimate * (1.0 - est.estimate)),
            alternative=alternative,
            null=float(logit(null)),
        )
    else:
        z, p = z_test(est.estimate, se, alternative=alternative, null=null)
    return TestResult(
        statistic=z,
        p_value=p,
        method=est.method + "_z",
        df=None,
        alternative=alternative,
        null_value=null,
        estimate=est.estimate,
        ci_low=est.ci_low,
        ci_high=est.ci_high,
        confidence_level=est.confidence_level,
        extra={"se": se, **est.extra},
    )
