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
from validation.study.dicom_marks import expand_sr_table
from validation.study.dicom_masks import dicom_seg_problems
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
from validation.study.measurement import measurement_problems, read_measurements
from validation.study.planning import mrmc_shortfall, shortfall
from validation.study.tables import (
    lesions_problems,
    marks_problems,
    predictions_problems,
    read_detection_table,
    read_predictions,
    read_readings,
    readings_problems,
)
from validation.study.truthing import derive_labels, read_truthing, truthing_problems

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
        derive = ts.truthing is not None and ts.truthing.use == "derive"
        labels = [] if derive else [ts.label_column]  # derive: the label comes from truthing
        manifest, problems = manifest_problems(path, label_columns=labels)
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

    def planning(self) -> None:
        """The planned sample sizes against the cases the test set has after exclusions."""
        proto, kept = self.loaded.protocol, self.kept
        if not proto.planning or kept is None or proto.test_set.label_column not in kept.columns:
            return
        labels = pd.to_numeric(kept[proto.test_set.label_column], errors="coerce")
        n_pos, n_neg = int((labels == 1).sum()), int((labels == 0).sum())
        for k, entry in enumerate(proto.planning):
            message = shortfall(proto, entry, n_positive=n_pos, n_negative=n_neg)
            if message is not None:
                self.add(("planning", k), f"{self.manifest_path}: {message}")

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
        problems = readings_problems(rs, readings, path)
        for msg in problems:
            self.add(("reader_study", "readings"), msg)
        if problems:
            return
        # the readers and cases the analysis will use (reader_study_record's selection)
        humans = readings if rs.ai_reader is None else readings[readings["reader"] != rs.ai_reader]
        humans = humans[humans["modality"].isin([rs.test_modality, rs.reference_modality])]
        for k, entry in enumerate(self.loaded.protocol.planning):
            if entry.method == "mrmc":
                message = mrmc_shortfall(
                    self.loaded.protocol,
                    entry,
                    n_readers=int(humans["reader"].nunique()),
                    n_cases=int(humans["case"].nunique()),
                )
                if message is not None:
                    self.add(("planning", k), f"{path}: {message}")

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
                table = expand_sr_table(table, path, name, det, self.kept)
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
        problems = predictions_problems(
            preds, seg, kept, predictions_path=path, manifest_path=manifest_path, known=known
        )
        for loc, msg in problems:
            self.add(loc, msg)
        if not problems:
            for loc, msg in dicom_seg_problems(preds, seg, kept, path, manifest_path):
                self.add(loc, msg)

    def truthing(self) -> None:
        """The truthing file: columns, empty cells, duplicate reads, case ids, the design."""
        t = self.loaded.protocol.test_set.truthing
        path = self.existing(("test_set", "truthing", "file"), t.file) if t else None
        if t is None or path is None:
            return
        try:
            frame, problems = read_truthing(path, t)
        except InputError as exc:
            self.add(("test_set", "truthing", "file"), str(exc))
            return
        problems = problems or truthing_problems(frame, t, path, known=self.known)
        for msg in problems:
            key = "columns" if " named in " in msg or "is missing" in msg else "file"
            self.add(("test_set", "truthing", key), msg)
        if t.use == "derive" and not problems and self.kept is not None:
            # the later checks (scores coverage) see the labels the run will use
            try:
                label = self.loaded.protocol.test_set.label_column
                kept, _ = derive_labels(frame, t, self.kept, label, path)
            except InputError as exc:
                self.add(("test_set", "truthing", "rule"), str(exc))
                self.kept = None
            else:
                self.kept = kept

    def measurement(self) -> None:
        """The measurements: columns, numbers, case ids, the manifest's reference column."""
        meas = self.loaded.protocol.measurement
        kept, manifest_path, known = self.kept, self.manifest_path, self.known
        if meas is None or kept is None or manifest_path is None or known is None:
            return
        path = self.existing(("measurement", "measurements"), meas.measurements)
        if path is None:
            return
        try:
            frame, problems = read_measurements(path, meas)
        except InputError as exc:
            self.add(("measurement", "measurements"), str(exc))
            return
        problems = problems or measurement_problems(
            frame, meas, path, manifest=kept, manifest_path=manifest_path, known=known
        )
        for msg in problems:
            if " named in " in msg:
                key = "columns"
            elif "(measurement.reference_column)" in msg:
                key = "reference_column"
            else:
                key = "measurements"
            self.add(("measurement", key), msg)


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
    check.planning()
    check.truthing()
    check.scores("model", loaded.protocol.model)
    check.scores("baseline", loaded.protocol.baseline)
    check.readings()
    check.detection()
    check.segmentation()
    check.measurement()
    # in the order of the protocol file (stable within a key)
    return sorted(check.out, key=lambda p: p.line or 0)
