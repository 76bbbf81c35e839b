"""CaseTable.require_labels: the labels, or a ManifestError naming the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from validation.errors import ManifestError
from validation.modeling.datamodule import CaseTable


def _table(labels: tuple[int, ...] | None) -> CaseTable:
    return CaseTable(
        source=Path("data/train.csv"),
        case_ids=("a", "b"),
        paths=("/x/a.dcm", "/x/b.dcm"),
        rows=(2, 3),
        labels=labels,
    )


def test_require_labels_returns_the_labels() -> None:
    assert _table((0, 1)).require_labels() == (0, 1)
    assert _table((0, 1)).subset([1]).require_labels() == (1,)


def test_require_labels_refuses_a_table_read_without_labels() -> None:
    with pytest.raises(ManifestError) as info:
        _table(None).require_labels()
    assert str(info.value) == (
        "data/train.csv: expected a labelled manifest (training, validation or tuning), "
        "found one read without labels"
    )
