"""Simulated reader studies (Roe-Metz model) with an AI-aided modality.

Each reader's latent decision variable for case ``k`` in modality ``m`` follows the
Roe & Metz (1997) components-of-variance model

``X[m, r, k] = mu_m * truth_k + R_r + C_k + RC_rk + TR_mr + TC_mk + TRC_mrk``

with independent zero-mean normal effects for readers, cases, their interaction and
the modality-specific interactions. The "unaided" modality uses it directly. In the
"aided" modality the reader's own latent value moves toward the AI's score:
``(1 - w) * X[aided] + w * z_ai`` where ``z_ai`` is the AI score standardised to the
unaided scores' mean and spread and ``w = aided_weight``. Everything is drawn from one
``numpy.random.Generator``, so a seed reproduces the study exactly.

References
----------
Roe CA, Metz CE. Dorfman-Berbaum-Metz method for statistical analysis of multireader,
multimodality receiver operating characteristic data: validation with computer
simulation. Acad Radiol 1997;4:298-303. doi:10.1016/S1076-6332(97)80032-3
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from validation.stats._checks import as_binary, as_rng, as_scores

__all__ = ["simulate_reader_study"]


def simulate_reader_study(
    truth: ArrayLike,
    ai_score: ArrayLike,
    *,
    n_readers: int = 5,
    rng: np.random.Generator | int | None = None,
    aided_weight: float = 0.5,
    separation: float = 1.5,
    var_r: float = 0.01,
    var_c: float = 0.3,
    var_rc: float = 0.2,
    var_tr: float = 0.01,
    var_tc: float = 0.1,
    var_trc: float = 0.2,
    n_ratings: int | None = None,
    case_ids: ArrayLike | None = None,
    modalities: tuple[str, str] = ("unaided", "aided"),
) -> pd.DataFrame:
    """Simulate unaided and AI-aided readings of the same cases (Roe-Metz model).

    Parameters
    ----------
    truth : array-like of 0/1
        Case truth; its index gives the case IDs when it is a pandas Series.
    ai_score : array-like of float
        The AI's score per case (same order as ``truth``).
    n_readers : int
        Readers; each reads every case in both modalities (fully crossed).
    rng : numpy.random.Generator or int, optional
        Source of randomness; a seed makes the study reproducible.
    aided_weight : float in [0, 1]
        How far aided readers move toward the AI's (standardised) score.
    separation : float
        Mean latent difference between diseased and non-diseased cases (``mu``).
    var_r, var_c, var_rc, var_tr, var_tc, var_trc : float
        Variances of the reader, case, reader x case, modality x reader, modality x case
        and modality x reader x case effects (Roe & Metz 1997).
    n_ratings : int, optional
        When given, scores are binned into an ordinal 1..n_ratings scale at equally
        spaced quantiles of the pooled unaided latent values.
    case_ids : array-like, optional
        Case IDs (default: the Series index, else "1".."K").
    modalities : (str, str)
        Names of the unaided and aided modalities.

    Returns
    -------
    pandas.DataFrame
        Tidy readings ``reader, modality, case, truth, score`` (readers "R1".."Rn").

    Examples
    --------
    >>> import numpy as np
    >>> truth = np.r_[np.zeros(20, int), np.ones(20, int)]
    >>> ai = truth + np.random.default_rng(0).normal(size=40)
    >>> df = simulate_reader_study(truth, ai, n_readers=3, rng=1)
    >>> df.shape, sorted(df["modality"].unique())
    ((240, 5), ['aided', 'unaided'])

    References
    ----------
    Roe CA, Metz CE. Acad Radiol 1997;4:298-303. doi:10.1016/S1076-6332(97)80032-3
    """
    y = as_binary(np.asarray(truth), name="truth")
    ai = as_scores(ai_score, name="ai_score")
    if len(ai) != len(y):
        raise ValueError(
            f"truth and ai_score must have the same length, got {len(y)} and {len(ai)}"
        )
    if int(n_readers) < 1:
        raise ValueError(f"n_readers must be >= 1, got {n_readers}")
    if not 0.0 <= aided_weight <= 1.0:
        raise ValueError(f"aided_weight must be in [0, 1], got {aided_weight}")
    variances = {
        "var_r": var_r,
        "var_c": var_c,
        "var_rc": var_rc,
        "var_tr": var_tr,
        "var_tc": var_tc,
        "var_trc": var_trc,
    }
    for name, v in variances.items():
        if not v >= 0:
            raise ValueError(f"{name} must be >= 0, got {v}")
    if n_ratings is not None and int(n_ratings) < 2:
        raise ValueError(f"n_ratings must be >= 2, got {n_ratings}")
    if len(set(modalities)) != 2:
        raise ValueError(f"modalities must be two distinct names, got {modalities}")
    ids: Any
    if case_ids is not None:
        ids = [str(c) for c in np.asarray(case_ids)]
    elif isinstance(truth, pd.Series):
        ids = [str(c) for c in truth.index]
    else:
        ids = [str(i + 1) for i in range(len(y))]
    if len(ids) != len(y) or len(set(ids)) != len(ids):
        raise ValueError("case_ids must be unique and as many as the cases")

    gen = as_rng(rng)
    r_, k_ = int(n_readers), len(y)
    sd = {k: float(np.sqrt(v)) for k, v in variances.items()}
    reader = gen.normal(0, sd["var_r"], size=(r_, 1))
    case = gen.normal(0, sd["var_c"], size=(1, k_))
    rc = gen.normal(0, sd["var_rc"], size=(r_, k_))
    latent = []
    for _ in range(2):
        tr = gen.normal(0, sd["var_tr"], size=(r_, 1))
        tc = gen.normal(0, sd["var_tc"], size=(1, k_))
        trc = gen.normal(0, sd["var_trc"], size=(r_, k_))
        latent.append(separation * y[None, :] + reader + case + rc + tr + tc + trc)
    unaided, aided_own = latent
    spread = float(unaided.std()) or 1.0
    ai_sd = float(ai.std()) or 1.0
    z_ai = (ai - ai.mean()) / ai_sd * spread + float(unaided.mean())
    aided = (1.0 - aided_weight) * aided_own + aided_weight * z_ai[None, :]
    if n_ratings is not None:
        cuts = np.quantile(unaided, np.linspace(0, 1, int(n_ratings) + 1)[1:-1])
        unaided = (np.searchsorted(cuts, unaided, side="right") + 1).astype(np.float64)
        aided = (np.searchsorted(cuts, aided, side="right") + 1).astype(np.float64)
    readers = [f"R{i + 1}" for i in range(r_)]
    frames = []
    for name, values in zip(modalities, (unaided, aided), strict=True):
        frames.append(
            pd.DataFrame(
                {
                    "reader": np.repeat(readers, k_),
                    "modality": name,
                    "case": np.tile(ids, r_),
                    "truth": np.tile(y.astype(int), r_),
                    "score": values.reshape(-1).astype(float),
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
