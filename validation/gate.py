"""Release gate: a candidate model against the released baseline on the same locked cases.

:func:`run_gate` reads two ``results.json`` files, refuses either unless its study
folder's audit log verifies and records it (:func:`validation.audit.require_intact`),
checks that they rest on the same test-set manifest (same sha256), reloads both scores
files (their sha256 must match what the results recorded), and tests, paired on the same
cases (R14, R24), each one-sided at level alpha (``significance_level``; default: the
candidate protocol's ``multiplicity.significance_level``, the family level ``radval run``
used):

* AUC non-inferiority with the paired DeLong test (clustered when the protocol names
  a cluster column): H1 AUC(candidate) - AUC(baseline) > -margin;
* sensitivity and specificity non-inferiority at each model's locked threshold with
  the Nam-Tango score test for paired proportions (McNemar's test when the margin
  is 0), reported with McNemar's exact test of equal proportions;
* subgroup regressions: in every subgroup cell of the candidate's protocol that meets
  its guardrails, the one-sided DeLong test of H1: AUC(candidate) - AUC(baseline) <
  -margin (the lower tail of the non-inferiority statistic z = (d + margin) / SE). Its
  p-values are adjusted across the tested cells with the candidate protocol's
  ``subgroups.multiplicity`` method (Holm by default); a cell *regresses* when its
  adjusted p-value is at most alpha. Raw and adjusted p-values are recorded.

Every interval is two-sided at ``1 - 2 alpha`` (:func:`validation.stats.hypothesis.interval_level`),
the convention of ``radval run`` (a 95% interval beside one-sided tests at 0.025), so an
interval's lower bound above ``-margin`` agrees with the non-inferiority test.

The gate passes when every overall test rejects its null and no subgroup regresses.
Identical candidate and baseline scores are warned about (the gate then compares a model
with itself). With ``out`` the decision is written to a gate folder as ``gate.json``,
committed through its own audit log, so it can be verified and signed
(``radval sign GATE_DIR``). All statistics come from :mod:`validation.stats`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import ndtr

from validation import audit
from validation.data.manifest import load_manifest
from validation.errors import InputError, UndefinedMetricError
from validation.io import sha256_file
from validation.protocol.schema import Subgroups
from validation.results import RESULTS_FILE, Results, load_results
from validation.stats.hypothesis import interval_level, mcnemar, paired_noninferiority
from validation.stats.multiplicity import adjust_pvalues
from validation.stats.roc import compare_auc
from validation.study.analyses import subgroup_frame
from validation.study.inputs import Cases, align, read_scores

GATE_SCHEMA = "radval.gate/1"
GATE_FILE = "gate.json"


@dataclass(frozen=True)
class _Side:
    """One side of the gate: its results file, the typed document and its audit head."""

    path: Path
    results: Results
    audit_head: str | None

    @property
    def results_file(self) -> Path:
        return self.path if self.path.is_file() else self.path / RESULTS_FILE

    def scores(self) -> Path:
        """The model's scores file the study read, checked against the recorded sha256."""
        ref = self.results.inputs.scores
        if ref is None:
            raise InputError(f"{self.path}: results have no scores input")
        path = Path(ref.path)
        if not path.is_file():
            raise InputError(
                f"{self.path}: scores file {path} recorded in the results no longer exists"
            )
        actual = sha256_file(path)
        if actual != ref.sha256:
            raise InputError(
                f"{self.path}: scores file {path} has sha256 {actual}, the results recorded "
                f"{ref.sha256}"
            )
        return path

    def columns(self) -> dict[str, str] | None:
        """The ``model.columns`` mapping the study read its declared scores file with."""
        model = self.results.protocol.resolved.get("model") or {}
        ref = self.results.inputs.scores
        cols = model.get("columns") if ref is not None and ref.declared else None
        return dict(cols) if isinstance(cols, dict) else None

    @property
    def threshold(self) -> float | None:
        return self.results.model.threshold if self.results.model is not None else None

    def record(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "study": self.results.study.id,
            "results_sha256": sha256_file(self.results_file),
            "audit_head": self.audit_head,
        }


