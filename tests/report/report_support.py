"""Fixtures for the report tests: a real study folder produced by the study runner.

One session-scoped study runs the full path (lock -> ``run_study`` -> ``results.json``)
on small synthetic data with every optional analysis switched on (subgroups with a
``not_estimable`` cell, a baseline comparison, an MRMC reader study with the AI as a
reader, lesion detection, a truthing file and a volume measurement), so the report sees the same document ``radval run`` writes.
Case ids, group names and reader ids include HTML/SVG metacharacters so that every test
also exercises escaping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from validation.protocol.lock import lock_protocol
from validation.study import StudyOutcome, run_study

#: A hostile string used as a site name, a manufacturer, a reader id and a case id.
INJECT = "<script>alert(1)</script>"

PROTOCOL = """version: 1
study:
  id: full-study
  title: Full report fixture & <b>bold</b> check
  version: "2.1"
  sponsor: Example Imaging AI Ltd.
  intended_use: Flags chest radiographs with suspected findings for prioritised reading.
  population: Adults (18+) imaged at the participating sites.
  intended_users: Radiologists.
  device_inputs: Frontal chest radiograph (DICOM).
  device_outputs: A suspicion score in [0, 1] and a flag at the locked threshold.
  reference_standard: Consensus of two radiologists, a third adjudicating disagreement.
  sample_size_justification: At least 80 positive cases give 90% power for the sensitivity goal.
test_set:
  manifest: ../data/test/manifest.csv
  label_column: label
  cluster_column: patient_id
  missing_outputs: worst_case
  truthing:
    file: ../data/test/truthing.csv
    columns: {truther: radiologist}
    rule: consensus_with_adjudicator
    adjudicator: ADJ
    statistics: [percent_agreement, cohen_kappa, fleiss_kappa, gwet_ac1]
model:
  name: demo-densenet 1.0
  scores: ../scores/candidate.parquet
  threshold: 0.5
baseline:
  name: released
  scores: ../scores/baseline.parquet
  threshold: 0.5
endpoints:
  - id: sensitivity_primary
    role: primary
    metric: sensitivity
    ci: {method: wilson, confidence_level: 0.95}
    accept: {bound: ci_low, op: ">=", value: 0.70}
  - id: auc_primary
    role: primary
    metric: auc
    ci: {method: delong, confidence_level: 0.95}
    test: {kind: superiority, null_value: 0.75, significance_level: 0.025}
    accept: {bound: ci_low, op: ">", value: 0.75}
  - id: auc_noninferior
    role: secondary
    metric: auc
    compare_to: baseline
    ci: {method: delong}
    test: {kind: non-inferiority, margin: 0.02, method: delong, significance_level: 0.025}
  - id: specificity
    role: secondary
    metric: specificity
    ci: {method: wilson}
  - id: ppv_exploratory
    role: exploratory
    metric: ppv
    ci: {method: wilson}
subgroups:
  metrics: [sensitivity, auc]
  attributes:
    - column: sex
    - column: site
    - column: manufacturer
  ci: {confidence_level: 0.95}
  guardrails: {min_n: 20, min_positives: 5, min_negatives: 5}
  multiplicity: holm
reader_study:
  id: aided_vs_unaided
  role: secondary
  readings: ../readings/readings.csv
  fom: auc
  method: or
  covariance: jackknife
  analysis: RRRC
  test_modality: aided
  reference_modality: unaided
  confidence_level: 0.95
  hypothesis: {kind: non-inferiority, margin: 0.05, significance_level: 0.025}
  ai_reader: AI
detection:
  marks: ../scores/marks.parquet
  lesions: ../data/test/lesions.csv
  rule: {criterion: iou, iou_threshold: 0.3}
  threshold: 0.5
  endpoints:
    - id: lesion_sensitivity
      role: secondary
      metric: sensitivity
      accept: {bound: ci_low, op: ">=", value: 0.5}
    - id: froc_cpm
      role: exploratory
      metric: cpm
measurement:
  measurements: ../scores/volumes.csv
  reference_column: ref_volume_ml
  quantity: nodule volume
  unit: mL
  subgroups: [site]
  endpoints:
    - id: volume_loa_high
      role: secondary
      metric: loa_high
      accept: {bound: ci_high, op: "<=", value: 15}
    - id: volume_ccc
      role: exploratory
      metric: ccc
multiplicity:
  method: fixed-sequence
  significance_level: 0.025
  order: [auc_primary, sensitivity_primary]
n_resamples: 100
seed: 20261130
report:
  signatories:
    - role: Clinical lead
    - role: Biostatistician
