"""Control charts for post-market monitoring: Bernoulli CUSUM and EWMA, normal CUSUM and EWMA.

Every chart here is *one-sided for deterioration* and its control limit is **computed**
for a declared in-control average run length (ARL0), never guessed. ARLs come from
Markov chains (Brook & Evans 1972):

* **Bernoulli CUSUM** (Reynolds & Stoumbos 1999) on case-level 0/1 indicators (a miss,
  a false positive, a positive call). The reference value ``k`` of the log-likelihood-
  ratio CUSUM is put on a grid of ``1/resolution`` and the chart runs in integer
  arithmetic, ``S_t = max(0, S_{t-1} + resolution X_t - k_num)`` (upper) and signals when
  ``S_t > h_num``. Its run length *is* a finite Markov chain, so the ARL computed by
  solving ``(I - Q) g = 1`` is exact for the chart as applied (no discretisation
  error), up to floating point. The same engine gives spc's ``pois.cusum.arl`` for
  Poisson counts (the tests check it).
* **Bernoulli EWMA** (Gan 1990's EWMA for attribute data): ``Z_t = (1 - lambda) Z_{t-1}
  + lambda X_t`` with ``Z_t`` rounded to the nearest multiple of ``1/resolution`` at each
  step (half up), starting from ``Z_0 = z0`` (default ``p0``), signalling when
  ``Z_t > ucl`` with ``ucl`` on the same grid. Again the rounded chart is a finite Markov
  chain and its ARL is exact for the chart as applied; the chain is spc's
  ``p.ewma.arl(lambda, ucl, n = 1, p, z0, d.res = resolution, r.mode = "round")``.
* **Normal CUSUM** (Page 1954) and **one-sided EWMA with a reflecting barrier**
  (Lucas & Saccucci 1990; Knoth's ``xewma.arl(sided = "one")``) for standardised
  statistics (a window's standardised mean score): ARLs by the Markov-chain
  *approximation* of Brook & Evans (1972) with ``states`` intervals (Lucas & Saccucci's
  discretisation for the EWMA), whose error shrinks as ``states`` grows; the tests compare
  with spc's Gauss-Legendre integral-equation solutions.

A decreasing rate (``direction="decrease"``) is monitored as an increasing rate of the
complementary indicator ``1 - X`` (rate ``1 - p``), so every chart is an upper chart.

After a signal the chart restarts from its starting value (the ARL is the expected
number of observations between restarts while in control).

References
----------
Brook D, Evans DA (1972). An approach to the probability distribution of CUSUM run
length. Biometrika 59:539-549. doi:10.1093/biomet/59.3.539.
Page ES (1954). Continuous inspection schemes. Biometrika 41:100-115.
doi:10.1093/biomet/41.1-2.100.
Reynolds MR Jr, Stoumbos ZG (1999). A CUSUM chart for monitoring a proportion when
inspecting continuously. J Qual Technol 31:87-108. doi:10.1080/00224065.1999.11979900.
Gan FF (1990). Monitoring observations generated from a binomial distribution using
modified exponentially weighted moving average control chart. J Stat Comput Simul
37:45-60. doi:10.1080/00949659008811293.
Lucas JM, Saccucci MS (1990). Exponentially weighted moving average control schemes:
properties and enhancements. Technometrics 32:1-12. doi:10.1080/00401706.1990.10484583.
Knoth S (2024). spc: Statistical Process Control -- Calculation of ARL and Other Control
Chart Performance Measures. R package (version 0.6.7 used for the reference values).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, sparse
from scipy.sparse import csgraph
from scipy.sparse import linalg as sparse_linalg
from scipy.special import ndtr
from threadpoolctl import threadpool_limits

from validation.stats._checks import as_binary
from validation.stats._params import Options, validate_params
from validation.stats._results import ResultMixin, jsonable

__all__ = [
    "ChartPath",
    "CusumDesign",
    "EwmaDesign",
    "NormalChartDesign",
    "bernoulli_cusum_arl",
    "bernoulli_cusum_design",
    "bernoulli_cusum_path",
    "bernoulli_ewma_arl",
    "bernoulli_ewma_design",
    "bernoulli_ewma_path",
    "normal_cusum_arl",
    "normal_cusum_design",
    "normal_cusum_path",
    "normal_ewma_arl",
    "normal_ewma_design",
    "normal_ewma_path",
]

DIRECTIONS = ("increase", "decrease")
#: Largest chain a design will solve (states); a larger one is refused with a message.
MAX_STATES = 200_000


def _check_rate(p: float, name: str) -> float:
    v = float(p)
    if not (math.isfinite(v) and 0.0 < v < 1.0):
        raise ValueError(f"{name} must be a rate in (0, 1), got {p!r}")
    return v


def _check_arl0(arl0: float) -> float:
    v = float(arl0)
    if not (math.isfinite(v) and v > 1.0):
        raise ValueError(f"arl0 must be a finite in-control average run length > 1, got {arl0!r}")
    return v


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    return direction


def _solve_arl(
    rows: NDArray[np.intp],
    cols: NDArray[np.intp],
    probs: NDArray[np.float64],
    n_states: int,
    starts: list[int],
) -> list[float]:
    """ARL from each of ``starts`` for the chain ``Q[rows, cols] = probs`` (summed entries).

    ``Q`` is sub-stochastic: what a row lacks to 1 is the probability to signal. The ARLs
    solve ``(I - Q) g = 1`` restricted to the states reachable from the starts. A start
    from which some reachable state can never signal (a closed class of in-control states,
    e.g. a rounded EWMA that cannot reach its limit) has an infinite ARL.
    """
    q = sparse.csr_matrix((probs, (rows, cols)), shape=(n_states, n_states))
    q.sum_duplicates()
    exits = np.flatnonzero(1.0 - np.asarray(q.sum(axis=1)).ravel() > 1e-15)
    # states that can reach a signal: breadth-first search backwards from the exits
    back = q.T.tocsr()
    can = np.zeros(n_states, dtype=bool)
    can[exits] = True
    frontier = exits
    while frontier.size:
        nxt = np.unique(back[frontier].indices)
        nxt = nxt[~can[nxt]]
        can[nxt] = True
        frontier = nxt
    out: list[float] = []
    finite: list[int] = []
    reach_all = np.zeros(n_states, dtype=bool)
    for s in starts:
        reach = csgraph.breadth_first_order(q, s, directed=True, return_predecessors=False)
        if not np.all(can[reach]):
            out.append(math.inf)
            continue
        reach_all[reach] = True
        finite.append(s)
        out.append(math.nan)
    if finite:
        idx = np.flatnonzero(reach_all)
        sub = q[idx][:, idx].tocsc()
        a = (sparse.identity(idx.size, format="csc") - sub).tocsc()
        g = sparse_linalg.splu(a).solve(np.ones(idx.size))
        pos = {int(v): i for i, v in enumerate(idx)}
        for i, s in enumerate(starts):
            if math.isnan(out[i]):
                out[i] = float(g[pos[s]])
    return out


# --------------------------------------------------------------------------- integer CUSUM engine


def _count_cusum_arl(increments: ArrayLike, probs: ArrayLike, h_num: int, start: int = 0) -> float:
    """ARL of ``S_t = max(0, S_{t-1} + D_t)`` on the integers, signal when ``S_t > h_num``.

    ``D_t`` takes the integer values ``increments`` with probabilities ``probs`` (their sum
    may be below 1 when the rest always signals). Exact: the run length is a Markov chain
    on ``{0, ..., h_num}`` (Brook & Evans 1972).
    """
    inc = np.asarray(increments, dtype=np.int64)
    pr = np.asarray(probs, dtype=np.float64)
    n = int(h_num) + 1
    if n > MAX_STATES:
        raise ValueError(
            f"the CUSUM chain would have {n} states (more than {MAX_STATES}); "
            "use a smaller resolution"
        )
    states = np.arange(n, dtype=np.int64)
    to = np.maximum(states[:, None] + inc[None, :], 0)
    keep = to <= h_num
    rows = np.broadcast_to(states[:, None], to.shape)[keep]
    probs_all = np.broadcast_to(pr[None, :], to.shape)[keep]
    return _solve_arl(rows.astype(np.intp), to[keep].astype(np.intp), probs_all, n, [int(start)])[0]


def _poisson_cusum_arl(
    mu: float, *, k_num: int, h_num: int, resolution: int, start: int = 0
) -> float:
    """Poisson CUSUM ``S = max(0, S + resolution X - k_num)``, as spc's ``pois.cusum.arl``.

    Used by the tests to check the integer chain against an independent implementation.
    """
    from scipy.stats import poisson

    lmax = (h_num + k_num) // resolution + 2
    counts = np.arange(lmax + 1)
    return _count_cusum_arl(resolution * counts - k_num, poisson.pmf(counts, mu), h_num, start)


def _llr_reference(p0: float, p1: float) -> float:
    """Reference value ``k`` of the Bernoulli LLR CUSUM for ``p0 -> p1 > p0`` (in units of X)."""
    w1 = math.log(p1 / p0)
    w0 = math.log((1.0 - p1) / (1.0 - p0))
    return -w0 / (w1 - w0)


@dataclass(frozen=True)
class CusumDesign(ResultMixin):
    """A Bernoulli CUSUM with its control limit for a declared in-control ARL.

    The chart (upper, on the indicator ``X``, or on ``1 - X`` when ``direction`` is
    ``"decrease"``): ``S_t = max(0, S_{t-1} + resolution X_t - k_num)``, signal when
    ``S_t > h_num``; in units of ``X``: reference value ``k = k_num / resolution`` and
    limit ``h = h_num / resolution``.

    Attributes
    ----------
    p0, p1 : float
        In-control and out-of-control rates of the monitored indicator.
    direction : str
        ``"increase"`` (``p1 > p0``) or ``"decrease"``.
    k, h : float
        Reference value and limit in units of the indicator.
    k_optimal : float
        The log-likelihood-ratio reference value before rounding to the grid.
    k_num, h_num, resolution : int
        The integer chart.
    arl0 : float
        Exact in-control ARL of the chart (at least ``target_arl0``).
    arl1 : float
        Exact ARL at ``p1`` (the expected detection delay from a fresh start).
    target_arl0 : float
        The declared in-control ARL.
    method : str
    """

    p0: float
    p1: float
    direction: str
    k: float
    h: float
    k_optimal: float
    k_num: int
    h_num: int
    resolution: int
    arl0: float
    arl1: float
    target_arl0: float
    method: str = "bernoulli_cusum_markov_chain_exact"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return jsonable(asdict(self))

    def arl(self, p: float) -> float:
        """Exact ARL of this chart when the indicator's rate is ``p``."""
        return bernoulli_cusum_arl(
            p,
            k_num=self.k_num,
            h_num=self.h_num,
            resolution=self.resolution,
            direction=self.direction,
        )


