"""``radval monitor run``: incremental, append-only, audit-logged post-market monitoring.

A monitoring folder (``--out DIR``) holds ``monitor.json`` (the record and the resumable
state), ``report.html``, copies of the locked ``protocol.yaml`` and ``protocol.lock.json``,
and the hash-chained ``audit.jsonl`` (:mod:`validation.audit`). Each run:

1. loads the monitoring protocol and refuses it unless its lock verifies (protocol and
   reference sha256, :mod:`validation.monitor.lock`) and, for an existing folder, unless
   the folder's audit log verifies and the folder was started with the same protocol;
2. reads the batch and label files that are new since the last run (files already read
   must be unchanged: their sha256 is recorded);
3. appends the new cases, in order of arrival, and the new labels, in order of arrival;
4. advances every case-level chart over its new observations only (``positive_call`` over
   new cases; ``false_negative``, ``false_positive``, ``error`` over newly verified cases),
   resuming from the stored chart state;
5. closes the calendar windows that ended by the ``as of`` time (the latest case time, or
   ``--as-of``) and computes their drift statistics once: a closed window is frozen, and a
   case that would fall into it later is refused;
6. appends a performance snapshot for each closed window whose number of verified cases
   changed (labels arrive late: a window's estimate is reported as of the run that saw
   its labels, earlier snapshots are kept);
7. logs every alarm, renders ``report.html``, and commits ``monitor.json`` and the report
   as one audit entry (:func:`validation.audit.commit`).

The past is never recomputed: what a previous run wrote is copied forward unchanged, and
:func:`check_append_only` verifies that before anything is committed. Exit code 0 when no
alarm is open, 1 when an alarm is open (acknowledge it with ``radval monitor acknowledge``
after investigating), 2 for bad input.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation import __version__, audit
from validation.errors import InputError, ProtocolError
from validation.io import sha256_bytes, sha256_file
from validation.monitor.lock import read_monitor_lock, verify_monitor_lock
from validation.monitor.protocol import Chart, LoadedMonitorProtocol, load_monitor_protocol
from validation.monitor.report import render_monitor_html
from validation.monitor.stream import (
    ReferenceData,
    StreamError,
    find_files,
    read_batch,
    read_labels,
    read_reference,
)
from validation.protocol.lock import lock_path_for, now_utc
from validation.stats import (
    bernoulli_cusum_design,
    bernoulli_cusum_path,
    bernoulli_ewma_design,
    bernoulli_ewma_path,
    category_shift,
    ks_drift,
    normal_cusum_design,
    normal_cusum_path,
    normal_ewma_design,
    normal_ewma_path,
    population_stability_index,
    positive_rate_shift,
    proportion_ci,
    psi_bins,
    wasserstein_drift,
    window_performance,
)
from validation.stats.monitoring import CusumDesign, EwmaDesign, NormalChartDesign

MONITOR_SCHEMA = "radval.monitor/1"
MONITOR_FILE = "monitor.json"
REPORT_FILE = "report.html"
LABEL_INDICATORS = ("false_negative", "false_positive", "error")

__all__ = [
    "MONITOR_FILE",
    "MONITOR_SCHEMA",
    "MonitorOutcome",
    "acknowledge_alarm",
    "check_append_only",
    "load_state",
    "render_signed",
    "run_monitor",
]


class MonitorFolderError(InputError):
    """A monitoring folder cannot be used (another protocol, not a monitoring folder)."""


@dataclass(frozen=True)
class MonitorOutcome:
    """What a monitoring run did: the folder, the exit code and the alarms."""

    out_dir: Path
    exit_code: int
    new_alarms: list[dict[str, Any]]
    open_alarms: list[dict[str, Any]]
    run: dict[str, Any]
    state: dict[str, Any] = field(repr=False)


def case_key(case_id: str) -> str:
    """The pseudonymous key a case is stored under (sha256 of its id, 20 hex digits).

    Original case ids (accession numbers ...) never enter ``monitor.json`` or the report.
    """
    return sha256_bytes(case_id.encode("utf-8"))[:20]


def _iso(ts: pd.Timestamp) -> str:
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%fZ").replace(".000000Z", "Z")


def _ts(text: str) -> pd.Timestamp:
    return pd.Timestamp(text).tz_convert("UTC")


# --------------------------------------------------------------------------- windows


def window_bounds(ts: pd.Timestamp, length: str) -> tuple[str, pd.Timestamp, pd.Timestamp]:
    """``(id, start, end)`` of the calendar window (UTC) that contains ``ts``."""
    day = ts.tz_convert("UTC").normalize()
    if length == "day":
        return day.strftime("%Y-%m-%d"), day, day + pd.Timedelta(days=1)
    if length == "week":
        start = day - pd.Timedelta(days=day.weekday())
        iso = start.isocalendar()
        return f"{iso[0]}-W{iso[1]:02d}", start, start + pd.Timedelta(days=7)
    start = day.replace(day=1)
    end = (start + pd.Timedelta(days=32)).replace(day=1)
    return start.strftime("%Y-%m"), start, end


# --------------------------------------------------------------------------- reference


def _counts(values: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def _reference_rates(ref: ReferenceData, threshold: float) -> dict[str, Any]:
    call = ref.score >= threshold
    out: dict[str, Any] = {
        "n": ref.n,
        "n_positive_calls": int(call.sum()),
        "positive_call": float(call.mean()),
    }
    if ref.label is not None:
        y = ref.label == 1
        tp, fn = int((call & y).sum()), int((~call & y).sum())
        fp, tn = int((call & ~y).sum()), int((~call & ~y).sum())
        out.update(
            tp=tp,
            fn=fn,
            fp=fp,
            tn=tn,
            false_negative=fn / (tp + fn) if tp + fn else None,
            false_positive=fp / (fp + tn) if fp + tn else None,
            error=(fn + fp) / ref.n,
        )
    return out


def _reference_summary(loaded: LoadedMonitorProtocol, ref: ReferenceData) -> dict[str, Any]:
    p = loaded.protocol
    rates = _reference_rates(ref, p.reference.threshold)
    psi = p.drift.psi
    edges = None
    if psi is not None:
        edges = (
            psi_bins(ref.score, n_bins=psi.bins)
            if psi.edges is None
            else np.concatenate([[-np.inf], np.asarray(psi.edges, float), [np.inf]])
        )
    return {
        "threshold": p.reference.threshold,
        "rates": rates,
        "labels": ref.label is not None,
        "score_mean": float(np.mean(ref.score)),
        "score_sd": float(np.std(ref.score, ddof=1)) if ref.n > 1 else None,
        "psi_edges": None
        if edges is None
        else [float(e) if np.isfinite(e) else ("-inf" if e < 0 else "inf") for e in edges],
        "categories": {a: _counts(v) for a, v in ref.attributes.items()},
    }


def _check_results(loaded: LoadedMonitorProtocol) -> dict[str, Any] | None:
    """Cross-check the reference against the locked study's results.json (when declared)."""
    ref = loaded.protocol.reference
    if ref.results is None:
        return None
    path = loaded.resolve(ref.results)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        inputs = doc["inputs"]
        threshold = doc["protocol"]["resolved"]["model"]["threshold"]
        scores_sha = inputs["scores"]["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProtocolError(
            f"{path}: reference.results: expected a radval results.json with "
            f"inputs.scores.sha256 and the model threshold ({type(exc).__name__}: {exc})"
        ) from None
    actual = sha256_file(loaded.resolve(ref.scores))
    if scores_sha != actual:
        raise ProtocolError(
            f"{loaded.path}: reference.scores has sha256 {actual}, but {path} was computed "
            f"from scores with sha256 {scores_sha}"
        )
    if ref.manifest is not None:
        msha = (inputs.get("manifest") or {}).get("sha256")
        mact = sha256_file(loaded.resolve(ref.manifest))
        if msha != mact:
            raise ProtocolError(
                f"{loaded.path}: reference.manifest has sha256 {mact}, but {path} was "
                f"computed on a manifest with sha256 {msha}"
            )
    if threshold is None or float(threshold) != float(ref.threshold):
        raise ProtocolError(
            f"{loaded.path}: reference.threshold is {ref.threshold}, but the locked study "
            f"{path} used threshold {threshold}"
        )
    return {
        "path": str(path),
        "sha256": sha256_file(path),
        "study": (doc.get("study") or {}).get("id"),
        "verdict": doc.get("verdict"),
    }


