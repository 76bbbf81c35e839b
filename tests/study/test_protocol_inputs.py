"""`radval protocol check` reads the files a protocol names; `columns` maps a user's own column names.

A new user's first protocol names their own files: scores from their pipeline with their
own column names, a manifest without every column the protocol uses. ``protocol check``
must list every problem in those files in one pass (before the lock), each with its YAML
path and the file, row and field, and a ``columns`` mapping must let the files be used as
they are.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from study_support import SEGMENTATION, SMALL_SUBGROUPS, lean, make_masks

from validation.errors import InputError
from validation.gate import run_gate
from validation.protocol.load import check_protocol
from validation.protocol.lock import lock_protocol
from validation.results import read_results_document as load_results
from validation.study import check_study_protocol, run_study

REPO = Path(__file__).resolve().parents[2]


def messages(proto: Path) -> list[str]:
    return [p.format(proto.name) for p in check_study_protocol(proto)]


def own_scores(layout: Path, name: str = "mine.csv", source: str = "candidate.parquet") -> Path:
    """The candidate scores as a user's pipeline writes them: other column names, CSV."""
    s = pd.read_parquet(layout / "scores" / source)
    path = layout / "scores" / name
    s.rename(columns={"case_id": "StudyInstanceUID", "score": "prob_abnormal"}).to_csv(
        path, index=False
    )
    return path


def test_check_lists_every_input_problem_in_one_pass(layout: Path, write_protocol) -> None:
    manifest = layout / "data" / "test" / "manifest.csv"
    m = pd.read_csv(manifest).drop(columns=["site"])
    m.loc[3, "label"] = 2
    m.to_csv(manifest, index=False)
    own_scores(layout)
    text = (layout / "protocols" / "triage_standalone.yaml").read_text()
    text = text.replace("../scores/candidate.parquet", "../scores/mine.csv").replace(
        "  missing_outputs: worst_case\n",
        "  missing_outputs: worst_case\n  exclusions:\n    - {column: view, values: [LAT], reason: lateral}\n",
    )
    proto = write_protocol("mine.yaml", text)
    # the structure is valid: the old check stopped here and said OK
    assert check_protocol(proto) == []
    assert messages(proto) == [
        f"mine.yaml:24: test_set.label_column: {manifest}: row 5 (case_id 'C0003'), column 'label': "
        "expected 0 or 1, found '2'",
        f"mine.yaml:28: test_set.exclusions[0].column: {manifest}: column 'view' (test_set.exclusions[0].column) "
        "is missing; columns are ['case_id', 'patient_id', 'path', 'label', 'sex', 'age', 'manufacturer']",
        f"mine.yaml:31: model.scores: {layout / 'scores' / 'mine.csv'}: columns 'case_id', 'score' are missing; "
        "expected columns case_id, score (map your own names with model.columns), "
        "found ['StudyInstanceUID', 'prob_abnormal']",
    ]
    # with the exclusion gone, the subgroup column the manifest lacks is found too
    proto.write_text(
        text.replace("  exclusions:\n    - {column: view, values: [LAT], reason: lateral}\n", "")
    )
    found = messages(proto)
    assert [m.split(": ")[1] for m in found] == [
        "test_set.label_column",
        "model.scores",
        "subgroups.attributes[2].column",
    ]
    assert found[2] == (
        f"mine.yaml:{line_of(proto.read_text(), '    - column: site', 'subgroups:')}: "
        f"subgroups.attributes[2].column: {manifest}: subgroup column 'site' is missing; "
        "columns are ['case_id', 'patient_id', 'path', 'label', 'sex', 'age', 'manufacturer']"
    )


