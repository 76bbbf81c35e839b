"""Selecting modalities of a readings file, with a standalone AI under its own modality."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from validation.data.readings import select_modalities
from validation.errors import ReadingsError
from validation.stats import mrmc_analysis, reader_vs_ai


def _readings() -> pd.DataFrame:
    rng = np.random.default_rng(3)
    truth = np.r_[np.zeros(15, int), np.ones(15, int)]
    rows = []
    for mod, shift in (("unaided", 1.0), ("aided", 1.5)):
        for r in ("R1", "R2", "R3"):
            score = truth * shift + rng.normal(size=30)
            rows += [
                {"reader": r, "modality": mod, "case": c, "truth": t, "score": s}
                for c, (t, s) in enumerate(zip(truth, score, strict=True))
            ]
    ai = truth * 2.0 + rng.normal(size=30)
    rows += [
        {"reader": "AI", "modality": "standalone", "case": c, "truth": t, "score": s}
        for c, (t, s) in enumerate(zip(truth, ai, strict=True))
    ]
    return pd.DataFrame(rows)


def test_readers_filtered_and_ai_relabelled() -> None:
    frame = _readings()
    sel = select_modalities(frame, ["unaided"], ai_reader="AI")
    assert set(sel["modality"]) == {"unaided"}
    assert sorted(sel["reader"].unique()) == ["AI", "R1", "R2", "R3"]
    # the AI's scores are its standalone scores, untouched
    ai = sel[sel["reader"] == "AI"].sort_values("case")["score"].to_numpy()
    expected = frame[frame["reader"] == "AI"].sort_values("case")["score"].to_numpy()
    np.testing.assert_array_equal(ai, expected)
    # and the comparison equals the one on a hand-built panel
    panel = pd.concat(
        [
            frame[frame["modality"] == "unaided"],
            frame[frame["reader"] == "AI"].assign(modality="unaided"),
        ]
    )
    a = reader_vs_ai(sel, ai_reader="AI").rrrc
    b = reader_vs_ai(panel, ai_reader="AI").rrrc
    assert a.difference == pytest.approx(b.difference, abs=1e-15)
    assert a.p_value == pytest.approx(b.p_value, abs=1e-15)


def test_without_ai_only_the_readers_remain() -> None:
    sel = select_modalities(_readings(), ["unaided", "aided"])
    assert "AI" not in set(sel["reader"])
    res = mrmc_analysis(sel)
    assert sorted(res.fom["modality"].unique()) == ["aided", "unaided"]


def test_bad_selections_name_what_was_expected() -> None:
    frame = _readings()
    with pytest.raises(
        ReadingsError,
        match=r"modality 'reread' is not in the readings; found "
        r"\['aided', 'standalone', 'unaided'\]",
    ):
        select_modalities(frame, ["reread"])
    with pytest.raises(
        ReadingsError, match="needs exactly one modality, got \\['unaided', 'aided'\\]"
    ):
        select_modalities(frame, ["unaided", "aided"], ai_reader="AI")
    with pytest.raises(ReadingsError, match="reader 'CAD' \\(the AI\\) has no readings"):
        select_modalities(frame, ["unaided"], ai_reader="CAD")


def test_cli_modality_option(tmp_path: Path) -> None:
    path = tmp_path / "readings.csv"
    _readings().to_csv(path, index=False)
    run = [sys.executable, "-m", "validation", "mrmc", str(path)]
    whole = subprocess.run(run, capture_output=True, text=True, timeout=120)
    assert whole.returncode == 2 and "has no readings in modality 'standalone'" in whole.stderr
    ok = subprocess.run(
        [*run, "--modality", "unaided", "--modality", "aided", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ok.returncode == 0, ok.stderr
    ai = subprocess.run(
        [*run, "--ai-reader", "AI", "--modality", "unaided", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ai.returncode == 0, ai.stderr
    assert '"RRRC"' in ai.stdout