# --------------------------------------------------------------------------- designs


def _direction(chart: Chart, p0: float) -> str:
    if chart.p1 is not None:
        implied = "increase" if chart.p1 > p0 else "decrease"
        if chart.direction is not None and chart.direction != implied:
            raise ProtocolError(
                f"chart {chart.id}: direction {chart.direction} disagrees with p1 = "
                f"{chart.p1} and p0 = {p0} (a {implied})"
            )
        return implied
    return chart.direction or "increase"


def _design(chart: Chart, reference: dict[str, Any]) -> dict[str, Any]:
    if chart.indicator == "score_mean":
        shift = 1.0 if chart.shift is None else chart.shift
        assert chart.direction is not None
        if chart.kind == "cusum":
            nd = normal_cusum_design(
                k=shift / 2.0, arl0=chart.arl0, shift=shift, direction=chart.direction
            )
        else:
            assert chart.lam is not None
            nd = normal_ewma_design(
                lam=chart.lam, arl0=chart.arl0, shift=shift, direction=chart.direction
            )
        return nd.to_dict()
    rates = reference["rates"]
    if chart.p0 == "reference":
        p0 = rates.get(chart.indicator)
        if p0 is None:
            raise ProtocolError(
                f"chart {chart.id}: p0 is `reference`, but the reference has no labels "
                f"({chart.indicator} needs reference.label_column); declare p0"
            )
        if not 0.0 < p0 < 1.0:
            raise ProtocolError(
                f"chart {chart.id}: the reference's {chart.indicator} rate is {p0}, which "
                "cannot be a chart's in-control rate; declare p0"
            )
    else:
        p0 = float(chart.p0)
    direction = _direction(chart, p0)
    try:
        if chart.kind == "cusum":
            assert chart.p1 is not None
            d: CusumDesign | EwmaDesign = bernoulli_cusum_design(
                p0, chart.p1, arl0=chart.arl0, resolution=chart.resolution
            )
        else:
            assert chart.lam is not None
            d = bernoulli_ewma_design(
                p0,
                lam=chart.lam,
                arl0=chart.arl0,
                p1=chart.p1,
                direction=direction,
                resolution=chart.resolution or 1000,
            )
    except ValueError as exc:
        raise ProtocolError(f"chart {chart.id}: {exc}") from None
    return d.to_dict()


_P0_COUNTS = {
    "false_negative": ("fn", ("tp", "fn")),
    "false_positive": ("fp", ("fp", "tn")),
    "error": (("fn", "fp"), ("tp", "fn", "fp", "tn")),
    "positive_call": ("n_positive_calls", ("n",)),
}