@validate_params({"direction": [Options(DIRECTIONS)]})
def bernoulli_cusum_arl(
    p: float,
    *,
    k_num: int,
    h_num: int,
    resolution: int,
    direction: str = "increase",
    start: int = 0,
) -> float:
    """Exact ARL of the integer Bernoulli CUSUM when the indicator's rate is ``p``.

    See :class:`CusumDesign` for the chart. ``start`` is the head start (an integer
    state in ``0..h_num``).

    References
    ----------
    Brook D, Evans DA (1972). Biometrika 59:539-549. doi:10.1093/biomet/59.3.539.
    Reynolds MR Jr, Stoumbos ZG (1999). J Qual Technol 31:87-108.
    doi:10.1080/00224065.1999.11979900.
    """
    pv = float(p)
    if not (math.isfinite(pv) and 0.0 <= pv <= 1.0):
        raise ValueError(f"p must be a rate in [0, 1], got {p!r}")
    q = pv if direction == "increase" else 1.0 - pv
    m, km, hm = int(resolution), int(k_num), int(h_num)
    if not (m >= 1 and 0 < km < m and hm >= 0 and 0 <= start <= hm):
        raise ValueError(
            f"expected 0 < k_num < resolution and 0 <= start <= h_num, got "
            f"k_num={k_num}, h_num={h_num}, resolution={resolution}, start={start}"
        )
    if q == 0.0:
        return math.inf
    return _count_cusum_arl([m - km, -km], [q, 1.0 - q], hm, start)


