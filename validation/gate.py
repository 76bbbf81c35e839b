"""Release gate: a candidate model against the released baseline on the same locked cases.

:func:`run_gate` reads two ``results.json`` files, checks that they rest on the same
test-set manifest (same sha256), reloads both scores files (their sha256 must match
what the results recorded), and tests, paired on the same cases (R14, R24):

* AUC non-inferiority with the paired DeLong test (clustered when the protocol names
  a cluster column): H1 AUC(candidate) - AUC(baseline) > -margin;
* sensitivity and specificity non-inferiority at each model's locked threshold with
  the Nam-Tango score test for paired proportions (McNemar's test when the margin
  is 0), reported with McNemar's exact test of equal proportions;
* subgroup regressions: in every subgroup cell of the candidate's protocol that
  meets the guardrails, the paired DeLong interval of AUC(candidate) - AUC(baseline)
  at level 1 - 2 alpha; an upper bound below -margin (a one-sided test at alpha of
  H1: the candidate is worse by more than the margin) fails the gate.

The gate passes when every overall test rejects its null and no subgroup regresses.
All statistics come from :mod:`validation.stats`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.errors import InputError, UndefinedMetricError
from validation.io import sha256_file, write_text_atomic

GATE_SCHEMA = "radval.gate/1"


def _scores_for(doc: dict[str, Any], key: str, where: Path) -> Path:
    ref = doc["inputs"].get(key)
    if ref is None:
        raise InputError(f"{where}: results have no {key} input")
    path = Path(ref["path"])
    if not path.is_file():
        raise InputError(f"{where}: scores file {path} recorded in the results no longer exists")
    actual = sha256_file(path)
    if actual != ref["sha256"]:
        raise InputError(
            f"{where}: scores file {path} has sha256 {actual}, the results recorded {ref['sha256']}"
        )
    return path


def _columns(doc: dict[str, Any]) -> dict[str, str] | None:
    """The ``model.columns`` mapping a study read its declared scores file with (None if none)."""
    model = doc["protocol"]["resolved"].get("model") or {}
    declared = (doc["inputs"].get("scores") or {}).get("declared")
    cols = model.get("columns") if declared else None
    return dict(cols) if isinstance(cols, dict) else None


def _cases(doc: dict[str, Any], where: Path) -> tuple[pd.DataFrame, str, str | None]:
    from validation.data.manifest import load_manifest

    ref = doc["inputs"]["manifest"]
    path = Path(ref["path"])
    if not path.is_file():
        raise InputError(f"{where}: manifest {path} recorded in the results no longer exists")
    if sha256_file(path) != ref["sha256"]:
        raise InputError(f"{where}: manifest {path} changed since the study ran (sha256 differs)")
    ts = doc["protocol"]["resolved"]["test_set"]
    frame = load_manifest(path, label_columns=[ts["label_column"]]).frame.reset_index(drop=True)
    return frame, ts["label_column"], ts.get("cluster_column")


def run_gate(
    candidate: str | Path,
    baseline: str | Path,
    *,
    margin: float = 0.02,
    proportion_margin: float = 0.05,
    significance_level: float = 0.025,
    subgroups: bool = True,
    out: str | Path | None = None,
) -> dict[str, Any]:
    """Compare a candidate's results with a baseline's on the same locked cases.

    Parameters
    ----------
    candidate, baseline : path
        ``results.json`` files (or their study folders).
    margin : float
        Non-inferiority margin on the AUC.
    proportion_margin : float
        Non-inferiority margin on sensitivity and specificity.
    significance_level : float
        One-sided level of every test.
    subgroups : bool
        Test subgroup regressions (cells from the candidate's protocol).
    out : path, optional
        Write the gate record as JSON (atomically).

    Returns
    -------
    dict
        ``{schema, decision, candidate, baseline, margin, proportion_margin,
        significance_level, comparisons: [...], subgroups: [...]}``.

    Raises
    ------
    InputError
        Results that do not validate, rest on different manifests, or whose scores changed.

    Example
    -------
    >>> run_gate("studies/v2/results.json", "studies/v1/results.json", margin=0.02)  # doctest: +SKIP
    """
    from validation._study_analyses import subgroup_frame
    from validation._study_inputs import align, read_scores
    from validation.protocol.schema import Subgroups
    from validation.stats.hypothesis import mcnemar, paired_noninferiority
    from validation.stats.roc import compare_auc
    from validation.study import load_results

    if not 0.0 < significance_level < 0.5:
        raise InputError(f"--significance-level must be in (0, 0.5), got {significance_level}")
    if margin < 0 or proportion_margin < 0:
        raise InputError("margins must be >= 0")
    cand_path, base_path = Path(candidate), Path(baseline)
    cand, base = load_results(cand_path), load_results(base_path)
    cm, bm = cand["inputs"]["manifest"]["sha256"], base["inputs"]["manifest"]["sha256"]
    if cm != bm:
        raise InputError(
            f"{cand_path} and {base_path} were run on different test sets (manifest sha256 {cm} vs {bm}); "
            "a release gate compares models on the same locked cases"
        )
    warnings = [f"{p} was run from an unlocked protocol" for p, d in ((cand_path, cand), (base_path, base))
                if d["protocol"]["lock"] is None]
    frame, label, cluster_col = _cases(cand, cand_path)
    c_scores = _scores_for(cand, "scores", cand_path)
    b_scores = _scores_for(base, "scores", base_path)
    cases = align(frame, label, cluster_col, read_scores(c_scores, columns=_columns(cand)), scores_path=c_scores,
                  missing=cand["protocol"]["resolved"]["test_set"].get("missing_outputs", "error"),
                  baseline=read_scores(b_scores, columns=_columns(base)), baseline_path=b_scores)
    if cases.failures:
        warnings.append(f"{len(cases.failures)} missing model output(s) scored worst-case, as the protocol says")
    y = cases.y_true.astype(np.int8)
    a, b = cases.score, cases.baseline
    assert a is not None and b is not None
    level = 1.0 - significance_level
    comparisons: list[dict[str, Any]] = []

    def record(cid: str, comp: Any, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        d = comp.to_dict()
        passed = d["p_value"] is not None and d["p_value"] <= significance_level
        rec = {"id": cid, "kind": "non-inferiority", "difference": d["difference"],
               "ci_low": d["ci_low"], "ci_high": d["ci_high"], "statistic": d["statistic"],
               "df": d["df"], "p_value": d["p_value"], "margin": d["margin"],
               "alternative": d["alternative"], "method": d["method"],
               "confidence_level": d["confidence_level"], "estimate_a": d["estimate_a"],
               "estimate_b": d["estimate_b"], "n": d["n"],
               "decision": "pass" if passed else "fail", **(extra or {})}
        comparisons.append(rec)
        return rec

    auc = compare_auc(y, a, b, method="delong", alternative="greater", margin=margin,
                      clusters=cases.clusters, confidence_level=1.0 - 2.0 * significance_level)
    record("auc", auc)
    c_thr, b_thr = cand["model"]["threshold"] if cand["model"] else None, (
        base["model"]["threshold"] if base["model"] else None)
    if c_thr is not None and b_thr is not None:
        pa, pb = (a >= c_thr).astype(np.int8), (b >= b_thr).astype(np.int8)
        for name, mask in (("sensitivity", y == 1), ("specificity", y == 0)):
            if not mask.any():
                warnings.append(f"{name} not compared: no {'positive' if name == 'sensitivity' else 'negative'} cases")
                continue
            ca = (pa[mask] == y[mask]).astype(np.int8)
            cb = (pb[mask] == y[mask]).astype(np.int8)
            comp = paired_noninferiority(ca, cb, margin=proportion_margin, alternative="greater",
                                         confidence_level=level)
            mc = mcnemar(ca, cb, method="exact")
            record(name, comp, {"thresholds": {"candidate": c_thr, "baseline": b_thr},
                                "mcnemar": mc.to_dict()})
    else:
        warnings.append("sensitivity/specificity not compared: a model has no locked threshold")

    sub_rows: list[dict[str, Any]] = []
    sg_raw = cand["protocol"]["resolved"].get("subgroups")
    if subgroups and sg_raw:
        sg = Subgroups.model_validate(sg_raw)
        groups = subgroup_frame(cases.frame, sg)
        g = sg.guardrails
        for attr in groups.columns:
            for value in sorted(groups[attr].unique()):
                m = (groups[attr] == value).to_numpy()
                n_pos, n_neg = int(y[m].sum()), int((1 - y[m]).sum())
                row: dict[str, Any] = {"attribute": attr, "group": value, "n": int(m.sum()),
                                       "n_pos": n_pos, "n_neg": n_neg}
                if m.sum() < g.min_n or n_pos < max(g.min_positives, 1) or n_neg < max(g.min_negatives, 1):
                    row.update(status="insufficient", reason="below the protocol's guardrails")
                    sub_rows.append(row)
                    continue
                try:
                    comp = compare_auc(y[m], a[m], b[m], method="delong", alternative="two-sided",
                                       confidence_level=1.0 - 2.0 * significance_level,
                                       clusters=None if cases.clusters is None else cases.clusters[m])
                except UndefinedMetricError as exc:
                    row.update(status="not_estimable", reason=str(exc))
                    sub_rows.append(row)
                    continue
                d = comp.to_dict()
                # one-sided test at significance_level of H1: d < -margin, read off the
                # two-sided (1 - 2 alpha) interval's upper bound
                regressed = d["ci_high"] is not None and d["ci_high"] < -margin
                row.update(difference=d["difference"], ci_low=d["ci_low"], ci_high=d["ci_high"],
                           p_value=d["p_value"], estimate_a=d["estimate_a"], estimate_b=d["estimate_b"],
                           status="regression" if regressed else "ok",
                           reason=(f"AUC significantly lower than baseline by more than {margin:g}"
                                   if regressed else ""))
                sub_rows.append(row)
    ok = all(c["decision"] == "pass" for c in comparisons) and not any(
        r["status"] == "regression" for r in sub_rows)
    result = {
        "schema": GATE_SCHEMA,
        "decision": "pass" if ok else "fail",
        "candidate": {"path": str(cand_path), "study": cand["study"]["id"],
                      "results_sha256": sha256_file(cand_path if cand_path.is_file() else cand_path / "results.json")},
        "baseline": {"path": str(base_path), "study": base["study"]["id"],
                     "results_sha256": sha256_file(base_path if base_path.is_file() else base_path / "results.json")},
        "manifest_sha256": cm,
        "n_cases": int(len(y)),
        "margin": margin,
        "proportion_margin": proportion_margin,
        "significance_level": significance_level,
        "comparisons": comparisons,
        "subgroups": sub_rows,
        "warnings": warnings,
    }
    if out is not None:
        write_text_atomic(out, json.dumps(result, indent=2, sort_keys=True, allow_nan=False) + "\n")
    return result


def decision_text(decision: str) -> str:
    """A decision as the gate and the CLI print it: ``PASS``, ``FAIL``, ``NOT TESTED`` ..."""
    return str(decision).replace("_", " ").upper()


def format_gate(result: dict[str, Any]) -> str:
    """A short text table of a gate result."""
    lines = [f"release gate: {decision_text(result['decision'])} ({result['n_cases']} paired cases)"]
    for c in result["comparisons"]:
        lines.append(
            f"  {c['id']:<12} diff {c['difference']:+.4f}  lower bound {c['ci_low']:+.4f}  "
            f"margin {c['margin']:+.4f}  p {c['p_value']:.4g}  {decision_text(c['decision'])}"
        )
    reg = [r for r in result["subgroups"] if r["status"] == "regression"]
    for r in reg:
        lines.append(f"  subgroup regression: {r['attribute']}={r['group']} diff {r['difference']:+.4f}")
    if result["subgroups"]:
        lines.append(f"  subgroups checked: {len(result['subgroups'])}, regressions: {len(reg)}")
    for w in result["warnings"]:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)
