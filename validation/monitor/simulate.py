"""Simulated production for post-market monitoring: the demo and the simulation tests.

No model is trained: scores come from a binormal score model per scanner calibrated to
the demo's synthetic test set (``validation.data.synthetic``: three sites, the Kestrel and
Corvid detectors easy, the Borealis CR reader hard; prevalence 0.3). A case with label
``y`` on scanner ``s`` gets a latent ``z ~ N(y * separation_s + offset_s * y, 1)`` and the
score ``1 / (1 + exp(-slope (z - centre)))``; the within-scanner AUC is
``Phi(separation / sqrt(2))`` in control.

:func:`write_monitoring_demo` writes a reference (the locked test set's scores and
manifest), a stream folder of weekly batches and monthly label files (a random share of
cases verified, delivered one month late), and a locked monitoring protocol; in the month
:data:`CHANGE_MONTH` a new scanner model (``Orion Imaging OX-9 DR``) takes over most of the
work at two sites, and on it the device misses more positive cases. :func:`run_monitoring_demo`
then runs ``radval monitor run`` once per simulated month (incremental runs) and shows the
alarm.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.errors import InputError
from validation.io import write_text_atomic
from validation.monitor.lock import lock_monitor_protocol
from validation.monitor.runner import run_monitor
from validation.tables import write_csv

PREVALENCE = 0.3
SLOPE = 1.6
CENTRE = 1.2
THRESHOLD = 0.4
CHANGE_MONTH = 4
MONTHS = 6
START = "2026-01-01"
CASES_PER_MONTH = 800
REFERENCE_CASES = 1000
LABEL_FRACTION = 0.4


@dataclass(frozen=True)
class ScannerModel:
    """A scanner and how the device's latent score separates diseased cases on it."""

    manufacturer: str
    model: str
    separation: float
    positive_offset: float = 0.0


SCANNERS: dict[str, ScannerModel] = {
    "kestrel": ScannerModel("Kestrel Medical", "KX-700 DR", 2.9),
    "corvid": ScannerModel("Corvid Diagnostics", "CD-3 Flex", 2.66),
    "borealis": ScannerModel("Borealis Imaging", "BX-20 CR", 1.04),
    # the scanner installed in month four: its images shift the device's scores of diseased
    # cases down (missed nodules), a change the locked test set never saw
    "orion": ScannerModel("Orion Imaging", "OX-9 DR", 2.9, positive_offset=-2.4),
}

#: site -> (share of cases, scanner mix) before the change (as the synthetic test set)
SITES_BEFORE: dict[str, tuple[float, dict[str, float]]] = {
    "Site A": (0.40, {"kestrel": 0.75, "corvid": 0.25}),
    "Site B": (0.35, {"corvid": 0.50, "borealis": 0.50}),
    "Site C": (0.25, {"borealis": 0.75, "kestrel": 0.25}),
}
#: after the change: sites A and C replace most of their detectors with the new model
SITES_AFTER: dict[str, tuple[float, dict[str, float]]] = {
    "Site A": (0.40, {"orion": 0.80, "corvid": 0.20}),
    "Site B": (0.35, {"corvid": 0.50, "borealis": 0.50}),
    "Site C": (0.25, {"orion": 0.75, "kestrel": 0.25}),
}


def _scanner_shares(sites: dict[str, tuple[float, dict[str, float]]]) -> dict[str, float]:
    total = sum(v[0] for v in sites.values())
    out: dict[str, float] = {}
    for share, mix in sites.values():
        mix_total = sum(mix.values())
        for name, p in mix.items():
            out[name] = out.get(name, 0.0) + share / total * p / mix_total
    return out


def true_rates(
    sites: dict[str, tuple[float, dict[str, float]]] | None = None,
    *,
    threshold: float = THRESHOLD,
    prevalence: float = PREVALENCE,
) -> dict[str, float]:
    """Exact miss, false-positive and positive-call rates of the score model at ``threshold``.

    ``score >= t`` exactly when ``z >= CENTRE + logit(t) / SLOPE``; ``z`` is normal per scanner.
    """
    from scipy.special import logit, ndtr

    cut = CENTRE + float(logit(threshold)) / SLOPE
    shares = _scanner_shares(SITES_BEFORE if sites is None else sites)
    miss = sum(
        w * float(ndtr(cut - SCANNERS[k].separation - SCANNERS[k].positive_offset))
        for k, w in shares.items()
    )
    fp = float(1.0 - ndtr(cut))
    return {
        "false_negative": miss,
        "false_positive": fp,
        "positive_call": prevalence * (1.0 - miss) + (1.0 - prevalence) * fp,
        "error": prevalence * miss + (1.0 - prevalence) * fp,
    }