def _default_resolution(k: float) -> int:
    """Grid for ``k``: at least 20 steps of ``k`` (k rounded by at most 2.5%), 20..1000."""
    return int(min(1000, max(20, math.ceil(20.0 / k))))


def bernoulli_cusum_design(
    p0: float, p1: float, *, arl0: float, resolution: int | None = None
) -> CusumDesign:
    """Design a one-sided Bernoulli CUSUM for a declared in-control ARL.

    The reference value is the log-likelihood-ratio value for ``p0 -> p1``
    (``k = log((1-p0)/(1-p1)) / log(p1 (1-p0) / (p0 (1-p1)))`` for an increase),
    rounded to the grid ``1/resolution``; the limit is the smallest ``h_num`` whose exact
    in-control ARL is at least ``arl0``. The ARL is a step function of the limit, so the
    achieved ``arl0`` (reported) is at or just above the target.

    Parameters
    ----------
    p0 : float
        In-control rate of the indicator (e.g. the reference miss rate 1 - sensitivity).
    p1 : float
        The rate the chart is tuned to detect; ``p1 > p0`` monitors an increase,
        ``p1 < p0`` a decrease.
    arl0 : float
        Declared in-control ARL (observations between false alarms).
    resolution : int, optional
        Grid of the integer chart (default: at least 20 steps of ``k``, between 20 and 1000).

    Returns
    -------
    CusumDesign

    Examples
    --------
    >>> from validation.stats import bernoulli_cusum_design
    >>> d = bernoulli_cusum_design(0.10, 0.20, arl0=500)
    >>> round(d.k, 3), round(d.h, 3), d.arl0 >= 500
    (0.145, 3.478, True)

    References
    ----------
    Reynolds MR Jr, Stoumbos ZG (1999). J Qual Technol 31:87-108.
    doi:10.1080/00224065.1999.11979900.
    Brook D, Evans DA (1972). Biometrika 59:539-549. doi:10.1093/biomet/59.3.539.
    """
    a = _check_rate(p0, "p0")
    b = _check_rate(p1, "p1")
    target = _check_arl0(arl0)
    if a == b:
        raise ValueError(f"p1 must differ from p0 (the shift to detect), got p0 = p1 = {a}")
    direction = "increase" if b > a else "decrease"
    q0, q1 = (a, b) if direction == "increase" else (1.0 - a, 1.0 - b)
    k_opt = _llr_reference(q0, q1)
    m = _default_resolution(k_opt) if resolution is None else int(resolution)
    if m < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    km = min(max(1, round(k_opt * m)), m - 1)

    def arl_at(h_num: int, rate: float) -> float:
        return _count_cusum_arl([m - km, -km], [rate, 1.0 - rate], h_num)

    lo, hi = 0, max(m, 1)
    while arl_at(hi, q0) < target:
        lo, hi = hi, hi * 2
        if hi + 1 > MAX_STATES:
            raise ValueError(
                f"no limit within {MAX_STATES} states reaches ARL0 = {target:g} "
                f"(p0 = {a}, resolution {m}); use a smaller resolution or ARL0"
            )
    if arl_at(lo, q0) >= target:
        hi = lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if arl_at(mid, q0) >= target:
            hi = mid
        else:
            lo = mid
    return CusumDesign(
        p0=a,
        p1=b,
        direction=direction,
        k=km / m,
        h=hi / m,
        k_optimal=k_opt,
        k_num=km,
        h_num=hi,
        resolution=m,
        arl0=arl_at(hi, q0),
        arl1=arl_at(hi, q1),
        target_arl0=target,
    )


