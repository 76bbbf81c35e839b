"""The tuning split: patients held out of training to choose the operating threshold on.

:func:`split_tuning` divides a training manifest into a training part and a tuning part
(``operating_point.select`` of a model spec). The unit is the patient, widened to keep
together everything that could leak between the parts: cases sharing a ``patient_id``,
a ``study_uid`` or an image ``sha256`` always land on the same side. The split is
stratified by whether a unit has a positive case, so both parts keep the training
prevalence, and it depends only on the manifest's content and the seed (not on row
order).

:func:`case_list_sha256` fingerprints a set of cases (the model card records it for the
tuning split, so anyone holding the manifest can rebuild and check the split).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from validation.errors import ManifestError
from validation.io import sha256_bytes

__all__ = ["TuningSplit", "case_list_sha256", "split_tuning"]

#: Columns whose shared values tie cases together (never split across the parts).
GROUPING_COLUMNS = ("patient_id", "study_uid", "sha256")


@dataclass(frozen=True)
class TuningSplit:
    """Row positions (into the manifest frame) of the training and the tuning part.

    Attributes
    ----------
    train_index, tuning_index : tuple of int
        Row positions, ascending; disjoint, together every row.
    n_units : int
        Units (patients, merged over shared studies and images) in the manifest.
    n_tuning_units : int
        Units in the tuning part.
    grouped_by : tuple of str
        The columns that tied cases together.
    """

    train_index: tuple[int, ...]
    tuning_index: tuple[int, ...]
    n_units: int
    n_tuning_units: int
    grouped_by: tuple[str, ...]


def case_list_sha256(case_ids: Iterable[str]) -> str:
    """sha256 of the sorted case IDs, one per line (UTF-8, each line ending in ``\\n``)."""
    text = "".join(f"{c}\n" for c in sorted(str(c) for c in case_ids))
    return sha256_bytes(text.encode("utf-8"))


def _units(frame: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Connected components of rows sharing a non-empty value in any of ``columns``."""
    n = len(frame)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for col in columns:
        first: dict[str, int] = {}
        for i, value in enumerate(frame[col].tolist()):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            key = str(value).strip()
            if not key:
                continue
            j = first.setdefault(key, i)
            if j != i:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def split_tuning(
    frame: pd.DataFrame,
    *,
    positive: Sequence[bool] | np.ndarray,
    fraction: float,
    seed: int,
    source: str = "training manifest",
) -> TuningSplit:
    """Hold out a patient-grouped, class-stratified tuning part of a training manifest.

    Parameters
    ----------
    frame : DataFrame
        The manifest rows (``case_id``, ``patient_id``; ``study_uid`` and ``sha256`` are
        used when present).
    positive : sequence of bool
        Per row: the case is positive (the model's positive class).
    fraction : float
        Share of units (patients) to hold out, in (0, 1); rounded per stratum, at least
        one unit per stratum and at least one left for training.
    seed : int
        Seed of the random draw.
    source : str
        How to name the manifest in error messages.

    Returns
    -------
    TuningSplit

    Raises
    ------
    ManifestError
        Fewer than two units with a positive case, or fewer than two without one: the
        split cannot leave both classes on both sides.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    pos = np.asarray(positive, dtype=bool)
    if pos.shape != (len(frame),):
        raise ValueError(f"positive must have one entry per row ({len(frame)}), got {pos.shape}")
    columns = tuple(c for c in GROUPING_COLUMNS if c in frame.columns)
    comp = _units(frame, columns)
    roots = np.unique(comp)
    # a unit's stable name: its smallest case_id (independent of row order)
    ids = pd.Series([str(c) for c in frame["case_id"]], index=comp)
    names = {int(k): str(v) for k, v in ids.groupby(level=0).min().items()}
    unit_pos = {
        int(k): bool(v) for k, v in pd.Series(pos, index=comp).groupby(level=0).any().items()
    }
    rng = np.random.default_rng(int(seed))
    chosen: set[int] = set()
    for stratum, label in ((True, "with"), (False, "without")):
        units = sorted((r for r in unit_pos if unit_pos[r] is stratum), key=lambda r: names[r])
        if len(units) < 2:
            raise ManifestError(
                f"{source}: the tuning split needs at least 2 patients {label} a positive case "
                f"(one for training, one for tuning), found {len(units)}"
            )
        k = min(max(1, round(fraction * len(units))), len(units) - 1)
        order = rng.permutation(len(units))
        chosen.update(units[i] for i in order[:k])
    is_tuning = np.isin(comp, np.fromiter(chosen, dtype=np.int64))
    return TuningSplit(
        train_index=tuple(int(i) for i in np.flatnonzero(~is_tuning)),
        tuning_index=tuple(int(i) for i in np.flatnonzero(is_tuning)),
        n_units=int(roots.size),
        n_tuning_units=len(chosen),
        grouped_by=columns,
    )
