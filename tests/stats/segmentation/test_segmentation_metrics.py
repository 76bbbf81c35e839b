"""Segmentation metrics against MONAI's reference values, MONAI itself and a brute-force twin.

References: MONAI 1.6 ``tests/metrics/test_hausdorff_distance.py`` and
``test_surface_distance.py``: spheres of radius 20 and 40 centred at (20, 33, 22)
in a 99^3 grid -> symmetric Hausdorff 20.223748416156685, symmetric HD95
20.09975124224178, symmetric average surface distance 15.117741; with spacing
(0.85, 1.2, 0.9): radius 20 at (20, 20, 20) vs (19, 19, 19) -> HD 2.2671568,
radius 15 vs 30 at (20, 33, 22) -> HD 15.62594.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from validation.errors import UndefinedMetricError
from validation.stats import EmptyMaskPolicy, segmentation_metrics

POLICY = EmptyMaskPolicy(both_empty="best", reference_empty="worst", prediction_empty="worst")


def sphere(radius: float, centre: tuple, shape=(99, 99, 99), spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    a, b, c = np.ogrid[: shape[0], : shape[1], : shape[2]]
    d2 = (
        (a * spacing[0] - centre[0]) ** 2
        + (b * spacing[1] - centre[1]) ** 2
        + (c * spacing[2] - centre[2]) ** 2
    )
    return d2 <= radius * radius


def test_monai_sphere_reference_values() -> None:
    df = segmentation_metrics(
        [sphere(20, (20, 33, 22))],
        [sphere(40, (20, 33, 22))],
        spacing=1.0,
        empty_policy=POLICY,
        metrics=("hausdorff", "hd95", "assd"),
    )
    assert df.loc[0, "hausdorff"] == pytest.approx(20.223748416156685, rel=1e-6)
    assert df.loc[0, "hd95"] == pytest.approx(20.09975124224178, rel=1e-6)
    assert df.loc[0, "assd"] == pytest.approx(15.117741, rel=1e-5)
    sp = (0.85, 1.2, 0.9)
    df = segmentation_metrics(
        [sphere(20, (20, 20, 20), spacing=sp), sphere(15, (20, 33, 22), spacing=sp)],
        [sphere(20, (19, 19, 19), spacing=sp), sphere(30, (20, 33, 22), spacing=sp)],
        spacing=sp,
        empty_policy=POLICY,
        metrics=("hausdorff",),
    )
    np.testing.assert_allclose(df["hausdorff"], [2.2671568, 15.62594], rtol=1e-6)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_equal_to_monai_compute_functions() -> None:
    import torch
    from monai.metrics import (
        compute_average_surface_distance,
        compute_dice,
        compute_hausdorff_distance,
        compute_iou,
        compute_surface_dice,
    )

    rng = np.random.default_rng(7)
    for dims, sp in (((24, 20, 16), (0.7, 1.1, 2.5)), ((40, 36), (0.5, 0.8))):
        pred = rng.uniform(size=dims) < 0.15
        ref = np.zeros(dims, bool)
        ref[tuple(slice(3, d - 4) for d in dims)] = True
        ref &= rng.uniform(size=dims) < 0.9
        df = segmentation_metrics(
            [pred], [ref], spacing=sp, empty_policy=POLICY, tolerance_mm=1.5, percentile=90
        )
        p = torch.as_tensor(pred[None, None].astype(np.float32))
        r = torch.as_tensor(ref[None, None].astype(np.float32))
        kw = {"include_background": True}
        assert df.loc[0, "dice"] == pytest.approx(float(compute_dice(p, r, **kw)), rel=1e-6)
        assert df.loc[0, "iou"] == pytest.approx(float(compute_iou(p, r, **kw)), rel=1e-6)
        assert df.loc[0, "hausdorff"] == pytest.approx(
            float(compute_hausdorff_distance(p, r, spacing=sp, **kw)), rel=1e-6
        )
        assert df.loc[0, "hd95"] == pytest.approx(
            float(compute_hausdorff_distance(p, r, spacing=sp, percentile=90, **kw)), rel=1e-5
        )
        assert df.loc[0, "assd"] == pytest.approx(
            float(compute_average_surface_distance(p, r, spacing=sp, symmetric=True, **kw)),
            rel=1e-5,
        )
        assert df.loc[0, "nsd"] == pytest.approx(
            float(compute_surface_dice(p, r, class_thresholds=[1.5], spacing=sp, **kw)), rel=1e-6
        )


# ------------------------------------------------------------------ brute-force twin


def _edges(m: np.ndarray) -> list[tuple]:
    """Foreground voxels with a face neighbour outside the mask or off the image."""
    out = []
    for idx in itertools.product(*(range(s) for s in m.shape)):
        if not m[idx]:
            continue
        for ax in range(m.ndim):
            for step in (-1, 1):
                nb = list(idx)
                nb[ax] += step
                if not 0 <= nb[ax] < m.shape[ax] or not m[tuple(nb)]:
                    out.append(idx)
                    break
            else:
                continue
            break
    return out


def _directed(a: list[tuple], b: list[tuple], sp: tuple) -> list[float]:
    return [
        min(
            math.dist(
                [x * s for x, s in zip(p, sp, strict=True)],
                [y * s for y, s in zip(q, sp, strict=True)],
            )
            for q in b
        )
        for p in a
    ]


def _slow(pred: np.ndarray, ref: np.ndarray, sp: tuple, tol: float, pct: float) -> dict[str, float]:
    inter = int((pred & ref).sum())
    n_p, n_r = int(pred.sum()), int(ref.sum())
    ep, er = _edges(pred), _edges(ref)
    d1, d2 = _directed(ep, er, sp), _directed(er, ep, sp)
    return {
        "dice": 2 * inter / (n_p + n_r),
        "iou": inter / (n_p + n_r - inter),
        "hausdorff": max(max(d1), max(d2)),
        "hd95": max(float(np.percentile(d1, pct)), float(np.percentile(d2, pct))),
        "assd": (sum(d1) + sum(d2)) / (len(d1) + len(d2)),
        "masd": (sum(d1) / len(d1) + sum(d2) / len(d2)) / 2,
        "nsd": (sum(d <= tol for d in d1) + sum(d <= tol for d in d2)) / (len(d1) + len(d2)),
    }


@settings(max_examples=40, deadline=None)
@given(
    arrays(bool, st.sampled_from([(5, 6), (7, 4), (3, 4, 5)]), elements=st.booleans()),
    st.data(),
    st.sampled_from([(1.0, 1.0, 1.0), (0.5, 2.0, 1.5)]),
    st.sampled_from([95.0, 50.0, 100.0]),
)
def test_matches_brute_force_twin(
    pred: np.ndarray, data: st.DataObject, sp3: tuple, pct: float
) -> None:
    ref = data.draw(arrays(bool, pred.shape, elements=st.booleans()))
    sp = sp3[: pred.ndim]
    df = segmentation_metrics(
        [pred], [ref], spacing=sp, empty_policy=POLICY, tolerance_mm=1.0, percentile=pct
    )
    row = df.iloc[0]
    if pred.any() and ref.any():
        assert row["status"] == "both_present"
        for k, v in _slow(pred, ref, sp, 1.0, pct).items():
            assert row[k] == pytest.approx(v, rel=1e-5, abs=1e-6), k
    else:
        assert row["status"] in ("both_empty", "reference_empty", "prediction_empty")


# ------------------------------------------------------------------ empty-mask policy


def _cases() -> tuple[list[np.ndarray], list[np.ndarray]]:
    full = np.zeros((10, 10), bool)
    full[2:5, 2:5] = True
    empty = np.zeros((10, 10), bool)
    return [full, empty, full, empty], [
        full,
        empty,
        empty,
        full,
    ]  # present, both, ref-empty, pred-empty


def test_policy_best_worst_values() -> None:
    p, r = _cases()
    pol = EmptyMaskPolicy(both_empty="best", reference_empty="worst", prediction_empty="worst")
    df = segmentation_metrics(
        p, r, spacing=(0.5, 2.0), empty_policy=pol, tolerance_mm=1.0, case_ids=list("abcd")
    )
    assert df["status"].tolist() == [
        "both_present",
        "both_empty",
        "reference_empty",
        "prediction_empty",
    ]
    assert df.loc[1, ["dice", "iou", "nsd", "hausdorff", "hd95", "assd", "masd"]].tolist() == [
        1,
        1,
        1,
        0,
        0,
        0,
        0,
    ]
    diag = math.hypot(10 * 0.5, 10 * 2.0)
    for i in (2, 3):
        assert df.loc[i, ["dice", "iou", "nsd"]].tolist() == [0, 0, 0]
        assert df.loc[i, ["hausdorff", "hd95", "assd", "masd"]].tolist() == pytest.approx(
            [diag] * 4
        )
    assert not df["excluded"].any() and df[["dice", "hausdorff"]].notna().all().all()
    pol2 = EmptyMaskPolicy(
        both_empty="worst",
        reference_empty="worst",
        prediction_empty="worst",
        worst_distance_mm=99.0,
    )
    df = segmentation_metrics(p, r, spacing=1.0, empty_policy=pol2, metrics=("dice", "hd95"))
    assert df["hd95"].tolist()[1:] == [99.0, 99.0, 99.0] and df["dice"].tolist()[1:] == [
        0.0,
        0.0,
        0.0,
    ]


def test_policy_exclude_is_flagged_and_error_names_case() -> None:
    p, r = _cases()
    pol = EmptyMaskPolicy(both_empty="exclude", reference_empty="exclude", prediction_empty="worst")
    df = segmentation_metrics(p, r, spacing=1.0, empty_policy=pol, metrics=("dice", "hausdorff"))
    assert df["excluded"].tolist() == [False, True, True, False]
    assert df["dice"].isna().tolist() == [False, True, True, False]
    assert df.attrs["empty_policy"]["both_empty"] == "exclude"
    pol_err = EmptyMaskPolicy(both_empty="best", reference_empty="worst", prediction_empty="error")
    with pytest.raises(
        UndefinedMetricError,
        match="case 'd': prediction empty and the empty-mask policy says 'error'",
    ):
        segmentation_metrics(
            p, r, spacing=1.0, empty_policy=pol_err, case_ids=list("abcd"), metrics=("dice",)
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"both_empty": "skip", "reference_empty": "worst", "prediction_empty": "worst"},
            "both_empty must be one of",
        ),
        (
            {"both_empty": "best", "reference_empty": "best", "prediction_empty": "worst"},
            "reference_empty must be one of",
        ),
        (
            {"both_empty": "best", "reference_empty": "worst", "prediction_empty": "zero"},
            "prediction_empty must be one of",
        ),
        (
            {
                "both_empty": "best",
                "reference_empty": "worst",
                "prediction_empty": "worst",
                "worst_distance_mm": -1.0,
            },
            "positive",
        ),
    ],
)
def test_policy_validation(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EmptyMaskPolicy(**kwargs)


def test_bad_inputs() -> None:
    a = np.zeros((4, 4), bool)
    a[1, 1] = True
    with pytest.raises(ValueError, match="metric 'nsd' needs tolerance_mm"):
        segmentation_metrics([a], [a], spacing=1.0, empty_policy=POLICY)
    with pytest.raises(ValueError, match="metrics must be a non-empty subset"):
        segmentation_metrics([a], [a], spacing=1.0, empty_policy=POLICY, metrics=("hd99",))
    with pytest.raises(ValueError, match=r"ref_masks\[0\] must be a binary mask \(0/1\), found 2"):
        segmentation_metrics(
            [a], [a.astype(int) * 2], spacing=1.0, empty_policy=POLICY, metrics=("dice",)
        )
    with pytest.raises(ValueError, match="prediction shape"):
        segmentation_metrics([a], [a[:3]], spacing=1.0, empty_policy=POLICY, metrics=("dice",))
    with pytest.raises(ValueError, match="spacing of case 0 must be 2 positive numbers"):
        segmentation_metrics([a], [a], spacing=(1.0, 0.0), empty_policy=POLICY, metrics=("dice",))
    with pytest.raises(TypeError, match="empty_policy must be an EmptyMaskPolicy"):
        segmentation_metrics([a], [a], spacing=1.0, empty_policy="best", metrics=("dice",))  # type: ignore[arg-type]


def test_per_case_spacing_and_shapes_and_threads() -> None:
    a = np.zeros((6, 6), bool)
    a[1:3, 1:3] = True
    b = np.zeros((5, 7, 4), bool)
    b[1:3, 1:4, 1:3] = True
    b2 = np.roll(b, 1, axis=1)
    df = segmentation_metrics(
        [a, b],
        [np.roll(a, 1, axis=0), b2],
        spacing=[(2.0, 1.0), (1.0, 3.0, 1.0)],
        empty_policy=POLICY,
        metrics=("hausdorff",),
    )
    assert df["hausdorff"].tolist() == [2.0, 3.0]
    df2 = segmentation_metrics(
        [a, b],
        [np.roll(a, 1, axis=0), b2],
        spacing=[(2.0, 1.0), (1.0, 3.0, 1.0)],
        empty_policy=POLICY,
        metrics=("hausdorff",),
        n_jobs=2,
    )
    assert df2["hausdorff"].tolist() == [2.0, 3.0]


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_subvoxel_nsd_equals_monai_use_subvoxels() -> None:
    import torch
    from monai.metrics import compute_surface_dice

    rng = np.random.default_rng(11)
    for dims, sp in (((20, 18, 14), (0.7, 1.1, 2.5)), ((30, 26), (0.5, 0.8))):
        ref = np.zeros(dims, bool)
        ref[tuple(slice(3, d - 4) for d in dims)] = True
        pred = np.roll(ref, 2, axis=0) | (rng.uniform(size=dims) < 0.02)
        df = segmentation_metrics(
            [pred],
            [ref],
            spacing=sp,
            empty_policy=POLICY,
            metrics=("nsd",),
            tolerance_mm=1.2,
            nsd_subvoxels=True,
        )
        expected = compute_surface_dice(
            torch.as_tensor(pred[None, None]),
            torch.as_tensor(ref[None, None]),
            class_thresholds=[1.2],
            include_background=True,
            spacing=list(sp),
            use_subvoxels=True,
        )
        assert df.loc[0, "nsd"] == pytest.approx(float(expected.reshape(-1)[0]), rel=1e-6)
        assert df.attrs["nsd_subvoxels"] is True


def test_policy_explicit_values() -> None:
    p, r = _cases()
    pol = EmptyMaskPolicy(
        both_empty={"dice": 1.0, "hd95": 0.0},
        reference_empty={"dice": 0.0, "hd95": 50.0},
        prediction_empty="exclude",
    )
    df = segmentation_metrics(p, r, spacing=1.0, empty_policy=pol, metrics=("dice", "hd95"))
    assert df["dice"].tolist()[:3] == [1.0, 1.0, 0.0] and df["hd95"].tolist()[1:3] == [0.0, 50.0]
    assert df["excluded"].tolist() == [False, False, False, True]
    assert pol.to_dict()["reference_empty"] == {"dice": 0.0, "hd95": 50.0}
    with pytest.raises(ValueError, match=r"empty_policy.both_empty gives no value for \['assd'\]"):
        segmentation_metrics(p, r, spacing=1.0, empty_policy=pol, metrics=("dice", "assd"))
    with pytest.raises(ValueError, match=r"both_empty\['dice'\] must be \[0, 1\]"):
        EmptyMaskPolicy(both_empty={"dice": 2.0}, reference_empty="worst", prediction_empty="worst")
    with pytest.raises(ValueError, match="unknown metric 'hd99'"):
        EmptyMaskPolicy(both_empty="best", reference_empty={"hd99": 1.0}, prediction_empty="worst")