@dataclass(frozen=True)
class ChartPath(ResultMixin):
    """A chart applied to a sequence: its statistic after each observation and the signals.

    Attributes
    ----------
    values : tuple of float
        The chart statistic after each observation (in units of the indicator or of the
        standardised statistic); at a signal, the value that crossed the limit.
    limit : float
        The control limit (signal when a value exceeds it).
    signals : tuple of int
        0-based indices of the observations at which the chart signalled.
    state : int or float or None
        The chart's state after the last observation, to resume it on the next batch
        (``None``: at its starting value).
    """

    values: tuple[float, ...]
    limit: float
    signals: tuple[int, ...]
    state: int | float | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return jsonable(asdict(self))


def _indicator(x: ArrayLike, direction: str) -> NDArray[np.int8]:
    arr = as_binary(x, name="x")
    return arr if direction == "increase" else (1 - arr).astype(np.int8)


def bernoulli_cusum_path(
    x: ArrayLike, design: CusumDesign, *, state: int | None = None, restart: bool = True
) -> ChartPath:
    """Run a Bernoulli CUSUM over 0/1 indicators ``x``, resuming from ``state``.

    Integer arithmetic (no rounding drift): the path of a sequence split into batches,
    each resumed from the previous batch's ``state``, equals the path of the whole
    sequence. After a signal the chart restarts at 0 when ``restart``.

    Returns
    -------
    ChartPath
        ``values`` in units of the indicator (``S / resolution``), ``limit = h``.
    """
    ind = _indicator(x, design.direction)
    s = 0 if state is None else int(state)
    if not 0 <= s <= design.h_num:
        raise ValueError(f"state must be an integer in 0..{design.h_num}, got {state!r}")
    up, down = design.resolution - design.k_num, -design.k_num
    values: list[float] = []
    signals: list[int] = []
    for t, xi in enumerate(ind.tolist()):
        s = max(0, s + (up if xi else down))
        values.append(s / design.resolution)
        if s > design.h_num:
            signals.append(t)
            if restart:
                s = 0
    return ChartPath(values=tuple(values), limit=design.h, signals=tuple(signals), state=s)


# --------------------------------------------------------------------------- Bernoulli EWMA


def _ewma_step(
    state: NDArray[np.float64] | float,
    x: int | NDArray[np.int64],
    lam: float,
    d: int,
    *,
    from_float: bool,
) -> NDArray[np.int64]:
    """Next grid index of the rounded EWMA, with spc's floating-point expression."""
    if from_float:
        z = (1.0 - lam) * np.asarray(state, dtype=np.float64) + lam * np.asarray(x)
    else:
        z = (1.0 - lam) * np.asarray(state, dtype=np.float64) / d + lam * np.asarray(x)
    return np.floor(z * d + 0.5).astype(np.int64)


