"""The failure-case gallery end to end (issue 19, R19): real synthetic DICOM, a real run.

The test set is :func:`validation.data.synthetic.generate_synthetic_dataset` (real DICOM
files in five transfer syntaxes, MONOCHROME1 on one scanner, NIfTI masks, lesion boxes).
Scores, marks and predicted masks are made here so that every expected gallery entry is
known independently of the gallery code: the false negatives and false positives are
recomputed with pandas from the scores, the missed lesions and false marks follow from
how the marks were placed, and the worst segmentations from how the masks were shifted.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd
import pydicom
import pytest
from PIL import Image

from validation import audit
from validation.data.synthetic import generate_synthetic_dataset
from validation.data.thumbnails import HIT_COLOUR, MODEL_COLOUR, REFERENCE_COLOUR
from validation.protocol.lock import lock_protocol
from validation.report.render import render_html
from validation.study import run_study

THRESHOLD = 0.5
MARK_THRESHOLD = 0.5
N_CASES = 48

PROTOCOL = """version: 1
study:
  id: gallery-test
  title: Gallery test
  version: "1.0"
  intended_use: Test.
  population: Synthetic adults.
  intended_users: Testers.
  device_inputs: Chest radiograph.
  device_outputs: A score.
test_set:
  manifest: ../data/manifest.csv
  label_column: label
  cluster_column: patient_id
model:
  name: test-model
  scores: ../scores/scores.csv
  threshold: {threshold}
endpoints:
  - id: sens
    role: primary
    metric: sensitivity
    ci: {{method: wilson}}
    accept: {{bound: ci_low, op: ">=", value: 0.01}}
subgroups:
  metrics: [sensitivity, specificity]
  attributes:
    - column: manufacturer
  guardrails: {{min_n: 5, min_positives: 1, min_negatives: 1}}
  multiplicity: none
detection:
  marks: ../scores/marks.csv
  lesions: ../data/lesions.csv
  rule: {{criterion: center_in_box}}
  threshold: {mark_threshold}
  endpoints:
    - id: lesion_sens
      role: secondary
      metric: sensitivity
segmentation:
  predictions: ../scores/seg/predictions.csv
  empty_policy: {{both_empty: best, reference_empty: worst, prediction_empty: worst}}
  endpoints:
    - id: dice
      role: primary
      metric: dice
      accept: {{bound: ci_low, op: ">=", value: 0.0}}
seed: 11
n_resamples: 200
{report}"""

GALLERY = """report:
  gallery: {enabled: true, max_cases: 4, thumbnail_px: 128}
