"""The demo's orchestration, at a small size (the full-size demo runs from the README)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from validation.demo import PROTOCOLS, run_demo
from validation.errors import InputError


@pytest.fixture(scope="module")
def small_demo(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("demo") / "out"
    lines: list[str] = []
    outcome = run_demo(root, echo=lines.append, train_cases=60, test_cases=60, image_size=32,
                       candidate_epochs=1, baseline_epochs=1, render=False)
    return outcome, lines


def test_demo_lays_out_every_stage(small_demo) -> None:  # type: ignore[no-untyped-def]
    outcome, lines = small_demo
    root = outcome.root
    for path in ("data/train/manifest.csv", "data/test/manifest.csv", "data/test/lesions.csv",
                 "model/model.pt", "model/model_card.json", "baseline/model.pt",
                 "scores/candidate.parquet", "scores/baseline.parquet", "readings/readings.csv"):
        assert (root / path).is_file(), path
    assert set(outcome.studies) == set(PROTOCOLS)
    for name, folder in outcome.studies.items():
        results = json.loads((folder / "results.json").read_text())
        # every study ran from a lock taken before the scores existed
        assert results["protocol"]["lock"] is not None, name
        assert outcome.exit_codes[name] in (0, 1)
    assert any("lock the protocols" in line for line in lines)


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
    result = subprocess.run([sys.executable, "-m", "validation", "demo", "--out", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.startswith("radval: error: ")
    assert "Traceback" not in result.stderr