def test_check_reports_coverage_and_values_of_scores(layout: Path, write_protocol) -> None:
    s = pd.read_parquet(layout / "scores" / "candidate.parquet").astype({"score": object})
    s.loc[4, "score"] = "high"
    s.loc[6, "case_id"] = s.loc[5, "case_id"]
    s = pd.concat([s.iloc[:-1], pd.DataFrame({"case_id": ["X999"], "score": ["0.3"]})])
    path = layout / "scores" / "bad.csv"
    s.to_csv(path, index=False)
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    proto = write_protocol(
        "bad.yaml", text.replace("../scores/candidate.parquet", "../scores/bad.csv")
    )
    assert messages(proto) == [
        f"bad.yaml:29: model.scores: {path}: row 7, field 'case_id': duplicate case_id 'C0005' (first at row 6)",
        f"bad.yaml:29: model.scores: {path}: row 5, field 'score': expected a finite number, found 'high'",
    ]
    s = pd.read_parquet(layout / "scores" / "candidate.parquet").iloc[:-1]
    pd.concat([s, pd.DataFrame({"case_id": ["X999"], "score": [0.3]})]).to_csv(path, index=False)
    assert messages(proto) == [
        f"bad.yaml:29: model.scores: {path}: 1 case_id(s) are not in the test-set manifest, e.g. 'X999'"
    ]
    s.to_csv(path, index=False)
    assert messages(proto) == []  # the missing case is scored worst-case, as the protocol says
    proto.write_text(
        proto.read_text().replace("missing_outputs: worst_case", "missing_outputs: error")
    )
    assert messages(proto) == [
        f"bad.yaml:29: model.scores: {path}: no score for 1 manifest case(s), e.g. case_id 'C0239' "
        "(not in bad.csv) (set test_set.missing_outputs: worst_case or exclude to count them instead)"
    ]


def line_of(text: str, start: str, after: str = "") -> int:
    """1-based line of the first line of ``text`` that starts with ``start`` (after ``after``)."""
    lines = text.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(after)) if after else 0
    return next(i for i, line in enumerate(lines) if i >= first and line.startswith(start)) + 1


DETECTION = """detection:
  marks: ../scores/marks.csv
  lesions: ../data/test/lesions.csv
  rule: {criterion: iou, iou_threshold: 0.3}
  threshold: 0.5
  endpoints:
    - id: lesion_sensitivity
      role: secondary
      metric: sensitivity
      accept: {bound: ci_low, op: ">=", value: 0.5}
"""

READER_STUDY = """reader_study:
  readings: ../readings/readings.csv
  role: secondary
  test_modality: assisted
  hypothesis: {kind: non-inferiority, margin: 0.05}
  ai_reader: robot
"""


def test_check_reads_marks_lesions_and_readings(layout: Path, write_protocol) -> None:
    marks = pd.read_parquet(layout / "scores" / "marks.parquet").rename(
        columns={"score": "confidence"}
    )
    marks.to_csv(layout / "scores" / "marks.csv", index=False)
    lesions = layout / "data" / "test" / "lesions.csv"
    les = pd.read_csv(lesions)
    les.loc[2, "case_id"] = "Z001"
    les.loc[3, "x1"] = np.nan
    les.to_csv(lesions, index=False)
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    proto = write_protocol(
        "det.yaml", text.replace("multiplicity:\n", DETECTION + READER_STUDY + "multiplicity:\n", 1)
    )
    marks_path, readings = layout / "scores" / "marks.csv", layout / "readings" / "readings.csv"
    written = proto.read_text()
    at_marks, at_lesions = line_of(written, "  marks: "), line_of(written, "  lesions: ")
    at_readings = line_of(written, "  readings: ")
    assert messages(proto) == [
        f"det.yaml:{at_marks}: detection.marks: {marks_path}: expected columns case_id, score and a box (x0, y0, x1, y1) "
        "or a point (x, y) (detection.marks_columns maps other names); missing ['score'], "
        "found ['case_id', 'confidence', 'x0', 'x1', 'y0', 'y1']",
        f"det.yaml:{at_lesions}: detection.lesions: {lesions}: row 4, field 'x1': expected a finite number, found an empty value",
        f"det.yaml:{at_lesions}: detection.lesions: {lesions}: 1 case_id(s) are not in the test-set manifest, e.g. 'Z001'",
        f"det.yaml:{at_readings}: reader_study.readings: {readings}: modality 'assisted' (reader_study) is not in the "
        "readings; found ['aided', 'unaided']",
        f"det.yaml:{at_readings}: reader_study.readings: {readings}: reader 'robot' (reader_study.ai_reader) is not in the "
        "readings; readers are ['AI', 'R1', 'R2', 'R3', 'R4']",
    ]
    # the same file with a mapping is accepted; the mapped name must exist
    fixed = text.replace(
        "multiplicity:\n",
        DETECTION.replace(
            "  threshold: 0.5\n", "  threshold: 0.5\n  marks_columns: {score: confidence}\n"
        )
        + "multiplicity:\n",
        1,
    )
    proto.write_text(fixed)
    assert [m for m in messages(proto) if m.split(": ")[1].startswith("detection.marks")] == []
    proto.write_text(fixed.replace("{score: confidence}", "{score: conf}"))
    assert [m for m in messages(proto) if m.split(": ")[1].startswith("detection.marks")] == [
        f"det.yaml:{line_of(proto.read_text(), '  marks_columns:')}: detection.marks_columns: {marks_path}: column 'conf' (for score) named in "
        "detection.marks_columns is not in the file; found columns ['case_id', 'x0', 'y0', 'x1', 'y1', 'confidence']"
    ]