def _side(path: Path, tag: str) -> _Side:
    folder = path if path.is_dir() else path.parent
    head = audit.require_intact(folder, f"gate the {tag}").head_hash
    return _Side(path, load_results(path), head)


def _cases(side: _Side, base: _Side) -> Cases:
    """The candidate's analysis set with both models' scores, aligned by case id."""
    ref = side.results.inputs.manifest
    path = Path(ref.path)
    if not path.is_file():
        raise InputError(f"{side.path}: manifest {path} recorded in the results no longer exists")
    if sha256_file(path) != ref.sha256:
        raise InputError(
            f"{side.path}: manifest {path} changed since the study ran (sha256 differs)"
        )
    ts = side.results.protocol.resolved["test_set"]
    frame = load_manifest(path, label_columns=[ts["label_column"]]).frame.reset_index(drop=True)
    c_scores, b_scores = side.scores(), base.scores()
    return align(
        frame,
        ts["label_column"],
        ts.get("cluster_column"),
        read_scores(c_scores, columns=side.columns()),
        scores_path=c_scores,
        missing=ts.get("missing_outputs", "error"),
        baseline=read_scores(b_scores, columns=base.columns()),
        baseline_path=b_scores,
    )


def _level(cand: _Side, significance_level: float | None) -> tuple[float, str]:
    """The gate's one-sided level and where it came from."""
    if significance_level is not None:
        return significance_level, "--significance-level"
    level = float(cand.results.protocol.resolved["multiplicity"]["significance_level"])
    if not 0.0 < level < 0.5:
        raise InputError(
            f"{cand.path}: multiplicity.significance_level is {level}; a one-sided gate needs "
            "a level in (0, 0.5): pass --significance-level"
        )
    return level, "the candidate protocol's multiplicity.significance_level"


def _comparison(cid: str, comp: Any, alpha: float, **extra: Any) -> dict[str, Any]:
    d = comp.to_dict()
    passed = d["p_value"] is not None and d["p_value"] <= alpha
    keys = (
        "difference",
        "ci_low",
        "ci_high",
        "statistic",
        "df",
        "p_value",
        "margin",
        "alternative",
        "method",
        "confidence_level",
        "estimate_a",
        "estimate_b",
        "n",
    )
    return {
        "id": cid,
        "kind": "non-inferiority",
        **{k: d[k] for k in keys},
        "decision": "pass" if passed else "fail",
        **extra,
    }


def _paired_comparisons(
    cases: Cases,
    cand: _Side,
    base: _Side,
    *,
    margin: float,
    proportion_margin: float,
    alpha: float,
    warnings: list[str],
) -> list[dict[str, Any]]:
    """AUC, and sensitivity and specificity at each model's locked threshold, paired."""
    y = cases.y_true.astype(np.int8)
    a, b = _both_scores(cases)
    level = interval_level(alpha)
    auc = compare_auc(
        y,
        a,
        b,
        method="delong",
        alternative="greater",
        margin=margin,
        clusters=cases.clusters,
        confidence_level=level,
    )
    out = [_comparison("auc", auc, alpha)]
    c_thr, b_thr = cand.threshold, base.threshold
    if c_thr is None or b_thr is None:
        warnings.append("sensitivity/specificity not compared: a model has no locked threshold")
        return out
    pa, pb = (a >= c_thr).astype(np.int8), (b >= b_thr).astype(np.int8)
    for name, mask in (("sensitivity", y == 1), ("specificity", y == 0)):
        if not mask.any():
            kind = "positive" if name == "sensitivity" else "negative"
            warnings.append(f"{name} not compared: no {kind} cases")
            continue
        ca = (pa[mask] == y[mask]).astype(np.int8)
        cb = (pb[mask] == y[mask]).astype(np.int8)
        comp = paired_noninferiority(
            ca, cb, margin=proportion_margin, alternative="greater", confidence_level=level
        )
        mc = mcnemar(ca, cb, method="exact")
        out.append(
            _comparison(
                name,
                comp,
                alpha,
                thresholds={"candidate": c_thr, "baseline": b_thr},
                mcnemar=mc.to_dict(),
            )
        )
    return out