def simulate_cases(
    n: int,
    *,
    rng: np.random.Generator,
    sites: dict[str, tuple[float, dict[str, float]]] | None = None,
    prevalence: float = PREVALENCE,
) -> pd.DataFrame:
    """``n`` cases: ``label``, ``score``, ``site``, ``manufacturer``, ``manufacturer_model``."""
    sites = SITES_BEFORE if sites is None else sites
    names = list(sites)
    site_p = np.array([sites[s][0] for s in names])
    site = rng.choice(len(names), size=n, p=site_p / site_p.sum())
    label = (rng.random(n) < prevalence).astype(np.int8)
    keys = list(SCANNERS)
    scanner = np.empty(n, dtype=np.int64)
    for j, name in enumerate(names):
        mix = sites[name][1]
        p = np.array([mix.get(k, 0.0) for k in keys])
        here = site == j
        scanner[here] = rng.choice(len(keys), size=int(here.sum()), p=p / p.sum())
    sep = np.array([SCANNERS[k].separation + SCANNERS[k].positive_offset for k in keys])
    z = rng.normal(size=n) + label * sep[scanner]
    score = 1.0 / (1.0 + np.exp(-SLOPE * (z - CENTRE)))
    return pd.DataFrame(
        {
            "label": label,
            "score": np.round(score, 6),
            "site": [names[s] for s in site],
            "manufacturer": [SCANNERS[keys[k]].manufacturer for k in scanner],
            "manufacturer_model": [SCANNERS[keys[k]].model for k in scanner],
        }
    )


def simulate_month(
    month: int,
    n: int,
    *,
    rng: np.random.Generator,
    start: str = START,
    change_month: int | None = CHANGE_MONTH,
) -> pd.DataFrame:
    """One month of production (``month`` 1-based), with case ids and UTC times."""
    first = pd.Timestamp(start, tz="UTC") + pd.DateOffset(months=month - 1)
    last = first + pd.DateOffset(months=1)
    after = change_month is not None and month >= change_month
    frame = simulate_cases(n, rng=rng, sites=SITES_AFTER if after else SITES_BEFORE)
    seconds = np.sort(rng.uniform(0, (last - first).total_seconds(), n))
    frame.insert(
        0,
        "time",
        [(first + pd.Timedelta(seconds=float(s))).strftime("%Y-%m-%dT%H:%M:%SZ") for s in seconds],
    )
    frame.insert(0, "case_id", [f"ACC{month:02d}{i:05d}" for i in range(n)])
    return frame


def monitoring_protocol_text(*, threshold: float = THRESHOLD) -> str:
    """The demo's monitoring protocol (YAML)."""
    return f"""# radval monitoring protocol: post-market surveillance plan of the demo triage device
version: 1
monitor:
  id: demo-triage-pms
  title: Post-market monitoring of the demo chest X-ray triage device
  version: "1.0"
  device: demo-densenet 1.0 (simulated production scores)
  intended_use: Triage of adult chest radiographs for suspected pulmonary nodules.
reference:
  scores: reference/scores.csv
  manifest: reference/manifest.csv
  label_column: label
  threshold: {threshold}
stream:
  batches: batches/*.csv
  labels: labels/*.csv
  columns: {{case_id: accession, time: acquired_at, score: ai_score}}
  attributes: [site, manufacturer, manufacturer_model]
windows:
  length: month
  min_cases: 50
charts:
  - id: miss_cusum
    indicator: false_negative
    kind: cusum
    p0: reference
    p1: 0.35
    arl0: 1000
  - id: fp_ewma
    indicator: false_positive
    kind: ewma
    p0: reference
    lambda: 0.05
    arl0: 1000
  - id: positive_rate_cusum
    indicator: positive_call
    kind: cusum
    p0: reference
    p1: 0.22
    arl0: 5000
drift:
  psi: {{bins: 10, warn_above: 0.1, alarm_above: 0.25}}
  ks: {{alarm_p_below: 0.001}}
  wasserstein: {{alarm_above: null}}
  positive_rate: {{alarm_p_below: 0.001}}
  mix: {{alarm_p_below: 0.001, new_category: alarm}}
performance:
  metrics: [sensitivity, specificity, ppv, auc]
  min_verified: 30
  alarms:
    - {{metric: sensitivity, value: 0.75}}
"""


@dataclass(frozen=True)
class MonitoringDemo:
    """What the monitoring demo wrote and what each monthly run found."""

    root: Path
    protocol: Path
    stream: Path
    out: Path
    exit_codes: list[int] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """The last run's exit code (1: an alarm is open)."""
        return self.exit_codes[-1] if self.exit_codes else 0