def test_check_cli_prints_all_problems_and_exits_2(layout: Path, write_protocol) -> None:
    import subprocess
    import sys

    own_scores(layout)
    text = lean(
        (layout / "protocols" / "triage_standalone.yaml").read_text(),
        keep_subgroups=SMALL_SUBGROUPS,
    )
    manifest = layout / "data" / "test" / "manifest.csv"
    pd.read_csv(manifest).drop(columns=["site"]).to_csv(manifest, index=False)
    proto = write_protocol(
        "mine.yaml", text.replace("../scores/candidate.parquet", "../scores/mine.csv")
    )
    r = subprocess.run(
        [sys.executable, "-m", "validation", "protocol", "check", str(proto)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert [line.split(": ", 2)[1] for line in lines[:-1]] == [
        "model.scores",
        "subgroups.attributes[0].column",
    ]
    assert lines[-1] == f"radval: error: {proto}: 2 problem(s)"


# --------------------------------------------------------------------------- column mapping


def test_model_and_baseline_columns_map_a_users_own_files(layout: Path, write_protocol) -> None:
    own_scores(layout, "cand.csv", "candidate.parquet")
    own_scores(layout, "base.csv", "baseline.parquet")
    text = lean((layout / "protocols" / "release_gate.yaml").read_text())
    ref = write_protocol("ref.yaml", text)
    mapped = "\n  columns: {case_id: StudyInstanceUID, score: prob_abnormal}\n"
    mine = write_protocol(
        "mine.yaml",
        text.replace(
            "../scores/candidate.parquet", "../scores/cand.csv" + mapped.rstrip("\n"), 1
        ).replace("../scores/baseline.parquet", "../scores/base.csv" + mapped.rstrip("\n"), 1),
    )
    assert messages(mine) == []
    docs = []
    for proto in (ref, mine):
        lock_protocol(proto)
        docs.append(
            load_results(
                run_study(proto, out_dir=layout / "studies" / proto.stem, render=False).results_path
            )
        )
    est = [
        {e["id"]: (e["estimate"], e["ci_low"], e["ci_high"], e["p_value"]) for e in d["endpoints"]}
        for d in docs
    ]
    assert est[0] == est[1]
    assert docs[1]["protocol"]["resolved"]["model"]["columns"] == {
        "case_id": "StudyInstanceUID",
        "score": "prob_abnormal",
    }


def test_gate_reads_scores_through_the_studys_mapping(layout: Path, write_protocol) -> None:
    own_scores(layout, "cand.csv", "candidate.parquet")
    text = lean(
        (layout / "protocols" / "triage_standalone.yaml").read_text(),
        keep_subgroups=SMALL_SUBGROUPS,
    )
    results = []
    for name, edit in (
        ("released", text.replace("candidate.parquet", "baseline.parquet")),
        (
            "candidate",
            text.replace(
                "../scores/candidate.parquet",
                "../scores/cand.csv\n  columns: {case_id: StudyInstanceUID, score: prob_abnormal}",
            ),
        ),
    ):
        proto = write_protocol(f"{name}.yaml", edit.replace("id: triage-standalone", f"id: {name}"))
        lock_protocol(proto)
        results.append(
            run_study(proto, out_dir=layout / "studies" / name, render=False).results_path
        )
    res = run_gate(results[1], results[0], margin=0.02)
    assert res["n_cases"] == 240 and {c["id"] for c in res["comparisons"]} == {
        "auc",
        "sensitivity",
        "specificity",
    }


def test_columns_naming_a_missing_column_is_an_input_error(layout: Path, write_protocol) -> None:
    path = own_scores(layout)
    text = lean((layout / "protocols" / "triage_standalone.yaml").read_text())
    proto = write_protocol(
        "mine.yaml",
        text.replace(
            "../scores/candidate.parquet",
            "../scores/mine.csv\n  columns: {case_id: StudyUID, score: prob_abnormal}",
        ),
    )
    lock_protocol(proto)
    with pytest.raises(InputError) as err:
        run_study(proto, out_dir=layout / "s", render=False)
    assert str(err.value) == (
        f"{path}: column 'StudyUID' (for case_id) named in model.columns is not in the file; "
        "found columns ['StudyInstanceUID', 'prob_abnormal']"
    )


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (
            "{case_id: a, scor: b}",
            "model.columns: Value error, unknown column key(s) ['scor']; expected keys from "
            "['case_id', 'score']",
        ),
        (
            "{case_id: a, score: a}",
            "model.columns: Value error, each file column can be mapped once; ['a'] mapped "
            "more than once",
        ),
    ],
)
def test_columns_schema_rejects_unknown_keys_and_reuse(columns: str, message: str) -> None:
    from validation.protocol.load import check_text
    from validation.protocol.schema import ModelRef

    with pytest.raises(ValueError, match="scores"):
        ModelRef.model_validate(
            {"spec": "s.yaml", "checkpoint": "c.ckpt", "columns": {"score": "p"}}
        )
    base = (REPO / "tests" / "study" / "test_protocol_schema.py").read_text()
    text = base.split('BASE = """\\\n', 1)[1].split('"""', 1)[0]
    _, problems = check_text(
        text.replace("  threshold: 0.5\n", f"  threshold: 0.5\n  columns: {columns}\n")
    )
    assert [f"{p.path}: {p.message}" for p in problems] == [message.replace("Value error, ", "")]


