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
:mod:`validation.study.tables`), so ``check`` and ``run`` agree; what only the run can
find (a mask that does not decode, an MRMC design that does not fit) is still reported
by the run. Files that do not exist yet (scores, readings, marks and predictions are
usually produced after the lock) are skipped here; the run requires them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from validation.data.manifest import manifest_problems
from validation.errors import InputError
from validation.protocol.load import LoadedProtocol, Problem, inspect_protocol, node_line, yaml_path
from validation.protocol.schema import ModelRef
from validation.study.analyses import derive_attribute
from validation.study.inputs import (
    align,
    apply_exclusions,
    cluster_problem,
    exclusion_problems,
    inference_failures,
    load_model_card,
    scores_problems,
    scores_provenance,
)
from validation.study.tables import (
    lesions_problems,
    marks_problems,
    predictions_problems,
    read_detection_table,
    read_predictions,
    read_readings,
    readings_problems,
)

__all__ = ["check_study_protocol", "input_problems"]


def check_study_protocol(path: str | Path) -> list[Problem]:
    """Every problem of a protocol file: its schema, the files it names, and their contents.

    :func:`validation.protocol.load.check_protocol` (structure, registry, files present,
    declared sha256) first; when the protocol is valid, :func:`input_problems`.
    """
    loaded, root, problems = inspect_protocol(path, files=True)
    if loaded is None or any(
        p.path == "" or not p.message.startswith(("file not found", "sha256 of")) for p in problems
    ):
        return problems  # the protocol itself is invalid: its files cannot be interpreted
    skip = {p.path for p in problems}
    return problems + input_problems(loaded, root, skip=skip)


