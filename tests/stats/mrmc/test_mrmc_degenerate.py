"""MRMC tests at the edges (issue 13): the fixed-readers convention when Cov2 < Cov3,
readers that agree exactly (a zero denominator), and readings without any variation.

* FRRC: ``X2 = (t-1) MS(T) / (Var - Cov1 + (r-1) max(Cov2 - Cov3, 0))`` as in Hillis'
  OR-DBM MRMC and RJafroc (radval used the untruncated difference, as MRMCaov 0.3's FRRC
  does). Franken (RJafroc ``dataset03``) has Cov2 < Cov3; the twin below recomputes the
  jackknife AUCs by deleting cases and the covariance components by explicit loops.
* Readers that agree exactly: MS(T:R) is zero up to rounding; radval returned F and df of
  about 1e29. Now a test with a zero denominator is not estimable with its reason, and the
  Hillis ddf of RRRC is its exact limit, infinity (p from chi-square).
* All scores tied: no case-to-case variation at all; a named UndefinedMetricError, and
  ``radval mrmc`` exits 2 with one line naming the file (it printed NaN and ``--json``
  crashed).
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from validation.data.readings import load_readings
from validation.errors import UndefinedMetricError
from validation.stats.mrmc import mrmc_analysis, mrmc_noninferiority, reader_vs_ai

DATA = Path(__file__).resolve().parents[2] / "data" / "reader_studies"


def pair_auc(pos: np.ndarray, neg: np.ndarray) -> float:
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


def franken_twin() -> dict[str, float]:
    frame = load_readings(DATA / "franken.csv")
    mods, rdrs = sorted(frame.modality.unique()), sorted(frame.reader.unique())
    cases = sorted(frame.case.unique())
    truth = frame.drop_duplicates("case").set_index("case").truth
    wide = frame.pivot_table(index="case", columns=["modality", "reader"], values="score")
    fom = np.zeros((len(mods), len(rdrs)))
    jack = np.zeros((len(mods), len(rdrs), len(cases)))
    for (i, m), (j, r) in itertools.product(enumerate(mods), enumerate(rdrs)):
        x = wide[(m, r)]
        fom[i, j] = pair_auc(x[truth == 1].to_numpy(), x[truth == 0].to_numpy())
        for k, c in enumerate(cases):
            keep = x.index != c
            xk, tk = x[keep], truth[x.index[keep]]
            jack[i, j, k] = pair_auc(xk[tk == 1].to_numpy(), xk[tk == 0].to_numpy())
    n = len(cases)
    buckets: dict[str, list[float]] = {"var": [], "cov1": [], "cov2": [], "cov3": []}
    for (i, j), (i2, j2) in itertools.product(
        itertools.product(range(2), range(len(rdrs))), repeat=2
    ):
        a, b = jack[i, j], jack[i2, j2]
        cov = (n - 1) / n * float(((a - a.mean()) * (b - b.mean())).sum())
        key = "var" if (i, j) == (i2, j2) else "cov1" if j == j2 else "cov2" if i == i2 else "cov3"
        buckets[key].append(cov)
    out = {k: float(np.mean(v)) for k, v in buckets.items()}
    means = fom.mean(axis=1)
    out["ms_t"] = len(rdrs) * float(((means - means.mean()) ** 2).sum())
    out["diff"] = float(means[0] - means[1])
    out["r"] = len(rdrs)
    return out


def test_frrc_truncates_cov2_minus_cov3_when_negative():
    twin = franken_twin()
    assert twin["cov2"] < twin["cov3"]  # the case the convention matters for
    res = mrmc_analysis(load_readings(DATA / "franken.csv"))
    vc = res.variance_components
    for k, key in (("var", "var_error"), ("cov1", "cov1"), ("cov2", "cov2"), ("cov3", "cov3")):
        assert vc[key] == pytest.approx(twin[k], abs=1e-14), k
    r = twin["r"]
    den = twin["var"] - twin["cov1"] + (r - 1) * max(twin["cov2"] - twin["cov3"], 0.0)
    x2 = twin["ms_t"] / den
    t = res.tests["FRRC"]
    assert t.statistic == pytest.approx(x2, rel=1e-10)
    assert t.statistic == pytest.approx(0.32101347203558495, rel=1e-10)
    assert t.p_value == pytest.approx(stats.chi2.sf(x2, 1), rel=1e-10)
    (c,) = t.comparisons
    assert c.se == pytest.approx(math.sqrt(2 / r * den), rel=1e-10)
    assert c.ci_low == pytest.approx(twin["diff"] - 1.959963984540054 * c.se, abs=1e-12)
    # the untruncated denominator (MRMCaov 0.3) would give a larger statistic
    untrunc = twin["ms_t"] / (twin["var"] - twin["cov1"] + (r - 1) * (twin["cov2"] - twin["cov3"]))
    assert untrunc > t.statistic * 1.05
    # reported components stay untruncated: Var(T:R) is negative here
    assert vc["var_tr"] < 0


def agreeing_readers() -> pd.DataFrame:
    """Three readers with identical scores; the modalities differ on odd cases."""
    rng = np.random.default_rng(1)
    base = rng.integers(1, 6, 10) + (np.arange(10) < 5)
    rows = [
        (r, m, f"c{c}", int(c < 5), int(base[c] + shift * (c % 2)))
        for m, shift in (("A", 0), ("B", 1))
        for r in ("r1", "r2", "r3")
        for c in range(10)
    ]
    return pd.DataFrame(rows, columns=["reader", "modality", "case", "truth", "score"])


@pytest.mark.parametrize("method", ["or", "dbm"])
def test_readers_that_agree_exactly_give_no_1e29(method):
    res = mrmc_analysis(agreeing_readers(), method=method)
    for name, t in res.tests.items():
        for key in ("statistic", "df_den"):
            v = getattr(t, key)
            assert v is None or v == math.inf or abs(v) < 1e8, (name, key, v)
    rrfc = res.tests["RRFC"]
    assert rrfc.estimable is False and rrfc.statistic is None and rrfc.p_value is None
    assert rrfc.comparisons == []
    assert rrfc.reason.startswith("RRFC is not estimable: MS(T")
    rrrc = res.tests["RRRC"]
    assert rrrc.estimable is True and rrrc.df_den == math.inf
    assert rrrc.p_value == pytest.approx(stats.chi2.sf(rrrc.statistic, 1), rel=1e-12)
    out = json.loads(json.dumps(res.to_dict(), allow_nan=False))
    assert out["tests"]["RRFC"]["estimable"] is False
    with pytest.raises(UndefinedMetricError, match="^RRFC is not estimable"):
        mrmc_noninferiority(
            agreeing_readers(),
            modality_test="B",
            modality_reference="A",
            margin=0.05,
            analysis="RRFC",
            method=method,
        )


def tied_readings() -> pd.DataFrame:
    rows = [
        (r, m, f"c{c}", int(c < 5), 3)
        for m in ("A", "B")
        for r in ("r1", "r2", "r3")
        for c in range(10)
    ]
    return pd.DataFrame(rows, columns=["reader", "modality", "case", "truth", "score"])


def test_all_tied_readings_are_a_named_undefined_result():
    msg = (
        "the auc of every reader in every modality is the same on every case subsample (e.g. "
        "all scores tied): the readings carry no case-to-case variation, so no MRMC variance, "
        "test or interval can be estimated"
    )
    for method in ("or", "dbm"):
        with pytest.raises(UndefinedMetricError) as info:
            mrmc_analysis(tied_readings(), method=method)
        assert str(info.value) == msg
    one = tied_readings().query("modality == 'A'")
    with pytest.raises(UndefinedMetricError, match=r"^reader vs AI: 1T-RRRC is not estimable"):
        reader_vs_ai(one, ai_reader="r1")


def radval(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "validation", "mrmc", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"COLUMNS": "120", "PATH": "/usr/bin:/bin"},
    )


def test_cli_all_tied_exits_2_with_one_located_line(tmp_path):
    path = tmp_path / "tied.csv"
    tied_readings().to_csv(path, index=False)
    for extra in ((), ("--json",)):
        r = radval(path, *extra)
        assert r.returncode == 2, r.stderr
        assert r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path) in lines[0]
        assert "no case-to-case variation" in lines[0] and "Traceback" not in r.stderr


def test_cli_agreeing_readers_json_and_table(tmp_path):
    path = tmp_path / "agree.csv"
    agreeing_readers().to_csv(path, index=False)
    r = radval(path, "--json")
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    assert d["tests"]["RRFC"]["estimable"] is False and d["tests"]["RRFC"]["statistic"] is None
    assert d["tests"]["RRRC"]["df_den"] == "inf"
    r = radval(path)
    assert r.returncode == 0, r.stderr
    assert "RRFC is not estimable: MS(T:R) is zero" in " ".join(r.stdout.split())
    assert "nan" not in r.stdout.lower()