def _p0_source(chart: Chart, reference: dict[str, Any], design: dict[str, Any]) -> dict[str, Any]:
    """Where p0 came from, and the in-control ARL if the true rate were at its 95% bound.

    A ``p0`` estimated from the reference carries sampling error; the declared ARL0 holds for
    the true rate only. The ARL at the Wilson bound on the side of more false alarms shows
    how much the in-control ARL could shrink (Phase I estimation effects).
    """
    if chart.indicator == "score_mean":
        return {"from": "reference score mean and SD (treated as known)"}
    if chart.p0 != "reference":
        return {"from": "declared"}
    rates = reference["rates"]
    num_keys, den_keys = _P0_COUNTS[chart.indicator]
    successes = sum(rates[k] for k in ((num_keys,) if isinstance(num_keys, str) else num_keys))
    n = sum(rates[k] for k in den_keys)
    ci = proportion_ci(successes, n, method="wilson", confidence_level=0.95)
    obj = _design_object(design)
    bound = ci.ci_high if design["direction"] == "increase" else ci.ci_low
    assert not isinstance(obj, NormalChartDesign)
    return {
        "from": "reference",
        "successes": successes,
        "n": n,
        "ci_low": ci.ci_low,
        "ci_high": ci.ci_high,
        "bound": bound,
        "arl0_at_bound": obj.arl(bound),
    }


def _design_object(rec: dict[str, Any]) -> CusumDesign | EwmaDesign | NormalChartDesign:
    method = rec["method"]
    if method.startswith("bernoulli_cusum"):
        return CusumDesign(**rec)
    if method.startswith("bernoulli_ewma"):
        return EwmaDesign(**rec)
    return NormalChartDesign(**rec)


# --------------------------------------------------------------------------- state


def new_state(
    loaded: LoadedMonitorProtocol,
    lock_summary: dict[str, Any],
    reference: dict[str, Any],
    results: dict[str, Any] | None,
) -> dict[str, Any]:
    """An empty monitoring record for ``loaded`` (nothing ingested yet)."""
    p = loaded.protocol
    charts: dict[str, dict[str, Any]] = {}
    for c in p.charts:
        design = _design(c, reference)
        charts[c.id] = {
            "indicator": c.indicator,
            "kind": c.kind,
            "design": design,
            "p0_source": _p0_source(c, reference, design),
            "state": None,
            "values": [],
            "times": [],
            "runs": [],
            "signals": [],
        }
    return {
        "schema": MONITOR_SCHEMA,
        "radval_version": __version__,
        "monitor": p.monitor.model_dump(),
        "protocol": {
            "path": str(loaded.path),
            "sha256": loaded.sha256,
            "lock": lock_summary,
            "resolved": p.model_dump(mode="json", by_alias=True),
        },
        "reference": {**reference, "results": results},
        "as_of": None,
        "closed_until": None,
        "runs": [],
        "inputs": {"batches": [], "labels": []},
        "cases": {
            "key": [],
            "time": [],
            "window": [],
            "score": [],
            "batch": [],
            "attributes": {a: [] for a in p.stream.attributes},
            "label": [],
            "label_order": [],
        },
        "windows": [],
        "performance": [],
        "charts": charts,
        "alarms": [],
        "acknowledgements": [],
    }


