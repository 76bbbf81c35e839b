"""The demo's orchestration, at a small size (the full-size demo runs from the README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from validation.demo import EXPECTED_EXIT_CODES, PROTOCOLS, DemoOutcome, run_demo
from validation.errors import InputError


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("demo") / "out"
    lines: list[str] = []
    outcome = run_demo(
        root,
        echo=lines.append,
        train_cases=60,
        test_cases=60,
        image_size=32,
        candidate_epochs=1,
        baseline_epochs=1,
        render=False,
    )
    return outcome, lines


def test_demo_lays_out_every_stage(small_demo) -> None:  # type: ignore[no-untyped-def]
    outcome, lines = small_demo
    root = outcome.root
    for path in (
        "data/train/manifest.csv",
        "data/test/manifest.csv",
        "data/test/lesions.csv",
        "model/model.pt",
        "model/model_card.json",
        "baseline/model.pt",
        "scores/candidate.parquet",
        "scores/baseline.parquet",
        "readings/readings.csv",
    ):
        assert (root / path).is_file(), path
    assert set(outcome.studies) == set(PROTOCOLS)
    for name, folder in outcome.studies.items():
        results = json.loads((folder / "results.json").read_text())
        # every study ran from a lock taken before the scores existed
        assert results["protocol"]["lock"] is not None, name
        assert outcome.exit_codes[name] in (0, 1)
    assert any("lock the protocols" in line for line in lines)
    # both models chose their operating point on a tuning split, and the studies used it
    for folder in ("model", "baseline"):
        card = json.loads((root / folder / "model_card.json").read_text())
        assert card["operating_point"]["selection"]["on"] == "tuning"
    results = json.loads((outcome.studies["triage_standalone"] / "results.json").read_text())
    card = json.loads((root / "model" / "model_card.json").read_text())
    assert results["model"]["threshold"] == card["operating_point"]["threshold"]
    assert results["model"]["threshold_source"] == "model card"
    assert sum(line.startswith("[radval demo]   threshold ") for line in lines) == 2


def test_locks_predate_the_scores(small_demo) -> None:  # type: ignore[no-untyped-def]
    outcome, _ = small_demo
    scores = outcome.root / "scores" / "candidate.parquet"
    for name in PROTOCOLS:
        lock = outcome.root / "protocols" / f"{name}.yaml.lock.json"
        assert lock.stat().st_mtime <= scores.stat().st_mtime


def test_demo_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(InputError, match="already exists and is not empty"):
        run_demo(tmp_path)
    with pytest.raises(InputError, match="does not look like one"):
        run_demo(tmp_path, force=True)
    assert (tmp_path / "precious.txt").read_text() == "keep me"


def test_cli_demo_refusal_is_exit_2_without_traceback(tmp_path: Path) -> None:
    (tmp_path / "x").write_text("x")
    result = subprocess.run(
        [sys.executable, "-m", "validation", "demo", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith("radval: error: ")
    assert "Traceback" not in result.stderr


def _outcome(tmp_path: Path, codes: dict[str, int], expected: dict[str, int]) -> DemoOutcome:
    studies = {}
    for name, code in codes.items():
        folder = tmp_path / name
        folder.mkdir(parents=True)
        doc = {
            "endpoints": [
                {
                    "id": "sens",
                    "estimate": 0.9,
                    "ci_low": 0.85,
                    "ci_high": 0.94,
                    "criterion": {"text": "ci_low of sensitivity (95% CI) >= 0.75"},
                }
            ],
            "comparisons": [],
            "verdict": {
                "primary": [{"endpoint_id": "sens", "decision": "pass" if code == 0 else "fail"}]
            },
        }
        (folder / "results.json").write_text(json.dumps(doc))
        studies[name] = folder
    return DemoOutcome(root=tmp_path, studies=studies, exit_codes=codes, expected=expected)


def test_every_demo_study_is_meant_to_pass() -> None:
    assert EXPECTED_EXIT_CODES == {name: 0 for name in PROTOCOLS}


def test_demo_exit_code_says_whether_the_studies_came_out_as_intended(tmp_path: Path) -> None:
    ok = _outcome(tmp_path / "a", {"triage": 0, "gate": 0}, {"triage": 0, "gate": 0})
    assert ok.exit_code == 0
    assert ok.summary()[0] == "  triage             all primary criteria met (as intended)"
    assert ok.summary()[1] == (
        "      pass  sens: 0.900 (CI 0.850-0.940); ci_low of sensitivity (95% CI) >= 0.75"
    )
    # a gate meant to fail, failing: said so, and still exit 0
    planned = _outcome(tmp_path / "b", {"triage": 0, "gate": 1}, {"triage": 0, "gate": 1})
    assert planned.exit_code == 0
    assert (
        "  gate               a primary criterion failed (as intended: this study shows a "
        "failing gate)"
    ) in planned.summary()
    # anything unplanned: exit 1, and the summary says which
    for codes in ({"triage": 1, "gate": 1}, {"triage": 0, "gate": 0}):
        bad = _outcome(tmp_path / f"c{sum(codes.values())}", codes, {"triage": 0, "gate": 1})
        assert bad.exit_code == 1
    assert any(
        "NOT as intended: the demo means this study to pass" in line
        for line in _outcome(tmp_path / "d", {"triage": 1}, {"triage": 0}).summary()
    )


def test_demo_truthing_and_measurement_study(small_demo) -> None:  # type: ignore[no-untyped-def]
    outcome, _ = small_demo
    root = outcome.root
    manifest = pd.read_csv(root / "data" / "test" / "manifest.csv", dtype={"case_id": str})
    reads = pd.read_csv(root / "data" / "test" / "truthing.csv", dtype=str)
    results = json.loads((outcome.studies["nodule_measurement"] / "results.json").read_text())
    truthing = results["truthing"]
    # the adjudicator reads exactly the cases the two radiologists disagree on, and is right
    assert truthing["n_adjudicator_reads"] == int((reads["radiologist"] == "adjudicator").sum())
    paths = {p["path"]: p["n"] for p in truthing["paths"]}
    assert paths["adjudicated"] == truthing["n_adjudicator_reads"] > 0
    assert paths["unanimous"] + paths["adjudicated"] == len(manifest)
    assert truthing["check"] == {"n_compared": len(manifest), "n_discordant": 0, "discordant": []}
    # the reference areas come from the masks of the positive cases
    positives = manifest["label"] == 1
    assert manifest.loc[~positives, "nodule_area_mm2"].isna().all()
    assert (manifest.loc[positives, "nodule_area_mm2"].dropna() > 0).all()
    assert results["measurement"]["n"] == int(manifest["nodule_area_mm2"].notna().sum())
    ids = {e["id"] for e in results["endpoints"]}
    assert {"area_loa_high", "area_loa_low", "area_ccc"} <= ids