def _write_batches(stream: Path, month: pd.DataFrame, tag: str) -> None:
    days = pd.to_datetime(month["time"]).dt.day
    for week, part in month.groupby(np.minimum((days - 1) // 7, 3)):
        out = part.rename(
            columns={"case_id": "accession", "time": "acquired_at", "score": "ai_score"}
        )
        write_csv(out.drop(columns=["label"]), stream / "batches" / f"{tag}-w{int(week) + 1}.csv")


def _write_labels(
    stream: Path, month: pd.DataFrame, tag: str, rng: np.random.Generator, fraction: float
) -> None:
    pick = rng.random(len(month)) < fraction
    labels = month.loc[pick, ["case_id", "label"]].rename(columns={"case_id": "accession"})
    write_csv(labels, stream / "labels" / f"labels-{tag}.csv")


def run_monitoring_demo(
    out_dir: str | Path,
    *,
    force: bool = False,
    echo: Callable[[str], None] = print,
    seed: int = 4,
    months: int = MONTHS,
    change_month: int = CHANGE_MONTH,
    cases_per_month: int = CASES_PER_MONTH,
    label_fraction: float = LABEL_FRACTION,
) -> MonitoringDemo:
    """Simulate ``months`` of production with a scanner change and monitor it month by month.

    Writes ``DIR/reference/`` (the locked test set: 1000 cases), ``DIR/monitoring.yaml`` (locked
    before any production case exists), and for each month its weekly batches in
    ``DIR/stream/batches/`` and the previous month's labels (``label_fraction`` of its cases,
    a random sample) in ``DIR/stream/labels/``; after each month it runs ``radval monitor run``
    into ``DIR/monitor/`` (the last one ``--as-of`` the end of the period, so the final month
    closes). Returns each run's exit code and record.
    """
    root = Path(out_dir)
    if root.exists() and any(root.iterdir()):
        if not force:
            raise InputError(
                f"{root}: the demo folder already exists and is not empty; choose another "
                "--out or pass --force to replace it"
            )
        if not (root / "monitoring.yaml").is_file() or not (root / "stream").is_dir():
            raise InputError(
                f"{root}: --force only replaces a previous monitoring demo folder, and this one "
                "does not look like one (no monitoring.yaml and stream/); refusing to delete it"
            )
        shutil.rmtree(root)
    rng = np.random.default_rng(seed)
    ref = simulate_cases(REFERENCE_CASES, rng=rng)
    ref.insert(0, "case_id", [f"T{i + 1:05d}" for i in range(len(ref))])
    write_csv(ref[["case_id", "score"]], root / "reference" / "scores.csv")
    write_csv(ref.drop(columns=["score"]), root / "reference" / "manifest.csv")
    protocol = root / "monitoring.yaml"
    write_text_atomic(protocol, monitoring_protocol_text())
    lock_monitor_protocol(protocol, actor="radval-demo")
    echo(
        f"[radval demo --monitoring] reference: {len(ref)} locked test-set cases; plan locked: {protocol}"
    )
    stream = root / "stream"
    (stream / "batches").mkdir(parents=True)
    (stream / "labels").mkdir(parents=True)
    out = root / "monitor"
    demo = MonitoringDemo(root=root, protocol=protocol, stream=stream, out=out)
    frames: list[pd.DataFrame] = []
    end = pd.Timestamp(START, tz="UTC") + pd.DateOffset(months=months)
    for m in range(1, months + 1):
        month = simulate_month(m, cases_per_month, rng=rng, change_month=change_month)
        frames.append(month)
        tag = month["time"].iloc[0][:7]
        _write_batches(stream, month, tag)
        if m >= 2:  # last month's labels arrive now, for a random share of its cases
            _write_labels(
                stream, frames[m - 2], frames[m - 2]["time"].iloc[0][:7], rng, label_fraction
            )
        as_of = end if m == months else None
        outcome = run_monitor(
            protocol, stream_dir=stream, out_dir=out, as_of=as_of, actor="radval-demo"
        )
        demo.exit_codes.append(outcome.exit_code)
        demo.runs.append(outcome.run)
        change = " (scanner change this month)" if m == change_month else ""
        alarms = "; ".join(f"{a['id']}: {a['message']}" for a in outcome.new_alarms[:4])
        more = f" (+{len(outcome.new_alarms) - 4} more)" if len(outcome.new_alarms) > 4 else ""
        echo(
            f"[radval demo --monitoring] month {m} ({tag}){change}: run {outcome.run['run']}, "
            f"{outcome.run['n_cases_added']} cases, {outcome.run['n_labels_added']} labels, "
            f"windows closed {outcome.run['windows_closed'] or '-'}: "
            + (
                "IN CONTROL"
                if not outcome.new_alarms
                else f"{len(outcome.new_alarms)} new alarm(s): " + alarms + more
            )
        )
    return demo