def load_state(out_dir: str | Path) -> dict[str, Any] | None:
    """The folder's ``monitor.json`` (``None`` when there is none yet)."""
    path = Path(out_dir) / MONITOR_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MonitorFolderError(f"{path}: cannot read the monitoring record: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != MONITOR_SCHEMA:
        raise MonitorFolderError(
            f"{path}: expected a radval monitoring record ({MONITOR_SCHEMA!r})"
        )
    return data


def _snapshot(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True)


def check_append_only(old: dict[str, Any], new: dict[str, Any]) -> None:
    """Verify that ``new`` only appends to ``old``: nothing a previous run recorded changed.

    Raises
    ------
    RuntimeError
        An internal error (never expected): a closed window, a chart value, an alarm, a
        performance snapshot, a run or a case recorded before differs in ``new``.
    """
    problems = []
    for key in ("runs", "windows", "performance", "alarms", "acknowledgements"):
        if _snapshot(new[key][: len(old[key])]) != _snapshot(old[key]):
            problems.append(key)
    for key in ("batches", "labels"):
        if _snapshot(new["inputs"][key][: len(old["inputs"][key])]) != _snapshot(
            old["inputs"][key]
        ):
            problems.append(f"inputs.{key}")
    for key, values in old["cases"].items():
        if key == "attributes":
            for a, v in values.items():
                if new["cases"]["attributes"][a][: len(v)] != v:
                    problems.append(f"cases.attributes.{a}")
        elif key in ("label", "label_order"):
            # labels arrive later: an unlabelled case may gain one, a label never changes
            for before, after in zip(values, new["cases"][key], strict=False):
                if before is not None and before != after:
                    problems.append(f"cases.{key}")
                    break
        elif new["cases"][key][: len(values)] != values:
            problems.append(f"cases.{key}")
    for cid, chart in old["charts"].items():
        got = new["charts"][cid]
        for key in ("values", "times", "runs", "signals"):
            if got[key][: len(chart[key])] != chart[key]:
                problems.append(f"charts.{cid}.{key}")
        if _snapshot(got["design"]) != _snapshot(chart["design"]):
            problems.append(f"charts.{cid}.design")
    for key in ("protocol", "reference", "monitor"):
        if _snapshot(new[key]) != _snapshot(old[key]):
            problems.append(key)
    if problems:
        raise RuntimeError(f"monitoring run would change the recorded past: {', '.join(problems)}")


# --------------------------------------------------------------------------- alarms


def _alarm(
    state: dict[str, Any],
    run: int,
    *,
    source: str,
    rule: str,
    message: str,
    severity: str = "alarm",
    window: str | None = None,
    chart: str | None = None,
    at: str | None = None,
) -> dict[str, Any]:
    rec = {
        "id": f"A{len(state['alarms']) + 1}",
        "run": run,
        "severity": severity,
        "source": source,
        "rule": rule,
        "window": window,
        "chart": chart,
        "at": at,
        "message": message,
    }
    state["alarms"].append(rec)
    return rec


def open_alarms(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Alarms (not warnings) that no acknowledgement has closed."""
    acked = {a["alarm"] for a in state["acknowledgements"]}
    return [a for a in state["alarms"] if a["severity"] == "alarm" and a["id"] not in acked]


# --------------------------------------------------------------------------- one run


def _advance_chart(
    state: dict[str, Any], cid: str, x: np.ndarray, times: list[str], run: int
) -> None:
    chart = state["charts"][cid]
    if x.size == 0:
        return
    design = _design_object(chart["design"])
    if isinstance(design, CusumDesign):
        path = bernoulli_cusum_path(x, design, state=chart["state"])
    elif isinstance(design, EwmaDesign):
        path = bernoulli_ewma_path(x, design, state=chart["state"])
    elif design.kind == "cusum":
        path = normal_cusum_path(x, design, state=chart["state"])
    else:
        path = normal_ewma_path(x, design, state=chart["state"])
    base = len(chart["values"])
    chart["values"].extend(float(v) for v in path.values)
    chart["times"].extend(times)
    chart["runs"].extend([run] * len(path.values))
    chart["state"] = path.state
    for i in path.signals:
        chart["signals"].append(base + i)
        obs = "window" if chart["indicator"] == "score_mean" else "observation"
        _alarm(
            state,
            run,
            source="chart",
            rule=f"{chart['kind']}:{chart['indicator']}",
            chart=cid,
            at=times[i],
            message=(
                f"chart {cid} ({chart['kind'].upper()} on {chart['indicator']}) signalled at "
                f"{obs} {base + i + 1} ({times[i]}): statistic {path.values[i]:.4g} > limit "
                f"{path.limit:.4g} (in-control ARL {chart['design']['arl0']:.4g})"
            ),
        )


def _indicator(
    indicator: str, score: np.ndarray, label: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray]:
    """(mask of cases the indicator applies to, 0/1 values) for verified cases."""
    call = score >= threshold
    if indicator == "false_negative":
        mask = label == 1
        return mask, (~call[mask]).astype(np.int8)
    if indicator == "false_positive":
        mask = label == 0
        return mask, call[mask].astype(np.int8)
    mask = np.ones(label.size, dtype=bool)
    return mask, (call != (label == 1)).astype(np.int8)


def _drift(
    loaded: LoadedMonitorProtocol, ref: ReferenceData, state: dict[str, Any], idx: np.ndarray
) -> dict[str, Any]:
    p = loaded.protocol
    cases = state["cases"]
    score = np.asarray([cases["score"][i] for i in idx], dtype=float)
    out: dict[str, Any] = {}
    if p.drift.psi is not None:
        edges = [float(e) for e in state["reference"]["psi_edges"]]
        res = population_stability_index(ref.score, score, edges=edges, epsilon=p.drift.psi.epsilon)
        out["psi"] = {
            "psi": res.psi,
            "window_share": list(res.window_share),
            "floored": list(res.floored),
            "epsilon": res.epsilon,
        }
    if p.drift.ks is not None:
        ks = ks_drift(ref.score, score)
        out["ks"] = {"statistic": ks.statistic, "p_value": ks.p_value, "method": ks.method}
    if p.drift.wasserstein is not None:
        out["wasserstein"] = wasserstein_drift(ref.score, score)
    if p.drift.positive_rate is not None:
        thr = p.reference.threshold
        pr = positive_rate_shift(
            int((score >= thr).sum()), int(score.size), int((ref.score >= thr).sum()), ref.n
        )
        out["positive_rate"] = {
            "estimate": pr.window.estimate,
            "ci_low": pr.window.ci_low,
            "ci_high": pr.window.ci_high,
            "reference": pr.reference.estimate,
            "difference": pr.difference,
            "diff_ci_low": pr.ci_low,
            "diff_ci_high": pr.ci_high,
            "statistic": pr.statistic,
            "p_value": pr.p_value,
            "confidence_level": pr.confidence_level,
            "method": pr.method,
        }
    if p.drift.mix is not None and p.stream.attributes:
        mix = {}
        for a in p.stream.attributes:
            values = [cases["attributes"][a][i] for i in idx]
            cs = category_shift(ref.attributes[a], values)
            mix[a] = cs.to_dict()
        out["mix"] = mix
    return out


def _drift_alarms(
    loaded: LoadedMonitorProtocol, state: dict[str, Any], run: int, window: dict[str, Any]
) -> None:
    d = loaded.protocol.drift
    drift = window["drift"]
    wid = window["id"]
    at = window["end"]
    if d.psi is not None and "psi" in drift:
        v = drift["psi"]["psi"]
        if d.psi.alarm_above is not None and v > d.psi.alarm_above:
            _alarm(
                state,
                run,
                source="drift",
                rule="psi",
                window=wid,
                at=at,
                message=f"window {wid}: PSI of the scores {v:.3f} > {d.psi.alarm_above}",
            )
        elif d.psi.warn_above is not None and v > d.psi.warn_above:
            _alarm(
                state,
                run,
                source="drift",
                rule="psi",
                window=wid,
                at=at,
                severity="warning",
                message=f"window {wid}: PSI of the scores {v:.3f} > {d.psi.warn_above} (warning)",
            )
    if d.ks is not None and "ks" in drift and drift["ks"]["p_value"] < d.ks.alarm_p_below:
        _alarm(
            state,
            run,
            source="drift",
            rule="ks",
            window=wid,
            at=at,
            message=(
                f"window {wid}: score distribution differs from the reference (KS D = "
                f"{drift['ks']['statistic']:.3f}, p = {drift['ks']['p_value']:.2g} < "
                f"{d.ks.alarm_p_below})"
            ),
        )
    if (
        d.wasserstein is not None
        and d.wasserstein.alarm_above is not None
        and "wasserstein" in drift
        and drift["wasserstein"] > d.wasserstein.alarm_above
    ):
        _alarm(
            state,
            run,
            source="drift",
            rule="wasserstein",
            window=wid,
            at=at,
            message=(
                f"window {wid}: Wasserstein distance of the scores {drift['wasserstein']:.4f} > "
                f"{d.wasserstein.alarm_above}"
            ),
        )
    if d.positive_rate is not None and "positive_rate" in drift:
        pr = drift["positive_rate"]
        if pr["p_value"] is not None and pr["p_value"] < d.positive_rate.alarm_p_below:
            _alarm(
                state,
                run,
                source="drift",
                rule="positive_rate",
                window=wid,
                at=at,
                message=(
                    f"window {wid}: positive rate at the locked threshold {pr['estimate']:.3f} "
                    f"vs reference {pr['reference']:.3f} (p = {pr['p_value']:.2g} < "
                    f"{d.positive_rate.alarm_p_below})"
                ),
            )
    if d.mix is not None:
        for a, cs in (drift.get("mix") or {}).items():
            if cs["new"]:
                names = ", ".join(repr(c) for c in cs["new"])
                _alarm(
                    state,
                    run,
                    source="drift",
                    rule="new_category",
                    window=wid,
                    at=at,
                    severity="alarm" if d.mix.new_category == "alarm" else "warning",
                    message=f"window {wid}: new {a} not in the reference: {names}",
                )
            if cs["p_value"] is not None and cs["p_value"] < d.mix.alarm_p_below:
                _alarm(
                    state,
                    run,
                    source="drift",
                    rule="mix",
                    window=wid,
                    at=at,
                    message=(
                        f"window {wid}: {a} mix differs from the reference (chi-square "
                        f"{cs['statistic']:.1f}, df {cs['df']}, p = {cs['p_value']:.2g} < "
                        f"{d.mix.alarm_p_below}; total variation {cs['total_variation']:.3f})"
                    ),
                )


def _estimate_record(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"not_estimable": value.removeprefix("not estimable: ")}
    return {
        "estimate": value.estimate,
        "ci_low": value.ci_low,
        "ci_high": value.ci_high,
        "n": value.n,
        "successes": value.successes,
        "method": value.method,
        "confidence_level": value.confidence_level,
    }


def _performance(loaded: LoadedMonitorProtocol, state: dict[str, Any], run: int) -> None:
    perf = loaded.protocol.performance
    cases = state["cases"]
    latest: dict[str, dict[str, Any]] = {}
    for old in state["performance"]:
        latest[old["window"]] = old
    thr = loaded.protocol.reference.threshold
    for window in state["windows"]:
        verified = [i for i in window["case_index"] if cases["label"][i] is not None]
        prev = latest.get(window["id"])
        if prev is not None and prev["n_verified"] == len(verified):
            continue
        n = window["n_cases"]
        snap: dict[str, Any] = {
            "window": window["id"],
            "run": run,
            "n_cases": n,
            "n_verified": len(verified),
            "n_verified_positive": int(sum(cases["label"][i] == 1 for i in verified)),
            "metrics": {},
        }
        if len(verified) < perf.min_verified:
            snap["metrics"] = {
                m: {
                    "not_estimable": f"{len(verified)} verified case(s), fewer than "
                    f"min_verified = {perf.min_verified}"
                }
                for m in perf.metrics
            }
        else:
            y = np.asarray([cases["label"][i] for i in verified], dtype=np.int8)
            s = np.asarray([cases["score"][i] for i in verified], dtype=float)
            res = window_performance(
                y, s, threshold=thr, metrics=perf.metrics, confidence_level=perf.confidence_level
            )
            snap["metrics"] = {m: _estimate_record(v) for m, v in res.items()}
        state["performance"].append(snap)
        for rule in perf.alarms:
            rec = snap["metrics"].get(rule.metric) or {}
            hit = rec.get("ci_high") is not None and rec["ci_high"] < rule.value
            before = (
                prev is not None
                and (prev["metrics"].get(rule.metric) or {}).get("ci_high") is not None
                and prev["metrics"][rule.metric]["ci_high"] < rule.value
            )
            if hit and not before:
                _alarm(
                    state,
                    run,
                    source="performance",
                    rule=f"{rule.metric}<{rule.value}",
                    window=window["id"],
                    at=window["end"],
                    message=(
                        f"window {window['id']}: {rule.metric} {rec['estimate']:.3f} "
                        f"({int(perf.confidence_level * 100)}% CI {rec['ci_low']:.3f}-"
                        f"{rec['ci_high']:.3f}) is below {rule.value} (upper bound below; "
                        f"{len(verified)} of {n} cases verified)"
                    ),
                )


def _ingest_batches(
    loaded: LoadedMonitorProtocol, stream_dir: Path, state: dict[str, Any], run: int
) -> tuple[list[str], dict[str, str]]:
    p = loaded.protocol
    known = {b["file"]: b for b in state["inputs"]["batches"]}
    cases = state["cases"]
    seen = {k: i for i, k in enumerate(cases["key"])}
    added: list[str] = []
    hashes: dict[str, str] = {}
    closed_until = _ts(state["closed_until"]) if state["closed_until"] else None
    for name, path in find_files(stream_dir, p.stream.batches, what="batch"):
        digest = sha256_file(path)
        if name in known:
            if known[name]["sha256"] != digest:
                raise StreamError(
                    f"{path}: batch file changed since run {known[name]['run']} read it (sha256 "
                    f"{digest}, recorded {known[name]['sha256']}); monitoring never re-reads the past: "
                    "deliver corrections as a new batch"
                )
            continue
        batch = read_batch(path, name, p.stream)
        keys = [case_key(c) for c in batch.case_id]
        for i, k in enumerate(keys):
            if k in seen:
                first = state["inputs"]["batches"][cases["batch"][seen[k]]]["file"]
                raise StreamError(
                    f"{path}: row {batch.row[i]}, column 'case_id': case {batch.case_id[i]!r} "
                    f"is already in the stream (batch {first})"
                )
        if closed_until is not None:
            late = (batch.time < closed_until).to_numpy()
            if late.any():
                i = int(np.flatnonzero(late)[0])
                wid = window_bounds(batch.time.iloc[i], p.windows.length)[0]
                raise StreamError(
                    f"{path}: row {batch.row[i]}, column 'time': case {batch.case_id[i]!r} at "
                    f"{_iso(batch.time.iloc[i])} falls in window {wid}, which was closed (as of "
                    f"{state['closed_until']}); closed windows are frozen, so late cases are refused"
                )
        index = len(state["inputs"]["batches"])
        state["inputs"]["batches"].append(
            {"file": name, "sha256": digest, "run": run, "n_cases": len(keys)}
        )
        for i, k in enumerate(keys):
            seen[k] = len(cases["key"])
            ts = batch.time.iloc[i]
            cases["key"].append(k)
            cases["time"].append(_iso(ts))
            cases["window"].append(window_bounds(ts, p.windows.length)[0])
            cases["score"].append(float(batch.score[i]))
            cases["batch"].append(index)
            for a in p.stream.attributes:
                cases["attributes"][a].append(batch.attributes[a][i])
            cases["label"].append(None)
            cases["label_order"].append(None)
        added.append(name)
        hashes[f"stream/{name}"] = digest
    return added, hashes


def _ingest_labels(
    loaded: LoadedMonitorProtocol, stream_dir: Path, state: dict[str, Any], run: int
) -> tuple[list[int], list[str], dict[str, str]]:
    p = loaded.protocol
    if p.stream.labels is None:
        return [], [], {}
    known = {b["file"]: b for b in state["inputs"]["labels"]}
    cases = state["cases"]
    index = {k: i for i, k in enumerate(cases["key"])}
    order = sum(1 for v in cases["label_order"] if v is not None)
    newly: list[int] = []
    added: list[str] = []
    hashes: dict[str, str] = {}
    for name, path in find_files(stream_dir, p.stream.labels, what="label"):
        digest = sha256_file(path)
        if name in known:
            if known[name]["sha256"] != digest:
                raise StreamError(
                    f"{path}: label file changed since run {known[name]['run']} read it (sha256 "
                    f"{digest}, recorded {known[name]['sha256']}); deliver new labels as a new file"
                )
            continue
        labels = read_labels(path, name, p.stream)
        rows = []
        for i, cid in enumerate(labels.case_id):
            k = case_key(cid)
            if k not in index:
                raise StreamError(
                    f"{path}: row {labels.row[i]}, column 'case_id': case {cid!r} is not in "
                    "the stream (a label must follow its case's batch)"
                )
            j = index[k]
            if cases["label"][j] is not None:
                raise StreamError(
                    f"{path}: row {labels.row[i]}, column 'case_id': case {cid!r} was already "
                    "verified by an earlier label file; a label is never changed"
                )
            rows.append((cases["time"][j], j, int(labels.label[i])))
        state["inputs"]["labels"].append(
            {"file": name, "sha256": digest, "run": run, "n_labels": len(rows)}
        )
        for _, j, y in sorted(rows):
            cases["label"][j] = y
            cases["label_order"][j] = order
            order += 1
            newly.append(j)
        added.append(name)
        hashes[f"stream/{name}"] = digest
    return newly, added, hashes


def _close_windows(
    loaded: LoadedMonitorProtocol,
    ref: ReferenceData,
    state: dict[str, Any],
    run: int,
    as_of: pd.Timestamp,
) -> list[str]:
    """Close every window that ended by ``as_of``; compute its drift once."""
    p = loaded.protocol
    cases = state["cases"]
    if not cases["key"]:
        return []
    times = pd.to_datetime(pd.Series(cases["time"]), utc=True)
    if state["windows"]:
        start = _ts(state["windows"][-1]["end"])
    else:
        start = window_bounds(times.min(), p.windows.length)[1]
    closed: list[str] = []
    while True:
        wid, wstart, wend = window_bounds(start, p.windows.length)
        if wend > as_of:
            break
        inside = np.flatnonzero(((times >= wstart) & (times < wend)).to_numpy())
        # cases are stored in arrival order; a closed window's cases are a contiguous block only
        # when batches arrive in time order, so the window keeps its exact case indices
        window: dict[str, Any] = {
            "id": wid,
            "start": _iso(wstart),
            "end": _iso(wend),
            "closed_run": run,
            "n_cases": int(inside.size),
            "case_index": inside.tolist(),
        }
        if inside.size < p.windows.min_cases:
            window["drift"] = {}
            window["not_estimable"] = (
                f"{inside.size} case(s), fewer than windows.min_cases = {p.windows.min_cases}"
            )
        else:
            window["drift"] = _drift(loaded, ref, state, inside)
        state["windows"].append(window)
        _drift_alarms(loaded, state, run, window)
        state["closed_until"] = _iso(wend)
        closed.append(wid)
        start = wend
    return closed


def _score_mean_charts(
    loaded: LoadedMonitorProtocol, state: dict[str, Any], run: int, closed: list[str]
) -> None:
    ref = state["reference"]
    cases = state["cases"]
    for cid, chart in state["charts"].items():
        if chart["indicator"] != "score_mean":
            continue
        zs, times = [], []
        for w in state["windows"]:
            if w["id"] not in closed or w.get("not_estimable") or ref["score_sd"] in (None, 0.0):
                continue
            s = np.asarray([cases["score"][i] for i in w["case_index"]], dtype=float)
            zs.append((float(s.mean()) - ref["score_mean"]) / (ref["score_sd"] / math.sqrt(s.size)))
            times.append(w["end"])
        _advance_chart(state, cid, np.asarray(zs, dtype=float), times, run)


def _signatures(out: Path, record_sha256: str) -> list[dict[str, Any]]:
    """The folder's ``sign`` entries (21 CFR 11.50), each saying whether it signs ``record_sha256``."""
    if not (out / audit.AUDIT_FILE).exists():
        return []
    sigs = []
    for e in audit.read_entries(out):
        if e["action"] != "sign":
            continue
        d = e["details"]
        sigs.append(
            {
                "printed_name": str(d.get("printed_name")),
                "role": str(d.get("role")),
                "meaning": str(d.get("meaning")),
                "signed_at": str(d.get("signed_at") or e["timestamp"]),
                "entry": e["seq"],
                "signs_current": e["inputs"].get(MONITOR_FILE) == record_sha256,
            }
        )
    return sigs


def _render(state: dict[str, Any], out: Path, data: bytes) -> bytes:
    return render_monitor_html(state, signatures=_signatures(out, sha256_bytes(data))).encode(
        "utf-8"
    )


def render_signed(out_dir: str | Path, *, actor: str | None = None) -> Path:
    """Re-render a monitoring folder's report to show its signatures; commit it as a ``render``.

    ``radval sign`` calls this after recording a signature of ``monitor.json``.
    """
    out = Path(out_dir)
    with audit.study_lock(out, purpose="render"):
        state = load_state(out)
        if state is None:
            raise MonitorFolderError(f"{out} holds no {MONITOR_FILE}: not a monitoring folder")
        audit.require_intact(out, "render")
        data = (out / MONITOR_FILE).read_bytes()
        audit.commit_files(
            out,
            "render",
            {REPORT_FILE: _render(state, out, data)},
            inputs={MONITOR_FILE: sha256_bytes(data)},
            actor=actor,
            details={"report": REPORT_FILE},
        )
    return out / REPORT_FILE


def _prepare(protocol_path: str | Path) -> tuple[LoadedMonitorProtocol, Any]:
    loaded = load_monitor_protocol(protocol_path)
    lock_file = lock_path_for(loaded.path)
    if not lock_file.exists():
        raise ProtocolError(
            f"{loaded.path} is not locked (no {lock_file}); lock the monitoring plan "
            f"before monitoring: radval monitor lock {protocol_path}"
        )
    lock = read_monitor_lock(lock_file)
    verify_monitor_lock(loaded, lock)
    return loaded, lock


def run_monitor(
    protocol_path: str | Path,
    *,
    stream_dir: str | Path,
    out_dir: str | Path,
    as_of: str | pd.Timestamp | None = None,
    actor: str | None = None,
    echo: Callable[[str], None] | None = None,
) -> MonitorOutcome:
    """Run (or continue) monitoring: ingest new batches and labels, advance, close, alarm, commit.

    Parameters
    ----------
    protocol_path : path
        The locked monitoring protocol.
    stream_dir : path
        The stream folder with production batches and label files.
    out_dir : path
        The monitoring folder (created on the first run, continued afterwards).
    as_of : str or Timestamp, optional
        Declare that every case up to this time has been delivered, so the windows that
        end by then close (default: the latest case time seen).
    actor : str, optional
        Who runs it (default ``user@host``), for the audit log.

    Returns
    -------
    MonitorOutcome
        ``exit_code`` 0 (no open alarm) or 1 (an alarm is open).
    """
    loaded, lock = _prepare(protocol_path)
    out = Path(out_dir)
    stream = Path(stream_dir)
    when = None
    if as_of is not None:
        try:
            when = pd.Timestamp(as_of)
        except (ValueError, TypeError) as exc:
            raise InputError(
                f"--as-of: expected an ISO 8601 time, found {as_of!r} ({exc})"
            ) from None
        when = when.tz_localize("UTC") if when.tzinfo is None else when.tz_convert("UTC")
    if out.exists() and not out.is_dir():
        raise MonitorFolderError(f"{out}: expected a monitoring folder, found a file")
    with audit.study_lock(out, purpose="monitor"):
        previous = load_state(out)
        if previous is None:
            others = [q.name for q in out.iterdir() if q.name != audit.LOCK_FILE]
            if others:
                raise MonitorFolderError(
                    f"{out} is not empty and holds no {MONITOR_FILE} ({', '.join(sorted(others)[:3])}"
                    " ...); monitor into a new folder or an existing monitoring folder"
                )
        else:
            audit.require_intact(out, "monitor into")
            if previous["protocol"]["sha256"] != loaded.sha256:
                raise MonitorFolderError(
                    f"{out} was started with the monitoring protocol sha256 "
                    f"{previous['protocol']['sha256']}, not {loaded.sha256} ({loaded.path}); a "
                    "monitoring folder keeps the plan it started with: monitor into a new folder"
                )
        ref_data = read_reference(loaded)
        if previous is None:
            results = _check_results(loaded)
            state = new_state(loaded, lock.summary(), _reference_summary(loaded, ref_data), results)
            before = json.loads(json.dumps(state))
        else:
            state = json.loads(json.dumps(previous))
            before = previous
        run = len(state["runs"]) + 1
        started = now_utc()
        n_alarms = len(state["alarms"])
        n_cases_before = len(state["cases"]["key"])
        batches, batch_hashes = _ingest_batches(loaded, stream, state, run)
        new_idx = list(range(n_cases_before, len(state["cases"]["key"])))
        labelled, label_files, label_hashes = _ingest_labels(loaded, stream, state, run)
        cases = state["cases"]
        thr = loaded.protocol.reference.threshold
        # case-level charts, over their new observations only
        for cid, chart in state["charts"].items():
            ind = chart["indicator"]
            if ind == "positive_call":
                x = np.asarray([cases["score"][i] >= thr for i in new_idx], dtype=np.int8)
                _advance_chart(state, cid, x, [cases["time"][i] for i in new_idx], run)
            elif ind in LABEL_INDICATORS and labelled:
                score = np.asarray([cases["score"][i] for i in labelled], dtype=float)
                label = np.asarray([cases["label"][i] for i in labelled], dtype=np.int8)
                mask, x = _indicator(ind, score, label, thr)
                times = [cases["time"][i] for i, m in zip(labelled, mask, strict=True) if m]
                _advance_chart(state, cid, x, times, run)
        latest = max((_ts(t) for t in cases["time"]), default=None)
        stored = _ts(state["as_of"]) if state["as_of"] else None
        candidates = [t for t in (latest, when, stored) if t is not None]
        as_of_ts = max(candidates) if candidates else None
        closed = (
            _close_windows(loaded, ref_data, state, run, as_of_ts) if as_of_ts is not None else []
        )
        _score_mean_charts(loaded, state, run, closed)
        _performance(loaded, state, run)
        state["as_of"] = _iso(as_of_ts) if as_of_ts is not None else None
        new_alarms = state["alarms"][n_alarms:]
        n_verified = sum(v is not None for v in cases["label"])
        run_rec = {
            "run": run,
            "started_at": started,
            "as_of": state["as_of"],
            "batches": batches,
            "label_files": label_files,
            "n_cases_added": len(new_idx),
            "n_labels_added": len(labelled),
            "n_cases": len(cases["key"]),
            "n_verified": n_verified,
            "windows_closed": closed,
            "alarms": [a["id"] for a in new_alarms],
            "open_alarms": [a["id"] for a in open_alarms(state)],
            "radval_version": __version__,
        }
        state["runs"].append(run_rec)
        check_append_only(before, state)
        data = (json.dumps(state, indent=1, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
        files = {MONITOR_FILE: data, REPORT_FILE: _render(state, out, data)}
        if previous is None:
            files["protocol.yaml"] = loaded.path.read_bytes()
            files["protocol.lock.json"] = lock.path.read_bytes()
        inputs = {
            "protocol/" + loaded.path.name: loaded.sha256,
            "protocol/" + lock.path.name: sha256_file(lock.path),
            **batch_hashes,
            **label_hashes,
        }
        audit.commit_files(
            out,
            "monitor",
            files,
            inputs=inputs,
            actor=actor,
            details={
                "run": run,
                "as_of": state["as_of"],
                "n_cases_added": len(new_idx),
                "n_labels_added": len(labelled),
                "windows_closed": closed,
                "alarms": [a["id"] for a in new_alarms],
                "open_alarms": run_rec["open_alarms"],
            },
        )
    if echo is not None:
        echo(
            f"run {run}: {len(new_idx)} new case(s) in {len(batches)} batch(es), {len(labelled)} new "
            f"label(s); {len(closed)} window(s) closed; {len(new_alarms)} new alarm(s)"
        )
    still_open = open_alarms(state)
    return MonitorOutcome(
        out_dir=out,
        exit_code=1 if still_open else 0,
        new_alarms=new_alarms,
        open_alarms=still_open,
        run=run_rec,
        state=state,
    )


def acknowledge_alarm(
    out_dir: str | Path, alarm_id: str, *, name: str, reason: str, actor: str | None = None
) -> dict[str, Any]:
    """Record that an alarm was investigated (who, when, why), re-render, commit; return the record.

    The alarm stays in the log; an acknowledged alarm no longer makes ``monitor run`` exit 1.
    """
    out = Path(out_dir)
    if not name.strip():
        raise InputError("an acknowledgement needs the printed name of who investigated (--name)")
    if not reason.strip():
        raise InputError("an acknowledgement needs the outcome of the investigation (--reason)")
    with audit.study_lock(out, purpose="acknowledge"):
        previous = load_state(out)
        if previous is None:
            raise MonitorFolderError(f"{out} holds no {MONITOR_FILE}: not a monitoring folder")
        audit.require_intact(out, "acknowledge an alarm in")
        ids = {a["id"]: a for a in previous["alarms"]}
        if alarm_id not in ids:
            raise InputError(f"{out}: no alarm {alarm_id!r}; expected one of {sorted(ids)[:10]}")
        if ids[alarm_id]["severity"] != "alarm":
            raise InputError(
                f"{out}: {alarm_id} is a warning, not an alarm; nothing to acknowledge"
            )
        if any(a["alarm"] == alarm_id for a in previous["acknowledgements"]):
            raise InputError(f"{out}: alarm {alarm_id} is already acknowledged")
        state = json.loads(json.dumps(previous))
        rec = {
            "alarm": alarm_id,
            "printed_name": name.strip(),
            "reason": reason.strip(),
            "acknowledged_at": now_utc(),
            "after_run": len(state["runs"]),
        }
        state["acknowledgements"].append(rec)
        check_append_only(previous, state)
        data = (json.dumps(state, indent=1, sort_keys=True, allow_nan=False) + "\n").encode("utf-8")
        audit.commit_files(
            out,
            "acknowledge",
            {MONITOR_FILE: data, REPORT_FILE: _render(state, out, data)},
            actor=actor,
            details=rec,
        )
    return rec