def _both_scores(cases: Cases) -> tuple[np.ndarray, np.ndarray]:
    if cases.score is None or cases.baseline is None:
        raise RuntimeError("the gate's cases lack the candidate's or the baseline's scores")
    return cases.score, cases.baseline


def _subgroup_cell(
    cases: Cases,
    m: np.ndarray,
    attr: str,
    value: str,
    sg: Subgroups,
    *,
    margin: float,
    level: float,
) -> dict[str, Any]:
    """One subgroup cell's non-inferiority test of the AUC (H1: lower by more than margin)."""
    y = cases.y_true.astype(np.int8)
    a, b = _both_scores(cases)
    n_pos, n_neg = int(y[m].sum()), int((1 - y[m]).sum())
    row: dict[str, Any] = {
        "attribute": attr,
        "group": value,
        "n": int(m.sum()),
        "n_pos": n_pos,
        "n_neg": n_neg,
    }
    g = sg.guardrails
    if m.sum() < g.min_n or n_pos < max(g.min_positives, 1) or n_neg < max(g.min_negatives, 1):
        row.update(status="insufficient", reason="below the protocol's guardrails")
        return row
    try:
        comp = compare_auc(
            y[m],
            a[m],
            b[m],
            method="delong",
            alternative="greater",
            margin=margin,
            confidence_level=level,
            clusters=None if cases.clusters is None else cases.clusters[m],
        )
    except UndefinedMetricError as exc:
        row.update(status="not_estimable", reason=str(exc))
        return row
    d = comp.to_dict()
    # H1: d < -margin is the lower tail of the non-inferiority statistic (d + margin) / SE
    row.update(
        difference=d["difference"],
        ci_low=d["ci_low"],
        ci_high=d["ci_high"],
        confidence_level=level,
        statistic=d["statistic"],
        p_value=float(ndtr(comp.statistic)),
        estimate_a=d["estimate_a"],
        estimate_b=d["estimate_b"],
        method=d["method"],
    )
    return row


def _subgroup_regressions(
    cases: Cases, sg: Subgroups, *, margin: float, alpha: float
) -> list[dict[str, Any]]:
    """Every subgroup cell's regression test, adjusted by the protocol's multiplicity rule."""
    groups = subgroup_frame(cases.frame, sg)
    rows = [
        _subgroup_cell(
            cases,
            (groups[attr] == value).to_numpy(),
            attr,
            value,
            sg,
            margin=margin,
            level=interval_level(alpha),
        )
        for attr in groups.columns
        for value in sorted(groups[attr].unique())
    ]
    tested = [r for r in rows if "p_value" in r]
    if not tested:
        return rows
    raw = np.array([r["p_value"] for r in tested])
    adjusted = raw if sg.multiplicity == "none" else adjust_pvalues(raw, method=sg.multiplicity)
    for r, p_adj in zip(tested, adjusted, strict=True):
        regressed = bool(p_adj <= alpha)
        reason = (
            f"AUC lower than baseline by more than {margin:g} (one-sided p {r['p_value']:.3g}, "
            f"{sg.multiplicity}-adjusted {p_adj:.3g} <= {alpha:g})"
            if regressed
            else ""
        )
        r.update(p_adjusted=float(p_adj), status="regression" if regressed else "ok", reason=reason)
    return rows


