"""Surface distances at float64 precision and NSD decided exactly at the tolerance.

Issue 13: MONAI returns surface distances in float32, so with tau = 0.3, 0.6 or 1.2 mm
(float32(tau) > tau) every boundary point exactly at the tolerance was dropped: a
prediction shifted by two 0.6 mm voxels had NSD 0.8 at tau = 1.2 mm instead of 1.0.

Evidence here:

* an exact twin: boundary voxels by scipy's erosion (medpy's definition), squared
  distances as rationals from the decimal spacings, NSD by exact comparison with tau^2;
* reference values from medpy 0.5.2 (``medpy.metric.binary.hd``, ``assd``) and DeepMind
  surface-distance 0.1 (PyPI wheel ``surface_distance-0.1``:
  ``compute_surface_distances(ref, pred, spacing)`` then
  ``compute_surface_dice_at_tolerance(sds, tau)`` and ``compute_robust_hausdorff(sds,
  100)``), computed once on this machine for the three cases of :func:`_cases` and copied
  here; neither package is a radval dependency.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from validation.stats import EmptyMaskPolicy, segmentation_metrics

POLICY = EmptyMaskPolicy(both_empty="best", reference_empty="worst", prediction_empty="worst")
ALL = ("hausdorff", "hd95", "assd", "masd", "nsd")


def _cases() -> list[tuple[np.ndarray, np.ndarray, tuple[float, ...], float]]:
    ref = np.zeros((14, 13, 7), bool)
    ref[3:10, 3:9, 2:5] = True
    pred = np.roll(ref, 2, axis=0)
    z, y, x = np.mgrid[:20, :22, :9]
    ref2 = ((z - 9) / 6) ** 2 + ((y - 11) / 7) ** 2 + ((x - 4) / 3) ** 2 < 1
    pred2 = ((z - 10) / 6) ** 2 + ((y - 10) / 6) ** 2 + ((x - 4) / 3) ** 2 < 1
    ref3 = np.zeros((30, 30), bool)
    ref3[5:20, 6:25] = True
    pred3 = np.zeros((30, 30), bool)
    pred3[7:22, 4:23] = True
    return [
        (pred, ref, (0.6, 0.6, 3.0), 1.2),
        (pred2, ref2, (0.3, 0.6, 1.2), 0.6),
        (pred3, ref3, (0.6, 0.3), 0.6),
    ]


# medpy 0.5.2 and DeepMind surface-distance 0.1 on _cases() (see the module docstring)
MEDPY_HD = [1.2, 1.2369316876852983, 1.3416407864998738]
MEDPY_ASSD = [0.31698113207547163, 0.21948089316887251, 0.86917344705639099]
DEEPMIND_NSD = [1.0, 0.94190226889702877, 0.62438824828754214]
DEEPMIND_HD100 = [1.2, 1.2369316876852983, 1.3416407864998738]


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_nsd_counts_points_exactly_at_the_tolerance() -> None:
    """Spacing 0.6 mm, tau 1.2 mm, a two-voxel shift: every boundary point is at or within
    1.2 mm, so NSD is 1 (radval gave 0.8); MONAI's own compute_surface_dice agrees."""
    import torch
    from monai.metrics import compute_surface_dice

    pred, ref, sp, tau = _cases()[0]
    df = segmentation_metrics([pred], [ref], spacing=sp, empty_policy=POLICY, tolerance_mm=tau)
    assert df.loc[0, "nsd"] == 1.0
    assert df.loc[0, "hausdorff"] == 1.2  # float64, not float32's 1.2000000476837158
    sub = segmentation_metrics(
        [pred],
        [ref],
        spacing=sp,
        empty_policy=POLICY,
        metrics=("nsd",),
        tolerance_mm=tau,
        nsd_subvoxels=True,
    )
    assert sub.loc[0, "nsd"] == 1.0
    monai = compute_surface_dice(
        torch.as_tensor(pred[None, None]),
        torch.as_tensor(ref[None, None]),
        class_thresholds=[tau],
        include_background=True,
        spacing=list(sp),
    )
    assert float(monai.reshape(-1)[0]) == 1.0


