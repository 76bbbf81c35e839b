"""Multi-reader multi-case (MRMC) analysis: Obuchowski-Rockette, DBM, reader vs AI.

Readings come in the tidy form ``reader, modality, case, truth, score`` (see
:mod:`validation.data.readings`). Figures of merit (FOMs) are computed per reader and
modality with their leave-one-case-out (jackknife) arrays; the OR and DBM analyses
work on those arrays only (:mod:`validation.stats.mrmc.core`), so ROC (empirical
AUC, sensitivity, specificity) and FROC FOMs (wAFROC, AFROC, ... from
:func:`validation.stats.detection.froc_fom_arrays`) share one implementation.

Results reproduce RJafroc 2.1.3 and MRMCaov 0.3.0 (Van Dyke and the Hupse-Karssemeijer
CAD study to 1e-12; see ``tests/stats/mrmc``). Modalities are ordered naturally (numerically
when every ID is a number, else as strings) and every difference is ``a - b`` with
``a`` before ``b`` in that order.

References
----------
Obuchowski NA, Rockette HE. Hypothesis testing of diagnostic accuracy for multiple
readers and multiple tests: an ANOVA approach with dependent observations. Commun
Stat Simul Comput 1995;24:285-308. doi:10.1080/03610919508813243
Hillis SL. A comparison of denominator degrees of freedom methods for multiple
observer ROC analysis. Stat Med 2007;26:596-619. doi:10.1002/sim.2532
Dorfman DD, Berbaum KS, Metz CE. ROC rating analysis: generalization to the
population of readers and patients with the jackknife method. Invest Radiol
1992;27:723-731. doi:10.1097/00004424-199209000-00015
Hillis SL, Berbaum KS, Metz CE. Recent developments in the Dorfman-Berbaum-Metz
procedure for multireader ROC study analysis. Acad Radiol 2008;15:647-661.
doi:10.1016/j.acra.2007.12.015
Chakraborty DP. RJafroc (R package), ``StSignificanceTesting`` and
``StSignificanceTestingCadVsRad``. https://github.com/dpc10ster/RJafroc
Smith BJ, Hillis SL. MRMCaov (R package). https://github.com/brian-j-smith/MRMCaov
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from validation.errors import ReadingsError, UndefinedMetricError
from validation.stats._checks import check_confidence_level
from validation.stats._params import (
    RESAMPLES,
    UNIT_INTERVAL,
    Interval,
    Options,
    Real,
    validate_params,
)
from validation.stats._results import Comparison, Estimate, LegacyItemAccess, ResultMixin, jsonable
from validation.stats.detection.fom import FROC_FOMS
from validation.stats.mrmc import core
from validation.stats.mrmc.data import (
    ANALYSES,
    COVARIANCES,
    METHODS,
    ROC_FOMS,
    arrange_readings,
    fom_arrays,
    fom_covariance,
    fom_frame,
    froc_inputs,
    natural_order,
)
from validation.stats.mrmc.readings import DESIGNS, validate_readings

__all__ = [
    "MRMCResult",
    "MRMCTest",
    "ReaderVsAI",
    "mrmc_analysis",
    "mrmc_noninferiority",
    "reader_vs_ai",
]


# ----------------------------------------------------------------------- the results
@dataclass(frozen=True)
class MRMCTest(LegacyItemAccess, ResultMixin):
    """One MRMC analysis (``RRRC``, ``FRRC`` or ``RRFC``) of :func:`mrmc_analysis`.

    Attributes
    ----------
    statistic : float or None
        F (or, for OR's FRRC, chi-square) statistic of equal FOMs across modalities.
    df_num, df_den : float or None
        Degrees of freedom; ``df_den`` is ``inf`` for OR's FRRC chi-square, and for RRRC
        when ``MS(T:R)`` is zero.
    p_value : float or None
    distribution : str
        ``"F"`` or ``"chi-square"``.
    estimable : bool
        False when the denominator is zero up to rounding (readers that agree exactly);
        then ``statistic``, ``df_den`` and ``p_value`` are None and ``comparisons`` empty.
    reason : str or None
        Why the test is not estimable.
    comparisons : list of Comparison
        Every pair of modalities, ``a - b``.
    modality_foms : list of Estimate
        Reader-averaged FOM per modality with its CI (``extra["modality"]``).

    Notes
    -----
    Until radval 0.x this was a plain ``dict``; ``test["statistic"]`` and
    ``test.get("estimable")`` still work for one release with a ``DeprecationWarning``.
    Use the attributes (``test.statistic``).
    """

    _legacy_keys: ClassVar[Mapping[str, str]] = {
        k: k
        for k in (
            "statistic",
            "df_num",
            "df_den",
            "p_value",
            "distribution",
            "estimable",
            "reason",
            "comparisons",
            "modality_foms",
        )
    }

    statistic: float | None
    df_num: float | None
    df_den: float | None
    p_value: float | None
    distribution: str
    estimable: bool
    reason: str | None
    comparisons: list[Comparison]
    modality_foms: list[Estimate]


@dataclass(frozen=True)
class ReaderVsAI(LegacyItemAccess, ResultMixin):
    """Result of :func:`reader_vs_ai`: the readers' mean FOM minus the AI's.

    Attributes
    ----------
    rrrc : Comparison
        Random readers and random cases (RJafroc's ``1T-RRRC``).
    rrfc : Comparison
        Random readers, fixed cases (``1T-RRFC``).

    Notes
    -----
    Until radval 0.x this was the plain ``dict`` ``{"RRRC": ..., "RRFC": ...}``;
    ``result["RRRC"]`` and ``result.items()`` still work for one release with a
    ``DeprecationWarning``. Use the attributes (``result.rrrc``). :meth:`to_dict` keeps
    the old keys: ``{"RRRC": {...}, "RRFC": {...}}``.
    """

    _legacy_keys: ClassVar[Mapping[str, str]] = {"RRRC": "rrrc", "RRFC": "rrfc"}

    rrrc: Comparison
    rrfc: Comparison

    def to_dict(self) -> dict[str, Any]:
        """``{"RRRC": ..., "RRFC": ...}``, each the comparison's JSON-ready dict."""
        return {"RRRC": self.rrrc.to_dict(), "RRFC": self.rrfc.to_dict()}


@dataclass(frozen=True)
class MRMCResult(ResultMixin):
    """Result of :func:`mrmc_analysis`.

    Attributes
    ----------
    fom : pandas.DataFrame
        ``modality, reader, fom``: the FOM of every reader in every modality.
    variance_components : dict
        OR: ``var_r, var_tr, cov1, cov2, cov3, var_error`` (plus the mean squares
        ``ms_t, ms_r, ms_tr``). DBM: ``var_r, var_c, var_tr, var_tc, var_rc, var_error``
        (plus the pseudovalue mean squares). Untruncated moment estimates, as MRMCaov
        reports them (they may be negative); the tests use ``max(Cov2 - Cov3, 0)`` as
        Hillis' OR-DBM MRMC and RJafroc do (see :mod:`validation.stats.mrmc.core`).
    tests : dict of str to MRMCTest
        Keys ``"RRRC"`` (random readers and cases), ``"FRRC"`` (fixed readers) and
        ``"RRFC"`` (fixed cases); see :class:`MRMCTest`.
    modality_foms : list of Estimate
        The RRRC reader-averaged FOM of each modality with its CI (``extra["modality"]``).
    modalities, readers : list of str
    n_cases : int
        Cases the jackknife runs over (all cases for AUC, the diseased ones for
        sensitivity, the non-diseased ones for specificity).
    method, covariance, fom_name, design : str
    confidence_level : float
    """

    fom: pd.DataFrame
    variance_components: dict[str, float]
    tests: dict[str, MRMCTest]
    modality_foms: list[Estimate]
    modalities: list[str]
    readers: list[str]
    n_cases: int
    method: str
    covariance: str
    fom_name: str
    design: str
    confidence_level: float
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (``inf`` written as the string ``"inf"``).

        Overrides the generic form: the ``fom`` table is written as records and the keys
        come in the order ``results.json`` has always had.
        """
        tests = {k: t.to_dict() for k, t in self.tests.items()}
        return dict(
            jsonable(
                {
                    "method": self.method,
                    "covariance": self.covariance,
                    "fom_name": self.fom_name,
                    "design": self.design,
                    "confidence_level": self.confidence_level,
                    "modalities": self.modalities,
                    "readers": self.readers,
                    "n_cases": self.n_cases,
                    "fom": self.fom.to_dict(orient="records"),
                    "variance_components": self.variance_components,
                    "tests": tests,
                    "modality_foms": [e.to_dict() for e in self.modality_foms],
                    "extra": self.extra,
                }
            )
        )


# ---------------------------------------------------------------------- the analysis
@validate_params(
    {
        "fom": [Options(ROC_FOMS + FROC_FOMS)],
        "method": [Options(METHODS)],
        "covariance": [Options(COVARIANCES)],
        "confidence_level": [UNIT_INTERVAL],
        "threshold": [Real, None],
        "design": [Options(DESIGNS), None],
        "n_resamples": [RESAMPLES],
    }
)
def mrmc_analysis(
    readings: pd.DataFrame,
    *,
    fom: str = "auc",
    method: str = "or",
    covariance: str = "jackknife",
    confidence_level: float = 0.95,
    truth: pd.DataFrame | None = None,
    threshold: float | None = None,
    design: str | None = None,
    rng: np.random.Generator | int | None = None,
    n_resamples: int = 2000,
) -> MRMCResult:
    """Obuchowski-Rockette or DBM analysis of a multi-reader multi-case study.

    Parameters
    ----------
    readings : pandas.DataFrame
        Tidy readings ``reader, modality, case, truth, score``; for FROC FOMs the marks
        table ``reader, modality, case, truth, score, lesion``.
    fom : {"auc", "sensitivity", "specificity", "wafroc", "afroc", "wafroc1", "afroc1", \
"hr_auc"}
        Figure of merit. ``auc`` is the empirical (Wilcoxon) AUC; sensitivity and
        specificity need ``threshold``; the FROC FOMs need ``truth`` and come from
        :func:`validation.stats.detection.froc_fom_arrays` (RJafroc definitions).
    method : {"or", "dbm"}
        Obuchowski-Rockette (Obuchowski & Rockette 1995, Hillis 2007 df) or
        Dorfman-Berbaum-Metz on jackknife pseudovalues (Hillis et al. 2008 df).
    covariance : {"jackknife", "delong", "unbiased", "bootstrap"}
        OR covariance estimator. DeLong and unbiased are for the AUC only (DeLong for
        fully crossed data, as in MRMCaov); bootstrap resamples cases within truth
        strata ``n_resamples`` times with ``rng``. DBM always uses the jackknife.
    confidence_level : float
        For every interval.
    truth : pandas.DataFrame, optional
        FROC lesion truth ``case, truth, lesion, weight`` (FROC FOMs only).
    threshold : float, optional
        Decision threshold for sensitivity / specificity (positive if ``score >= threshold``).
    design : {"fully_crossed", "split_plot", "cases_in_modalities", "partially_paired", \
"readers_in_modalities"}, optional
        The declared design, checked against the data; detected when omitted. Split-plot
        and cases-in-modalities follow MRMCaov (covariances not estimable in the design
        are zero); partially paired data use the covariances over the cases in common;
        readers nested in modalities use the one-way OR analysis of
        :func:`validation.stats.mrmc.core.or_tests_nested` (no ``var_tr``). DBM needs
        fully crossed data.
    rng : numpy.random.Generator or int, optional
        For ``covariance="bootstrap"``.
    n_resamples : int
        Bootstrap resamples.

    Returns
    -------
    MRMCResult

    Raises
    ------
    ReadingsError
        Invalid readings, or a design with readers missing a modality.
    ValueError
        An unknown option or an unsupported combination (e.g. DBM on a split-plot design).
    UndefinedMetricError
        Readings without any case-to-case variation (e.g. every score tied): no variance,
        test or interval exists.

    Examples
    --------
    >>> from validation.data.readings import load_readings
    >>> res = mrmc_analysis(load_readings("van_dyke.csv"))  # doctest: +SKIP
    >>> res.tests["RRRC"].p_value  # doctest: +SKIP
    0.0516656858192...

    References
    ----------
    Obuchowski & Rockette 1995 (doi:10.1080/03610919508813243); Hillis 2007
    (doi:10.1002/sim.2532); Dorfman, Berbaum & Metz 1992
    (doi:10.1097/00004424-199209000-00015); Hillis et al. 2008
    (doi:10.1016/j.acra.2007.12.015); DeLong et al. 1988 (doi:10.2307/2531595);
    Gallas, Pennello & Myers 2007 (unbiased covariance, doi:10.1364/JOSAA.24.000B70);
    RJafroc ``StSignificanceTesting``; MRMCaov ``mrmc``.
    """
    level = check_confidence_level(confidence_level)
    if method == "dbm" and covariance != "jackknife":
        raise ValueError(
            f"method='dbm' uses jackknife pseudovalues; covariance must be 'jackknife', "
            f"got {covariance!r}"
        )
    extra: dict[str, Any] = {}
    if fom in FROC_FOMS:
        fom_m, jack, mods, rdrs, design_used = froc_inputs(readings, truth, fom, design)
        if covariance != "jackknife":
            raise ValueError(
                f"covariance {covariance!r} is not available for FROC FOM {fom!r}; use 'jackknife'"
            )
        cov = core.jackknife_cov(jack)
        n_cases = jack.shape[-1]
    else:
        if truth is not None:
            raise ValueError("truth= is for FROC FOMs; ROC readings carry their own truth")
        arr = arrange_readings(readings, design)
        mods, rdrs, design_used = arr.modalities, arr.readers, arr.design
        fom_m, jack, relevant = fom_arrays(arr, fom, threshold)
        n_cases = int(relevant.sum())
        cov = fom_covariance(arr, fom, covariance, jack, relevant, threshold, rng, n_resamples)
        if covariance == "bootstrap":
            extra["n_resamples"] = n_resamples
    if design_used == "readers_in_modalities":
        per_mod = (~np.isnan(fom_m)).sum(axis=1)
        if per_mod.min() < 2:
            raise ReadingsError(
                f"readers nested in modalities need at least 2 readers per modality; "
                f"modality {mods[int(per_mod.argmin())]!r} has {int(per_mod.min())}"
            )
    elif len(mods) < 2 or len(rdrs) < 2:
        raise ReadingsError(
            f"an MRMC analysis needs at least 2 modalities and 2 readers; found "
            f"{len(mods)} modalities and {len(rdrs)} readers (for a single modality "
            "against a standalone AI use reader_vs_ai)"
        )
    if core.no_case_variation(cov, fom_m):
        raise UndefinedMetricError(
            f"the {fom} of every reader in every modality is the same on every case subsample "
            "(e.g. all scores tied): the readings carry no case-to-case variation, so no MRMC "
            "variance, test or interval can be estimated"
        )
    if design_used == "readers_in_modalities" and method == "or":
        return _nested_result(fom_m, cov, mods, rdrs, n_cases, covariance, fom, level, extra)
    if method == "dbm":
        if design_used != "fully_crossed":
            raise ValueError(
                f"DBM needs fully crossed data; these readings are {design_used} — use "
                "method='or' (MRMCaov's OR analysis covers that design)"
            )
        res = core.dbm_tests(fom_m, jack, level=level)
    else:
        res = core.or_tests(fom_m, cov, design=design_used, level=level)
    method_name = f"{method}-{covariance}" if method == "or" else "dbm-jackknife"
    tests = _wrap_tests(res, fom_m, mods, rdrs, n_cases, method_name, level)
    comps_out = {k: float(v) for k, v in res["components"].items()}
    return MRMCResult(
        fom=fom_frame(mods, rdrs, fom_m),
        variance_components=comps_out,
        tests=tests,
        modality_foms=tests["RRRC"].modality_foms,
        modalities=list(mods),
        readers=list(rdrs),
        n_cases=n_cases,
        method=method,
        covariance=covariance,
        fom_name=fom,
        design=design_used,
        confidence_level=level,
        extra=extra,
    )


def _nested_result(
    fom_m: NDArray[np.float64],
    cov: NDArray[np.float64],
    mods: list[str],
    rdrs: list[str],
    n_cases: int,
    covariance: str,
    fom: str,
    level: float,
    extra: dict[str, Any],
) -> MRMCResult:
    m_, r_ = fom_m.shape
    groups = np.argwhere(~np.isnan(fom_m))
    flat = groups[:, 0] * r_ + groups[:, 1]
    cov_g = cov.reshape(m_ * r_, m_ * r_)[np.ix_(flat, flat)]
    res = core.or_tests_nested(
        fom_m[groups[:, 0], groups[:, 1]], groups[:, 0], cov_g, n_modalities=m_, level=level
    )
    tests = _wrap_tests(res, fom_m, mods, rdrs, n_cases, f"or-{covariance}", level)
    frame = fom_frame(mods, rdrs, fom_m).dropna(subset=["fom"]).reset_index(drop=True)
    return MRMCResult(
        fom=frame,
        variance_components={k: float(v) for k, v in res["components"].items()},
        tests=tests,
        modality_foms=tests["RRRC"].modality_foms,
        modalities=list(mods),
        readers=list(rdrs),
        n_cases=n_cases,
        method="or",
        covariance=covariance,
        fom_name=fom,
        design="readers_in_modalities",
        confidence_level=level,
        extra=extra,
    )


def _wrap_tests(
    res: dict[str, Any],
    fom_m: NDArray[np.float64],
    mods: list[str],
    rdrs: list[str],
    n_cases: int,
    method_name: str,
    level: float,
) -> dict[str, MRMCTest]:
    mean_m = np.nanmean(fom_m, axis=1)
    n_read = (~np.isnan(fom_m)).sum(axis=1)
    tests: dict[str, MRMCTest] = {}
    for name in ANALYSES:
        t = res["tests"][name]
        comps = [
            Comparison(
                difference=c["difference"],
                ci_low=float(c["ci_low"]),
                ci_high=float(c["ci_high"]),
                statistic=c["statistic"],
                p_value=c["p_value"],
                confidence_level=level,
                method=f"{method_name} {name}",
                df=None if not math.isfinite(c["df"]) else c["df"],
                estimate_a=float(mean_m[c["a"]]),
                estimate_b=float(mean_m[c["b"]]),
                se=c["se"],
                n=n_cases,
                modality_a=mods[c["a"]],
                modality_b=mods[c["b"]],
                extra={"test": "z" if not math.isfinite(c["df"]) else "t"},
            )
            for c in t["comparisons"]
        ]
        ests = [
            Estimate(
                estimate=p["estimate"],
                ci_low=float(p["ci_low"]),
                ci_high=float(p["ci_high"]),
                confidence_level=level,
                method=f"{method_name} {name}",
                n=n_cases,
                se=p["se"],
                extra={"modality": mods[i], "df": p["df"], "n_readers": int(n_read[i])},
            )
            for i, p in enumerate(res["per_modality"][name])
        ]
        tests[name] = MRMCTest(
            statistic=t["statistic"],
            df_num=t["df_num"],
            df_den=t["df_den"],
            p_value=t["p_value"],
            distribution=t["distribution"],
            estimable=t["estimable"],
            reason=t["reason"],
            comparisons=comps,
            modality_foms=ests,
        )
    return tests


# ------------------------------------------------------------------ reader vs AI etc.
@validate_params(
    {
        "fom": [Options(ROC_FOMS + FROC_FOMS)],
        "confidence_level": [UNIT_INTERVAL],
        "threshold": [Real, None],
    }
)
def reader_vs_ai(
    readings: pd.DataFrame,
    *,
    ai_reader: str,
    fom: str = "auc",
    confidence_level: float = 0.95,
    modality: str | None = None,
    threshold: float | None = None,
    truth: pd.DataFrame | None = None,
) -> ReaderVsAI:
    """Standalone AI against the reader panel (RJafroc's 1T-RRRC and 1T-RRFC).

    The per-reader differences ``D_r = FOM_r - FOM_AI`` are analysed as a single
    treatment: their mean, with variance ``MS(R)/R + max(Cov2, 0)`` and Hillis df
    ``(MS(R) + R max(Cov2,0))^2 / (MS(R)^2/(R-1))`` for random readers and cases
    (Cov2 the jackknife covariance of two readers' differences), or ``MS(R)/R`` on
    ``R - 1`` df for fixed cases.

    Parameters
    ----------
    readings : pandas.DataFrame
        Tidy readings in which the AI appears as the reader ``ai_reader``.
    ai_reader : str
        The reader ID of the AI.
    fom : {"auc", "sensitivity", "specificity", "wafroc", "afroc", "wafroc1", "afroc1", \
"hr_auc"}
        ROC FOMs from the readings; FROC FOMs from the marks table ``readings`` and
        the lesion ``truth`` (as in RJafroc, where the CAD is a reader of FROC data).
    modality : str, optional
        The modality to use when the readings hold more than one.
    threshold : float, optional
        For sensitivity / specificity.
    truth : pandas.DataFrame, optional
        FROC lesion truth ``case, truth, lesion, weight`` (FROC FOMs only).

    Returns
    -------
    ReaderVsAI
        ``rrrc`` and ``rrfc``, each a :class:`Comparison` whose ``difference`` is the
        readers' mean FOM minus the AI's (``estimate_a`` readers, ``estimate_b`` AI).
        (Formerly the dict ``{"RRRC": ..., "RRFC": ...}``; item access still works for one
        release, with a ``DeprecationWarning``.)

    Raises
    ------
    UndefinedMetricError
        An analysis whose standard error is zero up to rounding (e.g. all scores tied,
        or every reader's difference from the AI identical and free of case variation).

    Examples
    --------
    >>> from validation.data.readings import load_readings
    >>> out = reader_vs_ai(load_readings("hupse_karssemeijer_cad_roc.csv"),
    ...                    ai_reader="1")  # doctest: +SKIP
    >>> round(out.rrfc.statistic, 4)  # doctest: +SKIP
    3.2135

    References
    ----------
    Hillis SL, Chakraborty DP. Chapter 10 / RJafroc ``StSignificanceTestingCadVsRad``
    (methods ``1T-RRRC`` and ``1T-RRFC``); Chakraborty DP. Observer Performance Methods
    for Diagnostic Imaging. CRC Press 2017. doi:10.1201/9781351228190
    Hupse R et al. Standalone computer-aided detection compared to radiologists'
    performance for the detection of mammographic masses. Eur Radiol 2013;23:93-100.
    doi:10.1007/s00330-012-2562-7
    """
    level = check_confidence_level(confidence_level)
    ai = str(ai_reader)
    if fom in FROC_FOMS:
        marks = readings
        if modality is not None:
            marks = readings[readings["modality"].astype(str) == str(modality)]
        fom_all, jack_all, mods, rdrs, _ = froc_inputs(marks, truth, fom, None)
        if len(mods) != 1:
            raise ValueError(f"readings hold {len(mods)} modalities; choose one with modality=")
        if ai not in rdrs:
            raise ReadingsError(f"AI reader {ai!r} not found; readers are {rdrs}")
        return _one_treatment(fom_all, jack_all, rdrs, ai, fom, level, jack_all.shape[-1])
    frame = validate_readings(readings, design=None)
    if modality is None:
        mods = frame["modality"].unique()
        if len(mods) != 1:
            raise ValueError(f"readings hold {len(mods)} modalities; choose one with modality=")
    else:
        frame = frame[frame["modality"] == str(modality)]
        if frame.empty:
            raise ReadingsError(f"no readings in modality {modality!r}")
    if ai not in set(frame["reader"]):
        raise ReadingsError(
            f"AI reader {ai!r} not found; readers are {natural_order(frame['reader'].unique())}"
        )
    arr = arrange_readings(frame, "fully_crossed")
    fom_m, jack, relevant = fom_arrays(arr, fom, threshold)
    return _one_treatment(fom_m, jack, arr.readers, ai, fom, level, int(relevant.sum()))


def _one_treatment(
    fom_m: NDArray[np.float64],
    jack: NDArray[np.float64],
    readers: list[str],
    ai: str,
    fom: str,
    level: float,
    n_cases: int,
) -> ReaderVsAI:
    a = readers.index(ai)
    others = [i for i in range(len(readers)) if i != a]
    if len(others) < 2:
        raise ReadingsError(f"need at least 2 human readers besides the AI; found {len(others)}")
    d = fom_m[0, others] - fom_m[0, a]
    dj = jack[0, others] - jack[0, a][None, :]
    cov = core.jackknife_cov(dj[None])[0, :, 0, :]
    res = core.single_treatment(d, cov, level=level)
    for name in ("RRRC", "RRFC"):
        if not res[name]["estimable"]:
            raise UndefinedMetricError(f"reader vs AI: 1T-{res[name]['reason']}")
    out: dict[str, Comparison] = {}
    for name in ("RRRC", "RRFC"):
        r = res[name]
        out[name] = Comparison(
            difference=r["estimate"],
            ci_low=float(r["ci_low"]),
            ci_high=float(r["ci_high"]),
            statistic=r["statistic"],
            p_value=r["p_value"],
            confidence_level=level,
            method=f"1T-{name} (readers - AI)",
            df=r["df"],
            estimate_a=float(fom_m[0, others].mean()),
            estimate_b=float(fom_m[0, a]),
            se=r["se"],
            n=n_cases,
            modality_a="readers",
            modality_b=f"AI:{ai}",
            extra={"ms_r": r["ms_r"], "cov2": r["cov2"], "n_readers": len(others), "fom": fom},
        )
    return ReaderVsAI(rrrc=out["RRRC"], rrfc=out["RRFC"])


@validate_params(
    {
        "margin": [Interval(Real, 0, None, closed="left")],
        "alternative": [Options(("non-inferiority", "superiority"))],
        "analysis": [Options(ANALYSES)],
        "confidence_level": [UNIT_INTERVAL],
    }
)
def mrmc_noninferiority(
    readings: pd.DataFrame,
    *,
    modality_test: str,
    modality_reference: str,
    margin: float,
    alternative: str = "non-inferiority",
    analysis: str = "RRRC",
    confidence_level: float = 0.95,
    **analysis_options: Any,
) -> Comparison:
    """Non-inferiority or superiority of one modality (e.g. AI-aided) over another.

    Tests ``H0: d <= -margin`` (non-inferiority) or ``H0: d <= margin`` (superiority,
    ``margin >= 0``; ``margin=0`` is plain superiority) for ``d = FOM_test -
    FOM_reference`` with the standard error and df of the chosen MRMC analysis. The
    one-sided p-value is returned; the CI is two-sided at ``confidence_level``, and
    ``extra["conclusion"]`` is true when its lower bound clears the null value (a
    one-sided test at level ``(1 - confidence_level)/2``, the usual FDA convention).

    Parameters
    ----------
    readings : pandas.DataFrame
        Tidy readings with both modalities.
    modality_test, modality_reference : str
        E.g. ``"aided"`` and ``"unaided"``.
    margin : float
        Non-negative margin on the FOM scale.
    alternative : {"non-inferiority", "superiority"}
    analysis : {"RRRC", "FRRC", "RRFC"}
    analysis_options
        Passed to :func:`mrmc_analysis` (``fom``, ``method``, ``covariance`` ...).

    Returns
    -------
    Comparison
        ``difference = test - reference``, ``alternative="greater"`` and ``margin`` the
        signed null value (``-margin`` for non-inferiority).

    Raises
    ------
    UndefinedMetricError
        The chosen analysis is not estimable (its reason, e.g. a zero denominator when the
        readers agree exactly).

    Examples
    --------
    >>> c = mrmc_noninferiority(readings, modality_test="aided",
    ...                         modality_reference="unaided", margin=0.05)  # doctest: +SKIP

    References
    ----------
    Chen W, Petrick NA, Sahiner B. Hypothesis testing in noninferiority and equivalence
    MRMC ROC studies. Acad Radiol 2012;19:1158-1165. doi:10.1016/j.acra.2012.04.011
    """
    from scipy import stats

    level = check_confidence_level(confidence_level)
    if not margin >= 0:
        raise ValueError(f"margin must be >= 0, got {margin!r}")
    res = mrmc_analysis(readings, confidence_level=level, **analysis_options)
    a, b = str(modality_test), str(modality_reference)
    for mod in (a, b):
        if mod not in res.modalities:
            raise ReadingsError(f"modality {mod!r} not in the readings; found {res.modalities}")
    if not res.tests[analysis].estimable:
        raise UndefinedMetricError(str(res.tests[analysis].reason))
    comp = next(
        c for c in res.tests[analysis].comparisons if {c.modality_a, c.modality_b} == {a, b}
    )
    sign = 1.0 if comp.modality_a == a else -1.0
    d = sign * comp.difference
    lo, hi = (comp.ci_low, comp.ci_high) if sign > 0 else (-comp.ci_high, -comp.ci_low)
    se = comp.se or 0.0
    null = -float(margin) if alternative == "non-inferiority" else float(margin)
    stat = (d - null) / se if se > 0 else math.inf
    df = comp.df
    p = float(stats.t.sf(stat, df) if df is not None else stats.norm.sf(stat))
    return Comparison(
        difference=d,
        ci_low=lo,
        ci_high=hi,
        statistic=stat,
        p_value=p,
        confidence_level=level,
        method=f"{comp.method} {alternative}",
        df=df,
        estimate_a=comp.estimate_a if sign > 0 else comp.estimate_b,
        estimate_b=comp.estimate_b if sign > 0 else comp.estimate_a,
        alternative="greater",
        margin=null,
        se=se,
        n=comp.n,
        modality_a=a,
        modality_b=b,
        extra={
            "conclusion": bool(lo > null),
            "hypothesis": alternative,
            "margin_abs": float(margin),
        },
    )