"""


def _scores(frame: pd.DataFrame) -> np.ndarray:
    """Scores with a clear signal and a Borealis weakness (lower scores on its positives,
    higher on its negatives), so that Borealis is lower than the rest."""
    rng = np.random.default_rng(4)
    y = frame["label"].to_numpy()
    borealis = (frame["manufacturer"] == "Borealis Imaging").to_numpy()
    latent = 1.8 * y - 0.9 + rng.normal(0, 0.8, len(y))
    latent = np.where(borealis, latent - 1.6 * y + 1.2 * (1 - y), latent)
    return np.round(1 / (1 + np.exp(-latent)), 6)


def _marks(lesions: pd.DataFrame, cases: list[str]) -> tuple[pd.DataFrame, set[str], set[str]]:
    """A hit on every lesion of all but every third positive case (those are missed);
    one false mark (score 0.9) on every fifth case; a low-scored false mark (below the
    mark threshold) on every case, which must not count."""
    rows: list[dict[str, Any]] = []
    missed: set[str] = set()
    positives = sorted(lesions["case_id"].unique())
    for k, cid in enumerate(positives):
        if k % 3 == 0:
            missed.add(cid)
            continue
        for r in lesions[lesions["case_id"] == cid].itertuples():
            cx, cy = (r.x0 + r.x1) / 2, (r.y0 + r.y1) / 2
            rows.append({"case_id": cid, "x": cx, "y": cy, "score": 0.8})
    false_marked = {cid for i, cid in enumerate(cases) if i % 5 == 0}
    for cid in cases:
        if cid in false_marked:
            rows.append({"case_id": cid, "x": 2.0, "y": 2.0, "score": 0.9})
        rows.append({"case_id": cid, "x": 3.0, "y": 60.0, "score": 0.1})
    return pd.DataFrame(rows), missed, false_marked


def _predicted_masks(root: Path, frame: pd.DataFrame) -> dict[str, int]:
    """Each reference mask shifted right by 0-3 pixels (by case order): the Dice falls with
    the shift, so the worst cases are the ones shifted most."""
    out = root / "scores" / "seg"
    out.mkdir(parents=True)
    shifts, rows = {}, []
    for i, (cid, rel) in enumerate(zip(frame["case_id"], frame["mask_path"], strict=True)):
        img: Any = nib.load(str(root / "data" / rel))
        ref = np.asarray(img.dataobj)
        shift = i % 4
        pred = np.roll(ref, shift, axis=1)
        nib.save(nib.Nifti1Image(pred.astype(np.uint8), img.affine), out / f"{cid}.nii.gz")
        rows.append({"case_id": cid, "mask_path": f"{cid}.nii.gz"})
        shifts[cid] = shift
    pd.DataFrame(rows).to_csv(out / "predictions.csv", index=False)
    return shifts


def _build(root: Path, *, gallery: bool) -> dict[str, Any]:
    data = generate_synthetic_dataset(root / "data", n_cases=N_CASES, seed=3, image_size=64)
    frame = pd.read_csv(data.manifest_path)
    # one false negative's header says text is burned into its pixels: it must not be shown
    score = _scores(frame)
    fn = frame.index[(frame["label"] == 1) & (score < THRESHOLD)]
    burned = str(frame.loc[fn[0], "case_id"])
    path = root / "data" / str(frame.loc[fn[0], "path"])
    ds = pydicom.dcmread(path)
    ds.BurnedInAnnotation = "YES"
    ds.save_as(path)
    frame.loc[fn[0], "sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    frame.to_csv(data.manifest_path, index=False)
    (root / "scores").mkdir()
    pd.DataFrame({"case_id": frame["case_id"], "score": score}).to_csv(
        root / "scores" / "scores.csv", index=False
    )
    lesions = pd.read_csv(data.lesions_path, dtype={"case_id": str})
    marks, missed, false_marked = _marks(lesions, frame["case_id"].tolist())
    marks.to_csv(root / "scores" / "marks.csv", index=False)
    shifts = _predicted_masks(root, frame)
    (root / "protocols").mkdir()
    protocol = root / "protocols" / "gallery.yaml"
    protocol.write_text(
        PROTOCOL.format(
            threshold=THRESHOLD,
            mark_threshold=MARK_THRESHOLD,
            report=GALLERY if gallery else "",
        ),
        encoding="utf-8",
    )
    lock_protocol(protocol)
    outcome = run_study(protocol, out_dir=root / "study", actor="tester")
    return {
        "root": root,
        "frame": frame,
        "score": score,
        "burned": burned,
        "missed": missed,
        "false_marked": false_marked,
        "lesions": lesions,
        "shifts": shifts,
        "outcome": outcome,
        "protocol": protocol,
    }


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _build(tmp_path_factory.mktemp("gallery"), gallery=True)


def _results(study: dict[str, Any]) -> dict[str, Any]:
    return json.loads((study["root"] / "study" / "results.json").read_text())


def _images(study: dict[str, Any]) -> dict[str, bytes]:
    doc = json.loads((study["root"] / "study" / "gallery.json").read_text())
    return {k: base64.b64decode(v) for k, v in doc["images"].items()}


def _panel(doc: dict[str, Any], kind: str, title: str | None = None) -> dict[str, Any]:
    return next(
        p for p in doc["gallery"]["panels"] if p["kind"] == kind and title in (None, p["title"])
    )


def _list(panel: dict[str, Any], error: str) -> dict[str, Any]:
    return next(lst for lst in panel["lists"] if lst["error"] == error)


def test_gallery_is_recorded_hashed_and_audited(study: dict[str, Any]) -> None:
    doc = _results(study)
    block = doc["gallery"]
    folder = study["root"] / "study"
    data = (folder / "gallery.json").read_bytes()
    assert block["sha256"] == hashlib.sha256(data).hexdigest()
    images = _images(study)
    assert block["n_images"] == len(images) > 0
    for key, png in images.items():
        assert hashlib.sha256(png).hexdigest() == key
        with Image.open(io.BytesIO(png)) as im:
            assert im.format == "PNG" and max(im.size) == 128
    report = audit.verify(folder)
    assert report.ok, report.problems
    run_entry = [e for e in audit.read_entries(folder) if e["action"] == "run"][-1]
    assert run_entry["outputs"]["gallery.json"] == block["sha256"]
    assert "protected health information" in block["warning"]
    assert any("patient images" in w for w in doc["warnings"])


def test_false_negatives_and_positives_match_an_independent_count(study: dict[str, Any]) -> None:
    doc = _results(study)
    frame, score = study["frame"], study["score"]
    y = frame["label"].to_numpy()
    table = pd.DataFrame({"case_id": frame["case_id"], "score": score, "y": y})
    fn = table[(table.y == 1) & (table.score < THRESHOLD)].sort_values(["score", "case_id"])
    fp = table[(table.y == 0) & (table.score >= THRESHOLD)]
    fp = fp.assign(neg=-fp.score).sort_values(["neg", "case_id"])
    panel = _panel(doc, "all_cases")
    assert panel["n_cases"] == len(frame)
    for error, expected in (("false_negative", fn), ("false_positive", fp)):
        got = _list(panel, error)
        assert got["n_total"] == len(expected)
        assert [c["case_id"] for c in got["cases"]] == expected["case_id"].tolist()[:4]
        for c in got["cases"]:
            assert c["score"] == pytest.approx(
                float(table.set_index("case_id").score[c["case_id"]])
            )


def test_subgroup_panels_are_the_groups_lower_than_the_rest(study: dict[str, Any]) -> None:
    doc = _results(study)
    lower = {
        (d["attribute"], d["group"])
        for d in doc["subgroups"]["disparity"]
        if d["status"] == "ok"
        and d["prespecified"]
        and (d["flagged"] or (d["weaker"] and d["difference_ci_high"] < 0))
    }
    panels = [p for p in doc["gallery"]["panels"] if p["kind"] == "subgroup"]
    assert {(p["attribute"], p["group"]) for p in panels} == lower
    assert ("manufacturer", "Borealis Imaging") in lower  # the weakness built into the scores
    frame, score = study["frame"], study["score"]
    for p in panels:
        inside = frame["manufacturer"] == p["group"]
        assert p["n_cases"] == int(inside.sum())
        y, s = frame["label"][inside].to_numpy(), score[inside.to_numpy()]
        assert _list(p, "false_negative")["n_total"] == int(((y == 1) & (s < THRESHOLD)).sum())
        assert _list(p, "false_positive")["n_total"] == int(((y == 0) & (s >= THRESHOLD)).sum())
        ids = {c["case_id"] for lst in p["lists"] for c in lst["cases"]}
        assert ids <= set(frame["case_id"][inside])


def test_burned_in_annotation_is_never_shown(study: dict[str, Any]) -> None:
    doc = _results(study)
    entries = [
        c
        for p in doc["gallery"]["panels"]
        for lst in p["lists"]
        for c in lst["cases"]
        if c["case_id"] == study["burned"] and c["error"] == "false_negative"
    ]
    assert entries, "the burned-in false negative is the lowest-scored one of its list"
    for c in entries:
        assert c["image"] is None
        assert "BurnedInAnnotation is YES" in c["not_shown"]
    html = render_html(study["root"] / "study")
    assert "Image not shown: BurnedInAnnotation is YES" in html


def _colour_pixels(png: bytes, colour: tuple[int, int, int]) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        a = np.asarray(im.convert("RGB")).astype(int)
    return np.all(np.abs(a - np.array(colour)) <= 2, axis=-1)


def test_detection_lists_and_drawn_marks(study: dict[str, Any]) -> None:
    doc = _results(study)
    panel = _panel(doc, "detection")
    missed = _list(panel, "missed_lesion")
    false = _list(panel, "false_mark")
    assert missed["n_total"] == len(study["missed"])
    assert {c["case_id"] for c in missed["cases"]} <= study["missed"]
    assert false["n_total"] == len(study["false_marked"])
    assert {c["case_id"] for c in false["cases"]} <= study["false_marked"]
    for c in false["cases"]:
        assert c["score"] == pytest.approx(0.9)
    images = _images(study)
    scale = 128 / 64
    for c in missed["cases"]:
        if c["image"] is None:
            continue
        png = images[c["image"]]
        lesion = study["lesions"][study["lesions"]["case_id"] == c["case_id"]].iloc[0]
        ref = _colour_pixels(png, REFERENCE_COLOUR)
        ys, xs = np.nonzero(ref)
        assert ref.any()
        # the dashed box lies on the lesion's box (scaled), not elsewhere
        assert xs.min() >= int(lesion.x0 * scale) - 2 and xs.max() <= int(lesion.x1 * scale) + 2
    for c in false["cases"]:
        if c["image"] is not None:
            fp = _colour_pixels(images[c["image"]], MODEL_COLOUR)
            assert fp[: int(8 * scale), : int(8 * scale)].any()  # the false mark at (2, 2)
    hits = [
        c for c in false["cases"] if c["image"] is not None and c["case_id"] not in study["missed"]
    ]
    if any(study["lesions"]["case_id"].isin([c["case_id"] for c in hits])):
        assert any(_colour_pixels(images[c["image"]], HIT_COLOUR).any() for c in hits)


def test_segmentation_worst_cases_with_contours(study: dict[str, Any]) -> None:
    doc = _results(study)
    panel = _panel(doc, "segmentation")
    worst = panel["lists"][0]
    per_case = pd.DataFrame(doc["segmentation"]["per_case"]).dropna(subset=["dice"])
    expected = per_case.sort_values(["dice", "case_id"])["case_id"].tolist()[:4]
    assert [c["case_id"] for c in worst["cases"]] == expected
    assert worst["n_total"] == len(per_case)
    images = _images(study)
    for c in worst["cases"]:
        assert c["score"] == pytest.approx(float(per_case.set_index("case_id").dice[c["case_id"]]))
        if c["image"] is not None and study["shifts"][c["case_id"]] > 0:
            png = images[c["image"]]
            assert _colour_pixels(png, REFERENCE_COLOUR).any()
            assert _colour_pixels(png, MODEL_COLOUR).any()


def test_report_shows_the_gallery_without_identities(study: dict[str, Any]) -> None:
    html = render_html(study["root"] / "study")
    doc = _results(study)
    shown = {
        c["image"]
        for p in doc["gallery"]["panels"]
        for lst in p["lists"]
        for c in lst["cases"]
        if c["image"]
    }
    assert html.count('src="data:image/png;base64,') == sum(
        1
        for p in doc["gallery"]["panels"]
        for lst in p["lists"]
        for c in lst["cases"]
        if c["image"]
    )
    for key in shown:
        assert base64.b64encode(_images(study)[key]).decode() in html
    assert "Contains patient images" in html
    assert 'id="sec-gallery"' in html
    # the executive summary's lower subgroups link to their panel
    first = doc["gallery"]["panels"][0]
    assert first["kind"] == "subgroup"
    summary = html[html.index('id="where-lower"') : html.index('id="sec-intended-use"')]
    assert f"{first['title']}</strong>" in summary
    assert 'href="#gallery-1">the cases</a>' in summary
    panel = html[html.index('id="gallery-1"') :]
    assert panel.index(first["title"]) < 200
    assert "SYNTH^" not in html and "SYN-T" not in html  # raw DICOM identities
    assert str(study["root"]) not in html


def test_tampered_gallery_is_not_shown(study: dict[str, Any], tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "study"
    shutil.copytree(study["root"] / "study", copy)
    doc = json.loads((copy / "gallery.json").read_text())
    key = next(iter(doc["images"]))
    doc["images"][key] = base64.b64encode(b"not the image").decode()
    (copy / "gallery.json").write_text(json.dumps(doc))
    assert not audit.verify(copy).ok
    html = render_html(copy)
    assert "is not the file results.json records" in html
    assert 'src="data:image/png;base64,' not in html


def test_gallery_is_off_by_default_and_a_rerun_clears_it(tmp_path: Path) -> None:
    built = _build(tmp_path / "off", gallery=False)
    folder = built["root"] / "study"
    assert _results(built)["gallery"] is None
    assert not (folder / "gallery.json").exists()
    html = render_html(folder)
    assert "failure-case gallery is off" in html and "data:image/png" not in html
    # on, then off again with --force: the earlier run's images do not stay behind
    protocol = built["protocol"]
    protocol.write_text(protocol.read_text() + GALLERY, encoding="utf-8")
    lock_protocol(protocol, amend="enable the gallery")
    run_study(protocol, out_dir=folder, force=True)
    assert json.loads((folder / "gallery.json").read_text())["images"]
    protocol.write_text(protocol.read_text().replace(GALLERY, ""), encoding="utf-8")
    lock_protocol(protocol, amend="disable the gallery")
    run_study(protocol, out_dir=folder, force=True)
    assert json.loads((folder / "gallery.json").read_text())["images"] == {}
    assert _results(built)["gallery"] is None
    assert audit.verify(folder).ok


@pytest.mark.browser
@pytest.mark.parametrize("javascript", [True, False])
def test_gallery_in_chromium_offline(study: dict[str, Any], javascript: bool) -> None:
    """The thumbnails decode in Debian's Chromium from the file alone, with JavaScript on
    or off: no request but the page itself, no console error, every image drawn."""
    import os
    import shutil

    from playwright import sync_api

    executable = shutil.which("chromium")
    if executable is None:
        if os.environ.get("RADVAL_ALLOW_NO_BROWSER"):
            pytest.skip("Debian's chromium is not installed")
        pytest.fail("Debian's chromium is not installed (scripts/test.sh installs it)")
    url = (study["root"] / "study" / "report.html").resolve().as_uri()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        context = browser.new_context(java_script_enabled=javascript)
        page = context.new_page()
        requests: list[str] = []
        problems: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.goto(url, wait_until="load")
        images = page.locator("#sec-gallery img")
        n = images.count()
        drawn = page.evaluate(
            "Array.from(document.querySelectorAll('#sec-gallery img'))"
            ".filter(i => i.complete && Math.max(i.naturalWidth, i.naturalHeight) === 128).length"
        )
        banner = page.locator(".doc-control .phi-warning").is_visible()
        browser.close()
    assert [r for r in requests if not r.startswith("data:")] == [url]
    assert problems == []
    shown = [
        c
        for p in _results(study)["gallery"]["panels"]
        for lst in p["lists"]
        for c in lst["cases"]
        if c["image"]
    ]
    assert n == len(shown) > 0
    assert drawn == n
    assert banner


def test_pdf_embeds_the_thumbnails(study: dict[str, Any]) -> None:
    """WeasyPrint reads the data: URLs (and nothing else): the PDF holds the images."""
    from validation.report.render import render_pdf

    pdf = render_pdf(render_html(study["root"] / "study"))
    assert pdf.startswith(b"%PDF")
    # one image object per distinct thumbnail shown (WeasyPrint embeds each data URL once)
    shown = {
        c["image"]
        for p in _results(study)["gallery"]["panels"]
        for lst in p["lists"]
        for c in lst["cases"]
        if c["image"]
    }
    assert pdf.count(b"/Subtype /Image") == len(shown) > 0


def _row(attr: str, group: str, metric: str, diff: float, hi: float, **kw: Any) -> dict:
    base = {
        "attribute": attr,
        "group": group,
        "metric": metric,
        "difference": diff,
        "difference_ci_low": diff - 0.1,
        "difference_ci_high": hi,
        "weaker": diff < 0,
        "flagged": False,
        "prespecified": True,
        "status": "ok",
    }
    return base | kw


def test_lower_groups_selection_and_order() -> None:
    from validation.study.gallery import lower_groups

    rows = [
        _row("site", "A", "sensitivity", -0.05, -0.01),  # lower: CI below zero
        _row("site", "A", "specificity", -0.20, -0.10),  # same group, larger gap
        _row("site", "B", "sensitivity", -0.30, 0.02, flagged=True),  # flagged, CI crosses 0
        _row("site", "C", "sensitivity", -0.40, 0.05),  # CI crosses zero, not flagged: out
        _row("site", "D", "auc", -0.50, -0.20, prespecified=False),  # exploratory: out
        _row("site", "E", "auc", 0.30, 0.40),  # higher: out
        _row("site", "F", "auc", -0.60, -0.30, status="not_estimable"),  # out
        _row("sex & age_band", "F & 40-64", "auc", -0.10, -0.02),  # an intersection
    ]
    groups = lower_groups({"disparity": rows})
    assert [(g.attribute, g.group) for g in groups] == [
        ("site", "B"),
        ("site", "A"),
        ("sex & age_band", "F & 40-64"),
    ]
    a = groups[1]
    assert a.gap == pytest.approx(0.20)
    assert a.reasons == ["specificity -0.200 vs the rest", "sensitivity -0.050 vs the rest"]
    assert groups[0].reasons == ["sensitivity -0.300 vs the rest, flagged"]


def test_mlflow_never_receives_gallery_cases(study: dict[str, Any]) -> None:
    """What `--mlflow` logs: the gallery's case rows are stripped from results.json (and the
    reports, which show the images, are withheld because rows were stripped)."""
    from validation.outputs.mlflow_log import strip_case_rows

    doc = _results(study)
    clean, removed = strip_case_rows(doc)
    assert any(r["path"].startswith("gallery/panels/") for r in removed)
    text = json.dumps(clean["gallery"])
    assert all(cid not in text for cid in study["frame"]["case_id"])
