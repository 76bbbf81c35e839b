"""Helpers for the monitoring tests: a small reference, stream and locked plan in a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from validation.monitor.lock import lock_monitor_protocol
from validation.monitor.simulate import simulate_cases, simulate_month
from validation.tables import write_csv

PROTOCOL = """version: 1
monitor:
  id: test-pms
  title: {title}
reference:
  scores: reference/scores.csv
  manifest: reference/manifest.csv
  threshold: 0.4
stream:
  batches: batches/*.csv
  labels: labels/*.csv
  attributes: [site, manufacturer_model]
windows:
  length: month
  min_cases: 20
charts:
  - id: miss
    indicator: false_negative
    kind: cusum
    p0: 0.2
    p1: 0.4
    arl0: 500
  - id: calls
    indicator: positive_call
    kind: ewma
    p0: reference
    lambda: 0.05
    arl0: 2000
  - id: mean
    indicator: score_mean
    kind: cusum
    direction: decrease
    shift: 2
    arl0: 200
drift:
  psi: {{bins: 10}}
  mix: {{alarm_p_below: 0.001, new_category: alarm}}
performance:
  min_verified: 10
  alarms:
    - {{metric: sensitivity, value: 0.6}}
"""


def make_plan(
    root: Path,
    *,
    title: str = "Test monitoring",
    seed: int = 5,
    n_ref: int = 600,
    lock: bool = True,
    text: str | None = None,
) -> Path:
    """Reference tables and a (locked) monitoring protocol under ``root``; returns the protocol."""
    rng = np.random.default_rng(seed)
    ref = simulate_cases(n_ref, rng=rng)
    ref.insert(0, "case_id", [f"R{i:05d}" for i in range(n_ref)])
    write_csv(ref[["case_id", "score"]], root / "reference" / "scores.csv")
    write_csv(ref.drop(columns=["score"]), root / "reference" / "manifest.csv")
    proto = root / "monitoring.yaml"
    proto.write_text(text if text is not None else PROTOCOL.format(title=title), encoding="utf-8")
    if lock:
        lock_monitor_protocol(proto, actor="test")
    return proto


def write_month(
    stream: Path,
    month: int,
    *,
    n: int = 120,
    seed: int = 0,
    change_month: int | None = None,
    labels_fraction: float | None = 0.5,
    name: str | None = None,
) -> pd.DataFrame:
    """One month of production as a batch file (and a label file for a share of it)."""
    rng = np.random.default_rng(1000 + seed * 31 + month)
    frame = simulate_month(month, n, rng=rng, change_month=change_month)
    tag = name or frame["time"].iloc[0][:7]
    write_csv(frame.drop(columns=["label"]), stream / "batches" / f"{tag}.csv")
    if labels_fraction is not None:
        pick = rng.random(n) < labels_fraction
        write_csv(frame.loc[pick, ["case_id", "label"]], stream / "labels" / f"{tag}.csv")
    return frame