def _ewma_chain_arl(q: float, lam: float, ucl_num: int, d: int, z0: float) -> float:
    n = ucl_num + 1
    if n > MAX_STATES:
        raise ValueError(f"the EWMA chain would have {n} states (more than {MAX_STATES})")
    states = np.arange(n, dtype=np.float64)
    rows_l, cols_l, probs_l = [], [], []
    for x, px in ((0, 1.0 - q), (1, q)):
        if px == 0.0:
            continue
        to = _ewma_step(states, x, lam, d, from_float=False)
        keep = np.asarray(to <= ucl_num, dtype=bool)
        rows_l.append(np.arange(n)[keep])
        cols_l.append(to[keep])
        probs_l.append(np.full(int(keep.sum()), px))
    firsts = [
        (px, int(_ewma_step(z0, x, lam, d, from_float=True))) for x, px in ((0, 1.0 - q), (1, q))
    ]
    firsts = [(px, j) for px, j in firsts if px > 0.0 and j <= ucl_num]
    if not firsts:
        return 1.0
    g = _solve_arl(
        np.concatenate(rows_l).astype(np.intp),
        np.concatenate(cols_l).astype(np.intp),
        np.concatenate(probs_l),
        n,
        [j for _, j in firsts],
    )
    return 1.0 + sum(px * gj for (px, _), gj in zip(firsts, g, strict=True))


@dataclass(frozen=True)
class EwmaDesign(ResultMixin):
    """A Bernoulli EWMA (Gan's rounded EWMA) with its limit for a declared in-control ARL.

    ``Z_t = round((1 - lam) Z_{t-1} + lam X_t)`` to the grid ``1/resolution`` (half up),
    ``Z_0 = z0``; signal when ``Z_t > ucl``; ``X`` is the indicator, or ``1 - X`` when
    ``direction`` is ``"decrease"`` (then ``p0``, ``z0`` and ``ucl`` refer to ``1 - X``'s
    rate in ``extra``-free form: ``z0 = 1 - p0`` by default).

    Attributes
    ----------
    p0 : float
        In-control rate of the monitored indicator.
    lam : float
        Smoothing weight in (0, 1].
    direction : str
    z0 : float
        Starting value (of the upper chart's indicator).
    ucl : float
        Upper control limit, ``ucl_num / resolution``.
    ucl_num, resolution : int
    arl0 : float
        ARL of the chart in control (at least ``target_arl0``).
    p1 : float or None
        A rate to report the out-of-control ARL at.
    arl1 : float or None
    target_arl0 : float
    method : str
    """

    p0: float
    lam: float
    direction: str
    z0: float
    ucl: float
    ucl_num: int
    resolution: int
    arl0: float
    p1: float | None
    arl1: float | None
    target_arl0: float
    method: str = "bernoulli_ewma_markov_chain_exact_rounded"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return jsonable(asdict(self))

    def arl(self, p: float) -> float:
        """ARL of this chart when the indicator's rate is ``p``."""
        return bernoulli_ewma_arl(
            p,
            lam=self.lam,
            ucl_num=self.ucl_num,
            resolution=self.resolution,
            z0=self.z0,
            direction=self.direction,
        )


@validate_params({"direction": [Options(DIRECTIONS)]})
def bernoulli_ewma_arl(
    p: float, *, lam: float, ucl_num: int, resolution: int, z0: float, direction: str = "increase"
) -> float:
    """ARL of the rounded Bernoulli EWMA (see :class:`EwmaDesign`) at rate ``p``.

    Exact for the rounded chart; equals spc's ``p.ewma.arl(lam, ucl, 1, p, z0,
    d.res = resolution, r.mode = "round")`` for ``ucl`` in ``((ucl_num - 1)/resolution,
    ucl_num/resolution]``.

    References
    ----------
    Gan FF (1990). J Stat Comput Simul 37:45-60. doi:10.1080/00949659008811293.
    """
    lv = float(lam)
    if not (math.isfinite(lv) and 0.0 < lv <= 1.0):
        raise ValueError(f"lam must be in (0, 1], got {lam!r}")
    pv = float(p)
    if not (math.isfinite(pv) and 0.0 <= pv <= 1.0):
        raise ValueError(f"p must be a rate in [0, 1], got {p!r}")
    d, n = int(resolution), int(ucl_num)
    if not (d >= 1 and 0 <= n < d):
        raise ValueError(
            f"expected 0 <= ucl_num < resolution, got ucl_num={ucl_num}, "
            f"resolution={resolution} (a limit at 1 can never be exceeded)"
        )
    q = pv if direction == "increase" else 1.0 - pv
    if q == 0.0:
        return math.inf
    return _ewma_chain_arl(q, lv, n, d, float(z0))