def run_gate(
    candidate: str | Path,
    baseline: str | Path,
    *,
    margin: float = 0.02,
    proportion_margin: float = 0.05,
    significance_level: float | None = None,
    subgroups: bool = True,
    out: str | Path | None = None,
    force: bool = False,
    actor: str | None = None,
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
    significance_level : float, optional
        One-sided level alpha of every test; intervals are two-sided at ``1 - 2 alpha``.
        Default: the candidate protocol's ``multiplicity.significance_level``.
    subgroups : bool
        Test subgroup regressions (cells from the candidate's protocol).
    out : path, optional
        A gate folder: ``gate.json`` is committed there through its audit log (one
        ``gate`` entry naming both results' sha256), ready for ``radval sign``.
    force : bool
        Gate again into a folder that already holds a decision (the log keeps both).
    actor : str, optional
        Who runs the gate, for the audit trail (default ``user@host``).

    Returns
    -------
    dict
        ``{schema, decision, candidate, baseline, margin, proportion_margin,
        significance_level, confidence_level, subgroup_rule, comparisons: [...],
        subgroups: [...], warnings}``.

    Raises
    ------
    InputError
        Results that do not validate, whose study folder's audit log does not verify or
        holds an interrupted write, rest on different manifests, or whose scores changed;
        an ``out`` folder that holds something else.

    Example
    -------
    >>> run_gate("studies/v2/results.json", "studies/v1/results.json", margin=0.02)  # doctest: +SKIP
    """
    if significance_level is not None and not 0.0 < significance_level < 0.5:
        raise InputError(f"--significance-level must be in (0, 0.5), got {significance_level}")
    if not (margin >= 0 and proportion_margin >= 0):
        raise InputError("margins must be >= 0")
    if out is not None:
        _check_gate_folder(Path(out), force=force)
    cand = _side(Path(candidate), "candidate")
    base = _side(Path(baseline), "baseline")
    alpha, level_source = _level(cand, significance_level)
    cm, bm = cand.results.inputs.manifest.sha256, base.results.inputs.manifest.sha256
    if cm != bm:
        raise InputError(
            f"{cand.path} and {base.path} were run on different test sets (manifest sha256 {cm} "
            f"vs {bm}); a release gate compares models on the same locked cases"
        )
    warnings = [
        f"{s.path} was run from an unlocked protocol"
        for s in (cand, base)
        if s.results.protocol.lock is None
    ]
    cases = _cases(cand, base)
    if cases.failures:
        warnings.append(
            f"{len(cases.failures)} missing model output(s) scored worst-case, as the protocol says"
        )
    a, b = _both_scores(cases)
    if np.array_equal(a, b):
        warnings.append(
            f"the candidate and baseline scores are identical on all {len(a)} cases: the gate "
            "compares a model with itself (every difference is 0 and the paired tests have no "
            "variance)"
        )
    comparisons = _paired_comparisons(
        cases,
        cand,
        base,
        margin=margin,
        proportion_margin=proportion_margin,
        alpha=alpha,
        warnings=warnings,
    )
    sg_raw = cand.results.protocol.resolved.get("subgroups")
    sg = Subgroups.model_validate(sg_raw) if subgroups and sg_raw else None
    sub_rows = _subgroup_regressions(cases, sg, margin=margin, alpha=alpha) if sg else []
    ok = all(c["decision"] == "pass" for c in comparisons) and not any(
        r["status"] == "regression" for r in sub_rows
    )
    result = {
        "schema": GATE_SCHEMA,
        "decision": "pass" if ok else "fail",
        "candidate": cand.record(),
        "baseline": base.record(),
        "manifest_sha256": cm,
        "n_cases": int(len(cases.y_true)),
        "margin": margin,
        "proportion_margin": proportion_margin,
        "significance_level": alpha,
        "significance_level_source": level_source,
        "confidence_level": interval_level(alpha),
        "subgroup_rule": {
            "test": "one-sided paired DeLong test of H1: AUC(candidate) - AUC(baseline) < "
            "-margin per cell",
            "margin": margin,
            "adjustment": sg.multiplicity if sg is not None else None,
            "significance_level": alpha,
            "regression_when": "adjusted p-value <= significance_level",
        },
        "comparisons": comparisons,
        "subgroups": sub_rows,
        "warnings": warnings,
    }
    if out is not None:
        entry = _commit_gate(Path(out), result, force=force, actor=actor)
        result["audit_entry"] = {"folder": str(out), "seq": entry["seq"], "hash": entry["hash"]}
    return result


def decision_text(decision: str) -> str:
    """A decision as the gate and the CLI print it: ``PASS``, ``FAIL``, ``NOT TESTED`` ..."""
    return str(decision).replace("_", " ").upper()


def _check_gate_folder(folder: Path, *, force: bool) -> None:
    """Refuse an ``--out`` that is not (or cannot become) a gate folder, before anything is computed."""
    if folder.exists() and not folder.is_dir():
        raise InputError(
            f"--out {folder} exists and is not a folder (the gate writes {GATE_FILE} and its audit log "
            "into a folder of its own)"
        )
    if not folder.exists():
        if folder.suffix.lower() == ".json":
            raise InputError(
                f"--out {folder} looks like a file name; --out names a folder for the gate record "
                f"({GATE_FILE} and its audit log)"
            )
        return
    if (folder / "results.json").exists():
        raise InputError(
            f"--out {folder} is a study folder; write the gate record to a folder of its own"
        )
    if (folder / GATE_FILE).exists() and not force:
        raise InputError(
            f"{folder} already holds a gate decision ({GATE_FILE}); pass --force to gate again into it "
            "(the audit log keeps both)"
        )
    others = sorted(
        p.name
        for p in folder.iterdir()
        if p.name not in (audit.LOCK_FILE, audit.AUDIT_FILE, audit.HEAD_FILE, GATE_FILE)
    )
    if (folder / audit.AUDIT_FILE).exists():
        audit.require_intact(folder, "gate into")
    elif others and not force:
        raise InputError(
            f"--out {folder} is not empty and is not a gate folder (found {others[0]})"
        )


def _commit_gate(
    folder: Path, result: dict[str, Any], *, force: bool, actor: str | None
) -> dict[str, Any]:
    """Commit ``gate.json`` into a gate folder through its audit log."""
    _check_gate_folder(folder, force=force)
    with audit.study_lock(folder, purpose="gate"):
        _check_gate_folder(folder, force=force)  # again, now that no other writer can interfere
        text = json.dumps(result, indent=2, sort_keys=True, allow_nan=False) + "\n"
        return audit.commit_files(
            folder,
            "gate",
            {GATE_FILE: text.encode("utf-8")},
            inputs={
                "candidate_results": result["candidate"]["results_sha256"],
                "baseline_results": result["baseline"]["results_sha256"],
            },
            details={
                "decision": result["decision"],
                "candidate": result["candidate"]["path"],
                "baseline": result["baseline"]["path"],
                "candidate_audit_head": result["candidate"]["audit_head"],
                "baseline_audit_head": result["baseline"]["audit_head"],
                "margin": result["margin"],
                "proportion_margin": result["proportion_margin"],
                "significance_level": result["significance_level"],
                "forced": bool(force),
            },
            actor=actor,
        )


def format_gate(result: dict[str, Any]) -> str:
    """A short text table of a gate result."""
    lines = [
        f"release gate: {decision_text(result['decision'])} ({result['n_cases']} paired cases)"
    ]
    for c in result["comparisons"]:
        lines.append(
            f"  {c['id']:<12} diff {c['difference']:+.4f}  lower bound {c['ci_low']:+.4f}  "
            f"margin {c['margin']:+.4f}  p {c['p_value']:.4g}  {decision_text(c['decision'])}"
        )
    reg = [r for r in result["subgroups"] if r["status"] == "regression"]
    for r in reg:
        lines.append(
            f"  subgroup regression: {r['attribute']}={r['group']} diff {r['difference']:+.4f}  "
            f"p {r['p_value']:.4g}  adjusted p {r['p_adjusted']:.4g}"
        )
    if result["subgroups"]:
        rule = result.get("subgroup_rule") or {}
        lines.append(
            f"  subgroups checked: {len(result['subgroups'])}, regressions: {len(reg)} "
            f"(one-sided p, {rule.get('adjustment')}-adjusted, <= {result['significance_level']:g})"
        )
    lines.append(
        f"  one-sided level {result['significance_level']:g}, intervals "
        f"{result['confidence_level']:.0%} two-sided"
    )
    for w in result["warnings"]:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)
