"""The failure-case gallery (R19): thumbnails of the model's errors, per weaker subgroup.

Opt-in (``report.gallery.enabled`` in the protocol). The runner calls
:func:`gallery_record` after the subgroup, detection and segmentation analyses; it
chooses the cases and renders their thumbnails from the DICOM pixels
(:mod:`validation.data.thumbnails`). What is shown is recorded in ``results.json``
(``gallery``: panels, lists, case ids, scores, each image's sha256); the images
themselves go to ``gallery.json`` in the study folder, committed with ``results.json``,
so the results document that CI systems and registries copy holds no pixels.

Panels, in order:

* one per pre-specified subgroup that is lower than the rest (the difference CI lies
  below zero and the runner marks it ``weaker``) or flagged, on any subgroup metric,
  largest gap first (``max_subgroups`` of them): its false negatives (lowest scores
  first) and false positives (highest scores first) at the locked threshold;
* all analysed cases (``all_cases``), the same two lists;
* detection: images with missed lesions (most missed first) and with false marks at
  the locked mark threshold (highest-scored false mark first), lesions and marks drawn;
* segmentation: the worst cases on the first primary segmentation metric (lowest
  overlap or largest distance first), reference and predicted contours drawn.

Every list is capped at ``max_cases``; ``n_total`` says how many there are. An image
that cannot be shown (``BurnedInAnnotation`` YES, an unreadable file) keeps its place
with the reason, and the run goes on.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from validation.data.dicom import read_header
from validation.data.thumbnails import (
    HIT_COLOUR,
    MODEL_COLOUR,
    REFERENCE_COLOUR,
    ImageNotShown,
    Overlay,
    display_image,
    thumbnail_png,
)
from validation.errors import InputError
from validation.io import resolve_inside
from validation.protocol.schema import Detection, GallerySettings, Segmentation, Subgroups
from validation.stats.detection import MatchingRule, match_detections
from validation.study.analyses import mask_pairs, subgroup_frame
from validation.study.dicom_masks import load_mask_pair
from validation.study.inputs import Cases
from validation.study.tables import read_predictions

__all__ = ["GALLERY_FILE", "GALLERY_SCHEMA", "PHI_WARNING", "empty_gallery", "gallery_record"]

GALLERY_FILE = "gallery.json"
GALLERY_SCHEMA = "radval.gallery/1"
PHI_WARNING = (
    "This report shows images of patients from the test set (the failure-case gallery, "
    "report.gallery in the protocol). Treat report.html, report.pdf and gallery.json as "
    "protected health information: share them only where the test set itself may be shared."
)
#: Overlap metrics (higher is better); the others are distances (lower is better).
_OVERLAP = ("dice", "iou", "nsd")


@dataclass
class _Images:
    """The thumbnails rendered so far (PNG bytes by sha256) and a cache per case view."""

    settings: GallerySettings
    root: Path
    data: dict[str, bytes] = field(default_factory=dict)
    seen: dict[tuple[Any, ...], dict[str, Any]] = field(default_factory=dict)

    def render(
        self,
        rel_path: str,
        key: tuple[Any, ...],
        overlays: Sequence[Overlay] = (),
        frame: int | None = None,
    ) -> dict[str, Any]:
        """``image, width, height, window, not_shown`` of one case's thumbnail."""
        if key in self.seen:
            return self.seen[key]
        out: dict[str, Any] = {
            "image": None,
            "width": None,
            "height": None,
            "window": None,
            "not_shown": None,
        }
        try:
            path = resolve_inside(self.root, rel_path, where="manifest column 'path'")
            shown = display_image(
                path, frame=frame, hide_unknown_burned_in=self.settings.hide_unknown_burned_in
            )
            png, (w, h) = thumbnail_png(shown, size=self.settings.thumbnail_px, overlays=overlays)
        except ImageNotShown as exc:
            out["not_shown"] = str(exc)
        except (InputError, OSError, ValueError) as exc:
            out["not_shown"] = f"the image could not be shown: {_without_path(str(exc), rel_path)}"
        else:
            digest = hashlib.sha256(png).hexdigest()
            self.data[digest] = png
            out.update(image=digest, width=w, height=h, window=shown.window)
        self.seen[key] = out
        return out