def bernoulli_ewma_design(
    p0: float,
    *,
    lam: float,
    arl0: float,
    p1: float | None = None,
    direction: str | None = None,
    resolution: int = 1000,
    z0: float | None = None,
) -> EwmaDesign:
    """Design a one-sided Bernoulli EWMA: the smallest grid limit with in-control ARL >= ``arl0``.

    Parameters
    ----------
    p0 : float
        In-control rate of the indicator.
    lam : float
        Smoothing weight in (0, 1] (small values, 0.01-0.1, for small shifts).
    arl0 : float
        Declared in-control ARL.
    p1 : float, optional
        A rate at which to report the out-of-control ARL (``arl1``).
    direction : {"increase", "decrease"}, optional
        Default: ``"increase"``, or the direction of ``p1`` when given.
    resolution : int
        Grid of the rounded chart (default 1000).
    z0 : float, optional
        Starting value of the upper chart (default its in-control mean).

    Returns
    -------
    EwmaDesign

    Raises
    ------
    ValueError
        No limit below 1 reaches ``arl0`` (``lam`` too large for so rare a false alarm).

    References
    ----------
    Gan FF (1990). J Stat Comput Simul 37:45-60. doi:10.1080/00949659008811293.
    Lucas JM, Saccucci MS (1990). Technometrics 32:1-12. doi:10.1080/00401706.1990.10484583.
    """
    a = _check_rate(p0, "p0")
    target = _check_arl0(arl0)
    lv = float(lam)
    if not (math.isfinite(lv) and 0.0 < lv <= 1.0):
        raise ValueError(f"lam must be in (0, 1], got {lam!r}")
    b = None if p1 is None else _check_rate(p1, "p1")
    if direction is None:
        direction = "decrease" if b is not None and b < a else "increase"
    _check_direction(direction)
    if b is not None and (b > a) != (direction == "increase"):
        raise ValueError(
            f"p1 = {b} is not {'an increase' if direction == 'increase' else 'a decrease'} "
            f"from p0 = {a}"
        )
    d = int(resolution)
    if d < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution!r}")
    q0 = a if direction == "increase" else 1.0 - a
    start = q0 if z0 is None else float(z0)
    if not 0.0 <= start <= 1.0:
        raise ValueError(f"z0 must be in [0, 1], got {z0!r}")
    hi = d - 1
    if _ewma_chain_arl(q0, lv, hi, d, start) < target:
        raise ValueError(
            f"no EWMA limit below 1 reaches ARL0 = {target:g} with lam = {lv} and p0 = {a}; "
            "choose a smaller lam or ARL0"
        )
    lo = -1  # invariant: ARL(lo) < target <= ARL(hi); the limit -1 would signal at once
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _ewma_chain_arl(q0, lv, mid, d, start) >= target:
            hi = mid
        else:
            lo = mid
    arl1 = None
    if b is not None:
        arl1 = _ewma_chain_arl(b if direction == "increase" else 1.0 - b, lv, hi, d, start)
    return EwmaDesign(
        p0=a,
        lam=lv,
        direction=direction,
        z0=start,
        ucl=hi / d,
        ucl_num=hi,
        resolution=d,
        arl0=_ewma_chain_arl(q0, lv, hi, d, start),
        p1=b,
        arl1=arl1,
        target_arl0=target,
    )


def bernoulli_ewma_path(
    x: ArrayLike, design: EwmaDesign, *, state: int | None = None, restart: bool = True
) -> ChartPath:
    """Run the rounded Bernoulli EWMA over 0/1 indicators ``x``, resuming from ``state``.

    ``state`` is the grid index of ``Z`` (``None``: at ``z0``). Values are reported on the
    upper chart's scale (for ``direction="decrease"``, the EWMA of ``1 - X``).
    """
    ind = _indicator(x, design.direction)
    d, lam = design.resolution, design.lam
    j: int | None = None if state is None else int(state)
    values: list[float] = []
    signals: list[int] = []
    for t, xi in enumerate(ind.tolist()):
        if j is None:
            j = int(_ewma_step(design.z0, xi, lam, d, from_float=True))
        else:
            j = int(_ewma_step(float(j), xi, lam, d, from_float=False))
        values.append(j / d)
        if j > design.ucl_num:
            signals.append(t)
            if restart:
                j = None
    return ChartPath(values=tuple(values), limit=design.ucl, signals=tuple(signals), state=j)


# --------------------------------------------------------------------------- normal charts


@dataclass(frozen=True)
class NormalChartDesign(ResultMixin):
    """A one-sided chart for a standardised statistic (N(0, 1) in control).

    ``kind`` ``"cusum"``: ``C_t = max(0, C_{t-1} + Z_t - k)``, signal when ``C_t > limit``.
    ``kind`` ``"ewma"``: ``E_t = max(zr s, (1 - lam) E_{t-1} + lam Z_t)``, signal when
    ``E_t > limit`` where ``limit = c s`` and ``s = sqrt(lam / (2 - lam))`` (the EWMA's
    asymptotic standard deviation); ``c`` is spc's critical value. ``Z`` is the statistic,
    or its negative for ``direction="decrease"``.
    """

    kind: str
    direction: str
    limit: float
    arl0: float
    target_arl0: float
    shift: float | None
    arl1: float | None
    k: float | None = None
    lam: float | None = None
    c: float | None = None
    zr: float | None = None
    states: int = 400
    method: str = "markov_chain_approximation"

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return jsonable(asdict(self))