"""


def build_layout(root: Path, *, n: int = 200, seed: int = 5) -> Path:
    """Write a synthetic test set, scores, readings, marks and lesions under ``root``."""
    rng = np.random.default_rng(seed)
    test = root / "data" / "test"
    (test / "images").mkdir(parents=True, exist_ok=True)
    n_patients = n // 2
    patient = np.repeat(np.arange(n_patients), 2)[:n]
    label = (rng.random(n) < 0.45).astype(int)
    sex = rng.choice(["F", "M"], size=n_patients)[patient]
    site = rng.choice(["site_a", INJECT], size=n_patients, p=[0.55, 0.45])[patient]
    # a small third manufacturer: fewer than 5 positives -> a not_estimable subgroup cell
    manufacturer = np.where(np.arange(n) < 12, "Tiny & Co", rng.choice(["GE", INJECT], size=n))
    case_ids = [f"C{i:04d}" for i in range(n)]
    case_ids[3] = INJECT
    paths = []
    for i in range(n):
        rel = f"images/case{i:04d}.dcm"
        (test / rel).write_bytes(b"synthetic " + str(i).encode())
        paths.append(rel)
    manifest = pd.DataFrame(
        {
            "case_id": case_ids,
            "patient_id": [f"P{p:04d}" for p in patient],
            "path": paths,
            "label": label,
            "sex": sex,
            "age": rng.integers(18, 95, size=n_patients)[patient],
            "site": site,
            "manufacturer": manufacturer,
        }
    )
    extra = np.random.default_rng(seed + 1000)  # own stream: the other inputs stay as they were
    volume = extra.uniform(5, 80, size=n)
    manifest["ref_volume_ml"] = np.where(label == 1, volume, np.nan)
    manifest.to_csv(test / "manifest.csv", index=False)
    # truthing: two radiologists (one named hostilely), one misreads ~15%; ADJ settles
    reads = []
    for cid, lab in zip(case_ids, label, strict=True):
        first = int(lab) if extra.random() > 0.15 else 1 - int(lab)
        reads += [
            {"case_id": cid, "radiologist": "R1", "label": first},
            {"case_id": cid, "radiologist": INJECT, "label": int(lab)},
        ]
        if first != lab:
            reads.append({"case_id": cid, "radiologist": "ADJ", "label": int(lab)})
    pd.DataFrame(reads).to_csv(test / "truthing.csv", index=False)
    latent = 1.6 * label + rng.normal(size=n)
    cand = 1.0 / (1.0 + np.exp(-(latent - 0.8)))
    base = 1.0 / (1.0 + np.exp(-(0.9 * latent + 0.3 * rng.normal(size=n) - 0.8)))
    scores = root / "scores"
    scores.mkdir(exist_ok=True)
    pd.DataFrame({"case_id": case_ids, "score": cand}).to_parquet(scores / "candidate.parquet")
    pd.DataFrame({"case_id": case_ids, "score": base}).to_parquet(scores / "baseline.parquet")
    measured = volume + 1.0 + extra.normal(0, 3, size=n)
    pd.DataFrame({"case_id": case_ids, "value": measured})[label == 1].to_csv(
        scores / "volumes.csv", index=False
    )
    rows = []
    sub = manifest.iloc[:60]
    for r, name in enumerate(["R1", "R2", INJECT]):
        skill = rng.normal(0, 0.2)
        for mod, boost in (("unaided", 0.0), ("aided", 0.35)):
            s = (1.2 + skill + boost) * sub["label"].to_numpy() + rng.normal(size=len(sub))
            rows += [
                {"reader": name, "modality": mod, "case": c, "truth": t, "score": float(v)}
                for c, t, v in zip(sub["case_id"], sub["label"], s, strict=True)
            ]
        del r
    rows += [
        {"reader": "AI", "modality": "unaided", "case": c, "truth": t, "score": float(v)}
        for c, t, v in zip(sub["case_id"], sub["label"], cand[:60], strict=True)
    ]
    (root / "readings").mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "readings" / "readings.csv", index=False)
    lesions, marks = [], []
    for cid, lab in zip(manifest["case_id"], manifest["label"], strict=True):
        if lab:
            x, y = rng.uniform(20, 200, size=2)
            lesions.append(
                {"case_id": cid, "lesion_id": 1, "x0": x, "y0": y, "x1": x + 20, "y1": y + 20}
            )
            if rng.random() < 0.85:
                dx, dy = rng.normal(0, 2, size=2)
                marks.append(
                    {
                        "case_id": cid,
                        "x0": x + dx,
                        "y0": y + dy,
                        "x1": x + 20 + dx,
                        "y1": y + 20 + dy,
                        "score": float(rng.uniform(0.4, 1.0)),
                    }
                )
        for _ in range(rng.poisson(0.3)):
            x, y = rng.uniform(0, 220, size=2)
            marks.append(
                {
                    "case_id": cid,
                    "x0": x,
                    "y0": y,
                    "x1": x + 15,
                    "y1": y + 15,
                    "score": float(rng.uniform(0.0, 0.8)),
                }
            )
    pd.DataFrame(lesions).to_csv(test / "lesions.csv", index=False)
    pd.DataFrame(marks).to_parquet(scores / "marks.parquet")
    (root / "protocols").mkdir(exist_ok=True)
    (root / "protocols" / "full.yaml").write_text(PROTOCOL, encoding="utf-8")
    return root


def make_study(root: Path) -> StudyOutcome:
    """Lock and run the full protocol under ``root`` (the runner renders the report too)."""
    build_layout(root)
    proto = root / "protocols" / "full.yaml"
    lock_protocol(proto, actor="Test Locker")
    return run_study(proto, out_dir=root / "studies" / "full", render=True, actor="Test Runner")