def _without_path(message: str, rel_path: str) -> str:
    """A reader's message without the file's location (reports name no paths)."""
    head, sep, tail = message.partition(": ")
    if sep and (head.endswith(Path(rel_path).name) or "/" in head or "\\" in head):
        return tail
    return message


def _num(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


# ---------------------------------------------------------------- classification panels


@dataclass(frozen=True)
class _Group:
    attribute: str
    group: str
    gap: float
    reasons: list[str]


def lower_groups(subgroups: Mapping[str, Any]) -> list[_Group]:
    """Pre-specified groups lower than the rest (stored ``weaker``, difference CI below
    zero) or flagged, on any metric, largest gap first."""
    found: dict[tuple[str, str], list[tuple[float, str]]] = {}
    for d in subgroups.get("disparity") or []:
        if not isinstance(d, Mapping) or d.get("status") != "ok" or not d.get("prespecified"):
            continue
        diff, hi = _num(d.get("difference")), _num(d.get("difference_ci_high"))
        lower = bool(d.get("weaker")) and hi is not None and hi < 0
        if not (lower or d.get("flagged")) or diff is None:
            continue
        flag = ", flagged" if d.get("flagged") else ""
        text = f"{d.get('metric')} {diff:+.3f} vs the rest{flag}"
        found.setdefault((str(d.get("attribute")), str(d.get("group"))), []).append(
            (abs(diff), text)
        )
    groups = [
        _Group(a, g, max(x for x, _ in items), [t for _, t in sorted(items, key=lambda i: -i[0])])
        for (a, g), items in found.items()
    ]
    return sorted(groups, key=lambda grp: (-grp.gap, grp.attribute, grp.group))


def _case(
    cid: str, error: str, truth: int | None, score: float | None, detail: str, image: dict
) -> dict[str, Any]:
    return {
        "case_id": cid,
        "error": error,
        "truth": truth,
        "score": score,
        "detail": detail,
        **image,
    }


def _classification_lists(
    frame: pd.DataFrame, y: np.ndarray, score: np.ndarray, threshold: float, images: _Images
) -> list[dict[str, Any]]:
    """False negatives (lowest score first) and false positives (highest first)."""
    ids = frame["case_id"].astype(str).to_numpy()
    paths = frame["path"].astype(str).to_numpy()
    limit = images.settings.max_cases
    out = []
    for error, title, sel, order in (
        ("false_negative", "False negatives", (y == 1) & (score < threshold), 1.0),
        ("false_positive", "False positives", (y == 0) & (score >= threshold), -1.0),
    ):
        idx = np.flatnonzero(sel)
        idx = idx[np.lexsort((ids[idx], order * score[idx]))]
        cases = []
        for i in idx[:limit]:
            relation = "<" if error == "false_negative" else ">="
            detail = f"score {score[i]:.3f} {relation} threshold {threshold:.3f}"
            image = images.render(paths[i], ("case", ids[i]))
            cases.append(_case(ids[i], error, int(y[i]), float(score[i]), detail, image))
        out.append({"error": error, "title": title, "n_total": int(idx.size), "cases": cases})
    return out


def _classification_panels(
    settings: GallerySettings,
    cases: Cases,
    threshold: float,
    sg: Subgroups | None,
    subgroups: Mapping[str, Any] | None,
    images: _Images,
) -> list[dict[str, Any]]:
    if cases.score is None:
        return []
    frame = cases.frame.reset_index(drop=True)
    y = np.asarray(cases.y_true).astype(int)
    score = np.asarray(cases.score, dtype=float)
    panels = []
    if sg is not None and subgroups is not None and settings.max_subgroups > 0:
        membership = subgroup_frame(frame, sg, intersections=True).reset_index(drop=True)
        for grp in lower_groups(subgroups)[: settings.max_subgroups]:
            if grp.attribute not in membership.columns:
                continue
            inside = (membership[grp.attribute].astype(str) == grp.group).to_numpy()
            panels.append(
                {
                    "kind": "subgroup",
                    "title": f"{grp.attribute}: {grp.group}",
                    "attribute": grp.attribute,
                    "group": grp.group,
                    "why": "Lower than the rest: " + "; ".join(grp.reasons) + ".",
                    "n_cases": int(inside.sum()),
                    "lists": _classification_lists(
                        frame[inside], y[inside], score[inside], threshold, images
                    ),
                }
            )
    if settings.all_cases:
        panels.append(
            {
                "kind": "all_cases",
                "title": "All analysed cases",
                "attribute": None,
                "group": None,
                "why": f"Errors of the model at the locked threshold {threshold:.3f}.",
                "n_cases": len(frame),
                "lists": _classification_lists(frame, y, score, threshold, images),
            }
        )
    return panels


# ---------------------------------------------------------------------------- detection


def _shape(row: Mapping[str, Any], colour: tuple[int, int, int], dashed: bool) -> Overlay | None:
    """A mark's or lesion's overlay from its geometry columns (box, centre + radius, point)."""
    box = [_num(row.get(k)) for k in ("x0", "y0", "x1", "y1")]
    if all(v is not None for v in box):
        return Overlay("box", colour, tuple(float(v or 0.0) for v in box), dashed=dashed)
    x, y, r = _num(row.get("x")), _num(row.get("y")), _num(row.get("radius"))
    if x is None or y is None:
        return None
    if r is not None:
        return Overlay("circle", colour, (x, y, r), dashed=dashed)
    return Overlay("point", colour, (x, y))


def _frame_of(rows: Sequence[Mapping[str, Any]]) -> int | None:
    """The slice (``z``) of the first object that has one: the frame shown of a volume."""
    for row in rows:
        for k0, k1 in (("z0", "z1"), ("z", "z")):
            lo, hi = _num(row.get(k0)), _num(row.get(k1))
            if lo is not None and hi is not None:
                return int(round((lo + hi) / 2))
    return None


def _on_frame(row: Mapping[str, Any], frame: int | None) -> bool:
    if frame is None:
        return True
    for k0, k1 in (("z0", "z1"), ("z", "z")):
        lo, hi = _num(row.get(k0)), _num(row.get(k1))
        if lo is not None and hi is not None:
            return lo - 0.5 <= frame <= hi + 0.5
    return True


def _detection_panel(
    det: Detection,
    tables: tuple[pd.DataFrame, pd.DataFrame],
    cases: Cases,
    images: _Images,
) -> dict[str, Any]:
    marks, lesions = tables
    case_ids = cases.frame["case_id"].astype(str).tolist()
    path_of = dict(zip(case_ids, cases.frame["path"].astype(str), strict=True))
    match = match_detections(
        marks, lesions, cases=case_ids, rule=MatchingRule(**det.rule.model_dump())
    )
    t = det.threshold
    counted = match.mark_score >= t
    fp = match.counted_fp & counted
    tp = (match.mark_status == "tp") & counted
    found = np.isfinite(match.lesion_score) & (match.lesion_score >= t)
    missed = ~found & ~match.lesion_ignore
    # the match keeps the input order of marks and of lesions: row j is mark (lesion) j
    mark_rows = marks.reset_index(drop=True).to_dict(orient="records")
    lesion_rows = lesions.reset_index(drop=True).to_dict(orient="records")
    mark_case = np.asarray(match.cases, dtype=object)[match.mark_case]
    lesion_case = np.asarray(match.cases, dtype=object)[match.lesion_case]

    def overlays(cid: str) -> tuple[list[Overlay], int | None]:
        objs: list[tuple[Mapping[str, Any], tuple[int, int, int], bool]] = []
        for j in np.flatnonzero((lesion_case == cid) & ~match.lesion_ignore):
            objs.append((lesion_rows[j], REFERENCE_COLOUR, bool(missed[j])))
        for j in np.flatnonzero((mark_case == cid) & (fp | tp)):
            objs.append((mark_rows[j], MODEL_COLOUR if fp[j] else HIT_COLOUR, False))
        frame = _frame_of([o[0] for o in objs if o[2] or o[1] == MODEL_COLOUR])
        shapes = [_shape(row, c, d) for row, c, d in objs if _on_frame(row, frame)]
        return [s for s in shapes if s is not None], frame

    limit = images.settings.max_cases
    n_missed = pd.Series(missed.astype(int)).groupby(lesion_case).sum()
    n_lesions = pd.Series((~match.lesion_ignore).astype(int)).groupby(lesion_case).sum()
    miss_cases = sorted((c for c, k in n_missed.items() if k > 0), key=lambda c: (-n_missed[c], c))
    fp_top = pd.Series(np.where(fp, match.mark_score, -np.inf)).groupby(mark_case).max()
    n_fp = pd.Series(fp.astype(int)).groupby(mark_case).sum()
    fp_cases = sorted((c for c, k in n_fp.items() if k > 0), key=lambda c: (-fp_top[c], c))
    lists = []
    for error, title, chosen in (
        ("missed_lesion", "Images with missed lesions", miss_cases),
        ("false_mark", "Images with false-positive marks", fp_cases),
    ):
        entries = []
        for cid in chosen[:limit]:
            drawn, frame = overlays(cid)
            image = images.render(path_of[cid], ("detection", cid), drawn, frame)
            if error == "missed_lesion":
                detail = (
                    f"{n_missed[cid]} of {n_lesions[cid]} lesion(s) missed at mark threshold {t:g}"
                )
                score = None
            else:
                detail = f"{n_fp[cid]} false mark(s) at or above {t:g}, highest {fp_top[cid]:.3f}"
                score = float(fp_top[cid])
            truth = int(n_lesions.get(cid, 0) > 0)
            entries.append(_case(cid, error, truth, score, detail, image))
        lists.append({"error": error, "title": title, "n_total": len(chosen), "cases": entries})
    return {
        "kind": "detection",
        "title": "Lesion detection",
        "attribute": None,
        "group": None,
        "why": (
            f"Misses and false marks at the locked mark threshold {t:g}. Drawn: lesions in sky "
            "blue (dashed when missed), marks that hit a lesion in green, false marks in "
            "vermillion."
        ),
        "n_cases": len(case_ids),
        "lists": lists,
    }


# ------------------------------------------------------------------------- segmentation


def _segmentation_panel(
    seg: Segmentation,
    record: Mapping[str, Any],
    predictions_path: Path,
    manifest_path: Path,
    cases: Cases,
    images: _Images,
) -> dict[str, Any]:
    primary = [e for e in seg.endpoints if e.role == "primary"] or list(seg.endpoints)
    metric = primary[0].metric
    rows = [
        r
        for r in record.get("per_case") or []
        if isinstance(r, Mapping) and _num(r.get(metric)) is not None
    ]
    higher_better = metric in _OVERLAP
    rows.sort(key=lambda r: ((1 if higher_better else -1) * float(r[metric]), str(r["case_id"])))
    chosen = {str(r["case_id"]): r for r in rows[: images.settings.max_cases]}
    frame = cases.frame.reset_index(drop=True)
    preds = read_predictions(predictions_path, seg.columns)
    pairs = {
        cid: (row, ref, pred)
        for row, cid, ref, pred in mask_pairs(seg, frame, preds, predictions_path, manifest_path)
        if cid in chosen
    }
    path_of = dict(zip(frame["case_id"].astype(str), frame["path"].astype(str), strict=True))
    entries = []
    for cid, r in chosen.items():
        _, ref_path, pred_path = pairs[cid]
        pred, ref, _, _ = load_mask_pair(
            ref_path, pred_path, seg, case_id=cid, ref_where=str(ref_path), pred_where=cid
        )
        drawn, frame_no, note = _contours(ref, pred, manifest_path.parent / path_of[cid])
        image = images.render(path_of[cid], ("segmentation", cid), drawn, frame_no)
        value = float(r[metric])
        detail = f"{metric} {value:.3f}" + (f"; {note}" if note else "")
        entries.append(_case(cid, "segmentation", None, value, detail, image))
    label = "Lowest" if higher_better else "Highest"
    return {
        "kind": "segmentation",
        "title": "Segmentation",
        "attribute": None,
        "group": None,
        "why": (
            f"The cases with the worst {metric} (primary segmentation metric). Drawn: the "
            "reference contour in sky blue, the predicted contour in vermillion."
        ),
        "n_cases": len(rows),
        "lists": [
            {
                "error": "segmentation",
                "title": f"{label} {metric}",
                "n_total": len(rows),
                "cases": entries,
            }
        ],
    }


def _contours(
    ref: np.ndarray, pred: np.ndarray, image_path: Path
) -> tuple[list[Overlay], int | None, str | None]:
    """Contours of the reference and the prediction on the image's grid (and the frame)."""
    try:
        header = read_header(image_path)
    except InputError:
        return [], None, None  # the image itself cannot be shown; render() says why
    shape = (header.rows, header.columns)
    frame = None
    if ref.ndim == 3 and header.frames == ref.shape[0]:
        frame = int(np.argmax(ref.reshape(ref.shape[0], -1).sum(axis=1)))
        ref, pred = ref[frame], pred[frame]
    if ref.shape != shape or pred.shape != shape:
        return (
            [],
            frame,
            f"contours not drawn: mask grid {ref.shape} differs from the image's {shape}",
        )
    return (
        [
            Overlay("contour", REFERENCE_COLOUR, mask=ref.astype(bool)),
            Overlay("contour", MODEL_COLOUR, mask=pred.astype(bool)),
        ],
        frame,
        None,
    )


# ---------------------------------------------------------------------------- the record


def gallery_bytes(images: Mapping[str, bytes]) -> bytes:
    """``gallery.json``: every thumbnail as base64 PNG keyed by its sha256 (sorted)."""
    doc = {
        "schema": GALLERY_SCHEMA,
        "images": {k: base64.b64encode(images[k]).decode("ascii") for k in sorted(images)},
    }
    return (json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n").encode("ascii")


def empty_gallery() -> bytes:
    """A ``gallery.json`` with no image (replaces an earlier run's when the gallery is off)."""
    return gallery_bytes({})


@dataclass(frozen=True)
class GalleryInputs:
    """What the gallery draws from: the analyses the runner already made."""

    cases: Cases
    manifest_path: Path
    threshold: float | None
    subgroups_spec: Subgroups | None = None
    subgroups: Mapping[str, Any] | None = None
    detection: Detection | None = None
    detection_tables: tuple[pd.DataFrame, pd.DataFrame] | None = None
    segmentation: Segmentation | None = None
    segmentation_record: Mapping[str, Any] | None = None
    segmentation_predictions: Path | None = None


def gallery_record(
    settings: GallerySettings, inputs: GalleryInputs
) -> tuple[dict[str, Any], bytes]:
    """The ``gallery`` block of ``results.json`` and the ``gallery.json`` bytes (R19)."""
    images = _Images(settings, inputs.manifest_path.parent)
    panels: list[dict[str, Any]] = []
    if inputs.threshold is not None:
        panels += _classification_panels(
            settings,
            inputs.cases,
            inputs.threshold,
            inputs.subgroups_spec,
            inputs.subgroups,
            images,
        )
    if inputs.detection is not None and inputs.detection_tables is not None:
        panels.append(
            _detection_panel(inputs.detection, inputs.detection_tables, inputs.cases, images)
        )
    if (
        inputs.segmentation is not None
        and inputs.segmentation_record is not None
        and inputs.segmentation_predictions is not None
    ):
        panels.append(
            _segmentation_panel(
                inputs.segmentation,
                inputs.segmentation_record,
                inputs.segmentation_predictions,
                inputs.manifest_path,
                inputs.cases,
                images,
            )
        )
    data = gallery_bytes(images.data)
    record = {
        "warning": PHI_WARNING,
        "threshold": inputs.threshold,
        "detection_threshold": inputs.detection.threshold if inputs.detection else None,
        "settings": settings.model_dump(),
        "file": GALLERY_FILE,
        "sha256": hashlib.sha256(data).hexdigest(),
        "n_images": len(images.data),
        "panels": panels,
    }
    return record, data
