"""Coverage simulation (slow): the patient-clustered bootstrap CI of mean Dice covers
the true mean at about the nominal rate, and ignoring clustering does not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validation.stats import summarize_segmentation

N_SIM = 300


@pytest.mark.slow
def test_clustered_ci_coverage() -> None:
    rng = np.random.default_rng(99)
    cover_cluster = cover_naive = 0
    for _ in range(N_SIM):
        n_pat = 40
        patient = np.repeat(np.arange(n_pat), 3)  # three lesions/structures per patient
        dice = 0.8 + rng.normal(0, 0.06, n_pat)[patient] + rng.normal(0, 0.02, patient.size)
        pc = pd.DataFrame(
            {
                "case_id": np.arange(patient.size),
                "patient_id": patient,
                "status": "both_present",
                "excluded": False,
                "dice": dice,
            }
        )
        c = summarize_segmentation(
            pc, clusters="patient_id", metrics=["dice"], n_resamples=300, rng=rng
        )
        n = summarize_segmentation(pc, metrics=["dice"], n_resamples=300, rng=rng)
        cover_cluster += c.estimates["dice"].ci_low <= 0.8 <= c.estimates["dice"].ci_high
        cover_naive += n.estimates["dice"].ci_low <= 0.8 <= n.estimates["dice"].ci_high
    assert cover_cluster / N_SIM >= 0.91, cover_cluster / N_SIM
    # with strong within-patient correlation the case bootstrap is too narrow
    assert cover_naive / N_SIM < cover_cluster / N_SIM