def test_detection_segmentation_and_readings_columns(layout: Path, write_protocol) -> None:
    make_masks(layout)
    marks = pd.read_parquet(layout / "scores" / "marks.parquet")
    marks.rename(columns={"case_id": "uid", "score": "p"}).to_parquet(
        layout / "scores" / "my_marks.parquet"
    )
    pd.read_csv(layout / "data" / "test" / "lesions.csv").rename(
        columns={"lesion_id": "nodule"}
    ).to_csv(layout / "data" / "test" / "my_lesions.csv", index=False)
    pd.read_csv(layout / "scores" / "seg" / "predictions.csv").rename(
        columns={"case_id": "uid", "mask_path": "file"}
    ).to_csv(layout / "scores" / "seg" / "mine.csv", index=False)
    pd.read_csv(layout / "readings" / "readings.csv").rename(
        columns={"reader": "ReaderID", "case": "uid", "score": "rating"}
    ).to_csv(layout / "readings" / "mine.csv", index=False)
    base = (layout / "protocols" / "reader_study.yaml").read_text()
    blocks = DETECTION.replace("marks.csv", "marks.parquet") + SEGMENTATION
    ref = write_protocol("ref.yaml", base.replace("multiplicity:\n", blocks + "multiplicity:\n", 1))
    mine_text = (
        ref.read_text()
        .replace(
            "../scores/marks.parquet",
            "../scores/my_marks.parquet\n  marks_columns: {case_id: uid, score: p}",
        )
        .replace(
            "../data/test/lesions.csv",
            "../data/test/my_lesions.csv\n  lesions_columns: {lesion_id: nodule}",
        )
        .replace(
            "../scores/seg/predictions.csv",
            "../scores/seg/mine.csv\n  columns: {case_id: uid, mask_path: file}",
        )
        .replace(
            "../readings/readings.csv",
            "../readings/mine.csv\n  columns: {reader: ReaderID, case: uid, score: rating}",
        )
    )
    mine = write_protocol("mine.yaml", mine_text)
    assert messages(mine) == []
    docs = []
    for proto in (ref, mine):
        lock_protocol(proto)
        docs.append(
            load_results(
                run_study(proto, out_dir=layout / "studies" / proto.stem, render=False).results_path
            )
        )
    for key in ("detection", "segmentation", "reader_study"):
        assert json.dumps(docs[0][key], sort_keys=True) == json.dumps(
            docs[1][key], sort_keys=True
        ), key
