"""Pre-run checks of a protocol's input files: what ``radval protocol check`` adds to the schema.

:func:`check_study_protocol` returns every problem a run would meet in the files the
protocol names, in one pass, before the lock: the manifest (every row problem, the label,
cluster, exclusion, subgroup and reference-mask columns), the scores of the model and the
baseline (columns after the protocol's ``columns`` mapping, numbers, duplicates, case
coverage against the manifest under ``test_set.missing_outputs``), the model cards, the
reader-study readings (format, modalities, the AI reader), the detection marks and lesion
truth (columns the matching rule needs, numbers, case ids) and the segmentation
predictions (columns, coverage of every case with a reference mask, mask files present).
Each problem names the protocol's YAML path and the file, row and field.

The checks call the same functions the runner uses (:mod:`validation.study.inputs`,
:mod:`validation.study.analyses`), so ``check`` and ``run`` agree; what only the run can
find (a mask that does not decode, an MRMC design that does not fit) is still reported
by the run. Files that do not exist yet (scores, readings, marks and predictions are
usually produced after the lock) are skipped here; the run requires them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from validation.errors import InputError
from validation.protocol.load import LoadedProtocol, Problem, _node_line, check_protocol, yaml_path
from validation.study.analyses import (
    derive_attribute,
    lesions_problems,
    marks_problems,
    predictions_problems,
    read_detection_table,
    read_predictions,
    read_readings,
    readings_problems,
)
from validation.study.inputs import (
    align,
    cluster_problem,
    exclusion_problems,
    inference_failures,
    load_model_card,
    scores_problems,
    scores_provenance,
)

__all__ = ["check_study_protocol", "input_problems"]


def check_study_protocol(path: str | Path) -> list[Problem]:
    """Every problem of a protocol file: its schema, the files it names, and their contents.

    :func:`validation.protocol.load.check_protocol` (structure, registry, files present,
    declared sha256) first; when the protocol is valid, :func:`input_problems`.
    """
    file = Path(path)
    problems = check_protocol(file, files=True)
    if any(p.path == "" or not p.message.startswith(("file not found", "sha256 of")) for p in problems):
        return problems  # the protocol itself is invalid: its files cannot be interpreted
    raw = file.read_bytes()
    text = raw.decode("utf-8")
    data = yaml.safe_load(text)
    from validation.io import sha256_bytes
    from validation.protocol.schema import Protocol

    loaded = LoadedProtocol(file.resolve(), Protocol.model_validate(data), sha256_bytes(raw), data)
    skip = {p.path for p in problems}
    return problems + input_problems(loaded, yaml.compose(text, Loader=yaml.SafeLoader), skip=skip)


def input_problems(
    loaded: LoadedProtocol, root: yaml.Node | None = None, *, skip: set[str] | frozenset[str] = frozenset()
) -> list[Problem]:
    """Problems in the contents of the files a valid protocol names (see the module docs).

    ``skip`` holds YAML paths (``model.scores``) whose file already has a problem (not
    found, wrong sha256); their contents are not checked.
    """
    proto = loaded.protocol
    out: list[Problem] = []

    def add(loc: tuple[Any, ...], message: str) -> None:
        out.append(Problem(yaml_path(loc), message, _node_line(root, loc)))

    def existing(loc: tuple[Any, ...], rel: str | None) -> Path | None:
        if rel is None or yaml_path(loc) in skip:
            return None
        path = loaded.resolve(rel)
        return path if path is not None and path.is_file() else None

    ts = proto.test_set
    frame: pd.DataFrame | None = None
    kept: pd.DataFrame | None = None
    manifest_path = existing(("test_set", "manifest"), ts.manifest)
    if manifest_path is not None:
        from validation.data.manifest import manifest_problems

        manifest, problems = manifest_problems(manifest_path, label_columns=[ts.label_column])
        for msg in problems:
            add(("test_set", "label_column") if f"column '{ts.label_column}'" in msg else ("test_set", "manifest"),
                msg)
        if manifest is not None:
            frame = manifest.frame.reset_index(drop=True)
            if "case_id" not in frame.columns:
                frame = None
    if frame is not None and manifest_path is not None:
        cluster = cluster_problem(frame, ts.cluster_column, source=manifest_path)
        if cluster is not None:
            add(("test_set", "cluster_column"), cluster)
        excl = exclusion_problems(frame, ts.exclusions, source=manifest_path)
        for i, msg in excl:
            add(("test_set", "exclusions", i, "column"), msg)
        if not excl:
            from validation.study.inputs import apply_exclusions

            kept, _ = apply_exclusions(frame, ts.exclusions, source=manifest_path)
        if proto.subgroups is not None and kept is not None:
            for i, attr in enumerate(proto.subgroups.attributes):
                try:
                    derive_attribute(kept, attr, source=str(manifest_path))
                except InputError as exc:
                    add(("subgroups", "attributes", i, "column"), str(exc))
    known = frozenset(frame["case_id"].astype(str)) if frame is not None else None

    # scores of the model and the baseline, and their model cards
    for key, ref in (("model", proto.model), ("baseline", proto.baseline)):
        if ref is None:
            continue
        card = existing((key, "card"), ref.card)
        if card is not None:
            try:
                load_model_card(loaded, ref, key)
            except InputError as exc:
                add((key, "card"), str(exc))
        path = existing((key, "scores"), ref.scores)
        if path is None:
            continue
        try:
            scores, problems = scores_problems(path, columns=ref.columns, where=f"{key}.columns")
            provenance = scores_provenance(path)
            reasons = inference_failures(path, provenance)
        except InputError as exc:
            add((key, "scores"), str(exc))
            continue
        for msg in problems:
            add((key, "columns") if " named in " in msg else (key, "scores"), msg)
        if scores is None or problems or kept is None or known is None:
            continue
        try:
            align(kept, ts.label_column, None, scores, scores_path=path, missing=ts.missing_outputs,
                  manifest_ids=known, failure_reasons=reasons)
        except InputError as exc:
            add((key, "scores"), str(exc))

    rs = proto.reader_study
    if rs is not None:
        path = existing(("reader_study", "readings"), rs.readings)
        if path is not None:
            try:
                readings = read_readings(path, rs.columns)
            except InputError as exc:
                add(("reader_study", "readings"), str(exc))
            else:
                for msg in readings_problems(rs, readings, path):
                    add(("reader_study", "readings"), msg)

    det = proto.detection
    if det is not None:
        for name, rel, columns in (("marks", det.marks, det.marks_columns),
                                   ("lesions", det.lesions, det.lesions_columns)):
            path = existing(("detection", name), rel)
            if path is None:
                continue
            try:
                table = read_detection_table(path, name, columns, f"detection.{name}_columns")
            except InputError as exc:
                add(("detection", f"{name}_columns") if " named in " in str(exc) else ("detection", name), str(exc))
                continue
            problems = (marks_problems(table, path, known=known) if name == "marks"
                        else lesions_problems(table, path, det=det, known=known))
            for msg in problems:
                add(("detection", name), msg)

    seg = proto.segmentation
    if seg is not None and kept is not None and manifest_path is not None and known is not None:
        path = existing(("segmentation", "predictions"), seg.predictions)
        if path is None:
            if seg.reference_column not in kept.columns:
                add(("segmentation", "reference_column"),
                    f"{manifest_path}: column {seg.reference_column!r} (segmentation.reference_column) is "
                    f"missing; columns are {[str(c) for c in kept.columns]}")
        else:
            try:
                preds = read_predictions(path, seg.columns)
            except InputError as exc:
                add(("segmentation", "columns") if " named in " in str(exc) else ("segmentation", "predictions"),
                    str(exc))
            else:
                for loc, msg in predictions_problems(preds, seg, kept, predictions_path=path,
                                                     manifest_path=manifest_path, known=known):
                    add(loc, msg)
    out.sort(key=lambda p: p.line or 0)  # in the order of the protocol file (stable within a key)
    return out