def _dense_solve(a: NDArray[np.float64]) -> NDArray[np.float64]:
    """``a^{-1} 1`` on one BLAS thread: a few hundred states gain nothing from threads, and on
    a busy machine threaded LAPACK made each solve 25 times slower."""
    with threadpool_limits(limits=1):
        return np.asarray(np.linalg.solve(a, np.ones(a.shape[0])), dtype=np.float64)


def _check_states(states: int) -> int:
    n = int(states)
    if n < 10:
        raise ValueError(f"states must be an integer >= 10, got {states!r}")
    return n


def normal_cusum_arl(mu: float, *, k: float, h: float, states: int = 400) -> float:
    """ARL of the upper normal CUSUM by Brook & Evans' Markov chain approximation.

    ``C_t = max(0, C_{t-1} + Z_t - k)`` with ``Z_t ~ N(mu, 1)``, signal when ``C_t > h``.
    ``[0, h]`` is cut into state 0 ``[0, w/2)`` and ``states - 1`` intervals of width
    ``w = 2h / (2 states - 1)``, each represented by its midpoint. Compare spc's
    ``xcusum.arl(k, h, mu)`` (an integral-equation solution).

    References
    ----------
    Brook D, Evans DA (1972). Biometrika 59:539-549. doi:10.1093/biomet/59.3.539.
    """
    n = _check_states(states)
    kv, hv, m = float(k), float(h), float(mu)
    if not (math.isfinite(kv) and math.isfinite(hv) and math.isfinite(m) and hv > 0):
        raise ValueError(f"expected finite k, mu and h > 0, got k={k!r}, h={h!r}, mu={mu!r}")
    w = 2.0 * hv / (2 * n - 1)
    mid = np.arange(n) * w
    upper = (np.arange(n) + 0.5) * w  # upper edge of each state's interval
    # P(next state <= j | i) = Phi(upper_j - mid_i + k - mu)
    cdf = ndtr(upper[None, :] - mid[:, None] + kv - m)
    q = np.diff(np.concatenate([np.zeros((n, 1)), cdf], axis=1), axis=1)
    g = _dense_solve(np.eye(n) - q)
    return float(g[0])


def normal_ewma_arl(
    mu: float, *, lam: float, c: float, zr: float = 0.0, states: int = 400
) -> float:
    """ARL of the one-sided (upper) normal EWMA with a reflecting barrier, by a Markov chain.

    ``E_t = max(zr s, (1 - lam) E_{t-1} + lam Z_t)``, ``E_0 = 0`` (``0 >= zr``), signal when
    ``E_t > c s``, ``s = sqrt(lam / (2 - lam))``, ``Z_t ~ N(mu, 1)``. The chain has the
    barrier as an atom and ``states`` equal intervals of ``(zr s, c s]`` represented by their
    midpoints (Lucas & Saccucci 1990's discretisation). Compare spc's
    ``xewma.arl(lam, c, mu, zr, sided = "one")``.

    References
    ----------
    Lucas JM, Saccucci MS (1990). Technometrics 32:1-12. doi:10.1080/00401706.1990.10484583.
    Brook D, Evans DA (1972). Biometrika 59:539-549. doi:10.1093/biomet/59.3.539.
    """
    n = _check_states(states)
    lv, cv, zv, m = float(lam), float(c), float(zr), float(mu)
    if not (0.0 < lv <= 1.0 and math.isfinite(cv) and math.isfinite(zv) and math.isfinite(m)):
        raise ValueError(
            f"expected 0 < lam <= 1 and finite c, zr, mu; got lam={lam!r}, c={c!r}, "
            f"zr={zr!r}, mu={mu!r}"
        )
    if not zv <= 0.0 < cv:
        raise ValueError(f"expected zr <= 0 < c, got zr={zr!r}, c={c!r}")
    s = math.sqrt(lv / (2.0 - lv))
    lo, hi = zv * s, cv * s
    w = (hi - lo) / n
    edges = lo + np.arange(n + 1) * w
    points = np.concatenate([[lo], lo + (np.arange(n) + 0.5) * w])  # atom, then midpoints
    base = (1.0 - lv) * points
    cdf = ndtr((edges[None, :] - base[:, None]) / lv - m)  # P(next <= edge)
    q = np.empty((n + 1, n + 1))
    q[:, 0] = cdf[:, 0]  # to the barrier
    q[:, 1:] = np.diff(cdf, axis=1)
    g = _dense_solve(np.eye(n + 1) - q)
    # start at 0: locate it (the barrier when zr = 0)
    if zv == 0.0:
        return float(g[0])
    z0 = 0.0
    c0 = ndtr((edges - (1.0 - lv) * z0) / lv - m)
    row = np.concatenate([[c0[0]], np.diff(c0)])
    return float(1.0 + row @ g)


def _bracket_root(fun: Any, lo: float, hi: float) -> float:
    while fun(hi) < 0:
        lo, hi = hi, hi * 2.0
        if hi > 1e4:
            raise ValueError("no control limit found below 1e4")
    return float(optimize.brentq(fun, lo, hi, xtol=1e-10, rtol=1e-12))


