"""A Markdown verdict summary for CI job pages (GitHub's ``$GITHUB_STEP_SUMMARY``, GitLab, PRs).

:func:`study_summary` gives a study's verdict, a table of its primary endpoints (estimate,
interval, difference from the baseline where compared, criterion, decision), its
secondary criteria and its provenance; :func:`gate_summary` gives a release gate's
decision, the deltas of every comparison and the subgroup regressions. Both name the
report (and the CI run's page when GitHub's variables say where it is).

Every value that comes from a protocol, a manifest or a path is passed through
:func:`md_escape`, so the summary is safe to render: no raw HTML, no links or images of a
value's making (GitHub Flavored Markdown's autolinks included), no table broken by a pipe
or a newline. Only the radval-made link to the CI run is a link.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from validation.gate import decision_text
from validation.io import storage_error
from validation.outputs.checks import Check, ci_text, level_text, num, pvalue, signed

#: ASCII punctuation: CommonMark lets a backslash escape each of these.
_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")
#: Line breaks and other characters that must not reach a table cell.
_BREAKS = re.compile("[\u0000-\u001f\u007f-\u009f\u2028\u2029]+")
_GITHUB_REPO = re.compile(r"[A-Za-z0-9_.\-]+/[A-Za-z0-9_.\-]+")
_GITHUB_SERVER = re.compile(r"https://[A-Za-z0-9.\-]+(:[0-9]+)?")


def md_escape(value: Any) -> str:
    """``value`` as inert Markdown text: every ASCII punctuation character backslash-escaped.

    Escaping ``<``, ``&``, ``[``, ``]``, ``(``, ``)``, ``!``, ``|``, `````, ``*``, ``_``, ``:``,
    ``.`` and ``@`` leaves no HTML tag or entity, no link, image, autolink (``https://``,
    ``www.``, e-mail), emphasis or table-cell break: a renderer shows the characters as
    they are. Control characters and line breaks become one space.

    Examples
    --------
    >>> md_escape("<b>x</b> | [a](http://e.vil)")
    '\\\\<b\\\\>x\\\\</b\\\\> \\\\| \\\\[a\\\\]\\\\(http\\\\:\\\\/\\\\/e\\\\.vil\\\\)'
    """
    text = _BREAKS.sub(" ", str(value)).strip()
    return _PUNCT.sub(r"\\\1", text)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _decision(decision: Any) -> str:
    text = decision_text(decision)
    return text if str(decision) in ("pass", "ok") else f"**{text}**"


def ci_run_link() -> str | None:
    """A Markdown link to the GitHub Actions run (where its artifacts are), from GitHub's variables.

    Only values of the documented shapes are used (``https://host``, ``owner/repo``, a
    numeric run id); anything else gives no link.
    """
    server = os.environ.get("GITHUB_SERVER_URL", "")
    repo = os.environ.get("GITHUB_REPOSITORY", "")
    run_id = os.environ.get("GITHUB_RUN_ID", "")
    if _GITHUB_SERVER.fullmatch(server) and _GITHUB_REPO.fullmatch(repo) and run_id.isdigit():
        return f"[CI run {run_id} (artifacts)]({server}/{repo}/actions/runs/{run_id})"
    return None


def _where(report: str | Path | None) -> list[str]:
    lines = []
    if report is not None:
        lines.append(f"Report: {md_escape(report)}")
    link = ci_run_link()
    if link is not None:
        lines.append(f"Artifacts: {link}")
    return lines


def _hash(value: Any) -> str:
    text = str(value)
    return f"`{text}`" if re.fullmatch(r"[0-9a-f]{64}", text) else md_escape(text)


def _endpoint_cells(ep: Mapping[str, Any]) -> list[str]:
    comp = (ep.get("details") or {}).get("comparison")
    delta = "n/a"
    if isinstance(comp, Mapping) and comp.get("difference") is not None:
        delta = (
            f"{signed(comp.get('difference'))} ({ci_text(comp)}"
            + (f"; margin {num(comp.get('margin'))}" if comp.get("margin") else "")
            + ")"
        )
    crit = (ep.get("criterion") or {}).get("text")
    return [
        md_escape(ep.get("id")),
        num(ep.get("estimate")),
        f"{ci_text(ep)} ({level_text(ep.get('confidence_level'))})",
        delta,
        pvalue(ep.get("p_value")) if ep.get("p_value") is not None else "n/a",
        md_escape(crit) if crit else "none (informational)",
        _decision(ep.get("decision")),
    ]


def study_summary(
    doc: Mapping[str, Any],
    *,
    results_sha256: str,
    audit_head: str | None,
    report: str | Path | None = None,
    checks: Sequence[Check] = (),
) -> str:
    """The Markdown verdict summary of a study.

    Parameters
    ----------
    doc : mapping
        The ``results.json`` document.
    results_sha256, audit_head : str
        The sha256 of ``results.json`` and the study's audit head.
    report : path, optional
        Where the report is (shown as text).
    checks : sequence of Check
        The study's checks (:func:`validation.outputs.checks.study_checks`); the reasons of
        criteria that did not pass are listed.
    """
    study = doc.get("study") or {}
    verdict = doc.get("verdict") or {}
    decision = str(verdict.get("decision"))
    lines = [
        f"### radval run: {_decision(decision)}: {md_escape(study.get('title'))}",
        "",
        f"Protocol {md_escape(study.get('id'))} version {md_escape(study.get('version'))}; "
        f"multiplicity {md_escape(verdict.get('multiplicity'))}, one-sided family level "
        f"{num(verdict.get('significance_level'))}.",
        "",
    ]
    by_id = {e.get("id"): e for e in doc.get("endpoints") or []}
    header = [
        "endpoint",
        "estimate",
        "CI",
        "difference vs baseline (CI)",
        "p",
        "criterion",
        "decision",
    ]
    primary = [
        by_id[p["endpoint_id"]]
        for p in verdict.get("primary") or []
        if p.get("endpoint_id") in by_id
    ]
    lines += [
        "**Primary endpoints**",
        "",
        *_table(header, [_endpoint_cells(e) for e in primary]),
        "",
    ]
    secondary = [
        e
        for e in doc.get("endpoints") or []
        if e.get("role") == "secondary" and e.get("criterion") is not None
    ]
    if secondary:
        lines += [
            "**Secondary criteria**",
            "",
            *_table(header, [_endpoint_cells(e) for e in secondary]),
            "",
        ]
    reasons = [c for c in checks if c.outcome != "pass" and c.group != "verdict"]
    if reasons:
        lines += ["**Not passed**", ""]
        lines += [f"- {md_escape(c.message)}" for c in reasons]
        lines.append("")
    protocol = doc.get("protocol") or {}
    lines += [
        f"Protocol sha256 {_hash(protocol.get('sha256'))}"
        + ("" if protocol.get("lock") else " (**unlocked**)")
        + f"; results sha256 {_hash(results_sha256)}; "
        f"audit head {_hash(audit_head)}.",
        "",
    ]
    lines += [f"{line}  " for line in _where(report)]
    return "\n".join(lines).rstrip() + "\n"


def gate_summary(
    gate: Mapping[str, Any],
    *,
    gate_sha256: str | None = None,
    gate_audit_head: str | None = None,
    report: str | Path | None = None,
    promotion: str | None = None,
) -> str:
    """The Markdown summary of a release gate: decision, comparison deltas, subgroup regressions."""
    decision = str(gate.get("decision"))
    cand, base = gate.get("candidate") or {}, gate.get("baseline") or {}
    lines = [
        f"### radval release gate: {_decision(decision)}: {md_escape(cand.get('study'))} vs "
        f"{md_escape(base.get('study'))}",
        "",
        f"{num(gate.get('n_cases'))} paired cases; one-sided level "
        f"{num(gate.get('significance_level'))}, "
        f"intervals {level_text(gate.get('confidence_level'))} two-sided.",
        "",
    ]
    rows = []
    for c in gate.get("comparisons") or []:
        rows.append(
            [
                md_escape(c.get("id")),
                num(c.get("estimate_a")),
                num(c.get("estimate_b")),
                signed(c.get("difference")),
                ci_text(c),
                num(c.get("margin")),
                pvalue(c.get("p_value")),
                _decision(c.get("decision")),
            ]
        )
    lines += _table(
        [
            "comparison",
            "candidate",
            "baseline",
            "difference",
            "CI",
            "margin",
            "one-sided p",
            "decision",
        ],
        rows,
    )
    lines.append("")
    cells = list(gate.get("subgroups") or [])
    if cells:
        reg = [r for r in cells if r.get("status") == "regression"]
        tested = [r for r in cells if "p_value" in r]
        lines.append(
            f"Subgroups: {len(cells)} cell(s), {len(tested)} tested, {len(reg)} regression(s) "
            f"({md_escape((gate.get('subgroup_rule') or {}).get('adjustment'))}-adjusted one-sided "
            "p "
            f"<= {num(gate.get('significance_level'))})."
        )
        if reg:
            lines += [
                "",
                *_table(
                    ["subgroup", "difference", "CI", "p", "adjusted p"],
                    [
                        [
                            md_escape(f"{r.get('attribute')}={r.get('group')}"),
                            signed(r.get("difference")),
                            ci_text(r),
                            pvalue(r.get("p_value")),
                            pvalue(r.get("p_adjusted")),
                        ]
                        for r in reg
                    ],
                ),
            ]
        lines.append("")
    for w in gate.get("warnings") or []:
        lines.append(f"- warning: {md_escape(w)}")
    if gate.get("warnings"):
        lines.append("")
    prov = (
        f"Candidate results sha256 {_hash(cand.get('results_sha256'))}, audit head "
        f"{_hash(cand.get('audit_head'))}; baseline results sha256 "
        f"{_hash(base.get('results_sha256'))}"
    )
    if gate_sha256 is not None:
        prov += f"; gate record sha256 {_hash(gate_sha256)}"
    if gate_audit_head is not None:
        prov += f", audit head {_hash(gate_audit_head)}"
    lines += [prov + ".", ""]
    if promotion:
        lines += [md_escape(promotion), ""]
    lines += [f"{line}  " for line in _where(report)]
    return "\n".join(lines).rstrip() + "\n"


def append_step_summary(text: str) -> Path | None:
    """Append ``text`` to the file ``$GITHUB_STEP_SUMMARY`` names; ``None`` when it is unset.

    GitHub Actions gives each step that file and renders what was appended to it on the
    run's page; it is appended to (in one write), never replaced.
    """
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return None
    path = Path(target)
    try:
        with open(path, "a", encoding="utf-8", newline="\n") as handle:
            handle.write(text if text.endswith("\n") else text + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise storage_error(
            "append the step summary to $GITHUB_STEP_SUMMARY file", path, exc
        ) from None
    return path
