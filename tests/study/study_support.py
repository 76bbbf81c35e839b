"""Fixtures for the study tests: a small demo-like folder built inline.

Layout (as ``radval demo`` lays it out): ``data/test/manifest.csv`` (+ the image files
its ``path`` column names), ``scores/candidate.parquet``, ``scores/baseline.parquet``,
``readings/readings.csv`` and ``protocols/*.yaml`` copied from the repository.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
PROTOCOLS = REPO / "protocols"
#: The operating threshold the model cards record; the example protocols state none and
#: take it from the card (``model.card``).
THRESHOLD = 0.4


def build_layout(root: Path, *, n: int = 240, seed: int = 7, shift: float = 1.6) -> Path:
    """Write a synthetic test set, candidate/baseline scores and readings under ``root``."""
    rng = np.random.default_rng(seed)
    test = root / "data" / "test"
    (test / "images").mkdir(parents=True, exist_ok=True)
    n_patients = n // 2
    patient = np.repeat(np.arange(n_patients), 2)[:n]
    label = (rng.random(n) < 0.4).astype(int)
    sex = rng.choice(["F", "M"], size=n_patients)[patient]
    age = rng.integers(18, 95, size=n_patients)[patient]
    site = rng.choice(["site_a", "site_b"], size=n_patients)[patient]
    manufacturer = rng.choice(["GE", "Siemens"], size=n)
    paths = []
    for i in range(n):
        rel = f"images/case{i:04d}.dcm"
        (test / rel).write_bytes(b"synthetic " + str(i).encode())
        paths.append(rel)
    manifest = pd.DataFrame(
        {
            "case_id": [f"C{i:04d}" for i in range(n)],
            "patient_id": [f"P{p:04d}" for p in patient],
            "path": paths,
            "label": label,
            "sex": sex,
            "age": age,
            "site": site,
            "manufacturer": manufacturer,
        }
    )
    manifest.to_csv(test / "manifest.csv", index=False)
    latent = shift * label + rng.normal(size=n)
    # Centre the scores on the example protocols' locked threshold: score >= THRESHOLD
    # exactly when the latent value passes the midpoint between the classes.
    offset = np.log(THRESHOLD / (1.0 - THRESHOLD))
    cand = 1.0 / (1.0 + np.exp(-(latent - shift / 2 + offset)))
    base = 1.0 / (1.0 + np.exp(-(0.9 * latent + 0.3 * rng.normal(size=n) - shift / 2 + offset)))
    scores = root / "scores"
    scores.mkdir(exist_ok=True)
    pd.DataFrame({"case_id": manifest["case_id"], "score": cand}).to_parquet(
        scores / "candidate.parquet"
    )
    pd.DataFrame({"case_id": manifest["case_id"], "score": base}).to_parquet(
        scores / "baseline.parquet"
    )
    # Reader study: 4 readers x 2 modalities on the first 80 cases, plus the AI.
    rows = []
    cases = manifest.iloc[:80]
    for r in range(4):
        skill = rng.normal(0, 0.2)
        for mod, boost in (("unaided", 0.0), ("aided", 0.35)):
            s = (1.2 + skill + boost) * cases["label"].to_numpy() + rng.normal(size=len(cases))
            rows += [
                {"reader": f"R{r + 1}", "modality": mod, "case": c, "truth": t, "score": float(v)}
                for c, t, v in zip(cases["case_id"], cases["label"], s, strict=True)
            ]
    rows += [
        {"reader": "AI", "modality": "unaided", "case": c, "truth": t, "score": float(v)}
        for c, t, v in zip(cases["case_id"], cases["label"], cand[:80], strict=True)
    ]
    # Detection: one 20-pixel lesion per positive case; a mark near it (score by visibility)
    # on most positives, and a few false-positive marks anywhere.
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
    (root / "readings").mkdir(exist_ok=True)
    pd.DataFrame(rows).to_csv(root / "readings" / "readings.csv", index=False)
    for folder, name in (("model", "candidate"), ("baseline", "released")):
        write_model_card(root / folder / "model_card.json", name=name)
    (root / "protocols").mkdir(exist_ok=True)
    for p in PROTOCOLS.glob("*.yaml"):
        # fewer bootstrap resamples keep the tests fast, and no failure-case gallery (these
        # images are not DICOM; tests/study/test_study_gallery.py runs it on real DICOM);
        # everything else is the example as shipped
        text = without_gallery(p.read_text(encoding="utf-8"))
        (root / "protocols" / p.name).write_text(
            text.replace("\nseed:", "\nn_resamples: 200\nseed:", 1)
        )
    return root


def write_model_card(
    path: Path, *, name: str, checkpoint_sha256: str | None = None, threshold: float = THRESHOLD
) -> Path:
    """A small model card in the shape ``radval train`` writes (``radval.model_card/1``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    card = {
        "schema": "radval.model_card/1",
        "model": {
            "name": name,
            "version": "1.0",
            "task": "classification",
            "network": "DenseNet121",
            "classes": ["normal", "abnormal"],
            "positive_class": "abnormal",
        },
        "operating_point": {"threshold": threshold, "source": "fixed in the model spec"},
        "checkpoint": {"file": "model.ckpt", "sha256": checkpoint_sha256 or "ab" * 32},
        "card": {
            "intended_use": "Triage of frontal chest radiographs.",
            "limitations": "Synthetic demo data.",
        },
        "training_data": {"n_cases": 400, "n_patients": 200},
    }
    path.write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
    return path


def without_gallery(text: str) -> str:
    """A protocol without its ``report.gallery`` line (the example enables the gallery)."""
    return "".join(
        line for line in text.splitlines(keepends=True) if not line.startswith("  gallery:")
    )


def lean(text: str, *, keep_subgroups: str | None = None) -> str:
    """A protocol without its subgroup block (the slowest analysis), or with a smaller one."""
    start = text.index("\nsubgroups:\n") + 1
    end = text.index("\nmultiplicity:\n", start) + 1
    return text[:start] + (keep_subgroups or "") + text[end:]


def without_planning(text: str) -> str:
    """A protocol without its ``planning:`` block (for test sets smaller than the plan)."""
    lines = text.splitlines(keepends=True)
    if "planning:\n" not in lines:
        return text
    start = lines.index("planning:\n")
    end = start + 1
    while end < len(lines) and lines[end][:1] in (" ", "-", "#", "\n"):
        end += 1  # the block's indented lines, list items and comments
    return "".join(lines[:start] + lines[end:])


SMALL_SUBGROUPS = """subgroups:
  metrics: [auc]
  attributes:
    - column: site
  guardrails: {min_n: 20, min_positives: 5, min_negatives: 5}
"""


SEGMENTATION = """segmentation:
  predictions: ../scores/seg/predictions.csv
  empty_policy: {both_empty: best, reference_empty: worst, prediction_empty: worst}
  endpoints:
    - id: dice_primary
      role: primary
      metric: dice
      accept: {bound: ci_low, op: ">=", value: 0.5}
    - id: hd95
      role: secondary
      metric: hd95
      accept: {bound: ci_high, op: "<=", value: 10.0}
"""


def make_masks(layout: Path) -> None:
    """Reference masks for the first 12 cases (manifest column ``mask_path``) and predictions.

    Cases 0-9: an 8x8 square, predicted one row lower (Dice 112/128, HD95 0.5 mm at 0.5 mm
    pixels); cases 10 and 11: both masks empty. ``scores/seg/predictions.csv`` lists them.
    """
    import nibabel as nib

    manifest = layout / "data" / "test" / "manifest.csv"
    frame = pd.read_csv(manifest)
    (layout / "data" / "test" / "masks").mkdir()
    (layout / "scores" / "seg").mkdir()
    rng = np.random.default_rng(5)
    ref_paths, rows = [], []
    for i, cid in enumerate(frame["case_id"]):
        if i >= 12:
            ref_paths.append("")
            continue
        ref = np.zeros((24, 24), dtype=np.uint8)
        pred = np.zeros_like(ref)
        if i < 10:  # cases 10 and 11: both masks empty ("best" by the policy)
            x, y = rng.integers(2, 12, size=2)
            ref[y : y + 8, x : x + 8] = 1
            pred[y + 1 : y + 9, x : x + 8] = 1
        affine = np.diag([0.5, 0.5, 1.0, 1.0])
        nib.save(
            nib.Nifti1Image(ref[:, :, None], affine),
            layout / "data" / "test" / "masks" / f"{cid}.nii.gz",
        )
        nib.save(
            nib.Nifti1Image(pred[:, :, None], affine), layout / "scores" / "seg" / f"{cid}.nii.gz"
        )
        ref_paths.append(f"masks/{cid}.nii.gz")
        rows.append({"case_id": cid, "mask_path": f"{cid}.nii.gz"})
    frame.assign(mask_path=ref_paths).to_csv(manifest, index=False)
    pd.DataFrame(rows).to_csv(layout / "scores" / "seg" / "predictions.csv", index=False)