@validate_params({"direction": [Options(DIRECTIONS)]})
def normal_cusum_design(
    *,
    k: float,
    arl0: float,
    shift: float | None = None,
    direction: str = "increase",
    states: int = 400,
) -> NormalChartDesign:
    """The limit ``h`` of an upper normal CUSUM with in-control ARL ``arl0`` (Brook-Evans chain).

    ``shift`` (in standard deviations, in the monitored direction) gives ``arl1``. Compare
    spc's ``xcusum.crit(k, L0)``.
    """
    target = _check_arl0(arl0)
    kv = float(k)
    if not (math.isfinite(kv) and kv >= 0):
        raise ValueError(f"k must be finite and >= 0, got {k!r}")
    h = _bracket_root(
        lambda hv: normal_cusum_arl(0.0, k=kv, h=hv, states=states) - target, 1e-3, 1.0
    )
    arl1 = None if shift is None else normal_cusum_arl(float(shift), k=kv, h=h, states=states)
    return NormalChartDesign(
        kind="cusum",
        direction=direction,
        limit=h,
        arl0=normal_cusum_arl(0.0, k=kv, h=h, states=states),
        target_arl0=target,
        shift=shift,
        arl1=arl1,
        k=kv,
        states=states,
    )


@validate_params({"direction": [Options(DIRECTIONS)]})
def normal_ewma_design(
    *,
    lam: float,
    arl0: float,
    zr: float = 0.0,
    shift: float | None = None,
    direction: str = "increase",
    states: int = 400,
) -> NormalChartDesign:
    """The critical value ``c`` of a one-sided normal EWMA with in-control ARL ``arl0``.

    Compare spc's ``xewma.crit(lam, L0, zr = zr, sided = "one")``; ``limit = c s``.
    """
    target = _check_arl0(arl0)
    lv = float(lam)
    if not (math.isfinite(lv) and 0.0 < lv <= 1.0):
        raise ValueError(f"lam must be in (0, 1], got {lam!r}")
    c = _bracket_root(
        lambda cv: normal_ewma_arl(0.0, lam=lv, c=cv, zr=zr, states=states) - target, 1e-3, 1.0
    )
    s = math.sqrt(lv / (2.0 - lv))
    arl1 = (
        None if shift is None else normal_ewma_arl(float(shift), lam=lv, c=c, zr=zr, states=states)
    )
    return NormalChartDesign(
        kind="ewma",
        direction=direction,
        limit=c * s,
        arl0=normal_ewma_arl(0.0, lam=lv, c=c, zr=zr, states=states),
        target_arl0=target,
        shift=shift,
        arl1=arl1,
        lam=lv,
        c=c,
        zr=float(zr),
        states=states,
    )


def _as_stat(z: ArrayLike, direction: str) -> NDArray[np.float64]:
    arr = np.asarray(z, dtype=np.float64)
    if arr.ndim != 1 or not np.all(np.isfinite(arr)):
        raise ValueError("z must be a 1-D array of finite standardised statistics")
    return arr if direction == "increase" else -arr


def normal_cusum_path(
    z: ArrayLike, design: NormalChartDesign, *, state: float | None = None, restart: bool = True
) -> ChartPath:
    """Run an upper normal CUSUM over standardised statistics ``z``, resuming from ``state``."""
    if design.kind != "cusum" or design.k is None:
        raise ValueError("normal_cusum_path needs a CUSUM design (normal_cusum_design)")
    c = 0.0 if state is None else float(state)
    values: list[float] = []
    signals: list[int] = []
    for t, zi in enumerate(_as_stat(z, design.direction).tolist()):
        c = max(0.0, c + zi - design.k)
        values.append(c)
        if c > design.limit:
            signals.append(t)
            if restart:
                c = 0.0
    return ChartPath(values=tuple(values), limit=design.limit, signals=tuple(signals), state=c)


def normal_ewma_path(
    z: ArrayLike, design: NormalChartDesign, *, state: float | None = None, restart: bool = True
) -> ChartPath:
    """Run a one-sided normal EWMA over standardised statistics ``z``, resuming from ``state``."""
    if design.kind != "ewma" or design.lam is None or design.zr is None:
        raise ValueError("normal_ewma_path needs an EWMA design (normal_ewma_design)")
    lam = design.lam
    floor = design.zr * math.sqrt(lam / (2.0 - lam))
    e = 0.0 if state is None else float(state)
    values: list[float] = []
    signals: list[int] = []
    for t, zi in enumerate(_as_stat(z, design.direction).tolist()):
        e = max(floor, (1.0 - lam) * e + lam * zi)
        values.append(e)
        if e > design.limit:
            signals.append(t)
            if restart:
                e = 0.0
    return ChartPath(values=tuple(values), limit=design.limit, signals=tuple(signals), state=e)
