"""The study runner bands ages with the one banding function of ``validation.stats``.

Issue 14: the runner labelled ``[18, 40, 65, 120]`` as ``"40-65"`` with an inclusive top edge
while ``subgroup_table`` labelled ``"40-64"`` right-open. Both now use
:func:`validation.stats.age_bands`; a value outside the edges is the group ``out_of_bands``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from validation.errors import InputError
from validation.protocol.schema import SubgroupAttribute
from validation.stats import age_band_labels, age_bands
from validation.study.analyses import derive_attribute


def test_runner_bands_are_the_stats_bands() -> None:
    edges = [18.0, 40.0, 65.0, 120.0]
    ages = [18, 39.5, 40, 64.99, 65, 119, 120, 17, None]
    frame = pd.DataFrame({"age": ages})
    got = derive_attribute(frame, SubgroupAttribute(column="age", name="age_band", bands=edges))
    assert got.name == "age_band"
    assert got.tolist() == [
        "18-39", "18-39", "40-64", "40-64", "65-119", "65-119",
        "out_of_bands", "out_of_bands", "unknown",
    ]  # fmt: skip
    assert set(got) - {"out_of_bands", "unknown"} == set(age_band_labels(edges))
    # slow twin: the right-open rule [b_i, b_(i+1)) written out
    for age, label in zip(ages, got, strict=True):
        if age is None:
            continue
        inside = [i for i in range(3) if edges[i] <= age < edges[i + 1]]
        assert label == (age_band_labels(edges)[inside[0]] if inside else "out_of_bands")
    values = np.array([a if a is not None else np.nan for a in ages], dtype=float)
    assert got.tolist() == age_bands(values, edges, outside="out_of_bands").tolist()


def test_runner_bands_fractional_edges_and_bad_value() -> None:
    frame = pd.DataFrame({"age": [90, 30, 40.5]})
    attr = SubgroupAttribute(column="age", bands=[0, 40.5, 150])
    assert derive_attribute(frame, attr).tolist() == ["[40.5, 150)", "[0, 40.5)", "[40.5, 150)"]
    with pytest.raises(InputError) as err:
        derive_attribute(pd.DataFrame({"age": [30, "old"]}), attr)
    assert (
        str(err.value) == "manifest: row 2, field 'age': expected a number for bands, found 'old'"
    )