@dataclass
class _Checker:
    """Collects the problems of one protocol's files, section by section."""

    loaded: LoadedProtocol
    root: yaml.Node | None
    skip: set[str] | frozenset[str]
    out: list[Problem] = field(default_factory=list)
    manifest_path: Path | None = None
    kept: pd.DataFrame | None = None  # the manifest after the protocol's exclusions
    known: frozenset[str] | None = None  # every case id of the manifest

    def add(self, loc: tuple[Any, ...], message: str) -> None:
        self.out.append(Problem(yaml_path(loc), message, node_line(self.root, loc)))

    def existing(self, loc: tuple[Any, ...], rel: str | None) -> Path | None:
        """The file at a YAML path when it exists and has no problem of its own yet."""
        if rel is None or yaml_path(loc) in self.skip:
            return None
        path = self.loaded.resolve(rel)
        return path if path is not None and path.is_file() else None

    def manifest(self) -> None:
        """Every row problem, and the label, cluster, exclusion and subgroup columns."""
        proto = self.loaded.protocol
        ts = proto.test_set
        path = self.existing(("test_set", "manifest"), ts.manifest)
        if path is None:
            return
        self.manifest_path = path
        manifest, problems = manifest_problems(path, label_columns=[ts.label_column])
        for msg in problems:
            label = f"column '{ts.label_column}'" in msg
            self.add(("test_set", "label_column") if label else ("test_set", "manifest"), msg)
        frame = manifest.frame.reset_index(drop=True) if manifest is not None else None
        if frame is None or "case_id" not in frame.columns:
            return
        self.known = frozenset(frame["case_id"].astype(str))
        cluster = cluster_problem(frame, ts.cluster_column, source=path)
        if cluster is not None:
            self.add(("test_set", "cluster_column"), cluster)
        excl = exclusion_problems(frame, ts.exclusions, source=path)
        for i, msg in excl:
            self.add(("test_set", "exclusions", i, "column"), msg)
        if excl:
            return
        self.kept, _ = apply_exclusions(frame, ts.exclusions, source=path)
        for i, attr in enumerate(proto.subgroups.attributes if proto.subgroups else []):
            try:
                derive_attribute(self.kept, attr, source=str(path))
            except InputError as exc:
                self.add(("subgroups", "attributes", i, "column"), str(exc))

    def scores(self, key: str, ref: ModelRef | None) -> None:
        """A model's card, and its scores: columns, numbers and coverage of the manifest."""
        if ref is None:
            return
        if self.existing((key, "card"), ref.card) is not None:
            try:
                load_model_card(self.loaded, ref, key)
            except InputError as exc:
                self.add((key, "card"), str(exc))
        path = self.existing((key, "scores"), ref.scores)
        if path is None:
            return
        try:
            scores, problems = scores_problems(path, columns=ref.columns, where=f"{key}.columns")
            reasons = inference_failures(path, scores_provenance(path))
        except InputError as exc:
            self.add((key, "scores"), str(exc))
            return
        for msg in problems:
            self.add((key, "columns") if " named in " in msg else (key, "scores"), msg)
        if scores is None or problems or self.kept is None or self.known is None:
            return
        ts = self.loaded.protocol.test_set
        try:
            align(
                self.kept,
                ts.label_column,
                None,
                scores,
                scores_path=path,
                missing=ts.missing_outputs,
                manifest_ids=self.known,
                failure_reasons=reasons,
            )
        except InputError as exc:
            self.add((key, "scores"), str(exc))

    def readings(self) -> None:
        """The reader study's readings: format, modalities, the AI reader."""
        rs = self.loaded.protocol.reader_study
        path = self.existing(("reader_study", "readings"), rs.readings) if rs else None
        if rs is None or path is None:
            return
        try:
            readings = read_readings(path, rs.columns)
        except InputError as exc:
            self.add(("reader_study", "readings"), str(exc))
            return
        for msg in readings_problems(rs, readings, path):
            self.add(("reader_study", "readings"), msg)

    def detection(self) -> None:
        """Marks and lesion truth: the columns the matching rule needs, numbers, case ids."""
        det = self.loaded.protocol.detection
        if det is None:
            return
        for name, rel, columns in (
            ("marks", det.marks, det.marks_columns),
            ("lesions", det.lesions, det.lesions_columns),
        ):
            path = self.existing(("detection", name), rel)
            if path is None:
                continue
            try:
                table = read_detection_table(path, name, columns, f"detection.{name}_columns")
            except InputError as exc:
                where = f"{name}_columns" if " named in " in str(exc) else name
                self.add(("detection", where), str(exc))
                continue
            problems = (
                marks_problems(table, path, known=self.known)
                if name == "marks"
                else lesions_problems(table, path, det=det, known=self.known)
            )
            for msg in problems:
                self.add(("detection", name), msg)

    def segmentation(self) -> None:
        """Predictions: columns, a prediction for every reference mask, mask files present."""
        seg = self.loaded.protocol.segmentation
        kept, manifest_path, known = self.kept, self.manifest_path, self.known
        if seg is None or kept is None or manifest_path is None or known is None:
            return
        path = self.existing(("segmentation", "predictions"), seg.predictions)
        if path is None:
            if seg.reference_column not in kept.columns:
                self.add(
                    ("segmentation", "reference_column"),
                    f"{manifest_path}: column {seg.reference_column!r} "
                    "(segmentation.reference_column) is missing; columns are "
                    f"{[str(c) for c in kept.columns]}",
                )
            return
        try:
            preds = read_predictions(path, seg.columns)
        except InputError as exc:
            where = "columns" if " named in " in str(exc) else "predictions"
            self.add(("segmentation", where), str(exc))
            return
        for loc, msg in predictions_problems(
            preds, seg, kept, predictions_path=path, manifest_path=manifest_path, known=known
        ):
            self.add(loc, msg)


def input_problems(
    loaded: LoadedProtocol,
    root: yaml.Node | None = None,
    *,
    skip: set[str] | frozenset[str] = frozenset(),
) -> list[Problem]:
    """Problems in the contents of the files a valid protocol names (see the module docs).

    ``skip`` holds YAML paths (``model.scores``) whose file already has a problem (not
    found, wrong sha256); their contents are not checked.
    """
    check = _Checker(loaded, root, skip)
    check.manifest()
    check.scores("model", loaded.protocol.model)
    check.scores("baseline", loaded.protocol.baseline)
    check.readings()
    check.detection()
    check.segmentation()
    # in the order of the protocol file (stable within a key)
    return sorted(check.out, key=lambda p: p.line or 0)