@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.parametrize("i", range(3))
def test_medpy_and_deepmind_reference_values(i: int) -> None:
    pred, ref, sp, tau = _cases()[i]
    df = segmentation_metrics([pred], [ref], spacing=sp, empty_policy=POLICY, tolerance_mm=tau)
    assert df.loc[0, "hausdorff"] == pytest.approx(MEDPY_HD[i], rel=1e-14)
    assert df.loc[0, "hausdorff"] == pytest.approx(DEEPMIND_HD100[i], rel=1e-14)
    assert df.loc[0, "assd"] == pytest.approx(MEDPY_ASSD[i], rel=1e-14)
    sub = segmentation_metrics(
        [pred],
        [ref],
        spacing=sp,
        empty_policy=POLICY,
        metrics=("nsd",),
        tolerance_mm=tau,
        nsd_subvoxels=True,
    )
    # MONAI's surface-element area table is float32: agreement to ~1e-9, not 1e-15
    assert sub.loc[0, "nsd"] == pytest.approx(DEEPMIND_NSD[i], rel=1e-8)


# ------------------------------------------------------------------ exact rational twin


def _boundary(m: np.ndarray) -> np.ndarray:
    """Foreground voxels that erosion removes (medpy's and MONAI's boundary)."""
    return np.argwhere(m & ~ndimage.binary_erosion(m, border_value=0))


def _exact_directed(a: np.ndarray, b: np.ndarray, sp: tuple[Fraction, ...]) -> list[Fraction]:
    """Squared distance from each point of ``a`` to the nearest of ``b``, as a rational."""
    return [
        min(
            sum((Fraction(int(x) - int(y)) * s) ** 2 for x, y, s in zip(p, q, sp, strict=True))
            for q in b
        )
        for p in a
    ]


def _exact(
    pred: np.ndarray, ref: np.ndarray, sp: tuple[float, ...], tau: float, pct: float
) -> dict[str, float]:
    spf = tuple(Fraction(repr(s)) for s in sp)
    t2 = Fraction(repr(tau)) ** 2
    ep, er = _boundary(pred), _boundary(ref)
    d1, d2 = _exact_directed(ep, er, spf), _exact_directed(er, ep, spf)
    f1 = np.sqrt(np.array([float(x) for x in d1]))
    f2 = np.sqrt(np.array([float(x) for x in d2]))
    return {
        "hausdorff": max(f1.max(), f2.max()),
        "hd95": max(float(np.percentile(f1, pct)), float(np.percentile(f2, pct))),
        "assd": float(np.concatenate([f1, f2]).mean()),
        "masd": float((f1.mean() + f2.mean()) / 2),
        "nsd": (sum(x <= t2 for x in d1) + sum(x <= t2 for x in d2)) / (len(d1) + len(d2)),
    }


SPACINGS = [(0.6, 0.6, 1.2), (0.3, 0.6, 1.2), (0.1, 0.2, 0.3), (0.6, 0.3, 0.9)]


@settings(max_examples=60, deadline=None)
@given(
    arrays(bool, st.sampled_from([(6, 7), (5, 4, 6), (3, 8, 4)]), elements=st.booleans()),
    st.data(),
    st.sampled_from(SPACINGS),
    st.sampled_from([0.3, 0.6, 0.9, 1.2, 0.5]),
    st.sampled_from([95.0, 50.0]),
)
def test_matches_exact_rational_twin(
    pred: np.ndarray, data: st.DataObject, sp3: tuple, tau: float, pct: float
) -> None:
    ref = data.draw(arrays(bool, pred.shape, elements=st.booleans()))
    if not (pred.any() and ref.any()):
        return
    sp = sp3[: pred.ndim]
    df = segmentation_metrics(
        [pred],
        [ref],
        spacing=sp,
        empty_policy=POLICY,
        metrics=ALL,
        tolerance_mm=tau,
        percentile=pct,
    )
    want = _exact(pred, ref, sp, tau, pct)
    assert df.loc[0, "nsd"] == want["nsd"]  # exact: no point lost or gained at tau
    for k in ("hausdorff", "hd95", "assd", "masd"):
        assert df.loc[0, k] == pytest.approx(want[k], rel=1e-13, abs=1e-15), k


def test_lattice_point_just_beyond_the_tolerance_is_not_counted() -> None:
    """A distance a hair above tau (sqrt(0.09 + 0.01) > 0.3162277) stays out; exactly
    sqrt(0.1) counts with tau written as its float."""
    ref = np.zeros((6, 6), bool)
    ref[2, 2] = True
    pred = np.zeros((6, 6), bool)
    pred[3, 3] = True  # offset (1, 1) at spacing (0.3, 0.1): d^2 = 0.1
    d = math.sqrt(0.1)
    for tau, want in ((0.316227, 0.0), (d, 1.0), (0.3162278, 1.0)):
        df = segmentation_metrics(
            [pred],
            [ref],
            spacing=(0.3, 0.1),
            empty_policy=POLICY,
            metrics=("nsd",),
            tolerance_mm=tau,
        )
        assert df.loc[0, "nsd"] == want, tau
